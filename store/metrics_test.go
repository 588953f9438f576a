package store_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/cmo-dev/cmo/platforms"
	"github.com/cmo-dev/cmo/store"
)

var m0 = time.Date(2026, 5, 1, 9, 0, 0, 0, time.UTC)

func TestSamplesMakeTimeSeriesAndFollowerRanges(t *testing.T) {
	s := newStore(t)
	ctx := context.Background()
	post := func(step, ch string, batch time.Duration, impressions, likes int64) store.PostSample {
		return store.PostSample{CampaignID: "c1", StepID: step, ChannelID: ch, PostID: ch + "-1", BatchAt: m0.Add(batch),
			Metrics: platforms.Metrics{Impressions: impressions, Likes: likes, At: m0.Add(batch + time.Second)}}
	}
	fol := func(ch string, batch time.Duration, n int64) store.FollowerSample {
		return store.FollowerSample{CampaignID: "c1", ChannelID: ch, BatchAt: m0.Add(batch), At: m0.Add(batch), Followers: n}
	}
	// Round 0: nothing published yet, followers measured.
	require.NoError(t, s.RecordSamples(ctx, nil, []store.FollowerSample{fol("a", 0, 2000), fol("b", 0, 5000)}))
	round1 := []store.PostSample{post("launch", "a", time.Hour, 100, 3), post("launch", "b", time.Hour, 300, 9)}
	require.NoError(t, s.RecordSamples(ctx, round1, []store.FollowerSample{fol("a", time.Hour, 2010), fol("b", time.Hour, 4990)}))
	// A retried round changes nothing.
	require.NoError(t, s.RecordSamples(ctx, round1, []store.FollowerSample{fol("a", time.Hour, 2010)}))
	require.NoError(t, s.RecordSamples(ctx, []store.PostSample{post("launch", "a", 2*time.Hour, 150, 5), post("launch", "b", 2*time.Hour, 420, 11)},
		[]store.FollowerSample{fol("a", 2*time.Hour, 2030), fol("b", 2*time.Hour, 4950)}))
	// Another campaign's samples stay out.
	require.NoError(t, s.RecordSamples(ctx, []store.PostSample{{CampaignID: "c2", StepID: "x", ChannelID: "a", PostID: "p", BatchAt: m0}}, nil))

	totals, err := s.MetricTotals(ctx, "c1")
	require.NoError(t, err)
	require.Len(t, totals, 2)
	require.True(t, totals[0].BatchAt.Equal(m0.Add(time.Hour)))
	require.Equal(t, store.MetricTotal{BatchAt: totals[0].BatchAt, Posts: 2, Impressions: 400, Reach: 400, Likes: 12}, totals[0])
	require.Equal(t, int64(570), totals[1].Impressions)

	ft, err := s.FollowerTotals(ctx, "c1")
	require.NoError(t, err)
	require.Equal(t, []int64{7000, 7000, 6980}, []int64{ft[0].Followers, ft[1].Followers, ft[2].Followers})

	ranges, err := s.FollowerRanges(ctx, "c1", m0.Add(90*time.Minute))
	require.NoError(t, err)
	require.Len(t, ranges, 2)
	require.Equal(t, "a", ranges[0].ChannelID)
	require.Equal(t, [2]int64{2000, 2010}, [2]int64{ranges[0].First, ranges[0].Last}, "latest at or before until")
	require.True(t, ranges[0].LastAt.Equal(m0.Add(time.Hour)))
	ranges, err = s.FollowerRanges(ctx, "c1", m0.Add(24*time.Hour))
	require.NoError(t, err)
	require.Equal(t, [2]int64{5000, 4950}, [2]int64{ranges[1].First, ranges[1].Last})

	chs, err := s.SampledChannels(ctx, "c1")
	require.NoError(t, err)
	require.Equal(t, []string{"a", "b"}, chs)
}

