package notify_test

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/cmo-dev/cmo/notify"
)

// slackHooks behaves like Slack's incoming-webhook endpoint: each path is
// one webhook, and a few are set up to fail the documented ways.
type slackHooks struct {
	srv *httptest.Server

	mu       sync.Mutex
	received []map[string]any
}

func newSlackHooks(t *testing.T) *slackHooks {
	h := &slackHooks{}
	h.srv = httptest.NewServer(http.HandlerFunc(h.serve))
	t.Cleanup(h.srv.Close)
	return h
}

func (h *slackHooks) serve(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodPost || !strings.HasPrefix(r.Header.Get("Content-Type"), "application/json") {
		http.Error(w, "invalid_payload", http.StatusBadRequest)
		return
	}
	var body map[string]any
	raw, _ := io.ReadAll(r.Body)
	if json.Unmarshal(raw, &body) != nil {
		http.Error(w, "invalid_payload", http.StatusBadRequest)
		return
	}
	if text, _ := body["text"].(string); text == "" {
		http.Error(w, "invalid_payload", http.StatusBadRequest)
		return
	}
	blocks, _ := body["blocks"].([]any)
	for _, b := range blocks {
		block, _ := b.(map[string]any)
		switch block["type"] {
		case "section":
			txt, _ := block["text"].(map[string]any)
			if s, _ := txt["text"].(string); txt["type"] != "mrkdwn" || len([]rune(s)) > 3000 {
				http.Error(w, "invalid_blocks", http.StatusBadRequest)
				return
			}
		case "context":
		default:
			http.Error(w, "invalid_blocks", http.StatusBadRequest)
			return
		}
	}
	switch r.URL.Path {
	case "/services/T1/B1/prohibited-Zx81kQ":
		http.Error(w, "action_prohibited", http.StatusForbidden)
	case "/services/T1/B1/revoked-Zx81kQ":
		http.Error(w, "no_service", http.StatusNotFound)
	case "/services/T1/B1/archived-Zx81kQ":
		http.Error(w, "channel_is_archived", http.StatusGone)
	case "/services/T1/B1/busy-Zx81kQ":
		w.Header().Set("Retry-After", "7")
		http.Error(w, "rate_limited", http.StatusTooManyRequests)
	case "/services/T1/B1/broken-Zx81kQ":
		// A server that echoes the request path would leak the token.
		http.Error(w, "internal error handling "+r.URL.Path, http.StatusInternalServerError)
	default:
		h.mu.Lock()
		h.received = append(h.received, body)
		h.mu.Unlock()
		_, _ = io.WriteString(w, "ok")
	}
}

func (h *slackHooks) messages() []map[string]any {
	h.mu.Lock()
	defer h.mu.Unlock()
	return append([]map[string]any(nil), h.received...)
}

func slackRoute(h *slackHooks, hook string) notify.Route {
	return notify.Route{Brand: "acme", Target: "slack:oncall", Kind: notify.Slack, URL: h.srv.URL + "/services/T1/B1/" + hook}
}

var httpClient = &http.Client{Timeout: 2 * time.Second}

func asNotifyError(t *testing.T, err error) *notify.Error {
	t.Helper()
	require.Error(t, err)
	var ne *notify.Error
	require.True(t, errors.As(err, &ne), "want a *notify.Error, got %T: %v", err, err)
	return ne
}

func TestSlackPostsTextAndBlocks(t *testing.T) {
	h := newSlackHooks(t)
	s := &notify.SlackSender{HTTP: httpClient}
	err := s.Send(context.Background(), slackRoute(h, "good-secret-token"), notify.Message{
		Brand: "acme", Target: "slack:oncall", Subject: "Negative spike", Text: "50 mentions, 60% negative <!channel> & more",
		Severity: "high", Incident: "crisis-1", Link: "https://cmo.example/crises/crisis-1",
	})
	require.NoError(t, err)
	got := h.messages()
	require.Len(t, got, 1)
	require.Equal(t, "[HIGH] Negative spike: 50 mentions, 60% negative <!channel> & more", got[0]["text"])
	blocks := got[0]["blocks"].([]any)
	section := blocks[0].(map[string]any)["text"].(map[string]any)
	require.Equal(t, "mrkdwn", section["type"])
	require.Equal(t, "*[HIGH] Negative spike*\n50 mentions, 60% negative &lt;!channel&gt; &amp; more\n<https://cmo.example/crises/crisis-1|Open in cmo>",
		section["text"], "mrkdwn is escaped so a message cannot ping the channel")
	ctxText := blocks[1].(map[string]any)["elements"].([]any)[0].(map[string]any)["text"]
	require.Equal(t, "Severity: *high* · Brand: acme · Incident: crisis-1", ctxText)
}

func TestSlackLongTextFitsASection(t *testing.T) {
	h := newSlackHooks(t)
	s := &notify.SlackSender{HTTP: httpClient}
	require.NoError(t, s.Send(context.Background(), slackRoute(h, "good"), notify.Message{Text: strings.Repeat("é", 5000)}))
	require.Len(t, h.messages(), 1)
}

func TestSlackErrorsSayWhetherToRetry(t *testing.T) {
	h := newSlackHooks(t)
	s := &notify.SlackSender{HTTP: httpClient}
	for _, tc := range []struct {
		hook       string
		status     int
		permanent  bool
		retryAfter time.Duration
		says       string
	}{
		{"prohibited-Zx81kQ", 403, true, 0, "action_prohibited"},
		{"revoked-Zx81kQ", 404, true, 0, "no_service"},
		{"archived-Zx81kQ", 410, true, 0, "channel_is_archived"},
		{"busy-Zx81kQ", 429, false, 7 * time.Second, "rate_limited"},
		{"broken-Zx81kQ", 500, false, 0, "internal error"},
	} {
		t.Run(tc.hook, func(t *testing.T) {
			err := s.Send(context.Background(), slackRoute(h, tc.hook), notify.Message{Text: "hello"})
			ne := asNotifyError(t, err)
			require.Equal(t, tc.status, ne.Status)
			require.Equal(t, tc.permanent, ne.Permanent)
			require.Equal(t, tc.permanent, notify.IsPermanent(err))
			require.Equal(t, tc.retryAfter, ne.RetryAfter)
			require.Contains(t, err.Error(), tc.says)
			require.NotContains(t, err.Error(), "/services/T1/B1/"+tc.hook, "the webhook URL is the credential")
		})
	}

	t.Run("invalid payload", func(t *testing.T) {
		// An empty message is refused by Slack, the same way every time.
		err := s.Send(context.Background(), slackRoute(h, "good"), notify.Message{})
		ne := asNotifyError(t, err)
		require.Equal(t, 400, ne.Status)
		require.True(t, ne.Permanent)
		require.Contains(t, err.Error(), "invalid_payload")
	})
}

func TestSlackUnreachableIsTransientAndHidesTheURL(t *testing.T) {
	h := newSlackHooks(t)
	r := slackRoute(h, "secret-token")
	h.srv.Close()
	err := (&notify.SlackSender{HTTP: httpClient}).Send(context.Background(), r, notify.Message{Text: "hello"})
	ne := asNotifyError(t, err)
	require.False(t, ne.Permanent)
	require.NotContains(t, err.Error(), "secret-token")
}
