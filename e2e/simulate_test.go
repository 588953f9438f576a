package e2e

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/cmo-dev/cmo/activities"
	"github.com/cmo-dev/cmo/listening"
	"github.com/cmo-dev/cmo/playbooks"
	"github.com/cmo-dev/cmo/simulate"
	"github.com/cmo-dev/cmo/workflows"
)

// TestSimulationMatchesTheLiveMonitor replays one stream into the running
// stack in real time and through cmo simulate: the live monitor and the
// backtest detect at the same instant, on the same window.
func TestSimulationMatchesTheLiveMonitor(t *testing.T) {
	s := startStack(t)
	a := api{t, s.APIURL}
	code, body := a.do("POST", "/v1/brands", map[string]any{"id": "twin", "name": "Twin", "timezone": "Europe/Madrid"})
	require.Equal(t, 201, code, body)
	code, body = a.do("PUT", "/v1/brands/twin/listening", map[string]any{"crisis_playbooks": []string{"negative-spike"}})
	require.Equal(t, 200, code, body)

	// Calm chatter, then complaints in two waves three seconds apart: the
	// first leaves the window under the rule's 30 mentions, the second does not.
	var sent []listening.Mention
	post := func(prefix string, n int, negative bool) {
		ms := mentionsAt("twin", prefix, n, negative, time.Now().UTC().Truncate(time.Millisecond))
		postNDJSON(t, s.APIURL, ms)
		sent = append(sent, ms...)
	}
	for i := range 3 {
		post(fmt.Sprintf("calm%d", i), 5, false)
		time.Sleep(time.Second) // the stream's own pace
	}
	post("wave1", 10, true)
	time.Sleep(3 * time.Second) // the stream's own pace
	post("wave2", 15, true)
	wave2 := sent[len(sent)-1].CreatedAt

	wid := activities.CrisisWorkflowID("twin", "negative-spike")
	waitWorkflow(t, s.Client, wid, 20*time.Second)
	v, err := s.Client.QueryWorkflow(context.Background(), wid, "", workflows.QueryState)
	require.NoError(t, err)
	var live workflows.CrisisState
	require.NoError(t, v.Get(&live))
	detected := live.Events[0]
	require.Equal(t, workflows.EventDetected, detected.Kind)
	liveWindow := *detected.Window

	lib, err := playbooks.Shipped()
	require.NoError(t, err)
	p, _ := lib.Get("negative-spike")
	madrid, err := time.LoadLocation("Europe/Madrid")
	require.NoError(t, err)
	for i := range sent {
		sent[i].Sentiment = nil // scored again by the backtest's lexicon, as the API did
	}
	res, err := simulate.Run(context.Background(), p, sent, simulate.Options{Brand: "twin", Location: madrid, Tail: time.Minute})
	require.NoError(t, err)
	require.Len(t, res.Crises, 1)
	sim := res.Crises[0]

	require.True(t, liveWindow.LastMentionAt.Equal(wave2), "live evidence complete at the second wave: %s vs %s", liveWindow.LastMentionAt, wave2)
	require.True(t, sim.EvidenceAt.Equal(liveWindow.LastMentionAt), "simulated %s, live %s", sim.EvidenceAt, liveWindow.LastMentionAt)
	require.Equal(t, liveWindow.Mentions, sim.Window.Mentions)
	require.Equal(t, liveWindow.Negative, sim.Window.Negative)
	require.Equal(t, liveWindow.VolumeZ, sim.Window.VolumeZ)
	require.Equal(t, live.Severities[0].Level, sim.Severities[0].Level)
	t.Logf("detected on evidence complete at %s: live tick +%s, simulated tick +%s",
		wave2.Format("15:04:05.000"), live.OpenedAt.Sub(wave2).Round(time.Millisecond), sim.DetectedAt.Sub(wave2).Round(time.Millisecond))
}