func TestTrackedLinksAndClicks(t *testing.T) {
	s := newStore(t)
	ctx := context.Background()
	l := store.TrackedLink{Code: "abc123", CampaignID: "c1", BrandID: "demo", ChannelID: "ch_a",
		Target: "https://shop.example/x", Destination: "https://shop.example/x?utm_source=sandbox"}
	got, err := s.EnsureTrackedLink(ctx, l)
	require.NoError(t, err)
	require.Equal(t, "abc123", got.Code)
	again, err := s.EnsureTrackedLink(ctx, l)
	require.NoError(t, err, "a retried publish gets the same link")
	require.Equal(t, got, again)

	other := l
	other.ChannelID = "ch_b"
	_, err = s.EnsureTrackedLink(ctx, other)
	require.ErrorIs(t, err, store.ErrExists, "the code is taken by the first channel's link")
	other.Code = "def456"
	lb, err := s.EnsureTrackedLink(ctx, other)
	require.NoError(t, err)

	_, err = s.TrackedLink(ctx, "nope")
	require.ErrorIs(t, err, store.ErrNotFound)

	click := func(l store.TrackedLink, at time.Duration, host string, bot bool) {
		require.NoError(t, s.RecordClick(ctx, l, store.Click{At: m0.Add(at), ReferrerHost: host, Referrer: "https://" + host + "/", Bot: bot}))
	}
	click(got, time.Minute, "mastodon.social", false)
	click(got, 2*time.Minute, "mastodon.social", false)
	click(got, 2*time.Minute, "", false)
	click(got, 3*time.Minute, "", true)
	click(lb, 90*time.Second, "bsky.app", false)
	click(lb, time.Hour, "bsky.app", false)

	st, err := s.CampaignClicks(ctx, "c1", m0.Add(10*time.Minute))
	require.NoError(t, err)
	require.Equal(t, int64(4), st.Total, "bots are not counted, nor clicks after the moment")
	require.Equal(t, map[string]int64{"ch_a": 3, "ch_b": 1}, st.ByChannel)
	require.Equal(t, []store.HostClicks{{Host: "mastodon.social", Clicks: 2}, {Host: "bsky.app", Clicks: 1}, {Host: "direct", Clicks: 1}}, st.Referrers)

	buckets, err := s.ClicksByMinute(ctx, "c1")
	require.NoError(t, err)
	require.Len(t, buckets, 3)
	require.Equal(t, []int64{2, 2, 1}, []int64{buckets[0].Clicks, buckets[1].Clicks, buckets[2].Clicks})

	links, err := s.CampaignLinks(ctx, "c1")
	require.NoError(t, err)
	require.Len(t, links, 2)
	require.Equal(t, int64(3), links[0].Clicks)
	require.Equal(t, int64(1), links[0].Bots)
	require.Equal(t, int64(2), links[1].Clicks)
}

