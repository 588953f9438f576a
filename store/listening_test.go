package store_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/cmo-dev/cmo/listening"
	"github.com/cmo-dev/cmo/listening/synth"
	"github.com/cmo-dev/cmo/playbooks"
	"github.com/cmo-dev/cmo/store"
)

func mention(brand, id string, at time.Time, label string) listening.Mention {
	score := map[string]float64{listening.Negative: -0.5, listening.Positive: 0.5, listening.Neutral: 0}[label]
	return listening.Mention{Brand: brand, Source: "x", ExternalID: id, Text: "about " + brand, CreatedAt: at,
		Author:    listening.Author{Handle: "@" + id, Followers: 100},
		Sentiment: &listening.Sentiment{Score: score, Label: label, Source: listening.FromProvider}}
}

func TestInsertMentionsDropsDuplicatesAndCountsOnce(t *testing.T) {
	s := newStore(t)
	ctx := context.Background()
	require.NoError(t, s.UpsertBrand(ctx, store.Brand{ID: "acme", Name: "Acme"}))
	at := time.Date(2026, 11, 2, 10, 0, 30, 0, time.UTC)

	res, err := s.InsertMentions(ctx, []listening.Mention{
		mention("acme", "1", at, listening.Negative), mention("acme", "2", at, listening.Positive), mention("acme", "1", at, listening.Negative),
	})
	require.NoError(t, err)
	require.Equal(t, store.IngestResult{Received: 3, Inserted: 2, Duplicates: 1}, res, "a duplicate inside the batch is dropped")

	m3 := mention("acme", "3", at.Add(time.Minute), listening.Negative)
	m3.Topics = []string{"delivery"}
	res, err = s.InsertMentions(ctx, []listening.Mention{mention("acme", "2", at, listening.Positive), m3})
	require.NoError(t, err)
	require.Equal(t, store.IngestResult{Received: 2, Inserted: 1, Duplicates: 1}, res, "a duplicate of a stored mention is dropped")

	res, err = s.InsertMentions(ctx, []listening.Mention{mention("acme", "1", at, listening.Negative)})
	require.NoError(t, err)
	require.Equal(t, 0, res.Inserted, "a whole batch of duplicates inserts nothing")

	var rows int
	require.NoError(t, s.Pool().QueryRow(ctx, `SELECT count(*) FROM mentions`).Scan(&rows))
	require.Equal(t, 3, rows)

	bs, err := s.Buckets(ctx, "acme", at.Add(-time.Hour), at.Add(time.Hour))
	require.NoError(t, err)
	got := map[string]listening.Bucket{}
	for _, b := range bs {
		got[b.Scope+"@"+b.Minute.Format("15:04")] = b
	}
	require.Len(t, got, 3)
	require.EqualValues(t, 2, got["brand@10:00"].Mentions, "duplicates are not counted")
	require.EqualValues(t, 1, got["brand@10:00"].Negative)
	require.EqualValues(t, 1, got["brand@10:00"].Positive)
	require.EqualValues(t, 200, got["brand@10:00"].Reach)
	require.EqualValues(t, 1, got["brand@10:01"].Mentions)
	require.EqualValues(t, 1, got["topic:delivery@10:01"].Negative)

	_, err = s.InsertMentions(ctx, []listening.Mention{mention("nobody", "1", at, listening.Neutral)})
	require.ErrorIs(t, err, store.ErrUnknownBrand)
}

func TestFoldBaselinesReadsEachHourOnce(t *testing.T) {
	s := newStore(t)
	ctx := context.Background()
	require.NoError(t, s.UpsertBrand(ctx, store.Brand{ID: "acme", Name: "Acme"}))
	start := time.Date(2026, 11, 2, 8, 0, 0, 0, time.UTC)
	var ms []listening.Mention
	for i := range 6 { // 6 mentions at 08:xx, none at 09:xx, 6 at 10:xx
		ms = append(ms, mention("acme", fmt.Sprint(i), start.Add(time.Duration(i)*time.Minute), listening.Neutral),
			mention("acme", fmt.Sprint(100+i), start.Add(2*time.Hour+time.Duration(i)*time.Minute), listening.Neutral))
	}
	_, err := s.InsertMentions(ctx, ms)
	require.NoError(t, err)

	bases, err := s.FoldBaselines(ctx, "acme", time.UTC, start.Add(2*time.Hour+30*time.Minute))
	require.NoError(t, err)
	b := bases[listening.ScopeBrand]
	require.NotNil(t, b)
	require.Equal(t, [3]int64{1, 1, 0}, [3]int64{b.N[8], b.N[9], b.N[10]}, "08:00 and the empty 09:00 are folded; 10:00 is not over")
	require.Equal(t, [2]float64{6, 0}, [2]float64{b.Mean[8], b.Mean[9]})
	require.Equal(t, start.Add(2*time.Hour), b.Through)

	again, err := s.FoldBaselines(ctx, "acme", time.UTC, start.Add(2*time.Hour+50*time.Minute))
	require.NoError(t, err)
	require.Equal(t, b, again[listening.ScopeBrand], "an hour is folded once")

	later, err := s.FoldBaselines(ctx, "acme", time.UTC, start.Add(3*time.Hour+1*time.Minute))
	require.NoError(t, err)
	require.EqualValues(t, 1, later[listening.ScopeBrand].N[10])
	require.Equal(t, 6.0, later[listening.ScopeBrand].Mean[10])
}

