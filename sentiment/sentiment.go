package sentiment

import "sync"

// Result is the sentiment of one text.
type Result struct {
	Score float64 // in [-1, 1]
	Label string  // "negative", "neutral" or "positive"
	Lang  string  // "ca", "es" or "en": the lexicon used
}

// Labels.
const (
	Negative = "negative"
	Neutral  = "neutral"
	Positive = "positive"
)

// Threshold is the score beyond which a text is labelled positive (at or
// above it) or negative (at or below its opposite); VADER recommends the
// same ±0.05 for its compound score.
const Threshold = 0.05

// Scorer rates texts against the embedded lexicons. It holds no mutable
// state and is safe for concurrent use.
type Scorer struct {
	t *tables
}

// New returns a Scorer. The embedded lexicons are parsed on the first call
// only; later calls share them.
func New() *Scorer {
	t, err := loaded()
	if err != nil {
		// The files are compiled into the binary and checked by the
		// package's tests: failing here is a build defect, not a runtime
		// condition a caller could handle.
		panic(err)
	}
	return &Scorer{t: t}
}

// Score rates text. lang is the language the text is known to be in, as a
// platform reports it ("es", "en-GB", "ca-ES", "spa"...). When it is empty
// or not Catalan, Spanish or English, the language is guessed with
// DetectLanguage; Result.Lang tells which lexicon was used.
func (s *Scorer) Score(text, lang string) Result {
	sc := getScratch()
	defer putScratch(sc)
	l := langIndex(lang)
	sc.tokenize(text, s.t.emoticons, l < 0)
	if l < 0 {
		l = s.t.detect.detect(sc)
	}
	score := s.t.lex[l].score(sc)
	return Result{Score: score, Label: LabelFor(score), Lang: langCodes[l]}
}

// DetectLanguage guesses whether text is Catalan ("ca"), Spanish ("es") or
// English ("en") from its stopwords, the words only one lexicon knows, and
// the letters and spellings of one language only (l·l, ç, à è ò and
// elisions for Catalan; ñ, á, ¿ ¡ for Spanish; n't for English). It returns
// "en" when unsure; a text in another language gets the nearest of the
// three.
func DetectLanguage(text string) string {
	t, err := loaded()
	if err != nil {
		panic(err) // see New
	}
	sc := getScratch()
	defer putScratch(sc)
	sc.tokenize(text, t.emoticons, true)
	return langCodes[t.detect.detect(sc)]
}

// LabelFor turns a score into a label: positive at or above Threshold,
// negative at or below -Threshold, neutral in between (and for NaN).
func LabelFor(score float64) string {
	switch {
	case score >= Threshold:
		return Positive
	case score <= -Threshold:
		return Negative
	}
	return Neutral
}

// langIndex maps a language tag to a lexicon, or -1: the primary subtag
// decides, in its two-letter (ISO 639-1) or three-letter (ISO 639-2) form.
// It does not allocate, as it runs once per mention.
func langIndex(tag string) int {
	n := len(tag)
	for i := range len(tag) {
		if tag[i] == '-' || tag[i] == '_' {
			n = i
			break
		}
	}
	var b [3]byte
	if n != 2 && n != 3 {
		return -1
	}
	for i := range n {
		c := tag[i]
		if 'A' <= c && c <= 'Z' {
			c += 'a' - 'A'
		}
		b[i] = c
	}
	switch string(b[:n]) {
	case "ca", "cat":
		return langCA
	case "es", "spa":
		return langES
	case "en", "eng":
		return langEN
	}
	return -1
}

// scratch is the per-call working memory, pooled so that scoring does not
// allocate once the buffers have grown.
type scratch struct {
	buf, raw []byte
	toks     []token
	units    []unit
	feat     features
	keepRaw  bool

	words, capsWords    int // words of two letters or more, and those in capitals
	exclaims, questions int

	// The word being read.
	inWord            bool
	wStart, rStart    int32
	upper, lower      int
	letters           int
	last              rune
	run               int
	elongated, clitic bool
}

func (s *scratch) reset(keepRaw bool) {
	s.buf, s.raw, s.toks = s.buf[:0], s.raw[:0], s.toks[:0]
	s.feat = features{}
	s.keepRaw = keepRaw
	s.words, s.capsWords, s.exclaims, s.questions = 0, 0, 0, 0
	s.inWord = false
}

// maxPooled keeps the buffers of an unusually long text from being held
// by the pool for ever.
const maxPooled = 1 << 16

var scratchPool = sync.Pool{New: func() any { return new(scratch) }}

func getScratch() *scratch { return scratchPool.Get().(*scratch) }

func putScratch(s *scratch) {
	if cap(s.buf) > maxPooled || cap(s.toks) > maxPooled/8 {
		return
	}
	scratchPool.Put(s)
}
