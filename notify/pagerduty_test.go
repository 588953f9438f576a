package notify_test

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/cmo-dev/cmo/notify"
)

// Routing keys the fake Events API knows. Real integration keys are 32
// characters.
const (
	pdKey         = "R0UTINGKEY0123456789abcdefABCDEF"
	pdKeyThrottle = "THR0TTLEDKEY456789abcdefABCDEF00"
	pdKeyBroken   = "BR0KENKEY0123456789abcdefABCDEF0"
)

// pagerDuty behaves like the Events API v2 enqueue endpoint: it checks an
// event the way the API documents and answers 202, 400, 429 or 5xx.
type pagerDuty struct {
	srv *httptest.Server

	mu     sync.Mutex
	events []map[string]any
	calls  int
}

func newPagerDuty(t *testing.T) *pagerDuty {
	pd := &pagerDuty{}
	pd.srv = httptest.NewServer(http.HandlerFunc(pd.serve))
	t.Cleanup(pd.srv.Close)
	return pd
}

func (pd *pagerDuty) serve(w http.ResponseWriter, r *http.Request) {
	pd.mu.Lock()
	pd.calls++
	pd.mu.Unlock()
	w.Header().Set("Content-Type", "application/json")
	if r.URL.Path != "/v2/enqueue" || r.Method != http.MethodPost {
		w.WriteHeader(http.StatusNotFound)
		return
	}
	raw, _ := io.ReadAll(r.Body)
	var ev map[string]any
	if err := json.Unmarshal(raw, &ev); err != nil {
		invalid(w, "Invalid JSON")
		return
	}
	key, _ := ev["routing_key"].(string)
	switch key {
	case pdKeyThrottle:
		w.WriteHeader(http.StatusTooManyRequests)
		return
	case pdKeyBroken:
		w.WriteHeader(http.StatusServiceUnavailable)
		return
	}
	var errs []string
	if len(key) != 32 {
		errs = append(errs, fmt.Sprintf("Length of 'routing_key' %s is incorrect (should be 32 characters)", key))
	}
	action, _ := ev["event_action"].(string)
	if !slices.Contains([]string{"trigger", "acknowledge", "resolve"}, action) {
		errs = append(errs, "'event_action' is invalid")
	}
	dedup, _ := ev["dedup_key"].(string)
	if action != "trigger" && dedup == "" {
		errs = append(errs, "'dedup_key' is required for "+action)
	}
	if len(dedup) > 255 {
		errs = append(errs, "'dedup_key' is too long")
	}
	if action == "trigger" {
		p, _ := ev["payload"].(map[string]any)
		summary, _ := p["summary"].(string)
		if summary == "" || len([]rune(summary)) > 1024 {
			errs = append(errs, "'payload.summary' is missing or too long")
		}
		if s, _ := p["source"].(string); s == "" {
			errs = append(errs, "'payload.source' is missing")
		}
		if !slices.Contains([]string{"critical", "error", "warning", "info"}, fmt.Sprint(p["severity"])) {
			errs = append(errs, "'payload.severity' is invalid")
		}
	}
	if len(errs) > 0 {
		invalid(w, errs...)
		return
	}
	pd.mu.Lock()
	pd.events = append(pd.events, ev)
	pd.mu.Unlock()
	w.WriteHeader(http.StatusAccepted)
	_ = json.NewEncoder(w).Encode(map[string]string{"status": "success", "message": "Event processed", "dedup_key": dedup})
}

func invalid(w http.ResponseWriter, errs ...string) {
	w.WriteHeader(http.StatusBadRequest)
	_ = json.NewEncoder(w).Encode(map[string]any{"status": "invalid event", "message": "Event object is invalid", "errors": errs})
}

func (pd *pagerDuty) state() (events []map[string]any, calls int) {
	pd.mu.Lock()
	defer pd.mu.Unlock()
	return append([]map[string]any(nil), pd.events...), pd.calls
}

func (pd *pagerDuty) sender() *notify.PagerDutySender {
	return &notify.PagerDutySender{HTTP: httpClient, URL: pd.srv.URL + "/v2/enqueue"}
}

func pdRoute(key string) notify.Route {
	return notify.Route{Brand: "acme", Target: "pagerduty:comms-director", Kind: notify.PagerDuty, RoutingKey: key}
}

