package e2e

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"mime"
	"net/http"
	"net/mail"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/cmo-dev/cmo/activities"
	"github.com/cmo-dev/cmo/devstack"
	"github.com/cmo-dev/cmo/internal/smtptest"
	"github.com/cmo-dev/cmo/listening"
	"github.com/cmo-dev/cmo/notify"
	"github.com/cmo-dev/cmo/playbooks"
	"github.com/cmo-dev/cmo/workflows"
)

// outcry is a crisis playbook with the shipped one's shape and short
// clocks: tier 1 by e-mail, a freeze at high severity, an approved
// statement on the sandbox, and resolution after three calm seconds.
const outcry = `apiVersion: cmo/v1
kind: Crisis
name: outcry
title: Customer outcry
detect: window.mentions >= 30 && window.negative_ratio >= 0.5 && window.volume_z >= 3
window: 1h
severity:
  - level: high
    when: window.negative_ratio >= 0.5
  - level: medium
    when: window.negative_ratio >= 0.3
escalation:
  - notify: [email:oncall]
    ack_within: 10m
  - notify: [email:director]
    ack_within: 10m
freeze:
  when: severity in ["high", "critical"]
  scope: brand
  on_unfreeze: reschedule
statement:
  template: "We hear you, {{.brand}} customers: we are on it and will update you within the hour."
  channels: [sandbox]
  approval:
    role: comms-lead
    within: 30m
    on_timeout: escalate
    escalate_to: director
resolve:
  when: window.negative_ratio < 0.2
  hold: 3s
`

func startCrisisStack(t *testing.T, mb *smtptest.Mailbox) *devstack.Stack {
	t.Helper()
	dir := t.TempDir()
	require.NoError(t, os.WriteFile(filepath.Join(dir, "outcry.yaml"), []byte(outcry), 0o644))
	lib, err := playbooks.Load(dir)
	require.NoError(t, err)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	log := slog.New(slog.NewTextHandler(testWriter{t}, &slog.HandlerOptions{Level: slog.LevelWarn}))
	s, err := devstack.Start(ctx, devstack.Options{DataDir: dataDir(t), UIPort: -1, Log: log, Playbooks: lib,
		Notifiers: notify.New(notify.Options{SMTP: &notify.SMTPConfig{Addr: mb.Addr, From: "cmo <cmo@demo.example>"}}),
		Monitor:   workflows.MonitorInput{EvidenceEvery: 2 * time.Second}})
	require.NoError(t, err)
	registerAPI(s.APIURL, s.APIKey)
	t.Cleanup(s.Close)
	t.Cleanup(func() { requireNoSecretsAnywhere(t, s.Client, s.Store) })
	return s
}

func campaignState(t *testing.T, a api, id string) map[string]any {
	t.Helper()
	code, body := a.do("GET", "/v1/campaigns/"+id, nil)
	require.Equal(t, 200, code, body)
	return body
}

