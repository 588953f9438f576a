package listening

import (
	"sort"
	"strings"
	"time"
)

// Scopes: the brand's own mentions, one topic's, one competitor's.
const (
	ScopeBrand       = "brand"
	topicPrefix      = "topic:"
	competitorPrefix = "competitor:"
)

// TopicScope and CompetitorScope name the scope of one topic or competitor.
func TopicScope(t string) string      { return topicPrefix + t }
func CompetitorScope(c string) string { return competitorPrefix + c }

// ScopeName splits a scope into its kind's value: the topic for a topic
// scope, the competitor for a competitor scope.
func ScopeName(scope string) (topic, competitor string) {
	if t, ok := strings.CutPrefix(scope, topicPrefix); ok {
		return t, ""
	}
	if c, ok := strings.CutPrefix(scope, competitorPrefix); ok {
		return "", c
	}
	return "", ""
}

// ScopesOf lists the scopes a mention counts in. A competitor's mention
// counts only for that competitor: their crisis is not the brand's.
func ScopesOf(m *Mention) []string {
	if m.Competitor != "" {
		return []string{CompetitorScope(m.Competitor)}
	}
	out := make([]string, 0, 1+len(m.Topics))
	out = append(out, ScopeBrand)
	for _, t := range m.Topics {
		out = append(out, TopicScope(t))
	}
	return out
}

// Bucket is one scope's mentions in one minute.
type Bucket struct {
	Brand    string    `json:"brand"`
	Scope    string    `json:"scope"`
	Minute   time.Time `json:"minute"`
	Mentions int64     `json:"mentions"`
	Negative int64     `json:"negative"`
	Positive int64     `json:"positive"`
	Reach    int64     `json:"reach"`
	MaxReach int64     `json:"max_reach"`
	Verified int64     `json:"verified"`
	// Last is the newest mention's created_at in the bucket.
	Last time.Time `json:"last"`
}

// Add merges o into b (same brand, scope and minute).
func (b *Bucket) Add(o Bucket) {
	if o.Last.After(b.Last) {
		b.Last = o.Last
	}
	b.Mentions += o.Mentions
	b.Negative += o.Negative
	b.Positive += o.Positive
	b.Reach += o.Reach
	b.Verified += o.Verified
	b.MaxReach = max(b.MaxReach, o.MaxReach)
}

type bucketKey struct {
	brand, scope string
	minute       int64
}

// Aggregate folds mentions into buckets, sorted by brand, scope and
// minute: writers that upsert them in this order never deadlock.
func Aggregate(ms []Mention) []Bucket {
	idx := make(map[bucketKey]int)
	var out []Bucket
	for i := range ms {
		m := &ms[i]
		minute := m.CreatedAt.UTC().Truncate(time.Minute)
		one := Bucket{Mentions: 1, Reach: m.Author.Followers, MaxReach: m.Author.Followers, Last: m.CreatedAt.UTC()}
		if m.Author.Verified {
			one.Verified = 1
		}
		if m.Sentiment != nil {
			switch m.Sentiment.Label {
			case Negative:
				one.Negative = 1
			case Positive:
				one.Positive = 1
			}
		}
		for _, scope := range ScopesOf(m) {
			k := bucketKey{m.Brand, scope, minute.Unix()}
			if j, ok := idx[k]; ok {
				out[j].Add(one)
				continue
			}
			b := one
			b.Brand, b.Scope, b.Minute = m.Brand, scope, minute
			idx[k] = len(out)
			out = append(out, b)
		}
	}
	sort.Slice(out, func(i, j int) bool {
		a, b := out[i], out[j]
		if a.Brand != b.Brand {
			return a.Brand < b.Brand
		}
		if a.Scope != b.Scope {
			return a.Scope < b.Scope
		}
		return a.Minute.Before(b.Minute)
	})
	return out
}
