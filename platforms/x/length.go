package x

import (
	"regexp"
	"strings"
)

// MaxLength is how long a post may be, in X's weighted characters.
const MaxLength = 280

// urlWeight is what any URL counts for, whatever its length: X wraps every
// link in a t.co address of this size.
const urlWeight = 23

// urlPattern finds the links X shortens. Bare domains ("example.com") are
// also links to X, but recognising them needs the list of top-level
// domains; they are counted by their letters, which for most domains is
// less than 23 and so never rejects a post X would accept.
var urlPattern = regexp.MustCompile(`(?i)\b(?:https?://|www\.)[^\s<>"]+`)

// WeightedLength counts text the way X does before accepting a post:
// Latin letters, punctuation and common symbols weigh 1, other characters
// (CJK, emoji) weigh 2, an emoji sequence counts as one emoji, and every
// URL counts 23. Checking before the call turns an over-long post into a
// clear permanent error instead of a rejected request.
func WeightedLength(text string) int {
	n, last := 0, 0
	for _, loc := range urlPattern.FindAllStringIndex(text, -1) {
		end := loc[0] + len(trimURL(text[loc[0]:loc[1]]))
		n += weighRunes(text[last:loc[0]]) + urlWeight
		last = end
	}
	return n + weighRunes(text[last:])
}

// trimURL drops punctuation that ends a sentence rather than the link, as
// X's parser does: "see https://example.com." links without the full stop.
func trimURL(u string) string {
	return strings.TrimRight(u, ".,:;!?'\")]}")
}

// weighRunes applies X's character weights to text without URLs.
func weighRunes(s string) int {
	n := 0
	joined := false   // the previous rune was a zero-width joiner
	regional := false // an unpaired regional indicator came before
	for _, r := range s {
		switch {
		case r == 0x200D:
			// The joiner glues two emoji into one: neither it nor the
			// emoji after it adds to the count.
			joined = true
			continue
		case joined:
			joined = false
			continue
		case r >= 0xFE00 && r <= 0xFE0F, // variation selectors
			r >= 0x1F3FB && r <= 0x1F3FF, // skin tones
			r >= 0xE0020 && r <= 0xE007F, // tag sequences (subdivision flags)
			r == 0x20E3:                  // keycap
			continue
		case r >= 0x1F1E6 && r <= 0x1F1FF:
			// Two regional indicators make one flag.
			if regional {
				regional = false
				continue
			}
			regional = true
			n += 2
			continue
		}
		regional = false
		n += weight(r)
	}
	return n
}

// weight is twitter-text's configuration: four ranges weigh 1, the rest 2.
func weight(r rune) int {
	switch {
	case r <= 0x10FF,
		r >= 0x2000 && r <= 0x200D,
		r >= 0x2010 && r <= 0x201F,
		r >= 0x2032 && r <= 0x2037:
		return 1
	}
	return 2
}
