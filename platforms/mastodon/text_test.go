package mastodon

import (
	"testing"

	"github.com/stretchr/testify/require"
)

// Content as Mastodon renders it (docs.joinmastodon.org/entities/Status
// and the formatter's output for links, mentions and hashtags).
func TestPlainTextRecoversTheSourceText(t *testing.T) {
	content := `<p class="quote-inline">RE: <a href="https://social.example/@x/1">https://social.example/@x/1</a></p>` +
		`<p>Hi <span class="h-card" translate="no"><a href="https://social.example/@bob" class="u-url mention">@<span>bob</span></a></span> and ` +
		`<span class="h-card" translate="no"><a href="https://other.example/@carol" class="u-url mention">@<span>carol</span></a></span>,<br />` +
		`see <a href="https://example.com/a/very/long/path/that/is/shortened" target="_blank" rel="nofollow noopener" translate="no">` +
		`<span class="invisible">https://</span><span class="ellipsis">example.com/a/very/long/path/t</span><span class="invisible">hat/is/shortened</span></a> ` +
		`<a href="https://social.example/tags/launch" class="mention hashtag" rel="tag">#<span>launch</span></a></p>` +
		`<p>Fish &amp; chips &lt;3 &quot;caf&#233;&quot;</p>`
	mentions := []mention{
		{Acct: "bob", URL: "https://social.example/@bob"},
		{Acct: "carol@other.example", URL: "https://other.example/@carol"},
	}
	require.Equal(t,
		"Hi @bob and @carol@other.example,\nsee https://example.com/a/very/long/path/that/is/shortened #launch\n\nFish & chips <3 \"café\"",
		plainText(content, mentions))
}

func TestPlainTextKeepsAnUnknownMentionAsShown(t *testing.T) {
	content := `<p><span class="h-card"><a href="https://gone.example/@dave" class="u-url mention">@<span>dave</span></a></span> hi</p>`
	require.Equal(t, "@dave hi", plainText(content, nil))
}
