package activities_test

import (
	"bytes"
	"context"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/stretchr/testify/require"
	"go.temporal.io/sdk/temporal"

	"github.com/cmo-dev/cmo/activities"
	"github.com/cmo-dev/cmo/internal/pgtest"
	"github.com/cmo-dev/cmo/playbooks"
	"github.com/cmo-dev/cmo/sealbox"
	"github.com/cmo-dev/cmo/store"
)

// signaller records what ApplyFreeze asked to be signalled.
type signaller struct {
	mu      sync.Mutex
	running int
	calls   []activities.FreezeNotice
	brands  []string
}

func (s *signaller) SignalRunningCampaigns(_ context.Context, brand, signal string, arg any) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if signal != activities.SignalFreeze {
		panic("unexpected signal " + signal)
	}
	s.calls = append(s.calls, arg.(activities.FreezeNotice))
	s.brands = append(s.brands, brand)
	return s.running, nil
}

func freezeActs(t *testing.T) (*activities.Activities, *signaller, *time.Time) {
	t.Helper()
	pool, _ := pgtest.NewDB(t, func(ctx context.Context, p *pgxpool.Pool) error { return store.Migrate(ctx, p, nil) })
	box, err := sealbox.New(bytes.Repeat([]byte{3}, 32))
	require.NoError(t, err)
	s := store.New(pool, box)
	require.NoError(t, s.UpsertBrand(context.Background(), store.Brand{ID: "acme", Name: "Acme"}))
	now := time.Date(2026, 11, 25, 10, 0, 0, 0, time.UTC)
	sig := &signaller{running: 3}
	return &activities.Activities{Store: s, Campaigns: sig, Now: func() time.Time { return now }}, sig, &now
}

func TestApplyFreezeRecordsThenSignals(t *testing.T) {
	acts, sig, now := freezeActs(t)
	ctx := context.Background()
	in := activities.FreezeInput{CrisisID: "acme-spike-1", Brand: "acme", Scope: "tags", Tags: []string{"promo"},
		OnUnfreeze: "drop", Reapprove: true, Frozen: true, Actor: "negative-spike", Reason: "severity high"}
	res, err := acts.ApplyFreeze(ctx, in)
	require.NoError(t, err)
	require.Equal(t, 3, res.Signalled)
	start := *now

	// A retry later on keeps the start, and signals again (harmless).
	*now = now.Add(time.Minute)
	_, err = acts.ApplyFreeze(ctx, in)
	require.NoError(t, err)
	f, err := acts.Store.Freeze(ctx, "acme-spike-1")
	require.NoError(t, err)
	require.True(t, f.StartedAt.Equal(start))
	require.True(t, f.Active())
	require.Equal(t, "drop", f.OnUnfreeze)

	*now = now.Add(time.Hour)
	_, err = acts.ApplyFreeze(ctx, activities.FreezeInput{CrisisID: "acme-spike-1", Brand: "acme", Frozen: false, Actor: "nuria", Reason: "calm"})
	require.NoError(t, err)
	f, err = acts.Store.Freeze(ctx, "acme-spike-1")
	require.NoError(t, err)
	require.False(t, f.Active())
	require.Equal(t, "nuria", f.LiftedBy)
	require.Equal(t, []activities.FreezeNotice{{CrisisID: "acme-spike-1", Frozen: true}, {CrisisID: "acme-spike-1", Frozen: true},
		{CrisisID: "acme-spike-1", Frozen: false}}, sig.calls)
	require.Equal(t, []string{"acme", "acme", "acme"}, sig.brands)

	// Without a signaller the freeze is still recorded.
	acts.Campaigns = nil
	res, err = acts.ApplyFreeze(ctx, activities.FreezeInput{CrisisID: "acme-outage-2", Brand: "acme", Frozen: true})
	require.NoError(t, err)
	require.Zero(t, res.Signalled)
	f, err = acts.Store.Freeze(ctx, "acme-outage-2")
	require.NoError(t, err)
	require.Equal(t, "brand", f.Scope, "brand scope unless told otherwise")
	require.Equal(t, "reschedule", f.OnUnfreeze)
}

