// Package e2e runs cmo whole: the embedded Temporal server, a real
// PostgreSQL cluster, the worker, the API and the sandbox platform, driven
// over HTTP as a user would. It is the only test package that links
// go.temporal.io/server (through devstack).
package e2e

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"go.temporal.io/sdk/client"

	"github.com/cmo-dev/cmo/cli"
	"github.com/cmo-dev/cmo/devstack"
	"github.com/cmo-dev/cmo/workflows"
)

// runCLIEnv makes the test binary act as the cmo binary, so the restart
// test runs the real `cmo dev` command in a child process without a second
// link of the Temporal server.
const runCLIEnv = "CMO_E2E_RUN_CLI"

func TestMain(m *testing.M) {
	if os.Getenv(runCLIEnv) == "1" {
		os.Exit(cli.Main(os.Args[1:]))
	}
	code := m.Run()
	closeSharedStack()
	os.Exit(code)
}

// dataDir makes a data directory the postgres OS user can reach when the
// tests run as root (t.TempDir is private to its owner).
func dataDir(t *testing.T) string {
	t.Helper()
	dir, err := os.MkdirTemp("", "cmo-e2e-")
	require.NoError(t, err)
	require.NoError(t, os.Chmod(dir, 0o755))
	t.Cleanup(func() { os.RemoveAll(dir) })
	return dir
}

// startStack starts a stack of the test's own, without the Web UI unless
// an option asks for it.
func startStack(t *testing.T, opts ...func(*devstack.Options)) *devstack.Stack {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	log := slog.New(slog.NewTextHandler(testWriter{t}, &slog.HandlerOptions{Level: slog.LevelWarn}))
	o := devstack.Options{DataDir: dataDir(t), UIPort: -1, Log: log}
	for _, opt := range opts {
		opt(&o)
	}
	s, err := devstack.Start(ctx, o)
	require.NoError(t, err)
	registerAPI(s.APIURL, s.APIKey)
	t.Cleanup(s.Close)
	// Runs before Close: every history this test made is free of secrets.
	t.Cleanup(func() { requireNoSecretsAnywhere(t, s.Client, s.Store) })
	return s
}

type testWriter struct{ t *testing.T }

func (w testWriter) Write(p []byte) (int, error) {
	w.t.Log(strings.TrimRight(string(p), "\n"))
	return len(p), nil
}

// api is a small JSON client for the cmo API.
type api struct {
	t    *testing.T
	base string
}

// do sends as the actor (or author) the body names, else as the admin.
func (a api) do(method, path string, body any) (int, map[string]any) {
	a.t.Helper()
	return a.doAs("", method, path, body)
}

// doAs sends with the given key ("" picks as do does).
func (a api) doAs(key, method, path string, body any) (int, map[string]any) {
	a.t.Helper()
	var raw []byte
	switch b := body.(type) {
	case nil:
	case string:
		raw = []byte(b)
	default:
		var err error
		raw, err = json.Marshal(b)
		require.NoError(a.t, err)
	}
	req, err := http.NewRequest(method, a.base+path, bytes.NewReader(raw))
	require.NoError(a.t, err)
	req.Header.Set("Content-Type", "application/json")
	if actor := bodyActor(raw); key == "" && actor != "" {
		key, err = actorKey(a.base, actor)
		require.NoError(a.t, err)
	}
	if key != "" {
		req.Header.Set("Authorization", "Bearer "+key)
	}
	resp, err := http.DefaultClient.Do(req)
	require.NoError(a.t, err)
	defer resp.Body.Close()
	answer, err := io.ReadAll(resp.Body)
	require.NoError(a.t, err)
	out := map[string]any{}
	if len(answer) > 0 {
		require.NoError(a.t, json.Unmarshal(answer, &out), "body: %s", answer)
	}
	return resp.StatusCode, out
}

// waitCampaign blocks until the campaign's workflow closes and returns its result.
func waitCampaign(t *testing.T, c client.Client, id string) workflows.CampaignResult {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	var res workflows.CampaignResult
	require.NoError(t, c.GetWorkflow(ctx, workflows.CampaignWorkflowID(id), "").Get(ctx, &res))
	return res
}

// sandboxPosts returns the sandbox's posts whose text contains marker.
func sandboxPosts(t *testing.T, a api, marker string) map[string][]string {
	t.Helper()
	code, body := a.do("GET", "/v1/sandbox/posts?limit=1000", nil)
	require.Equal(t, 200, code)
	byHandle := map[string][]string{}
	for _, p := range body["posts"].([]any) {
		post := p.(map[string]any)
		if strings.Contains(post["content"].(string), marker) {
			acct := post["account"].(map[string]any)["acct"].(string)
			byHandle[acct] = append(byHandle[acct], post["id"].(string))
		}
	}
	return byHandle
}

