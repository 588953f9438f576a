package activities_test

import (
	"bytes"
	"context"
	"encoding/json"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/stretchr/testify/require"
	"go.temporal.io/sdk/testsuite"

	"github.com/cmo-dev/cmo/activities"
	"github.com/cmo-dev/cmo/internal/pgtest"
	"github.com/cmo-dev/cmo/platforms"
	"github.com/cmo-dev/cmo/platforms/sandbox"
	"github.com/cmo-dev/cmo/report"
	"github.com/cmo-dev/cmo/rules"
	"github.com/cmo-dev/cmo/sealbox"
	"github.com/cmo-dev/cmo/store"
)

// clock is a settable time shared by the sandbox and the activities.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) Now() time.Time      { c.mu.Lock(); defer c.mu.Unlock(); return c.t }
func (c *clock) Set(t time.Time)     { c.mu.Lock(); defer c.mu.Unlock(); c.t = t }
func (c *clock) Add(d time.Duration) { c.Set(c.Now().Add(d)) }

// kpiFixture is the demo brand on a sandbox whose clock the test moves.
func kpiFixture(t *testing.T) (*store.Store, *activities.Activities, *clock) {
	t.Helper()
	pool, _ := pgtest.NewDB(t, func(ctx context.Context, p *pgxpool.Pool) error { return store.Migrate(ctx, p, nil) })
	box, err := sealbox.New(bytes.Repeat([]byte{3}, 32))
	require.NoError(t, err)
	s := store.New(pool, box)
	require.NoError(t, s.SeedDemo(context.Background()))
	clk := &clock{t: time.Date(2030, 3, 2, 9, 0, 0, 0, time.UTC)}
	srv := httptest.NewServer(sandbox.NewServer(s.Sandbox(), "", clk.Now))
	t.Cleanup(srv.Close)
	a := &activities.Activities{Store: s, Platforms: platforms.Registry{sandbox.Platform: sandbox.NewClient(srv.URL, nil)}, Now: clk.Now}
	return s, a, clk
}

func run[T any](t *testing.T, a *activities.Activities, fn any, in any) T {
	t.Helper()
	var s testsuite.WorkflowTestSuite
	env := s.NewTestActivityEnvironment()
	env.RegisterActivity(a)
	val, err := env.ExecuteActivity(fn, in)
	require.NoError(t, err)
	var out T
	if val != nil && val.HasValue() {
		require.NoError(t, val.Get(&out))
	}
	return out
}

func TestPublishReplacesLinksWithTrackedOnes(t *testing.T) {
	s, a, _ := kpiFixture(t)
	ctx := context.Background()
	a.LinkBase = "https://cmo.example/"
	text := "Spring is here: https://shop.example/spring?utm_source=newsletter. Story: https://blog.example/post!"
	in := activities.PublishInput{CampaignID: "spring", StepID: "launch", ChannelID: "ch_demo_news", Text: text, ContentHash: "h", TrackLinks: true}
	res := run[activities.PublishResult](t, a, a.Publish, in)

	shop := activities.LinkCode("spring", "ch_demo_news", "https://shop.example/spring?utm_source=newsletter")
	blog := activities.LinkCode("spring", "ch_demo_news", "https://blog.example/post")
	require.Regexp(t, `^[a-km-np-z2-9]{10}$`, shop)
	want := "Spring is here: https://cmo.example/l/" + shop + ". Story: https://cmo.example/l/" + blog + "!"
	posts, err := s.Sandbox().ListPosts(ctx, "demo_news", 0, 10)
	require.NoError(t, err)
	require.Len(t, posts, 1)
	require.Equal(t, want, posts[0].Text, "links replaced; the sentence's punctuation kept")
	require.Equal(t, res.PostID, "1")

	l, err := s.TrackedLink(ctx, shop)
	require.NoError(t, err)
	dest, err := url.Parse(l.Destination)
	require.NoError(t, err)
	require.Equal(t, url.Values{"utm_source": {"newsletter"}, "utm_medium": {"social"}, "utm_campaign": {"spring"}, "utm_content": {"sandbox-news"}},
		dest.Query(), "the link's own UTM source wins; the rest name the channel and the campaign")
	l, err = s.TrackedLink(ctx, blog)
	require.NoError(t, err)
	require.Equal(t, "https://blog.example/post?utm_campaign=spring&utm_content=sandbox-news&utm_medium=social&utm_source=sandbox", l.Destination)

	// Again: the ledger answers, nothing is posted twice.
	again := run[activities.PublishResult](t, a, a.Publish, in)
	require.True(t, again.Recovered)
	posts, err = s.Sandbox().ListPosts(ctx, "demo_news", 0, 10)
	require.NoError(t, err)
	require.Len(t, posts, 1)

	// Posts that are not a campaign's keep their links.
	run[activities.PublishResult](t, a, a.Publish, activities.PublishInput{CampaignID: "item-1", StepID: "reply-1", ChannelID: "ch_demo_care", Text: "See https://help.example", ContentHash: "r"})
	care, err := s.Sandbox().ListPosts(ctx, "demo_care", 0, 10)
	require.NoError(t, err)
	require.Equal(t, "See https://help.example", care[0].Text)
}

