package contentcheck

import (
	"strings"
	"unicode/utf8"

	"github.com/rivo/uniseg"
	"golang.org/x/text/unicode/norm"
)

// Limit is what one platform accepts in a post. A zero field means the
// platform sets no such limit, or none a post from cmo can reach.
type Limit struct {
	// Name is how messages call the platform.
	Name string `json:"name"`
	// MaxChars is the longest text in the platform's own unit, the one
	// Length counts in: weighted characters on X, graphemes on Mastodon and
	// Bluesky, code points elsewhere.
	MaxChars int `json:"max_chars,omitempty"`
	// MaxBytes caps the UTF-8 size of the text where the platform's record
	// format has a byte limit besides the visible one.
	MaxBytes int `json:"max_bytes,omitempty"`
	// CountsURLAs is what one link weighs whatever its length, on platforms
	// that count a placeholder instead of the link; 0: links count as
	// written.
	CountsURLAs int `json:"counts_url_as,omitempty"`
	// MinMedia is set where a post cannot be text alone.
	MinMedia int `json:"min_media,omitempty"`
	// MaxMedia is how many images or videos one post may carry.
	MaxMedia int `json:"max_media,omitempty"`
	// MaxHashtags is how many hashtags the platform accepts in one post.
	MaxHashtags int `json:"max_hashtags,omitempty"`

	unit unit
}

// unit is how a platform counts text.
type unit int

const (
	codePoints unit = iota
	graphemes
	// xWeighted is twitter-text's weighted length: see xWeight.
	xWeighted
)

// urlWeight is the length X gives every link (t.co wraps them all) and the
// placeholder Mastodon counts instead of a link.
const urlWeight = 23

// limits is each platform's table. The numbers come from the platforms'
// own code and API documentation, named on each entry; where a platform
// server lets its admin change a number (Mastodon), the entry has the
// default.
var limits = map[string]Limit{
	// twitter-text's config/v3.json: maxWeightedTweetLength 280, scale 100,
	// defaultWeight 200, transformedURLLength 23, emojiParsingEnabled; the
	// weight-100 ranges are in xWeight. Media: POST /2/tweets takes at most
	// 4 media_ids.
	"x": {Name: "X", MaxChars: 280, CountsURLAs: urlWeight, MaxMedia: 4, unit: xWeighted},

	// The app.bsky.feed.post lexicon: text has maxGraphemes 300 and
	// maxLength 3000 (bytes); app.bsky.embed.images holds at most 4 images.
	// Links count as written: the text carries the URL itself (the official
	// app shortens the visible text and keeps the URL in a facet, which cmo
	// does not do for drafted content).
	"bluesky": {Name: "Bluesky", MaxChars: 300, MaxBytes: 3000, MaxMedia: 4, unit: graphemes},

	// Mastodon's StatusLengthValidator: MAX_CHARS 500 grapheme clusters,
	// every http(s) link replaced by a 23-character placeholder, a remote
	// mention counted as its local part. MAX_MEDIA_ATTACHMENTS is 4.
	"mastodon": {Name: "Mastodon", MaxChars: 500, CountsURLAs: urlWeight, MaxMedia: 4, unit: graphemes},

	// The sandbox stands in for Mastodon (platforms/sandbox.MaxChars is
	// Mastodon's default), so a campaign checked against it is checked as
	// it would be there.
	"sandbox": {Name: "the sandbox", MaxChars: 500, CountsURLAs: urlWeight, MaxMedia: 4, unit: graphemes},

	// LinkedIn's Posts API: commentary up to 3000 characters; a MultiImage
	// post has 2 to 20 images.
	"linkedin": {Name: "LinkedIn", MaxChars: 3000, MaxMedia: 20},

	// Facebook cuts a post's text at 63,206 characters. The Graph API
	// documents no cap on attached_media; 10 is cmo's own, the most a feed
	// story lays out before it folds the rest away.
	"facebook": {Name: "Facebook", MaxChars: 63206, MaxMedia: 10},

	// The Instagram Graph API's IG Media: caption at most 2,200 characters
	// and 30 hashtags; a carousel has at most 10 children; there is no
	// text-only post, so at least one image or video.
	"instagram": {Name: "Instagram", MaxChars: 2200, MinMedia: 1, MaxMedia: 10, MaxHashtags: 30},

	// A webhook receives whatever cmo sends it.
	"webhook": {Name: "the webhook"},
}

