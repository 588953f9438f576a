// Package contentcheck is the quality gate of a playbook's check step: it
// reads drafted content before anyone is asked to approve it and reports
// what the platform would refuse (length, media, hashtags), broken links,
// missing and banned words, and spelling in Catalan, Spanish and English.
//
// It is pure Go and knows nothing of workflows or storage: an activity
// passes it the text and the step's rules and records the findings.
package contentcheck

import (
	"cmp"
	"fmt"
	"slices"
	"strings"
	"sync"
	"unicode/utf8"
)

// Severity says whether a finding stops the content or only tells the
// community manager about it.
type Severity string

// Severities.
const (
	// Block keeps the content from approval until it is fixed.
	Block Severity = "block"
	// Warn is shown to whoever approves, who may let it through.
	Warn Severity = "warn"
)

// Rule names, as a Finding reports them, so that a UI can group findings
// and a playbook can refer to them.
const (
	RuleLength   = "length"
	RuleMedia    = "media"
	RuleHashtags = "hashtags"
	RuleLink     = "link"
	RuleRequired = "required"
	RuleBanned   = "banned"
	RuleSpelling = "spelling"
)

// Rules are what one check of one post enforces: the check step's settings
// plus the channel's platform and the media attached. They travel in
// activity inputs, hence the JSON names.
type Rules struct {
	// Platform is the channel's: sandbox, mastodon, bluesky, x, linkedin,
	// facebook, instagram or webhook. Empty checks no platform limit.
	Platform string `json:"platform,omitempty"`
	// Media is how many images or videos the post carries.
	Media       int  `json:"media,omitempty"`
	RequireLink bool `json:"require_link,omitempty"`
	// RequiredWords must all appear, ignoring case.
	RequiredWords []string `json:"required_words,omitempty"`
	// BannedWords must not appear, ignoring case: a single word as a whole
	// word, a phrase anywhere.
	BannedWords []string `json:"banned_words,omitempty"`
	// Languages are the spelling languages (ca, es, en); a word is right if
	// any of them has it, since posts mix languages. Empty: no spelling.
	Languages []string `json:"languages,omitempty"`
	// AcceptWords are words spelling must accept: brand and product names,
	// people, places.
	AcceptWords []string `json:"accept_words,omitempty"`
	// SpellingSeverity is Warn unless set: dictionaries miss real words
	// (names, new coinages), so a spelling finding only blocks when the
	// playbook says so. Every other finding blocks.
	SpellingSeverity Severity `json:"spelling_severity,omitempty"`
}

// Finding is one problem with the content.
type Finding struct {
	Rule     string   `json:"rule"`
	Severity Severity `json:"severity"`
	// Message is for the community manager, in plain words.
	Message string `json:"message"`
	// Word is the offending text as written: a misspelt or banned word, a
	// broken link, a missing required word.
	Word string `json:"word,omitempty"`
	// Offset is the byte offset in the text the finding is about, for an
	// editor to highlight; -1 when it is about no one place. For a length
	// finding it is where the platform's limit falls.
	Offset int `json:"offset"`
}

// Blocked reports whether any finding keeps the content from approval.
func Blocked(findings []Finding) bool {
	return slices.ContainsFunc(findings, func(f Finding) bool { return f.Severity == Block })
}

// Checker runs checks. It keeps the spelling dictionaries it loads (about
// a second and 40 to 110 MB of memory each, Catalan the largest), so a
// worker should have one for its lifetime. It is safe for concurrent use.
type Checker struct {
	dir   string
	mu    sync.Mutex
	dicts map[string]*dictionary
}

// New returns a Checker that reads Hunspell dictionaries from dictDir
// (DefaultDictDir when empty), each when a check first needs it.
func New(dictDir string) *Checker {
	if dictDir == "" {
		dictDir = DefaultDictDir
	}
	return &Checker{dir: dictDir, dicts: make(map[string]*dictionary)}
}

// Check returns what is wrong with text under r, rule by rule (length,
// media, hashtags, link, required, banned, spelling) and in text order
// within a rule; none is an empty list. An error means the check could
// not run as asked: an unknown platform, language or severity, or a
// dictionary that is missing or unreadable (ErrNoDictionary names the
// package to install).
func (c *Checker) Check(text string, r Rules) ([]Finding, error) {
	lim, ok := limits[r.Platform]
	if !ok && r.Platform != "" {
		return nil, fmt.Errorf("unknown platform %q", r.Platform)
	}
	if r.Media < 0 {
		return nil, fmt.Errorf("media count %d is negative", r.Media)
	}
	spellSev := r.SpellingSeverity
	switch spellSev {
	case "":
		spellSev = Warn
	case Warn, Block:
	default:
		return nil, fmt.Errorf("spelling severity %q: must be %s or %s", spellSev, Warn, Block)
	}
	var dicts []*dictionary
	if langs := unique(r.Languages); len(langs) > 0 {
		var err error
		if dicts, err = c.dictionaries(langs); err != nil {
			return nil, fmt.Errorf("spelling: %w", err)
		}
	}

	rep := &report{text: text, tokens: scan(text), findings: []Finding{}}
	rep.limits(lim, r.Media)
	rep.links(r.RequireLink)
	rep.words(r.RequiredWords, r.BannedWords)
	if len(dicts) > 0 {
		rep.spelling(newSpeller(dicts, r.AcceptWords), spellSev)
	}
	return rep.findings, nil
}

