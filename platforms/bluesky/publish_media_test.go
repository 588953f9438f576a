package bluesky_test

import (
	"bytes"
	"context"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/cmo-dev/cmo/platforms"
)

var (
	pngBytes  = append([]byte("\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR"), bytes.Repeat([]byte{7}, 64)...)
	jpegBytes = append([]byte{0xFF, 0xD8, 0xFF, 0xE0, 0x00, 0x10, 'J', 'F', 'I', 'F', 0x00}, bytes.Repeat([]byte{9}, 64)...)
	webmBytes = append([]byte{0x1A, 0x45, 0xDF, 0xA3}, bytes.Repeat([]byte{1}, 60)...)
)

// mediaHost serves the files a post attaches and counts the fetches.
type mediaHost struct {
	srv     *httptest.Server
	mu      sync.Mutex
	fetched int
}

func newMediaHost(t *testing.T) *mediaHost {
	t.Helper()
	h := &mediaHost{}
	mux := http.NewServeMux()
	serve := func(ctype string, data []byte) http.HandlerFunc {
		return func(w http.ResponseWriter, r *http.Request) {
			h.mu.Lock()
			h.fetched++
			h.mu.Unlock()
			w.Header().Set("Content-Type", ctype)
			_, _ = w.Write(data)
		}
	}
	mux.HandleFunc("GET /assets/chart.png", serve("image/png", pngBytes))
	mux.HandleFunc("GET /assets/team.jpg", serve("image/jpeg", jpegBytes))
	mux.HandleFunc("GET /assets/clip.webm", serve("video/webm", webmBytes))
	mux.HandleFunc("GET /assets/huge.png", serve("image/png", append(bytes.Clone(pngBytes), make([]byte, 1_000_000)...)))
	h.srv = httptest.NewServer(mux)
	t.Cleanup(h.srv.Close)
	return h
}

func (h *mediaHost) url(path string) string { return h.srv.URL + path }

func (h *mediaHost) fetches() int {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.fetched
}

func TestPublishUploadsBlobsAndEmbedsImages(t *testing.T) {
	p := newPDS(t)
	mh := newMediaHost(t)
	v := aliceVault()

	pub, err := newClient().Publish(context.Background(), p.account(v), platforms.Post{
		Text: "Q3 numbers are in",
		Media: []platforms.Media{
			{URL: mh.url("/assets/chart.png"), Alt: "Sales chart, up 20%"},
			{URL: mh.url("/assets/team.jpg")},
		},
	})
	require.NoError(t, err)

	require.Len(t, p.blobs, 2)
	require.Equal(t, "image/png", p.blobs[0].ContentType)
	require.Equal(t, pngBytes, p.blobs[0].Data)
	require.Equal(t, "image/jpeg", p.blobs[1].ContentType)
	require.Equal(t, jpegBytes, p.blobs[1].Data)

	require.Len(t, p.creates, 1)
	rec := p.creates[0].Body["record"].(map[string]any)
	require.Equal(t, "Q3 numbers are in", rec["text"])
	embed := rec["embed"].(map[string]any)
	require.Equal(t, "app.bsky.embed.images", embed["$type"])
	images := embed["images"].([]any)
	require.Len(t, images, 2)
	for i, want := range []struct {
		alt, mime string
		blob      capturedBlob
	}{{"Sales chart, up 20%", "image/png", p.blobs[0]}, {"", "image/jpeg", p.blobs[1]}} {
		img := images[i].(map[string]any)
		require.Contains(t, img, "alt", "alt is required by the lexicon, even empty")
		require.Equal(t, want.alt, img["alt"])
		blob := img["image"].(map[string]any)
		require.Equal(t, "blob", blob["$type"])
		require.Equal(t, want.blob.CID, blob["ref"].(map[string]any)["$link"])
		require.Equal(t, want.mime, blob["mimeType"])
		require.EqualValues(t, len(want.blob.Data), blob["size"])
	}

	stored := p.posts(aliceDID)
	require.Len(t, stored, 1)
	require.Equal(t, stored[0].URI, pub.ID)
	require.Contains(t, stored[0].Raw, "embed")
}

