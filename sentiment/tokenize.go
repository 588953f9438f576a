package sentiment

import (
	"unicode"
	"unicode/utf8"
)

// tokenKind is what a token stands for in the scoring pass.
type tokenKind uint8

const (
	tokWord   tokenKind = iota + 1
	tokSymbol           // an emoji or an emoticon
	tokBreak            // punctuation that ends a clause: negation and boosters stop there
)

// token is one word, emoji or clause break. Its text is not kept as a string
// (that would allocate per token): start and end index scratch.buf, which
// holds the text lower-cased and with the accents of vowels removed, and
// rawStart and rawEnd index scratch.raw, which keeps the accents for
// language detection.
type token struct {
	start, end       int32
	rawStart, rawEnd int32
	kind             tokenKind
	// caps marks a word of two letters or more written all in capitals.
	caps bool
	// elided marks Catalan elided articles and pronouns (l', d', m', s'...)
	// and enclitics ('m, 'ns, and English 's, 're...): they are grammar,
	// not words, so they do not count in the negation window.
	elided bool
	// elongated marks a word where a letter was repeated three times or
	// more ("goooood"); the run is cut to two letters in buf.
	elongated bool
}

// features counts the letters and word shapes that tell Catalan, Spanish
// and English apart; the tokenizer counts them in passing.
type features struct {
	enye      int // ñ: Spanish
	acuteA    int // á: Spanish (Catalan writes à)
	inverted  int // ¿ ¡: Spanish
	cedilla   int // ç: Catalan among the three
	geminate  int // l·l: Catalan
	grave     int // à è ò: Catalan
	diaeresis int // ï: Catalan
	elisions  int // l'home, d'espera: Catalan
	caClitics int // porta'ns, fes-ho written digue'ls: Catalan
	enClitics int // it's, we're, I'll: English
	negated   int // don't, isn't: English
}

// maxEmoticon bounds the chunks tried as emoticons; the longest one in the
// table is shorter.
const maxEmoticon = 16

// tokenize splits text into s.toks. Whitespace-separated chunks that are a
// known emoticon, a link or a mention are handled whole; the rest is split
// into words, emoji and clause breaks. Nothing here allocates once the
// scratch buffers have grown to the size of a typical mention.
func (s *scratch) tokenize(text string, emoticons map[string]struct{}, keepRaw bool) {
	s.reset(keepRaw)
	for i := 0; i < len(text); {
		r, size := decode(text, i)
		if unicode.IsSpace(r) {
			if r == '\n' || r == '\r' || r == 0x2028 || r == 0x2029 {
				s.brk()
			}
			i += size
			continue
		}
		j := i + size
		for j < len(text) {
			r, size := decode(text, j)
			if unicode.IsSpace(r) {
				break
			}
			j += size
		}
		s.chunk(text[i:j], emoticons)
		i = j
	}
}

func decode(s string, i int) (rune, int) {
	if c := s[i]; c < utf8.RuneSelf {
		return rune(c), 1
	}
	return utf8.DecodeRuneInString(s[i:])
}

