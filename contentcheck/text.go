package contentcheck

import (
	"errors"
	"net"
	"net/url"
	"strings"
	"unicode"
	"unicode/utf8"
)

// tokenKind is what a stretch of a post is, for the rules that treat links,
// tags and addresses differently from words.
type tokenKind int

const (
	kindWord tokenKind = iota
	kindLink
	kindEmail
	kindHashtag
	kindMention
)

// token is a byte range [start, end) of the text.
type token struct {
	kind       tokenKind
	start, end int
	// scheme marks a link written with http: or https:, the only kind
	// Mastodon counts as a link and the link rule validates.
	scheme bool
	// weak marks a bare two-label domain on a country-code TLD with no
	// path (example.es): X does not turn those into links, but they are
	// still no words to spell.
	weak bool
}

// scan splits text into the tokens the rules look at: links, e-mail
// addresses, hashtags, mentions and words. Everything else (spaces,
// punctuation, emoji) is left out.
func scan(text string) []token {
	var out []token
	for i := 0; i < len(text); {
		r, size := utf8.DecodeRuneInString(text[i:])
		if boundaryBefore(text, i) {
			if t, ok := linkAt(text, i); ok {
				out = append(out, t)
				i = t.end
				continue
			}
			if isTagSign(r) {
				mention := r == '@' || r == '＠'
				if end := tagEnd(text, i+size, mention); end > i+size {
					kind := kindHashtag
					if mention {
						kind = kindMention
					}
					out = append(out, token{kind: kind, start: i, end: end})
					i = end
					continue
				}
			}
		}
		if isWordRune(r) {
			end := chunkEnd(text, i)
			if strings.ContainsRune(text[i:end], '@') {
				out = append(out, token{kind: kindEmail, start: i, end: end})
			} else {
				out = appendWords(out, text, i, end)
			}
			i = end
			continue
		}
		i += size
	}
	return out
}

// isWordRune is what words are made of. Marks are in so that text typed
// with combining accents (decomposed) still reads as one word.
func isWordRune(r rune) bool {
	return unicode.IsLetter(r) || unicode.IsNumber(r) || unicode.IsMark(r)
}

func isTagSign(r rune) bool { return r == '#' || r == '＃' || r == '@' || r == '＠' }

// isApostrophe covers the typewriter apostrophe and the typographic ones
// that phones and word processors put in its place.
func isApostrophe(r rune) bool { return r == '\'' || r == '’' || r == 'ʼ' || r == '＇' }

// isJoiner is a rune that belongs inside a word when a letter follows it:
// apostrophes (l'àvia, don't), the Catalan middle dot (col·lecció),
// hyphens (fer-ho, co-founder), and the dots and at signs of domains and
// addresses, which scan sorts out afterwards.
func isJoiner(r rune) bool {
	return isApostrophe(r) || r == '·' || r == '-' || r == '‐' || r == '‑' || r == '.' || r == '@' || r == '_'
}

func runeBefore(text string, i int) rune {
	if i <= 0 {
		return -1
	}
	r, _ := utf8.DecodeLastRuneInString(text[:i])
	return r
}

func runeAt(text string, i int) rune {
	if i >= len(text) {
		return -1
	}
	r, _ := utf8.DecodeRuneInString(text[i:])
	return r
}

// boundaryBefore reports whether a link or tag may start at i: not in the
// middle of a word, an address, a path or an HTML entity (&#39;).
func boundaryBefore(text string, i int) bool {
	r := runeBefore(text, i)
	return r < 0 || !(isWordRune(r) || strings.ContainsRune("_@#/&", r))
}

// chunkEnd is where the word-like run starting at i ends: word runes and
// joiners that have a word rune after them.
func chunkEnd(text string, i int) int {
	for i < len(text) {
		r, size := utf8.DecodeRuneInString(text[i:])
		if isWordRune(r) {
			i += size
			continue
		}
		if r == '.' && (hasPrefixFold(text[i+1:], "http:") || hasPrefixFold(text[i+1:], "https:")) {
			break // a link glued to the end of a sentence
		}
		if isJoiner(r) && isWordRune(runeAt(text, i+size)) {
			i += size
			continue
		}
		break
	}
	return i
}

