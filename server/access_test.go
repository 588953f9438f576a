package server_test

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	commonpb "go.temporal.io/api/common/v1"
	"go.temporal.io/api/serviceerror"
	workflowpb "go.temporal.io/api/workflow/v1"
	"go.temporal.io/api/workflowservice/v1"
	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/converter"

	"github.com/cmo-dev/cmo/access"
	"github.com/cmo-dev/cmo/playbooks"
	"github.com/cmo-dev/cmo/server"
	"github.com/cmo-dev/cmo/store"
	"github.com/cmo-dev/cmo/workflows"
)

// brandedCampaigns knows one campaign, of brand acme. Workflow calls past
// the access check fail, which the tests here do not mind: they look only
// at whether the request got past the check.
type brandedCampaigns struct{ client.Client }

func (brandedCampaigns) DescribeWorkflowExecution(_ context.Context, id, _ string) (*workflowservice.DescribeWorkflowExecutionResponse, error) {
	if id != workflows.CampaignWorkflowID("c1") {
		return nil, serviceerror.NewNotFound("workflow not found")
	}
	return describedWithBrand("acme")
}

// describedWithBrand is how Temporal describes a campaign of brand: with
// its Brand search attribute, which the API reads to check keys.
func describedWithBrand(brand string) (*workflowservice.DescribeWorkflowExecutionResponse, error) {
	p, err := converter.GetDefaultDataConverter().ToPayload(brand)
	if err != nil {
		return nil, err
	}
	return &workflowservice.DescribeWorkflowExecutionResponse{WorkflowExecutionInfo: &workflowpb.WorkflowExecutionInfo{
		SearchAttributes: &commonpb.SearchAttributes{IndexedFields: map[string]*commonpb.Payload{"Brand": p}}}}, nil
}

func (brandedCampaigns) SignalWorkflow(context.Context, string, string, string, any) error {
	return serviceerror.NewUnavailable("not in this test")
}

// SignalWithStartWorkflow lets the inbox set-up wake its (absent) workflow.
func (brandedCampaigns) SignalWithStartWorkflow(context.Context, string, string, any, client.StartWorkflowOptions, any, ...any) (client.WorkflowRun, error) {
	return startedRun{}, nil
}

func (brandedCampaigns) ExecuteWorkflow(context.Context, client.StartWorkflowOptions, any, ...any) (client.WorkflowRun, error) {
	return nil, serviceerror.NewUnavailable("not in this test")
}

func (brandedCampaigns) UpdateWorkflow(context.Context, client.UpdateWorkflowOptions) (client.WorkflowUpdateHandle, error) {
	return nil, serviceerror.NewUnavailable("not in this test")
}

func (brandedCampaigns) QueryWorkflow(context.Context, string, string, string, ...any) (converter.EncodedValue, error) {
	return nil, serviceerror.NewUnavailable("not in this test")
}

func (brandedCampaigns) ListWorkflow(context.Context, *workflowservice.ListWorkflowExecutionsRequest) (*workflowservice.ListWorkflowExecutionsResponse, error) {
	return nil, serviceerror.NewUnavailable("not in this test")
}

// accessWorld is an API over a database with two brands, acme and other,
// and one of each thing a route can name, all of acme.
type accessWorld struct {
	ts    *httptest.Server
	api   *server.Server
	st    *store.Store
	keyID string // a key of acme's, for the key routes
	ids   map[string]string
}