// chunk tokenizes one whitespace-separated piece of text.
func (s *scratch) chunk(c string, emoticons map[string]struct{}) {
	if hasPrefixFold(c, "http://") || hasPrefixFold(c, "https://") || hasPrefixFold(c, "www.") {
		return
	}
	if s.emoticon(c, emoticons) {
		return
	}
	for i := 0; i < len(c); {
		r, size := decode(c, i)
		next := i + size
		switch {
		case r < utf8.RuneSelf && isASCIIAlnum(byte(r)):
			s.letter(r)
		case isApostrophe(r):
			s.apostrophe(c, next)
		case r == '·' || r == '‧' || r == 0x0387 || r == '•' || r == '∙':
			// l·l is one letter of Catalan spelled with a middle dot:
			// cancel·lat is looked up as cancellat, however it was typed.
			if s.beforeL(c, next) {
				s.feat.geminate++
			} else {
				s.endWord()
			}
		case r == '.':
			// col.lapse: the same letter typed with a full stop.
			if !s.geminateDot(c, next) {
				s.endWord()
				s.brk()
			}
		case r == '!':
			s.exclaims++
			s.endWord()
			s.brk()
		case r == '?':
			s.questions++
			s.endWord()
			s.brk()
		case r == '¡' || r == '¿':
			s.feat.inverted++
			s.endWord()
			s.brk()
		case r == ',' || r == ';' || r == ':' || r == '…' || r == '–' || r == '—':
			s.endWord()
			s.brk()
		case r == '@' || r == '＠':
			// A mention names an account, whose name may hold words
			// ("@BestFlights") that say nothing about the sentiment.
			s.endWord()
			for next < len(c) {
				r, size := decode(c, next)
				if r != '_' && !unicode.IsLetter(r) && !unicode.IsDigit(r) {
					break
				}
				next += size
			}
		case r >= utf8.RuneSelf:
			switch {
			case unicode.IsLetter(r) || unicode.IsDigit(r):
				s.letter(r)
			case unicode.Is(unicode.Mn, r):
				// A combining accent (decomposed text) is joined to its
				// letter, as if the text had been typed precomposed.
				s.combine(r)
			case ignorable(r):
			case isSymbol(r):
				s.endWord()
				s.symbol(c[i:next])
			default:
				s.endWord()
			}
		default:
			// Hyphens, slashes, quotes, hashes and the rest separate
			// words without ending the clause.
			s.endWord()
		}
		i = next
	}
	s.endWord()
}

// emoticon reports whether chunk c is an emoticon, ignoring case and
// trailing sentence punctuation, and if so adds it as a symbol token.
func (s *scratch) emoticon(c string, set map[string]struct{}) bool {
	if len(c) > maxEmoticon || len(set) == 0 {
		return false
	}
	var b [maxEmoticon]byte
	n := copy(b[:], c)
	for k := range n {
		if 'A' <= b[k] && b[k] <= 'Z' {
			b[k] += 'a' - 'A'
		}
	}
	for n > 0 {
		if _, ok := set[string(b[:n])]; ok {
			for _, ch := range b[n:len(c)] {
				switch ch {
				case '!':
					s.exclaims++
				case '?':
					s.questions++
				}
			}
			s.symbol(string(b[:n]))
			return true
		}
		switch b[n-1] {
		case '.', ',', '!', '?':
			n--
		default:
			return false
		}
	}
	return false
}

func (s *scratch) startWord() {
	s.inWord = true
	s.wStart = int32(len(s.buf))
	s.rStart = int32(len(s.raw))
	s.upper, s.lower, s.letters = 0, 0, 0
	s.last, s.run = -1, 0
	s.elongated, s.clitic = false, false
}

// letter adds a letter or digit to the current word: lower-cased and, for
// vowels, without accent in buf; lower-cased only in raw.
func (s *scratch) letter(r rune) {
	if !s.inWord {
		s.startWord()
	}
	lower, upper := r, false
	if r < utf8.RuneSelf {
		if 'A' <= r && r <= 'Z' {
			lower, upper = r+'a'-'A', true
		}
	} else if unicode.IsUpper(r) {
		lower, upper = unicode.ToLower(r), true
	}
	var isLetter bool
	if r < utf8.RuneSelf {
		isLetter = r > '9'
		if isLetter && !upper {
			s.lower++
		}
	} else {
		isLetter = !unicode.IsDigit(r)
		if isLetter && !upper && unicode.IsLower(r) {
			s.lower++
		}
	}
	if isLetter {
		s.letters++
		if upper {
			s.upper++
		}
	}
	if s.keepRaw {
		s.raw = utf8.AppendRune(s.raw, lower)
	}
	if lower >= 0xC0 {
		s.countLetter(lower)
	}
	f := fold(lower)
	if !isLetter {
		s.last, s.run = -1, 0
	} else if f == s.last {
		s.run++
		if s.run >= 3 {
			s.elongated = true
			return
		}
	} else {
		s.last, s.run = f, 1
	}
	if f < utf8.RuneSelf {
		s.buf = append(s.buf, byte(f))
	} else {
		s.buf = utf8.AppendRune(s.buf, f)
	}
}

