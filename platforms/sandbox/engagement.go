package sandbox

import (
	"math"
	"time"
)

// Engagement models how a post's numbers grow after it goes out, the way
// they do on a real network: the followers online when it is posted see
// it within a minute or two, most who will ever see it do so in its first
// hour, a long tail over the next day or two, and nothing much happens
// after a week. The audience arrives in ten-minute buckets whose sizes
// follow that decay, each bucket jittered by ±50% so that curves are
// bumpy; likes, reposts, replies and clicks are drawn from each bucket's
// viewers at rates of the post's own. Everything is derived from the post
// id, so a post's numbers at a given age are repeatable (the API can show
// them "as at" any moment), never shrink, and differ between posts.
func Engagement(postID int64, followers int, age time.Duration) Counts {
	m := model(postID, followers, age)
	return Counts{
		Impressions: int64(m.impressions),
		Reach:       int64(m.impressions * m.unique),
		Likes:       int64(m.likes),
		Reposts:     int64(m.reposts),
		Replies:     int64(m.replies),
		Clicks:      int64(m.clicks),
	}
}

// FollowerDelta is how many followers the post won (or, for a post that
// put people off, lost) by the given age: a small share of its viewers,
// from -0.1% to +0.4% depending on the post.
func FollowerDelta(postID int64, followers int, age time.Duration) int64 {
	m := model(postID, followers, age)
	return int64(m.impressions * m.follow)
}

// Counts are engagement numbers.
type Counts struct {
	Impressions int64 `json:"impressions"`
	Reach       int64 `json:"reach"`
	Likes       int64 `json:"favourites_count"`
	Reposts     int64 `json:"reblogs_count"`
	Replies     int64 `json:"replies_count"`
	Clicks      int64 `json:"clicks"`
}

const (
	bucket  = 10 * time.Minute
	buckets = 7 * 24 * 6 // a week: the curve is flat long before
)

// seen is the share of a post's eventual audience that has seen it at
// age t: 15% at once (followers online, minute time constant), 65% over
// the first hours (half-hour constant), the rest over half a day.
func seen(t time.Duration) float64 {
	x := float64(t)
	return 0.15*(1-math.Exp(-x/float64(time.Minute))) +
		0.65*(1-math.Exp(-x/float64(30*time.Minute))) +
		0.20*(1-math.Exp(-x/float64(12*time.Hour)))
}

// arrived[k] is seen after k buckets, computed once.
var arrived = func() [buckets + 1]float64 {
	var a [buckets + 1]float64
	for k := range a {
		a[k] = seen(time.Duration(k) * bucket)
	}
	return a
}()

type sums struct {
	impressions, likes, reposts, replies, clicks float64
	unique, follow                               float64
}

func model(postID int64, followers int, age time.Duration) sums {
	if age < 0 {
		age = 0
	}
	u := func(i uint64) float64 { return unit(postID, 1<<40|i) }
	audience := float64(followers) * (0.3 + 0.5*u(0))
	likeRate := 0.02 + 0.04*u(1)
	repostRate := 0.002 + 0.008*u(2)
	replyRate := 0.001 + 0.003*u(3)
	clickRate := 0.005 + 0.015*u(4)
	out := sums{unique: 0.7 + 0.2*u(5), follow: -0.001 + 0.005*u(6)}

	add := func(k int, share float64) {
		viewers := audience * share * jitter(postID, k, 0)
		out.impressions += viewers
		out.likes += viewers * likeRate * jitter(postID, k, 1)
		out.reposts += viewers * repostRate * jitter(postID, k, 2)
		out.replies += viewers * replyRate * jitter(postID, k, 3)
		out.clicks += viewers * clickRate * jitter(postID, k, 4)
	}
	full := int(age / bucket)
	for k := 0; k < min(full, buckets); k++ {
		add(k, arrived[k+1]-arrived[k])
	}
	if full < buckets {
		// The bucket under way, as far as the curve has come in it.
		add(full, seen(age)-arrived[full])
	}
	return out
}

// jitter is a repeatable factor from 0.5 to 1.5 for one metric of one
// bucket of one post.
func jitter(postID int64, k, metric int) float64 {
	return 0.5 + unit(postID, uint64(k)<<3|uint64(metric))
}

// unit maps (post, salt) to [0, 1) with splitmix64: cheap enough to draw
// thousands of numbers per post on every read.
func unit(postID int64, salt uint64) float64 {
	z := uint64(postID)*0x9e3779b97f4a7c15 ^ salt*0xbf58476d1ce4e5b9
	z += 0x9e3779b97f4a7c15
	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9
	z = (z ^ (z >> 27)) * 0x94d049bb133111eb
	z ^= z >> 31
	return float64(z>>11) / (1 << 53)
}

// PostStamp is when a post went out, all that an account's follower count
// needs to know about it.
type PostStamp struct {
	ID        int64
	CreatedAt time.Time
}

// FollowersAt is an account's follower count at a moment: the followers
// it was created with, plus or minus what each of its posts made by then.
func FollowersAt(acct Account, posts []PostStamp, at time.Time) int64 {
	n := int64(acct.Followers)
	for _, p := range posts {
		if !p.CreatedAt.After(at) {
			n += FollowerDelta(p.ID, acct.Followers, at.Sub(p.CreatedAt))
		}
	}
	return n
}
