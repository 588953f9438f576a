package simulate

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/cmo-dev/cmo/listening/synth"
)

func TestSimulationEndsWithACrisisOpen(t *testing.T) {
	spikeAt := start.Add(2 * time.Hour)
	ms := synth.Generate(spikeStream(0, spikeAt))
	res, err := Run(context.Background(), plan(t, "negative-spike"), ms, Options{Tail: time.Minute})
	require.NoError(t, err)
	require.Len(t, res.Crises, 1)
	require.Nil(t, res.Crises[0].ResolvedAt)
	require.NotEmpty(t, res.Crises[0].Pages, "its state as it stands")
}