func TestCostsAndConversionsAreIdempotentInOneCurrency(t *testing.T) {
	s := newStore(t)
	ctx := context.Background()
	c, created, err := s.AddCost(ctx, store.Cost{CampaignID: "c1", Key: "boost", Amount: 300.004, Currency: "EUR", Source: store.CostFromPlaybook, At: m0})
	require.NoError(t, err)
	require.True(t, created)
	require.Equal(t, 300.0, c.Amount, "stored to the cent")
	_, created, err = s.AddCost(ctx, store.Cost{CampaignID: "c1", Key: "boost", Amount: 300, Currency: "EUR", Source: store.CostFromPlaybook, At: m0.Add(time.Hour)})
	require.NoError(t, err)
	require.False(t, created, "a retried cost step records once")
	_, _, err = s.AddCost(ctx, store.Cost{CampaignID: "c1", Key: "boost", Amount: 250, Currency: "EUR", Source: store.CostFromAPI, At: m0})
	require.ErrorIs(t, err, store.ErrExists, "the same key with another amount")
	_, _, err = s.AddCost(ctx, store.Cost{CampaignID: "c1", Key: "print", Amount: 50, Currency: "USD", Source: store.CostFromAPI, At: m0})
	require.ErrorIs(t, err, store.ErrCurrency)
	_, _, err = s.AddCost(ctx, store.Cost{CampaignID: "c1", Key: "design", Amount: 49.5, Source: store.CostFromAPI, At: m0.Add(time.Hour)})
	require.NoError(t, err, "no currency: the campaign's")

	_, created, err = s.AddConversion(ctx, store.Conversion{CampaignID: "c1", ExternalID: "order-1", Value: 120, Currency: "EUR", At: m0})
	require.NoError(t, err)
	require.True(t, created)
	_, created, err = s.AddConversion(ctx, store.Conversion{CampaignID: "c1", ExternalID: "order-1", Value: 120, Currency: "EUR", At: m0})
	require.NoError(t, err)
	require.False(t, created)
	_, _, err = s.AddConversion(ctx, store.Conversion{CampaignID: "c1", ExternalID: "order-2", Value: 80, Currency: "GBP", At: m0})
	require.True(t, errors.Is(err, store.ErrCurrency))
	_, _, err = s.AddConversion(ctx, store.Conversion{CampaignID: "c1", ExternalID: "order-3", Value: 80.25, At: m0.Add(2 * time.Hour)})
	require.NoError(t, err)

	m, err := s.CampaignMoney(ctx, "c1", m0.Add(time.Hour))
	require.NoError(t, err)
	require.Equal(t, store.Money{Cost: 349.5, Conversions: 1, Revenue: 120, Currency: "EUR"}, m)
	m, err = s.CampaignMoney(ctx, "c1", m0.Add(24*time.Hour))
	require.NoError(t, err)
	require.Equal(t, int64(2), m.Conversions)
	require.Equal(t, 200.25, m.Revenue)

	costs, err := s.Costs(ctx, "c1")
	require.NoError(t, err)
	require.Len(t, costs, 2)

	m, err = s.CampaignMoney(ctx, "empty", m0)
	require.NoError(t, err)
	require.Equal(t, store.Money{}, m)
}

