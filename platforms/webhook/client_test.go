package webhook_test

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/cmo-dev/cmo/platforms"
	"github.com/cmo-dev/cmo/platforms/webhook"
)

const (
	testTimeout = 300 * time.Millisecond
	testSecret  = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
)

// receiver is an endpoint built the way Standard Webhooks asks receivers
// to be: it verifies every delivery and processes each webhook-id once.
type receiver struct {
	t   *testing.T
	srv *httptest.Server

	mu        sync.Mutex
	seen      []string // webhook-id of every verified delivery
	processed map[string]webhook.Event
	headers   http.Header

	// respond, when set, answers instead of 204 (after verification).
	respond func(w http.ResponseWriter) bool
	// afterProcess runs once an event is processed, before answering.
	afterProcess func(r *http.Request)
}

func newReceiver(t *testing.T) *receiver {
	rc := &receiver{t: t, processed: map[string]webhook.Event{}}
	rc.srv = httptest.NewServer(http.HandlerFunc(rc.serve))
	t.Cleanup(rc.srv.Close)
	return rc
}

func (rc *receiver) serve(w http.ResponseWriter, r *http.Request) {
	body, _ := io.ReadAll(r.Body)
	if err := webhook.Verify(testSecret, r.Header, body, 0); err != nil {
		http.Error(w, err.Error(), http.StatusUnauthorized)
		return
	}
	rc.mu.Lock()
	id := r.Header.Get(webhook.HeaderID)
	rc.seen = append(rc.seen, id)
	rc.headers = r.Header.Clone()
	respond := rc.respond
	_, dup := rc.processed[id]
	if !dup && respond == nil {
		var ev webhook.Event
		if err := json.Unmarshal(body, &ev); err != nil {
			rc.mu.Unlock()
			http.Error(w, "bad json", http.StatusBadRequest)
			return
		}
		rc.processed[id] = ev
	}
	after := rc.afterProcess
	rc.mu.Unlock()
	if respond != nil && respond(w) {
		return
	}
	if after != nil && !dup {
		after(r)
	}
	w.WriteHeader(http.StatusNoContent)
}

func (rc *receiver) set(fn func()) {
	rc.mu.Lock()
	defer rc.mu.Unlock()
	fn()
}

func (rc *receiver) state() (seen []string, processed map[string]webhook.Event, h http.Header) {
	rc.mu.Lock()
	defer rc.mu.Unlock()
	processed = make(map[string]webhook.Event, len(rc.processed))
	for k, v := range rc.processed {
		processed[k] = v
	}
	return append([]string(nil), rc.seen...), processed, rc.headers
}

func account(rc *receiver) platforms.Account {
	return platforms.Account{
		ChannelID: "ch_acme_hook", Platform: webhook.Platform, Handle: "intranet",
		Secrets: map[string]string{"secret": testSecret},
		Config:  map[string]string{"url": rc.srv.URL + "/hooks/cmo"},
	}
}

func client() *webhook.Client { return webhook.New(&http.Client{Timeout: testTimeout}) }

func asError(t *testing.T, err error) *platforms.Error {
	t.Helper()
	require.Error(t, err)
	var pe *platforms.Error
	require.True(t, errors.As(err, &pe), "want a *platforms.Error, got %T: %v", err, err)
	return pe
}

func TestPublishDeliversASignedEvent(t *testing.T) {
	rc := newReceiver(t)
	before := time.Now()

	pub, err := client().Publish(context.Background(), account(rc),
		platforms.Post{Text: "Hello endpoint", IdempotencyKey: "3f2a9c", InReplyTo: "prev-1"})
	require.NoError(t, err)
	require.Equal(t, platforms.Published{ID: "3f2a9c", URL: "", At: pub.At}, pub, "the receipt's id is the webhook-id")
	require.WithinDuration(t, before, pub.At, time.Second)

	seen, processed, h := rc.state()
	require.Equal(t, []string{"3f2a9c"}, seen, "webhook-id is the post's idempotency key")
	require.Equal(t, "application/json", h.Get("Content-Type"))
	ev := processed["3f2a9c"]
	require.Equal(t, webhook.EventPostCreated, ev.Type)
	require.WithinDuration(t, before, ev.Timestamp, time.Second)
	require.Equal(t, webhook.EventData{ChannelID: "ch_acme_hook", Text: "Hello endpoint", IdempotencyKey: "3f2a9c", InReplyTo: "prev-1"}, ev.Data)
}

