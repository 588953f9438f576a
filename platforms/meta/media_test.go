package meta_test

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/cmo-dev/cmo/platforms"
	"github.com/cmo-dev/cmo/platforms/meta"
)

// imageHost serves the attachments over https, as Meta requires of the
// URLs it fetches.
func imageHost(t *testing.T) *httptest.Server {
	srv := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "image/png")
		_, _ = w.Write([]byte("\x89PNG\r\n\x1a\n"))
	}))
	t.Cleanup(srv.Close)
	return srv
}

func twoImages(host *httptest.Server) []platforms.Media {
	return []platforms.Media{
		{URL: host.URL + "/a.png", Alt: "first"},
		{URL: host.URL + "/b.png", Alt: "second"},
	}
}

func manyMedia(host *httptest.Server, n int) []platforms.Media {
	var ms []platforms.Media
	for i := range n {
		ms = append(ms, platforms.Media{URL: fmt.Sprintf("%s/%d.png", host.URL, i)})
	}
	return ms
}

func TestFacebookPublishOnePhotoWithCaption(t *testing.T) {
	f, host := newFakeGraph(t), imageHost(t)
	m := twoImages(host)[:1]

	pub, err := fbClient().Publish(context.Background(), fbAccount(f), platforms.Post{Text: "Look at this", Media: m})
	require.NoError(t, err)

	v := "/" + meta.GraphVersion + "/"
	require.Equal(t, []string{"POST " + v + f.pageID + "/photos"}, f.allCalls())
	_, form, _ := f.last()
	require.Equal(t, m[0].URL, form.Get("url"), "Facebook fetches the photo from its URL")
	require.Equal(t, "Look at this", form.Get("caption"))
	o, ok := f.object(pub.ID)
	require.True(t, ok, "the receipt names the post (post_id), not the photo")
	require.Equal(t, "fbpost", o.kind)
	require.Equal(t, m[0].URL, o.image)
	require.Equal(t, "https://www.facebook.com/"+pub.ID, pub.URL)
}

func TestFacebookPublishTwoPhotosAttachesUnpublishedUploads(t *testing.T) {
	f, host := newFakeGraph(t), imageHost(t)
	m := twoImages(host)

	pub, err := fbClient().Publish(context.Background(), fbAccount(f), platforms.Post{Text: "Two views", Media: m})
	require.NoError(t, err)

	v := "/" + meta.GraphVersion + "/"
	require.Equal(t, []string{
		"POST " + v + f.pageID + "/photos",
		"POST " + v + f.pageID + "/photos",
		"POST " + v + f.pageID + "/feed",
	}, f.allCalls())
	o, ok := f.object(pub.ID)
	require.True(t, ok)
	require.Equal(t, "fbpost", o.kind)
	require.Equal(t, "Two views", o.text)
	require.Len(t, o.media, 2, "the feed post attaches both photos")
	for i, id := range o.media {
		photo, ok := f.object(id)
		require.True(t, ok)
		require.Equal(t, "photo", photo.kind)
		require.False(t, photo.published, "attached photos are uploaded with published=false")
		require.Equal(t, m[i].URL, photo.image, "in order")
	}
}

func TestFacebookTooManyPhotosOrVideoIsPermanentBeforeCalling(t *testing.T) {
	f, host := newFakeGraph(t), imageHost(t)
	for name, media := range map[string][]platforms.Media{
		"too many": manyMedia(host, meta.MaxFacebookPhotos+1),
		"video":    {{URL: host.URL + "/clip.mp4"}},
	} {
		_, err := fbClient().Publish(context.Background(), fbAccount(f), platforms.Post{Text: "x", Media: media})
		pe := asPlatformError(t, err)
		require.Equal(t, platforms.Permanent, pe.Kind, name)
	}
	require.Empty(t, f.allCalls(), "nothing is uploaded")
}

func TestInstagramPublishUsesTheAttachmentNotTheDefaultImage(t *testing.T) {
	f, host := newFakeGraph(t), imageHost(t)
	m := twoImages(host)[:1]

	pub, err := igClient().Publish(context.Background(), igAccount(f), platforms.Post{Text: "Caption", Media: m})
	require.NoError(t, err)
	o, ok := f.object(pub.ID)
	require.True(t, ok)
	require.Equal(t, m[0].URL, o.image)
	require.Equal(t, "IMAGE", o.mediaType)
	require.Equal(t, "Caption", o.text)
}

func TestInstagramPublishTwoImagesAsCarousel(t *testing.T) {
	f, host := newFakeGraph(t), imageHost(t)
	m := twoImages(host)

	pub, err := igClient().Publish(context.Background(), igAccount(f), platforms.Post{Text: "Swipe →", Media: m})
	require.NoError(t, err)

	v := "/" + meta.GraphVersion + "/"
	require.Equal(t, 3, f.callsTo(v+f.igID+"/media"), "two items and the carousel")
	require.Equal(t, 1, f.callsTo("/media_publish"))
	o, ok := f.object(pub.ID)
	require.True(t, ok)
	require.Equal(t, "media", o.kind)
	require.Equal(t, "CAROUSEL", o.mediaType)
	require.Equal(t, "Swipe →", o.text, "the caption goes on the carousel")
	require.Len(t, o.media, 2)
	for i, id := range o.media {
		child, ok := f.object(id)
		require.True(t, ok)
		require.True(t, child.carouselItem, "children are created with is_carousel_item=true")
		require.Equal(t, m[i].URL, child.image, "in order")
		require.Empty(t, child.text, "items carry no caption")
	}
}

func TestInstagramPublishVideoAsReel(t *testing.T) {
	f, host := newFakeGraph(t), imageHost(t)
	clip := host.URL + "/clip.MP4"

	pub, err := igClient().Publish(context.Background(), igAccount(f), platforms.Post{Text: "Watch", Media: []platforms.Media{{URL: clip}}})
	require.NoError(t, err)
	o, ok := f.object(pub.ID)
	require.True(t, ok)
	require.Equal(t, "REELS", o.mediaType)
	require.Equal(t, clip, o.image, "the video goes as video_url")
}

func TestInstagramMoreThanTenAttachmentsIsPermanentBeforeCalling(t *testing.T) {
	f, host := newFakeGraph(t), imageHost(t)

	_, err := igClient().Publish(context.Background(), igAccount(f), platforms.Post{Text: "x", Media: manyMedia(host, 11)})
	pe := asPlatformError(t, err)
	require.Equal(t, platforms.Permanent, pe.Kind)
	require.Contains(t, pe.Msg, "limit of 10")
	require.Empty(t, f.allCalls(), "no container is created")
}
