package pgtest_test

import (
	"context"
	"testing"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/stretchr/testify/require"

	"github.com/cmo-dev/cmo/internal/pgtest"
)

func TestMain(m *testing.M) {
	pgtest.Main(m)
}

func migrate(ctx context.Context, pool *pgxpool.Pool) error {
	_, err := pool.Exec(ctx, "CREATE TABLE notes (body text NOT NULL)")
	return err
}

func TestNewDBIsMigratedAndPrivate(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	a, urlA := pgtest.NewDB(t, migrate)
	b, urlB := pgtest.NewDB(t, migrate)
	require.NotEqual(t, urlA, urlB)

	_, err := a.Exec(ctx, "INSERT INTO notes VALUES ('only in a')")
	require.NoError(t, err)
	var n int
	require.NoError(t, b.QueryRow(ctx, "SELECT count(*) FROM notes").Scan(&n))
	require.Zero(t, n)

	// The URL reaches the same database as the pool.
	conn, err := pgx.Connect(ctx, urlA)
	require.NoError(t, err)
	defer conn.Close(ctx)
	require.NoError(t, conn.QueryRow(ctx, "SELECT count(*) FROM notes").Scan(&n))
	require.Equal(t, 1, n)
}

func TestNewDBIsDroppedAfterTest(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	var name string
	t.Run("uses a database", func(t *testing.T) {
		pool, _ := pgtest.NewDB(t, nil)
		require.NoError(t, pool.QueryRow(ctx, "SELECT current_database()").Scan(&name))
		// A connection the test forgets to close must not block the drop.
		conn, err := pgx.ConnectConfig(ctx, pool.Config().ConnConfig)
		require.NoError(t, err)
		_ = conn
	})

	admin, err := pgx.Connect(ctx, pgtest.AdminURL())
	require.NoError(t, err)
	defer admin.Close(ctx)
	var exists bool
	require.NoError(t, admin.QueryRow(ctx, "SELECT EXISTS (SELECT 1 FROM pg_database WHERE datname = $1)", name).Scan(&exists))
	require.False(t, exists, "database %s left behind", name)
}
