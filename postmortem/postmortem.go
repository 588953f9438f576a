// Package postmortem builds a crisis's timeline and its post-mortem
// report from what the crisis workflow recorded (its state, replayed from
// the history) and what PostgreSQL kept (notification deliveries, mention
// counts over time). It does no I/O: the API gathers the inputs.
package postmortem

import (
	"fmt"
	"sort"
	"strings"
	"time"

	"github.com/cmo-dev/cmo/store"
	"github.com/cmo-dev/cmo/workflows"
)

// Input is everything a post-mortem is built from.
type Input struct {
	Crisis     store.Crisis
	State      workflows.CrisisState
	Running    bool
	ClosedAt   *time.Time
	Deliveries []store.Delivery
	Series     []store.SeriesPoint
	SeriesStep time.Duration
	// WorkflowURL links to the crisis in the Temporal Web UI, when known.
	WorkflowURL string
}

// Entry is one line of the timeline.
type Entry struct {
	At     time.Time `json:"at"`
	Kind   string    `json:"kind"`
	Actor  string    `json:"actor,omitempty"`
	Detail string    `json:"detail"`
	// Source says where the line comes from: the workflow's history or
	// the notification outbox.
	Source string `json:"source"`
}

// Summary is the crisis in numbers.
type Summary struct {
	ID              string         `json:"id"`
	Brand           string         `json:"brand"`
	Playbook        string         `json:"playbook"`
	Title           string         `json:"title"`
	Scope           string         `json:"scope"`
	Status          string         `json:"status"`
	Severity        string         `json:"severity"`
	PeakSeverity    string         `json:"peak_severity"`
	OpenedAt        time.Time      `json:"opened_at"`
	AcknowledgedBy  string         `json:"acknowledged_by,omitempty"`
	TimeToAck       *time.Duration `json:"time_to_ack_ns,omitempty"`
	TimeToStatement *time.Duration `json:"time_to_statement_ns,omitempty"`
	ResolvedAt      *time.Time     `json:"resolved_at,omitempty"`
	ResolvedBy      string         `json:"resolved_by,omitempty"`
	Duration        *time.Duration `json:"duration_ns,omitempty"`
	Pages           int            `json:"pages"`
	Notifications   map[string]int `json:"notifications"`
	PeakMentions    int64          `json:"peak_mentions_per_step"`
	WorkflowURL     string         `json:"workflow_url,omitempty"`
}

// Timeline is the post-mortem as JSON.
type Timeline struct {
	Summary    Summary                      `json:"summary"`
	Entries    []Entry                      `json:"entries"`
	Severities []workflows.SeverityChange   `json:"severity_changes"`
	Statements []workflows.StatementVersion `json:"statement_versions"`
	Posts      []workflows.Post             `json:"posts"`
	Deliveries []store.Delivery             `json:"notifications"`
	Series     []store.SeriesPoint          `json:"mentions_over_time"`
	SeriesStep string                       `json:"mentions_step"`
}

// Build merges the workflow's events and the outbox into one timeline.
func Build(in Input) Timeline {
	st := in.State
	t := Timeline{Severities: st.Severities, Statements: st.Statements, Posts: st.Posts, Deliveries: in.Deliveries,
		Series: in.Series, SeriesStep: in.SeriesStep.String(), Entries: []Entry{}}
	for _, e := range st.Events {
		t.Entries = append(t.Entries, Entry{At: e.At, Kind: e.Kind, Actor: e.Actor, Detail: e.Detail, Source: "workflow"})
	}
	counts := map[string]int{}
	for _, d := range in.Deliveries {
		counts[d.Status]++
		at, detail := d.CreatedAt, d.Status
		switch {
		case d.SentAt != nil:
			at, detail = *d.SentAt, "delivered"
		case d.LastAttemptAt != nil:
			at = *d.LastAttemptAt
		}
		if d.LastError != "" && d.Status != "sent" {
			detail += ": " + d.LastError
		}
		if d.Attempts > 1 {
			detail += fmt.Sprintf(" (%d attempts)", d.Attempts)
		}
		t.Entries = append(t.Entries, Entry{At: at, Kind: "notification", Actor: d.Target, Detail: d.StepID + " " + detail, Source: "outbox"})
	}
	sort.SliceStable(t.Entries, func(i, j int) bool { return t.Entries[i].At.Before(t.Entries[j].At) })

	s := Summary{ID: in.Crisis.ID, Brand: st.Brand, Playbook: st.Playbook, Title: st.Title, Scope: orBrand(st.Scope), Status: st.Status,
		Severity: st.Severity, OpenedAt: in.Crisis.OpenedAt, AcknowledgedBy: st.AckedBy, ResolvedAt: st.ResolvedAt, ResolvedBy: st.ResolvedBy,
		Pages: len(st.Pages), Notifications: counts, WorkflowURL: in.WorkflowURL}
	if s.Title == "" {
		s.Title = st.Playbook
	}
	for _, c := range st.Severities {
		if rank(c.Level) > rank(s.PeakSeverity) {
			s.PeakSeverity = c.Level
		}
	}
	if st.AckedAt != nil {
		d := st.AckedAt.Sub(in.Crisis.OpenedAt)
		s.TimeToAck = &d
	}
	if len(st.Posts) > 0 {
		d := st.Posts[0].PublishedAt.Sub(in.Crisis.OpenedAt)
		s.TimeToStatement = &d
	}
	if st.ResolvedAt != nil {
		d := st.ResolvedAt.Sub(in.Crisis.OpenedAt)
		s.Duration = &d
	}
	for _, p := range in.Series {
		s.PeakMentions = max(s.PeakMentions, p.Mentions)
	}
	t.Summary = s
	return t
}

