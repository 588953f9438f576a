package listening

import (
	"math"
	"time"
)

// Alpha is the weight of the newest observation of an hour of the day once
// the baseline is warm: about the last ten same hours count, so a brand
// that grows is followed within two weeks and one bad day does not become
// normal.
const Alpha = 0.1

// MaxBackfill bounds how far back a first fold reaches.
const MaxBackfill = 28 * 24 * time.Hour

// Baseline is the expected number of mentions per hour for each hour of
// the day (in the brand's time zone): an exponentially weighted mean and
// variance per hour, folded in once per completed hour. It never rescans
// history: each hour is read once, when it closes.
type Baseline struct {
	Mean [24]float64 `json:"mean"`
	Var  [24]float64 `json:"var"`
	N    [24]int64   `json:"n"`
	// Through is the start of the first hour not yet folded (UTC); zero
	// before the first fold.
	Through time.Time `json:"through"`
}

// Fold adds one completed hour's count to the mean and variance of its
// hour of the day. The first observations weigh 1/n, so a new brand's
// baseline is the plain average until it has ten days of that hour.
func (b *Baseline) Fold(hour time.Time, count float64, loc *time.Location) {
	h := hour.In(loc).Hour()
	a := max(1/float64(b.N[h]+1), Alpha)
	d := count - b.Mean[h]
	inc := a * d
	b.Mean[h] += inc
	b.Var[h] = (1 - a) * (b.Var[h] + d*inc)
	b.N[h]++
	if next := hour.UTC().Truncate(time.Hour).Add(time.Hour); next.After(b.Through) {
		b.Through = next
	}
}

// FoldFrom returns the first hour the next fold must read: Through, or on
// a first fold the first hour with data but no earlier than MaxBackfill
// before now.
func (b *Baseline) FoldFrom(first, now time.Time) time.Time {
	if !b.Through.IsZero() {
		return b.Through
	}
	earliest := now.Add(-MaxBackfill).UTC().Truncate(time.Hour)
	if first.IsZero() || first.Before(earliest) {
		if first.IsZero() {
			return now.UTC().Truncate(time.Hour)
		}
		return earliest
	}
	return first.UTC().Truncate(time.Hour)
}

// Expect is the expected count and its variance between from and to: each
// hour of the day it overlaps contributes in proportion. An hour never
// observed uses the prior, as a Poisson count (variance = mean); an
// observed one never has less variance than Poisson, so a quiet hour's
// handful of mentions cannot make a z-score explode.
func (b *Baseline) Expect(from, to time.Time, loc *time.Location, prior float64) (mean, variance float64) {
	for t := from; t.Before(to); {
		next := t.Truncate(time.Hour).Add(time.Hour)
		if next.After(to) {
			next = to
		}
		f := next.Sub(t).Hours()
		h := t.In(loc).Hour()
		m, v := prior, prior
		if b != nil && b.N[h] > 0 {
			m, v = b.Mean[h], max(b.Var[h], b.Mean[h])
		}
		mean += f * m
		variance += f * v
		t = next
	}
	return mean, variance
}

// Z is how unusual count is against the expectation, in standard
// deviations, with a floor of one on the variance.
func Z(count, mean, variance float64) float64 {
	return (count - mean) / math.Sqrt(max(variance, 1))
}
