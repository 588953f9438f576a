package listening

import (
	"fmt"
	"slices"
	"sort"
	"strings"
	"unicode"
	"unicode/utf8"
)

// DefaultExpectedPerHour is the volume a brand is assumed to have before
// its baseline has seen a single hour: modest, so that a real burst on a
// new brand still stands out.
const DefaultExpectedPerHour = 10

// Config is a brand's listening set-up: the topics it tracks and the
// competitors it watches, each with the keywords that recognise them.
type Config struct {
	Topics      map[string][]string `json:"topics,omitempty"`
	Competitors map[string][]string `json:"competitors,omitempty"`
	// ExpectedPerHour is the prior for the baseline: the mentions per hour
	// assumed until real hours have been observed.
	ExpectedPerHour float64 `json:"expected_per_hour,omitempty"`

	topics      []matcher
	competitors []matcher
}

type matcher struct {
	name     string
	keywords []string
}

// Validate checks names and keywords and compiles the matchers. It names
// the offending field.
func (c *Config) Validate() error {
	if c.ExpectedPerHour < 0 {
		return fieldErr("expected_per_hour", "must not be negative")
	}
	var err error
	if c.topics, err = compile("topics", c.Topics); err != nil {
		return err
	}
	c.competitors, err = compile("competitors", c.Competitors)
	return err
}

func compile(field string, m map[string][]string) ([]matcher, error) {
	names := make([]string, 0, len(m))
	for n := range m {
		names = append(names, n)
	}
	sort.Strings(names)
	out := make([]matcher, 0, len(names))
	for _, n := range names {
		if n != strings.ToLower(strings.TrimSpace(n)) || n == "" || len(n) > 64 || strings.ContainsAny(n, ":,") {
			return nil, fieldErr(field, "names are 1-64 lower-case characters without ':' or ',', got %q", n)
		}
		mt := matcher{name: n}
		for i, k := range m[n] {
			k = strings.ToLower(strings.TrimSpace(k))
			if k == "" {
				return nil, fieldErr(fmt.Sprintf("%s.%s[%d]", field, n, i), "keywords must not be empty")
			}
			mt.keywords = append(mt.keywords, k)
		}
		if len(mt.keywords) == 0 {
			return nil, fieldErr(field+"."+n, "needs at least one keyword")
		}
		out = append(out, mt)
	}
	return out, nil
}

// Expected is the prior mentions per hour.
func (c *Config) Expected() float64 {
	if c == nil || c.ExpectedPerHour <= 0 {
		return DefaultExpectedPerHour
	}
	return c.ExpectedPerHour
}

// classify (on a validated Config) adds the topics whose keywords the text contains and, when the
// producer did not say, the competitor the mention is about. A mention that
// names a competitor and not the brand's topics is the competitor's.
func (c *Config) classify(m *Mention) {
	if len(c.topics) == 0 && len(c.competitors) == 0 {
		return
	}
	text := strings.ToLower(m.Text)
	for _, t := range c.topics {
		if !slices.Contains(m.Topics, t.name) && t.matches(text) {
			m.Topics = append(m.Topics, t.name)
		}
	}
	if m.Competitor == "" {
		for _, cm := range c.competitors {
			if cm.matches(text) {
				m.Competitor = cm.name
				break
			}
		}
	}
}

func (m matcher) matches(text string) bool {
	for _, k := range m.keywords {
		if containsWord(text, k) {
			return true
		}
	}
	return false
}

// containsWord reports whether k occurs in s on word boundaries, so that
// "down" does not match "download".
func containsWord(s, k string) bool {
	for i := 0; ; {
		j := strings.Index(s[i:], k)
		if j < 0 {
			return false
		}
		start, end := i+j, i+j+len(k)
		if boundaryBefore(s, start) && boundaryAfter(s, end) {
			return true
		}
		_, size := utf8.DecodeRuneInString(s[start:])
		i = start + size
	}
}

func boundaryBefore(s string, i int) bool {
	if i == 0 {
		return true
	}
	r, _ := utf8.DecodeLastRuneInString(s[:i])
	return !isWord(r)
}

func boundaryAfter(s string, i int) bool {
	if i >= len(s) {
		return true
	}
	r, _ := utf8.DecodeRuneInString(s[i:])
	return !isWord(r)
}

func isWord(r rune) bool { return unicode.IsLetter(r) || unicode.IsDigit(r) || r == '_' }
