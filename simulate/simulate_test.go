package simulate

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/cmo-dev/cmo/listening/synth"
	"github.com/cmo-dev/cmo/playbooks"
)

func plan(t testing.TB, name string) *playbooks.Plan {
	t.Helper()
	lib, err := playbooks.Shipped()
	require.NoError(t, err)
	p, ok := lib.Get(name)
	require.True(t, ok)
	return p
}

var start = time.Date(2026, 11, 2, 0, 0, 0, 0, time.UTC)

func spikeStream(days int, spikeAt time.Time) synth.Stream {
	return synth.Stream{Brand: "acme", From: start, To: start.AddDate(0, 0, days), PerHour: synth.Daily, Negative: 0.08, Seed: 11, Provider: true,
		Spikes: []synth.Spike{{At: spikeAt, Duration: 15 * time.Minute, Count: 240, Negative: 0.85}}}
}

func TestSimulationDetectsPagesAndResolves(t *testing.T) {
	spikeAt := start.AddDate(0, 0, 3).Add(12*time.Hour + 7*time.Minute)
	ms := synth.Generate(spikeStream(4, spikeAt))
	res, err := Run(context.Background(), plan(t, "negative-spike"), ms, Options{Tail: 12 * time.Hour})
	require.NoError(t, err)
	require.Len(t, res.Crises, 1, "one spike, one crisis")
	c := res.Crises[0]
	require.WithinDuration(t, spikeAt, c.DetectedAt, 5*time.Minute)
	require.False(t, c.EvidenceAt.After(c.DetectedAt))
	require.False(t, c.EvidenceAt.Before(spikeAt))
	var tiers []int
	for _, p := range c.Pages {
		tiers = append(tiers, p.Tier)
	}
	require.Equal(t, []int{1, 2, 3, 3, 3}, tiers, "nobody acknowledges: every tier, the last three times")
	require.Equal(t, 15*time.Minute, c.Pages[1].At.Sub(c.Pages[0].At))
	require.NotEmpty(t, c.Freezes, "high severity freezes")
	require.NotNil(t, c.ResolvedAt, "calm for six hours resolves it")
	require.NotNil(t, c.Freezes[0].To, "and lifts the freeze")
	require.Greater(t, res.Ticks, int64(4*24*360))
}

func TestSimulationWithAcknowledgement(t *testing.T) {
	spikeAt := start.AddDate(0, 0, 2).Add(15 * time.Hour)
	ms := synth.Generate(spikeStream(3, spikeAt))
	posts := []Post{
		{ID: "promo", At: spikeAt.Add(30 * time.Minute), Channel: "news"},
		{ID: "before", At: spikeAt.Add(-time.Hour), Channel: "news"},
	}
	res, err := Run(context.Background(), plan(t, "negative-spike"), ms, Options{AckAfter: 5 * time.Minute, Posts: posts, Tail: 12 * time.Hour})
	require.NoError(t, err)
	require.Len(t, res.Crises, 1)
	c := res.Crises[0]
	require.Len(t, c.Pages, 1, "acknowledged within tier 1's 15 minutes")
	require.NotNil(t, c.AckedAt)
	require.Equal(t, 5*time.Minute, c.AckedAt.Sub(c.DetectedAt))
	require.Equal(t, []Post{posts[0]}, c.FrozenPosts, "the post scheduled during the freeze would have been held")
}

func TestCalmStreamOpensNothing(t *testing.T) {
	ms := synth.Generate(synth.Stream{Brand: "acme", From: start, To: start.AddDate(0, 0, 3), PerHour: synth.Daily, Negative: 0.08, Seed: 5, Provider: true})
	res, err := Run(context.Background(), plan(t, "negative-spike"), ms, Options{Tail: time.Hour})
	require.NoError(t, err)
	require.Empty(t, res.Crises)
}

// BenchmarkWeek simulates a week of 100,000 mentions with a spike.
func BenchmarkWeek(b *testing.B) {
	spikeAt := start.AddDate(0, 0, 5).Add(11 * time.Hour)
	s := spikeStream(7, spikeAt)
	s.Scale = 100_000.0 / (7 * 468)
	s.Spikes[0].Count = 3000
	ms := synth.Generate(s)
	p := plan(b, "negative-spike")
	b.ResetTimer()
	for range b.N {
		res, err := Run(context.Background(), p, ms, Options{Tail: time.Hour})
		if err != nil {
			b.Fatal(err)
		}
		b.ReportMetric(float64(len(ms)), "mentions")
		b.ReportMetric(float64(len(res.Crises)), "crises")
		b.ReportMetric(float64(res.Ticks), "ticks")
	}
}

func TestNudgeTimesMirrorTheAPI(t *testing.T) {
	t0 := start
	at := func(ms ...int) []time.Time {
		var out []time.Time
		for _, m := range ms {
			out = append(out, t0.Add(time.Duration(m)*time.Millisecond))
		}
		return out
	}
	require.Equal(t, at(0, 1000, 3000, 4000), NudgeTimes(at(0, 200, 400, 3000, 3100, 3900), time.Second),
		"a burst is nudged at its start and once more when the gap is over")
	require.Equal(t, at(0, 1500), NudgeTimes(at(0, 1500), time.Second))
}
