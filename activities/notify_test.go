package activities_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/stretchr/testify/require"
	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/testsuite"

	"github.com/cmo-dev/cmo/activities"
	"github.com/cmo-dev/cmo/internal/pgtest"
	"github.com/cmo-dev/cmo/notify"
	"github.com/cmo-dev/cmo/platforms/webhook"
	"github.com/cmo-dev/cmo/sealbox"
	"github.com/cmo-dev/cmo/store"
)

const (
	goodRoutingKey = "R0UTINGKEY0123456789abcdefABCDEF"
	badRoutingKey  = "rk-refused-4242"
	hookSecret     = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
)

// receivers stands in for Slack, PagerDuty and a brand's webhook endpoint,
// counting what each receives; slack answers what slackAnswer says for
// each call, in order, then 200 ok.
type receivers struct {
	srv *httptest.Server

	mu          sync.Mutex
	slackAnswer []func(w http.ResponseWriter)
	calls       map[string]int
	pdEvents    []map[string]any
}

func newReceivers(t *testing.T) *receivers {
	rc := &receivers{calls: map[string]int{}}
	rc.srv = httptest.NewServer(http.HandlerFunc(rc.serve))
	t.Cleanup(rc.srv.Close)
	return rc
}

func (rc *receivers) serve(w http.ResponseWriter, r *http.Request) {
	body, _ := io.ReadAll(r.Body)
	rc.mu.Lock()
	defer rc.mu.Unlock()
	switch r.URL.Path {
	case "/slack/services/T1/B1/tok-secret":
		rc.calls["slack"]++
		if len(rc.slackAnswer) > 0 {
			answer := rc.slackAnswer[0]
			rc.slackAnswer = rc.slackAnswer[1:]
			answer(w)
			return
		}
		_, _ = io.WriteString(w, "ok")
	case "/pagerduty/v2/enqueue":
		rc.calls["pagerduty"]++
		var ev map[string]any
		_ = json.Unmarshal(body, &ev)
		if ev["routing_key"] != goodRoutingKey {
			w.WriteHeader(http.StatusBadRequest)
			_, _ = io.WriteString(w, `{"status":"invalid event","message":"Event object is invalid","errors":["Length of 'routing_key' is incorrect (should be 32 characters)"]}`)
			return
		}
		rc.pdEvents = append(rc.pdEvents, ev)
		w.WriteHeader(http.StatusAccepted)
		_, _ = io.WriteString(w, `{"status":"success","message":"Event processed","dedup_key":"x"}`)
	case "/hooks/ops":
		if err := webhook.Verify(hookSecret, r.Header, body, 0); err != nil {
			http.Error(w, err.Error(), http.StatusUnauthorized)
			return
		}
		rc.calls["webhook"]++
		w.WriteHeader(http.StatusNoContent)
	default:
		http.NotFound(w, r)
	}
}

func (rc *receivers) count(name string) int {
	rc.mu.Lock()
	defer rc.mu.Unlock()
	return rc.calls[name]
}

func (rc *receivers) failSlack(answers ...func(w http.ResponseWriter)) {
	rc.mu.Lock()
	defer rc.mu.Unlock()
	rc.slackAnswer = answers
}

type notifyFixture struct {
	store *store.Store
	acts  *activities.Activities
	rc    *receivers
}

func newNotifyFixture(t *testing.T) *notifyFixture {
	t.Helper()
	pool, _ := pgtest.NewDB(t, func(ctx context.Context, p *pgxpool.Pool) error { return store.Migrate(ctx, p, nil) })
	box, err := sealbox.New(bytes.Repeat([]byte{3}, 32))
	require.NoError(t, err)
	f := &notifyFixture{store: store.New(pool, box), rc: newReceivers(t)}
	ctx := context.Background()
	require.NoError(t, f.store.UpsertBrand(ctx, store.Brand{ID: "acme", Name: "Acme"}))
	routes := []struct {
		target, kind string
		secrets      map[string]string
	}{
		{"slack:oncall", "slack", map[string]string{"url": f.rc.srv.URL + "/slack/services/T1/B1/tok-secret"}},
		{"webhook:ops", "webhook", map[string]string{"url": f.rc.srv.URL + "/hooks/ops", "secret": hookSecret}},
		{"pagerduty:comms-director", "pagerduty", map[string]string{"routing_key": goodRoutingKey}},
		{"pagerduty:misconfigured", "pagerduty", map[string]string{"routing_key": badRoutingKey}},
		{"email:comms-leads", "email", nil},
	}
	for _, r := range routes {
		_, err := f.store.UpsertNotificationRoute(ctx, store.NotificationRoute{BrandID: "acme", Target: r.target, Kind: r.kind,
			Config: store.RouteConfig{Addresses: []string{"press@acme.example"}}}, r.secrets)
		require.NoError(t, err)
	}
	// No SMTP server is configured: e-mail routes cannot be delivered.
	f.acts = &activities.Activities{Store: f.store, Notifiers: notify.New(notify.Options{
		HTTP: &http.Client{Timeout: 2 * time.Second}, PagerDutyURL: f.rc.srv.URL + "/pagerduty/v2/enqueue",
	})}
	return f
}