func TestApplyFreezeRefusesWhatNoRetryFixes(t *testing.T) {
	acts, sig, _ := freezeActs(t)
	for name, in := range map[string]activities.FreezeInput{
		"no crisis":         {Brand: "acme", Frozen: true},
		"bad brand":         {CrisisID: "c", Brand: "Acme Inc", Frozen: true},
		"unknown scope":     {CrisisID: "c", Brand: "acme", Scope: "everything", Frozen: true},
		"channels missing":  {CrisisID: "c", Brand: "acme", Scope: "channels", Frozen: true},
		"markets missing":   {CrisisID: "c", Brand: "acme", Scope: "markets", Frozen: true},
		"bad on_unfreeze":   {CrisisID: "c", Brand: "acme", OnUnfreeze: "later", Frozen: true},
		"brand not created": {CrisisID: "c", Brand: "nobody", Frozen: true},
	} {
		t.Run(name, func(t *testing.T) {
			_, err := acts.ApplyFreeze(context.Background(), in)
			var app *temporal.ApplicationError
			require.ErrorAs(t, err, &app)
			require.True(t, app.NonRetryable(), "%v", err)
		})
	}
	require.Empty(t, sig.calls, "nothing is signalled for a freeze that was not recorded")
}

func TestFreezeStatusScopes(t *testing.T) {
	acts, _, now := freezeActs(t)
	ctx := context.Background()
	freeze := func(in activities.FreezeInput) {
		t.Helper()
		in.Brand, in.Frozen = "acme", true
		_, err := acts.ApplyFreeze(ctx, in)
		require.NoError(t, err)
		*now = now.Add(time.Minute)
	}
	news := playbooks.Target{ID: "ch_news", Name: "acme-news", Platform: "mastodon"}
	care := playbooks.Target{ID: "ch_care", Name: "acme-care", Platform: "x"}
	post := func(tags []string, market string, targets ...playbooks.Target) activities.FreezeState {
		t.Helper()
		st, err := acts.FreezeStatus(ctx, activities.FreezeQuery{Brand: "acme", Tags: tags, Market: market, Targets: targets})
		require.NoError(t, err)
		return st
	}

	require.False(t, post([]string{"promo"}, "es", news, care).Frozen, "no freeze, nothing held")

	freeze(activities.FreezeInput{CrisisID: "by-tag", Scope: "tags", Tags: []string{"promo", "humour"}})
	st := post([]string{"launch", "humour"}, "", news, care)
	require.True(t, st.Frozen)
	require.Equal(t, "by-tag", st.CrisisID)
	require.Equal(t, []string{"ch_news", "ch_care"}, st.Channels)
	require.Equal(t, "reschedule", st.OnUnfreeze)
	require.NotNil(t, st.Since)
	require.False(t, post([]string{"launch"}, "", news).Frozen, "a campaign without the tags goes on")
	require.False(t, post(nil, "", news).Frozen, "nor does one without tags")

	freeze(activities.FreezeInput{CrisisID: "by-market", Scope: "markets", Markets: []string{"es", "pt"}, OnUnfreeze: "drop"})
	st = post(nil, "es", care)
	require.True(t, st.Frozen)
	require.Equal(t, "by-market", st.CrisisID)
	require.Equal(t, "drop", st.OnUnfreeze)
	require.False(t, post(nil, "fr", care).Frozen, "another market goes on")
	require.False(t, post(nil, "", care).Frozen, "a campaign for no market in particular goes on")

	freeze(activities.FreezeInput{CrisisID: "by-channel", Scope: "channels", Channels: []string{"x", "acme-blog"}, Reapprove: true})
	st = post(nil, "", news, care)
	require.True(t, st.Frozen)
	require.Equal(t, "by-channel", st.CrisisID)
	require.Equal(t, []string{"ch_care"}, st.Channels, "only the post to X is held (by platform)")
	require.True(t, st.Reapprove)
	require.False(t, post(nil, "", news).Frozen, "a post to Mastodon only goes out")
	blog := playbooks.Target{ID: "ch_blog", Name: "acme-blog", Platform: "webhook"}
	require.Equal(t, []string{"ch_blog"}, post(nil, "", blog, news).Channels, "by channel name")

	// Several freezes over one post: the oldest names it, the strictest
	// settings of them all apply.
	st = post([]string{"promo"}, "es", news, care)
	require.Equal(t, "by-tag", st.CrisisID)
	require.Equal(t, "drop", st.OnUnfreeze)
	require.True(t, st.Reapprove)
	require.Equal(t, []string{"ch_news", "ch_care"}, st.Channels)

	_, err := acts.ApplyFreeze(ctx, activities.FreezeInput{CrisisID: "by-tag", Brand: "acme"})
	require.NoError(t, err)
	require.False(t, post([]string{"promo"}, "fr", news).Frozen, "lifted")

	freeze(activities.FreezeInput{CrisisID: "whole-brand"})
	st = post(nil, "", news)
	require.True(t, st.Frozen)
	require.Equal(t, "whole-brand", st.CrisisID)
	other, err := acts.FreezeStatus(ctx, activities.FreezeQuery{Brand: "other", Targets: []playbooks.Target{news}})
	require.NoError(t, err)
	require.False(t, other.Frozen, "another brand's campaigns are not held")
}