func newAccessWorld(t *testing.T) *accessWorld {
	t.Helper()
	ctx := context.Background()
	st := testStore(t)
	for _, b := range []string{"acme", "other"} {
		require.NoError(t, st.UpsertBrand(ctx, store.Brand{ID: b, Name: b, Timezone: "UTC"}))
	}
	require.NoError(t, st.UpsertChannel(ctx, store.Channel{ID: "ch1", BrandID: "acme", Name: "Acme", Platform: "sandbox", Handle: "acme"}, nil))
	_, err := st.RecordCrisis(ctx, store.Crisis{ID: "cr1", Brand: "acme", Playbook: "p", Scope: "brand", WorkflowID: "crisis:acme:p", RunID: "r", OpenedAt: time.Now()})
	require.NoError(t, err)
	tok, _, err := st.CreateCalendarToken(ctx, "marta", "acme")
	require.NoError(t, err)
	k, _, err := st.CreateAPIKey(ctx, "someone", access.Viewer, []string{"acme"}, "test")
	require.NoError(t, err)
	lib, err := playbooks.Shipped()
	require.NoError(t, err)
	api := server.New(server.Deps{Store: st, Playbooks: lib, Temporal: brandedCampaigns{},
		Log: slog.New(slog.NewTextHandler(io.Discard, nil)), RateLimit: -1})
	w := &accessWorld{api: api, st: st, keyID: k.ID, ids: map[string]string{"calendar": tok.ID}}
	w.ts = httptest.NewServer(api.Handler())
	t.Cleanup(w.ts.Close)
	// An inbox item of acme, opened the way mentions open them.
	admin := w.key(t, access.Admin, access.AllBrands)
	res := w.do(t, admin, "PUT", "/v1/brands/acme/inbox/setup", `{"enabled": true,
		"rules": [{"name": "complaint", "when": "mention.negative", "kind": "complaint", "priority": "high"}]}`)
	require.Equal(t, http.StatusOK, res.status, res.raw)
	res = w.do(t, admin, "POST", "/v1/mentions", `{"brand":"acme","source":"x","external_id":"1","text":"this is awful, terrible","created_at":"2026-11-25T11:59:00Z"}`)
	require.Equal(t, http.StatusOK, res.status, res.raw)
	items, err := st.InboxItems(ctx, store.InboxFilter{Brand: "acme"})
	require.NoError(t, err)
	require.Len(t, items, 1)
	w.ids["inbox"] = items[0].ID
	return w
}

func (w *accessWorld) key(t *testing.T, role access.Role, brands ...string) string {
	t.Helper()
	_, secret, err := w.st.CreateAPIKey(context.Background(), "holder-"+string(role), role, brands, "test")
	require.NoError(t, err)
	return secret
}

type accessAnswer struct {
	status int
	raw    string
	body   map[string]any
	header http.Header
}

func (w *accessWorld) do(t *testing.T, key, method, path, body string) accessAnswer {
	t.Helper()
	req, err := http.NewRequest(method, w.ts.URL+path, strings.NewReader(body))
	require.NoError(t, err)
	req.Header.Set("Content-Type", "application/json")
	if strings.HasPrefix(body, `{"brand":"acme","source"`) {
		req.Header.Set("Content-Type", "application/x-ndjson")
	}
	if key != "" {
		req.Header.Set("Authorization", "Bearer "+key)
	}
	resp, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	defer resp.Body.Close()
	raw, err := io.ReadAll(resp.Body)
	require.NoError(t, err)
	a := accessAnswer{status: resp.StatusCode, raw: string(raw), header: resp.Header}
	_ = json.Unmarshal(raw, &a.body)
	return a
}

// request fills a route's parameters with acme's things and gives it the
// body a real client would send, naming acme where the brand is in the
// body.
func (w *accessWorld) request(r server.RouteAccess) (path, body string) {
	repl := map[string]string{
		":brand": "acme", ":name": "first-campaign", ":target": "slack", ":source": "x", ":handle": "@fan",
		":code": "nope", "*": "api/v1/accounts/verify_credentials",
	}
	switch r.Brand {
	case "campaign":
		repl[":id"] = "c1"
	case "crisis":
		repl[":id"] = "cr1"
	case "inbox item":
		repl[":id"] = w.ids["inbox"]
	case "channel":
		repl[":id"] = "ch1"
	case "calendar token":
		repl[":id"] = w.ids["calendar"]
	default:
		repl[":id"] = w.keyID
	}
	var parts []string
	for _, p := range strings.Split(r.Path, "/") {
		if v, ok := repl[p]; ok {
			p = v
		}
		parts = append(parts, p)
	}
	path = strings.Join(parts, "/")
	if r.Brand == "query" {
		path += "?brand=acme"
	}
	switch r.Method + " " + r.Path {
	case "POST /v1/campaigns":
		body = `{"brand":"acme","playbook":"first-campaign","params":{"product":"x"}}`
	case "POST /v1/mentions":
		body = `{"brand":"acme","source":"x","external_id":"2","text":"fine","created_at":"2026-11-25T11:59:00Z"}`
	case "POST /v1/calendar/tokens":
		body = `{"user":"jordi","brand":"acme"}`
	case "POST /v1/keys":
		body = `{"actor":"new","role":"viewer","brands":["acme"]}`
	default:
		if r.Method != "GET" && r.Method != "DELETE" {
			body = `{}`
		}
	}
	return path, body
}

