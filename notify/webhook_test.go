package notify_test

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/cmo-dev/cmo/notify"
	"github.com/cmo-dev/cmo/platforms/webhook"
)

const hookSecret = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"

// endpoint is a receiver built as Standard Webhooks asks: it verifies
// each delivery with the same code brands can use (webhook.Verify) and
// answers what respond says.
type endpoint struct {
	srv *httptest.Server

	mu      sync.Mutex
	respond func(w http.ResponseWriter)
	ids     []string
	events  []notify.WebhookEvent
}

func newEndpoint(t *testing.T) *endpoint {
	ep := &endpoint{}
	ep.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		if err := webhook.Verify(hookSecret, r.Header, body, 0); err != nil {
			http.Error(w, err.Error(), http.StatusUnauthorized)
			return
		}
		var ev notify.WebhookEvent
		if err := json.Unmarshal(body, &ev); err != nil {
			http.Error(w, "bad json", http.StatusBadRequest)
			return
		}
		ep.mu.Lock()
		ep.ids = append(ep.ids, r.Header.Get(webhook.HeaderID))
		ep.events = append(ep.events, ev)
		respond := ep.respond
		ep.mu.Unlock()
		if respond != nil {
			respond(w)
			return
		}
		w.WriteHeader(http.StatusNoContent)
	}))
	t.Cleanup(ep.srv.Close)
	return ep
}

func (ep *endpoint) answer(fn func(w http.ResponseWriter)) {
	ep.mu.Lock()
	defer ep.mu.Unlock()
	ep.respond = fn
}

func (ep *endpoint) state() ([]string, []notify.WebhookEvent) {
	ep.mu.Lock()
	defer ep.mu.Unlock()
	return append([]string(nil), ep.ids...), append([]notify.WebhookEvent(nil), ep.events...)
}

func hookRoute(ep *endpoint, secret string) notify.Route {
	return notify.Route{Brand: "acme", Target: "webhook:ops", Kind: notify.Webhook, URL: ep.srv.URL + "/hooks/cmo", Secret: secret}
}

func TestWebhookDeliversAVerifiableEvent(t *testing.T) {
	ep := newEndpoint(t)
	s := &notify.WebhookSender{HTTP: httpClient}
	m := notify.Message{ID: "crisis-1/page-1-1/webhook:ops/abc", Brand: "acme", Campaign: "crisis-1", Step: "page-1-1",
		Target: "webhook:ops", Text: "Negative spike", Severity: "critical", Incident: "crisis-1"}
	require.NoError(t, s.Send(context.Background(), hookRoute(ep, hookSecret), m))
	require.NoError(t, s.Send(context.Background(), hookRoute(ep, hookSecret), m))

	ids, events := ep.state()
	require.Len(t, ids, 2, "both deliveries verified")
	require.Equal(t, notify.WebhookID(m), ids[0])
	require.Equal(t, ids[0], ids[1], "a re-send carries the same webhook-id, so the receiver can drop it")
	ev := events[0]
	require.Equal(t, notify.EventNotification, ev.Type)
	require.WithinDuration(t, time.Now(), ev.Timestamp, time.Minute)
	require.Equal(t, notify.WebhookEventData{ID: ids[0], Brand: "acme", Target: "webhook:ops", Campaign: "crisis-1", Step: "page-1-1",
		Text: "Negative spike", Severity: "critical", Incident: "crisis-1", Action: "trigger"}, ev.Data)
}

func TestWebhookWrongSecretIsRefused(t *testing.T) {
	ep := newEndpoint(t)
	err := (&notify.WebhookSender{HTTP: httpClient}).Send(context.Background(),
		hookRoute(ep, "whsec_c29tZSBvdGhlciBrZXk="), notify.Message{ID: "x", Text: "hi"})
	ne := asNotifyError(t, err)
	require.Equal(t, 401, ne.Status, "the receiver's verification fails")
	require.True(t, ne.Permanent)

	err = (&notify.WebhookSender{HTTP: httpClient}).Send(context.Background(), hookRoute(ep, "not-a-secret!"), notify.Message{ID: "x", Text: "hi"})
	require.True(t, notify.IsPermanent(err))
	require.NotContains(t, err.Error(), "not-a-secret!")
}

func TestWebhookStatuses(t *testing.T) {
	ep := newEndpoint(t)
	s := &notify.WebhookSender{HTTP: httpClient}
	for _, tc := range []struct {
		name       string
		status     int
		header     map[string]string
		permanent  bool
		retryAfter time.Duration
	}{
		{"ok", 200, nil, false, 0},
		{"accepted", 202, nil, false, 0},
		{"gone", 410, nil, true, 0},
		{"bad request", 400, nil, true, 0},
		{"not found", 404, nil, true, 0},
		{"redirect", 301, map[string]string{"Location": "https://elsewhere.example/"}, true, 0},
		{"timeout", 408, nil, false, 0},
		{"throttled", 429, map[string]string{"Retry-After": "120"}, false, 2 * time.Minute},
		{"server error", 500, nil, false, 0},
		{"unavailable", 503, map[string]string{"Retry-After": "5"}, false, 5 * time.Second},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ep.answer(func(w http.ResponseWriter) {
				for k, v := range tc.header {
					w.Header().Set(k, v)
				}
				w.WriteHeader(tc.status)
			})
			err := s.Send(context.Background(), hookRoute(ep, hookSecret), notify.Message{ID: "m-" + tc.name, Text: "hi"})
			if tc.status/100 == 2 {
				require.NoError(t, err)
				return
			}
			ne := asNotifyError(t, err)
			require.Equal(t, tc.status, ne.Status)
			require.Equal(t, tc.permanent, ne.Permanent)
			require.Equal(t, tc.retryAfter, ne.RetryAfter)
			require.NotContains(t, err.Error(), ep.srv.URL)
		})
	}
}
