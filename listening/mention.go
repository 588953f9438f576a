// Package listening turns a brand's mentions into the numbers crisis
// playbooks read: per-minute buckets kept incrementally as mentions arrive,
// an hour-of-day baseline folded in once per completed hour, and sliding
// windows per scope (the brand's own mentions, each topic, each competitor).
//
// It does no I/O. The store keeps buckets and baselines in PostgreSQL; a
// simulation keeps them in memory; both compute windows with this code, so
// a backtest and the live monitor agree to the mention.
package listening

import (
	"fmt"
	"strings"
	"time"
	"unicode/utf8"
)

// Sentiment labels.
const (
	Negative = "negative"
	Neutral  = "neutral"
	Positive = "positive"
)

// Where a mention's sentiment came from.
const (
	FromProvider = "provider"
	FromLexicon  = "lexicon"
)

// Limits on one mention, so that a runaway producer cannot fill the
// database with one row.
const (
	MaxTextBytes = 16 << 10
	maxFieldLen  = 512
	maxTopics    = 32
	// MaxFutureSkew is how far in the future a created_at may be before it
	// is taken as the arrival time: producers' clocks drift, and a mention
	// dated tomorrow must not sit outside every window.
	MaxFutureSkew = 5 * time.Minute
)

// Mention is one post, comment or article that names the brand or one of
// its competitors.
type Mention struct {
	Brand      string     `json:"brand"`
	Source     string     `json:"source"`
	ExternalID string     `json:"external_id"`
	Author     Author     `json:"author"`
	Text       string     `json:"text"`
	Lang       string     `json:"lang,omitempty"`
	CreatedAt  time.Time  `json:"created_at"`
	URL        string     `json:"url,omitempty"`
	Sentiment  *Sentiment `json:"sentiment,omitempty"`
	Topics     []string   `json:"topics,omitempty"`
	// Competitor names the competitor the mention is about; empty when it
	// is about the brand itself.
	Competitor string `json:"competitor,omitempty"`
}

// Author is who wrote a mention and how far it can travel.
type Author struct {
	Handle    string `json:"handle"`
	Followers int64  `json:"followers"`
	Verified  bool   `json:"verified"`
}

// Sentiment is a score in [-1, 1] and its label. Source says whether the
// provider supplied it or the lexicon computed it.
type Sentiment struct {
	Score  float64 `json:"score"`
	Label  string  `json:"label"`
	Source string  `json:"source,omitempty"`
}

// Scorer computes sentiment when the provider did not supply one.
type Scorer func(text, lang string) (score float64, label, detectedLang string)

// FieldError names the offending field of a mention.
type FieldError struct {
	Field   string
	Message string
}

func (e *FieldError) Error() string { return e.Field + ": " + e.Message }

func fieldErr(field, format string, args ...any) error {
	return &FieldError{Field: field, Message: fmt.Sprintf(format, args...)}
}

// LabelFor is the label of a score: the same thresholds whatever scored it.
func LabelFor(score float64) string {
	switch {
	case score <= -0.05:
		return Negative
	case score >= 0.05:
		return Positive
	}
	return Neutral
}

// Prepare validates a mention and fills what the provider left out:
// sentiment (provider-supplied wins), topics and competitor from the
// brand's keywords, and a created_at that is not in the future. now is the
// arrival time.
func Prepare(m *Mention, cfg *Config, score Scorer, now time.Time) error {
	m.Source = strings.TrimSpace(m.Source)
	m.ExternalID = strings.TrimSpace(m.ExternalID)
	switch {
	case m.Brand == "":
		return fieldErr("brand", "is required")
	case m.Source == "":
		return fieldErr("source", "is required: the network or provider the mention came from")
	case len(m.Source) > 64:
		return fieldErr("source", "is longer than 64 characters")
	case m.ExternalID == "":
		return fieldErr("external_id", "is required: the mention's id at its source, used to drop duplicates")
	case len(m.ExternalID) > maxFieldLen:
		return fieldErr("external_id", "is longer than %d characters", maxFieldLen)
	case len(m.Author.Handle) > maxFieldLen:
		return fieldErr("author.handle", "is longer than %d characters", maxFieldLen)
	case m.Author.Followers < 0:
		return fieldErr("author.followers", "must not be negative, got %d", m.Author.Followers)
	case len(m.Text) > MaxTextBytes:
		return fieldErr("text", "is longer than %d bytes", MaxTextBytes)
	case !utf8.ValidString(m.Text):
		return fieldErr("text", "is not valid UTF-8")
	case len(m.URL) > 2048:
		return fieldErr("url", "is longer than 2048 characters")
	case len(m.Lang) > 16:
		return fieldErr("lang", "is not a language tag: %q", m.Lang)
	case len(m.Topics) > maxTopics:
		return fieldErr("topics", "has more than %d topics", maxTopics)
	}
	if m.CreatedAt.IsZero() {
		return fieldErr("created_at", "is required (RFC 3339, e.g. 2026-11-25T10:00:00Z)")
	}
	if m.CreatedAt.After(now.Add(MaxFutureSkew)) {
		m.CreatedAt = now
	}
	// PostgreSQL keeps microseconds: what is stored is what is counted.
	m.CreatedAt = m.CreatedAt.UTC().Truncate(time.Microsecond)
	if s := m.Sentiment; s != nil {
		if s.Score < -1 || s.Score > 1 || s.Score != s.Score {
			return fieldErr("sentiment.score", "must be within [-1, 1], got %v", s.Score)
		}
		switch s.Label {
		case "":
			s.Label = LabelFor(s.Score)
		case Negative, Neutral, Positive:
		default:
			return fieldErr("sentiment.label", "must be negative, neutral or positive, got %q", s.Label)
		}
		s.Source = FromProvider
	} else if score != nil {
		v, label, lang := score(m.Text, m.Lang)
		m.Sentiment = &Sentiment{Score: v, Label: label, Source: FromLexicon}
		if m.Lang == "" {
			m.Lang = lang
		}
	} else {
		m.Sentiment = &Sentiment{Label: Neutral, Source: FromLexicon}
	}
	for i, t := range m.Topics {
		t = strings.ToLower(strings.TrimSpace(t))
		if t == "" || len(t) > 64 {
			return fieldErr(fmt.Sprintf("topics[%d]", i), "topics are 1-64 characters, got %q", m.Topics[i])
		}
		m.Topics[i] = t
	}
	m.Competitor = strings.ToLower(strings.TrimSpace(m.Competitor))
	if cfg != nil {
		cfg.classify(m)
	}
	return nil
}
