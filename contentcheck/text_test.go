package contentcheck

import (
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

// kinds lists the tokens of text as "kind:text", for readable assertions.
func kinds(text string) []string {
	names := map[tokenKind]string{kindWord: "word", kindLink: "link", kindEmail: "email", kindHashtag: "tag", kindMention: "mention"}
	var out []string
	for _, t := range scan(text) {
		out = append(out, names[t.kind]+":"+text[t.start:t.end])
	}
	return out
}

func TestScanKeepsCatalanAndEnglishWordsWhole(t *testing.T) {
	require.Equal(t,
		[]string{"word:L'àvia", "word:dóna-li", "word:la", "word:col·lecció", "word:d'en", "word:Pere", "word:don’t", "word:co-founder"},
		kinds("«L'àvia» dóna-li la col·lecció d'en Pere; don’t co-founder."))
	// A dot between two l's stands in for the middle dot; elsewhere it ends
	// a sentence whose next space is missing.
	require.Equal(t, []string{"word:col.lecció", "word:Fi", "word:Adéu"}, kinds("col.lecció. Fi.Adéu"))
	// Quotes around a word are not part of it.
	require.Equal(t, []string{"word:hola", "word:users"}, kinds("'hola' users'"))
	// Decomposed accents stay in the word.
	require.Equal(t, []string{"word:a\u0300via"}, kinds("a\u0300via!"))
}

func TestScanSetsAsideWhatIsNotAWord(t *testing.T) {
	require.Equal(t, []string{
		"word:Segueix", "mention:@cmo_dev", "mention:@maria@mastodon.social", "word:i", "tag:#CampanyaNadal2024",
		"word:a", "link:https://cmo.example/agenda?x=1", "word:Escriu", "word:a", "email:hola@cmo.cat",
		"link:www.cmo.cat", "word:o", "link:cmo.cat/agenda", "link:cmo.cat",
		// Words that checkable leaves to no dictionary; "#1" is no hashtag,
		// and neither is the # of "C#" or of an HTML entity.
		"word:2n", "word:10h", "word:NASA", "word:1", "word:C", "word:39",
	}, kinds("Segueix @cmo_dev, @maria@mastodon.social i #CampanyaNadal2024 a https://cmo.example/agenda?x=1. "+
		"Escriu a hola@cmo.cat, www.cmo.cat o cmo.cat/agenda (cmo.cat). 2n 10h NASA #1 C# &#39;"))
	for _, w := range []string{"2n", "10h", "NASA", "1", "C", "x", "snake_case", "日本語", "L'ÀVIA"} {
		require.False(t, checkable(w), w)
	}
	for _, w := range []string{"Segueix", "i'm", "àvia", "iPhone", "Col·lecció"} {
		require.True(t, checkable(w), w)
	}
}

func TestLinkEnds(t *testing.T) {
	for text, want := range map[string]string{
		"(see https://example.com/foo_(bar)).":  "https://example.com/foo_(bar)",
		"https://example.com/path?q=1.":         "https://example.com/path?q=1",
		"«https://example.com/»":                "https://example.com/",
		"\"https://example.com\", said she":     "https://example.com",
		"Link: https://example.com/a… i més":    "https://example.com/a",
		"https://example.com/a,https://b.com/c": "https://example.com/a,https://b.com/c",
		"http:":                                 "http:",
		"Tot a la web.https://cmo.cat":          "https://cmo.cat",
	} {
		var links []string
		for _, tok := range scan(text) {
			if tok.kind == kindLink {
				links = append(links, text[tok.start:tok.end])
			}
		}
		require.Equal(t, []string{want}, links, text)
	}
}

func TestLinkProblem(t *testing.T) {
	for _, ok := range []string{
		"https://example.com", "http://example.com/a/b?c=d#e", "HTTPS://EXAMPLE.COM", "http://localhost:8080/x",
		"https://127.0.0.1/", "https://[::1]:8443/", "https://café.cat/menú", "https://sub-domain.example.co.uk/",
	} {
		require.Empty(t, linkProblem(ok), ok)
	}
	for raw, want := range map[string]string{
		"http:/example.com":        "must be followed by //",
		"https:example.com":        "must be followed by //",
		"https://":                 "no host",
		"https://exa":              "has no dot",
		"https://-bad-.com/":       "not a domain name",
		"https://example..com/":    "not a domain name",
		"https://exa_mple.com/":    "not a domain name",
		"https://1.2.3/":           "not a domain name",
		"https://example.com:http": "does not parse",
	} {
		require.Contains(t, linkProblem(raw), want, raw)
	}
}

func TestCheckLinks(t *testing.T) {
	c := New(t.TempDir())
	text := "Entrades a https://exa mple.com i a http:/cmo.cat, o a https://cmo.cat/entrades."
	fs, err := c.Check(text, Rules{RequireLink: true})
	require.NoError(t, err)
	require.Len(t, fs, 2)
	require.Equal(t, Finding{Rule: RuleLink, Severity: Block, Word: "https://exa", Offset: strings.Index(text, "https://exa"),
		Message: `"https://exa" is not a well-formed link: its host exa has no dot`}, fs[0])
	require.Equal(t, "http:/cmo.cat", fs[1].Word)
	require.Equal(t, strings.Index(text, "http:/"), fs[1].Offset)

	fs, err = c.Check("Visiteu www.cmo.cat o cmo.cat", Rules{RequireLink: true})
	require.NoError(t, err)
	require.Equal(t, []Finding{{Rule: RuleLink, Severity: Block, Offset: -1, Message: "the post needs a link (http:// or https://)"}}, fs)

	fs, err = c.Check("Visiteu https://cmo.cat", Rules{RequireLink: true})
	require.NoError(t, err)
	require.Empty(t, fs)
}

func TestCheckBannedWords(t *testing.T) {
	c := New(t.TempDir())
	text := "Spam, spammers and SPAM! Get FREE   money now: free money. L'àvia i la col·lecció. Don’t."
	fs, err := c.Check(text, Rules{BannedWords: []string{"spam", "free money", " ", "àvia", "col", "don't", "lecció"}})
	require.NoError(t, err)
	var got []string
	for _, f := range fs {
		require.Equal(t, RuleBanned, f.Rule)
		require.Equal(t, Block, f.Severity)
		require.Equal(t, f.Word, text[f.Offset:f.Offset+len(f.Word)])
		got = append(got, f.Word)
	}
	// Whole words only for a single word: not spammers, not col in
	// col·lecció (the middle dot is inside the word), nor lecció.
	require.Equal(t, []string{"Spam", "SPAM", "FREE   money", "free money", "àvia", "Don’t"}, got)
	require.Equal(t, `"spam" is banned`, fs[0].Message)

	// A phrase matches anywhere, even inside a longer word.
	fs, err = c.Check("És gratis totalment", Rules{BannedWords: []string{"gratis total"}})
	require.NoError(t, err)
	require.Len(t, fs, 1)
	require.Equal(t, len("És "), fs[0].Offset)
}

func TestCheckRequiredWords(t *testing.T) {
	c := New(t.TempDir())
	text := "Aquest Nadal, a BARCELONA: #CampanyaNadal"
	fs, err := c.Check(text, Rules{RequiredWords: []string{"barcelona", "#CampanyaNadal", "nadal", "Girona", "campanya", "Barcelona "}})
	require.NoError(t, err)
	require.Equal(t, []Finding{
		{Rule: RuleRequired, Severity: Block, Word: "Girona", Offset: -1, Message: `"Girona" is required and does not appear`},
		{Rule: RuleRequired, Severity: Block, Word: "campanya", Offset: -1, Message: `"campanya" is required and does not appear`},
	}, fs)
}

func TestBlocked(t *testing.T) {
	require.False(t, Blocked(nil))
	require.False(t, Blocked([]Finding{{Severity: Warn}}))
	require.True(t, Blocked([]Finding{{Severity: Warn}, {Severity: Block}}))
}
