package server_test

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	ics "github.com/arran4/golang-ical"
	"github.com/stretchr/testify/require"
	"go.temporal.io/api/serviceerror"
	"go.temporal.io/api/workflowservice/v1"
	"go.temporal.io/sdk/client"

	"github.com/cmo-dev/cmo/platforms"
	"github.com/cmo-dev/cmo/report"
	"github.com/cmo-dev/cmo/server"
	"github.com/cmo-dev/cmo/store"
	"github.com/cmo-dev/cmo/workflows"
)

// campaigns is a Temporal client that knows some campaigns.
type campaigns struct {
	client.Client
	known map[string]bool
}

func (c campaigns) DescribeWorkflowExecution(_ context.Context, id, _ string) (*workflowservice.DescribeWorkflowExecutionResponse, error) {
	if c.known[id] {
		return describedWithBrand("demo")
	}
	return nil, serviceerror.NewNotFound("workflow not found")
}

var kpiNow = time.Date(2030, 1, 10, 12, 0, 0, 0, time.UTC)

func kpiAPI(t *testing.T) (*httptest.Server, *store.Store) {
	t.Helper()
	s := testStore(t)
	require.NoError(t, s.SeedDemo(context.Background()))
	tc := campaigns{known: map[string]bool{workflows.CampaignWorkflowID("spring"): true}}
	return serveAPI(t, s, server.New(server.Deps{Store: s, Temporal: tc, Now: func() time.Time { return kpiNow }}).Handler()), s
}

// noFollow answers redirects instead of following them.
var noFollow = &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}

func TestTrackedLinkRedirectsAndCountsPeopleNotBots(t *testing.T) {
	ts, s := kpiAPI(t)
	ctx := context.Background()
	l, err := s.EnsureTrackedLink(ctx, store.TrackedLink{Code: "k7xq2m9abc", CampaignID: "spring", BrandID: "demo", ChannelID: "ch_demo_news",
		Target: "https://shop.example/spring", Destination: "https://shop.example/spring?utm_campaign=spring&utm_medium=social&utm_source=sandbox"})
	require.NoError(t, err)

	visit := func(ua, referrer string) *http.Response {
		req, err := http.NewRequest("GET", ts.URL+"/l/"+l.Code, nil)
		require.NoError(t, err)
		req.Header.Set("User-Agent", ua)
		if referrer != "" {
			req.Header.Set("Referer", referrer)
		}
		resp, err := noFollow.Do(req)
		require.NoError(t, err)
		resp.Body.Close()
		return resp
	}
	const browser = "Mozilla/5.0 (X11; Linux x86_64; rv:128.0) Gecko/20100101 Firefox/128.0"
	resp := visit(browser, "https://mastodon.social/@demo/17")
	require.Equal(t, http.StatusFound, resp.StatusCode)
	require.Equal(t, l.Destination, resp.Header.Get("Location"))
	require.Equal(t, "no-store", resp.Header.Get("Cache-Control"), "every click must reach the counter")
	visit(browser, "https://www.mastodon.social/explore")
	visit(browser, "")
	visit("Mastodon/4.3.0 (http.rb/5.2.0; +https://mastodon.social/)", "")
	visit("facebookexternalhit/1.1", "")
	visit("", "")

	st, err := s.CampaignClicks(ctx, "spring", kpiNow)
	require.NoError(t, err)
	require.Equal(t, int64(3), st.Total, "three people; a preview fetcher, a crawler and a script are not")
	require.Equal(t, map[string]int64{"ch_demo_news": 3}, st.ByChannel)
	require.Equal(t, []store.HostClicks{{Host: "mastodon.social", Clicks: 2}, {Host: "direct", Clicks: 1}}, st.Referrers)

	a := call(t, "GET", ts.URL+"/v1/campaigns/spring/links", "")
	require.Equal(t, 200, a.status, a.raw)
	links := a.body["links"].([]any)
	require.Len(t, links, 1)
	require.Equal(t, 3.0, links[0].(map[string]any)["clicks"])
	require.Equal(t, 3.0, links[0].(map[string]any)["bots"])

	a = call(t, "GET", ts.URL+"/l/nosuchcode", "")
	require.Equal(t, 404, a.status)
	require.Equal(t, "code", a.body["field"])
}

