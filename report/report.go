package report

import (
	"time"

	"github.com/cmo-dev/cmo/rules"
	"github.com/cmo-dev/cmo/store"
)

// Report is a campaign's results at a moment, as the report step stores
// it. The top-level impressions, engagements and engagement rate repeat
// the KPIs for clients written before the KPIs existed.
type Report struct {
	CampaignID     string          `json:"campaign_id"`
	Brand          string          `json:"brand,omitempty"`
	Playbook       string          `json:"playbook,omitempty"`
	Title          string          `json:"title,omitempty"`
	GeneratedAt    time.Time       `json:"generated_at"`
	Posts          []PostReport    `json:"posts"`
	Impressions    int64           `json:"impressions"`
	Engagements    int64           `json:"engagements"`
	EngagementRate float64         `json:"engagement_rate"`
	KPI            rules.KPI       `json:"kpi"`
	Goals          map[string]bool `json:"goals,omitempty"`
	// GoalResults are the goals in name order with their rules, for
	// people reading the report.
	GoalResults []GoalResult    `json:"goal_results,omitempty"`
	Channels    []ChannelReport `json:"channels,omitempty"`
	// Referrers are where the tracked clicks came from, most first.
	Referrers []Referrer `json:"referrers,omitempty"`
	// Currency is the currency of cost and revenue, when one was given.
	Currency string `json:"currency,omitempty"`
	// Care is the brand's customer care over the campaign: the inbox
	// items its mentions opened and how fast they were answered.
	Care *store.CareKPIs `json:"care,omitempty"`
}

// GoalResult is one goal of the playbook and whether it was met.
type GoalResult struct {
	Name string `json:"name"`
	Rule string `json:"rule"`
	Met  bool   `json:"met"`
}

// Referrer counts the tracked clicks that came from one site ("direct"
// when the browser sent no referrer).
type Referrer struct {
	Host   string `json:"host"`
	Clicks int64  `json:"clicks"`
}

// Point is one value of a series at a moment.
type Point struct {
	At    time.Time `json:"at"`
	Value float64   `json:"value"`
}

// Series is one KPI over time.
type Series struct {
	Name   string  `json:"name"`
	Points []Point `json:"points"`
}

// Chart groups series drawn on the same axes.
type Chart struct {
	Title  string   `json:"title"`
	Series []Series `json:"series"`
	// Tight fits the value axis to the values instead of starting it at
	// zero: a few dozen followers won or lost show on an audience of
	// thousands.
	Tight bool `json:"tight,omitempty"`
}

// Met counts the goals met.
func (r Report) Met() int {
	n := 0
	for _, g := range r.GoalResults {
		if g.Met {
			n++
		}
	}
	return n
}
