package server_test

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/stretchr/testify/require"

	"github.com/cmo-dev/cmo/internal/pgtest"
	"github.com/cmo-dev/cmo/sealbox"
	"github.com/cmo-dev/cmo/server"
	"github.com/cmo-dev/cmo/store"
)

const (
	slackHook  = "https://hooks.slack.com/services/T0001/B0001/slacksecret123"
	routingKey = "R0UTINGKEY0123456789abcdefABCDEF"
	signingKey = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
)

// routesAPI is the API on a fresh database with the brand acme.
func routesAPI(t *testing.T) (*httptest.Server, *store.Store) {
	t.Helper()
	pool, _ := pgtest.NewDB(t, func(ctx context.Context, p *pgxpool.Pool) error { return store.Migrate(ctx, p, nil) })
	box, err := sealbox.New(bytes.Repeat([]byte{5}, 32))
	require.NoError(t, err)
	s := store.New(pool, box)
	require.NoError(t, s.UpsertBrand(context.Background(), store.Brand{ID: "acme", Name: "Acme"}))
	return serveAPI(t, s, server.New(server.Deps{Store: s}).Handler()), s
}

type routeAnswer struct {
	status int
	raw    string
	body   map[string]any
}

func call(t *testing.T, method, url, body string) routeAnswer {
	t.Helper()
	req, err := http.NewRequest(method, url, strings.NewReader(body))
	require.NoError(t, err)
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	defer resp.Body.Close()
	raw, err := io.ReadAll(resp.Body)
	require.NoError(t, err)
	a := routeAnswer{status: resp.StatusCode, raw: string(raw)}
	if len(raw) > 0 {
		require.NoError(t, json.Unmarshal(raw, &a.body), string(raw))
	}
	if resp.StatusCode >= 400 {
		require.Equal(t, "application/problem+json", resp.Header.Get("Content-Type"))
	}
	return a
}

func TestRoutesPutListDelete(t *testing.T) {
	ts, s := routesAPI(t)
	base := ts.URL + "/v1/brands/acme/routes/"

	a := call(t, http.MethodPut, base+"slack:community-oncall", `{"url": "`+slackHook+`"}`)
	require.Equal(t, http.StatusCreated, a.status, a.raw)
	require.Equal(t, "slack", a.body["kind"], "the kind defaults from the prefix")
	require.NotContains(t, a.raw, "slacksecret123")

	// The colon may come escaped; both spellings name the same route.
	a = call(t, http.MethodPut, base+"slack%3Acommunity-oncall", `{"kind": "slack", "url": "`+slackHook+`"}`)
	require.Equal(t, http.StatusOK, a.status, "replaced, not created again: %s", a.raw)
	require.Equal(t, "slack:community-oncall", a.body["target"])

	a = call(t, http.MethodPut, base+"email:comms-leads", `{"addresses": ["press@acme.example", "Núria Puig <nuria@acme.example>"]}`)
	require.Equal(t, http.StatusCreated, a.status, a.raw)
	a = call(t, http.MethodPut, base+"pagerduty:comms-director", `{"kind": "pagerduty", "routing_key": "`+routingKey+`"}`)
	require.Equal(t, http.StatusCreated, a.status, a.raw)
	a = call(t, http.MethodPut, base+"webhook:ops", `{"url": "https://ops.acme.example/hooks/cmo", "secret": "`+signingKey+`"}`)
	require.Equal(t, http.StatusCreated, a.status, a.raw)
	a = call(t, http.MethodPut, base+"role:comms-director", `{"kind": "pagerduty", "routing_key": "`+routingKey+`"}`)
	require.Equal(t, http.StatusCreated, a.status, a.raw)

	a = call(t, http.MethodGet, ts.URL+"/v1/brands/acme/routes", "")
	require.Equal(t, http.StatusOK, a.status)
	routes := a.body["routes"].([]any)
	require.Len(t, routes, 5)
	var targets []string
	for _, r := range routes {
		targets = append(targets, r.(map[string]any)["target"].(string))
	}
	require.Equal(t, []string{"email:comms-leads", "pagerduty:comms-director", "role:comms-director", "slack:community-oncall", "webhook:ops"}, targets)
	require.Equal(t, []any{"press@acme.example", "Núria Puig <nuria@acme.example>"}, routes[0].(map[string]any)["config"].(map[string]any)["addresses"])
	for _, secret := range []string{"slacksecret123", "hooks.slack.com", routingKey, signingKey, "ops.acme.example"} {
		require.NotContains(t, a.raw, secret, "routes are listed without secrets")
	}

	sec, err := s.NotificationRouteSecrets(context.Background(), "acme", "webhook:ops")
	require.NoError(t, err)
	require.Equal(t, map[string]string{"url": "https://ops.acme.example/hooks/cmo", "secret": signingKey}, sec, "the worker can open what the API sealed")

	require.Equal(t, http.StatusNoContent, call(t, http.MethodDelete, base+"webhook%3Aops", "").status)
	a = call(t, http.MethodDelete, base+"webhook:ops", "")
	require.Equal(t, http.StatusNotFound, a.status)
	require.Equal(t, "target", a.body["field"])
	a = call(t, http.MethodGet, ts.URL+"/v1/brands/acme/routes", "")
	require.Len(t, a.body["routes"], 4)

	a = call(t, http.MethodGet, ts.URL+"/v1/brands/nobody/routes", "")
	require.Equal(t, http.StatusNotFound, a.status)
	require.Equal(t, "brand", a.body["field"])
}

