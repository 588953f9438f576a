package linkedin_test

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/cmo-dev/cmo/platforms"
	"github.com/cmo-dev/cmo/platforms/linkedin"
)

var pngBytes = []byte("\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR")

// mediaHost serves attachments as PNG images, and 404 for /missing.png.
func mediaHost(t *testing.T) (*httptest.Server, *atomic.Int32) {
	var hits atomic.Int32
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		hits.Add(1)
		if r.URL.Path == "/missing.png" {
			http.NotFound(w, r)
			return
		}
		w.Header().Set("Content-Type", "image/png")
		_, _ = w.Write(pngBytes)
	}))
	t.Cleanup(srv.Close)
	return srv, &hits
}

func TestPublishWithTwoImagesUploadsThemAndPostsMultiImage(t *testing.T) {
	f := newFakeLinkedIn(t)
	host, _ := mediaHost(t)
	media := []platforms.Media{{URL: host.URL + "/a.png", Alt: "The team"}, {URL: host.URL + "/b.png", Alt: "The office"}}

	pub, err := client(f).Publish(context.Background(), account(f, &saved{}), platforms.Post{Text: "Two photos", Media: media})
	require.NoError(t, err)

	var inits, puts int
	for _, c := range f.getCalls() {
		if c == "POST /rest/images" {
			inits++
		}
		if strings.HasPrefix(c, "PUT /dms-uploads/") {
			puts++
		}
	}
	require.Equal(t, 2, inits, "one initializeUpload per image")
	require.Equal(t, 2, puts, "one upload per image")
	posts := f.getPosts()
	require.Len(t, posts, 1)
	require.Equal(t, pub.ID, posts[0].id)
	mi, ok := posts[0].content["multiImage"].(map[string]any)
	require.True(t, ok, "two images go as content.multiImage: %v", posts[0].content)
	images, _ := mi["images"].([]any)
	require.Len(t, images, 2)
	for i, ref := range images {
		m := ref.(map[string]any)
		urn, _ := m["id"].(string)
		img, ok := f.getImage(urn)
		require.True(t, ok, "the post references an uploaded image")
		require.Equal(t, "urn:li:organization:2414183", img.owner)
		require.Equal(t, pngBytes, img.data)
		require.Equal(t, "image/png", img.contentType)
		require.Equal(t, media[i].Alt, m["altText"])
	}
}

func TestPublishWithOneImageUsesContentMedia(t *testing.T) {
	f := newFakeLinkedIn(t)
	host, _ := mediaHost(t)

	_, err := client(f).Publish(context.Background(), account(f, &saved{}),
		platforms.Post{Text: "One photo", Media: []platforms.Media{{URL: host.URL + "/a.png", Alt: "Logo"}}})
	require.NoError(t, err)
	posts := f.getPosts()
	require.Len(t, posts, 1)
	m, ok := posts[0].content["media"].(map[string]any)
	require.True(t, ok, "one image goes as content.media: %v", posts[0].content)
	require.True(t, strings.HasPrefix(m["id"].(string), "urn:li:image:"))
	require.Equal(t, "Logo", m["altText"])
}

func TestPublishWithTooManyImagesIsPermanentAndUploadsNothing(t *testing.T) {
	f := newFakeLinkedIn(t)
	host, hits := mediaHost(t)
	var media []platforms.Media
	for i := range linkedin.MaxImages + 1 {
		media = append(media, platforms.Media{URL: fmt.Sprintf("%s/%d.png", host.URL, i)})
	}

	_, err := client(f).Publish(context.Background(), account(f, &saved{}), platforms.Post{Text: "Too many", Media: media})
	pe := errKind(t, err)
	require.Equal(t, platforms.Permanent, pe.Kind)
	require.Contains(t, pe.Msg, "limit of 20")
	require.Zero(t, hits.Load(), "nothing is fetched")
	require.Zero(t, f.callCount(), "nothing is uploaded")
}

func TestPublishWithMissingImageIsPermanentAndPostsNothing(t *testing.T) {
	f := newFakeLinkedIn(t)
	host, _ := mediaHost(t)
	media := []platforms.Media{{URL: host.URL + "/a.png"}, {URL: host.URL + "/missing.png"}}

	_, err := client(f).Publish(context.Background(), account(f, &saved{}), platforms.Post{Text: "Broken", Media: media})
	pe := errKind(t, err)
	require.Equal(t, platforms.Permanent, pe.Kind)
	require.Equal(t, http.StatusNotFound, pe.Status)
	require.Zero(t, f.callCount(), "every image is fetched before anything is uploaded")
	require.Empty(t, f.getPosts())
}
