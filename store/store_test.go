package store_test

import (
	"bytes"
	"context"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/stretchr/testify/require"

	"github.com/cmo-dev/cmo/internal/pgtest"
	"github.com/cmo-dev/cmo/platforms/sandbox"
	"github.com/cmo-dev/cmo/sealbox"
	"github.com/cmo-dev/cmo/store"
)

func TestMain(m *testing.M) { pgtest.Main(m) }

func migrate(ctx context.Context, pool *pgxpool.Pool) error { return store.Migrate(ctx, pool, nil) }

func newStore(t *testing.T) *store.Store {
	t.Helper()
	pool, _ := pgtest.NewDB(t, migrate)
	box, err := sealbox.New(bytes.Repeat([]byte{1}, 32))
	require.NoError(t, err)
	return store.New(pool, box)
}

func TestMigrateIsIdempotentAndSafeConcurrently(t *testing.T) {
	pool, _ := pgtest.NewDB(t, migrate)
	ctx := context.Background()
	var wg sync.WaitGroup
	errs := make([]error, 3)
	for i := range errs {
		wg.Add(1)
		go func() { defer wg.Done(); errs[i] = store.Migrate(ctx, pool, nil) }()
	}
	wg.Wait()
	for _, err := range errs {
		require.NoError(t, err)
	}
}

func TestChannelCredentialsAreSealed(t *testing.T) {
	s := newStore(t)
	ctx := context.Background()
	require.NoError(t, s.UpsertBrand(ctx, store.Brand{ID: "acme", Name: "Acme", Timezone: "Europe/Madrid"}))
	require.Error(t, s.UpsertBrand(ctx, store.Brand{ID: "bad", Name: "Bad", Timezone: "Mars/Olympus"}), "time zones are checked")
	ch := store.Channel{ID: "ch1", BrandID: "acme", Name: "news", Platform: "sandbox", Handle: "acme"}
	require.NoError(t, s.UpsertChannel(ctx, ch, map[string]string{"token": "secret-token-123"}))

	var raw []byte
	require.NoError(t, s.Pool().QueryRow(ctx, `SELECT credentials FROM channels WHERE id = 'ch1'`).Scan(&raw))
	require.NotContains(t, string(raw), "secret-token-123", "stored sealed, never in clear")

	secrets, err := s.ChannelSecrets(ctx, "ch1")
	require.NoError(t, err)
	require.Equal(t, "secret-token-123", secrets["token"])

	other, err := sealbox.New(bytes.Repeat([]byte{2}, 32))
	require.NoError(t, err)
	_, err = store.New(s.Pool(), other).ChannelSecrets(ctx, "ch1")
	require.ErrorIs(t, err, sealbox.ErrOpen)

	chs, err := s.Channels(ctx, "acme")
	require.NoError(t, err)
	require.Len(t, chs, 1)
	require.Equal(t, "active", chs[0].Status)

	_, err = s.Channel(ctx, "nope")
	require.ErrorIs(t, err, store.ErrNotFound)
}

func TestLedgerRecordsAttemptsAndOutcome(t *testing.T) {
	s := newStore(t)
	ctx := context.Background()
	require.NoError(t, s.SeedDemo(ctx))
	e := store.LedgerEntry{Key: "c/s/ch_demo_news", CampaignID: "c", StepID: "s", ChannelID: "ch_demo_news", ContentHash: "h"}

	prev, err := s.LedgerBegin(ctx, e)
	require.NoError(t, err)
	require.Equal(t, 0, prev.Attempts, "first attempt: nothing before it")
	require.Equal(t, store.LedgerPending, prev.Status)

	prev, err = s.LedgerBegin(ctx, e)
	require.NoError(t, err)
	require.Equal(t, 1, prev.Attempts, "second attempt sees that one started before")

	at := time.Now().UTC().Truncate(time.Millisecond)
	require.NoError(t, s.LedgerPublished(ctx, e.Key, "42", "https://x/42", at))
	prev, err = s.LedgerBegin(ctx, e)
	require.NoError(t, err)
	require.Equal(t, store.LedgerPublished, prev.Status)
	require.Equal(t, "42", prev.RemoteID)
	got, err := s.LedgerEntry(ctx, e.Key)
	require.NoError(t, err)
	require.Equal(t, 2, got.Attempts, "a begin after publishing is not an attempt")

	f := store.LedgerEntry{Key: "c/s/ch_demo_care", CampaignID: "c", StepID: "s", ChannelID: "ch_demo_care", ContentHash: "h"}
	_, err = s.LedgerBegin(ctx, f)
	require.NoError(t, err)
	require.NoError(t, s.LedgerFailure(ctx, f.Key, "text too long", true))
	got, err = s.LedgerEntry(ctx, f.Key)
	require.NoError(t, err)
	require.Equal(t, store.LedgerFailed, got.Status)
	require.Equal(t, "text too long", got.LastError)

	all, err := s.CampaignLedger(ctx, "c")
	require.NoError(t, err)
	require.Len(t, all, 2)
}

