package cli

import (
	"bytes"
	"context"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/stretchr/testify/require"

	"github.com/cmo-dev/cmo/access"
	"github.com/cmo-dev/cmo/config"
	"github.com/cmo-dev/cmo/inbox"
	"github.com/cmo-dev/cmo/internal/pgtest"
	"github.com/cmo-dev/cmo/listening"
	"github.com/cmo-dev/cmo/playbooks"
	"github.com/cmo-dev/cmo/sealbox"
	"github.com/cmo-dev/cmo/server"
	"github.com/cmo-dev/cmo/store"
)

func TestInboxListShowAndKPIs(t *testing.T) {
	pool, _ := pgtest.NewDB(t, func(ctx context.Context, p *pgxpool.Pool) error { return store.Migrate(ctx, p, nil) })
	box, err := sealbox.New(bytes.Repeat([]byte{6}, 32))
	require.NoError(t, err)
	s := store.New(pool, box)
	ctx := context.Background()
	require.NoError(t, s.UpsertBrand(ctx, store.Brand{ID: "acme", Name: "Acme"}))
	now := time.Now()
	m := listening.Mention{Brand: "acme", Source: "x", ExternalID: "1", Text: "Where is my order, this is awful", CreatedAt: now,
		Author: listening.Author{Handle: "@ana", Followers: 30_000}, Sentiment: &listening.Sentiment{Score: -0.6, Label: listening.Negative}}
	cl, err := (&inbox.Config{Enabled: true}).Classifier(nil)
	require.NoError(t, err)
	mark, ok := cl.Classify(&m, now)
	require.True(t, ok)
	_, err = s.InsertMentions(ctx, []listening.Mention{m}, mark)
	require.NoError(t, err)
	lib, err := playbooks.Shipped()
	require.NoError(t, err)
	ts := httptest.NewServer(server.New(server.Deps{Store: s, Playbooks: lib}).Handler())
	t.Cleanup(ts.Close)
	_, key, err := s.CreateAPIKey(ctx, "marta", access.Marketer, []string{"acme"}, "test")
	require.NoError(t, err)
	t.Setenv(config.EnvAPIKey, key)

	out, _, err := run(t, "inbox", "list", "--api", ts.URL, "--brand", "acme")
	require.NoError(t, err)
	require.Contains(t, out, mark.ID())
	require.Contains(t, out, "urgent")
	require.Contains(t, out, "@ana")

	out, _, err = run(t, "inbox", "show", mark.ID(), "--api", ts.URL)
	require.NoError(t, err)
	require.Contains(t, out, "open urgent complaint")
	require.Contains(t, out, "Where is my order")

	out, _, err = run(t, "inbox", "kpis", "--api", ts.URL, "--brand", "acme")
	require.NoError(t, err)
	require.Contains(t, out, "total")
	require.Contains(t, out, "x ")

	_, _, err = run(t, "inbox", "list", "--api", ts.URL, "--brand", "acme", "--status", "lost")
	require.ErrorContains(t, err, "(status)")
	_, _, err = run(t, "inbox", "close", mark.ID(), "--api", ts.URL, "--actor", "jordi")
	require.ErrorContains(t, err, "(actor)", "the key's holder is marta")
	_, _, err = run(t, "inbox", "list", "--api", ts.URL, "--brand", "acme", "--key", "cmo_wrong")
	require.ErrorContains(t, err, "unknown or was revoked")
}