// detector runs the library's crisis playbooks on the store's windows, as
// the brand monitor does, tick by tick.
type detector struct {
	t     *testing.T
	s     *store.Store
	brand string
	loc   *time.Location
	plans []*playbooks.Plan
	maxZ  float64
}

func (d *detector) tick(at time.Time) []string {
	ctx := context.Background()
	bases, err := d.s.FoldBaselines(ctx, d.brand, d.loc, at)
	require.NoError(d.t, err)
	var lengths []time.Duration
	longest := time.Duration(0)
	for _, p := range d.plans {
		lengths = append(lengths, p.Window.D())
		longest = max(longest, p.Window.D())
	}
	from, to := listening.Span(at, longest)
	bs, err := d.s.Buckets(ctx, d.brand, from, to)
	require.NoError(d.t, err)
	ws := listening.Windows(bs, bases, at, lengths, d.loc, listening.DefaultExpectedPerHour)
	for _, w := range ws {
		if w.Scope == listening.ScopeBrand {
			d.maxZ = max(d.maxZ, w.Window.VolumeZ)
		}
	}
	var fired []string
	for _, p := range d.plans {
		if _, ok, err := listening.Detect(p.Detect.Src, p.Window.D(), ws); err != nil {
			d.t.Fatal(err)
		} else if ok {
			fired = append(fired, p.Name)
		}
	}
	return fired
}

// play inserts the stream's mentions up to each tick and runs detection,
// returning the first tick each playbook fired at.
func (d *detector) play(ms []listening.Mention, from, to time.Time, step time.Duration) map[string]time.Time {
	fired := map[string]time.Time{}
	i := 0
	for at := from; at.Before(to); at = at.Add(step) {
		j := i
		for j < len(ms) && !ms[j].CreatedAt.After(at) {
			j++
		}
		if j > i {
			_, err := d.s.InsertMentions(context.Background(), ms[i:j])
			require.NoError(d.t, err)
			i = j
		}
		for _, name := range d.tick(at) {
			if _, seen := fired[name]; !seen {
				fired[name] = at
			}
		}
	}
	return fired
}

