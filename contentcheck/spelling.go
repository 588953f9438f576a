package contentcheck

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"unicode"
	"unicode/utf8"

	"github.com/client9/gospell"
	"golang.org/x/text/unicode/norm"
)

// DefaultDictDir is where Debian's hunspell-* packages install their
// dictionaries.
const DefaultDictDir = "/usr/share/hunspell"

// ErrNoDictionary is returned, wrapped with the package to install, when a
// spelling language's dictionary is not on the machine: a deployment
// problem to fix on the worker, not a finding about the content.
var ErrNoDictionary = errors.New("spelling dictionary not installed")

// language is a spelling language and where its Hunspell dictionary comes
// from.
type language struct {
	name string
	// pkg is the Debian package that installs the dictionary.
	pkg string
	// files are the dictionary's base names, tried in order: the name
	// differs between Debian releases and the upstream packages.
	files []string
}

var languages = map[string]language{
	"ca": {name: "Catalan", pkg: "hunspell-ca", files: []string{"ca", "ca_ES"}},
	"en": {name: "English", pkg: "hunspell-en-us", files: []string{"en_US", "en"}},
	"es": {name: "Spanish", pkg: "hunspell-es", files: []string{"es_ES", "es"}},
}

// Languages lists the spelling languages Rules.Languages may name, for
// whatever validates playbooks or offers the choice to keep to this list.
func Languages() []string {
	out := make([]string, 0, len(languages))
	for code := range languages {
		out = append(out, code)
	}
	sort.Strings(out)
	return out
}

// dictionary is one language's loaded Hunspell dictionary.
type dictionary struct {
	lang language
	// mu is held to load and for every lookup: gospell expands affixes
	// lazily and caches what it found in maps, so even Spell writes.
	mu sync.Mutex
	gs *gospell.GoSpell
	// seen keeps every answer since the load. A repeated word skips
	// gospell's case and compound logic, and len(seen) tells how far
	// gospell's own cache has grown: it is never trimmed, and grows with
	// every distinct word looked up (each typo brings dozens of suggestion
	// candidates), so a long-lived worker reloads the dictionary now and
	// then to bound its memory.
	seen map[string]bool
}

// reloadAfter is how many distinct words a loaded dictionary answers
// before the next check reloads it: tens of megabytes of cache, against
// about a second to load.
const reloadAfter = 100_000

func (d *dictionary) spell(word string) bool {
	d.mu.Lock()
	defer d.mu.Unlock()
	ok, found := d.seen[word]
	if !found {
		ok = d.gs.Spell(word)
		d.seen[word] = ok
	}
	return ok
}

// Load loads the dictionaries of the given languages now, so that a worker
// finds a missing one when it starts rather than at its first check, and
// that first check does not pay for the load (about a second for Catalan
// or Spanish).
func (c *Checker) Load(langs ...string) error {
	_, err := c.dictionaries(langs)
	return err
}

// dictionaries returns the loaded dictionaries of langs, in that order,
// loading the missing ones side by side.
func (c *Checker) dictionaries(langs []string) ([]*dictionary, error) {
	for _, code := range langs {
		if _, ok := languages[code]; !ok {
			return nil, fmt.Errorf("spelling language %q: cmo has %s", code, strings.Join(Languages(), ", "))
		}
	}
	out := make([]*dictionary, len(langs))
	errs := make([]error, len(langs))
	var wg sync.WaitGroup
	for i, code := range langs {
		c.mu.Lock()
		d := c.dicts[code]
		if d == nil {
			d = &dictionary{lang: languages[code]}
			c.dicts[code] = d
		}
		c.mu.Unlock()
		out[i] = d
		wg.Go(func() { errs[i] = d.load(c.dir) })
	}
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	return out, nil
}

