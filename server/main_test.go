package server_test

import (
	"bytes"
	"context"
	"testing"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/stretchr/testify/require"

	"github.com/cmo-dev/cmo/internal/pgtest"
	"github.com/cmo-dev/cmo/sealbox"
	"github.com/cmo-dev/cmo/store"
)

func TestMain(m *testing.M) { pgtest.Main(m) }

func migrate(ctx context.Context, pool *pgxpool.Pool) error { return store.Migrate(ctx, pool, nil) }

// testStore is a fresh, migrated database of the test's own.
func testStore(t *testing.T) *store.Store {
	t.Helper()
	pool, _ := pgtest.NewDB(t, migrate)
	box, err := sealbox.New(bytes.Repeat([]byte{3}, 32))
	require.NoError(t, err)
	return store.New(pool, box)
}
