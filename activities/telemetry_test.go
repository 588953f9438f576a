package activities_test

import (
	"context"
	"net/http"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/stretchr/testify/require"

	"github.com/cmo-dev/cmo/activities"
	"github.com/cmo-dev/cmo/playbooks"
	"github.com/cmo-dev/cmo/rules"
	"github.com/cmo-dev/cmo/telemetry"
)

func withMetrics(f *fixture) *prometheus.Registry {
	reg := prometheus.NewRegistry()
	f.acts.Metrics = telemetry.New(reg)
	return reg
}

// count reads one series of a counter family from the registry.
func count(t *testing.T, reg *prometheus.Registry, name string, labels map[string]string) float64 {
	t.Helper()
	mfs, err := reg.Gather()
	require.NoError(t, err)
	for _, mf := range mfs {
		if mf.GetName() != name {
			continue
		}
	series:
		for _, m := range mf.GetMetric() {
			if len(m.GetLabel()) != len(labels) {
				continue
			}
			for _, l := range m.GetLabel() {
				if labels[l.GetName()] != l.GetValue() {
					continue series
				}
			}
			return m.GetCounter().GetValue()
		}
	}
	return 0
}

func TestPublishCountsPostsOncePerPlatform(t *testing.T) {
	f := newFixture(t)
	reg := withMetrics(f)
	_, err := f.publish(t, input("counted once"))
	require.NoError(t, err)
	res, err := f.publish(t, input("counted once"))
	require.NoError(t, err)
	require.True(t, res.Recovered)
	require.Equal(t, 1.0, count(t, reg, telemetry.PostsPublished, map[string]string{"platform": "sandbox"}),
		"a post the ledger already had is not counted again")

	f.setFault(func(w http.ResponseWriter, r *http.Request, _ http.Handler) bool {
		w.WriteHeader(http.StatusBadGateway)
		return true
	})
	in := input("refused")
	in.StepID = "other"
	_, err = f.publish(t, in)
	require.Error(t, err)
	require.Equal(t, 1.0, count(t, reg, telemetry.PostsFailed, map[string]string{"platform": "sandbox", "kind": "transient"}))
	require.Equal(t, 1.0, count(t, reg, telemetry.PostsPublished, map[string]string{"platform": "sandbox"}))
}

type fakeCrises struct{ runID string }

func (f fakeCrises) SignalWithStartCrisis(context.Context, activities.CrisisStart) (string, error) {
	return f.runID, nil
}

func TestOpenCrisisObservesDetectionLatency(t *testing.T) {
	f := newFixture(t)
	reg := prometheus.NewRegistry()
	m := telemetry.New(reg)
	lib, err := playbooks.Shipped()
	require.NoError(t, err)
	plan, ok := lib.Get("negative-spike")
	require.True(t, ok)
	now := time.Date(2026, 11, 25, 12, 0, 0, 0, time.UTC)
	f.acts.Metrics, f.acts.Crises, f.acts.Now = m, fakeCrises{runID: "run-1"}, func() time.Time { return now }
	histogram := func() (uint64, float64) {
		mfs, err := reg.Gather()
		require.NoError(t, err)
		for _, mf := range mfs {
			if mf.GetName() == telemetry.DetectionLatency {
				h := mf.GetMetric()[0].GetHistogram()
				return h.GetSampleCount(), h.GetSampleSum()
			}
		}
		t.Fatal("no detection latency histogram")
		return 0, 0
	}

	in := activities.OpenCrisisInput{Brand: "demo", Plan: plan, Scope: "brand", At: now,
		Window: rules.Window{Mentions: 80, Negative: 60, NegativeRatio: 0.75, LastMentionAt: now.Add(-2500 * time.Millisecond)}}
	res, err := f.acts.OpenCrisis(context.Background(), in)
	require.NoError(t, err)
	require.True(t, res.Started)
	n, sum := histogram()
	require.EqualValues(t, 1, n)
	require.InDelta(t, 2.5, sum, 1e-9)

	// More evidence for the crisis already open is not a detection.
	in.At = now.Add(10 * time.Second)
	res, err = f.acts.OpenCrisis(context.Background(), in)
	require.NoError(t, err)
	require.False(t, res.Started)
	n, _ = histogram()
	require.EqualValues(t, 1, n)
}