// load reads the dictionary unless it is loaded and fresh. A failure is
// not kept: once the package is installed the next check finds it.
func (d *dictionary) load(dir string) error {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.gs != nil && len(d.seen) < reloadAfter {
		return nil
	}
	gs, err := loadDictionary(dir, d.lang)
	switch {
	case err == nil:
		d.gs = gs
	case d.gs != nil:
		// The files went away under a running worker: the dictionary it
		// has still spells, so keep it and try again later.
		err = nil
	default:
		return err
	}
	d.seen = make(map[string]bool)
	return err
}

func loadDictionary(dir string, lang language) (*gospell.GoSpell, error) {
	aff, dic, err := findDictionary(dir, lang)
	if err != nil {
		return nil, err
	}
	// gospell decodes the files from the .aff's SET (UTF-8 or ISO-8859-1,
	// -2, -15) and copes with CRLF lines, which Debian's Catalan files have.
	gs, err := gospell.NewGoSpell(aff, dic)
	if err != nil {
		return nil, fmt.Errorf("load %s dictionary %s: %w (reinstall Debian's %s)", lang.name, dic, err, lang.pkg)
	}
	return gs, nil
}

// findDictionary returns the .aff and .dic of lang in dir, symbolic links
// resolved: Debian installs some names as links to others (ca_ES.aff to
// ca.aff, every es_* to es_ES), and a dangling one should be reported as
// the file it points to.
func findDictionary(dir string, lang language) (aff, dic string, err error) {
	for _, base := range lang.files {
		aff, errA := filepath.EvalSymlinks(filepath.Join(dir, base+".aff"))
		dic, errD := filepath.EvalSymlinks(filepath.Join(dir, base+".dic"))
		if errA == nil && errD == nil {
			return aff, dic, nil
		}
		if err := errors.Join(errA, errD); !errors.Is(err, os.ErrNotExist) {
			return "", "", fmt.Errorf("%s dictionary in %s: %w", lang.name, dir, err)
		}
	}
	return "", "", fmt.Errorf("%w: no %s dictionary (%s.aff and .dic) in %s: install Debian's %s (scripts/ensure-dictionaries.sh)",
		ErrNoDictionary, lang.name, lang.files[0], dir, lang.pkg)
}

// speller checks the words of one post against its languages and accepted
// words.
type speller struct {
	dicts  []*dictionary
	accept map[string]bool
}

func newSpeller(dicts []*dictionary, accept []string) *speller {
	s := &speller{dicts: dicts, accept: make(map[string]bool)}
	for _, a := range accept {
		// An accepted entry may be several words ("Sagrada Família").
		for _, t := range scan(a) {
			if t.kind == kindWord {
				s.accept[strings.ToLower(normWord(a[t.start:t.end]))] = true
			}
		}
	}
	return s
}

// normWord puts a word in the form the dictionaries are written in:
// composed accents, the typewriter apostrophe, the ASCII hyphen.
func normWord(w string) string {
	w = norm.NFC.String(w)
	return strings.Map(func(r rune) rune {
		switch {
		case isApostrophe(r):
			return '\''
		case r == '‐' || r == '‑':
			return '-'
		}
		return r
	}, w)
}

// checkable says whether spelling should look at a word at all. It leaves
// out what no dictionary can judge: single letters (the x of "2 x 1"),
// words with digits (2n, COVID-19), words in capitals (acronyms, shouting,
// which Hunspell would accept anyway), identifiers with underscores and
// words in other scripts.
func checkable(w string) bool {
	letters, upper, latin := 0, 0, false
	for _, r := range w {
		switch {
		case unicode.IsNumber(r) || r == '_':
			return false
		case unicode.IsLetter(r):
			letters++
			if unicode.IsUpper(r) {
				upper++
			}
			latin = latin || unicode.Is(unicode.Latin, r)
		}
	}
	return letters >= 2 && latin && upper < letters
}

