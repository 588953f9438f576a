package x_test

import (
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/cmo-dev/cmo/platforms/x"
)

func TestWeightedLength(t *testing.T) {
	for _, tc := range []struct {
		name string
		text string
		want int
	}{
		{"ascii", "Hello, world!", 13},
		{"latin accents weigh 1", "café déjà vu", 12},
		{"quotes and dashes weigh 1, the ellipsis 2", "“quoted” — dash…", 17},
		{"cjk weighs 2", "日本語", 6},
		{"emoji weighs 2", "Hello 👋", 8},
		{"skin tone joins its emoji", "🙋🏽", 2},
		{"zwj sequence is one emoji", "👨‍👩‍👧‍👦", 2},
		{"variation selector adds nothing", "❤️", 2},
		{"flag is one emoji", "🇪🇸", 2},
		{"url counts 23", "https://example.com/a/very/long/path/that/goes/on?and=on", 23},
		{"short url counts 23", "http://x.co", 23},
		{"url among text", "read https://example.com/post now", 5 + 23 + 4},
		{"trailing full stop is not the link", "see https://example.com.", 4 + 23 + 1},
		{"www link", "www.example.com", 23},
		{"two urls", "https://a.example https://b.example", 23 + 1 + 23},
	} {
		t.Run(tc.name, func(t *testing.T) {
			require.Equal(t, tc.want, x.WeightedLength(tc.text))
		})
	}
}

func TestMaxLengthBoundary(t *testing.T) {
	require.Equal(t, x.MaxLength, x.WeightedLength(strings.Repeat("a", 280)))
	require.Equal(t, x.MaxLength, x.WeightedLength(strings.Repeat("語", 140)))
}
