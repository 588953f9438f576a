package listening

import (
	"sort"
	"time"

	"github.com/cmo-dev/cmo/rules"
)

// Span is the minute-aligned interval a window of length d covers at a
// given instant: it ends with the current minute, so the newest mentions
// always count.
func Span(at time.Time, d time.Duration) (from, to time.Time) {
	to = at.UTC().Truncate(time.Minute).Add(time.Minute)
	return to.Add(-d), to
}

// ScopedWindow is one scope's window of one length.
type ScopedWindow struct {
	Scope  string        `json:"scope"`
	Length time.Duration `json:"length"`
	Window rules.Window  `json:"window"`
}

// Windows computes, for each length, the window of every scope that has
// mentions in it, plus the brand's own window even when empty (a quiet
// brand is news for a resolve rule). buckets must cover the longest
// length; bases holds each scope's baseline (a missing one means the
// prior).
func Windows(buckets []Bucket, bases map[string]*Baseline, at time.Time, lengths []time.Duration, loc *time.Location, prior float64) []ScopedWindow {
	var out []ScopedWindow
	for _, d := range lengths {
		from, to := Span(at, d)
		sums := map[string]*Bucket{ScopeBrand: {Scope: ScopeBrand}}
		for _, b := range buckets {
			if b.Minute.Before(from) || !b.Minute.Before(to) {
				continue
			}
			s, ok := sums[b.Scope]
			if !ok {
				s = &Bucket{Scope: b.Scope}
				sums[b.Scope] = s
			}
			s.Add(b)
		}
		scopes := make([]string, 0, len(sums))
		for s := range sums {
			scopes = append(scopes, s)
		}
		sort.Strings(scopes)
		for _, scope := range scopes {
			s := sums[scope]
			mean, variance := bases[scope].Expect(from, to, loc, prior)
			w := rules.Window{
				Mentions: s.Mentions, Negative: s.Negative, Reach: s.Reach, MaxReach: s.MaxReach, Verified: s.Verified,
				Baseline: round(mean, 2), VolumeZ: round(Z(float64(s.Mentions), mean, variance), 2), Minutes: d.Minutes(),
				LastMentionAt: s.Last,
			}
			if s.Mentions > 0 {
				w.NegativeRatio = round(float64(s.Negative)/float64(s.Mentions), 4)
			}
			w.Topic, w.Competitor = ScopeName(scope)
			out = append(out, ScopedWindow{Scope: scope, Length: d, Window: w})
		}
	}
	return out
}

// round keeps windows readable in the Temporal UI and stable across
// platforms' last-bit float differences.
func round(v float64, places int) float64 {
	p := 1.0
	for range places {
		p *= 10
	}
	if v < 0 {
		return -float64(int64(-v*p+0.5)) / p
	}
	return float64(int64(v*p+0.5)) / p
}
