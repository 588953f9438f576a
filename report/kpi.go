package report

import (
	"time"

	"github.com/cmo-dev/cmo/platforms"
	"github.com/cmo-dev/cmo/rules"
)

// PostReport is one published post and its latest numbers.
type PostReport struct {
	ChannelID string            `json:"channel_id"`
	Channel   string            `json:"channel"`
	StepID    string            `json:"step_id"`
	PostID    string            `json:"post_id"`
	URL       string            `json:"url"`
	Metrics   platforms.Metrics `json:"metrics"`
}

// ChannelReport is one channel's audience over the campaign and the
// tracked clicks that came from it.
type ChannelReport struct {
	ChannelID        string     `json:"channel_id"`
	Channel          string     `json:"channel"`
	FollowersStart   int64      `json:"followers_start"`
	FollowersStartAt *time.Time `json:"followers_start_at,omitempty"`
	Followers        int64      `json:"followers"`
	FollowersAt      *time.Time `json:"followers_at,omitempty"`
	Growth           int64      `json:"growth"`
	Clicks           int64      `json:"clicks"`
}

// Measured is everything a campaign's KPIs are computed from.
type Measured struct {
	// Posts are the published posts with their latest numbers.
	Posts []PostReport
	// Channels carry the follower counts at the first and latest
	// measurement.
	Channels []ChannelReport
	// Clicks counts people who followed the campaign's tracked links.
	Clicks      int64
	Cost        float64
	Conversions int64
	Revenue     float64
}

// KPIs computes a campaign's KPIs by the formulas in the package
// documentation.
func KPIs(m Measured) rules.KPI {
	var k rules.KPI
	k.Posts = len(m.Posts)
	for _, p := range m.Posts {
		x := p.Metrics
		k.Impressions += x.Impressions
		if x.Reach > 0 {
			k.Reach += x.Reach
		} else {
			k.Reach += x.Impressions
		}
		k.Likes += x.Likes
		k.Reposts += x.Reposts
		k.Replies += x.Replies
		k.PostClicks += x.Clicks
	}
	k.Engagements = k.Likes + k.Reposts + k.Replies + k.PostClicks
	k.EngagementRate = ratio(float64(k.Engagements), float64(k.Impressions))
	k.Clicks = m.Clicks
	k.CTR = ratio(float64(k.Clicks), float64(k.Impressions))
	for _, c := range m.Channels {
		k.FollowersStart += c.FollowersStart
		k.Followers += c.Followers
	}
	k.FollowerGrowth = k.Followers - k.FollowersStart
	k.FollowerGrowthRate = ratio(float64(k.FollowerGrowth), float64(k.FollowersStart))
	k.Cost, k.Conversions, k.Revenue = m.Cost, m.Conversions, m.Revenue
	k.ConversionRate = ratio(float64(k.Conversions), float64(k.Clicks))
	k.CostPerClick = ratio(k.Cost, float64(k.Clicks))
	k.ROI = ratio(k.Revenue-k.Cost, k.Cost)
	return k
}

// ratio is n/d, or 0 when d is not positive: a rate over nothing is
// reported as 0 rather than as infinity or NaN, which JSON cannot carry
// and a goal rule cannot compare.
func ratio(n, d float64) float64 {
	if d <= 0 {
		return 0
	}
	return n / d
}
