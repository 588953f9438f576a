package sandbox

import (
	"hash/fnv"
	"math"
	"time"
)

// Engagement models how a post's numbers grow after it goes out: reach
// saturates with a two-hour time constant, and each post gets its own
// rates drawn deterministically from its id, so numbers are repeatable,
// grow over time and differ between posts like real ones do.
func Engagement(postID int64, followers int, age time.Duration) Counts {
	if age < 0 {
		age = 0
	}
	u := unit(postID)
	reach := float64(followers) * (0.3 + 0.5*u[0])
	grown := 1 - math.Exp(-age.Minutes()/120)
	impressions := reach * grown
	return Counts{
		Impressions: int64(impressions),
		Likes:       int64(impressions * (0.02 + 0.04*u[1])),
		Reposts:     int64(impressions * (0.002 + 0.008*u[2])),
		Replies:     int64(impressions * (0.001 + 0.003*u[3])),
		Clicks:      int64(impressions * (0.005 + 0.015*u[4])),
	}
}

// Counts are engagement numbers.
type Counts struct {
	Impressions int64 `json:"impressions"`
	Likes       int64 `json:"favourites_count"`
	Reposts     int64 `json:"reblogs_count"`
	Replies     int64 `json:"replies_count"`
	Clicks      int64 `json:"clicks"`
}

func unit(id int64) [5]float64 {
	var out [5]float64
	for i := range out {
		h := fnv.New64a()
		var b [9]byte
		for j := 0; j < 8; j++ {
			b[j] = byte(id >> (8 * j))
		}
		b[8] = byte(i)
		h.Write(b[:])
		out[i] = float64(h.Sum64()%10000) / 10000
	}
	return out
}
