package e2e

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"go.temporal.io/api/serviceerror"
	"go.temporal.io/sdk/client"

	"github.com/cmo-dev/cmo/activities"
	"github.com/cmo-dev/cmo/listening"
	"github.com/cmo-dev/cmo/workflows"
)

// postNDJSON sends mentions to the ingestion API and fails on any answer
// but 200.
func postNDJSON(t testing.TB, base string, ms []listening.Mention) {
	t.Helper()
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	for _, m := range ms {
		require.NoError(t, enc.Encode(m))
	}
	resp, err := http.Post(base+"/v1/mentions", "application/x-ndjson", &buf)
	require.NoError(t, err)
	defer resp.Body.Close()
	require.Equal(t, http.StatusOK, resp.StatusCode)
}

// mentionsAt makes n mentions of a brand created at at; negative ones
// are complaints the lexicon recognises in three languages.
func mentionsAt(brand, prefix string, n int, negative bool, at time.Time) []listening.Mention {
	texts := []string{"Love the new menu at %s!", "Gràcies %s, tot perfecte", "Muy buena atención en %s"}
	if negative {
		texts = []string{"Still waiting for my refund from %s, awful service", "Pedido cancelado y sin respuesta de %s, una vergüenza",
			"Encara espero el reemborsament de %s, pèssim servei"}
	}
	out := make([]listening.Mention, n)
	for i := range out {
		out[i] = listening.Mention{Brand: brand, Source: "e2e", ExternalID: fmt.Sprintf("%s-%d", prefix, i), CreatedAt: at,
			Text: fmt.Sprintf(texts[i%len(texts)], brand), Author: listening.Author{Handle: fmt.Sprintf("@p%d", i), Followers: int64(100 + i)}}
	}
	return out
}

// waitWorkflow waits for a workflow id to exist and returns its start time.
func waitWorkflow(t testing.TB, c client.Client, id string, within time.Duration) time.Time {
	t.Helper()
	deadline := time.Now().Add(within)
	for {
		d, err := c.DescribeWorkflowExecution(context.Background(), id, "")
		if err == nil {
			return d.GetWorkflowExecutionInfo().GetStartTime().AsTime()
		}
		var nf *serviceerror.NotFound
		require.True(t, errors.As(err, &nf), "describe %s: %v", id, err)
		if time.Now().After(deadline) {
			t.Fatalf("workflow %s did not start within %s", id, within)
		}
		time.Sleep(20 * time.Millisecond) // polling Temporal: there is no event to wait on across processes
	}
}

func monitorState(t testing.TB, c client.Client, brand string) workflows.MonitorState {
	t.Helper()
	v, err := c.QueryWorkflow(context.Background(), workflows.MonitorWorkflowID(brand), "", workflows.QueryState)
	require.NoError(t, err)
	var st workflows.MonitorState
	require.NoError(t, v.Get(&st))
	return st
}

func TestNegativeSpikeOpensOneCrisis(t *testing.T) {
	s := startStack(t)
	a := api{t, s.APIURL}
	code, body := a.do("POST", "/v1/brands", map[string]any{"id": "spiky", "name": "Spiky", "timezone": "Europe/Madrid"})
	require.Equal(t, 201, code, body)
	code, body = a.do("PUT", "/v1/brands/spiky/listening", map[string]any{
		"topics": map[string]any{"refunds": []string{"refund", "reemborsament"}}, "competitors": map[string]any{"rival": []string{"rivalco"}}})
	require.Equal(t, 200, code, body)
	wid := activities.CrisisWorkflowID("spiky", "negative-spike")

	now := time.Now()
	postNDJSON(t, s.APIURL, mentionsAt("spiky", "calm", 20, false, now))
	praise := mentionsAt("spiky", "viral", 200, false, now)
	postNDJSON(t, s.APIURL, praise)
	require.Eventually(t, func() bool { return monitorState(t, s.Client, "spiky").LastTick.After(now) }, 20*time.Second, 50*time.Millisecond)
	_, err := s.Client.DescribeWorkflowExecution(context.Background(), wid, "")
	var nf *serviceerror.NotFound
	require.ErrorAs(t, err, &nf, "a burst of praise opens no negative crisis")

	spikeAt := time.Now()
	postNDJSON(t, s.APIURL, mentionsAt("spiky", "angry", 150, true, spikeAt))
	started := waitWorkflow(t, s.Client, wid, 20*time.Second)
	t.Logf("crisis started %s after the spike", started.Sub(spikeAt).Round(time.Millisecond))

	// More evidence: the same crisis, not a second one.
	postNDJSON(t, s.APIURL, mentionsAt("spiky", "angrier", 100, true, time.Now()))
	require.Eventually(t, func() bool {
		st := monitorState(t, s.Client, "spiky")
		return st.Open["negative-spike"] != nil && st.LastTick.After(time.Now().Add(-time.Second))
	}, 20*time.Second, 50*time.Millisecond)
	st := monitorState(t, s.Client, "spiky")
	require.EqualValues(t, 1, st.Detections)
	// The monitor has the crisis, so OpenCrisis has returned: its
	// detection was timed once, the added evidence not at all.
	require.Contains(t, scrapeMetrics(t, s.APIURL), "cmo_crisis_detection_latency_seconds_count 1\n")
	d, err := s.Client.DescribeWorkflowExecution(context.Background(), wid, "")
	require.NoError(t, err)
	require.True(t, d.GetWorkflowExecutionInfo().GetStartTime().AsTime().Equal(started), "still the first run")

	var crisis workflows.CrisisState
	v, err := s.Client.QueryWorkflow(context.Background(), wid, "", workflows.QueryState)
	require.NoError(t, err)
	require.NoError(t, v.Get(&crisis))
	require.Equal(t, st.Open["negative-spike"].CrisisID, crisis.CrisisID)
	require.NotEmpty(t, crisis.Severity)
	require.GreaterOrEqual(t, crisis.Window.NegativeRatio, 0.4)
	require.True(t, strings.HasPrefix(crisis.CrisisID, "spiky-negative-spike-"))

	code, body = a.do("GET", "/v1/brands/spiky/listening", nil)
	require.Equal(t, 200, code, body)
	require.NotEmpty(t, body["windows"])
	require.Len(t, body["crises"], 1)
	require.NotEmpty(t, body["top_authors_24h"].(map[string]any)["brand"])
	code, body = a.do("GET", "/v1/mentions?brand=spiky&sentiment=negative&topic=refunds&limit=5", nil)
	require.Equal(t, 200, code, body)
	require.Len(t, body["mentions"], 5)
	require.NotEmpty(t, body["next"])
}
