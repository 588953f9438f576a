package sandbox

import (
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

func TestEngagementGrowsFastThenDecaysWithNoise(t *testing.T) {
	const followers = 5000
	for id := int64(1); id <= 50; id++ {
		prev := Engagement(id, followers, 0)
		require.Equal(t, Counts{}, prev, "nothing at the moment of posting")
		for age := time.Minute; age <= 8*24*time.Hour; age += 7 * time.Minute {
			c := Engagement(id, followers, age)
			require.GreaterOrEqual(t, c.Impressions, prev.Impressions, "post %d at %s: numbers never shrink", id, age)
			require.GreaterOrEqual(t, c.Likes, prev.Likes)
			require.GreaterOrEqual(t, c.Reposts, prev.Reposts)
			require.GreaterOrEqual(t, c.Replies, prev.Replies)
			require.GreaterOrEqual(t, c.Clicks, prev.Clicks)
			require.LessOrEqual(t, c.Reach, c.Impressions)
			prev = c
		}
		require.Equal(t, Engagement(id, followers, 3*time.Hour), Engagement(id, followers, 3*time.Hour), "repeatable")

		hour1 := Engagement(id, followers, time.Hour).Impressions
		day1 := Engagement(id, followers, 24*time.Hour).Impressions
		week := Engagement(id, followers, 7*24*time.Hour).Impressions
		require.Greater(t, hour1, (day1-hour1)/2, "post %d: the first hour brings more than half of the rest of the day", id)
		require.Equal(t, week, Engagement(id, followers, 30*24*time.Hour).Impressions, "flat after a week")
		require.InDelta(t, followers*0.55, float64(week), followers*0.5, "the audience is 30%%-80%% of the followers, give or take the jitter")
	}
}

func TestEngagementIsNoisyAndDiffersBetweenPosts(t *testing.T) {
	// Increments of a smooth decay would fall bucket after bucket; the
	// jitter makes some rise.
	rises := 0
	prevInc := int64(-1)
	for k := 1; k <= 12; k++ {
		inc := Engagement(7, 100000, time.Duration(k)*bucket).Impressions - Engagement(7, 100000, time.Duration(k-1)*bucket).Impressions
		if prevInc >= 0 && inc > prevInc {
			rises++
		}
		prevInc = inc
	}
	require.Positive(t, rises, "bumpy curve")

	a, b := Engagement(1, 5000, 6*time.Hour), Engagement(2, 5000, 6*time.Hour)
	require.NotEqual(t, a, b)
}

func TestFollowersMoveWithPosts(t *testing.T) {
	acct := Account{Handle: "h", Followers: 2000}
	t0 := time.Date(2026, 5, 1, 9, 0, 0, 0, time.UTC)
	posts := []PostStamp{{ID: 1, CreatedAt: t0}, {ID: 2, CreatedAt: t0.Add(time.Hour)}}
	require.Equal(t, int64(2000), FollowersAt(acct, posts, t0), "a post just out has won no one yet")
	later := FollowersAt(acct, posts, t0.Add(48*time.Hour))
	require.Equal(t, int64(2000)+FollowerDelta(1, 2000, 48*time.Hour)+FollowerDelta(2, 2000, 47*time.Hour), later)

	// Some posts put people off: across many posts both signs occur.
	var won, lost bool
	for id := int64(1); id < 200; id++ {
		d := FollowerDelta(id, 100000, 48*time.Hour)
		won = won || d > 0
		lost = lost || d < 0
	}
	require.True(t, won)
	require.True(t, lost, "negative growth happens in the sandbox too")
}