// Limits returns a platform's limits, so that an editor can show the same
// numbers the check step enforces. ok is false for a platform cmo does not
// know.
func Limits(platform string) (Limit, bool) {
	l, ok := limits[platform]
	return l, ok
}

// Length is the text's length as the platform counts it, which is what
// its limit is about: on X a link weighs 23 and CJK or an emoji 2; on
// Mastodon and the sandbox a link weighs 23 and an emoji sequence 1; on
// Bluesky every grapheme counts once, links included. Other platforms and
// unknown ones count code points.
func Length(platform, text string) int {
	n, _ := measure(limits[platform], text, -1)
	return n
}

// measure counts text in l's unit. With ceiling >= 0 it also returns the
// byte offset of the first unit that takes the count past it (-1 if none), so
// that a finding can point at where the platform would cut.
func measure(l Limit, text string, ceiling int) (count, over int) {
	over = -1
	var links, silent []span // silent: parts the platform does not count
	if l.CountsURLAs > 0 {
		for _, t := range scan(text) {
			switch {
			case t.kind == kindLink && (t.scheme || l.unit == xWeighted && !t.weak):
				links = append(links, span{t.start, t.end})
			case t.kind == kindMention && l.unit == graphemes:
				// Mastodon counts a remote mention @user@server as @user.
				if at := strings.IndexByte(text[t.start+1:t.end], '@'); at >= 0 {
					silent = append(silent, span{t.start + 1 + at, t.end})
				}
			}
		}
	}
	add := func(at, w int) {
		count += w
		if ceiling >= 0 && over < 0 && count > ceiling {
			over = at
		}
	}
	state := -1
	for i := 0; i < len(text); {
		// <= rather than ==: a grapheme cluster may run over an entity's
		// start when the text glues a combining mark to it.
		if len(links) > 0 && links[0].start <= i {
			add(links[0].start, l.CountsURLAs)
			i = max(i, links[0].end)
			links = links[1:]
			state = -1
			continue
		}
		if len(silent) > 0 && silent[0].start <= i {
			i = max(i, silent[0].end)
			silent = silent[1:]
			state = -1
			continue
		}
		var cluster string
		cluster, _, _, state = uniseg.FirstGraphemeClusterInString(text[i:], state)
		switch l.unit {
		case graphemes:
			add(i, 1)
		case xWeighted:
			add(i, xClusterWeight(cluster))
		default:
			add(i, utf8.RuneCountInString(cluster))
		}
		i += len(cluster)
	}
	return count, over
}

// span is a byte range [start, end) of the text.
type span struct{ start, end int }

// xClusterWeight is what one grapheme cluster weighs on X. twitter-text
// normalises to NFC before counting, and with emoji parsing on an emoji
// sequence (skin tone, ZWJ family, flag, keycap) weighs 2 however many
// code points it has.
func xClusterWeight(cluster string) int {
	if isEmojiSequence(cluster) {
		return 2
	}
	w := 0
	for _, r := range norm.NFC.String(cluster) {
		w += xWeight(r)
	}
	return w
}

// xWeight is twitter-text v3's weight for a code point, divided by its
// scale: 1 in the ranges the config lists (Latin to Georgian, general
// punctuation spaces, dashes and quotes, primes), 2 for everything else,
// which is how CJK counts double.
func xWeight(r rune) int {
	switch {
	case r <= 0x10FF,
		r >= 0x2000 && r <= 0x200D,
		r >= 0x2010 && r <= 0x201F,
		r >= 0x2032 && r <= 0x2037:
		return 1
	}
	return 2
}

// isEmojiSequence reports a cluster of several code points held together
// by emoji machinery. A single-code-point emoji needs no special case: it
// lies outside the weight-1 ranges and weighs 2 anyway.
func isEmojiSequence(cluster string) bool {
	if utf8.RuneCountInString(cluster) < 2 {
		return false
	}
	for _, r := range cluster {
		switch {
		case r == 0xFE0F, // emoji presentation selector
			r == 0x200D,                  // zero-width joiner
			r == 0x20E3,                  // combining keycap
			r >= 0x1F3FB && r <= 0x1F3FF, // skin tones
			r >= 0x1F1E6 && r <= 0x1F1FF, // regional indicators (flags)
			r >= 0xE0020 && r <= 0xE007F: // tag characters (subdivision flags)
			return true
		}
	}
	return false
}
