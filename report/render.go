package report

import (
	_ "embed"
	"fmt"
	"github.com/cmo-dev/cmo/store"
	"html/template"
	"io"
	"strconv"
	"strings"
	"time"
)

// Row is one KPI as a person reads it: its value written out and how it
// was computed.
type Row struct {
	KPI     string `json:"kpi"`
	Value   string `json:"value"`
	Formula string `json:"formula"`
}

// Rows lists the report's KPIs in reading order. A rate over nothing
// reads "n/a" here, though the KPI itself is 0.
func (r Report) Rows() []Row {
	k := r.KPI
	money := func(v float64) string {
		s := strconv.FormatFloat(v, 'f', 2, 64)
		if r.Currency != "" {
			s += " " + r.Currency
		}
		return s
	}
	pct := func(v float64, defined bool) string {
		if !defined {
			return "n/a"
		}
		return trimZeros(strconv.FormatFloat(100*v, 'f', 2, 64)) + "%"
	}
	n := func(v int64) string { return thousands(v) }
	growth := n(k.FollowerGrowth)
	if k.FollowerGrowth > 0 {
		growth = "+" + growth
	}
	if k.FollowersStart > 0 {
		growth += " (" + pct(k.FollowerGrowthRate, true) + ")"
	}
	roi := "n/a"
	if k.Cost > 0 {
		roi = trimZeros(strconv.FormatFloat(k.ROI, 'f', 2, 64)) + " (" + pct(k.ROI, true) + ")"
	}
	cpc := "n/a"
	if k.Clicks > 0 {
		cpc = money(k.CostPerClick)
	}
	return []Row{
		{"Posts", n(int64(k.Posts)), "published posts"},
		{"Impressions", n(k.Impressions), "Σ impressions of the posts"},
		{"Reach", n(k.Reach), "Σ reach of the posts (impressions where a platform gives no reach)"},
		{"Engagements", fmt.Sprintf("%s (%s likes, %s reposts, %s replies, %s post clicks)", n(k.Engagements), n(k.Likes), n(k.Reposts), n(k.Replies), n(k.PostClicks)),
			"likes + reposts + replies + post clicks"},
		{"Engagement rate", pct(k.EngagementRate, k.Impressions > 0), "engagements / impressions"},
		{"Link clicks", n(k.Clicks), "clicks on the tracked links by people"},
		{"CTR", pct(k.CTR, k.Impressions > 0), "link clicks / impressions"},
		{"Followers", n(k.FollowersStart) + " → " + n(k.Followers), "Σ channels' followers at the first and latest measurement"},
		{"Community growth", growth, "followers now - followers at the start (÷ followers at the start)"},
		{"Cost", money(k.Cost), "Σ costs recorded (playbook and API)"},
		{"Conversions", fmt.Sprintf("%s worth %s", n(k.Conversions), money(k.Revenue)), "count and Σ value of the conversions recorded"},
		{"Conversion rate", pct(k.ConversionRate, k.Clicks > 0), "conversions / link clicks"},
		{"Cost per click", cpc, "cost / link clicks"},
		{"ROI", roi, "(revenue - cost) / cost"},
	}
}