// appendWords adds the words of the chunk text[start:end], split at dots
// (a missing space after a full stop, an abbreviation) except between two
// l's, where a dot stands in for the Catalan middle dot (col.lecció) and
// the word is kept whole so that spelling catches it.
func appendWords(out []token, text string, start, end int) []token {
	from := start
	for i := start; i < end; {
		r, size := utf8.DecodeRuneInString(text[i:])
		if r == '.' && !(isL(runeBefore(text, i)) && isL(runeAt(text, i+1))) {
			if i > from {
				out = append(out, token{kind: kindWord, start: from, end: i})
			}
			from = i + size
		}
		i += size
	}
	if end > from {
		out = append(out, token{kind: kindWord, start: from, end: end})
	}
	return out
}

func isL(r rune) bool { return r == 'l' || r == 'L' }

// tagEnd is where a hashtag or mention whose name starts at from ends;
// from itself when there is no name. A mention may carry its server
// (@user@example.social), and a hashtag needs a letter, as on X and
// Instagram, so "#1" is not one.
func tagEnd(text string, from int, mention bool) int {
	i := from
	letter := false
	name := func() {
		for i < len(text) {
			r, size := utf8.DecodeRuneInString(text[i:])
			if isWordRune(r) || r == '_' {
				letter = letter || unicode.IsLetter(r)
				i += size
				continue
			}
			if mention && (r == '.' || r == '-') && isWordRune(runeAt(text, i+size)) {
				i += size
				continue
			}
			break
		}
	}
	name()
	if !letter && !mention {
		return from
	}
	if mention && i > from && runeAt(text, i) == '@' && isWordRune(runeAt(text, i+1)) {
		i++
		name()
	}
	return i
}

// linkAt finds a link starting at i: one written with http: or https:
// (well formed or not, so the link rule can judge it), one starting with
// www., or a bare domain on a TLD common in cmo's markets (example.com,
// example.cat/agenda), which X turns into links too.
func linkAt(text string, i int) (token, bool) {
	rest := text[i:]
	for _, p := range []string{"https:", "http:"} {
		if hasPrefixFold(rest, p) {
			return token{kind: kindLink, start: i, end: urlEnd(text, i, i+len(p)), scheme: true}, true
		}
	}
	if hasPrefixFold(rest, "www.") && isWordRune(runeAt(text, i+4)) {
		return token{kind: kindLink, start: i, end: urlEnd(text, i, i+4)}, true
	}
	labels, last, j := 0, "", i
	for {
		k := j
		for k < len(text) {
			r, size := utf8.DecodeRuneInString(text[k:])
			if !(isWordRune(r) || r == '-') {
				break
			}
			k += size
		}
		if k == j {
			return token{}, false
		}
		labels++
		last = text[j:k]
		j = k
		if runeAt(text, j) == '.' && isWordRune(runeAt(text, j+1)) {
			j++
			continue
		}
		break
	}
	tld := strings.ToLower(last)
	if labels < 2 || !(genericTLDs[tld] || countryTLDs[tld]) {
		return token{}, false
	}
	switch next := runeAt(text, j); {
	case next == '@' || next == '_' || isApostrophe(next):
		return token{}, false // an address, an identifier, a possessive
	case next == '/' || next == ':':
		return token{kind: kindLink, start: i, end: urlEnd(text, i, j)}, true
	}
	// twitter-text links a two-label domain on a country-code TLD only with
	// a path, except for .co and .tv.
	weak := labels == 2 && countryTLDs[tld] && tld != "co" && tld != "tv"
	return token{kind: kindLink, start: i, end: j, weak: weak}, true
}

// genericTLDs and countryTLDs are the TLDs a bare domain is recognised on.
// X knows every TLD; these are the ones cmo's posts are likely to name
// without http(s), and a domain on another TLD is only counted and spelt
// as words.
var genericTLDs = setOf("com", "net", "org", "info", "biz", "cat", "eus", "gal", "barcelona", "madrid",
	"dev", "app", "xyz", "online", "site", "shop", "store", "blog", "news", "tech", "cloud", "social", "media", "studio")

var countryTLDs = setOf("es", "ad", "fr", "pt", "it", "de", "uk", "us", "eu", "ie", "be", "nl", "ch", "at",
	"mx", "ar", "cl", "pe", "uy", "ve", "br", "co", "tv", "io", "ai", "me", "ly", "gl", "to", "fm")

func setOf(words ...string) map[string]bool {
	m := make(map[string]bool, len(words))
	for _, w := range words {
		m[w] = true
	}
	return m
}

func hasPrefixFold(s, prefix string) bool {
	return len(s) >= len(prefix) && strings.EqualFold(s[:len(prefix)], prefix)
}