func TestCostsAndConversionsThroughTheAPI(t *testing.T) {
	ts, s := kpiAPI(t)
	base := ts.URL + "/v1/campaigns/spring"

	a := call(t, "POST", base+"/costs", `{"key": "boost-1", "amount": 250.5, "currency": "EUR", "note": "boost"}`)
	require.Equal(t, 201, a.status, a.raw)
	require.Equal(t, 250.5, a.body["amount"])
	require.Equal(t, "api", a.body["source"])
	a = call(t, "POST", base+"/costs", `{"key": "boost-1", "amount": 250.5, "currency": "EUR", "note": "boost"}`)
	require.Equal(t, 200, a.status, "sent again: recorded once")
	a = call(t, "POST", base+"/costs", `{"key": "boost-1", "amount": 300, "currency": "EUR"}`)
	require.Equal(t, 409, a.status)
	require.Equal(t, "key", a.body["field"])

	for _, tc := range []struct{ body, field string }{
		{`{"amount": -3}`, "amount"},
		{`{}`, "amount"},
		{`{"amount": 3, "currency": "euro"}`, "currency"},
		{`{"amount": 3, "currency": "USD"}`, "currency"},
		{`{"amount": 3, "at": "tomorrow"}`, "at"},
		{`{"amount": 3, "at": "2030-02-01T00:00:00Z"}`, "at"},
		{`{"amount": "3"}`, "amount"},
		{`{"amount": 3, "price": 3}`, "price"},
	} {
		a := call(t, "POST", base+"/costs", tc.body)
		require.Equal(t, 422, a.status, "%s: %s", tc.body, a.raw)
		require.Equal(t, tc.field, a.body["field"], tc.body)
	}
	a = call(t, "POST", ts.URL+"/v1/campaigns/nope/costs", `{"amount": 3}`)
	require.Equal(t, 404, a.status, "money is not recorded against an unknown campaign")
	require.Equal(t, "id", a.body["field"])

	a = call(t, "POST", base+"/conversions", `{"id": "order-1001", "value": 80, "currency": "EUR", "at": "2030-01-10T10:00:00+01:00"}`)
	require.Equal(t, 201, a.status, a.raw)
	a = call(t, "POST", base+"/conversions", `{"id": "order-1001", "value": 80, "currency": "EUR", "at": "2030-01-10T10:00:00+01:00"}`)
	require.Equal(t, 200, a.status)
	a = call(t, "POST", base+"/conversions", `{"id": "order-1002", "value": 40}`)
	require.Equal(t, 201, a.status)
	a = call(t, "POST", base+"/conversions", `{"value": 40}`)
	require.Equal(t, 422, a.status)
	require.Equal(t, "id", a.body["field"])
	a = call(t, "POST", base+"/conversions", `{"id": "order-1003", "value": 40, "currency": "GBP"}`)
	require.Equal(t, 422, a.status)
	require.Equal(t, "currency", a.body["field"])

	m, err := s.CampaignMoney(context.Background(), "spring", kpiNow)
	require.NoError(t, err)
	require.Equal(t, store.Money{Cost: 250.5, Conversions: 2, Revenue: 120, Currency: "EUR"}, m)

	a = call(t, "GET", base+"/costs", "")
	require.Equal(t, 200, a.status)
	require.Len(t, a.body["costs"], 1)
}

