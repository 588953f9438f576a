package sentiment

import (
	"bufio"
	"embed"
	"fmt"
	"math"
	"slices"
	"strconv"
	"strings"
	"sync"
)

//go:embed lexicons/*.tsv lexicons/*.txt
var lexiconFiles embed.FS

// Languages are indexed in this order everywhere.
const (
	langCA = iota
	langES
	langEN
	numLangs
)

var langCodes = [numLangs]string{"ca", "es", "en"}

// Files of each language, in load order: a term listed again in a later
// file replaces the earlier rating, so the project's complaint vocabulary
// can correct a general lexicon for customer-service use, and modifiers
// (negators, boosters, contrast words) come last.
var langFiles = [numLangs][]string{
	langCA: {"ca.tsv", "emoticons.tsv", "emoji.tsv", "emoji_extra.tsv", "complaints_ca.tsv"},
	langES: {"es.tsv", "emoticons.tsv", "emoji.tsv", "emoji_extra.tsv", "complaints_es.tsv"},
	langEN: {"en.tsv", "emoticons.tsv", "emoji.tsv", "emoji_extra.tsv", "complaints_en.tsv"},
}

// kind is what a lexicon entry does.
type kind uint8

const (
	kindPlain    kind = iota // a word the lexicon does not know
	kindTerm                 // carries a valence
	kindNegator              // flips and dampens the terms after it
	kindBooster              // multiplies the next term: >1 intensifies, <1 diminishes
	kindContrast             // "but": the clause after weighs more
	kindBreak                // end of a clause
)

// rule is what an entry does and by how much: the valence of a term on
// VADER's scale [-4, 4], a booster's multiplier, or the weight of the
// clause after a contrast word.
type rule struct {
	kind  kind
	value float64
}

// phrase is a multiword entry: the tokens after its first one.
type phrase struct {
	rest []string
	rule rule
}

// entry is everything a lexicon knows that starts with one token.
type entry struct {
	rule   rule
	single bool     // rule applies to the token alone
	multi  []phrase // longest first, so the longest phrase wins
}

// lexicon is one language's entries plus its inflection fallbacks.
type lexicon struct {
	lang     int
	entries  map[string]*entry
	suffixes []suffixRule
}

// tables is everything loaded from the embedded files; it is read-only once
// built, which is what makes a Scorer safe for concurrent use.
type tables struct {
	emoticons map[string]struct{}
	lex       [numLangs]*lexicon
	detect    *detector
}

// loaded parses the embedded files once per process.
var loaded = sync.OnceValues(load)

func load() (*tables, error) {
	t := &tables{emoticons: map[string]struct{}{}}
	// The tokenizer must know the emoticons before it can read the
	// lexicons, which contain some.
	err := eachLine("emoticons.tsv", func(fields []string) error {
		t.emoticons[strings.ToLower(fields[0])] = struct{}{}
		return nil
	})
	if err != nil {
		return nil, err
	}
	sc := new(scratch)
	for l := range numLangs {
		lx := &lexicon{lang: l, entries: map[string]*entry{}, suffixes: suffixRules[l]}
		for _, name := range langFiles[l] {
			if err := lx.loadTerms(name, sc, t.emoticons); err != nil {
				return nil, err
			}
		}
		if err := lx.loadModifiers("modifiers_"+langCodes[l]+".tsv", sc, t.emoticons); err != nil {
			return nil, err
		}
		for _, e := range lx.entries {
			slices.SortStableFunc(e.multi, func(a, b phrase) int { return len(b.rest) - len(a.rest) })
		}
		t.lex[l] = lx
	}
	d, err := newDetector(t.lex)
	if err != nil {
		return nil, err
	}
	t.detect = d
	return t, nil
}

// loadTerms reads a file of term<TAB>valence lines.
func (lx *lexicon) loadTerms(name string, sc *scratch, emoticons map[string]struct{}) error {
	return eachLine(name, func(fields []string) error {
		if len(fields) != 2 {
			return fmt.Errorf("want term<TAB>valence, got %d fields", len(fields))
		}
		v, err := strconv.ParseFloat(fields[1], 64)
		if err != nil {
			return fmt.Errorf("valence of %q: %w", fields[0], err)
		}
		if math.IsNaN(v) || v < -4 || v > 4 {
			return fmt.Errorf("valence of %q: %v is outside [-4, 4]", fields[0], v)
		}
		return lx.add(fields[0], rule{kind: kindTerm, value: v}, sc, emoticons)
	})
}

// loadModifiers reads a file of term<TAB>kind<TAB>value lines, kind being
// negator, booster or contrast.
func (lx *lexicon) loadModifiers(name string, sc *scratch, emoticons map[string]struct{}) error {
	return eachLine(name, func(fields []string) error {
		if len(fields) != 3 {
			return fmt.Errorf("want term<TAB>kind<TAB>value, got %d fields", len(fields))
		}
		v, err := strconv.ParseFloat(fields[2], 64)
		if err != nil {
			return fmt.Errorf("value of %q: %w", fields[0], err)
		}
		r := rule{value: v}
		switch fields[1] {
		case "negator":
			r.kind = kindNegator
		case "booster":
			r.kind = kindBooster
			if !(v > 0 && v <= 3) {
				return fmt.Errorf("booster %q: multiplier %v is outside (0, 3]", fields[0], v)
			}
		case "contrast":
			r.kind = kindContrast
			if !(v >= 1 && v < 2) {
				return fmt.Errorf("contrast %q: weight %v is outside [1, 2)", fields[0], v)
			}
		default:
			return fmt.Errorf("%q: unknown kind %q", fields[0], fields[1])
		}
		return lx.add(fields[0], r, sc, emoticons)
	})
}

// add tokenizes term the way texts are tokenized, so that a lexicon entry
// matches whatever accents, case, elisions or hyphens the text uses, and
// files it under its first token.
func (lx *lexicon) add(term string, r rule, sc *scratch, emoticons map[string]struct{}) error {
	sc.tokenize(term, emoticons, false)
	if len(sc.toks) == 0 {
		return fmt.Errorf("term %q has no words", term)
	}
	words := make([]string, len(sc.toks))
	for i, t := range sc.toks {
		if t.kind == tokBreak {
			return fmt.Errorf("term %q spans punctuation", term)
		}
		words[i] = string(sc.buf[t.start:t.end])
	}
	e := lx.entries[words[0]]
	if e == nil {
		e = &entry{}
		lx.entries[words[0]] = e
	}
	if len(words) == 1 {
		e.rule, e.single = r, true
		return nil
	}
	for i := range e.multi {
		if slices.Equal(e.multi[i].rest, words[1:]) {
			e.multi[i].rule = r
			return nil
		}
	}
	e.multi = append(e.multi, phrase{rest: words[1:], rule: r})
	return nil
}

// eachLine calls fn with the tab-separated fields of every line of an
// embedded file that is neither blank nor a # comment.
func eachLine(name string, fn func(fields []string) error) error {
	f, err := lexiconFiles.Open("lexicons/" + name)
	if err != nil {
		return fmt.Errorf("sentiment lexicon: %w", err)
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for n := 1; sc.Scan(); n++ {
		line := strings.TrimRight(sc.Text(), " \r")
		if line == "" || line[0] == '#' {
			continue
		}
		if err := fn(strings.Split(line, "\t")); err != nil {
			return fmt.Errorf("sentiment lexicon %s:%d: %w", name, n, err)
		}
	}
	if err := sc.Err(); err != nil {
		return fmt.Errorf("sentiment lexicon %s: %w", name, err)
	}
	return nil
}