func (f *notifyFixture) notify(in activities.NotifyInput) error {
	var s testsuite.WorkflowTestSuite
	env := s.NewTestActivityEnvironment()
	env.RegisterActivity(f.acts)
	_, err := env.ExecuteActivity(f.acts.Notify, in)
	return err
}

func (f *notifyFixture) states(t *testing.T) map[string]store.Delivery {
	t.Helper()
	ds, err := f.store.Deliveries(context.Background(), "acme", "", 100)
	require.NoError(t, err)
	out := map[string]store.Delivery{}
	for _, d := range ds {
		out[d.Target] = d
	}
	return out
}

func appError(t *testing.T, err error) *temporal.ApplicationError {
	t.Helper()
	var app *temporal.ApplicationError
	require.True(t, errors.As(err, &app), "want an application error, got %T: %v", err, err)
	return app
}

func TestNotifyRetrySendsOnlyWhatFailed(t *testing.T) {
	f := newNotifyFixture(t)
	f.rc.failSlack(func(w http.ResponseWriter) {
		http.Error(w, "internal error at /services/T1/B1/tok-secret", http.StatusInternalServerError)
	})
	in := activities.NotifyInput{CampaignID: "launch", Brand: "acme", StepID: "tell-team", To: []string{"slack:oncall", "webhook:ops"}, Message: "We are live"}

	err := f.notify(in)
	app := appError(t, err)
	require.False(t, app.NonRetryable(), "a 500 may pass later: %v", err)
	require.Equal(t, activities.ErrTypeUndelivered, app.Type())
	require.Contains(t, err.Error(), "slack:oncall")
	require.NotContains(t, err.Error(), "tok-secret", "the Slack URL is a credential")
	st := f.states(t)
	require.Equal(t, store.DeliveryPending, st["slack:oncall"].Status)
	require.Equal(t, 1, st["slack:oncall"].Attempts)
	require.Contains(t, st["slack:oncall"].LastError, "slack 500")
	require.NotContains(t, st["slack:oncall"].LastError, "tok-secret")
	require.Equal(t, store.DeliverySent, st["webhook:ops"].Status)

	require.NoError(t, f.notify(in), "the retry delivers")
	require.Equal(t, 2, f.rc.count("slack"))
	require.Equal(t, 1, f.rc.count("webhook"), "the retry skips what was sent")
	st = f.states(t)
	require.Equal(t, store.DeliverySent, st["slack:oncall"].Status)
	require.Empty(t, st["slack:oncall"].LastError)
	require.NotNil(t, st["slack:oncall"].SentAt)

	require.NoError(t, f.notify(in), "a replayed step sends nothing again")
	require.Equal(t, 2, f.rc.count("slack"))
	require.Equal(t, 1, f.rc.count("webhook"))
	require.Len(t, f.states(t), 2, "one outbox row per target")
}

