package sentiment

import (
	"bytes"
	"fmt"
	"strings"
)

// Weights of the language clues. Letters and spellings that only one of the
// three languages uses are strong clues; a stopword of one language is
// worth two points, one shared by two languages one point each; a word only
// one lexicon knows is a weak clue.
const (
	weightEnye      = 3 // ñ
	weightAcuteA    = 2 // á
	weightInverted  = 3 // ¿ ¡
	weightCedilla   = 3 // ç
	weightGeminate  = 4 // l·l
	weightGrave     = 2 // à è ò
	weightDiaeresis = 2 // ï
	weightElision   = 2 // l'home
	weightCaClitic  = 2 // porta'ns
	weightEnClitic  = 1.5
	weightNegated   = 3 // don't
	weightSuffix    = 2 // -ció (ca) against -ción (es)
	weightStopword  = 2
	weightVocab     = 1
)

// detector holds the word lists language detection reads.
type detector struct {
	// stop maps a stopword, lower-cased with its accents (és and es are
	// different clues), to the points it gives each language.
	stop map[string][numLangs]float32
	// vocab maps a folded word that only one language's lexicon knows to
	// that language.
	vocab map[string]int8
}

func newDetector(lex [numLangs]*lexicon) (*detector, error) {
	d := &detector{stop: map[string][numLangs]float32{}, vocab: map[string]int8{}}
	var listed = map[string][]int{}
	for l := range numLangs {
		name := "stopwords_" + langCodes[l] + ".txt"
		err := eachLine(name, func(fields []string) error {
			w := fields[0]
			if len(fields) != 1 || w != strings.ToLower(w) || strings.TrimSpace(w) != w {
				return fmt.Errorf("want one lower-case word per line, got %q", strings.Join(fields, "\t"))
			}
			listed[w] = append(listed[w], l)
			return nil
		})
		if err != nil {
			return nil, err
		}
	}
	for w, langs := range listed {
		if len(langs) == numLangs {
			continue // no clue
		}
		var pts [numLangs]float32
		for _, l := range langs {
			pts[l] += weightStopword / float32(len(langs))
		}
		d.stop[w] = pts
	}
	// Every word that starts an entry counts, phrases included: the
	// words of "pésima atención" point to Spanish even when the phrase is
	// not all there.
	known := map[string]int{}
	for l, lx := range lex {
		for w := range lx.entries {
			if isWordKey(w) {
				known[w] |= 1 << l
			}
		}
	}
	for w, mask := range known {
		for l := range numLangs {
			if mask == 1<<l {
				d.vocab[w] = int8(l)
			}
		}
	}
	return d, nil
}

// isWordKey reports whether a lexicon key is a word (emoji and emoticons
// say nothing about the language).
func isWordKey(w string) bool {
	for i := range len(w) {
		if isASCIIAlnum(w[i]) {
			return true
		}
	}
	return false
}

// detect picks the language of the tokens in s, which must have been
// tokenized with keepRaw. It returns English when nothing points anywhere
// or when English ties for first; a tie between Catalan and Spanish goes to
// Spanish, the language with more speakers.
func (d *detector) detect(s *scratch) int {
	f := s.feat
	var pts [numLangs]float64
	pts[langES] += weightEnye*float64(f.enye) + weightAcuteA*float64(f.acuteA) + weightInverted*float64(f.inverted)
	pts[langCA] += weightCedilla*float64(f.cedilla) + weightGeminate*float64(f.geminate) +
		weightGrave*float64(f.grave) + weightDiaeresis*float64(f.diaeresis) +
		weightElision*float64(f.elisions) + weightCaClitic*float64(f.caClitics)
	pts[langEN] += weightEnClitic*float64(f.enClitics) + weightNegated*float64(f.negated)
	for _, t := range s.toks {
		if t.kind != tokWord || t.elided {
			continue
		}
		raw := s.raw[t.rawStart:t.rawEnd]
		if w, ok := d.stop[string(raw)]; ok {
			for l := range numLangs {
				pts[l] += float64(w[l])
			}
		}
		if l, ok := d.vocab[string(s.buf[t.start:t.end])]; ok {
			pts[l] += weightVocab
		}
		if l := suffixClue(raw, s.buf[t.start:t.end]); l >= 0 {
			pts[l] += weightSuffix
		}
	}
	best := langEN
	switch {
	case pts[langEN] >= pts[langCA] && pts[langEN] >= pts[langES]:
	case pts[langCA] > pts[langES]:
		best = langCA
	default:
		best = langES
	}
	return best
}

// suffixClue returns the language whose spelling a word's ending shows, or
// -1: Catalan -ció and -íssim against Spanish -ción and -ísimo, mostly with
// or without the accents (raw is the word as written, folded without them).
func suffixClue(raw, folded []byte) int {
	for _, c := range suffixClues {
		if bytes.HasSuffix(raw, c.raw) || (c.folded != nil && bytes.HasSuffix(folded, c.folded)) {
			return c.lang
		}
	}
	return -1
}

var suffixClues = []struct {
	raw, folded []byte
	lang        int
}{
	// Unaccented -cio is Spanish as often (servicio, precio): no clue.
	{[]byte("ció"), nil, langCA},
	{[]byte("cions"), []byte("cions"), langCA},
	{[]byte("ción"), []byte("cion"), langES},
	{[]byte("ciones"), []byte("ciones"), langES},
	{[]byte("íssim"), []byte("issim"), langCA},
	{[]byte("íssima"), []byte("issima"), langCA},
	{[]byte("íssims"), []byte("issims"), langCA},
	{[]byte("íssimes"), []byte("issimes"), langCA},
	{[]byte("ísimo"), []byte("isimo"), langES},
	{[]byte("ísima"), []byte("isima"), langES},
	{[]byte("ísimos"), []byte("isimos"), langES},
	{[]byte("ísimas"), []byte("isimas"), langES},
}
