package cli

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/cmo-dev/cmo/listening/synth"
	"github.com/cmo-dev/cmo/playbooks"
)

func TestSimulateCompare(t *testing.T) {
	dir := t.TempDir()
	start := time.Date(2026, 11, 2, 0, 0, 0, 0, time.UTC)
	spikeAt := start.Add(36 * time.Hour)
	ms := synth.Generate(synth.Stream{Brand: "acme", From: start, To: start.AddDate(0, 0, 2), PerHour: synth.Daily, Negative: 0.08, Seed: 2,
		Spikes: []synth.Spike{{At: spikeAt, Duration: 10 * time.Minute, Count: 200, Negative: 0.9}}})
	var nd strings.Builder
	enc := json.NewEncoder(&nd)
	for _, m := range ms {
		require.NoError(t, enc.Encode(m))
	}
	mentions := filepath.Join(dir, "week.ndjson")
	require.NoError(t, os.WriteFile(mentions, []byte(nd.String()), 0o644))

	// A stricter variant: pages only from 300 mentions an hour.
	lib, err := playbooks.Shipped()
	require.NoError(t, err)
	base, _ := lib.Get("negative-spike")
	src, err := os.ReadFile(filepath.Join("..", "playbooks", filepath.Base(base.File)))
	require.NoError(t, err)
	strict := strings.Replace(string(src), "name: negative-spike", "name: negative-spike-strict", 1)
	strict = strings.Replace(strict, "window.mentions >= 30 &&", "window.mentions >= 300 &&", 1)
	strictPath := filepath.Join(dir, "strict.yaml")
	require.NoError(t, os.WriteFile(strictPath, []byte(strict), 0o644))

	out, _, err := run(t, "simulate", "--playbook", "negative-spike", "--mentions", mentions, "--compare", strictPath, "--ack-after", "20m", "--tail", "8h")
	require.NoError(t, err)
	require.Contains(t, out, "crisis 1: detected 2026-11-03 12:0")
	require.Contains(t, out, "negative-spike-strict")
	require.Contains(t, out, "no crisis would have opened", "the strict variant never fires on 200 mentions")
	require.Contains(t, out, "≠ crises")
	require.Contains(t, out, "#1 pages")
	require.Contains(t, out, "t1@+0s t2@+15m0s", "no acknowledgement within tier 1's 15 minutes: tier 2 is paged")

	out, _, err = run(t, "simulate", "--playbook", "negative-spike", "--mentions", mentions, "--ack-after", "5m", "--tail", "8h", "--json")
	require.NoError(t, err)
	var res struct {
		Results []struct {
			Crises []struct {
				Pages []any `json:"pages"`
			} `json:"crises"`
		} `json:"results"`
	}
	require.NoError(t, json.Unmarshal([]byte(out), &res))
	require.Len(t, res.Results, 1)
	require.Len(t, res.Results[0].Crises[0].Pages, 1, "acknowledged after 5 minutes: only tier 1")

	_, _, err = run(t, "simulate", "--playbook", "nope", "--mentions", mentions)
	require.ErrorContains(t, err, `no playbook named "nope"`)
}
