package cli

import (
	"bytes"
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/stretchr/testify/require"

	"github.com/cmo-dev/cmo/access"
	"github.com/cmo-dev/cmo/config"
	"github.com/cmo-dev/cmo/internal/pgtest"
	"github.com/cmo-dev/cmo/playbooks"
	"github.com/cmo-dev/cmo/sealbox"
	"github.com/cmo-dev/cmo/server"
	"github.com/cmo-dev/cmo/store"
)

func TestMain(m *testing.M) { pgtest.Main(m) }

func run(t *testing.T, args ...string) (string, string, error) {
	t.Helper()
	var out, errw bytes.Buffer
	root := newRoot(&out, &errw)
	root.SetArgs(args)
	err := root.ExecuteContext(context.Background())
	return out.String(), errw.String(), err
}

func TestMentionsImport(t *testing.T) {
	pool, _ := pgtest.NewDB(t, func(ctx context.Context, p *pgxpool.Pool) error { return store.Migrate(ctx, p, nil) })
	box, err := sealbox.New(bytes.Repeat([]byte{5}, 32))
	require.NoError(t, err)
	s := store.New(pool, box)
	require.NoError(t, s.UpsertBrand(context.Background(), store.Brand{ID: "acme", Name: "Acme"}))
	lib, err := playbooks.Shipped()
	require.NoError(t, err)
	api := server.New(server.Deps{Store: s, Playbooks: lib}).Handler()
	_, key, err := s.CreateAPIKey(context.Background(), "importer", access.Marketer, []string{access.AllBrands}, "test")
	require.NoError(t, err)
	t.Setenv(config.EnvAPIKey, key)
	// The first request is refused as if the database were down.
	var calls atomic.Int32
	ts := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if calls.Add(1) == 1 {
			w.Header().Set("Retry-After", "1")
			w.WriteHeader(http.StatusServiceUnavailable)
			return
		}
		api.ServeHTTP(w, r)
	}))
	defer ts.Close()

	dir := t.TempDir()
	var csv strings.Builder
	csv.WriteString("brand,source,external_id,author_handle,author_followers,text,created_at,topics\n")
	for i := range 12 {
		fmt.Fprintf(&csv, "acme,x,%d,@u%d,%d,\"hello, world %d\",2026-11-25T10:%02d:00Z,a;b\n", i, i, 10*i, i, i)
	}
	path := filepath.Join(dir, "mentions.csv")
	require.NoError(t, os.WriteFile(path, []byte(csv.String()), 0o644))

	out, errOut, err := run(t, "mentions", "import", "--api", ts.URL, "--batch", "5", path)
	require.NoError(t, err, errOut)
	require.Contains(t, out, "12 mentions read, 12 new, 0 already stored")
	require.Contains(t, errOut, "retrying in 1s", "a 503 is retried after Retry-After")
	require.Contains(t, errOut, "100.0%", "progress reaches the end")

	out, _, err = run(t, "mentions", "import", "--api", ts.URL, path)
	require.NoError(t, err)
	require.Contains(t, out, "12 mentions read, 0 new, 12 already stored", "running an import again adds nothing")

	nd := filepath.Join(dir, "bad.ndjson")
	require.NoError(t, os.WriteFile(nd, []byte(`{"source":"x","external_id":"n1","created_at":"2026-11-25T10:00:00Z"}`+"\n\n"+
		`{"source":"x","external_id":"n2","created_at":"2026-11-25T10:00:00Z","brand":"ghost"}`+"\n"), 0o644))
	_, _, err = run(t, "mentions", "import", "--api", ts.URL, "--brand", "acme", nd)
	require.EqualError(t, err, nd+":3: brand: no brand \"ghost\"", "an API error names the file's line")

	bad := filepath.Join(dir, "bad.csv")
	require.NoError(t, os.WriteFile(bad, []byte("brand,source,external_id,created_at,author_followers\nacme,x,1,2026-11-25T10:00:00Z,many\n"), 0o644))
	_, _, err = run(t, "mentions", "import", "--api", ts.URL, bad)
	require.EqualError(t, err, bad+":2: author_followers: is not a whole number: \"many\"")
}
