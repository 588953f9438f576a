package simulate

import (
	"fmt"
	"io"
	"strings"
	"time"
)

// Text writes a result as a timeline for people.
func Text(w io.Writer, r Result) {
	fmt.Fprintf(w, "%s (sha256 %s…): %d mentions from %s to %s, %d ticks, simulated in %s\n", r.Playbook, short(r.Hash), r.Mentions,
		stamp(r.From), stamp(r.To), r.Ticks, r.Took.Round(time.Millisecond))
	if len(r.Crises) == 0 {
		fmt.Fprintln(w, "  no crisis would have opened")
	}
	for i, c := range r.Crises {
		fmt.Fprintf(w, "\ncrisis %d: detected %s (evidence complete %s) on %s: %d mentions, %.0f%% negative, volume z-score %.1f\n",
			i+1, stamp(c.DetectedAt), stamp(c.EvidenceAt), c.Scope, c.Window.Mentions, 100*c.Window.NegativeRatio, c.Window.VolumeZ)
		for _, e := range c.Events {
			who := ""
			if e.Actor != "" {
				who = " (" + e.Actor + ")"
			}
			fmt.Fprintf(w, "  %s  %-19s %s%s\n", stamp(e.At), e.Kind, e.Detail, who)
		}
		for _, p := range c.FrozenPosts {
			fmt.Fprintf(w, "  frozen post %s: %s on %s\n", p.ID, stamp(p.At), p.Channel)
		}
		if c.ResolvedAt == nil {
			fmt.Fprintln(w, "  still open when the simulation ended")
		}
	}
}

// Compare writes two results side by side: the facts a team weighs when
// choosing between two versions of a playbook.
func Compare(w io.Writer, a, b Result) {
	rows := [][3]string{{"", a.Playbook + " " + short(a.Hash), b.Playbook + " " + short(b.Hash)},
		{"crises", fmt.Sprint(len(a.Crises)), fmt.Sprint(len(b.Crises))}}
	for i := 0; i < max(len(a.Crises), len(b.Crises)); i++ {
		ca, cb := at(a.Crises, i), at(b.Crises, i)
		n := fmt.Sprintf("#%d ", i+1)
		rows = append(rows,
			[3]string{n + "detected", field(ca, func(c Crisis) string { return stamp(c.DetectedAt) }), field(cb, func(c Crisis) string { return stamp(c.DetectedAt) })},
			[3]string{n + "peak severity", field(ca, peak), field(cb, peak)},
			[3]string{n + "pages", field(ca, pages), field(cb, pages)},
			[3]string{n + "acknowledged", field(ca, acked), field(cb, acked)},
			[3]string{n + "frozen", field(ca, frozen), field(cb, frozen)},
			[3]string{n + "posts held", field(ca, func(c Crisis) string { return fmt.Sprint(len(c.FrozenPosts)) }), field(cb, func(c Crisis) string { return fmt.Sprint(len(c.FrozenPosts)) })},
			[3]string{n + "resolved", field(ca, resolved), field(cb, resolved)},
		)
	}
	width := [3]int{}
	for _, r := range rows {
		for k, v := range r {
			width[k] = max(width[k], len([]rune(v)))
		}
	}
	for _, r := range rows {
		mark := "  "
		if r[1] != r[2] && r[0] != "" {
			mark = "≠ "
		}
		fmt.Fprintf(w, "%s%-*s  %-*s  %s\n", mark, width[0], r[0], width[1], r[1], r[2])
	}
}

func at(cs []Crisis, i int) *Crisis {
	if i < len(cs) {
		return &cs[i]
	}
	return nil
}

func field(c *Crisis, f func(Crisis) string) string {
	if c == nil {
		return "—"
	}
	return f(*c)
}

func peak(c Crisis) string {
	best := ""
	for _, s := range c.Severities {
		if rank(s.Level) > rank(best) {
			best = s.Level
		}
	}
	return best
}

func rank(level string) int {
	return strings.Index("low medium high critical", level)
}

func pages(c Crisis) string {
	var parts []string
	for _, p := range c.Pages {
		parts = append(parts, fmt.Sprintf("t%d@+%s", p.Tier, p.At.Sub(c.DetectedAt).Round(time.Second)))
	}
	if len(parts) == 0 {
		return "none"
	}
	return strings.Join(parts, " ")
}

func acked(c Crisis) string {
	if c.AckedAt == nil {
		return "no"
	}
	return "+" + c.AckedAt.Sub(c.DetectedAt).Round(time.Second).String()
}

func frozen(c Crisis) string {
	var parts []string
	for _, f := range c.Freezes {
		end := "end"
		if f.To != nil {
			end = stamp(*f.To)
		}
		parts = append(parts, stamp(f.From)+" → "+end)
	}
	if len(parts) == 0 {
		return "no"
	}
	return strings.Join(parts, ", ")
}

func resolved(c Crisis) string {
	if c.ResolvedAt == nil {
		return "open at end"
	}
	return stamp(*c.ResolvedAt)
}

func stamp(t time.Time) string { return t.UTC().Format("2006-01-02 15:04:05") }

func short(h string) string {
	if len(h) > 12 {
		return h[:12]
	}
	return h
}