func TestCalendarJoinsTheLedger(t *testing.T) {
	s := newStore(t)
	ctx := context.Background()
	require.NoError(t, s.UpsertBrand(ctx, store.Brand{ID: "acme", Name: "Acme", Timezone: "Europe/Madrid"}))
	require.NoError(t, s.UpsertBrand(ctx, store.Brand{ID: "other", Name: "Other", Timezone: "America/New_York"}))
	for _, ch := range []store.Channel{
		{ID: "ch_a", BrandID: "acme", Name: "news", Platform: "sandbox", Handle: "a"},
		{ID: "ch_b", BrandID: "acme", Name: "care", Platform: "mastodon", Handle: "b"},
		{ID: "ch_o", BrandID: "other", Name: "o", Platform: "sandbox", Handle: "o"},
	} {
		require.NoError(t, s.UpsertChannel(ctx, ch, map[string]string{"token": "t"}))
	}
	entry := func(campaign, step, ch, brand string, at time.Time) store.CalendarEntry {
		return store.CalendarEntry{CampaignID: campaign, StepID: step, ChannelID: ch, BrandID: brand, Playbook: "first-campaign",
			Title: "First campaign", At: at, Timezone: "Europe/Madrid", Text: "Hello from " + ch}
	}
	now := m0.Add(3 * time.Hour)
	require.NoError(t, s.UpsertCalendarEntries(ctx, []store.CalendarEntry{
		entry("c1", "launch", "ch_a", "acme", m0),
		entry("c1", "launch", "ch_b", "acme", m0),
		entry("c2", "launch", "ch_a", "acme", m0.Add(time.Hour)),
		entry("c3", "launch", "ch_a", "acme", m0.Add(24*time.Hour)),
		entry("c4", "launch", "ch_o", "other", m0.Add(24*time.Hour)),
	}))
	// Moved: one entry, at the new time.
	require.NoError(t, s.UpsertCalendarEntries(ctx, []store.CalendarEntry{entry("c3", "launch", "ch_a", "acme", m0.Add(48*time.Hour))}))

	// c1 published on ch_a, failed on ch_b; c2 never went out; c9 was
	// published before the calendar existed.
	ledger := func(campaign, step, ch string) store.LedgerEntry {
		return store.LedgerEntry{Key: campaign + "/" + step + "/" + ch, CampaignID: campaign, StepID: step, ChannelID: ch, ContentHash: "h"}
	}
	_, err := s.LedgerBegin(ctx, ledger("c1", "launch", "ch_a"))
	require.NoError(t, err)
	require.NoError(t, s.LedgerPublished(ctx, "c1/launch/ch_a", "17", "https://sandbox/17", m0.Add(time.Second)))
	_, err = s.LedgerBegin(ctx, ledger("c1", "launch", "ch_b"))
	require.NoError(t, err)
	require.NoError(t, s.LedgerFailure(ctx, "c1/launch/ch_b", "refused", true))
	_, err = s.LedgerBegin(ctx, ledger("c9", "post", "ch_b"))
	require.NoError(t, err)
	require.NoError(t, s.LedgerPublished(ctx, "c9/post/ch_b", "99", "https://m/99", m0.Add(30*time.Minute)))

	got, err := s.Calendar(ctx, "acme", m0, m0.Add(7*24*time.Hour), now)
	require.NoError(t, err)
	type row struct{ campaign, channel, status string }
	var rows []row
	for _, e := range got {
		rows = append(rows, row{e.CampaignID, e.Channel, e.Status})
	}
	require.Equal(t, []row{
		{"c1", "care", store.CalendarFailed},
		{"c1", "news", store.CalendarPublished},
		{"c9", "care", store.CalendarPublished},
		{"c2", "news", store.CalendarMissed},
		{"c3", "news", store.CalendarScheduled},
	}, rows)
	require.Equal(t, "https://sandbox/17", got[1].PostURL)
	require.Equal(t, "Hello from ch_a", got[1].Text)
	require.Equal(t, "Europe/Madrid", got[2].Timezone, "an unscheduled post is in its brand's zone")
	require.True(t, got[4].At.Equal(m0.Add(48*time.Hour)))

	all, err := s.Calendar(ctx, "", m0, m0.Add(7*24*time.Hour), now)
	require.NoError(t, err)
	require.Len(t, all, 6, "every brand")
	none, err := s.Calendar(ctx, "acme", m0.Add(49*time.Hour), m0.Add(50*time.Hour), now)
	require.NoError(t, err)
	require.Empty(t, none)
}

func TestCalendarTokens(t *testing.T) {
	s := newStore(t)
	ctx := context.Background()
	require.NoError(t, s.UpsertBrand(ctx, store.Brand{ID: "acme", Name: "Acme"}))
	tok, secret, err := s.CreateCalendarToken(ctx, "marta", "acme")
	require.NoError(t, err)
	require.Regexp(t, `^cal_[A-Za-z0-9_-]{43}$`, secret)

	var stored string
	require.NoError(t, s.Pool().QueryRow(ctx, `SELECT token_sha256 FROM calendar_tokens WHERE id = $1`, tok.ID).Scan(&stored))
	require.NotContains(t, stored, secret[4:], "only the hash is kept")

	got, err := s.CalendarTokenFor(ctx, secret)
	require.NoError(t, err)
	require.Equal(t, "marta", got.User)
	require.Equal(t, "acme", got.BrandID)
	_, err = s.CalendarTokenFor(ctx, secret+"x")
	require.ErrorIs(t, err, store.ErrNotFound)

	require.NoError(t, s.RevokeCalendarToken(ctx, tok.ID))
	require.NoError(t, s.RevokeCalendarToken(ctx, tok.ID))
	_, err = s.CalendarTokenFor(ctx, secret)
	require.ErrorIs(t, err, store.ErrNotFound, "a revoked token opens nothing")
	require.ErrorIs(t, s.RevokeCalendarToken(ctx, "calt_nope"), store.ErrNotFound)

	list, err := s.CalendarTokens(ctx)
	require.NoError(t, err)
	require.Len(t, list, 1)
	require.NotNil(t, list[0].RevokedAt)
}