func TestEveryRouteHasOneAccessRule(t *testing.T) {
	api := server.New(server.Deps{Store: testStore(t)})
	registered := map[string]bool{}
	for _, r := range api.Access() {
		require.True(t, r.Found, "%s %s is registered but has no entry in the access table (server/access.go)", r.Method, r.Path)
		require.True(t, r.Public != "" || len(r.Roles) > 0, "%s %s: a rule must name roles or say why it is public", r.Method, r.Path)
		registered[r.Method+" "+r.Path] = true
		registered["* "+r.Path] = true
	}
	for _, k := range server.AccessRules() {
		require.True(t, registered[k], "the access table has a rule for %s, which is not a registered route", k)
	}
}

// TestRouteRoleMatrix tries every route with a key of every role for
// acme: allowed roles get past the check, the others get 403; a key for
// another brand gets 403 on every route about one brand; no key, a
// malformed or a revoked key get 401; public routes need none.
func TestRouteRoleMatrix(t *testing.T) {
	w := newAccessWorld(t)
	keys := map[access.Role]string{}
	for _, role := range access.Roles {
		keys[role] = w.key(t, role, "acme")
	}
	outsider := w.key(t, access.Admin, "other")
	global := w.key(t, access.Admin, access.AllBrands)
	revokedID, revoked, err := func() (string, string, error) {
		k, secret, err := w.st.CreateAPIKey(context.Background(), "gone", access.Admin, []string{access.AllBrands}, "test")
		return k.ID, secret, err
	}()
	require.NoError(t, err)
	_, err = w.st.RevokeAPIKey(context.Background(), revokedID)
	require.NoError(t, err)

	denied := func(a accessAnswer) bool {
		return a.status == http.StatusForbidden || a.status == http.StatusUnauthorized
	}
	checked := 0
	for _, r := range w.api.Access() {
		if r.Method == "echo_route_any" || strings.HasSuffix(r.Path, "/*") && r.Method != "GET" {
			continue // the sandbox's catch-all: one method stands for all
		}
		path, body := w.request(r)
		name := r.Method + " " + r.Path
		if r.Public != "" {
			a := w.do(t, "", r.Method, path, body)
			require.NotEqual(t, http.StatusForbidden, a.status, "%s is public: %s", name, a.raw)
			if !strings.Contains(r.Path, "hooks") && !strings.Contains(r.Path, "calendar.ics") && !strings.HasPrefix(r.Path, "/sandbox") {
				require.NotEqual(t, http.StatusUnauthorized, a.status, "%s is public: %s", name, a.raw)
			}
			continue
		}
		for _, bad := range []struct{ why, key string }{{"no key", ""}, {"not a cmo key", "hunter2"}, {"revoked key", revoked}} {
			a := w.do(t, bad.key, r.Method, path, body)
			require.Equal(t, http.StatusUnauthorized, a.status, "%s with %s: %s", name, bad.why, a.raw)
			require.Equal(t, "urn:cmo:problem:unauthorized", a.body["type"], name)
			require.Contains(t, a.header.Get("WWW-Authenticate"), "Bearer", name)
		}
		if r.Brand == "every brand" {
			for _, role := range access.Roles {
				a := w.do(t, keys[role], r.Method, path, body)
				require.Equal(t, http.StatusForbidden, a.status, "%s needs a key for every brand, not role %s of acme: %s", name, role, a.raw)
				checked++
			}
			a := w.do(t, global, r.Method, path, body)
			require.False(t, denied(a), "%s: an admin of every brand passes: %d %s", name, a.status, a.raw)
			continue
		}
		for _, role := range access.Roles {
			a := w.do(t, keys[role], r.Method, path, body)
			if slices.Contains(r.Roles, role) {
				require.False(t, denied(a), "%s with role %s for acme should pass the access check: %d %s", name, role, a.status, a.raw)
			} else {
				require.Equal(t, http.StatusForbidden, a.status, "%s must refuse role %s: %s", name, role, a.raw)
				require.Equal(t, "urn:cmo:problem:forbidden", a.body["type"], name)
				require.Equal(t, "role", a.body["field"], name)
			}
			checked++
		}
		if r.Brand != "" && slices.Contains(r.Roles, access.Admin) {
			a := w.do(t, outsider, r.Method, path, body)
			require.Equal(t, http.StatusForbidden, a.status, "%s: an admin of brand other must not reach acme's things: %s", name, a.raw)
			a = w.do(t, global, r.Method, path, body)
			require.False(t, denied(a), "%s: an admin of every brand passes: %d %s", name, a.status, a.raw)
		}
	}
	require.Greater(t, checked, 5*50, "every route × role")
}

