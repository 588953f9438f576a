package listening

import (
	"slices"
	"sort"
	"time"
)

// Memory keeps one brand's buckets and baselines in memory, for
// backtests: it folds and windows with the same code as the store, so a
// simulation sees the windows the live monitor would have seen.
// Mentions must be added in time order, before the windows of a later
// instant are asked for.
type Memory struct {
	loc     *time.Location
	prior   float64
	buckets map[string]map[int64]*Bucket // scope → minute → bucket
	hourly  map[string]map[int64]float64 // scope → hour → mentions
	first   map[string]time.Time
	bases   map[string]*Baseline
	scopes  []string
}

// NewMemory makes an empty store for a brand in loc with the baseline's
// prior volume per hour.
func NewMemory(loc *time.Location, prior float64) *Memory {
	return &Memory{loc: loc, prior: prior, buckets: map[string]map[int64]*Bucket{}, hourly: map[string]map[int64]float64{},
		first: map[string]time.Time{}, bases: map[string]*Baseline{}}
}

// Add counts prepared mentions into their buckets, as the store's insert
// does.
func (m *Memory) Add(ms []Mention) {
	for _, b := range Aggregate(ms) {
		byMinute := m.buckets[b.Scope]
		if byMinute == nil {
			byMinute = map[int64]*Bucket{}
			m.buckets[b.Scope], m.hourly[b.Scope] = byMinute, map[int64]float64{}
			m.scopes = append(m.scopes, b.Scope)
			sort.Strings(m.scopes)
		}
		if cur, ok := byMinute[b.Minute.Unix()]; ok {
			cur.Add(b)
		} else {
			nb := b
			byMinute[b.Minute.Unix()] = &nb
		}
		m.hourly[b.Scope][b.Minute.Truncate(time.Hour).Unix()] += float64(b.Mentions)
		if f, ok := m.first[b.Scope]; (!ok || b.Minute.Before(f)) && m.bases[b.Scope] == nil {
			m.first[b.Scope] = b.Minute
		}
	}
}

// Windows folds the hours completed by at into the baselines and returns
// the windows of every scope at at.
func (m *Memory) Windows(at time.Time, lengths []time.Duration) []ScopedWindow {
	if len(lengths) == 0 {
		return nil
	}
	to := at.UTC().Truncate(time.Hour)
	for _, scope := range m.scopes {
		b := m.bases[scope]
		if b == nil {
			b = &Baseline{}
			m.bases[scope] = b
		}
		for h := b.FoldFrom(m.first[scope], at); h.Before(to); h = h.Add(time.Hour) {
			b.Fold(h, m.hourly[scope][h.Unix()], m.loc)
		}
	}
	from, end := Span(at, slices.Max(lengths))
	var bs []Bucket
	for _, scope := range m.scopes {
		byMinute := m.buckets[scope]
		for t := from; t.Before(end); t = t.Add(time.Minute) {
			if b, ok := byMinute[t.Unix()]; ok {
				bs = append(bs, *b)
			}
		}
	}
	return Windows(bs, m.bases, at, lengths, m.loc, m.prior)
}