func TestPublishBodyShape(t *testing.T) {
	var body []byte
	var h http.Header
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ = io.ReadAll(r.Body)
		h = r.Header.Clone()
		w.WriteHeader(http.StatusOK)
	}))
	defer srv.Close()
	acct := platforms.Account{ChannelID: "ch_x", Secrets: map[string]string{"secret": testSecret}, Config: map[string]string{"url": srv.URL}}

	_, err := client().Publish(context.Background(), acct, platforms.Post{Text: "shape", IdempotencyKey: "k"})
	require.NoError(t, err)
	require.NoError(t, webhook.Verify(testSecret, h, body, 0), "signed over the exact bytes sent")
	var raw map[string]any
	require.NoError(t, json.Unmarshal(body, &raw))
	require.Equal(t, "post.created", raw["type"])
	_, err = time.Parse(time.RFC3339Nano, raw["timestamp"].(string))
	require.NoError(t, err)
	require.Equal(t, map[string]any{"channel_id": "ch_x", "text": "shape", "idempotency_key": "k"}, raw["data"])
}

func TestTimeoutAfterReceiptRedeliversTheSameIDAndReceiverDeduplicates(t *testing.T) {
	rc := newReceiver(t)
	rc.set(func() {
		rc.afterProcess = func(r *http.Request) {
			select { // the receiver did the work but answers too late
			case <-r.Context().Done():
			case <-time.After(3 * testTimeout):
			}
		}
	})
	c := client()
	acct := account(rc)
	post := platforms.Post{Text: "Incident resolved", IdempotencyKey: "a1b2c3"}

	_, err := c.Publish(context.Background(), acct, post)
	require.Equal(t, platforms.Transient, asError(t, err).Kind)

	// There is nothing to read back: the retry relies on the webhook-id.
	recent, err := c.Recent(context.Background(), acct, 40)
	require.NoError(t, err)
	require.Nil(t, recent)

	rc.set(func() { rc.afterProcess = nil })
	pub, err := c.Publish(context.Background(), acct, post)
	require.NoError(t, err)
	require.Equal(t, "a1b2c3", pub.ID)

	seen, processed, _ := rc.state()
	require.Equal(t, []string{"a1b2c3", "a1b2c3"}, seen, "the receiver saw the same webhook-id twice")
	require.Len(t, processed, 1, "and processed the post once")
}

func TestStatusHandling(t *testing.T) {
	for _, tc := range []struct {
		name       string
		status     int
		retryAfter string
		kind       platforms.ErrorKind
		wait       time.Duration
	}{
		{"gone disables the channel", http.StatusGone, "", platforms.Auth, 0},
		{"refused signature", http.StatusUnauthorized, "", platforms.Auth, 0},
		{"forbidden", http.StatusForbidden, "", platforms.Auth, 0},
		{"throttled with Retry-After", http.StatusTooManyRequests, "17", platforms.RateLimited, 17 * time.Second},
		{"throttled without Retry-After", http.StatusTooManyRequests, "", platforms.RateLimited, webhook.DefaultRetryAfter},
		{"unavailable with Retry-After", http.StatusServiceUnavailable, "120", platforms.RateLimited, 2 * time.Minute},
		{"server error", http.StatusInternalServerError, "", platforms.Transient, 0},
		{"bad gateway", http.StatusBadGateway, "", platforms.Transient, 0},
		{"gateway timeout", http.StatusGatewayTimeout, "", platforms.Transient, 0},
		{"bad request", http.StatusBadRequest, "", platforms.Permanent, 0},
		{"unprocessable", http.StatusUnprocessableEntity, "", platforms.Permanent, 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			rc := newReceiver(t)
			rc.set(func() {
				rc.respond = func(w http.ResponseWriter) bool {
					if tc.retryAfter != "" {
						w.Header().Set("Retry-After", tc.retryAfter)
					}
					http.Error(w, http.StatusText(tc.status), tc.status)
					return true
				}
			})
			_, err := client().Publish(context.Background(), account(rc), platforms.Post{Text: "x", IdempotencyKey: "k"})
			pe := asError(t, err)
			require.Equal(t, tc.kind, pe.Kind)
			require.Equal(t, tc.status, pe.Status)
			require.Equal(t, tc.wait, pe.RetryAfter)
			require.NotContains(t, err.Error(), "MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw")
		})
	}
}