func TestKeysCreateListRevoke(t *testing.T) {
	w := newAccessWorld(t)
	acmeAdmin := w.key(t, access.Admin, "acme")

	a := w.do(t, acmeAdmin, "POST", "/v1/keys", `{"actor":"laia","role":"approver","brands":["acme"]}`)
	require.Equal(t, http.StatusCreated, a.status, a.raw)
	secret := a.body["key"].(string)
	id := a.body["id"].(string)
	require.True(t, strings.HasPrefix(secret, access.KeyPrefix))

	me := w.do(t, secret, "GET", "/v1/whoami", "")
	require.Equal(t, http.StatusOK, me.status, me.raw)
	require.Equal(t, "laia", me.body["actor"])
	require.Equal(t, "approver", me.body["role"])

	for _, tc := range []struct{ body, field string }{
		{`{"role":"viewer","brands":["acme"]}`, "actor"},
		{`{"actor":"x","role":"boss","brands":["acme"]}`, "role"},
		{`{"actor":"x","role":"viewer","brands":[]}`, "brands"},
		{`{"actor":"x","role":"viewer","brands":["nope"]}`, "brands[0]"},
	} {
		a = w.do(t, w.key(t, access.Admin, access.AllBrands), "POST", "/v1/keys", tc.body)
		require.Equal(t, http.StatusUnprocessableEntity, a.status, a.raw)
		require.Equal(t, tc.field, a.body["field"], a.raw)
	}
	a = w.do(t, acmeAdmin, "POST", "/v1/keys", `{"actor":"x","role":"admin","brands":["*"]}`)
	require.Equal(t, http.StatusForbidden, a.status, "a brand's admin cannot make a key for every brand: %s", a.raw)
	a = w.do(t, acmeAdmin, "POST", "/v1/keys", `{"actor":"x","role":"admin","brands":["other"]}`)
	require.Equal(t, http.StatusForbidden, a.status, a.raw)

	a = w.do(t, acmeAdmin, "GET", "/v1/keys", "")
	require.Equal(t, http.StatusOK, a.status, a.raw)
	require.NotContains(t, a.raw, secret, "a list never shows secrets")
	require.NotContains(t, a.raw, "holder-admin\",\"role\":\"admin\",\"brands\":[\"*\"]", "a brand's admin sees only its brand's keys")

	a = w.do(t, acmeAdmin, "DELETE", "/v1/keys/"+id, "")
	require.Equal(t, http.StatusOK, a.status, a.raw)
	require.NotNil(t, a.body["revoked_at"])
	me = w.do(t, secret, "GET", "/v1/whoami", "")
	require.Equal(t, http.StatusUnauthorized, me.status, "a revoked key stops at once: %s", me.raw)

	entries, err := w.st.Audit(context.Background(), store.AuditFilter{Brand: "acme"})
	require.NoError(t, err)
	var actions []string
	for _, e := range entries {
		if !strings.HasPrefix(e.Action, "key.") {
			continue
		}
		actions = append(actions, e.Action)
		require.Equal(t, "holder-admin", e.Actor)
		require.NotContains(t, fmt.Sprint(e.Detail), secret)
	}
	require.Equal(t, []string{"key.revoke", "key.create"}, actions)
}