func TestSandboxIdempotencyKey(t *testing.T) {
	s := newStore(t)
	ctx := context.Background()
	require.NoError(t, s.UpsertSandboxAccount(ctx, "brand", "tok", 100))
	sb := s.Sandbox()
	acct, err := sb.AccountByTokenHash(ctx, sandbox.HashToken("tok"))
	require.NoError(t, err)
	require.Equal(t, "brand", acct.Handle)
	_, err = sb.AccountByTokenHash(ctx, sandbox.HashToken("other"))
	require.ErrorIs(t, err, sandbox.ErrNotFound)

	p1, created, err := sb.CreatePost(ctx, sandbox.StoredPost{Handle: "brand", Text: "hi", IdempotencyKey: "k1", CreatedAt: time.Now()})
	require.NoError(t, err)
	require.True(t, created)
	p2, created, err := sb.CreatePost(ctx, sandbox.StoredPost{Handle: "brand", Text: "hi", IdempotencyKey: "k1", CreatedAt: time.Now()})
	require.NoError(t, err)
	require.False(t, created)
	require.Equal(t, p1.ID, p2.ID)
	_, created, err = sb.CreatePost(ctx, sandbox.StoredPost{Handle: "brand", Text: "hi", CreatedAt: time.Now()})
	require.NoError(t, err)
	require.True(t, created, "no key, no deduplication")

	posts, err := sb.ListPosts(ctx, "brand", 0, 10)
	require.NoError(t, err)
	require.Len(t, posts, 2)
	require.Greater(t, posts[0].ID, posts[1].ID, "newest first")
}

func TestSeedDemoKeepsTokens(t *testing.T) {
	s := newStore(t)
	ctx := context.Background()
	require.NoError(t, s.SeedDemo(ctx))
	before, err := s.ChannelSecrets(ctx, "ch_demo_news")
	require.NoError(t, err)
	require.NoError(t, s.SeedDemo(ctx))
	after, err := s.ChannelSecrets(ctx, "ch_demo_news")
	require.NoError(t, err)
	require.Equal(t, before, after)
	_, err = s.Sandbox().AccountByTokenHash(ctx, sandbox.HashToken(after["token"]))
	require.NoError(t, err, "the channel's token opens its sandbox account")
}

func TestLeases(t *testing.T) {
	s := newStore(t)
	ctx := context.Background()
	ok, err := s.AcquireLease(ctx, "key:a", "h1", time.Minute)
	require.NoError(t, err)
	require.True(t, ok)
	ok, err = s.AcquireLease(ctx, "key:a", "h2", time.Minute)
	require.NoError(t, err)
	require.False(t, ok, "held by another")
	ok, err = s.AcquireLease(ctx, "key:a", "h1", time.Minute)
	require.NoError(t, err)
	require.True(t, ok, "re-entrant for its holder")
	require.NoError(t, s.ReleaseLeases(ctx, "h1"))
	ok, err = s.AcquireLease(ctx, "key:a", "h2", 10*time.Millisecond)
	require.NoError(t, err)
	require.True(t, ok, "free after release")
	_, err = s.Pool().Exec(ctx, `UPDATE publish_leases SET expires_at = now() - interval '1 second'`)
	require.NoError(t, err)
	ok, err = s.AcquireLease(ctx, "key:a", "h3", time.Minute)
	require.NoError(t, err)
	require.True(t, ok, "an expired lease is taken over: its holder died")
}
