package server_test

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/stretchr/testify/require"

	"github.com/cmo-dev/cmo/access"
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

// serveAPI serves the API to tests that are not about access control.
// A request without Authorization goes through with a real key of the
// store: the key of the actor or author its JSON body names (made on
// first use, admin for every brand, so workflow rules such as four-eyes
// still see different people), else the key of "tester".
func serveAPI(t *testing.T, st *store.Store, h http.Handler) *httptest.Server {
	t.Helper()
	var mu sync.Mutex
	keys := map[string]string{}
	keyOf := func(actor string) (string, error) {
		mu.Lock()
		defer mu.Unlock()
		if k, ok := keys[actor]; ok {
			return k, nil
		}
		_, secret, err := st.CreateAPIKey(context.Background(), actor, access.Admin, []string{access.AllBrands}, "test")
		if err != nil {
			return "", err
		}
		keys[actor] = secret
		return secret, nil
	}
	ts := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("Authorization") == "" {
			actor := "tester"
			if r.Body != nil && strings.Contains(r.Header.Get("Content-Type"), "json") {
				raw, _ := io.ReadAll(r.Body)
				r.Body = io.NopCloser(bytes.NewReader(raw))
				var who struct{ Actor, Author any }
				if json.Unmarshal(raw, &who) == nil {
					for _, v := range []any{who.Actor, who.Author} {
						if s, ok := v.(string); ok && s != "" {
							actor = s
						}
					}
				}
			}
			key, err := keyOf(actor)
			if err != nil {
				http.Error(w, err.Error(), http.StatusInternalServerError)
				return
			}
			r.Header.Set("Authorization", "Bearer "+key)
		}
		h.ServeHTTP(w, r)
	}))
	t.Cleanup(ts.Close)
	return ts
}