func TestBodyBrandsAreChecked(t *testing.T) {
	w := newAccessWorld(t)
	acme := w.key(t, access.Marketer, "acme")
	a := w.do(t, acme, "POST", "/v1/mentions",
		`{"brand":"acme","source":"x","external_id":"5","text":"fine","created_at":"2026-11-25T11:59:00Z"}`+"\n"+
			`{"brand":"other","source":"x","external_id":"6","text":"fine","created_at":"2026-11-25T11:59:00Z"}`)
	require.Equal(t, http.StatusForbidden, a.status, a.raw)
	require.Contains(t, a.body["detail"], "line 2", "the refusal names the line")
	ms, err := w.st.Mentions(context.Background(), store.MentionFilter{Brand: "acme", Limit: 100})
	require.NoError(t, err)
	require.Len(t, ms, 1, "nothing of a refused request is stored")

	// A key of one brand gets its brand filled in on lists; a key of two
	// must say which.
	a = w.do(t, acme, "GET", "/v1/mentions", "")
	require.Equal(t, http.StatusOK, a.status, a.raw)
	two := w.key(t, access.Viewer, "acme", "other")
	a = w.do(t, two, "GET", "/v1/mentions", "")
	require.Equal(t, http.StatusForbidden, a.status, a.raw)
	require.Equal(t, "brand", a.body["field"])
	a = w.do(t, two, "GET", "/v1/mentions?brand=other", "")
	require.Equal(t, http.StatusOK, a.status, a.raw)

	a = w.do(t, acme, "GET", "/v1/brands", "")
	require.Equal(t, http.StatusOK, a.status, a.raw)
	require.Len(t, a.body["brands"], 1, "a key sees only its brands")

	// The key's holder is the actor: a body may not name someone else.
	a = w.do(t, acme, "POST", "/v1/inbox/"+w.ids["inbox"]+"/assign", `{"actor":"somebody-else","assignee":"jordi"}`)
	require.Equal(t, http.StatusUnprocessableEntity, a.status, a.raw)
	require.Equal(t, "actor", a.body["field"])
}

func TestRateLimitPerKey(t *testing.T) {
	st := testStore(t)
	api := server.New(server.Deps{Store: st, RateLimit: 1, RateBurst: 3, Log: slog.New(slog.NewTextHandler(io.Discard, nil))})
	ts := httptest.NewServer(api.Handler())
	t.Cleanup(ts.Close)
	_, a, err := st.CreateAPIKey(context.Background(), "a", access.Viewer, []string{access.AllBrands}, "test")
	require.NoError(t, err)
	_, b, err := st.CreateAPIKey(context.Background(), "b", access.Viewer, []string{access.AllBrands}, "test")
	require.NoError(t, err)
	get := func(key string) *http.Response {
		req, err := http.NewRequest("GET", ts.URL+"/v1/whoami", nil)
		require.NoError(t, err)
		req.Header.Set("Authorization", "Bearer "+key)
		resp, err := http.DefaultClient.Do(req)
		require.NoError(t, err)
		resp.Body.Close()
		return resp
	}
	for i := range 3 {
		require.Equal(t, http.StatusOK, get(a).StatusCode, "request %d is within the burst", i+1)
	}
	resp := get(a)
	require.Equal(t, http.StatusTooManyRequests, resp.StatusCode)
	require.Equal(t, "1", resp.Header.Get("Retry-After"))
	require.Equal(t, "application/problem+json", resp.Header.Get("Content-Type"))
	require.Equal(t, http.StatusOK, get(b).StatusCode, "another key has its own bucket")
}
