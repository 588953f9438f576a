package listening

import (
	"errors"
	"math"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

var t0 = time.Date(2026, 11, 25, 10, 0, 0, 0, time.UTC)

func TestPrepare(t *testing.T) {
	cfg := &Config{Topics: map[string][]string{"outage": {"is down", "outage"}}, Competitors: map[string][]string{"rival": {"rivalco"}}}
	require.NoError(t, cfg.Validate())
	score := func(text, lang string) (float64, string, string) { return -0.5, Negative, "en" }

	m := Mention{Brand: "acme", Source: " x ", ExternalID: "1", Text: "The app is down again", CreatedAt: t0.Add(time.Hour)}
	require.NoError(t, Prepare(&m, cfg, score, t0))
	require.Equal(t, "x", m.Source)
	require.Equal(t, t0, m.CreatedAt, "a created_at far in the future becomes the arrival time")
	require.Equal(t, []string{"outage"}, m.Topics)
	require.Equal(t, Sentiment{Score: -0.5, Label: Negative, Source: FromLexicon}, *m.Sentiment)
	require.Equal(t, "en", m.Lang)

	m = Mention{Brand: "acme", Source: "x", ExternalID: "2", Text: "RivalCo download page", CreatedAt: t0, Sentiment: &Sentiment{Score: 0.3}}
	require.NoError(t, Prepare(&m, cfg, score, t0))
	require.Equal(t, "rival", m.Competitor)
	require.Empty(t, m.Topics, `"down" inside "download" is not the outage keyword`)
	require.Equal(t, Sentiment{Score: 0.3, Label: Positive, Source: FromProvider}, *m.Sentiment, "provider sentiment wins")

	for field, m := range map[string]Mention{
		"brand":            {Source: "x", ExternalID: "1", CreatedAt: t0},
		"source":           {Brand: "a", ExternalID: "1", CreatedAt: t0},
		"external_id":      {Brand: "a", Source: "x", CreatedAt: t0},
		"created_at":       {Brand: "a", Source: "x", ExternalID: "1"},
		"author.followers": {Brand: "a", Source: "x", ExternalID: "1", CreatedAt: t0, Author: Author{Followers: -1}},
		"sentiment.score":  {Brand: "a", Source: "x", ExternalID: "1", CreatedAt: t0, Sentiment: &Sentiment{Score: math.NaN()}},
		"sentiment.label":  {Brand: "a", Source: "x", ExternalID: "1", CreatedAt: t0, Sentiment: &Sentiment{Label: "angry"}},
		"text":             {Brand: "a", Source: "x", ExternalID: "1", CreatedAt: t0, Text: "\xff"},
		"topics[0]":        {Brand: "a", Source: "x", ExternalID: "1", CreatedAt: t0, Topics: []string{" "}},
	} {
		err := Prepare(&m, nil, nil, t0)
		var fe *FieldError
		require.True(t, errors.As(err, &fe), field)
		require.Equal(t, field, fe.Field)
	}
}

func TestConfigValidateNamesTheField(t *testing.T) {
	for field, cfg := range map[string]Config{
		"topics":               {Topics: map[string][]string{"Outage": {"down"}}},
		"topics.outage":        {Topics: map[string][]string{"outage": {}}},
		"competitors.rival[1]": {Competitors: map[string][]string{"rival": {"r", " "}}},
		"expected_per_hour":    {ExpectedPerHour: -1},
	} {
		err := cfg.Validate()
		var fe *FieldError
		require.True(t, errors.As(err, &fe), field)
		require.Equal(t, field, fe.Field)
	}
}

func TestAggregateCountsEachScope(t *testing.T) {
	neg := &Sentiment{Label: Negative}
	bs := Aggregate([]Mention{
		{Brand: "a", CreatedAt: t0.Add(10 * time.Second), Sentiment: neg, Author: Author{Followers: 5, Verified: true}, Topics: []string{"delivery"}},
		{Brand: "a", CreatedAt: t0.Add(50 * time.Second), Sentiment: &Sentiment{Label: Positive}, Author: Author{Followers: 7}},
		{Brand: "a", CreatedAt: t0.Add(70 * time.Second), Sentiment: neg, Competitor: "rival"},
	})
	require.Equal(t, []Bucket{
		{Brand: "a", Scope: "brand", Minute: t0, Mentions: 2, Negative: 1, Positive: 1, Reach: 12, MaxReach: 7, Verified: 1, Last: t0.Add(50 * time.Second)},
		{Brand: "a", Scope: "competitor:rival", Minute: t0.Add(time.Minute), Mentions: 1, Negative: 1, Last: t0.Add(70 * time.Second)},
		{Brand: "a", Scope: "topic:delivery", Minute: t0, Mentions: 1, Negative: 1, Reach: 5, MaxReach: 5, Verified: 1, Last: t0.Add(10 * time.Second)},
	}, bs)
}

func TestBaselineFollowsTheHourOfDay(t *testing.T) {
	var b Baseline
	for day := range 14 {
		for h := range 24 {
			count := 10.0
			if h == 12 {
				count = 100
			}
			b.Fold(t0.Truncate(24*time.Hour).AddDate(0, 0, day).Add(time.Duration(h)*time.Hour), count, time.UTC)
		}
	}
	require.InDelta(t, 100, b.Mean[12], 1e-9)
	require.InDelta(t, 10, b.Mean[3], 1e-9)
	require.EqualValues(t, 14, b.N[12])
	noon := t0.Truncate(24 * time.Hour).Add(12 * time.Hour)
	mean, variance := b.Expect(noon, noon.Add(time.Hour), time.UTC, 5)
	require.InDelta(t, 100, mean, 1e-9)
	require.InDelta(t, 100, variance, 1e-9, "never less than Poisson")
	mean, _ = b.Expect(noon.Add(30*time.Minute), noon.Add(90*time.Minute), time.UTC, 5)
	require.InDelta(t, 55, mean, 1e-9, "half of noon and half of one o'clock")
	require.Less(t, Z(110, 100, 100), 1.5, "a normal noon is not unusual")
	require.Greater(t, Z(110, 10, 10), 30.0, "the same volume at night is")

	var empty *Baseline
	mean, variance = empty.Expect(noon, noon.Add(2*time.Hour), time.UTC, 5)
	require.Equal(t, [2]float64{10, 10}, [2]float64{mean, variance}, "no baseline: the prior, as Poisson")
}

func TestWindowsSumTheirSpan(t *testing.T) {
	at := t0.Add(59*time.Minute + 30*time.Second)
	bs := []Bucket{
		{Scope: "brand", Minute: t0.Add(-time.Minute), Mentions: 100, Negative: 100},
		{Scope: "brand", Minute: t0, Mentions: 4, Negative: 1, Reach: 40, MaxReach: 30},
		{Scope: "brand", Minute: t0.Add(59 * time.Minute), Mentions: 6, Negative: 4, Reach: 60, MaxReach: 50, Verified: 1},
		{Scope: "topic:delivery", Minute: t0.Add(50 * time.Minute), Mentions: 3, Negative: 3},
	}
	ws := Windows(bs, nil, at, []time.Duration{time.Hour, 10 * time.Minute}, time.UTC, 10)
	got := map[string]ScopedWindow{}
	for _, w := range ws {
		got[w.Scope+"/"+w.Length.String()] = w
	}
	h := got["brand/1h0m0s"].Window
	require.EqualValues(t, 10, h.Mentions, "the minute before the span is out, the current minute is in")
	require.EqualValues(t, 5, h.Negative)
	require.Equal(t, 0.5, h.NegativeRatio)
	require.EqualValues(t, 100, h.Reach)
	require.EqualValues(t, 50, h.MaxReach)
	require.Equal(t, 10.0, h.Baseline)
	require.Equal(t, 0.0, h.VolumeZ)
	require.Equal(t, 60.0, h.Minutes)
	require.Equal(t, "delivery", got["topic:delivery/10m0s"].Window.Topic)
	require.EqualValues(t, 6, got["brand/10m0s"].Window.Mentions)
}

func TestDetectPicksScopesByWhatTheRuleReads(t *testing.T) {
	ws := []ScopedWindow{
		{Scope: "brand", Length: time.Hour, Window: Find(nil, "brand", time.Hour)},
		{Scope: "topic:outage", Length: time.Hour, Window: Find(nil, "topic:outage", time.Hour)},
		{Scope: "competitor:rival", Length: time.Hour, Window: Find(nil, "competitor:rival", time.Hour)},
	}
	ws[0].Window.Mentions, ws[1].Window.Mentions, ws[2].Window.Mentions = 5, 50, 500
	w, ok, err := Detect("window.mentions >= 10", time.Hour, ws)
	require.NoError(t, err)
	require.False(t, ok, "a plain rule reads the brand's own window only: %+v", w)
	w, ok, err = Detect(`window.topic matches "outage" && window.mentions >= 10`, time.Hour, ws)
	require.NoError(t, err)
	require.True(t, ok)
	require.Equal(t, "topic:outage", w.Scope)
	w, ok, _ = Detect(`window.competitor != "" && window.mentions >= 10`, time.Hour, ws)
	require.True(t, ok)
	require.Equal(t, "competitor:rival", w.Scope)
	_, ok, _ = Detect("window.mentions >= 1", 30*time.Minute, ws)
	require.False(t, ok, "windows of another length are not read")
}

func TestDecodeLocatesErrors(t *testing.T) {
	var n int
	count := func(Mention, int) error { n++; return nil }
	require.NoError(t, DecodeJSON(strings.NewReader("\n{\"brand\":\"a\"}\n\n{\"brand\":\"b\"}\n"), count))
	require.Equal(t, 2, n)
	require.NoError(t, DecodeJSON(strings.NewReader(` [{"brand":"a"},{"brand":"b"}]`), count))
	require.Equal(t, 4, n)

	err := DecodeJSON(strings.NewReader("{\"brand\":\"a\"}\n{\"brand\":3}\n"), count)
	var ie *ItemError
	require.ErrorAs(t, err, &ie)
	require.Equal(t, ItemError{Line: 2, Index: 1, Field: "brand", Msg: "must be string, got number", Err: ie.Err}, *ie)
	err = DecodeJSON(strings.NewReader(`[{"brand":"a"},{"nope":1}]`), count)
	require.ErrorAs(t, err, &ie)
	require.Equal(t, 1, ie.Index)
	require.Contains(t, ie.Msg, "unknown field")

	csv := "brand,source,external_id,created_at,author_followers\na,x,1,2026-11-25T10:00:00Z,12\na,x,2,2026-11-25T10:00:00Z,lots\n"
	var got []Mention
	err = DecodeCSV(strings.NewReader(csv), func(m Mention, _ int) error { got = append(got, m); return nil })
	require.ErrorAs(t, err, &ie)
	require.Equal(t, 3, ie.Line)
	require.Equal(t, "author_followers", ie.Field)
	require.Len(t, got, 1)
	require.EqualValues(t, 12, got[0].Author.Followers)
	require.ErrorAs(t, DecodeCSV(strings.NewReader("brand,likes\n"), count), &ie)
	require.Equal(t, "likes", ie.Field)
}

func TestVerify(t *testing.T) {
	secret, body := []byte("s3cret"), []byte(`{"a":1}`)
	sig := Sign(secret, t0, body)
	ts := "1795600800" // t0
	require.Equal(t, t0.Unix(), int64(1795600800))
	require.NoError(t, Verify(secret, ts, sig, body, t0.Add(299*time.Second)))
	require.ErrorIs(t, Verify(secret, ts, sig, body, t0.Add(301*time.Second)), ErrStale)
	require.ErrorIs(t, Verify(secret, "", sig, body, t0), ErrNoTimestamp)
	require.ErrorIs(t, Verify(secret, "x", sig, body, t0), ErrBadTimestamp)
	require.ErrorIs(t, Verify(secret, ts, "", body, t0), ErrNoSignature)
	require.ErrorIs(t, Verify([]byte("other"), ts, sig, body, t0), ErrBadSignature)
	require.ErrorIs(t, Verify(secret, ts, sig, []byte(`{"a":2}`), t0), ErrBadSignature)
}
