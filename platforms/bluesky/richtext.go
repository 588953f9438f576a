package bluesky

import (
	"context"
	"net/url"
	"regexp"
	"sort"
	"strings"
	"unicode"

	"github.com/rivo/uniseg"
)

// Facet feature types (lexicon app.bsky.richtext.facet).
const (
	featureLink    = "app.bsky.richtext.facet#link"
	featureMention = "app.bsky.richtext.facet#mention"
	featureTag     = "app.bsky.richtext.facet#tag"
)

// facet marks a range of the post's text. Ranges are byte offsets into
// the UTF-8 text, start inclusive, end exclusive: an emoji or an accent
// before a link moves the link's offsets by its bytes, not by one.
type facet struct {
	Index    byteSlice `json:"index"`
	Features []feature `json:"features"`
}

type byteSlice struct {
	ByteStart int `json:"byteStart"`
	ByteEnd   int `json:"byteEnd"`
}

type feature struct {
	Type string `json:"$type"`
	URI  string `json:"uri,omitempty"`
	DID  string `json:"did,omitempty"`
	Tag  string `json:"tag,omitempty"`
}

type spanKind int

const (
	spanLink spanKind = iota
	spanMention
	spanTag
)

// span is a link, mention or hashtag found in the text, by byte offsets.
type span struct {
	start, end int
	kind       spanKind
	value      string // the URL, the handle without "@", the tag without "#"
}

// Go strings are UTF-8 and regexp reports byte offsets, which is exactly
// what facets index by.
var (
	linkRE    = regexp.MustCompile(`(?:^|[\s(])(https?://[^\s]+)`)
	mentionRE = regexp.MustCompile(`(?:^|[\s(])(@[a-zA-Z0-9](?:[a-zA-Z0-9.-]*[a-zA-Z0-9])?)`)
	tagRE     = regexp.MustCompile(`(?:^|\s)(#[^\d\s]\S*)`)
	labelRE   = regexp.MustCompile(`^[a-zA-Z0-9](?:[a-zA-Z0-9-]{0,61}[a-zA-Z0-9])?$`)
)

// maxTagGraphemes is the lexicon's limit on a tag.
const maxTagGraphemes = 64

// detect finds the links (http and https only), mentions and hashtags of
// a post, as the Bluesky app's rich-text parser does: a token starts the
// text or follows a space (or an opening parenthesis), and trailing
// punctuation is not part of it.
func detect(text string) []span {
	var spans []span
	for _, m := range linkRE.FindAllStringSubmatchIndex(text, -1) {
		start, end := m[2], m[3]
		uri := text[start:end]
		for len(uri) > 0 {
			last := uri[len(uri)-1]
			if strings.IndexByte(".,;:!?'\"", last) >= 0 || (last == ')' && !strings.Contains(uri, "(")) {
				uri = uri[:len(uri)-1]
				continue
			}
			break
		}
		if u, err := url.Parse(uri); err != nil || u.Host == "" || !strings.Contains(u.Host, ".") && !strings.HasPrefix(u.Host, "localhost") {
			continue
		}
		spans = append(spans, span{start: start, end: start + len(uri), kind: spanLink, value: uri})
	}
	for _, m := range mentionRE.FindAllStringSubmatchIndex(text, -1) {
		start, end := m[2], m[3]
		handle := text[start+1 : end]
		if !isHandle(handle) {
			continue
		}
		spans = append(spans, span{start: start, end: end, kind: spanMention, value: handle})
	}
	for _, m := range tagRE.FindAllStringSubmatchIndex(text, -1) {
		start, end := m[2], m[3]
		tag := strings.TrimRightFunc(text[start+1:end], unicode.IsPunct)
		if tag == "" || uniseg.GraphemeClusterCount(tag) > maxTagGraphemes {
			continue
		}
		spans = append(spans, span{start: start, end: start + 1 + len(tag), kind: spanTag, value: tag})
	}
	// Facets must not overlap: keep the first of any overlapping pair.
	sort.SliceStable(spans, func(i, j int) bool { return spans[i].start < spans[j].start })
	out := spans[:0]
	for _, s := range spans {
		if len(out) > 0 && s.start < out[len(out)-1].end {
			continue
		}
		out = append(out, s)
	}
	return out
}

// isHandle checks handle syntax (atproto.com/specs/handle): dot-separated
// labels, at least two, the last one not starting with a digit.
func isHandle(h string) bool {
	labels := strings.Split(h, ".")
	if len(h) > 253 || len(labels) < 2 {
		return false
	}
	for _, l := range labels {
		if !labelRE.MatchString(l) {
			return false
		}
	}
	tld := labels[len(labels)-1]
	return tld[0] < '0' || tld[0] > '9'
}

// resolver finds the DID behind a handle; ok is false when the handle
// does not resolve, err is for failures that might pass.
type resolver func(ctx context.Context, handle string) (did string, ok bool, err error)

// facets builds the post's facets. A mention whose handle does not
// resolve gets no facet and stays plain text, as the Bluesky app does.
func facets(ctx context.Context, text string, resolve resolver) ([]facet, error) {
	var out []facet
	dids := map[string]string{}
	for _, s := range detect(text) {
		f := facet{Index: byteSlice{ByteStart: s.start, ByteEnd: s.end}}
		switch s.kind {
		case spanLink:
			f.Features = []feature{{Type: featureLink, URI: s.value}}
		case spanTag:
			f.Features = []feature{{Type: featureTag, Tag: s.value}}
		case spanMention:
			did, seen := dids[s.value]
			if !seen {
				var ok bool
				var err error
				did, ok, err = resolve(ctx, s.value)
				if err != nil {
					return nil, err
				}
				if !ok {
					did = ""
				}
				dids[s.value] = did
			}
			if did == "" {
				continue
			}
			f.Features = []feature{{Type: featureMention, DID: did}}
		}
		out = append(out, f)
	}
	return out, nil
}
