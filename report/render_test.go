package report

import (
	"bytes"
	"encoding/xml"
	"io"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/cmo-dev/cmo/platforms"
	"github.com/cmo-dev/cmo/store"
)

var t0 = time.Date(2026, 5, 1, 9, 0, 0, 0, time.UTC)

func sampleReport() (Report, []Chart) {
	r := Report{
		CampaignID: "spring-launch", Brand: "demo", Playbook: "product-launch",
		Title:       `Spring <launch> & "friends"`,
		GeneratedAt: t0.Add(3 * time.Hour),
		Posts: []PostReport{
			{ChannelID: "ch_a", Channel: "sandbox-news", StepID: "announce", PostID: "17", URL: "https://sandbox.example/@news/17",
				Metrics: platforms.Metrics{Impressions: 1000, Reach: 800, Likes: 40, Reposts: 5, Replies: 3, Clicks: 12}},
		},
		Channels:  []ChannelReport{{ChannelID: "ch_a", Channel: "sandbox-news", FollowersStart: 2000, Followers: 1990, Growth: -10, Clicks: 7}},
		Referrers: []Referrer{{Host: "mastodon.social", Clicks: 5}, {Host: "direct", Clicks: 2}},
		GoalResults: []GoalResult{
			{Name: "engagement", Rule: "kpi.engagement_rate >= 0.03", Met: true},
			{Name: "clicks", Rule: "kpi.clicks >= 400 || kpi.ctr > 0.1", Met: false},
		},
	}
	r.KPI = KPIs(Measured{Posts: r.Posts, Channels: r.Channels, Clicks: 7})
	charts := []Chart{
		{Title: "Impressions and engagements", Series: []Series{
			{Name: "impressions", Points: []Point{{t0, 0}, {t0.Add(time.Hour), 600}, {t0.Add(3 * time.Hour), 1000}}},
			{Name: "engagements", Points: []Point{{t0, 0}, {t0.Add(time.Hour), 35}, {t0.Add(3 * time.Hour), 60}}},
		}},
		{Title: "Link clicks", Series: []Series{{Name: "clicks", Points: []Point{{t0.Add(2 * time.Hour), 7}}}}},
		{Title: "Followers", Series: []Series{{Name: "followers"}}},
	}
	return r, charts
}

func TestHTMLIsSelfContainedWithChartsAndGoals(t *testing.T) {
	r, charts := sampleReport()
	var b bytes.Buffer
	require.NoError(t, HTML(&b, r, charts))
	page := b.String()

	require.NotContains(t, strings.ToLower(page), "<script")
	require.NotRegexp(t, `(?i)(src|href)="(https?:)?//[^"]*"[^>]*>\s*</?(script|link|img)`, page)
	require.NotContains(t, page, "<link")
	require.NotContains(t, page, "<img")
	require.Contains(t, page, "Spring &lt;launch&gt; &amp; &#34;friends&#34;", "the title is escaped")

	svgs := regexp.MustCompile(`(?s)<svg.*?</svg>`).FindAllString(page, -1)
	require.Len(t, svgs, 3, "one chart per KPI group")
	for _, s := range svgs {
		requireWellFormedXML(t, s)
	}
	require.Contains(t, svgs[0], "<polyline", "a line per series")
	require.Equal(t, 2, strings.Count(svgs[0], "<polyline"))
	require.Contains(t, svgs[0], ">report</text>", "the report's moment is marked")
	require.Contains(t, svgs[1], "<circle", "a single measurement is a dot")
	require.Contains(t, svgs[2], "no measurements yet")

	require.Contains(t, page, "Goals: 1 of 2 met")
	require.Regexp(t, `engagement</td><td><code>kpi.engagement_rate &gt;= 0.03</code></td><td class="met">`, page)
	require.Regexp(t, `clicks</td><td><code>kpi.clicks &gt;= 400 \|\| kpi.ctr &gt; 0.1</code></td><td class="missed">`, page)
	require.Contains(t, page, `<td class="num">-10</td>`, "negative growth shows its sign")
	require.Contains(t, page, "n/a", "ROI without cost")
}