// TestCrisisEndToEnd: a burst of complaints through the API opens a
// crisis that e-mails tier 1, freezes a scheduled campaign, publishes the
// approved statement, and once sentiment recovers resolves, lifts the
// freeze and lets the campaign complete.
func TestCrisisEndToEnd(t *testing.T) {
	mb := smtptest.New(t, "", "")
	s := startCrisisStack(t, mb)
	a := api{t, s.APIURL}

	code, body := a.do("PUT", "/v1/brands/demo/listening", map[string]any{"crisis_playbooks": []string{"outcry"}})
	require.Equal(t, 200, code, body)
	code, body = a.do("PUT", "/v1/brands/demo/routes/email:oncall", map[string]any{"kind": "email", "addresses": []string{"oncall@demo.example"}})
	require.Equal(t, 201, code, body)

	// A campaign whose post is due in a few seconds.
	launchAt := time.Now().Add(8 * time.Second).UTC().Format(time.RFC3339)
	code, body = a.do("POST", "/v1/campaigns", map[string]any{"id": "e2e-frozen", "brand": "demo", "playbook": "first-campaign", "author": "marta",
		"params": map[string]any{"product": "Frozen Mocha", "launch_at": launchAt}})
	require.Equal(t, 201, code, body)
	hash := campaignState(t, a, "e2e-frozen")["content"].(map[string]any)["draft"].(map[string]any)["hash"].(string)
	code, body = a.do("POST", "/v1/campaigns/e2e-frozen/approvals", map[string]any{"decision": "approve", "actor": "jordi", "content_hash": hash})
	require.Equal(t, 200, code, body)

	// The outcry, delivered by a listening provider's signed webhook.
	code, body = a.do("POST", "/v1/brands/demo/sources", map[string]any{"name": "provider"})
	require.Equal(t, 201, code, body)
	secret := []byte(body["secret"].(string))
	var buf bytes.Buffer
	for _, m := range mentionsAt("demo", "outcry", 60, true, time.Now()) {
		require.NoError(t, json.NewEncoder(&buf).Encode(m))
	}
	req, err := http.NewRequest("POST", s.APIURL+"/v1/hooks/mentions/provider", bytes.NewReader(buf.Bytes()))
	require.NoError(t, err)
	req.Header.Set(listening.HeaderTimestamp, strconv.FormatInt(time.Now().Unix(), 10))
	req.Header.Set(listening.HeaderSignature, listening.Sign(secret, time.Now(), buf.Bytes()))
	resp, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	resp.Body.Close()
	require.Equal(t, 200, resp.StatusCode)
	wid := activities.CrisisWorkflowID("demo", "outcry")
	waitWorkflow(t, s.Client, wid, 20*time.Second)
	var crisisID string
	require.Eventually(t, func() bool {
		_, body := a.do("GET", "/v1/crises?brand=demo&status=open", nil)
		if cs, _ := body["crises"].([]any); len(cs) == 1 {
			crisisID = cs[0].(map[string]any)["id"].(string)
		}
		return crisisID != ""
	}, 10*time.Second, 50*time.Millisecond)

	// The key's holder decides: a body naming someone else is refused,
	// naming the field.
	code, body = a.doAs(s.APIKey, "POST", "/v1/crises/"+crisisID+"/ack", map[string]any{"actor": "pau"})
	require.Equal(t, 422, code, body)
	require.Equal(t, "actor", body["field"])
	code, body = a.do("POST", "/v1/crises/nope/ack", map[string]any{"actor": "pau"})
	require.Equal(t, 404, code, body)
	code, body = a.do("POST", "/v1/crises/"+crisisID+"/deescalate", map[string]any{"actor": "pau", "level": "critical", "reason": "x"})
	require.Equal(t, 422, code, body)
	require.Equal(t, "level", body["field"])

	// Tier 1 is e-mailed and the mail server has it.
	require.Eventually(t, func() bool { return len(mb.Mails()) > 0 }, 20*time.Second, 50*time.Millisecond)
	got := mb.Mails()[0]
	var msg *mail.Message
	require.Equal(t, []string{"oncall@demo.example"}, got.To)
	msg, err = mail.ReadMessage(bytes.NewReader(got.Data))
	require.NoError(t, err)
	subject, err := new(mime.WordDecoder).DecodeHeader(msg.Header.Get("Subject"))
	require.NoError(t, err)
	require.Equal(t, "[HIGH] Customer outcry — demo", subject)
	text, err := io.ReadAll(msg.Body)
	require.NoError(t, err)
	require.Contains(t, string(text), crisisID)

	// The campaign reaches its publish time frozen: nothing goes out.
	require.Eventually(t, func() bool { return campaignState(t, a, "e2e-frozen")["frozen"] == true }, 30*time.Second, 100*time.Millisecond)
	st := campaignState(t, a, "e2e-frozen")
	require.Equal(t, crisisID, st["frozen_by"])
	require.Empty(t, sandboxPosts(t, a, "Frozen Mocha"), "the scheduled post does not go out during the freeze")

	// The holding statement, approved, goes to the sandbox channels.
	code, body = a.do("POST", "/v1/crises/"+crisisID+"/statement", map[string]any{"decision": "approve", "actor": "laia", "role": "comms-lead"})
	require.Equal(t, 200, code, body)
	require.Eventually(t, func() bool { return len(sandboxPosts(t, a, "We hear you, demo customers")) == 2 }, 20*time.Second, 100*time.Millisecond)
	code, body = a.do("POST", "/v1/crises/"+crisisID+"/ack", map[string]any{"actor": "pau"})
	require.Equal(t, 200, code, body)
	code, body = a.do("POST", "/v1/crises/"+crisisID+"/ack", map[string]any{"actor": "marc"})
	require.Equal(t, 409, code, body)
	require.Empty(t, sandboxPosts(t, a, "Frozen Mocha"), "still frozen after the statement")

	// Sentiment recovers: the crisis resolves, the freeze lifts and the
	// campaign publishes and completes.
	postNDJSON(t, s.APIURL, mentionsAt("demo", "relief", 400, false, time.Now()))
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	var final workflows.CrisisState
	require.NoError(t, s.Client.GetWorkflow(ctx, wid, "").Get(ctx, &final))
	require.Equal(t, "resolved", final.Status)
	require.Equal(t, "pau", final.AckedBy)
	require.False(t, final.Frozen)
	res := waitCampaign(t, s.Client, "e2e-frozen")
	require.Equal(t, workflows.StatusCompleted, res.Status)
	require.Len(t, res.Posts, 2)
	for _, p := range res.Posts {
		require.True(t, p.PublishedAt.After(*final.ResolvedAt), "published after the freeze was lifted")
	}
	require.Len(t, sandboxPosts(t, a, "Frozen Mocha"), 2)

	recordHistory(t, "resolved", history(t, s.Client, wid))
	recordHistory(t, "frozen-campaign", history(t, s.Client, workflows.CampaignWorkflowID("e2e-frozen")))
	recordHistory(t, "brand-monitor", history(t, s.Client, workflows.MonitorWorkflowID("demo")))

	// The post-mortem.
	code, body = a.do("GET", "/v1/crises/"+crisisID+"/timeline", nil)
	require.Equal(t, 200, code, body)
	var kinds []string
	for _, e := range body["entries"].([]any) {
		kinds = append(kinds, e.(map[string]any)["kind"].(string))
	}
	require.Subset(t, kinds, []string{workflows.EventDetected, workflows.EventSeverity, workflows.EventFreeze, workflows.EventPage,
		workflows.EventStatementDecision, workflows.EventPublished, workflows.EventAck, workflows.EventResolved, workflows.EventUnfreeze, "notification"})
	sum := body["summary"].(map[string]any)
	require.Equal(t, "high", sum["peak_severity"])
	require.Equal(t, "pau", sum["acknowledged_by"])
	require.NotEmpty(t, body["mentions_over_time"])
	md := markdown(t, s.APIURL+"/v1/crises/"+crisisID+"/timeline?format=markdown")
	require.True(t, strings.HasPrefix(md, "# Post-mortem: Customer outcry — demo"), md)
	require.Contains(t, md, "| email:oncall | page-1-1 | sent |")

	code, body = a.do("GET", "/v1/crises?brand=demo", nil)
	require.Equal(t, 200, code, body)
	c := body["crises"].([]any)[0].(map[string]any)
	require.Equal(t, []any{"resolved", "high", "completed"}, []any{c["status"], c["severity"], c["workflow_status"]})
}

func markdown(t *testing.T, url string) string {
	t.Helper()
	resp, err := http.Get(url)
	require.NoError(t, err)
	defer resp.Body.Close()
	require.Equal(t, 200, resp.StatusCode)
	require.Equal(t, "text/markdown; charset=utf-8", resp.Header.Get("Content-Type"))
	raw, err := io.ReadAll(resp.Body)
	require.NoError(t, err)
	return string(raw)
}