func TestNotifyPermanentFailureIsRecordedAndNeverRetried(t *testing.T) {
	f := newNotifyFixture(t)
	f.rc.failSlack(func(w http.ResponseWriter) {
		w.Header().Set("Retry-After", "30")
		http.Error(w, "rate_limited", http.StatusTooManyRequests)
	})
	in := activities.NotifyInput{CampaignID: "crisis-7", Brand: "acme", StepID: "page-1-1",
		To: []string{"pagerduty:misconfigured", "slack:oncall", "role:comms-director"}, Message: "[HIGH] Negative spike", Severity: "high"}

	err := f.notify(in)
	app := appError(t, err)
	require.False(t, app.NonRetryable(), "Slack asked to wait, so the activity retries: %v", err)
	require.Equal(t, 30*time.Second, app.NextRetryDelay(), "after Slack's Retry-After")
	st := f.states(t)
	require.Equal(t, store.DeliveryFailed, st["pagerduty:misconfigured"].Status)
	require.Contains(t, st["pagerduty:misconfigured"].LastError, "invalid event")
	require.Equal(t, store.DeliveryPending, st["slack:oncall"].Status)
	require.Equal(t, store.DeliveryUnrouted, st["role:comms-director"].Status, "no route is not an error")
	require.Contains(t, st["role:comms-director"].LastError, "no route")

	err = f.notify(in)
	app = appError(t, err)
	require.True(t, app.NonRetryable(), "only a refused target is left: %v", err)
	require.Equal(t, activities.ErrTypePermanent, app.Type())
	require.Contains(t, err.Error(), "pagerduty:misconfigured")
	require.NotContains(t, err.Error(), "slack:oncall")
	require.NotContains(t, err.Error(), badRoutingKey)
	require.Equal(t, 1, f.rc.count("pagerduty"), "a refused event is sent exactly once")
	require.Equal(t, 2, f.rc.count("slack"))
	st = f.states(t)
	require.Equal(t, store.DeliverySent, st["slack:oncall"].Status)
	require.Equal(t, store.DeliveryFailed, st["pagerduty:misconfigured"].Status)
	require.Equal(t, 1, st["pagerduty:misconfigured"].Attempts)
}

func TestNotifyPagesWithTheCrisisAsDedupKey(t *testing.T) {
	f := newNotifyFixture(t)
	page := activities.NotifyInput{CampaignID: "crisis-7", Brand: "acme", StepID: "page-2-1",
		To: []string{"pagerduty:comms-director"}, Message: "Crisis crisis-7 needs you", Severity: "critical"}
	require.NoError(t, f.notify(page))
	resolve := page
	resolve.StepID, resolve.Message, resolve.Action, resolve.Severity = "all-clear", "All clear", notify.ActionResolve, ""
	require.NoError(t, f.notify(resolve))

	require.Len(t, f.rc.pdEvents, 2)
	require.Equal(t, "trigger", f.rc.pdEvents[0]["event_action"])
	require.Equal(t, "crisis-7", f.rc.pdEvents[0]["dedup_key"], "the crisis id, when no incident is given")
	require.Equal(t, "critical", f.rc.pdEvents[0]["payload"].(map[string]any)["severity"])
	require.Equal(t, map[string]any{"routing_key": goodRoutingKey, "event_action": "resolve", "dedup_key": "crisis-7", "client": "cmo"}, f.rc.pdEvents[1])
}

func TestNotifyWithoutANotifierOrRouteIsUnrouted(t *testing.T) {
	f := newNotifyFixture(t)
	in := activities.NotifyInput{CampaignID: "launch", Brand: "acme", StepID: "s", To: []string{"email:comms-leads", "slack:nobody", "log:audit"}, Message: "hi"}
	require.NoError(t, f.notify(in))
	st := f.states(t)
	require.Equal(t, store.DeliveryUnrouted, st["email:comms-leads"].Status)
	require.Contains(t, st["email:comms-leads"].LastError, "no email notifier")
	require.Equal(t, store.DeliveryUnrouted, st["slack:nobody"].Status)
	require.Equal(t, store.DeliverySent, st["log:audit"].Status, "log targets are written to the log")

	// Routing the target later lets the next notification reach it; the
	// earlier row is looked at again if its step is retried.
	_, err := f.store.UpsertNotificationRoute(context.Background(), store.NotificationRoute{BrandID: "acme", Target: "slack:nobody", Kind: "slack"},
		map[string]string{"url": f.rc.srv.URL + "/slack/services/T1/B1/tok-secret"})
	require.NoError(t, err)
	require.NoError(t, f.notify(in))
	require.Equal(t, store.DeliverySent, f.states(t)["slack:nobody"].Status)
	require.Equal(t, 1, f.rc.count("slack"))
}

func TestNotifyRefusesUnknownActionAndSeverity(t *testing.T) {
	f := newNotifyFixture(t)
	for _, in := range []activities.NotifyInput{
		{CampaignID: "c", Brand: "acme", StepID: "s", To: []string{"slack:oncall"}, Message: "x", Action: "snooze"},
		{CampaignID: "c", Brand: "acme", StepID: "s", To: []string{"slack:oncall"}, Message: "x", Severity: "apocalyptic"},
	} {
		app := appError(t, f.notify(in))
		require.True(t, app.NonRetryable())
	}
	require.Zero(t, f.rc.count("slack"))
	require.Empty(t, f.states(t))
}
