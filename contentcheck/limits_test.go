package contentcheck

import (
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/stretchr/testify/require"
)

const longURL = "https://example.com/a/very/long/path/that/keeps/going?utm_source=newsletter&utm_medium=social"

const family = "👨‍👩‍👧" // man, ZWJ, woman, ZWJ, girl: five code points, one grapheme

func TestLengthX(t *testing.T) {
	for _, tc := range []struct {
		name, text string
		want       int
	}{
		{"ascii", "Hello world", 11},
		{"any link weighs 23", "Visit " + longURL + " today", 6 + 23 + 6},
		{"a short link weighs 23 too", "https://t.co", 23},
		{"CJK counts double", "日本語", 6},
		{"accented Latin counts once", "l'àvia i la col·lecció", 22},
		{"an emoji with a skin tone weighs 2", "Hola 👋🏽", 5 + 2},
		{"a ZWJ family weighs 2", family, 2},
		{"a flag weighs 2", "🇪🇸", 2},
		{"a keycap weighs 2", "#️⃣", 2},
		{"decomposed accents are composed first", "cafe\u0301", 4},
		{"curly quotes and dashes are in the weight-1 ranges", "“quoted” — dash", 15},
		{"the euro sign and the ellipsis are not", "10 €…", 3 + 2 + 2},
		{"a bare domain on a generic TLD is a link", "cmo.cat", 23},
		{"a bare two-label ccTLD domain is not", "example.es", 10},
		{"unless it has a path", "example.es/agenda", 23},
		{"or www", "www.example.es", 23},
		{"an e-mail address is text", "hola@cmo.cat", 12},
	} {
		t.Run(tc.name, func(t *testing.T) {
			require.Equal(t, tc.want, Length("x", tc.text))
		})
	}
}

func TestLengthMastodon(t *testing.T) {
	for _, tc := range []struct {
		name, text string
		want       int
	}{
		{"links weigh 23", "Visit " + longURL, 6 + 23},
		{"a remote mention counts as its local part", "Hola @maria@mastodon.social!", 5 + 6 + 1},
		{"a local mention counts in full", "Hola @maria!", 12},
		{"graphemes: an emoji sequence counts once", "Hola 👋🏽 " + family, 5 + 1 + 1 + 1},
		{"CJK counts once", "日本語", 3},
		{"a bare domain is text", "cmo.cat", 7},
	} {
		t.Run(tc.name, func(t *testing.T) {
			require.Equal(t, tc.want, Length("mastodon", tc.text))
			require.Equal(t, tc.want, Length("sandbox", tc.text))
		})
	}
}

func TestLengthBlueskyCountsGraphemesAndLinksAsWritten(t *testing.T) {
	require.Equal(t, 6+len(longURL), Length("bluesky", "Visit "+longURL))
	require.Equal(t, 1, Length("bluesky", family))
	require.Equal(t, 4, Length("bluesky", "cafe\u0301"))
}

func TestLengthCodePointsElsewhere(t *testing.T) {
	for _, p := range []string{"linkedin", "facebook", "instagram", "webhook", "unknown"} {
		require.Equal(t, 5, Length(p, family), p)
		require.Equal(t, 5, Length(p, "cafe\u0301"), p)
		require.Equal(t, 6+len(longURL), Length(p, "Visit "+longURL), p)
	}
}

func TestLimitsTable(t *testing.T) {
	for p, want := range map[string][2]int{ // MaxChars, MaxMedia
		"x": {280, 4}, "bluesky": {300, 4}, "mastodon": {500, 4}, "sandbox": {500, 4},
		"linkedin": {3000, 20}, "facebook": {63206, 10}, "instagram": {2200, 10}, "webhook": {0, 0},
	} {
		l, ok := Limits(p)
		require.True(t, ok, p)
		require.Equal(t, want, [2]int{l.MaxChars, l.MaxMedia}, p)
	}
	ig, _ := Limits("instagram")
	require.Equal(t, 30, ig.MaxHashtags)
	x, _ := Limits("x")
	require.Equal(t, 23, x.CountsURLAs)
	_, ok := Limits("myspace")
	require.False(t, ok)
}