func TestReportMeasuresWhatTheSandboxShowsAndCountsClicksAndMoney(t *testing.T) {
	s, a, clk := kpiFixture(t)
	ctx := context.Background()
	channels := []string{"ch_demo_care", "ch_demo_news"}
	t0 := clk.Now()

	// The collector's first round, at the start: followers only.
	first := run[activities.SampleResult](t, a, a.SampleMetrics, activities.SampleInput{CampaignID: "spring", Channels: channels})
	require.Zero(t, first.Posts)
	require.True(t, first.LastPublished.IsZero())

	clk.Add(time.Minute)
	for _, ch := range channels {
		run[activities.PublishResult](t, a, a.Publish, activities.PublishInput{CampaignID: "spring", StepID: "launch", ChannelID: ch,
			Text: "Spring is here " + ch, ContentHash: "h"})
	}
	clk.Add(3 * time.Hour)
	news, err := s.EnsureTrackedLink(ctx, store.TrackedLink{Code: "news1", CampaignID: "spring", BrandID: "demo", ChannelID: "ch_demo_news", Target: "https://x.example", Destination: "https://x.example"})
	require.NoError(t, err)
	care, err := s.EnsureTrackedLink(ctx, store.TrackedLink{Code: "care1", CampaignID: "spring", BrandID: "demo", ChannelID: "ch_demo_care", Target: "https://x.example", Destination: "https://x.example"})
	require.NoError(t, err)
	for _, c := range []struct {
		l   store.TrackedLink
		bot bool
	}{{news, false}, {news, false}, {care, false}, {care, true}} {
		require.NoError(t, s.RecordClick(ctx, c.l, store.Click{At: clk.Now().Add(-time.Minute), ReferrerHost: "mastodon.social", Bot: c.bot}))
	}
	_, _, err = s.AddCost(ctx, store.Cost{CampaignID: "spring", Key: "boost", Amount: 100, Currency: "EUR", Source: store.CostFromAPI, At: t0})
	require.NoError(t, err)
	for _, id := range []string{"o1", "o2"} {
		_, _, err = s.AddConversion(ctx, store.Conversion{CampaignID: "spring", ExternalID: id, Value: 60, At: clk.Now().Add(-time.Minute)})
		require.NoError(t, err)
	}

	rep := run[activities.Report](t, a, a.BuildReport, activities.ReportInput{
		CampaignID: "spring", Brand: "demo", Playbook: "first-campaign", Title: "Spring", Channels: channels,
		Goals: map[string]string{"clicks": "kpi.clicks >= 3", "roi": "kpi.roi >= 1", "growth": "kpi.follower_growth >= 0 || kpi.follower_growth < 0"},
		Env:   rules.CampaignEnv{},
	})
	require.True(t, rep.GeneratedAt.Equal(clk.Now()))
	require.Len(t, rep.Posts, 2)

	// Each post's numbers are the sandbox's at the moment it measured them.
	stamps := map[string][]sandbox.PostStamp{}
	var want report.Measured
	for _, p := range rep.Posts {
		sp, err := s.Sandbox().GetPost(ctx, mustID(t, p.PostID))
		require.NoError(t, err)
		acct, err := s.Sandbox().Account(ctx, sp.Handle)
		require.NoError(t, err)
		c := sandbox.Engagement(sp.ID, acct.Followers, p.Metrics.At.Sub(sp.CreatedAt))
		require.Equal(t, platforms.Metrics{Impressions: c.Impressions, Reach: c.Reach, Likes: c.Likes, Reposts: c.Reposts,
			Replies: c.Replies, Clicks: c.Clicks, At: p.Metrics.At}, p.Metrics)
		require.True(t, p.Metrics.At.Equal(clk.Now()), "the sandbox measured at its clock's now")
		require.Positive(t, c.Impressions)
		stamps[sp.Handle], err = s.Sandbox().PostStamps(ctx, sp.Handle)
		require.NoError(t, err)
	}
	want.Posts = rep.Posts
	// Followers: as the accounts had them at the start, and now.
	for _, c := range rep.Channels {
		ch, err := s.Channel(ctx, c.ChannelID)
		require.NoError(t, err)
		acct, err := s.Sandbox().Account(ctx, ch.Handle)
		require.NoError(t, err)
		require.Equal(t, int64(acct.Followers), c.FollowersStart, "%s at the start: nothing posted yet", ch.Name)
		require.Equal(t, sandbox.FollowersAt(acct, stamps[ch.Handle], clk.Now()), c.Followers)
		require.Equal(t, c.Followers-c.FollowersStart, c.Growth)
		want.Channels = append(want.Channels, c)
	}
	require.Equal(t, map[string]int64{"sandbox-care": 1, "sandbox-news": 2}, map[string]int64{rep.Channels[0].Channel: rep.Channels[0].Clicks, rep.Channels[1].Channel: rep.Channels[1].Clicks})
	want.Clicks, want.Cost, want.Conversions, want.Revenue = 3, 100, 2, 120
	require.Equal(t, report.KPIs(want), rep.KPI)
	require.Equal(t, 0.2, rep.KPI.ROI, "(120 - 100) / 100")
	require.Equal(t, "EUR", rep.Currency)
	require.Equal(t, map[string]bool{"clicks": true, "roi": false, "growth": true}, rep.Goals)
	require.Equal(t, []report.GoalResult{{Name: "clicks", Rule: "kpi.clicks >= 3", Met: true}, {Name: "growth", Rule: "kpi.follower_growth >= 0 || kpi.follower_growth < 0", Met: true},
		{Name: "roi", Rule: "kpi.roi >= 1", Met: false}}, rep.GoalResults)
	require.Equal(t, []report.Referrer{{Host: "mastodon.social", Clicks: 3}}, rep.Referrers)

	// Stored for the API, and in the time series.
	raw, err := s.Report(ctx, "spring")
	require.NoError(t, err)
	var stored report.Report
	require.NoError(t, json.Unmarshal(raw, &stored))
	require.Equal(t, rep.KPI, stored.KPI)
	totals, err := s.MetricTotals(ctx, "spring")
	require.NoError(t, err)
	require.Len(t, totals, 1, "one round with posts")
	require.Equal(t, rep.KPI.Impressions, totals[0].Impressions)
	ft, err := s.FollowerTotals(ctx, "spring")
	require.NoError(t, err)
	require.Len(t, ft, 2, "the start and the report")

	// A collect step narrowed to one publish step reads the same posts.
	clk.Add(time.Hour)
	k := run[rules.KPI](t, a, a.CollectMetrics, activities.CollectInput{CampaignID: "spring", PublishStep: "launch", Channels: channels})
	require.Equal(t, 2, k.Posts)
	require.GreaterOrEqual(t, k.Impressions, rep.KPI.Impressions, "numbers only grow")
	k = run[rules.KPI](t, a, a.CollectMetrics, activities.CollectInput{CampaignID: "spring", PublishStep: "follow-up"})
	require.Zero(t, k.Posts)
	require.Equal(t, int64(3), k.Clicks, "clicks, followers and money stay the campaign's")
}

func TestCostStepRecordsOnce(t *testing.T) {
	s, a, _ := kpiFixture(t)
	in := activities.CostInput{CampaignID: "spring", StepID: "boost-spend", Amount: 300, Currency: "EUR", Note: "paid boost"}
	run[struct{}](t, a, a.RecordCost, in)
	run[struct{}](t, a, a.RecordCost, in)
	costs, err := s.Costs(context.Background(), "spring")
	require.NoError(t, err)
	require.Len(t, costs, 1)
	require.Equal(t, "playbook", costs[0].Source)

	var ts testsuite.WorkflowTestSuite
	env := ts.NewTestActivityEnvironment()
	env.RegisterActivity(a)
	_, err = env.ExecuteActivity(a.RecordCost, activities.CostInput{CampaignID: "spring", StepID: "print", Amount: 10, Currency: "USD"})
	require.Error(t, err)
	require.True(t, strings.Contains(err.Error(), "currency"), err.Error())
}

func mustID(t *testing.T, s string) int64 {
	t.Helper()
	var id int64
	for _, r := range s {
		require.True(t, r >= '0' && r <= '9', "post id %q", s)
		id = id*10 + int64(r-'0')
	}
	return id
}