// correct reports whether any of the languages, or the accepted words,
// has w.
func (s *speller) correct(w string) bool {
	w = normWord(w)
	if s.known(w) {
		return true
	}
	// A whole word failed. Hunspell judges "l'Acme" or "Acme-style" as one
	// word, so an accepted brand joined to an elided article or by a hyphen
	// would fail: judge the parts. Parts of one or two letters are the
	// elided articles and pronouns (l', d', s', -ho, -li, 'n), which only
	// exist attached to something.
	parts := strings.FieldsFunc(w, func(r rune) bool { return r == '\'' || r == '-' })
	if len(parts) < 2 {
		return false
	}
	for _, p := range parts {
		if utf8.RuneCountInString(p) > 2 && !s.known(p) {
			return false
		}
	}
	return true
}

func (s *speller) known(w string) bool {
	if s.accept[strings.ToLower(w)] {
		return true
	}
	lower := lowerFirst(w)
	for _, d := range s.dicts {
		if d.spell(w) {
			return true
		}
		// gospell only tries the lower-case form of a capitalised word when
		// every other rune is a lower-case letter, so "Col·lecció" at the
		// start of a sentence fails where Hunspell accepts it.
		if lower != w && d.spell(lower) {
			return true
		}
	}
	return false
}

// lowerFirst lowers a capitalised word (upper-case first letter, no other
// capital), or returns w.
func lowerFirst(w string) string {
	r, size := utf8.DecodeRuneInString(w)
	if !unicode.IsUpper(r) || strings.ContainsFunc(w[size:], unicode.IsUpper) {
		return w
	}
	return string(unicode.ToLower(r)) + w[size:]
}

const (
	// maxSuggestions is how many suggestions a finding carries.
	maxSuggestions = 3
	// maxSuggestCandidates bounds the lookups behind one word's
	// suggestions: an unseen word costs up to a millisecond per language
	// with the Catalan and Spanish dictionaries.
	maxSuggestCandidates = 80
	// maxSuggestedWords is how many misspelt words of one post get
	// suggestions; a post checked in the wrong language would otherwise
	// cost seconds.
	maxSuggestedWords = 5
)

// suggest returns up to maxSuggestions corrections of w that one of the
// languages accepts. gospell's own suggester takes seconds per word with
// the Catalan and Spanish dictionaries (it tries every edit with every
// letter the language uses), so this tries only the slips people make
// most when writing these languages: a proper noun in lower case, an
// English -tion in a Romance word, the Catalan l·l, a missing or wrong
// accent, letters that sound alike, the silent h, a letter doubled or not,
// two letters swapped, one too many.
func (s *speller) suggest(w string) []string {
	w = normWord(w)
	var out []string
	for n, cand := range nearMisses(w) {
		if n == maxSuggestCandidates || len(out) == maxSuggestions {
			break
		}
		if s.known(cand) {
			out = append(out, cand)
		}
	}
	return out
}

// accentSwaps are the letters a missing, extra or wrong diacritic turns
// each letter into, in Catalan and Spanish.
var accentSwaps = map[rune][]rune{
	'a': {'à', 'á'}, 'e': {'é', 'è'}, 'i': {'í', 'ï'}, 'o': {'ó', 'ò'}, 'u': {'ú', 'ü'}, 'n': {'ñ'}, 'c': {'ç'},
	'à': {'a', 'á'}, 'á': {'a', 'à'}, 'è': {'é', 'e'}, 'é': {'è', 'e'}, 'í': {'i', 'ï'}, 'ï': {'i', 'í'},
	'ò': {'ó', 'o'}, 'ó': {'ò', 'o'}, 'ú': {'u', 'ü'}, 'ü': {'u', 'ú'}, 'ñ': {'n'}, 'ç': {'c'},
}

// soundSwaps are letters that sound alike in Catalan or Spanish and are
// confused in writing: b and v, g and j, c, s and z, i and y, m and n
// before p or b.
var soundSwaps = map[rune][]rune{
	'b': {'v'}, 'v': {'b'}, 'g': {'j'}, 'j': {'g'}, 's': {'c', 'z'}, 'z': {'s', 'c'}, 'c': {'s', 'z'},
	'y': {'i'}, 'i': {'y'}, 'm': {'n'}, 'n': {'m'},
}