func TestCampaignEndToEnd(t *testing.T) {
	s := startStack(t)
	a := api{t: t, base: s.APIURL}

	code, body := a.do("GET", "/readyz", nil)
	require.Equal(t, 200, code, body)

	code, body = a.do("POST", "/v1/campaigns", map[string]any{
		"id": "e2e-launch", "brand": "demo", "playbook": "first-campaign", "author": "marta",
		"params": map[string]any{"product": "Oat Flat White"},
	})
	require.Equal(t, 201, code, body)
	require.Equal(t, "campaign:e2e-launch", body["workflow_id"])

	code, body = a.do("GET", "/v1/campaigns/e2e-launch", nil)
	require.Equal(t, 200, code, body)
	hash := body["content"].(map[string]any)["draft"].(map[string]any)["hash"].(string)

	code, body = a.do("POST", "/v1/campaigns/e2e-launch/approvals", map[string]any{"decision": "approve", "actor": "marta"})
	require.Equal(t, 422, code, "the author cannot approve: %v", body)
	require.Equal(t, "actor", body["field"])

	code, body = a.do("POST", "/v1/campaigns/e2e-launch/approvals", map[string]any{"decision": "approve", "actor": "jordi", "content_hash": hash})
	require.Equal(t, 200, code, body)
	require.Equal(t, "jordi", body["actor"])

	// The audit trail has who launched and who approved, by key, with the
	// content hash the approval is bound to; a refused approval is not in it.
	code, body = a.do("GET", "/v1/audit?brand=demo", nil)
	require.Equal(t, 200, code, body)
	var trail []string
	for _, e := range body["entries"].([]any) {
		en := e.(map[string]any)
		trail = append(trail, en["action"].(string)+" "+en["actor"].(string)+" "+en["subject"].(string))
		if en["action"] == "approve" {
			require.Equal(t, hash, en["detail"].(map[string]any)["content_hash"])
			require.Equal(t, "campaign:e2e-launch", en["workflow_id"])
			require.NotEmpty(t, en["key_id"])
		}
	}
	require.Equal(t, []string{"approve jordi campaign:e2e-launch", "campaign.launch marta campaign:e2e-launch"}, trail)
	code, body = a.do("GET", "/v1/audit?brand=demo&actor=marta", nil)
	require.Equal(t, 200, code, body)
	require.Len(t, body["entries"], 1)

	res := waitCampaign(t, s.Client, "e2e-launch")
	require.Equal(t, workflows.StatusCompleted, res.Status)
	require.Len(t, res.Posts, 2)

	posts := sandboxPosts(t, a, "Oat Flat White")
	require.Equal(t, map[string]int{"demo_news": 1, "demo_care": 1}, map[string]int{
		"demo_news": len(posts["demo_news"]), "demo_care": len(posts["demo_care"]),
	}, "each post reached the sandbox exactly once: %v", posts)

	code, body = a.do("GET", "/v1/campaigns/e2e-launch", nil)
	require.Equal(t, 200, code)
	require.Equal(t, "completed", body["status"])
	require.Equal(t, "completed", body["workflow_status"])
	require.Len(t, body["posts"], 2)

	code, body = a.do("GET", "/v1/campaigns/e2e-launch/report", nil)
	require.Equal(t, 200, code, body)
	require.Len(t, body["posts"], 2)

	// The ledger holds one published entry per channel, with the
	// sandbox's post ids.
	var n int
	require.NoError(t, s.Pool.QueryRow(context.Background(),
		`SELECT count(*) FROM publish_ledger WHERE campaign_id = 'e2e-launch' AND status = 'published'`).Scan(&n))
	require.Equal(t, 2, n)

	// Visibility is eventually consistent: the list catches up within moments.
	require.Eventually(t, func() bool {
		code, body := a.do("GET", "/v1/campaigns?brand=demo&playbook=first-campaign", nil)
		if code != 200 {
			return false
		}
		for _, c := range body["campaigns"].([]any) {
			cm := c.(map[string]any)
			if cm["id"] == "e2e-launch" && cm["brand"] == "demo" && cm["playbook"] == "first-campaign" && cm["status"] == "completed" {
				return true
			}
		}
		return false
	}, 30*time.Second, 100*time.Millisecond, "campaign listed through visibility with Brand, Playbook and Status")

	h := history(t, s.Client, "campaign:e2e-launch")
	requireNoSecrets(t, s.Store, h)
	recordHistory(t, "approved", h)

	code, body = a.do("POST", "/v1/campaigns", map[string]any{"id": "e2e-launch", "brand": "demo", "playbook": "first-campaign", "params": map[string]any{"product": "x"}})
	require.Equal(t, 409, code, body)
	require.Equal(t, "id", body["field"])
}