func TestRouteProblemsNameTheField(t *testing.T) {
	ts, _ := routesAPI(t)
	base := ts.URL + "/v1/brands/acme/routes/"
	for _, tc := range []struct {
		name, target, body string
		status             int
		field              string
	}{
		{"unknown prefix", "sms:oncall", `{"kind": "slack", "url": "` + slackHook + `"}`, 422, "target"},
		{"log targets need no route", "log:audit", `{"kind": "slack", "url": "` + slackHook + `"}`, 422, "target"},
		{"empty name", "slack:", `{"url": "` + slackHook + `"}`, 422, "target"},
		{"role without kind", "role:approver", `{"url": "` + slackHook + `"}`, 422, "kind"},
		{"unknown kind", "role:approver", `{"kind": "fax"}`, 422, "kind"},
		{"kind against prefix", "slack:oncall", `{"kind": "email", "addresses": ["a@acme.example"]}`, 422, "kind"},
		{"slack without url", "slack:oncall", `{}`, 422, "url"},
		{"slack url not a url", "slack:oncall", `{"url": "hooks.slack.com/services/x"}`, 422, "url"},
		{"slack url in clear", "slack:oncall", `{"url": "http://hooks.slack.com/services/x"}`, 422, "url"},
		{"slack with a routing key", "slack:oncall", `{"url": "` + slackHook + `", "routing_key": "` + routingKey + `"}`, 422, "routing_key"},
		{"email without addresses", "email:leads", `{"addresses": []}`, 422, "addresses"},
		{"email bad address", "email:leads", `{"addresses": ["press@acme.example", "not an address"]}`, 422, "addresses[1]"},
		{"email with a url", "email:leads", `{"addresses": ["press@acme.example"], "url": "https://x.example"}`, 422, "url"},
		{"pagerduty without key", "pagerduty:director", `{}`, 422, "routing_key"},
		{"pagerduty key with spaces", "pagerduty:director", `{"routing_key": "not a key at all"}`, 422, "routing_key"},
		{"webhook without secret", "webhook:ops", `{"url": "https://ops.acme.example/hook"}`, 422, "secret"},
		{"webhook bad secret", "webhook:ops", `{"url": "https://ops.acme.example/hook", "secret": "hunter2!"}`, 422, "secret"},
		{"unknown field", "slack:oncall", `{"url": "` + slackHook + `", "channel": "#general"}`, 422, "channel"},
		{"addresses of the wrong type", "email:leads", `{"addresses": "press@acme.example"}`, 422, "addresses"},
		{"not json", "slack:oncall", `url=x`, 400, "body"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			a := call(t, http.MethodPut, base+tc.target, tc.body)
			require.Equal(t, tc.status, a.status, a.raw)
			require.Equal(t, tc.field, a.body["field"], a.raw)
			for _, secret := range []string{"slacksecret123", routingKey, "hunter2!"} {
				require.NotContains(t, a.raw, secret, "problems never repeat a secret")
			}
		})
	}

	a := call(t, http.MethodPut, ts.URL+"/v1/brands/nobody/routes/slack:oncall", `{"url": "`+slackHook+`"}`)
	require.Equal(t, http.StatusNotFound, a.status)
	require.Equal(t, "brand", a.body["field"])

	// A local receiver may be plain http, for development.
	a = call(t, http.MethodPut, base+"webhook:local", `{"url": "http://127.0.0.1:9000/hook", "secret": "`+signingKey+`"}`)
	require.Equal(t, http.StatusCreated, a.status, a.raw)
}

func TestNotificationsListShowsDeliveryState(t *testing.T) {
	ts, s := routesAPI(t)
	ctx := context.Background()
	for _, n := range []struct{ key, target, status, err string }{
		{"k1", "slack:oncall", store.DeliverySent, ""},
		{"k2", "pagerduty:director", store.DeliveryFailed, "pagerduty 400: invalid event"},
		{"k3", "role:approver", store.DeliveryUnrouted, "brand acme has no route for role:approver"},
	} {
		_, err := s.AddNotification(ctx, n.key, store.Notification{BrandID: "acme", CampaignID: "crisis-1", StepID: "page-1-1", Target: n.target, Message: "spike"})
		require.NoError(t, err)
		require.NoError(t, s.RecordDelivery(ctx, n.key, n.status, n.err))
	}

	a := call(t, http.MethodGet, ts.URL+"/v1/brands/acme/notifications", "")
	require.Equal(t, http.StatusOK, a.status, a.raw)
	ns := a.body["notifications"].([]any)
	require.Len(t, ns, 3)
	first := ns[0].(map[string]any)
	require.Equal(t, "role:approver", first["target"], "newest first")
	require.Equal(t, "unrouted", first["status"])
	require.Equal(t, "brand acme has no route for role:approver", first["last_error"])
	sent := ns[2].(map[string]any)
	require.Equal(t, "sent", sent["status"])
	require.NotEmpty(t, sent["sent_at"])
	require.EqualValues(t, 1, sent["attempts"])

	a = call(t, http.MethodGet, ts.URL+"/v1/brands/acme/notifications?status=failed", "")
	require.Len(t, a.body["notifications"], 1)
	require.Equal(t, "pagerduty:director", a.body["notifications"].([]any)[0].(map[string]any)["target"])

	a = call(t, http.MethodGet, ts.URL+"/v1/brands/acme/notifications?limit=1", "")
	require.Len(t, a.body["notifications"], 1)

	for q, field := range map[string]string{"status=lost": "status", "limit=0": "limit", "limit=x": "limit"} {
		a = call(t, http.MethodGet, ts.URL+"/v1/brands/acme/notifications?"+q, "")
		require.Equal(t, http.StatusUnprocessableEntity, a.status, q)
		require.Equal(t, field, a.body["field"], q)
	}
}
