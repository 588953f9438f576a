package e2e

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	ics "github.com/arran4/golang-ical"
	"github.com/stretchr/testify/require"
	"go.temporal.io/api/workflowservice/v1"
	"go.temporal.io/sdk/client"
	"google.golang.org/protobuf/encoding/protojson"

	"github.com/cmo-dev/cmo/devstack"
	"github.com/cmo-dev/cmo/playbooks"
	"github.com/cmo-dev/cmo/workflows"
)

// kpiPlaybook publishes a tracked link, records its boost budget, waits
// for the link to be clicked and the posts to be seen, reports and, since
// nobody engages with a post that fast, takes the shortfall branch.
const kpiPlaybook = `apiVersion: cmo/v1
kind: Campaign
name: e2e-kpis
title: Cold brew with a tracked link
params:
  product: {type: string}
  url: {type: string}
  budget: {type: number}
  clicks: {type: int}
goals:
  clicks: kpi.clicks >= params.clicks
  engagement: kpi.engagement_rate >= 0.5
steps:
  - id: draft
    content: {template: "{{.product}} is here: {{.url}}", channels: [sandbox]}
  - id: review
    approval: {role: approver, within: 1h}
  - id: launch
    publish: {}
  - id: spend
    cost: {amount: params.budget, currency: EUR, note: boost}
  - id: traffic
    wait: {rule: kpi.clicks >= params.clicks && kpi.impressions >= 30, every: 1s, timeout: 2m}
  - id: report
    report: {}
  - id: shortfall
    when: not goals.engagement
    notify: {to: ["slack:marketing"], message: "{{.product}} missed its engagement goal."}
`

func startStackWithPlaybooks(t *testing.T, files map[string]string) *devstack.Stack {
	t.Helper()
	dir := t.TempDir()
	for name, body := range files {
		require.NoError(t, os.WriteFile(filepath.Join(dir, name), []byte(body), 0o644))
	}
	lib, err := playbooks.Load(dir)
	require.NoError(t, err)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	log := slog.New(slog.NewTextHandler(testWriter{t}, &slog.HandlerOptions{Level: slog.LevelWarn}))
	s, err := devstack.Start(ctx, devstack.Options{DataDir: dataDir(t), UIPort: -1, Log: log, Playbooks: lib})
	require.NoError(t, err)
	registerAPI(s.APIURL, s.APIKey)
	t.Cleanup(s.Close)
	t.Cleanup(func() { requireNoSecretsAnywhere(t, s.Client, s.Store) })
	return s
}

// get fetches a path with the given Accept header and returns the body.
func get(t *testing.T, base, path, accept string) (int, http.Header, string) {
	t.Helper()
	req, err := http.NewRequest("GET", base+path, nil)
	require.NoError(t, err)
	if accept != "" {
		req.Header.Set("Accept", accept)
	}
	resp, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	defer resp.Body.Close()
	raw, err := io.ReadAll(resp.Body)
	require.NoError(t, err)
	return resp.StatusCode, resp.Header, string(raw)
}