func TestBadInputGets4xxNamingTheField(t *testing.T) {
	s := startStack(t)
	a := api{t: t, base: s.APIURL}
	good := func(mut func(m map[string]any)) map[string]any {
		m := map[string]any{"brand": "demo", "playbook": "first-campaign", "params": map[string]any{"product": "Tea"}}
		mut(m)
		return m
	}
	cases := []struct {
		name   string
		method string
		path   string
		body   any
		status int
		field  string
	}{
		{"malformed JSON", "POST", "/v1/campaigns", `{"brand": "demo",`, 400, "body"},
		{"not an object", "POST", "/v1/campaigns", `[1,2]`, 422, ""},
		{"empty body", "POST", "/v1/campaigns", ``, 400, "body"},
		{"unknown field", "POST", "/v1/campaigns", good(func(m map[string]any) { m["brnd"] = "x" }), 422, "brnd"},
		{"unknown playbook", "POST", "/v1/campaigns", good(func(m map[string]any) { m["playbook"] = "nope" }), 422, "playbook"},
		{"unknown brand", "POST", "/v1/campaigns", good(func(m map[string]any) { m["brand"] = "acme" }), 422, "brand"},
		{"missing brand", "POST", "/v1/campaigns", good(func(m map[string]any) { delete(m, "brand") }), 422, "brand"},
		{"bad id", "POST", "/v1/campaigns", good(func(m map[string]any) { m["id"] = "Has Spaces" }), 422, "id"},
		{"missing parameter", "POST", "/v1/campaigns", good(func(m map[string]any) { m["params"] = map[string]any{} }), 422, "params.product"},
		{"mistyped parameter", "POST", "/v1/campaigns", good(func(m map[string]any) { m["params"] = map[string]any{"product": 42} }), 422, "params.product"},
		{"mistyped time", "POST", "/v1/campaigns", good(func(m map[string]any) {
			m["params"] = map[string]any{"product": "Tea", "launch_at": "next tuesday"}
		}), 422, "params.launch_at"},
		{"unknown parameter", "POST", "/v1/campaigns", good(func(m map[string]any) { m["params"] = map[string]any{"product": "Tea", "colour": "red"} }), 422, "params.colour"},
		{"params of wrong type", "POST", "/v1/campaigns", good(func(m map[string]any) { m["params"] = "product=Tea" }), 422, "params"},
		{"approval of unknown campaign", "POST", "/v1/campaigns/nope/approvals", map[string]any{"decision": "approve", "actor": "jordi"}, 404, "id"},
		{"approval without actor: the key's holder decides", "POST", "/v1/campaigns/nope/approvals", map[string]any{"decision": "approve"}, 404, "id"},
		{"approval with bad decision", "POST", "/v1/campaigns/nope/approvals", map[string]any{"decision": "maybe", "actor": "jordi"}, 422, "decision"},
		{"unknown campaign", "GET", "/v1/campaigns/nope", nil, 404, "id"},
		{"bad list filter", "GET", "/v1/campaigns?brand=Not%20Valid", nil, 422, "brand"},
		{"unknown route", "GET", "/v1/nothing", nil, 404, ""},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			code, body := a.do(tc.method, tc.path, tc.body)
			require.Equal(t, tc.status, code, "%v", body)
			require.Less(t, code, 500)
			require.NotEmpty(t, body["type"], "problem+json type: %v", body)
			require.NotEmpty(t, body["detail"], "%v", body)
			if tc.field != "" {
				require.Equal(t, tc.field, body["field"], "%v", body)
			}
		})
	}

	// A playbook sent for validation gets the same positioned errors as the CLI.
	req, err := http.NewRequest("POST", s.APIURL+"/v1/playbooks/validate?file=mine.yaml", strings.NewReader(
		"apiVersion: cmo/v1\nkind: Campaign\nname: mine\nsteps:\n  - id: a\n    wait: {for: soon}\n"))
	require.NoError(t, err)
	resp, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	var v struct {
		Valid    bool     `json:"valid"`
		Messages []string `json:"messages"`
	}
	require.NoError(t, json.NewDecoder(resp.Body).Decode(&v))
	resp.Body.Close()
	require.Equal(t, 422, resp.StatusCode)
	require.False(t, v.Valid)
	require.Equal(t, []string{`mine.yaml:6:17: steps[0].wait.for: "soon" is not a duration (examples: 90s, 30m, 24h, 2d)`}, v.Messages)

	// A campaign that finished takes no approvals: 409, not 500.
	code, body := a.do("POST", "/v1/campaigns", map[string]any{"id": "done", "brand": "demo", "playbook": "first-campaign", "params": map[string]any{"product": "Tea"}})
	require.Equal(t, 201, code, body)
	code, _ = a.do("POST", "/v1/campaigns/done/approvals", map[string]any{"decision": "reject", "actor": "jordi"})
	require.Equal(t, 200, code)
	waitCampaign(t, s.Client, "done")
	recordHistory(t, "rejected", history(t, s.Client, "campaign:done"))
	code, body = a.do("POST", "/v1/campaigns/done/approvals", map[string]any{"decision": "approve", "actor": "jordi"})
	require.Equal(t, 409, code, "%v", body)
	require.Equal(t, "id", body["field"])
	require.Contains(t, fmt.Sprint(body["detail"]), "finished")
}
