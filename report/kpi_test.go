package report

import (
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/cmo-dev/cmo/platforms"
	"github.com/cmo-dev/cmo/rules"
)

func post(impressions, reach, likes, reposts, replies, clicks int64) PostReport {
	return PostReport{Metrics: platforms.Metrics{Impressions: impressions, Reach: reach, Likes: likes,
		Reposts: reposts, Replies: replies, Clicks: clicks}}
}

// The worked example of the package documentation, number by number.
func TestKPIsWorkedExample(t *testing.T) {
	k := KPIs(Measured{
		Posts: []PostReport{post(1000, 800, 40, 5, 3, 12), post(3000, 0, 90, 15, 7, 28)},
		Channels: []ChannelReport{
			{ChannelID: "a", FollowersStart: 2000, Followers: 2100},
			{ChannelID: "b", FollowersStart: 3000, Followers: 3050},
		},
		Clicks: 80, Cost: 200, Conversions: 4, Revenue: 500,
	})
	require.Equal(t, rules.KPI{
		Posts: 2, Impressions: 4000,
		// The second post's platform gives no reach: its impressions count.
		Reach: 800 + 3000,
		Likes: 130, Reposts: 20, Replies: 10, PostClicks: 40,
		Engagements: 200, EngagementRate: 0.05,
		Clicks: 80, CTR: 0.02,
		FollowersStart: 5000, Followers: 5150, FollowerGrowth: 150, FollowerGrowthRate: 0.03,
		Cost: 200, Conversions: 4, Revenue: 500,
		ConversionRate: 0.05, CostPerClick: 2.5, ROI: 1.5,
	}, k)
}

func TestKPIsEdgeCases(t *testing.T) {
	t.Run("no posts, no measurements", func(t *testing.T) {
		require.Equal(t, rules.KPI{}, KPIs(Measured{}))
	})

	t.Run("no impressions: rates over impressions are 0, not NaN", func(t *testing.T) {
		// A platform that counts likes but not impressions (Mastodon).
		k := KPIs(Measured{Posts: []PostReport{post(0, 0, 12, 3, 2, 0)}, Clicks: 9})
		require.Equal(t, int64(17), k.Engagements)
		require.Zero(t, k.EngagementRate)
		require.Zero(t, k.CTR)
		require.Equal(t, int64(9), k.Clicks, "clicks are counted by cmo, impressions or not")
	})

	t.Run("zero cost: ROI and cost per click are 0", func(t *testing.T) {
		k := KPIs(Measured{Posts: []PostReport{post(500, 0, 10, 0, 0, 0)}, Clicks: 10, Conversions: 2, Revenue: 90})
		require.Zero(t, k.Cost)
		require.Zero(t, k.ROI, "nothing spent: no return on it to speak of")
		require.Zero(t, k.CostPerClick)
		require.Equal(t, 0.2, k.ConversionRate)
		require.Equal(t, 90.0, k.Revenue)
	})

	t.Run("cost with no revenue: ROI is -1", func(t *testing.T) {
		k := KPIs(Measured{Clicks: 0, Cost: 150})
		require.Equal(t, -1.0, k.ROI, "(0 - 150) / 150: all of it lost")
		require.Zero(t, k.CostPerClick, "no clicks: no price per click")
		require.Zero(t, k.ConversionRate)
	})

	t.Run("negative growth", func(t *testing.T) {
		k := KPIs(Measured{Channels: []ChannelReport{
			{FollowersStart: 4000, Followers: 3900},
			{FollowersStart: 1000, Followers: 1020},
		}})
		require.Equal(t, int64(5000), k.FollowersStart)
		require.Equal(t, int64(4920), k.Followers)
		require.Equal(t, int64(-80), k.FollowerGrowth)
		require.Equal(t, -0.016, k.FollowerGrowthRate)
	})

	t.Run("growth from no followers: the rate is 0", func(t *testing.T) {
		k := KPIs(Measured{Channels: []ChannelReport{{FollowersStart: 0, Followers: 35}}})
		require.Equal(t, int64(35), k.FollowerGrowth)
		require.Zero(t, k.FollowerGrowthRate)
	})

	t.Run("clicks but no conversions", func(t *testing.T) {
		k := KPIs(Measured{Posts: []PostReport{post(2000, 1500, 0, 0, 0, 0)}, Clicks: 50, Cost: 25})
		require.Equal(t, int64(1500), k.Reach)
		require.Equal(t, 0.025, k.CTR)
		require.Equal(t, 0.5, k.CostPerClick)
		require.Zero(t, k.ConversionRate)
		require.Equal(t, -1.0, k.ROI)
	})
}
