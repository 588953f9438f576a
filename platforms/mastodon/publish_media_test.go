package mastodon_test

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
)

// mediaHost serves the files a post attaches, as the playbook's asset
// store would, and counts what was fetched.
type mediaHost struct {
	srv     *httptest.Server
	mu      sync.Mutex
	fetched []string
}

func newMediaHost(t *testing.T) *mediaHost {
	t.Helper()
	h := &mediaHost{}
	mux := http.NewServeMux()
	serve := func(ctype string, data []byte) http.HandlerFunc {
		return func(w http.ResponseWriter, r *http.Request) {
			h.mu.Lock()
			h.fetched = append(h.fetched, r.URL.Path)
			h.mu.Unlock()
			w.Header().Set("Content-Type", ctype)
			_, _ = w.Write(data)
		}
	}
	mux.HandleFunc("GET /assets/chart.png", serve("image/png", pngBytes))
	// No extension and a generic type: the type is sniffed.
	mux.HandleFunc("GET /assets/team", serve("application/octet-stream", jpegBytes))
	h.srv = httptest.NewServer(mux)
	t.Cleanup(h.srv.Close)
	return h
}

func (h *mediaHost) url(path string) string { return h.srv.URL + path }

func (h *mediaHost) fetches() int {
	h.mu.Lock()
	defer h.mu.Unlock()
	return len(h.fetched)
}

func TestPublishUploadsMediaAndAttachesIt(t *testing.T) {
	in := newInstance(t)
	mh := newMediaHost(t)
	acct := in.account(aliceToken)

	pub, err := newClient().Publish(context.Background(), acct, platforms.Post{
		Text: "Q3 numbers are in", IdempotencyKey: "k-media",
		Media: []platforms.Media{
			{URL: mh.url("/assets/chart.png"), Alt: "Sales chart, up 20%"},
			{URL: mh.url("/assets/team")},
		},
	})
	require.NoError(t, err)

	require.Len(t, in.uploads, 2)
	require.Equal(t, uploadRequest{Filename: "chart.png", ContentType: "image/png", Description: "Sales chart, up 20%", Size: len(pngBytes)}, in.uploads[0])
	require.Equal(t, uploadRequest{Filename: "team", ContentType: "image/jpeg", Description: "", Size: len(jpegBytes)}, in.uploads[1])
	require.Equal(t, [][]byte{pngBytes, jpegBytes}, in.uploadData)

	in.mu.Lock()
	var ids []string
	for _, m := range in.media {
		ids = append(ids, m.ID)
	}
	in.mu.Unlock()
	require.Len(t, ids, 2)

	require.Len(t, in.creates, 1)
	got := in.creates[0]
	require.Equal(t, "k-media", got.IdempotencyKey)
	require.Equal(t, "Q3 numbers are in", got.Form.Get("status"))
	mediaIDs := got.Form["media_ids[]"]
	require.Len(t, mediaIDs, 2)
	require.ElementsMatch(t, ids, mediaIDs)
	in.mu.Lock()
	require.Equal(t, "Sales chart, up 20%", in.media[mediaIDs[0]].Description, "attachments keep the post's order")
	require.Equal(t, "image", in.media[mediaIDs[1]].Type)
	in.mu.Unlock()
	st := in.stored()
	require.Len(t, st, 1)
	require.Equal(t, mediaIDs, st[0].MediaIDs)
	require.Equal(t, st[0].ID, pub.ID)
}

func TestPublishMoreThanFourAttachmentsIsPermanentBeforeAnyUpload(t *testing.T) {
	in := newInstance(t)
	mh := newMediaHost(t)
	media := make([]platforms.Media, 5)
	for i := range media {
		media[i] = platforms.Media{URL: mh.url("/assets/chart.png")}
	}
	_, err := newClient().Publish(context.Background(), in.account(aliceToken), platforms.Post{Text: "too many", Media: media})
	pe := requireKind(t, err, platforms.Permanent)
	require.Contains(t, pe.Msg, "maximum 4")
	require.Zero(t, mh.fetches())
	require.Empty(t, in.uploads)
	require.Empty(t, in.creates)
}

func TestPublishMissingMediaIsPermanentAndNothingIsPosted(t *testing.T) {
	in := newInstance(t)
	mh := newMediaHost(t)
	_, err := newClient().Publish(context.Background(), in.account(aliceToken), platforms.Post{Text: "with a dead link",
		Media: []platforms.Media{{URL: mh.url("/assets/chart.png")}, {URL: mh.url("/assets/gone.png")}}})
	pe := requireKind(t, err, platforms.Permanent)
	require.Equal(t, http.StatusNotFound, pe.Status)
	require.Empty(t, in.creates)
	require.Empty(t, in.stored())
}

func TestPublishMediaUploadServerErrorIsTransient(t *testing.T) {
	in := newInstance(t)
	mh := newMediaHost(t)
	in.setFault(func(w http.ResponseWriter, r *http.Request) bool {
		if r.URL.Path != "/api/v2/media" {
			return false
		}
		writeError(w, http.StatusServiceUnavailable, "There was a temporary problem serving your request, please try again")
		return true
	})
	_, err := newClient().Publish(context.Background(), in.account(aliceToken), platforms.Post{Text: "hi",
		Media: []platforms.Media{{URL: mh.url("/assets/chart.png"), Alt: "chart"}}})
	pe := requireKind(t, err, platforms.Transient)
	require.Equal(t, http.StatusServiceUnavailable, pe.Status)
	require.Empty(t, in.creates)
}
