package rules

import "time"

// CampaignEnv is what campaign conditions can read:
//
//	params.product, kpi.engagement_rate, goals.engagement, steps.review.decision, iteration
type CampaignEnv struct {
	Params map[string]any        `expr:"params"`
	KPI    KPI                   `expr:"kpi"`
	Goals  map[string]bool       `expr:"goals"`
	Steps  map[string]StepResult `expr:"steps"`
	// Iteration counts the runs of the innermost repeat, from 1.
	Iteration int `expr:"iteration"`
	// Elapsed is the time since the campaign started, in hours, so that a
	// rule can say "elapsed >= 48" without reading the clock.
	Elapsed float64 `expr:"elapsed_hours"`
}

// KPI are a campaign's numbers so far. The report package computes them
// and documents each formula; rates whose denominator is zero are 0.
type KPI struct {
	Posts       int   `expr:"posts" json:"posts"`
	Impressions int64 `expr:"impressions" json:"impressions"`
	Reach       int64 `expr:"reach" json:"reach"`
	Likes       int64 `expr:"likes" json:"likes"`
	Reposts     int64 `expr:"reposts" json:"reposts"`
	Replies     int64 `expr:"replies" json:"replies"`
	// PostClicks are the clicks the platforms count on the posts
	// themselves (expanding, opening); Clicks are people who followed a
	// tracked link, counted by cmo.
	PostClicks     int64   `expr:"post_clicks" json:"post_clicks"`
	Clicks         int64   `expr:"clicks" json:"clicks"`
	Engagements    int64   `expr:"engagements" json:"engagements"`
	EngagementRate float64 `expr:"engagement_rate" json:"engagement_rate"`
	CTR            float64 `expr:"ctr" json:"ctr"`
	// FollowersStart and Followers are the campaign's channels' follower
	// counts at its first and latest measurement.
	FollowersStart     int64   `expr:"followers_start" json:"followers_start"`
	Followers          int64   `expr:"followers" json:"followers"`
	FollowerGrowth     int64   `expr:"follower_growth" json:"follower_growth"`
	FollowerGrowthRate float64 `expr:"follower_growth_rate" json:"follower_growth_rate"`
	Cost               float64 `expr:"cost" json:"cost"`
	Conversions        int64   `expr:"conversions" json:"conversions"`
	Revenue            float64 `expr:"revenue" json:"revenue"`
	ConversionRate     float64 `expr:"conversion_rate" json:"conversion_rate"`
	CostPerClick       float64 `expr:"cost_per_click" json:"cost_per_click"`
	ROI                float64 `expr:"roi" json:"roi"`
}

// StepResult is what later conditions can read about an earlier step.
type StepResult struct {
	Status   string `expr:"status" json:"status"`
	Decision string `expr:"decision" json:"decision,omitempty"`
	Actor    string `expr:"actor" json:"actor,omitempty"`
	Findings int    `expr:"findings" json:"findings,omitempty"`
	Posts    int    `expr:"posts" json:"posts,omitempty"`
}

// WindowEnv is what crisis detection, severity and resolution rules read:
// statistics of the brand's mentions over the detection window.
type WindowEnv struct {
	Window Window `expr:"window"`
}

// Window is a sliding window of mention statistics.
type Window struct {
	Mentions      int64   `expr:"mentions" json:"mentions"`
	Negative      int64   `expr:"negative" json:"negative"`
	NegativeRatio float64 `expr:"negative_ratio" json:"negative_ratio"`
	Reach         int64   `expr:"reach" json:"reach"`
	MaxReach      int64   `expr:"max_reach" json:"max_reach"`
	VolumeZ       float64 `expr:"volume_z" json:"volume_z"`
	Baseline      float64 `expr:"baseline" json:"baseline"`
	Minutes       float64 `expr:"minutes" json:"minutes"`
	Verified      int64   `expr:"verified" json:"verified"`
	// Topic is set on a topic's window, Competitor on a competitor's; both
	// are empty on the brand's own window. A rule that reads either is
	// evaluated on every window of that kind (see rules.Scopes).
	Topic      string `expr:"topic" json:"topic,omitempty"`
	Competitor string `expr:"competitor" json:"competitor,omitempty"`
	// LastMentionAt is when the newest mention in the window was written:
	// the instant the evidence was complete, whatever the tick that saw it.
	LastMentionAt time.Time `expr:"-" json:"last_mention_at,omitzero"`
}

// FreezeEnv is what a crisis playbook's freeze rule reads.
type FreezeEnv struct {
	Window   Window `expr:"window"`
	Severity string `expr:"severity"`
}
