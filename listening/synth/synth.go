// Package synth generates mention streams with a known shape: a daily
// rhythm, a share of complaints, and spikes at chosen instants. Tests,
// benchmarks and the dev stack's demo data use it, so that what detection
// should see is known in advance.
package synth

import (
	"fmt"
	"math"
	"math/rand/v2"
	"sort"
	"time"

	"github.com/cmo-dev/cmo/listening"
)

// Daily is a typical day of mentions per hour: quiet at night, busy around
// lunch and the evening.
var Daily = [24]float64{4, 3, 2, 2, 2, 3, 6, 12, 20, 26, 30, 32, 36, 34, 30, 28, 28, 30, 34, 36, 30, 22, 12, 6}

// Spike is a burst of mentions on top of the rhythm.
type Spike struct {
	At       time.Time
	Duration time.Duration
	Count    int
	// Negative is the share of the spike's mentions that are complaints;
	// the rest are praise.
	Negative  float64
	Followers int64
	Topic     string
	Text      string // overrides the generated texts when set
}

// Stream describes a stream of mentions.
type Stream struct {
	Brand  string
	Source string
	From   time.Time
	To     time.Time
	// PerHour gives the expected mentions per hour at each hour of the day
	// (in Location); Scale multiplies it.
	PerHour  [24]float64
	Scale    float64
	Location *time.Location
	// Negative is the usual share of complaints.
	Negative float64
	Spikes   []Spike
	Seed     uint64
	// Provider marks sentiment as supplied by the producer, so the
	// numbers do not depend on the lexicon.
	Provider bool
}

var (
	praise = []string{
		"Love the new collection from %s, great quality!",
		"Thanks %s for the quick help, amazing service",
		"M'encanta la botiga de %s, molt bon tracte",
		"Gracias %s, el pedido llegó perfecto y rápido",
		"Best customer care ever, %s rocks",
	}
	neutral = []string{
		"Does %s open on Sundays?",
		"%s has a new store downtown",
		"¿A qué hora abre %s mañana?",
		"Quin horari té %s aquest cap de setmana?",
		"Reading about %s today",
	}
	complaints = []string{
		"Still waiting for my refund from %s after three weeks, terrible service",
		"%s cancelled my order and nobody answers, awful",
		"Pedido retrasado otra vez y sin respuesta de %s, una vergüenza",
		"Encara espero el reemborsament de %s, pèssim servei",
		"Worst experience ever with %s, never again",
	}
)

// Generate returns the stream's mentions in time order, with ids unique
// within the stream and stable for a given seed.
func Generate(s Stream) []listening.Mention {
	if s.Scale == 0 {
		s.Scale = 1
	}
	if s.Location == nil {
		s.Location = time.UTC
	}
	if s.Source == "" {
		s.Source = "synth"
	}
	r := rand.New(rand.NewPCG(s.Seed, s.Seed^0x9e3779b97f4a7c15))
	var out []listening.Mention
	n := 0
	add := func(at time.Time, negative bool, followers int64, topic, text string) {
		n++
		m := listening.Mention{Brand: s.Brand, Source: s.Source, ExternalID: fmt.Sprintf("%d-%d", s.Seed, n), CreatedAt: at.UTC(),
			Author: listening.Author{Handle: fmt.Sprintf("user%d", r.IntN(5000)), Followers: followers}}
		var score float64
		switch {
		case negative:
			m.Text, score = fmt.Sprintf(pick(r, complaints), s.Brand), -0.6
		case r.Float64() < 0.5:
			m.Text, score = fmt.Sprintf(pick(r, praise), s.Brand), 0.6
		default:
			m.Text = fmt.Sprintf(pick(r, neutral), s.Brand)
		}
		if text != "" {
			m.Text = text
		}
		if topic != "" {
			m.Topics = []string{topic}
		}
		if s.Provider {
			m.Sentiment = &listening.Sentiment{Score: score, Label: listening.LabelFor(score)}
		}
		out = append(out, m)
	}
	// Poisson arrivals with the hour's rate: exponential gaps, re-drawn at
	// each hour boundary (memorylessness makes that exact).
	for t := s.From; t.Before(s.To); {
		rate := s.PerHour[t.In(s.Location).Hour()] * s.Scale
		next := t.Truncate(time.Hour).Add(time.Hour)
		if rate <= 0 {
			t = next
			continue
		}
		gap := time.Duration(r.ExpFloat64() / rate * float64(time.Hour))
		if t.Add(gap).After(next) || t.Add(gap).Equal(next) {
			t = next
			continue
		}
		t = t.Add(gap)
		if t.Before(s.To) {
			add(t, r.Float64() < s.Negative, followers(r), "", "")
		}
	}
	for _, sp := range s.Spikes {
		for i := range sp.Count {
			at := sp.At.Add(time.Duration(float64(sp.Duration) * float64(i) / float64(max(sp.Count, 1))))
			f := sp.Followers
			if f == 0 {
				f = followers(r)
			}
			add(at, r.Float64() < sp.Negative, f, sp.Topic, sp.Text)
		}
	}
	sortByTime(out)
	return out
}

func pick(r *rand.Rand, list []string) string { return list[r.IntN(len(list))] }

// followers is heavy-tailed, as audiences are: most accounts are small.
func followers(r *rand.Rand) int64 {
	return int64(math.Min(50*math.Exp(r.NormFloat64()*1.6), 2_000_000))
}

func sortByTime(ms []listening.Mention) {
	sort.SliceStable(ms, func(i, j int) bool { return ms[i].CreatedAt.Before(ms[j].CreatedAt) })
}