// urlEnd is where a link starting at start ends: at white space or a
// character URLs do not contain, less the punctuation that closes the
// sentence around it ("see https://example.com/a)."), never before min.
func urlEnd(text string, start, min int) int {
	end := start
	for end < len(text) {
		r, size := utf8.DecodeRuneInString(text[end:])
		if unicode.IsSpace(r) || strings.ContainsRune("<>\"“”«»", r) {
			break
		}
		end += size
	}
	for end > min {
		r, size := utf8.DecodeLastRuneInString(text[:end])
		var open rune
		switch r {
		case ')':
			open = '('
		case ']':
			open = '['
		case '}':
			open = '{'
		}
		if open != 0 {
			if strings.Count(text[start:end], string(open)) >= strings.Count(text[start:end], string(r)) {
				break
			}
		} else if !strings.ContainsRune(".,;:!?'’*…¡¿", r) {
			break
		}
		end -= size
	}
	return end
}

// linkProblem says what is wrong with an http(s) link, or "" when it is
// well formed: a scheme followed by //, a host that is localhost, an IP
// address or a domain name with a dot, and nothing url.Parse refuses.
func linkProblem(raw string) string {
	if !hasPrefixFold(raw, "http://") && !hasPrefixFold(raw, "https://") {
		return "http: or https: must be followed by //"
	}
	u, err := url.Parse(raw)
	if err != nil {
		var ue *url.Error
		if errors.As(err, &ue) {
			err = ue.Err
		}
		return "it does not parse: " + err.Error()
	}
	host := u.Hostname()
	switch {
	case host == "":
		return "it has no host"
	case strings.EqualFold(host, "localhost") || net.ParseIP(host) != nil:
		return ""
	case !strings.Contains(host, "."):
		return "its host " + host + " has no dot"
	}
	labels := strings.Split(strings.TrimSuffix(host, "."), ".")
	for _, l := range labels {
		if l == "" || strings.HasPrefix(l, "-") || strings.HasSuffix(l, "-") {
			return "its host " + host + " is not a domain name"
		}
		for _, r := range l {
			if !(unicode.IsLetter(r) || unicode.IsDigit(r) || r == '-') {
				return "its host " + host + " is not a domain name"
			}
		}
	}
	if !strings.ContainsFunc(labels[len(labels)-1], unicode.IsLetter) {
		return "its host " + host + " is not a domain name"
	}
	return ""
}

// occurrences finds phrase in text ignoring case, with any run of white
// space matching any other and every apostrophe matching every other. A
// single word must stand alone (banning "spam" does not flag "spammer");
// a phrase of several words matches anywhere.
func occurrences(text, phrase string) []span {
	words := strings.Fields(phrase)
	if len(words) == 0 {
		return nil
	}
	whole := len(words) == 1
	var out []span
	for i := 0; i < len(text); {
		if whole && isInWord(runeBefore(text, i)) {
			_, size := utf8.DecodeRuneInString(text[i:])
			i += size
			continue
		}
		if end, ok := matchAt(text, i, words); ok && !(whole && isInWord(runeAt(text, end))) {
			out = append(out, span{start: i, end: end})
			i = end
			continue
		}
		_, size := utf8.DecodeRuneInString(text[i:])
		i += size
	}
	return out
}

// isInWord is a rune that makes a match part of a longer word. The middle
// dot is one: "col" does not stand alone in "col·lecció".
func isInWord(r rune) bool { return r >= 0 && (isWordRune(r) || r == '_' || r == '·') }

func matchAt(text string, i int, words []string) (int, bool) {
	for n, w := range words {
		if n > 0 {
			j := i
			for j < len(text) {
				r, size := utf8.DecodeRuneInString(text[j:])
				if !unicode.IsSpace(r) {
					break
				}
				j += size
			}
			if j == i {
				return 0, false
			}
			i = j
		}
		for _, want := range w {
			if i >= len(text) {
				return 0, false
			}
			r, size := utf8.DecodeRuneInString(text[i:])
			if !sameLetter(r, want) {
				return 0, false
			}
			i += size
		}
	}
	return i, true
}

func sameLetter(a, b rune) bool {
	if a == b || isApostrophe(a) && isApostrophe(b) {
		return true
	}
	for f := unicode.SimpleFold(a); f != a; f = unicode.SimpleFold(f) {
		if f == b {
			return true
		}
	}
	return false
}