func TestReportAsJSONMarkdownAndHTML(t *testing.T) {
	ts, s := kpiAPI(t)
	ctx := context.Background()
	t0 := kpiNow.Add(-3 * time.Hour)
	rep := report.Report{CampaignID: "spring", Brand: "demo", Playbook: "first-campaign", Title: "Spring", GeneratedAt: kpiNow.Add(-time.Hour),
		Posts: []report.PostReport{{ChannelID: "ch_demo_news", Channel: "sandbox-news", StepID: "launch", PostID: "1",
			Metrics: platforms.Metrics{Impressions: 900, Likes: 30, At: kpiNow.Add(-time.Hour)}}},
		GoalResults: []report.GoalResult{{Name: "engagement", Rule: "kpi.engagement_rate >= 0.03", Met: true}},
		Goals:       map[string]bool{"engagement": true}}
	rep.KPI = report.KPIs(report.Measured{Posts: rep.Posts})
	raw, err := json.Marshal(rep)
	require.NoError(t, err)
	require.NoError(t, s.SaveReport(ctx, "spring", "demo", "first-campaign", raw))
	for i, imp := range []int64{0, 500, 900} {
		at := t0.Add(time.Duration(i) * time.Hour)
		require.NoError(t, s.RecordSamples(ctx,
			[]store.PostSample{{CampaignID: "spring", StepID: "launch", ChannelID: "ch_demo_news", PostID: "1", BatchAt: at,
				Metrics: platforms.Metrics{Impressions: imp, Likes: imp / 30, At: at}}},
			[]store.FollowerSample{{CampaignID: "spring", ChannelID: "ch_demo_news", BatchAt: at, At: at, Followers: 2000 + int64(i)}}))
	}

	a := call(t, "GET", ts.URL+"/v1/campaigns/spring/report", "")
	require.Equal(t, 200, a.status, a.raw)
	require.Equal(t, 900.0, a.body["kpi"].(map[string]any)["impressions"])
	charts := a.body["charts"].([]any)
	require.Len(t, charts, 4)
	first := charts[0].(map[string]any)["series"].([]any)[0].(map[string]any)
	require.Equal(t, "impressions", first["name"])
	require.Len(t, first["points"], 3, "one point per measurement round")

	get := func(path, accept string) (int, http.Header, string) {
		req, err := http.NewRequest("GET", ts.URL+path, nil)
		require.NoError(t, err)
		if accept != "" {
			req.Header.Set("Accept", accept)
		}
		resp, err := http.DefaultClient.Do(req)
		require.NoError(t, err)
		defer resp.Body.Close()
		b, err := io.ReadAll(resp.Body)
		require.NoError(t, err)
		return resp.StatusCode, resp.Header, string(b)
	}
	code, h, md := get("/v1/campaigns/spring/report?format=markdown", "")
	require.Equal(t, 200, code)
	require.Equal(t, "text/markdown; charset=utf-8", h.Get("Content-Type"))
	require.Contains(t, md, "## Goals: 1 of 1 met")
	require.Contains(t, md, "| engagement | `kpi.engagement_rate >= 0.03` | ✅ met |")

	code, h, page := get("/v1/campaigns/spring/report", "text/html,application/xhtml+xml")
	require.Equal(t, 200, code, "a browser gets the page")
	require.True(t, strings.HasPrefix(h.Get("Content-Type"), "text/html"))
	require.Contains(t, h.Get("Content-Security-Policy"), "default-src 'none'", "nothing but the page itself may load")
	require.NotContains(t, strings.ToLower(page), "<script")
	require.Equal(t, 4, strings.Count(page, "<svg"))
	require.Contains(t, page, `class="met"`)

	a = call(t, "GET", ts.URL+"/v1/campaigns/spring/report?format=pdf", "")
	require.Equal(t, 422, a.status)
	require.Equal(t, "format", a.body["field"])
	a = call(t, "GET", ts.URL+"/v1/campaigns/autumn/report", "")
	require.Equal(t, 404, a.status)
	require.Equal(t, "id", a.body["field"])
}

