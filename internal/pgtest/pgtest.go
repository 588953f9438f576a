// Package pgtest gives tests real PostgreSQL databases: one throw-away
// cluster per test binary, and a fresh database per test, so that tests can
// run in parallel without seeing each other's rows.
package pgtest

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/cmo-dev/cmo/devstack/pgcluster"
)

// setupTimeout bounds starting the cluster and each database's creation and
// migration, so that a wedged server fails the tests instead of hanging
// them until go test's own timeout.
const setupTimeout = 2 * time.Minute

// Set by Main before any test runs, read-only afterwards.
var (
	adminURL   string
	skipReason string
)

// Main is called from a package's TestMain. It starts one throw-away
// cluster for the test binary, or uses the server in DATABASE_URL when set
// (as CI may), runs the tests, stops the cluster and exits.
//
// Without PostgreSQL installed, tests calling NewDB are skipped on a
// developer machine but fail when the CI environment variable is set.
func Main(m *testing.M) {
	os.Exit(run(m))
}

func run(m *testing.M) int {
	if u := os.Getenv("DATABASE_URL"); u != "" {
		adminURL = u
		return m.Run()
	}
	if _, err := pgcluster.BinDir(); err != nil && os.Getenv("CI") == "" {
		skipReason = fmt.Sprintf("no PostgreSQL: %v", err)
		return m.Run()
	}

	// Not t.TempDir-like 0700: when tests run as root, postgres runs as the
	// postgres user and must be able to enter this directory.
	dir, err := os.MkdirTemp("", "cmo-pgtest-*")
	if err != nil {
		fmt.Fprintf(os.Stderr, "pgtest: %v\n", err)
		return 1
	}
	defer os.RemoveAll(dir)
	if err := os.Chmod(dir, 0o755); err != nil {
		fmt.Fprintf(os.Stderr, "pgtest: %v\n", err)
		return 1
	}

	ctx, cancel := context.WithTimeout(context.Background(), setupTimeout)
	c, err := pgcluster.Start(ctx, pgcluster.Options{Dir: filepath.Join(dir, "data")})
	cancel()
	if err != nil {
		fmt.Fprintf(os.Stderr, "pgtest: %v\n", err)
		return 1
	}
	adminURL = c.URLFor("postgres")

	code := m.Run()
	if err := c.Stop(); err != nil {
		fmt.Fprintf(os.Stderr, "pgtest: %v\n", err)
		if code == 0 {
			code = 1
		}
	}
	return code
}

// AdminURL returns the URL of a database on the test server that is not
// any test's own (the maintenance database of the throw-away cluster, or
// DATABASE_URL itself), for tests that create databases themselves.
func AdminURL() string {
	return adminURL
}

// NewDB creates an empty database for the calling test, applies migrate to
// it (the caller passes its schema migration, so this package does not
// depend on the store) and returns a pool on it and its URL. The database
// is dropped when the test ends. migrate may be nil.
func NewDB(t testing.TB, migrate func(context.Context, *pgxpool.Pool) error) (*pgxpool.Pool, string) {
	t.Helper()
	if skipReason != "" {
		t.Skip(skipReason)
	}
	if adminURL == "" {
		t.Fatal("pgtest: call pgtest.Main from TestMain before using NewDB")
	}
	ctx, cancel := context.WithTimeout(context.Background(), setupTimeout)
	defer cancel()

	name := "t_" + randomHex(8)
	dbURL, err := withDatabase(adminURL, name)
	if err != nil {
		t.Fatalf("pgtest: %v", err)
	}
	if err := admin(ctx, "CREATE DATABASE "+pgx.Identifier{name}.Sanitize()); err != nil {
		t.Fatalf("pgtest: create database %s: %v", name, err)
	}
	// Registered before the pool's cleanup so that it runs after it: the
	// pool's connections must be gone first. FORCE covers any connection
	// the test opened itself and did not close.
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		if err := admin(ctx, "DROP DATABASE IF EXISTS "+pgx.Identifier{name}.Sanitize()+" WITH (FORCE)"); err != nil {
			t.Errorf("pgtest: drop database %s: %v", name, err)
		}
	})

	pool, err := pgxpool.New(ctx, dbURL)
	if err != nil {
		t.Fatalf("pgtest: open database %s: %v", name, err)
	}
	t.Cleanup(pool.Close)
	if migrate != nil {
		if err := migrate(ctx, pool); err != nil {
			t.Fatalf("pgtest: migrate database %s: %v", name, err)
		}
	}
	return pool, dbURL
}

// admin runs one statement on the admin database. CREATE and DROP DATABASE
// cannot run inside a transaction, hence a plain connection per statement.
func admin(ctx context.Context, sql string) error {
	conn, err := pgx.Connect(ctx, adminURL)
	if err != nil {
		return err
	}
	defer conn.Close(context.WithoutCancel(ctx))
	_, err = conn.Exec(ctx, sql)
	return err
}

// withDatabase returns connString with its database replaced by db. Both
// URL and keyword/value forms are accepted, as DATABASE_URL may be either.
func withDatabase(connString, db string) (string, error) {
	if strings.HasPrefix(connString, "postgres://") || strings.HasPrefix(connString, "postgresql://") {
		u, err := url.Parse(connString)
		if err != nil {
			return "", fmt.Errorf("parse database URL: %w", err)
		}
		u.Path = "/" + db
		u.RawPath = ""
		// A dbname parameter would override the path.
		if q := u.Query(); q.Has("dbname") {
			q.Del("dbname")
			u.RawQuery = q.Encode()
		}
		return u.String(), nil
	}
	// In the keyword/value form the last setting of a keyword wins.
	return connString + " dbname=" + db, nil
}

func randomHex(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b) // never fails on supported platforms
	return hex.EncodeToString(b)
}