func TestCheckLengthPointsAtTheCut(t *testing.T) {
	c := New(t.TempDir())
	text := strings.Repeat("a", 279) + "日"
	fs, err := c.Check(text, Rules{Platform: "x"})
	require.NoError(t, err)
	require.Len(t, fs, 1)
	require.Equal(t, RuleLength, fs[0].Rule)
	require.Equal(t, Block, fs[0].Severity)
	require.Equal(t, 279, fs[0].Offset)
	require.Contains(t, fs[0].Message, "281")

	fs, err = c.Check(strings.Repeat("a", 278)+"日", Rules{Platform: "x"})
	require.NoError(t, err)
	require.Empty(t, fs)

	// 40 links are 920 on Mastodon however long they are, so 21 are too many.
	links := strings.Repeat(longURL+" ", 20)
	fs, err = c.Check(links, Rules{Platform: "mastodon"})
	require.NoError(t, err)
	require.Empty(t, fs)
	fs, err = c.Check(links+longURL, Rules{Platform: "mastodon"})
	require.NoError(t, err)
	require.Len(t, fs, 1)
	require.Equal(t, len(links), fs[0].Offset)
}

func TestCheckBlueskyBytes(t *testing.T) {
	text := strings.Repeat(family, 200) // 200 graphemes, 3,600 bytes
	fs, err := New(t.TempDir()).Check(text, Rules{Platform: "bluesky"})
	require.NoError(t, err)
	require.Len(t, fs, 1)
	require.Contains(t, fs[0].Message, "3600 bytes")
	require.LessOrEqual(t, fs[0].Offset, 3000)
	require.Greater(t, fs[0].Offset, 3000-utf8.UTFMax)
	require.True(t, utf8.RuneStart(text[fs[0].Offset]), "the offset falls on a code point")
}

func TestCheckMediaAndHashtags(t *testing.T) {
	c := New(t.TempDir())
	fs, err := c.Check("Hola", Rules{Platform: "x", Media: 5})
	require.NoError(t, err)
	require.Len(t, fs, 1)
	require.Equal(t, RuleMedia, fs[0].Rule)
	require.Equal(t, -1, fs[0].Offset)

	fs, err = c.Check("Hola", Rules{Platform: "x", Media: 4})
	require.NoError(t, err)
	require.Empty(t, fs)

	fs, err = c.Check("Hola", Rules{Platform: "instagram"})
	require.NoError(t, err)
	require.Len(t, fs, 1)
	require.Contains(t, fs[0].Message, "Instagram needs at least 1 image")

	fs, err = c.Check("Hola", Rules{Platform: "webhook", Media: 50})
	require.NoError(t, err)
	require.Empty(t, fs)

	var tags strings.Builder
	for i := range 31 {
		tags.WriteString("#tag")
		tags.WriteByte(byte('a' + i%26))
		tags.WriteString(" ")
	}
	text := "Nova col·lecció https://example.com/#top #1 " + tags.String()
	fs, err = c.Check(text, Rules{Platform: "instagram", Media: 1})
	require.NoError(t, err)
	require.Len(t, fs, 1)
	require.Equal(t, RuleHashtags, fs[0].Rule)
	require.Contains(t, fs[0].Message, "31 hashtags")
	require.Equal(t, strings.LastIndex(text, "#tag"), fs[0].Offset)
}

func TestCheckRefusesWhatItCannotCheck(t *testing.T) {
	c := New(t.TempDir())
	_, err := c.Check("Hola", Rules{Platform: "myspace"})
	require.ErrorContains(t, err, `unknown platform "myspace"`)
	_, err = c.Check("Hola", Rules{SpellingSeverity: "error"})
	require.ErrorContains(t, err, "spelling severity")
	_, err = c.Check("Hola", Rules{Languages: []string{"fr"}})
	require.ErrorContains(t, err, `spelling language "fr"`)
	_, err = c.Check("Hola", Rules{Media: -1})
	require.Error(t, err)

	fs, err := c.Check(strings.Repeat("a", 10000), Rules{})
	require.NoError(t, err)
	require.NotNil(t, fs)
	require.Empty(t, fs, "no platform: no limits")
}
