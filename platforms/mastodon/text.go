package mastodon

import (
	"strings"

	"golang.org/x/net/html"
)

// plainText recovers the text a status was written with from the HTML
// Mastodon renders it to, so that a read-back can compare it with the text
// cmo sent. Mastodon's formatter turns blank-line-separated paragraphs
// into <p>, line breaks into <br />, shortens the visible part of links
// with "invisible" and "ellipsis" spans (whose text, put together, is the
// whole URL), and shows a mention of @user@domain as "@user": mentions
// are rebuilt from the status's mention list, matched by profile URL.
func plainText(content string, mentions []mention) string {
	acctByURL := make(map[string]string, len(mentions))
	for _, m := range mentions {
		acctByURL[m.URL] = m.Acct
	}
	var b strings.Builder
	z := html.NewTokenizer(strings.NewReader(content))
	paragraphs := 0
	skipUntil := "" // tag whose end closes a part already written or left out
	depth := 0
	for {
		tt := z.Next()
		switch tt {
		case html.ErrorToken:
			return b.String()
		case html.TextToken:
			if skipUntil == "" {
				b.Write(z.Text())
			}
		case html.StartTagToken, html.SelfClosingTagToken:
			name, hasAttr := z.TagName()
			tag := string(name)
			if skipUntil != "" {
				if tag == skipUntil && tt == html.StartTagToken {
					depth++
				}
				continue
			}
			attrs := map[string]string{}
			for hasAttr {
				var k, v []byte
				k, v, hasAttr = z.TagAttr()
				attrs[string(k)] = string(v)
			}
			switch tag {
			case "br":
				b.WriteByte('\n')
			case "p":
				if hasClass(attrs["class"], "quote-inline") {
					// Added by the instance for quote posts, not written by the author.
					skipUntil, depth = "p", 1
					continue
				}
				if paragraphs > 0 {
					b.WriteString("\n\n")
				}
				paragraphs++
			case "a":
				if hasClass(attrs["class"], "mention") && !hasClass(attrs["class"], "hashtag") {
					if acct, ok := acctByURL[attrs["href"]]; ok && tt == html.StartTagToken {
						b.WriteString("@" + acct)
						skipUntil, depth = "a", 1
					}
				}
			}
		case html.EndTagToken:
			if skipUntil == "" {
				continue
			}
			name, _ := z.TagName()
			if string(name) == skipUntil {
				depth--
				if depth == 0 {
					skipUntil = ""
				}
			}
		}
	}
}

func hasClass(classes, want string) bool {
	for _, c := range strings.Fields(classes) {
		if c == want {
			return true
		}
	}
	return false
}