func TestPagerDutyTriggerBody(t *testing.T) {
	pd := newPagerDuty(t)
	err := pd.sender().Send(context.Background(), pdRoute(pdKey), notify.Message{
		ID: "crisis-1/page-1-1/pagerduty:comms-director/abc", Brand: "acme", Campaign: "crisis-1", Step: "page-1-1",
		Target: "pagerduty:comms-director", Text: "[HIGH] Negative spike for acme: 50 mentions, 60% negative.\nAcknowledge crisis crisis-1.",
		Severity: "high", Incident: "crisis-1", Link: "https://cmo.example/crises/crisis-1",
	})
	require.NoError(t, err)
	events, calls := pd.state()
	require.Equal(t, 1, calls)
	require.Len(t, events, 1)
	require.Equal(t, map[string]any{
		"routing_key":  pdKey,
		"event_action": "trigger",
		"dedup_key":    "crisis-1",
		"client":       "cmo",
		"payload": map[string]any{
			"summary":   "[HIGH] Negative spike for acme: 50 mentions, 60% negative. Acknowledge crisis crisis-1.",
			"source":    "cmo",
			"severity":  "error",
			"component": "crisis-1",
			"group":     "acme",
			"class":     "page-1-1",
			"custom_details": map[string]any{
				"text":     "[HIGH] Negative spike for acme: 50 mentions, 60% negative.\nAcknowledge crisis crisis-1.",
				"target":   "pagerduty:comms-director",
				"campaign": "crisis-1",
				"step":     "page-1-1",
				"severity": "high",
				"incident": "crisis-1",
			},
		},
		"links": []any{map[string]any{"href": "https://cmo.example/crises/crisis-1", "text": "Open in cmo"}},
	}, events[0])
}

func TestPagerDutySeverityMapping(t *testing.T) {
	pd := newPagerDuty(t)
	for sev, want := range map[string]string{"low": "info", "medium": "warning", "high": "error", "critical": "critical", "": "error"} {
		require.NoError(t, pd.sender().Send(context.Background(), pdRoute(pdKey), notify.Message{Text: "x", Incident: "i-" + sev, Severity: sev}))
		events, _ := pd.state()
		got := events[len(events)-1]
		require.Equal(t, "i-"+sev, got["dedup_key"])
		require.Equal(t, want, got["payload"].(map[string]any)["severity"], "severity %q", sev)
	}
}

func TestPagerDutyAcknowledgeAndResolveCarryNoPayload(t *testing.T) {
	pd := newPagerDuty(t)
	for _, action := range []string{notify.ActionAcknowledge, notify.ActionResolve} {
		require.NoError(t, pd.sender().Send(context.Background(), pdRoute(pdKey), notify.Message{Text: "calm again", Incident: "crisis-1", Action: action}))
	}
	events, _ := pd.state()
	require.Len(t, events, 2)
	for i, action := range []string{"acknowledge", "resolve"} {
		require.Equal(t, map[string]any{"routing_key": pdKey, "event_action": action, "dedup_key": "crisis-1", "client": "cmo"}, events[i])
	}
}

func TestPagerDutyLongSummaryAndDedupKeyAreCut(t *testing.T) {
	pd := newPagerDuty(t)
	long := strings.Repeat("ü", 2000)
	require.NoError(t, pd.sender().Send(context.Background(), pdRoute(pdKey), notify.Message{Text: long, Incident: strings.Repeat("k", 400)}))
	events, _ := pd.state()
	require.Len(t, events, 1)
	require.Len(t, []rune(events[0]["payload"].(map[string]any)["summary"].(string)), 1024)
	require.Len(t, events[0]["dedup_key"], 255)
	require.Equal(t, long, events[0]["payload"].(map[string]any)["custom_details"].(map[string]any)["text"], "the whole text travels in the details")
}

func TestPagerDutyInvalidEventIsPermanentAndSentOnce(t *testing.T) {
	pd := newPagerDuty(t)
	err := pd.sender().Send(context.Background(), pdRoute("too-short-key"), notify.Message{Text: "page", Incident: "crisis-1"})
	ne := asNotifyError(t, err)
	require.Equal(t, 400, ne.Status)
	require.True(t, ne.Permanent)
	require.Contains(t, err.Error(), "invalid event: Event object is invalid")
	require.Contains(t, err.Error(), "routing_key")
	require.NotContains(t, err.Error(), "too-short-key", "an echoed routing key is redacted")
	_, calls := pd.state()
	require.Equal(t, 1, calls, "the sender itself never repeats a refused event")
}

func TestPagerDutyThrottledAndServerErrorsAreRetried(t *testing.T) {
	pd := newPagerDuty(t)
	for key, status := range map[string]int{pdKeyThrottle: 429, pdKeyBroken: 503} {
		err := pd.sender().Send(context.Background(), pdRoute(key), notify.Message{Text: "page", Incident: "crisis-1"})
		ne := asNotifyError(t, err)
		require.Equal(t, status, ne.Status)
		require.False(t, ne.Permanent)
		require.NotContains(t, err.Error(), key)
	}
}