func orBrand(scope string) string {
	if scope == "" {
		return "brand"
	}
	return scope
}

var levels = []string{"low", "medium", "high", "critical"}

func rank(level string) int {
	for i, l := range levels {
		if l == level {
			return i
		}
	}
	return -1
}

// Markdown renders the post-mortem for people: summary, timeline,
// severity, statement, notifications, mentions over time, and the
// questions the review meeting should answer.
func Markdown(t Timeline) string {
	s := t.Summary
	var b strings.Builder
	w := func(format string, args ...any) { fmt.Fprintf(&b, format, args...) }
	w("# Post-mortem: %s — %s\n\n", s.Title, s.Brand)
	w("Crisis `%s`, playbook `%s`, detected on %s.", s.ID, s.Playbook, s.Scope)
	if s.WorkflowURL != "" {
		w(" [Workflow history](%s).", s.WorkflowURL)
	}
	w("\n\n## Summary\n\n| | |\n| --- | --- |\n")
	w("| status | %s |\n| severity (peak) | %s (%s) |\n| opened | %s |\n", s.Status, orDash(s.Severity), orDash(s.PeakSeverity), utc(s.OpenedAt))
	w("| acknowledged | %s |\n", withDuration(s.AcknowledgedBy, s.TimeToAck))
	w("| first statement published | %s |\n", withDuration("", s.TimeToStatement))
	resolved := "—"
	if s.ResolvedAt != nil {
		resolved = utc(*s.ResolvedAt)
		if s.ResolvedBy != "" {
			resolved += " by " + s.ResolvedBy
		} else {
			resolved += " (resolve rule)"
		}
	}
	w("| resolved | %s |\n| duration | %s |\n| pages | %d |\n", resolved, dur(s.Duration), s.Pages)
	w("| notifications | %s |\n| peak mentions per %s | %d |\n", countsLine(s.Notifications), t.SeriesStep, s.PeakMentions)

	w("\n## Timeline (UTC)\n\n| time | what | who | detail |\n| --- | --- | --- | --- |\n")
	for _, e := range t.Entries {
		w("| %s | %s | %s | %s |\n", e.At.UTC().Format("2006-01-02 15:04:05"), e.Kind, orDash(e.Actor), cell(e.Detail))
	}
	if len(t.Severities) > 0 {
		w("\n## Severity\n\n| time | level | mentions | negative | volume z | by | reason |\n| --- | --- | --- | --- | --- | --- | --- |\n")
		for _, c := range t.Severities {
			w("| %s | %s | %d | %.0f%% | %.1f | %s | %s |\n", c.At.UTC().Format("15:04:05"), c.Level, c.Window.Mentions,
				100*c.Window.NegativeRatio, c.Window.VolumeZ, orDash(c.Actor), cell(orDash(c.Reason)))
		}
	}
	if len(t.Statements) > 0 {
		w("\n## Holding statement\n\n")
		for _, v := range t.Statements {
			w("%d. **%s** by %s at %s", v.Version, orDash(v.Decision), v.By, v.At.UTC().Format("15:04:05"))
			if v.Actor != "" && v.Actor != v.By {
				w(" (decided by %s)", v.Actor)
			}
			w("\n\n   > %s\n\n", strings.ReplaceAll(v.Text, "\n", " "))
		}
		for _, p := range t.Posts {
			w("- published on %s at %s: %s\n", p.Channel, p.PublishedAt.UTC().Format("15:04:05"), p.URL)
		}
	}
	if len(t.Deliveries) > 0 {
		w("\n## Notifications\n\n| target | message | status | attempts | sent |\n| --- | --- | --- | --- | --- |\n")
		for _, d := range t.Deliveries {
			sent := "—"
			if d.SentAt != nil {
				sent = d.SentAt.UTC().Format("15:04:05")
			}
			w("| %s | %s | %s | %d | %s |\n", d.Target, d.StepID, d.Status, d.Attempts, sent)
		}
	}
	if len(t.Series) > 0 {
		w("\n## Mentions over time (per %s)\n\n| from | mentions | negative | reach |\n| --- | --- | --- | --- |\n", t.SeriesStep)
		for _, p := range t.Series {
			w("| %s | %d | %d | %d |\n", p.At.UTC().Format("01-02 15:04"), p.Mentions, p.Negative, p.Reach)
		}
	}
	w("\n## Review\n\n- What made this crisis detectable, and could it have been seen earlier?\n")
	w("- Was the severity right at each step? Should the playbook's rules change?\n")
	w("- Did the right people get paged, and how long did acknowledgement take?\n")
	w("- Was the holding statement timely and in the brand's voice?\n- Actions, owners and dates:\n")
	return b.String()
}

func utc(t time.Time) string { return t.UTC().Format("2006-01-02 15:04:05 UTC") }

func withDuration(who string, d *time.Duration) string {
	if d == nil {
		return "—"
	}
	out := "after " + d.Round(time.Second).String()
	if who != "" {
		out = "by " + who + " " + out
	}
	return out
}

func dur(d *time.Duration) string {
	if d == nil {
		return "ongoing"
	}
	return d.Round(time.Second).String()
}

func orDash(s string) string {
	if s == "" {
		return "—"
	}
	return s
}

func cell(s string) string { return strings.ReplaceAll(strings.ReplaceAll(s, "|", "\\|"), "\n", " ") }

func countsLine(m map[string]int) string {
	if len(m) == 0 {
		return "none"
	}
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	var parts []string
	for _, k := range keys {
		parts = append(parts, fmt.Sprintf("%d %s", m[k], k))
	}
	return strings.Join(parts, ", ")
}