func TestPublishImageLimitsArePermanentBeforeAnyUpload(t *testing.T) {
	p := newPDS(t)
	mh := newMediaHost(t)
	five := make([]platforms.Media, 5)
	for i := range five {
		five[i] = platforms.Media{URL: mh.url("/assets/chart.png")}
	}
	for name, tc := range map[string]struct {
		media   []platforms.Media
		msg     string
		fetches int
	}{
		"too many images": {five, "maximum 4", 0},
		"video":           {[]platforms.Media{{URL: mh.url("/assets/chart.png")}, {URL: mh.url("/assets/clip.webm")}}, "video posts are not supported by this connector yet", 2},
		"image too large": {[]platforms.Media{{URL: mh.url("/assets/huge.png")}}, "maximum 1000000 bytes", 1},
	} {
		before := mh.fetches()
		_, err := newClient().Publish(context.Background(), p.account(aliceVault()), platforms.Post{Text: "hi", Media: tc.media})
		pe := requireKind(t, err, platforms.Permanent)
		require.Contains(t, pe.Msg, tc.msg, name)
		require.Equal(t, tc.fetches, mh.fetches()-before, name)
	}
	require.Empty(t, p.blobs)
	require.Empty(t, p.creates)
	require.Zero(t, p.count("com.atproto.repo.uploadBlob"))
}

func TestPublishMissingMediaIsPermanentAndNothingIsPosted(t *testing.T) {
	p := newPDS(t)
	mh := newMediaHost(t)
	_, err := newClient().Publish(context.Background(), p.account(aliceVault()), platforms.Post{Text: "with a dead link",
		Media: []platforms.Media{{URL: mh.url("/assets/chart.png")}, {URL: mh.url("/assets/gone.png")}}})
	pe := requireKind(t, err, platforms.Permanent)
	require.Equal(t, http.StatusNotFound, pe.Status)
	require.Empty(t, p.blobs)
	require.Empty(t, p.creates)
	require.Empty(t, p.posts(aliceDID))
}

func TestPublishBlobUploadServerErrorIsTransient(t *testing.T) {
	p := newPDS(t)
	mh := newMediaHost(t)
	p.setFault(func(w http.ResponseWriter, r *http.Request) bool {
		if r.URL.Path != "/xrpc/com.atproto.repo.uploadBlob" {
			return false
		}
		writeError(w, http.StatusBadGateway, "InternalServerError", "Internal Server Error")
		return true
	})
	_, err := newClient().Publish(context.Background(), p.account(aliceVault()), platforms.Post{Text: "hi",
		Media: []platforms.Media{{URL: mh.url("/assets/chart.png"), Alt: "chart"}}})
	pe := requireKind(t, err, platforms.Transient)
	require.Equal(t, http.StatusBadGateway, pe.Status)
	require.Empty(t, p.creates)
}

// An expired session is renewed for an upload as for any call, and the
// blob is sent again in full.
func TestBlobUploadRenewsAnExpiredSession(t *testing.T) {
	p := newPDS(t)
	mh := newMediaHost(t)
	v := aliceVault()
	c := newClient()
	_, err := c.Publish(context.Background(), p.account(v), platforms.Post{Text: "first"})
	require.NoError(t, err)
	p.expireSessions()

	_, err = c.Publish(context.Background(), p.account(v), platforms.Post{Text: "second",
		Media: []platforms.Media{{URL: mh.url("/assets/chart.png"), Alt: "chart"}}})
	require.NoError(t, err)
	require.Len(t, p.blobs, 1)
	require.Equal(t, pngBytes, p.blobs[0].Data)
	require.Equal(t, 1, p.count("com.atproto.server.refreshSession"))
}