func TestCalendarJSONAndFeed(t *testing.T) {
	ts, s := kpiAPI(t)
	ctx := context.Background()
	require.NoError(t, s.UpsertBrand(ctx, store.Brand{ID: "nyc", Name: "NYC Bagels", Timezone: "America/New_York"}))
	require.NoError(t, s.UpsertChannel(ctx, store.Channel{ID: "ch_nyc", BrandID: "nyc", Name: "bagels", Platform: "mastodon", Handle: "b"},
		map[string]string{"token": "t"}))
	madrid, err := time.LoadLocation("Europe/Madrid")
	require.NoError(t, err)
	ny, err := time.LoadLocation("America/New_York")
	require.NoError(t, err)
	winter := time.Date(2030, 1, 20, 9, 0, 0, 0, madrid)
	summer := time.Date(2030, 7, 1, 9, 30, 0, 0, madrid)
	bagels := time.Date(2030, 3, 12, 7, 0, 0, 0, ny)
	require.NoError(t, s.UpsertCalendarEntries(ctx, []store.CalendarEntry{
		{CampaignID: "spring", StepID: "launch", ChannelID: "ch_demo_news", BrandID: "demo", Title: "Spring", At: winter, Timezone: "Europe/Madrid", Text: "Spring, at last; come in!\nSecond line"},
		{CampaignID: "spring", StepID: "launch", ChannelID: "ch_demo_care", BrandID: "demo", Title: "Spring", At: winter, Timezone: "Europe/Madrid", Text: "Spring care"},
		{CampaignID: "summer", StepID: "launch", ChannelID: "ch_demo_news", BrandID: "demo", At: summer, Timezone: "Europe/Madrid", Text: "Summer"},
		{CampaignID: "bagels", StepID: "post", ChannelID: "ch_nyc", BrandID: "nyc", At: bagels, Timezone: "America/New_York", Text: "Bagels"},
	}))

	a := call(t, "GET", ts.URL+"/v1/calendar?brand=demo&from=2030-01-01&to=2030-02-01", "")
	require.Equal(t, 200, a.status, a.raw)
	entries := a.body["entries"].([]any)
	require.Len(t, entries, 2)
	e := entries[0].(map[string]any)
	require.Equal(t, "2030-01-20T09:00:00+01:00", e["local"])
	require.Equal(t, "scheduled", e["status"])
	a = call(t, "GET", ts.URL+"/v1/calendar?from=2030-01-01&to=2031-01-01", "")
	require.Equal(t, 200, a.status)
	require.Len(t, a.body["entries"], 4, "every brand")
	for _, tc := range []struct{ query, field string }{
		{"from=yesterday", "from"}, {"from=2030-02-01&to=2030-01-01", "to"}, {"from=2030-01-01&to=2032-01-01", "to"},
	} {
		a := call(t, "GET", ts.URL+"/v1/calendar?"+tc.query, "")
		require.Equal(t, 422, a.status, tc.query)
		require.Equal(t, tc.field, a.body["field"], tc.query)
	}
	a = call(t, "GET", ts.URL+"/v1/calendar?brand=nope", "")
	require.Equal(t, 404, a.status)
	require.Equal(t, "brand", a.body["field"])

	// Feeds.
	a = call(t, "POST", ts.URL+"/v1/calendar/tokens", `{"brand": "demo"}`)
	require.Equal(t, 422, a.status)
	require.Equal(t, "user", a.body["field"])
	a = call(t, "POST", ts.URL+"/v1/calendar/tokens", `{"user": "marta", "brand": "demo"}`)
	require.Equal(t, 201, a.status, a.raw)
	demoFeed, demoToken := a.body["feed"].(string), a.body["token"].(string)
	a = call(t, "POST", ts.URL+"/v1/calendar/tokens", `{"user": "pau"}`)
	require.Equal(t, 201, a.status)
	allFeed, allID := a.body["feed"].(string), a.body["id"].(string)

	a = call(t, "GET", ts.URL+"/v1/calendar.ics", "")
	require.Equal(t, 401, a.status)
	require.Equal(t, "token", a.body["field"])
	a = call(t, "GET", ts.URL+"/v1/calendar.ics?token="+demoToken+"x", "")
	require.Equal(t, 401, a.status)
	a = call(t, "GET", ts.URL+demoFeed+"&brand=nyc", "")
	require.Equal(t, 403, a.status, "a brand's token shows that brand only")
	require.Equal(t, "brand", a.body["field"])

	feed := func(path string) *ics.Calendar {
		resp, err := http.Get(ts.URL + path + "&from=2030-01-01&to=2031-01-01")
		require.NoError(t, err)
		defer resp.Body.Close()
		require.Equal(t, 200, resp.StatusCode)
		require.Equal(t, "text/calendar; charset=utf-8", resp.Header.Get("Content-Type"))
		cal, err := ics.ParseCalendar(resp.Body)
		require.NoError(t, err)
		return cal
	}
	demo := feed(demoFeed)
	got := map[string]time.Time{}
	for _, ev := range demo.Events() {
		at, err := ev.GetStartAt()
		require.NoError(t, err)
		got[ev.Id()] = at
		require.Equal(t, []string{"Europe/Madrid"}, ev.GetProperty(ics.ComponentPropertyDtStart).ICalParameters["TZID"])
	}
	require.Len(t, got, 3)
	require.True(t, got["spring/launch/ch_demo_news@cmo"].Equal(winter))
	require.True(t, got["summer/launch/ch_demo_news@cmo"].Equal(summer), "summer time: %s", got["summer/launch/ch_demo_news@cmo"])
	for _, ev := range demo.Events() {
		if ev.Id() == "spring/launch/ch_demo_news@cmo" {
			require.Equal(t, "[sandbox-news] Spring, at last; come in!", unescape(ev.GetProperty(ics.ComponentPropertySummary).Value))
		}
	}

	all := feed(allFeed)
	require.Len(t, all.Events(), 4)
	for _, ev := range all.Events() {
		if ev.Id() == "bagels/post/ch_nyc@cmo" {
			at, err := ev.GetStartAt()
			require.NoError(t, err)
			require.True(t, at.Equal(bagels), "the day after New York's clocks went forward: %s", at)
			require.Equal(t, []string{"America/New_York"}, ev.GetProperty(ics.ComponentPropertyDtStart).ICalParameters["TZID"])
		}
	}

	a = call(t, "DELETE", ts.URL+"/v1/calendar/tokens/"+allID, "")
	require.Equal(t, 204, a.status)
	a = call(t, "GET", ts.URL+allFeed, "")
	require.Equal(t, 401, a.status, "a revoked token opens nothing")
	a = call(t, "GET", ts.URL+"/v1/calendar/tokens", "")
	require.Equal(t, 200, a.status)
	require.NotContains(t, a.raw, demoToken, "tokens are shown once")
}

// unescape undoes RFC 5545 TEXT escaping, which the parser leaves.
func unescape(s string) string {
	return strings.NewReplacer(`\\`, `\`, `\;`, ";", `\,`, ",", `\n`, "\n", `\N`, "\n").Replace(s)
}