// Markdown writes the report for a chat message, a ticket or a wiki:
// KPIs, goals, posts, channels and referrers as tables, and each chart's
// series as a line of bars.
func Markdown(w io.Writer, r Report, charts []Chart) error {
	var b strings.Builder
	title := r.Title
	if title == "" {
		title = r.CampaignID
	}
	fmt.Fprintf(&b, "# %s — report\n\n", mdText(title))
	fmt.Fprintf(&b, "Campaign `%s`", r.CampaignID)
	if r.Brand != "" {
		fmt.Fprintf(&b, " of brand `%s`", r.Brand)
	}
	if r.Playbook != "" {
		fmt.Fprintf(&b, ", playbook `%s`", r.Playbook)
	}
	fmt.Fprintf(&b, "; numbers as of %s.\n\n", r.GeneratedAt.UTC().Format("2006-01-02 15:04 UTC"))

	if len(r.GoalResults) > 0 {
		fmt.Fprintf(&b, "## Goals: %d of %d met\n\n| goal | rule | result |\n| --- | --- | --- |\n", r.Met(), len(r.GoalResults))
		for _, g := range r.GoalResults {
			res := "❌ missed"
			if g.Met {
				res = "✅ met"
			}
			fmt.Fprintf(&b, "| %s | `%s` | %s |\n", mdCell(g.Name), strings.ReplaceAll(g.Rule, "|", `\|`), res)
		}
		b.WriteString("\n")
	}

	b.WriteString("## KPIs\n\n| KPI | value | formula |\n| --- | --- | --- |\n")
	for _, row := range r.Rows() {
		fmt.Fprintf(&b, "| %s | %s | %s |\n", row.KPI, mdCell(row.Value), mdCell(row.Formula))
	}
	b.WriteString("\n")

	if len(charts) > 0 {
		b.WriteString("## Over time\n\n")
		for _, c := range charts {
			for _, s := range c.Series {
				if len(s.Points) == 0 {
					continue
				}
				first, last := s.Points[0], s.Points[len(s.Points)-1]
				fmt.Fprintf(&b, "- %s: `%s` %s → %s (%s to %s)\n", mdText(s.Name), sparkline(s.Points),
					FormatNumber(first.Value), FormatNumber(last.Value),
					first.At.UTC().Format("Jan 2 15:04"), last.At.UTC().Format("Jan 2 15:04 UTC"))
			}
		}
		b.WriteString("\n")
	}

	fmt.Fprintf(&b, "## Posts\n\n")
	if len(r.Posts) == 0 {
		b.WriteString("Nothing was published.\n\n")
	} else {
		b.WriteString("| channel | step | impressions | reach | likes | reposts | replies | post clicks | post |\n| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: | --- |\n")
		for _, p := range r.Posts {
			m := p.Metrics
			fmt.Fprintf(&b, "| %s | %s | %s | %s | %s | %s | %s | %s | %s |\n", mdCell(p.Channel), mdCell(p.StepID),
				thousands(m.Impressions), thousands(m.Reach), thousands(m.Likes), thousands(m.Reposts), thousands(m.Replies), thousands(m.Clicks), mdLink(p.URL))
		}
		b.WriteString("\n")
	}

	if len(r.Channels) > 0 {
		b.WriteString("## Channels\n\n| channel | followers at start | followers now | growth | link clicks |\n| --- | ---: | ---: | ---: | ---: |\n")
		for _, c := range r.Channels {
			fmt.Fprintf(&b, "| %s | %s | %s | %s | %s |\n", mdCell(c.Channel), thousands(c.FollowersStart), thousands(c.Followers), signed(c.Growth), thousands(c.Clicks))
		}
		b.WriteString("\n")
	}
	if c := r.Care; c != nil && c.Total.Items > 0 {
		b.WriteString("\n## Customer care\n\n| channel | items | answered | first response (median) | resolved | overdue now |\n| --- | --- | --- | --- | --- | --- |\n")
		for _, st := range append([]store.CareStats{c.Total}, c.Channels...) {
			name := st.Channel
			if name == "" {
				name = "all"
			}
			fmt.Fprintf(&b, "| %s | %d | %d | %s | %d | %d |\n", mdCell(name), st.Items, st.Responded, Seconds(st.FirstResponseP50), st.Resolved, st.Overdue)
		}
	}
	if len(r.Referrers) > 0 {
		b.WriteString("## Where link clicks came from\n\n| referrer | clicks |\n| --- | ---: |\n")
		for _, x := range r.Referrers {
			fmt.Fprintf(&b, "| %s | %s |\n", mdCell(x.Host), thousands(x.Clicks))
		}
		b.WriteString("\n")
	}
	_, err := io.WriteString(w, b.String())
	return err
}

//go:embed report.html.tmpl
var htmlSource string

var htmlTemplate = template.Must(template.New("report").Funcs(template.FuncMap{
	"n":       thousands,
	"signed":  signed,
	"seconds": Seconds,
	"utc":     func(t time.Time) string { return t.UTC().Format("2006-01-02 15:04 UTC") },
}).Parse(htmlSource))

// HTML writes the report as one self-contained page: styles inline,
// charts as inline SVG, no scripts, fonts or images from anywhere.
func HTML(w io.Writer, r Report, charts []Chart) error {
	svgs := make([]template.HTML, 0, len(charts))
	for _, c := range charts {
		// SVG escapes every text it draws (see Chart.SVG).
		svgs = append(svgs, template.HTML(c.SVG(r.GeneratedAt)))
	}
	title := r.Title
	if title == "" {
		title = r.CampaignID
	}
	return htmlTemplate.Execute(w, map[string]any{"R": r, "Title": title, "Rows": r.Rows(), "Charts": svgs})
}

// sparkline draws values as a line of block characters, lowest to
// highest over the series' own range.
func sparkline(ps []Point) string {
	bars := []rune("▁▂▃▄▅▆▇█")
	lo, hi := ps[0].Value, ps[0].Value
	for _, p := range ps {
		lo, hi = min(lo, p.Value), max(hi, p.Value)
	}
	// At most 40 marks: a week of ten-minute samples would not fit a line.
	step := max(1, (len(ps)+39)/40)
	var b strings.Builder
	for i := 0; i < len(ps); i += step {
		idx := 0
		if hi > lo {
			idx = int((ps[i].Value - lo) / (hi - lo) * float64(len(bars)-1))
		}
		b.WriteRune(bars[idx])
	}
	return b.String()
}

func signed(v int64) string {
	if v > 0 {
		return "+" + thousands(v)
	}
	return thousands(v)
}

// mdCell makes text safe inside a Markdown table cell.
func mdCell(s string) string {
	s = strings.ReplaceAll(s, "\n", " ")
	return strings.ReplaceAll(mdText(s), "|", `\|`)
}

// mdText escapes the characters that would turn text into markup.
func mdText(s string) string {
	r := strings.NewReplacer(`\`, `\\`, "*", `\*`, "_", `\_`, "`", "\\`", "[", `\[`, "]", `\]`, "<", "&lt;", ">", "&gt;")
	return r.Replace(s)
}

func mdLink(u string) string {
	if !strings.HasPrefix(u, "https://") && !strings.HasPrefix(u, "http://") {
		return mdCell(u)
	}
	return "<" + strings.NewReplacer("<", "%3C", ">", "%3E", " ", "%20", "|", "%7C").Replace(u) + ">"
}

// Seconds writes a duration given in seconds for people, "n/a" when there
// is none.
func Seconds(v *float64) string {
	if v == nil {
		return "n/a"
	}
	return (time.Duration(*v) * time.Second).Round(time.Second).String()
}
