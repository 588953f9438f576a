package bluesky

import (
	"context"
	"errors"
	"testing"

	"github.com/stretchr/testify/require"
)

func TestDetect(t *testing.T) {
	type got struct {
		covers string
		kind   spanKind
		value  string
	}
	for _, tc := range []struct {
		text string
		want []got
	}{
		{"see https://example.com.", []got{{"https://example.com", spanLink, "https://example.com"}}},
		{"(https://example.com/a)", []got{{"https://example.com/a", spanLink, "https://example.com/a"}}},
		{"https://en.wikipedia.org/wiki/Go_(game)!", []got{{"https://en.wikipedia.org/wiki/Go_(game)", spanLink, "https://en.wikipedia.org/wiki/Go_(game)"}}},
		{"ftp://example.com and https:// alone", nil},
		{"mail me at team@example.com", nil},
		{"@alice.bsky.social, hi", []got{{"@alice.bsky.social", spanMention, "alice.bsky.social"}}},
		{"hi @alice (no dot) and @bob.test.", []got{{"@bob.test", spanMention, "bob.test"}}},
		{"@host.123 is not a handle", nil},
		{"#go #1 #café, x#y", []got{{"#go", spanTag, "go"}, {"#café", spanTag, "café"}}},
		{"https://example.com/#anchor @x.com#tag", []got{{"https://example.com/#anchor", spanLink, "https://example.com/#anchor"}, {"@x.com", spanMention, "x.com"}}},
	} {
		var out []got
		for _, s := range detect(tc.text) {
			out = append(out, got{tc.text[s.start:s.end], s.kind, s.value})
		}
		require.Equal(t, tc.want, out, tc.text)
	}
}

func TestFacetsResolveEachHandleOnceAndStopOnOutage(t *testing.T) {
	calls := 0
	resolve := func(_ context.Context, h string) (string, bool, error) {
		calls++
		return "did:plc:" + h[:3], true, nil
	}
	fs, err := facets(context.Background(), "@bob.test and @bob.test again", resolve)
	require.NoError(t, err)
	require.Len(t, fs, 2)
	require.Equal(t, 1, calls)

	outage := errors.New("resolver down")
	_, err = facets(context.Background(), "@bob.test", func(context.Context, string) (string, bool, error) { return "", false, outage })
	require.ErrorIs(t, err, outage)
}

func TestParsePostRef(t *testing.T) {
	r, err := parsePostRef("at://did:plc:abc/app.bsky.feed.post/3k4duaz5vfs2b")
	require.NoError(t, err)
	require.Equal(t, recordRef{"did:plc:abc", "app.bsky.feed.post", "3k4duaz5vfs2b"}, r)

	r, err = parsePostRef("https://bsky.app/profile/alice.test/post/3k4duaz5vfs2b")
	require.NoError(t, err)
	require.Equal(t, recordRef{"alice.test", "app.bsky.feed.post", "3k4duaz5vfs2b"}, r)

	for _, bad := range []string{"3k4duaz5vfs2b", "at://did:plc:abc/app.bsky.feed.post", "https://example.com/profile/a/post/b"} {
		_, err := parsePostRef(bad)
		require.Error(t, err, bad)
	}
}