// combine applies combining mark m to the last letter of the word: it
// matters for ñ and ç, which are letters of their own, and for the raw
// text language detection reads. Vowel accents fold away in buf anyway.
func (s *scratch) combine(m rune) {
	if !s.inWord || len(s.buf) == int(s.wStart) {
		return
	}
	last := rune(s.buf[len(s.buf)-1])
	c, ok := composed[[2]rune{last, m}]
	if !ok {
		return
	}
	s.countLetter(c)
	if f := fold(c); f != last {
		s.buf = utf8.AppendRune(s.buf[:len(s.buf)-1], f)
	}
	if s.keepRaw && len(s.raw) > int(s.rStart) && rune(s.raw[len(s.raw)-1]) == last {
		s.raw = utf8.AppendRune(s.raw[:len(s.raw)-1], c)
	}
}

// composed maps a lower-case letter and a combining mark to the letter the
// three languages write with it.
var composed = map[[2]rune]rune{
	{'a', 0x300}: 'à', {'e', 0x300}: 'è', {'o', 0x300}: 'ò',
	{'a', 0x301}: 'á', {'e', 0x301}: 'é', {'i', 0x301}: 'í', {'o', 0x301}: 'ó', {'u', 0x301}: 'ú',
	{'i', 0x308}: 'ï', {'u', 0x308}: 'ü',
	{'n', 0x303}: 'ñ', {'c', 0x327}: 'ç',
}

func (s *scratch) countLetter(r rune) {
	switch r {
	case 'ñ':
		s.feat.enye++
	case 'á':
		s.feat.acuteA++
	case 'ç':
		s.feat.cedilla++
	case 'à', 'è', 'ò':
		s.feat.grave++
	case 'ï':
		s.feat.diaeresis++
	}
}

// fold removes the accent of a lower-case Latin vowel, so that "atención"
// and "atencion" are the same key. ñ and ç are letters of their own and
// keep their identity: año is not ano.
func fold(r rune) rune {
	if r < 0xE0 || r > 0xFF {
		return r
	}
	return foldTable[r-0xE0]
}

var foldTable = [32]rune{
	'a', 'a', 'a', 'a', 'a', 'a', 'æ', 'ç', // à á â ã ä å æ ç
	'e', 'e', 'e', 'e', 'i', 'i', 'i', 'i', // è é ê ë ì í î ï
	'ð', 'ñ', 'o', 'o', 'o', 'o', 'o', '÷', // ð ñ ò ó ô õ ö ÷
	'ø', 'u', 'u', 'u', 'u', 'y', 'þ', 'y', // ø ù ú û ü ý þ ÿ
}

// apostrophe handles ' and its typographic variants inside a word:
// Catalan elisions (l'atenció, d'espera, s'ha) end a token of their own,
// English n't stays in its word (don't is a negator as written), and other
// clitics (it's, porta'ns) become tokens that start with the apostrophe.
func (s *scratch) apostrophe(c string, next int) {
	if !s.inWord {
		return // an opening quote
	}
	letterNext := next < len(c) && isLetterAt(c, next)
	w := s.buf[s.wStart:]
	if !s.clitic && isElision(w) {
		s.appendApostrophe()
		s.endWord()
		if letterNext {
			s.feat.elisions++
		}
		return
	}
	if !letterNext {
		s.endWord()
		return
	}
	if (c[next] == 't' || c[next] == 'T') && len(w) > 0 && w[len(w)-1] == 'n' &&
		(next+1 == len(c) || !isLetterAt(c, next+1)) {
		s.appendApostrophe()
		return
	}
	s.endWord()
	s.startWord()
	s.clitic = true
	s.appendApostrophe()
}

func (s *scratch) appendApostrophe() {
	s.buf = append(s.buf, '\'')
	if s.keepRaw {
		s.raw = append(s.raw, '\'')
	}
}

// isElision reports whether w is a word Catalan elides before a vowel.
func isElision(w []byte) bool {
	switch len(w) {
	case 1:
		switch w[0] {
		case 'l', 'd', 'm', 't', 's', 'n':
			return true
		}
	case 2:
		return w[0] == 'q' && w[1] == 'u'
	}
	return false
}

// beforeL reports whether a middle dot at c[next-1] sits between two l's.
func (s *scratch) beforeL(c string, next int) bool {
	return s.inWord && len(s.buf) > int(s.wStart) && s.buf[len(s.buf)-1] == 'l' &&
		next < len(c) && (c[next] == 'l' || c[next] == 'L')
}

