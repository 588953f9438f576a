package sentiment

// suffixRule maps an inflected form to the form a lexicon lists: the
// Catalan and Spanish lexicons list adjectives and participles once
// (masculine singular), and these rules find them from the feminine,
// plural, superlative and adverb forms. A rule is only tried when the word
// itself is not in the lexicon, and only leads to a term, never to a
// negator or booster.
type suffixRule struct {
	from, to string
	// boost multiplies the valence: a superlative (malísimo, dolentíssim)
	// says more than its base.
	boost float64
}

// minStem keeps rules off short words, where a stripped ending is more
// often part of the root than an inflection.
const minStem = 2

// Rules are tried in order and the first that reaches a term wins. Keys are
// folded (no accents on vowels), so "ísimo" is written "isimo".
var suffixRules = [numLangs][]suffixRule{
	langES: {
		{"bilisimo", "ble", 1.3}, {"bilisima", "ble", 1.3}, // amabilísimo
		{"bilisimos", "ble", 1.3}, {"bilisimas", "ble", 1.3},
		{"isimos", "o", 1.3}, {"isimas", "o", 1.3}, {"isimo", "o", 1.3}, {"isima", "o", 1.3},
		{"isimo", "e", 1.3}, {"isima", "e", 1.3}, // tristísimo
		{"isimo", "", 1.3}, {"isima", "", 1.3}, // facilísimo
		{"amente", "o", 1}, {"mente", "", 1}, // rápidamente, amablemente
		{"s", "", 1},                        // buenos, horribles
		{"as", "o", 1},                      // pésimas
		{"es", "", 1},                       // errores
		{"ora", "or", 1}, {"oras", "or", 1}, // encantadora
		{"a", "o", 1}, // mala, cancelada
	},
	langCA: {
		{"bilissim", "ble", 1.3}, {"bilissima", "ble", 1.3}, // amabilíssim
		{"bilissims", "ble", 1.3}, {"bilissimes", "ble", 1.3},
		{"issims", "", 1.3}, {"issimes", "", 1.3}, {"issima", "", 1.3}, {"issim", "", 1.3},
		{"ament", "", 1}, {"ment", "", 1}, // ràpidament, amablement
		{"ades", "at", 1}, {"ada", "at", 1}, // cancel·lades, retardada
		{"ides", "it", 1}, {"ida", "it", 1}, // servida
		{"udes", "ut", 1}, {"uda", "ut", 1}, // perduda
		{"ora", "or", 1}, {"ores", "or", 1}, // encantadora
		{"es", "", 1},  // dolentes
		{"es", "a", 1}, // problemes
		{"ns", "", 1},  // bons
		{"s", "", 1},   // dolents
		{"a", "", 1},   // dolenta
	},
	// VADER lists the English inflections it rates.
	langEN: nil,
}

// maxWord bounds the words the fallbacks are tried on, so that they can
// build candidates in a stack buffer.
const maxWord = 48

// fallback finds a rule for a word the lexicon does not list alone as
// written: with repeated letters squashed ("sooo" → "so"), as laughter, or
// through the language's suffix rules, whose boost it applies.
func (lx *lexicon) fallback(s *scratch, t token) (rule, bool) {
	w := s.buf[t.start:t.end]
	if t.kind != tokWord || len(w) > maxWord {
		return rule{}, false
	}
	var squashed [maxWord]byte
	if t.elongated {
		n := squash(squashed[:], w)
		w = squashed[:n]
		if e := lx.entries[string(w)]; e != nil && e.single {
			return e.rule, true
		}
	}
	if isLaughter(w) {
		if e := lx.entries["haha"]; e != nil && e.single {
			return e.rule, true
		}
	}
	var cand [maxWord + 2]byte
	for _, r := range lx.suffixes {
		stem := len(w) - len(r.from)
		if stem < minStem || string(w[stem:]) != r.from {
			continue
		}
		n := copy(cand[:], w[:stem])
		n += copy(cand[n:], r.to)
		if e := lx.entries[string(cand[:n])]; e != nil && e.single && e.rule.kind == kindTerm {
			return rule{kind: kindTerm, value: e.rule.value * r.boost}, true
		}
	}
	return rule{}, false
}

// squash writes w into dst with every run of a repeated letter cut to one.
func squash(dst, w []byte) int {
	n := 0
	for i, c := range w {
		if i > 0 && c == w[i-1] && c > '9' {
			continue
		}
		dst[n] = c
		n++
	}
	return n
}

// isLaughter reports whether w is written laughter of any length: haha,
// jajaja, jejeje, hahahah (one consonant throughout: hija is no laugh).
func isLaughter(w []byte) bool {
	if len(w) < 4 {
		return false
	}
	if w[0] != 'h' && w[0] != 'j' {
		return false
	}
	for i, c := range w {
		if i%2 == 0 {
			if c != w[0] {
				return false
			}
		} else if c != 'a' && c != 'e' && c != 'i' {
			return false
		}
	}
	return true
}