// TestReportEqualsTheSandboxAndTheClicks runs a campaign with a tracked
// link on the embedded stack, clicks its links as people (and as a
// preview fetcher), records a sale, and checks that the report's numbers
// are the sandbox's engagement at the moments the report measured, the
// clicks counted, and the money recorded; then that the content calendar
// and its iCalendar feed hold every scheduled post in the brand's zone.
func TestReportEqualsTheSandboxAndTheClicks(t *testing.T) {
	s := startStackWithPlaybooks(t, map[string]string{"e2e-kpis.yaml": kpiPlaybook})
	a := api{t: t, base: s.APIURL}

	code, body := a.do("POST", "/v1/campaigns", map[string]any{
		"id": "e2e-kpis", "brand": "demo", "playbook": "e2e-kpis", "author": "marta",
		"params": map[string]any{"product": "Cold Brew", "url": "https://shop.example/cold-brew", "budget": 40, "clicks": 5},
	})
	require.Equal(t, 201, code, body)
	code, body = a.do("POST", "/v1/campaigns/e2e-kpis/approvals", map[string]any{"decision": "approve", "actor": "jordi"})
	require.Equal(t, 200, code, body)

	// Published: the posts carry short links to this API.
	var posts map[string]string // handle → text
	require.Eventually(t, func() bool {
		_, body := a.do("GET", "/v1/sandbox/posts?limit=1000", nil)
		posts = map[string]string{}
		for _, p := range body["posts"].([]any) {
			post := p.(map[string]any)
			if strings.HasPrefix(post["content"].(string), "Cold Brew is here") {
				posts[post["account"].(map[string]any)["acct"].(string)] = post["content"].(string)
			}
		}
		return len(posts) == 2
	}, 30*time.Second, 50*time.Millisecond, "both channels published")
	short := regexp.MustCompile(regexp.QuoteMeta(s.APIURL) + `/l/([a-z0-9]{10})\b`)
	codes := map[string]string{}
	for handle, text := range posts {
		m := short.FindStringSubmatch(text)
		require.NotNil(t, m, "%s: the link is a tracked one: %q", handle, text)
		require.NotContains(t, text, "shop.example", "the target only appears behind the redirect")
		codes[handle] = m[1]
	}
	require.NotEqual(t, codes["demo_news"], codes["demo_care"], "one link per channel")

	// People click: three from Mastodon on the news channel's post, two
	// with no referrer on the care channel's; a preview fetcher does not
	// count.
	click := func(code, ua, referrer string) {
		req, err := http.NewRequest("GET", s.APIURL+"/l/"+code, nil)
		require.NoError(t, err)
		req.Header.Set("User-Agent", ua)
		if referrer != "" {
			req.Header.Set("Referer", referrer)
		}
		resp, err := noRedirect.Do(req)
		require.NoError(t, err)
		resp.Body.Close()
		require.Equal(t, http.StatusFound, resp.StatusCode)
		dest, err := url.Parse(resp.Header.Get("Location"))
		require.NoError(t, err)
		require.Equal(t, "shop.example", dest.Host)
		require.Equal(t, "e2e-kpis", dest.Query().Get("utm_campaign"))
		require.Equal(t, "sandbox", dest.Query().Get("utm_source"))
		require.Equal(t, "social", dest.Query().Get("utm_medium"))
	}
	const browser = "Mozilla/5.0 (Macintosh; Intel Mac OS X 14_5) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.5 Safari/605.1.15"
	for i := 0; i < 3; i++ {
		click(codes["demo_news"], browser, "https://mastodon.social/@demo_news")
	}
	click(codes["demo_care"], browser, "")
	click(codes["demo_care"], browser, "")
	click(codes["demo_news"], "Mastodon/4.3.0 (http.rb/5.2.0; +https://mastodon.social/)", "")

	code, body = a.do("POST", "/v1/campaigns/e2e-kpis/conversions", map[string]any{"id": "order-1", "value": 45.5, "currency": "EUR"})
	require.Equal(t, 201, code, body)
	code, body = a.do("POST", "/v1/campaigns/e2e-kpis/conversions", map[string]any{"id": "order-2", "value": 45.5})
	require.Equal(t, 201, code, body)

	// The wait step sees the five clicks, the report follows.
	res := waitCampaign(t, s.Client, "e2e-kpis")
	require.Equal(t, workflows.StatusCompleted, res.Status)

	code, rep := a.do("GET", "/v1/campaigns/e2e-kpis/report", nil)
	require.Equal(t, 200, code, rep)
	kpi := rep["kpi"].(map[string]any)

	// Every post's numbers are the sandbox's at the moment the report
	// read them, and the totals add those up.
	var impressions, reach, likes, reposts, replies, postClicks float64
	reportPosts := rep["posts"].([]any)
	require.Len(t, reportPosts, 2)
	handles := map[string]string{"ch_demo_news": "demo_news", "ch_demo_care": "demo_care"}
	for _, p := range reportPosts {
		post := p.(map[string]any)
		m := post["metrics"].(map[string]any)
		sb := sandboxPostAt(t, a, handles[post["channel_id"].(string)], post["post_id"].(string), m["at"].(string))
		for _, f := range [][2]string{{"impressions", "impressions"}, {"reach", "reach"}, {"likes", "favourites_count"},
			{"reposts", "reblogs_count"}, {"replies", "replies_count"}, {"clicks", "clicks"}} {
			require.Equal(t, sb[f[1]], orZero(m[f[0]]), "%s of %s", f[0], post["channel"])
		}
		impressions += sb["impressions"].(float64)
		reach += sb["reach"].(float64)
		likes += sb["favourites_count"].(float64)
		reposts += sb["reblogs_count"].(float64)
		replies += sb["replies_count"].(float64)
		postClicks += sb["clicks"].(float64)
	}
	require.GreaterOrEqual(t, impressions, 30.0, "the wait step let the sandbox's audience see the posts")
	require.Equal(t, impressions, kpi["impressions"])
	require.Equal(t, reach, kpi["reach"])
	require.Equal(t, likes, kpi["likes"])
	require.Equal(t, postClicks, kpi["post_clicks"])
	engagements := likes + reposts + replies + postClicks
	require.Equal(t, engagements, kpi["engagements"])
	require.InDelta(t, engagements/impressions, kpi["engagement_rate"], 1e-12)

	// Clicks are the five people, by channel and referrer.
	require.Equal(t, 5.0, kpi["clicks"])
	require.InDelta(t, 5/impressions, kpi["ctr"], 1e-12)
	channelClicks := map[string]float64{}
	for _, c := range rep["channels"].([]any) {
		ch := c.(map[string]any)
		channelClicks[ch["channel"].(string)] = ch["clicks"].(float64)
		// Followers, at the start and at the report, as the sandbox had them.
		handle := handles[ch["channel_id"].(string)]
		require.Equal(t, sandboxFollowersAt(t, a, handle, ch["followers_start_at"].(string)), ch["followers_start"], handle)
		require.Equal(t, sandboxFollowersAt(t, a, handle, ch["followers_at"].(string)), ch["followers"], handle)
	}
	require.Equal(t, map[string]float64{"sandbox-news": 3, "sandbox-care": 2}, channelClicks)
	require.Equal(t, []any{map[string]any{"host": "mastodon.social", "clicks": 3.0}, map[string]any{"host": "direct", "clicks": 2.0}}, rep["referrers"])

	// Money: the playbook's budget and the two sales.
	require.Equal(t, 40.0, kpi["cost"])
	require.Equal(t, 2.0, kpi["conversions"])
	require.Equal(t, 91.0, kpi["revenue"])
	require.InDelta(t, (91.0-40.0)/40.0, kpi["roi"], 1e-12)
	require.Equal(t, "EUR", rep["currency"])
	t.Logf("report: %v impressions, %v reach, %v engagements (rate %.4f), %v link clicks (CTR %.4f), followers %v → %v, cost %v, revenue %v, ROI %v",
		kpi["impressions"], kpi["reach"], kpi["engagements"], kpi["engagement_rate"], kpi["clicks"], kpi["ctr"],
		kpi["followers_start"], kpi["followers"], kpi["cost"], kpi["revenue"], kpi["roi"])

	// Goals: the clicks came, the engagement did not; the playbook took
	// the shortfall branch.
	require.Equal(t, map[string]any{"clicks": true, "engagement": false}, rep["goals"])
	code, body = a.do("GET", "/v1/brands/demo/notifications", nil)
	require.Equal(t, 200, code, body)
	require.Contains(t, fmt.Sprint(body), "Cold Brew missed its engagement goal.")

	// The same report as a page and as Markdown.
	code, h, page := get(t, s.APIURL, "/v1/campaigns/e2e-kpis/report", "text/html")
	require.Equal(t, 200, code)
	require.Contains(t, h.Get("Content-Type"), "text/html")
	require.NotContains(t, strings.ToLower(page), "<script")
	require.Equal(t, 4, strings.Count(page, "<svg"))
	require.Contains(t, page, `<td class="missed">`)
	code, _, md := get(t, s.APIURL, "/v1/campaigns/e2e-kpis/report?format=markdown", "")
	require.Equal(t, 200, code)
	require.Contains(t, md, "## Goals: 1 of 2 met")
	require.Contains(t, md, "| Link clicks | 5 |")

	// The collector keeps measuring after the campaign ended.
	_, err := s.Client.DescribeWorkflowExecution(context.Background(), workflows.MetricsWorkflowID("e2e-kpis"), "")
	require.NoError(t, err, "the metrics collector runs on after its campaign")

	// Scheduled posts, one in winter time and one in summer time.
	madrid, err := time.LoadLocation("Europe/Madrid")
	require.NoError(t, err)
	now := time.Now().In(madrid)
	winter := nextMonthDay(now, time.January, 15, 9, 0, madrid)
	summer := nextMonthDay(now, time.July, 1, 9, 30, madrid)
	for id, at := range map[string]time.Time{"e2e-winter": winter, "e2e-summer": summer} {
		code, body := a.do("POST", "/v1/campaigns", map[string]any{
			"id": id, "brand": "demo", "playbook": "first-campaign", "author": "marta",
			"params": map[string]any{"product": "Spiced " + id, "launch_at": at.Format(time.RFC3339)},
		})
		require.Equal(t, 201, code, body)
		code, body = a.do("POST", "/v1/campaigns/"+id+"/approvals", map[string]any{"decision": "approve", "actor": "jordi"})
		require.Equal(t, 200, code, body)
	}
	for _, id := range []string{"e2e-winter", "e2e-summer"} {
		require.Eventually(t, func() bool {
			_, body := a.do("GET", "/v1/campaigns/"+id, nil)
			return body["status"] == workflows.StatusScheduled
		}, 30*time.Second, 50*time.Millisecond, "%s waits for its time", id)
	}

	code, body = a.do("GET", "/v1/calendar?brand=demo&from="+now.AddDate(0, 0, -1).Format("2006-01-02")+"&to="+now.AddDate(0, 0, 380).Format("2006-01-02"), nil)
	require.Equal(t, 200, code, body)
	status := map[string]string{}
	for _, e := range body["entries"].([]any) {
		en := e.(map[string]any)
		status[en["campaign_id"].(string)+"/"+en["channel"].(string)] = en["status"].(string)
	}
	require.Equal(t, map[string]string{
		"e2e-kpis/sandbox-care": "published", "e2e-kpis/sandbox-news": "published",
		"e2e-winter/sandbox-care": "scheduled", "e2e-winter/sandbox-news": "scheduled",
		"e2e-summer/sandbox-care": "scheduled", "e2e-summer/sandbox-news": "scheduled",
	}, status)

	// The feed, as a calendar application reads it.
	code, body = a.do("POST", "/v1/calendar/tokens", map[string]any{"user": "marta", "brand": "demo"})
	require.Equal(t, 201, code, body)
	token := body["token"].(string)
	span := "&from=" + now.AddDate(0, 0, -1).Format("2006-01-02") + "&to=" + now.AddDate(0, 0, 380).Format("2006-01-02")
	code, h, feed := get(t, s.APIURL, body["feed"].(string)+span, "")
	require.Equal(t, 200, code, feed)
	require.Equal(t, "text/calendar; charset=utf-8", h.Get("Content-Type"))
	cal, err := ics.ParseCalendar(strings.NewReader(feed))
	require.NoError(t, err)
	starts := map[string]time.Time{}
	for _, ev := range cal.Events() {
		at, err := ev.GetStartAt()
		require.NoError(t, err)
		starts[ev.Id()] = at
		require.Equal(t, []string{"Europe/Madrid"}, ev.GetProperty(ics.ComponentPropertyDtStart).ICalParameters["TZID"], ev.Id())
	}
	for _, ch := range []string{"ch_demo_news", "ch_demo_care"} {
		require.True(t, starts["e2e-winter/launch/"+ch+"@cmo"].Equal(winter), "%s: %s", ch, starts["e2e-winter/launch/"+ch+"@cmo"])
		require.True(t, starts["e2e-summer/launch/"+ch+"@cmo"].Equal(summer), "%s: %s", ch, starts["e2e-summer/launch/"+ch+"@cmo"])
		require.Contains(t, starts, "e2e-kpis/launch/"+ch+"@cmo")
	}
	require.Len(t, starts, 6, "every post of the brand in the span")
	require.Contains(t, feed, "DTSTART;TZID=Europe/Madrid:"+winter.Format("20060102")+"T090000\r\n", "winter: 09:00 local")
	require.Contains(t, feed, "DTSTART;TZID=Europe/Madrid:"+summer.Format("20060102")+"T093000\r\n", "summer: 09:30 local")

	requireNotInHistories(t, s.Client, token)
	recordHistory(t, "kpis", history(t, s.Client, workflows.CampaignWorkflowID("e2e-kpis")))
	recordHistory(t, "metrics", history(t, s.Client, workflows.MetricsWorkflowID("e2e-kpis")))
}

