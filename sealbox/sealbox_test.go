package sealbox

import (
	"bytes"
	"testing"

	"github.com/stretchr/testify/require"
)

func TestSealOpen(t *testing.T) {
	box, err := New(bytes.Repeat([]byte{7}, 32))
	require.NoError(t, err)
	sealed, err := box.Seal([]byte("token-123"), "ch_1")
	require.NoError(t, err)
	require.NotContains(t, string(sealed), "token-123")

	pt, err := box.Open(sealed, "ch_1")
	require.NoError(t, err)
	require.Equal(t, "token-123", string(pt))

	_, err = box.Open(sealed, "ch_2")
	require.ErrorIs(t, err, ErrOpen, "a value moved to another channel must not open")

	other, err := New(bytes.Repeat([]byte{8}, 32))
	require.NoError(t, err)
	_, err = other.Open(sealed, "ch_1")
	require.ErrorIs(t, err, ErrOpen)

	sealed[len(sealed)-1] ^= 1
	_, err = box.Open(sealed, "ch_1")
	require.ErrorIs(t, err, ErrOpen)

	_, err = New([]byte("short"))
	require.Error(t, err)
}