func requireWellFormedXML(t *testing.T, s string) {
	t.Helper()
	d := xml.NewDecoder(strings.NewReader(s))
	for {
		_, err := d.Token()
		if err == io.EOF {
			return
		}
		require.NoError(t, err, "svg: %s", s)
	}
}

func TestMarkdown(t *testing.T) {
	r, charts := sampleReport()
	var b bytes.Buffer
	require.NoError(t, Markdown(&b, r, charts))
	md := b.String()

	require.Contains(t, md, "# Spring &lt;launch&gt; & \"friends\" — report")
	require.Contains(t, md, "## Goals: 1 of 2 met")
	require.Contains(t, md, "| engagement | `kpi.engagement_rate >= 0.03` | ✅ met |")
	require.Contains(t, md, "| clicks | `kpi.clicks >= 400 \\|\\| kpi.ctr > 0.1` | ❌ missed |", "pipes in a rule do not break the table")
	require.Contains(t, md, "| Engagement rate | 6% | engagements / impressions |")
	require.Contains(t, md, "| CTR | 0.7% |")
	require.Contains(t, md, "| Community growth | -10 (-0.5%) |")
	require.Contains(t, md, "| ROI | n/a |")
	require.Contains(t, md, "| sandbox-news | announce | 1,000 | 800 | 40 | 5 | 3 | 12 | <https://sandbox.example/@news/17> |")
	require.Contains(t, md, "- impressions: `▁▅█` 0 → 1,000")
	require.Contains(t, md, "| mastodon.social | 5 |")
}

func TestFormatNumber(t *testing.T) {
	for v, want := range map[float64]string{
		0: "0", 7: "7", 1234: "1,234", 9999: "9,999", 12500: "12.5k", 20000: "20k", 3_400_000: "3.4M",
		2.5: "2.5", 0.035: "0.035", 0.25: "0.25", -80: "-80",
	} {
		require.Equal(t, want, FormatNumber(v), "%v", v)
	}
}

func TestTightAxisHoldsTheValues(t *testing.T) {
	for _, c := range [][2]float64{{7000, 7080}, {5150, 5150}, {1990, 2010}, {0.5, 3}, {12, 9999}} {
		lo, hi := tightRange(c[0], c[1])
		require.LessOrEqual(t, lo, c[0], "%v", c)
		require.GreaterOrEqual(t, hi, c[1], "%v", c)
		require.Less(t, hi-lo, 4*(c[1]-c[0])+8, "%v: tight, not from zero (%v to %v)", c, lo, hi)
	}
	svg := Chart{Title: "Followers", Tight: true, Series: []Series{{Name: "followers", Points: []Point{{t0, 7000}, {t0.Add(time.Hour), 7060}}}}}.SVG(time.Time{})
	require.NotContains(t, svg, ">0</text>", "the axis does not start at zero")
	require.Contains(t, svg, ">7,000</text>")
}

func TestNiceCeil(t *testing.T) {
	for v, want := range map[float64]float64{0: 1, 1: 1, 3: 5, 7: 10, 11: 20, 23: 25, 240: 250, 0.034: 0.05, 5150: 10000} {
		require.Equal(t, want, niceCeil(v), "%v", v)
	}
}

func TestCustomerCareSection(t *testing.T) {
	r, charts := sampleReport()
	frt, p50 := 600.0, 540.0
	r.Care = &store.CareKPIs{Total: store.CareStats{Items: 3, Responded: 2, FirstResponseAvg: &frt, FirstResponseP50: &p50, Resolved: 1, Overdue: 1},
		Channels: []store.CareStats{{Channel: "sandbox", Items: 3, Responded: 2, FirstResponseP50: &p50, Resolved: 1, Overdue: 1}}}
	var md, page strings.Builder
	require.NoError(t, Markdown(&md, r, charts))
	require.Contains(t, md.String(), "## Customer care")
	require.Contains(t, md.String(), "| all | 3 | 2 | 9m0s | 1 | 1 |")
	require.NoError(t, HTML(&page, r, charts))
	require.Contains(t, page.String(), "<h2>Customer care</h2>")
	require.Contains(t, page.String(), "<td class=\"num\">9m0s</td>")
}