var noRedirect = &http.Client{Timeout: 10 * time.Second, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}

// sandboxPostAt is the sandbox's post as it stood at a moment.
func sandboxPostAt(t *testing.T, a api, handle, id, at string) map[string]any {
	t.Helper()
	code, body := a.do("GET", "/v1/sandbox/posts?handle="+handle+"&at="+url.QueryEscape(at), nil)
	require.Equal(t, 200, code, body)
	for _, p := range body["posts"].([]any) {
		post := p.(map[string]any)
		if post["id"] == id {
			return post
		}
	}
	t.Fatalf("no sandbox post %s of %s", id, handle)
	return nil
}

// sandboxFollowersAt is the account's follower count at a moment.
func sandboxFollowersAt(t *testing.T, a api, handle, at string) float64 {
	t.Helper()
	code, body := a.do("GET", "/v1/sandbox/posts?handle="+handle+"&at="+url.QueryEscape(at), nil)
	require.Equal(t, 200, code, body)
	posts := body["posts"].([]any)
	require.NotEmpty(t, posts)
	return posts[0].(map[string]any)["account"].(map[string]any)["followers_count"].(float64)
}

func orZero(v any) any {
	if v == nil {
		return 0.0
	}
	return v
}

// nextMonthDay is the next month/day at hh:mm local after now, at least
// a day ahead.
func nextMonthDay(now time.Time, m time.Month, day, hh, mm int, loc *time.Location) time.Time {
	t := time.Date(now.Year(), m, day, hh, mm, 0, 0, loc)
	for !t.After(now.Add(24 * time.Hour)) {
		t = t.AddDate(1, 0, 0)
	}
	return t
}

// requireNotInHistories fails if needle appears in any workflow history.
func requireNotInHistories(t *testing.T, c client.Client, needle string) {
	t.Helper()
	var token []byte
	for {
		resp, err := c.ListWorkflow(context.Background(), &workflowservice.ListWorkflowExecutionsRequest{NextPageToken: token})
		require.NoError(t, err)
		for _, ex := range resp.GetExecutions() {
			raw, err := protojson.Marshal(history(t, c, ex.GetExecution().GetWorkflowId()))
			require.NoError(t, err)
			require.NotContains(t, string(raw), needle, "the calendar token appears in the history of %s", ex.GetExecution().GetWorkflowId())
		}
		if token = resp.GetNextPageToken(); len(token) == 0 {
			return
		}
	}
}
