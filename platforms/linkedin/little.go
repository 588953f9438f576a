package linkedin

import (
	"regexp"
	"strings"
	"unicode"
)

// littleReserved are the characters LinkedIn's "little" text format gives a
// meaning to in a post's commentary (mentions, hashtag templates, markup).
// Unescaped, LinkedIn accepts the post and silently cuts its text at the
// first one, so a post saying "results (preliminary)" would go out as
// "results ".
const littleReserved = `\|{}@[]()<>#*_~`

var linkPattern = regexp.MustCompile(`(?i)\bhttps?://[^\s]+`)

// escapeLittle turns plain text into little text that reads the same.
// Links are left alone so that LinkedIn still recognises them, and a '#'
// that starts a word stays a hashtag, as it would when typed on LinkedIn.
func escapeLittle(s string) string {
	var b strings.Builder
	last := 0
	for _, loc := range linkPattern.FindAllStringIndex(s, -1) {
		escapeInto(&b, s[last:loc[0]])
		b.WriteString(s[loc[0]:loc[1]])
		last = loc[1]
	}
	escapeInto(&b, s[last:])
	return b.String()
}

func escapeInto(b *strings.Builder, s string) {
	rs := []rune(s)
	for i, r := range rs {
		if r == '#' && i+1 < len(rs) && (unicode.IsLetter(rs[i+1]) || unicode.IsDigit(rs[i+1])) {
			b.WriteRune(r)
			continue
		}
		if strings.ContainsRune(littleReserved, r) {
			b.WriteByte('\\')
		}
		b.WriteRune(r)
	}
}

// hashtagTemplate is how LinkedIn may hand back a hashtag: {hashtag|\#|word}.
var hashtagTemplate = regexp.MustCompile(`\{hashtag\|\\?#\|([^}]*)\}`)

// unescapeLittle reads commentary back as plain text, so a post can be
// recognised by the text it was published with.
func unescapeLittle(s string) string {
	s = hashtagTemplate.ReplaceAllString(s, "#$1")
	var b strings.Builder
	rs := []rune(s)
	for i := 0; i < len(rs); i++ {
		if rs[i] == '\\' && i+1 < len(rs) && strings.ContainsRune(littleReserved, rs[i+1]) {
			i++
		}
		b.WriteRune(rs[i])
	}
	return b.String()
}