// nearMisses lists spellings one slip away from w, the likeliest first.
func nearMisses(w string) []string {
	rs := []rune(w)
	seen := map[string]bool{w: true}
	var out []string
	add := func(c []rune) {
		if s := string(c); !seen[s] {
			seen[s] = true
			out = append(out, s)
		}
	}
	splice := func(i, drop int, ins ...rune) []rune {
		c := make([]rune, 0, len(rs)+len(ins))
		c = append(c, rs[:i]...)
		c = append(c, ins...)
		return append(c, rs[i+drop:]...)
	}
	lower := strings.ToLower(w)
	if lower == w && len(rs) > 0 { // a proper noun typed in lower case
		add(append([]rune{unicode.ToUpper(rs[0])}, rs[1:]...))
	}
	for _, e := range [][2]string{{"tion", "ción"}, {"tion", "ció"}, {"sion", "sión"}, {"sion", "sió"}} {
		if strings.HasSuffix(lower, e[0]) {
			add([]rune(w[:len(w)-len(e[0])] + e[1]))
		}
	}
	for i, r := range rs {
		if !isL(r) || i == 0 || i == len(rs)-1 {
			continue
		}
		switch next := rs[i+1]; {
		case next == '.' || next == '•': // col.lecció
			if i+2 < len(rs) && isL(rs[i+2]) {
				add(splice(i+1, 1, '·'))
			}
		case isL(next): // collecció
			add(splice(i+1, 0, '·'))
		case isVowel(rs[i-1]) && isVowel(next): // colecció
			add(splice(i+1, 0, '·', r))
		}
	}
	for i, r := range rs {
		for _, alt := range accentSwaps[unicode.ToLower(r)] {
			if unicode.IsUpper(r) {
				alt = unicode.ToUpper(alt)
			}
			add(splice(i, 1, alt))
		}
	}
	for i, r := range rs {
		for _, alt := range soundSwaps[unicode.ToLower(r)] {
			if unicode.IsUpper(r) {
				alt = unicode.ToUpper(alt)
			}
			add(splice(i, 1, alt))
		}
		if unicode.ToLower(r) == 'h' {
			add(splice(i, 1))
		}
		if i == 0 || rs[i-1] == '\'' {
			h := 'h'
			if unicode.IsUpper(r) {
				h, r = 'H', unicode.ToLower(r)
			}
			add(splice(i, 1, h, r)) // the silent h left out
		}
	}
	for i, r := range rs {
		if !unicode.IsLetter(r) {
			continue
		}
		if i+1 < len(rs) && rs[i+1] == r {
			add(splice(i, 1)) // doubled by mistake
		} else {
			add(splice(i, 0, r)) // double letter typed once
		}
	}
	for i := 0; i+1 < len(rs); i++ {
		if rs[i] != rs[i+1] {
			add(splice(i, 2, rs[i+1], rs[i]))
		}
	}
	for i := range rs {
		add(splice(i, 1))
	}
	return out
}

func isVowel(r rune) bool {
	return strings.ContainsRune("aeiouàáèéíïòóúü", unicode.ToLower(r))
}

// spellingMessage is the finding's text: which languages do not have the
// word, and what they have instead.
func spellingMessage(word string, dicts []*dictionary, suggestions []string) string {
	names := make([]string, len(dicts))
	for i, d := range dicts {
		names[i] = d.lang.name
	}
	sort.Strings(names)
	list := names[0]
	if n := len(names); n > 1 {
		list = strings.Join(names[:n-1], ", ") + " or " + names[n-1]
	}
	msg := fmt.Sprintf("%q is not %s", word, list)
	if len(suggestions) > 0 {
		msg += " (suggestions: " + strings.Join(suggestions, ", ") + ")"
	}
	return msg
}