// report gathers the findings of one check.
type report struct {
	text     string
	tokens   []token
	findings []Finding
}

func (rep *report) add(rule string, sev Severity, word string, offset int, format string, args ...any) {
	rep.findings = append(rep.findings, Finding{Rule: rule, Severity: sev, Message: fmt.Sprintf(format, args...), Word: word, Offset: offset})
}

func (rep *report) limits(lim Limit, media int) {
	text := rep.text
	if lim.MaxChars > 0 {
		if n, over := measure(lim, text, lim.MaxChars); n > lim.MaxChars {
			rep.add(RuleLength, Block, "", over, "the text is %d characters as %s counts them%s; the limit is %d", n, lim.Name, unitNote(lim), lim.MaxChars)
		}
	}
	if lim.MaxBytes > 0 && len(text) > lim.MaxBytes {
		at := lim.MaxBytes
		for at > 0 && !utf8.RuneStart(text[at]) {
			at--
		}
		rep.add(RuleLength, Block, "", at, "the text is %d bytes in UTF-8; %s takes at most %d", len(text), lim.Name, lim.MaxBytes)
	}
	if lim.MaxMedia > 0 && media > lim.MaxMedia {
		rep.add(RuleMedia, Block, "", -1, "%d images or videos are attached; %s takes at most %d", media, lim.Name, lim.MaxMedia)
	}
	if media < lim.MinMedia {
		rep.add(RuleMedia, Block, "", -1, "%s needs at least %d image or video with the text", lim.Name, lim.MinMedia)
	}
	if lim.MaxHashtags > 0 {
		var tags []token
		for _, t := range rep.tokens {
			if t.kind == kindHashtag {
				tags = append(tags, t)
			}
		}
		if len(tags) > lim.MaxHashtags {
			rep.add(RuleHashtags, Block, "", tags[lim.MaxHashtags].start, "the text has %d hashtags; %s takes at most %d", len(tags), lim.Name, lim.MaxHashtags)
		}
	}
}

func (rep *report) links(required bool) {
	good := 0
	for _, t := range rep.tokens {
		if t.kind != kindLink || !t.scheme {
			continue
		}
		raw := rep.text[t.start:t.end]
		if problem := linkProblem(raw); problem != "" {
			rep.add(RuleLink, Block, raw, t.start, "%q is not a well-formed link: %s", raw, problem)
		} else {
			good++
		}
	}
	if required && good == 0 {
		rep.add(RuleLink, Block, "", -1, "the post needs a link (http:// or https://)")
	}
}

func (rep *report) words(required, banned []string) {
	for _, w := range unique(required) {
		if len(occurrences(rep.text, w)) == 0 {
			rep.add(RuleRequired, Block, w, -1, "%q is required and does not appear", w)
		}
	}
	start := len(rep.findings)
	for _, w := range unique(banned) {
		for _, m := range occurrences(rep.text, w) {
			rep.add(RuleBanned, Block, rep.text[m.start:m.end], m.start, "%q is banned", w)
		}
	}
	slices.SortStableFunc(rep.findings[start:], func(a, b Finding) int { return cmp.Compare(a.Offset, b.Offset) })
}

// spelling reports each misspelt word once, where it first appears.
func (rep *report) spelling(sp *speller, sev Severity) {
	seen := make(map[string]bool)
	suggested := 0
	for _, t := range rep.tokens {
		w := rep.text[t.start:t.end]
		if t.kind != kindWord || !checkable(w) {
			continue
		}
		key := strings.ToLower(normWord(w))
		if seen[key] {
			continue
		}
		seen[key] = true
		if sp.correct(w) {
			continue
		}
		var sugs []string
		if suggested < maxSuggestedWords {
			sugs = sp.suggest(w)
			suggested++
		}
		rep.add(RuleSpelling, sev, w, t.start, "%s", spellingMessage(w, sp.dicts, sugs))
	}
}

// unitNote tells a reader why the count differs from what they see.
func unitNote(l Limit) string {
	switch {
	case l.unit == xWeighted:
		return fmt.Sprintf(" (a link counts as %d, an emoji or a CJK character as 2)", l.CountsURLAs)
	case l.CountsURLAs > 0:
		return fmt.Sprintf(" (a link counts as %d)", l.CountsURLAs)
	}
	return ""
}

// unique drops empty entries and repeats (ignoring case and surrounding
// space) from a list a person typed.
func unique(list []string) []string {
	var out []string
	seen := make(map[string]bool, len(list))
	for _, s := range list {
		s = strings.TrimSpace(s)
		if k := strings.ToLower(s); s != "" && !seen[k] {
			seen[k] = true
			out = append(out, s)
		}
	}
	return out
}