func TestDetectionOnSeasonalStreams(t *testing.T) {
	s := newStore(t)
	ctx := context.Background()
	loc, err := time.LoadLocation("Europe/Madrid")
	require.NoError(t, err)
	require.NoError(t, s.UpsertBrand(ctx, store.Brand{ID: "acme", Name: "Acme", Timezone: loc.String()}))
	lib, err := playbooks.Shipped()
	require.NoError(t, err)
	var plans []*playbooks.Plan
	for _, p := range lib.List() {
		if p.Kind == playbooks.KindCrisis {
			plans = append(plans, p)
		}
	}
	require.NotEmpty(t, plans)

	week := time.Date(2026, 11, 2, 0, 0, 0, 0, loc)
	live := week.AddDate(0, 0, 7)
	stream := synth.Stream{Brand: "acme", From: week, To: live.AddDate(0, 0, 1), PerHour: synth.Daily, Location: loc, Negative: 0.08, Seed: 7, Provider: true}
	all := synth.Generate(stream)
	var history []listening.Mention
	for _, m := range all {
		if m.CreatedAt.Before(live) {
			history = append(history, m)
		}
	}
	_, err = s.InsertMentions(ctx, history)
	require.NoError(t, err)

	d := &detector{t: t, s: s, brand: "acme", loc: loc, plans: plans}
	fired := d.play(all[len(history):], live, live.AddDate(0, 0, 1), 10*time.Minute)
	require.Empty(t, fired, "a steady day with the usual rhythm opens no crisis")
	require.Less(t, d.maxZ, 3.0, "the hour-of-day baseline follows the daily rhythm")
	t.Logf("steady day: highest volume z-score %.2f", d.maxZ)

	// A positive viral moment: ten times the noon volume, nearly all praise.
	day2 := live.AddDate(0, 0, 1)
	viral := synth.Generate(synth.Stream{Brand: "acme", Source: "viral", From: day2, To: day2.Add(3 * time.Hour), Location: loc, Seed: 8, Provider: true,
		Spikes: []synth.Spike{{At: day2.Add(90 * time.Minute), Duration: 30 * time.Minute, Count: 400, Negative: 0.03, Followers: 250_000}}})
	fired = d.play(viral, day2, day2.Add(3*time.Hour), 5*time.Minute)
	require.Empty(t, fired, "praise, however loud, is not a crisis")

	// A negative spike.
	day3 := day2.AddDate(0, 0, 1).Add(12 * time.Hour)
	spikeAt := day3.Add(30 * time.Minute)
	angry := synth.Generate(synth.Stream{Brand: "acme", Source: "angry", From: day3, To: day3.Add(2 * time.Hour), PerHour: synth.Daily, Location: loc, Negative: 0.08, Seed: 9, Provider: true,
		Spikes: []synth.Spike{{At: spikeAt, Duration: 20 * time.Minute, Count: 200, Negative: 0.8}}})
	fired = d.play(angry, day3, day3.Add(2*time.Hour), time.Minute)
	require.Contains(t, fired, "negative-spike")
	require.WithinDuration(t, spikeAt, fired["negative-spike"], 10*time.Minute, "detected within minutes of the spike's start")
	t.Logf("negative spike at %s detected at %s", spikeAt.Format("15:04"), fired["negative-spike"].Format("15:04"))
}

// TestMemoryMatchesTheStore feeds one stream to PostgreSQL and to
// listening.Memory and compares their windows tick by tick: backtests and
// the live monitor see the same numbers.
func TestMemoryMatchesTheStore(t *testing.T) {
	s := newStore(t)
	ctx := context.Background()
	loc, err := time.LoadLocation("America/New_York")
	require.NoError(t, err)
	require.NoError(t, s.UpsertBrand(ctx, store.Brand{ID: "acme", Name: "Acme", Timezone: loc.String()}))
	start := time.Date(2026, 11, 2, 0, 0, 0, 0, loc)
	cfg := &listening.Config{Topics: map[string][]string{"refunds": {"refund"}}}
	require.NoError(t, cfg.Validate())
	ms := synth.Generate(synth.Stream{Brand: "acme", From: start, To: start.AddDate(0, 0, 3), PerHour: synth.Daily, Location: loc, Negative: 0.1, Seed: 3,
		Spikes: []synth.Spike{{At: start.AddDate(0, 0, 2).Add(13 * time.Hour), Duration: 10 * time.Minute, Count: 150, Negative: 0.8}}})
	for i := range ms {
		require.NoError(t, listening.Prepare(&ms[i], cfg, nil, ms[i].CreatedAt))
	}
	mem := listening.NewMemory(loc, listening.DefaultExpectedPerHour)
	lengths := []time.Duration{30 * time.Minute, time.Hour, 2 * time.Hour}
	i := 0
	compared := 0
	for at := start.Add(17 * time.Minute); at.Before(start.AddDate(0, 0, 3)); at = at.Add(53 * time.Minute) {
		j := i
		for j < len(ms) && !ms[j].CreatedAt.After(at) {
			j++
		}
		if j > i {
			_, err := s.InsertMentions(ctx, ms[i:j])
			require.NoError(t, err)
			mem.Add(ms[i:j])
			i = j
		}
		bases, err := s.FoldBaselines(ctx, "acme", loc, at)
		require.NoError(t, err)
		from, to := listening.Span(at, 2*time.Hour)
		bs, err := s.Buckets(ctx, "acme", from, to)
		require.NoError(t, err)
		want := listening.Windows(bs, bases, at, lengths, loc, listening.DefaultExpectedPerHour)
		require.Equal(t, want, mem.Windows(at, lengths), "windows at %s", at)
		compared += len(want)
	}
	require.Greater(t, compared, 200)
}
