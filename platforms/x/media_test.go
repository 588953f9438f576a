package x_test

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"sync/atomic"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/cmo-dev/cmo/platforms"
)

var pngBytes = []byte("\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR")

// mediaHost serves attachments: *.png as images, *.mp4 as video, and 404
// for /missing.png. It counts the requests it gets.
func mediaHost(t *testing.T) (*httptest.Server, *atomic.Int32) {
	var hits atomic.Int32
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		hits.Add(1)
		switch {
		case r.URL.Path == "/missing.png":
			http.NotFound(w, r)
		case len(r.URL.Path) > 4 && r.URL.Path[len(r.URL.Path)-4:] == ".mp4":
			w.Header().Set("Content-Type", "video/mp4")
			_, _ = w.Write([]byte("\x00\x00\x00\x18ftypmp42"))
		default:
			w.Header().Set("Content-Type", "image/png")
			_, _ = w.Write(pngBytes)
		}
	}))
	t.Cleanup(srv.Close)
	return srv, &hits
}

func TestPublishWithTwoImagesUploadsThenAttachesThem(t *testing.T) {
	f := newFakeX(t)
	host, _ := mediaHost(t)
	media := []platforms.Media{{URL: host.URL + "/a.png", Alt: "A chart"}, {URL: host.URL + "/b.png"}}

	pub, err := f.client(testTimeout).Publish(context.Background(), account(f, &saved{}), platforms.Post{Text: "Two charts", Media: media})
	require.NoError(t, err)

	require.Equal(t, 2, f.callCount("POST /2/media/upload"))
	require.Equal(t, 1, f.callCount("POST /2/media/metadata"), "alt text only where there is one")
	posts := f.getPosts()
	require.Len(t, posts, 1)
	require.Equal(t, pub.ID, posts[0].id)
	require.Equal(t, "Two charts", posts[0].text)
	require.Len(t, posts[0].mediaIDs, 2, "the post references both uploads")
	first, ok := f.getMedia(posts[0].mediaIDs[0])
	require.True(t, ok)
	require.Equal(t, "tweet_image", first.category)
	require.Equal(t, "image/png", first.contentType)
	require.Equal(t, pngBytes, first.data, "the fetched bytes are uploaded")
	require.Equal(t, "A chart", first.alt)
	second, ok := f.getMedia(posts[0].mediaIDs[1])
	require.True(t, ok)
	require.Empty(t, second.alt)
	body := f.getLastBody()
	require.Equal(t, map[string]any{"media_ids": []any{posts[0].mediaIDs[0], posts[0].mediaIDs[1]}}, body["media"])
}

func TestPublishWithMoreThanFourImagesIsPermanentAndUploadsNothing(t *testing.T) {
	f := newFakeX(t)
	host, hits := mediaHost(t)
	var media []platforms.Media
	for i := range 5 {
		media = append(media, platforms.Media{URL: fmt.Sprintf("%s/%d.png", host.URL, i)})
	}

	_, err := f.client(testTimeout).Publish(context.Background(), account(f, &saved{}), platforms.Post{Text: "Too many", Media: media})
	require.Equal(t, platforms.Permanent, kind(t, err))
	require.Contains(t, err.Error(), "limit of 4")
	require.Zero(t, hits.Load(), "nothing is fetched")
	require.Zero(t, f.callCount("POST"), "nothing is uploaded or posted")
}

func TestPublishWithMissingMediaIsPermanentAndPostsNothing(t *testing.T) {
	f := newFakeX(t)
	host, _ := mediaHost(t)
	media := []platforms.Media{{URL: host.URL + "/a.png"}, {URL: host.URL + "/missing.png"}}

	_, err := f.client(testTimeout).Publish(context.Background(), account(f, &saved{}), platforms.Post{Text: "Broken", Media: media})
	require.Equal(t, platforms.Permanent, kind(t, err))
	require.Contains(t, err.Error(), "404")
	require.Zero(t, f.callCount("POST"), "every file is fetched before anything is uploaded")
	require.Empty(t, f.getPosts())
}

func TestPublishWithVideoIsPermanentForNow(t *testing.T) {
	f := newFakeX(t)
	host, _ := mediaHost(t)

	_, err := f.client(testTimeout).Publish(context.Background(), account(f, &saved{}),
		platforms.Post{Text: "Clip", Media: []platforms.Media{{URL: host.URL + "/clip.mp4"}}})
	require.Equal(t, platforms.Permanent, kind(t, err))
	require.Contains(t, err.Error(), "not supported yet")
	require.Zero(t, f.callCount("POST"))
}