// geminateDot reports whether a full stop at c[next-1] is a middle dot typed
// as a stop: vowel, l, stop, l, vowel (col.lapse, il.legal), which no
// sentence break looks like.
func (s *scratch) geminateDot(c string, next int) bool {
	n := len(s.buf)
	if !s.beforeL(c, next) || n-int(s.wStart) < 2 || !isVowel(rune(s.buf[n-2])) || next+1 >= len(c) {
		return false
	}
	r, _ := decode(c, next+1)
	return isVowel(fold(unicode.ToLower(r)))
}

func isVowel(r rune) bool {
	switch r {
	case 'a', 'e', 'i', 'o', 'u':
		return true
	}
	return false
}

// endWord closes the current word, if any, into a token.
func (s *scratch) endWord() {
	if !s.inWord {
		return
	}
	s.inWord = false
	t := token{
		start: s.wStart, end: int32(len(s.buf)),
		rawStart: s.rStart, rawEnd: int32(len(s.raw)),
		kind: tokWord, elongated: s.elongated,
	}
	w := s.buf[t.start:t.end]
	switch {
	case len(w) == 0:
		return
	case s.clitic:
		t.elided = true
		if len(w) == 1 {
			return // a lone apostrophe
		}
		s.countClitic(w)
	case w[len(w)-1] == '\'':
		t.elided = true
	}
	if s.letters >= 2 && !t.elided {
		s.words++
		if s.lower == 0 && s.upper >= 2 {
			t.caps = true
			s.capsWords++
		}
	}
	if hasNegatedSuffix(w) {
		s.feat.negated++
	}
	s.toks = append(s.toks, t)
}

func (s *scratch) countClitic(w []byte) {
	switch string(w) {
	case "'s", "'re", "'ve", "'ll", "'m", "'d":
		s.feat.enClitics++
	case "'ns", "'ls", "'l", "'n", "'hi", "'ho", "'t", "'us", "'lo", "'la", "'les":
		s.feat.caClitics++
	}
}

// hasNegatedSuffix reports whether w ends in n't (don't, isn't, won't).
func hasNegatedSuffix(w []byte) bool {
	n := len(w)
	return n >= 4 && w[n-3] == 'n' && w[n-2] == '\'' && w[n-1] == 't'
}

// symbol adds an emoji or emoticon token.
func (s *scratch) symbol(text string) {
	start := int32(len(s.buf))
	s.buf = append(s.buf, text...)
	s.toks = append(s.toks, token{start: start, end: int32(len(s.buf)), kind: tokSymbol})
}

// brk adds a clause break, unless the text has none before it yet or
// already ends in one.
func (s *scratch) brk() {
	s.endWord()
	if n := len(s.toks); n > 0 && s.toks[n-1].kind != tokBreak {
		s.toks = append(s.toks, token{kind: tokBreak})
	}
}

func isASCIIAlnum(c byte) bool {
	return 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9'
}

func isLetterAt(c string, i int) bool {
	r, _ := decode(c, i)
	return unicode.IsLetter(r)
}

func isApostrophe(r rune) bool {
	switch r {
	case '\'', '’', '‘', 'ʼ', '`', '´':
		return true
	}
	return false
}

// ignorable runes modify an emoji without changing what it says: variation
// selectors, the zero-width joiner, skin tones, keycap and tag characters.
func ignorable(r rune) bool {
	return r == 0xFE0F || r == 0xFE0E || r == 0x200D || r == 0x20E3 ||
		(r >= 0x1F3FB && r <= 0x1F3FF) || (r >= 0xE0020 && r <= 0xE007F)
}

// isSymbol reports whether r is an emoji or another pictograph, each of
// which is a token of its own.
func isSymbol(r rune) bool {
	return (r >= 0x1F000 && r <= 0x1FAFF) || unicode.Is(unicode.So, r)
}

func hasPrefixFold(s, prefix string) bool {
	if len(s) < len(prefix) {
		return false
	}
	for i := range len(prefix) {
		c := s[i]
		if 'A' <= c && c <= 'Z' {
			c += 'a' - 'A'
		}
		if c != prefix[i] {
			return false
		}
	}
	return true
}