func TestWrongSecretIsAuth(t *testing.T) {
	rc := newReceiver(t)
	acct := account(rc)
	acct.Secrets["secret"] = "whsec_b3RoZXItc2VjcmV0LWtleS1mb3ItdGVzdHMtMzI="

	_, err := client().Publish(context.Background(), acct, platforms.Post{Text: "x", IdempotencyKey: "k"})
	pe := asError(t, err)
	require.Equal(t, platforms.Auth, pe.Kind, "the receiver refuses the signature: the secret is wrong")
	require.NotContains(t, err.Error(), "b3RoZXItc2VjcmV0")
}

func TestRedirectsAreNotFollowed(t *testing.T) {
	hits := 0
	target := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { hits++ }))
	defer target.Close()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		http.Redirect(w, r, target.URL, http.StatusPermanentRedirect)
	}))
	defer srv.Close()
	acct := platforms.Account{ChannelID: "ch_x", Secrets: map[string]string{"secret": testSecret}, Config: map[string]string{"url": srv.URL}}

	_, err := client().Publish(context.Background(), acct, platforms.Post{Text: "x", IdempotencyKey: "k"})
	require.Equal(t, platforms.Permanent, asError(t, err).Kind)
	require.Contains(t, err.Error(), target.URL)
	require.Zero(t, hits)
}

func TestMisconfiguredChannel(t *testing.T) {
	rc := newReceiver(t)
	acct := account(rc)
	delete(acct.Config, "url")
	_, err := client().Publish(context.Background(), acct, platforms.Post{Text: "x", IdempotencyKey: "k"})
	require.Equal(t, platforms.Permanent, asError(t, err).Kind)
	require.Contains(t, err.Error(), "config.url")

	acct = account(rc)
	acct.Secrets["secret"] = "not base64!"
	_, err = client().Publish(context.Background(), acct, platforms.Post{Text: "x", IdempotencyKey: "k"})
	require.Equal(t, platforms.Auth, asError(t, err).Kind)
	require.NotContains(t, err.Error(), "not base64!")

	_, err = client().Publish(context.Background(), account(rc), platforms.Post{Text: "x", IdempotencyKey: "has.dots"})
	require.Equal(t, platforms.Permanent, asError(t, err).Kind)

	seen, _, _ := rc.state()
	require.Empty(t, seen)
}

func TestPublishWithoutIdempotencyKeyGetsAnID(t *testing.T) {
	rc := newReceiver(t)
	pub, err := client().Publish(context.Background(), account(rc), platforms.Post{Text: "no key"})
	require.NoError(t, err)
	require.Regexp(t, `^msg_[0-9a-f]{32}$`, pub.ID)
}

func TestDeleteSendsPostDeleted(t *testing.T) {
	rc := newReceiver(t)
	c := client()
	acct := account(rc)

	require.NoError(t, c.Delete(context.Background(), acct, "3f2a9c"))
	_, processed, _ := rc.state()
	ev := processed["del_3f2a9c"]
	require.Equal(t, webhook.EventPostDeleted, ev.Type)
	require.Equal(t, webhook.EventData{ChannelID: "ch_acme_hook", PostID: "3f2a9c"}, ev.Data)

	rc.set(func() {
		rc.respond = func(w http.ResponseWriter) bool { http.NotFound(w, nil); return true }
	})
	require.NoError(t, c.Delete(context.Background(), acct, "unknown"), "an endpoint that does not know the post has nothing to delete")
}

func TestMetricsAndAccountInfo(t *testing.T) {
	rc := newReceiver(t)
	c := client()

	m, err := c.Metrics(context.Background(), account(rc), "3f2a9c")
	require.NoError(t, err)
	require.Equal(t, platforms.Metrics{At: m.At}, m)

	info, err := c.AccountInfo(context.Background(), account(rc))
	require.NoError(t, err)
	require.Equal(t, "ch_acme_hook", info.ID)
	require.Equal(t, rc.srv.Listener.Addr().String(), info.Handle)
	seen, _, _ := rc.state()
	require.Empty(t, seen, "checking the channel sends nothing")

	acct := account(rc)
	acct.Secrets["secret"] = ""
	_, err = c.AccountInfo(context.Background(), acct)
	require.Equal(t, platforms.Auth, asError(t, err).Kind)
}
