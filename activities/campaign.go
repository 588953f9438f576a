package activities

import (
	"context"
	"encoding/json"
	"fmt"
	"sort"
	"strings"
	"time"

	"go.temporal.io/sdk/temporal"

	"github.com/cmo-dev/cmo/platforms"
	"github.com/cmo-dev/cmo/rules"
	"github.com/cmo-dev/cmo/store"
)

// ReportInput names the campaign to report on and its goal rules.
type ReportInput struct {
	CampaignID string            `json:"campaign_id"`
	Brand      string            `json:"brand"`
	Playbook   string            `json:"playbook"`
	Goals      map[string]string `json:"goals,omitempty"`
	// Env is what goal rules read besides the KPIs computed here.
	Env rules.CampaignEnv `json:"env"`
}

// PostReport is one published post's numbers.
type PostReport struct {
	ChannelID string            `json:"channel_id"`
	Channel   string            `json:"channel"`
	StepID    string            `json:"step_id"`
	PostID    string            `json:"post_id"`
	URL       string            `json:"url"`
	Metrics   platforms.Metrics `json:"metrics"`
}

// Report is a campaign's results at a moment.
type Report struct {
	CampaignID     string          `json:"campaign_id"`
	GeneratedAt    time.Time       `json:"generated_at"`
	Posts          []PostReport    `json:"posts"`
	Impressions    int64           `json:"impressions"`
	Engagements    int64           `json:"engagements"`
	EngagementRate float64         `json:"engagement_rate"`
	KPI            rules.KPI       `json:"kpi"`
	Goals          map[string]bool `json:"goals,omitempty"`
}

// CollectInput names the campaign whose metrics to read.
type CollectInput struct {
	CampaignID string `json:"campaign_id"`
	// PublishStep limits collection to one publish step's posts, all of
	// its repeat runs included ("post", "post#2", ...).
	PublishStep string `json:"publish_step,omitempty"`
}

// CollectMetrics reads the current numbers of everything the campaign
// published and returns its KPIs.
func (a *Activities) CollectMetrics(ctx context.Context, in CollectInput) (rules.KPI, error) {
	posts, err := a.postMetrics(ctx, in.CampaignID)
	if err != nil {
		return rules.KPI{}, err
	}
	if in.PublishStep != "" {
		var mine []PostReport
		for _, p := range posts {
			if p.StepID == in.PublishStep || strings.HasPrefix(p.StepID, in.PublishStep+"#") {
				mine = append(mine, p)
			}
		}
		posts = mine
	}
	return kpiOf(posts), nil
}

func (a *Activities) postMetrics(ctx context.Context, campaignID string) ([]PostReport, error) {
	entries, err := a.Store.CampaignLedger(ctx, campaignID)
	if err != nil {
		return nil, err
	}
	out := []PostReport{}
	// A campaign posts many times on few channels: read each channel once.
	type channel struct {
		ch   store.Channel
		acct platforms.Account
	}
	channels := map[string]channel{}
	for _, e := range entries {
		if e.Status != store.LedgerPublished {
			continue
		}
		c, ok := channels[e.ChannelID]
		if !ok {
			ch, err := a.Store.Channel(ctx, e.ChannelID)
			if err != nil {
				return nil, err
			}
			acct, err := a.Store.ChannelAccount(ctx, ch)
			if err != nil {
				return nil, err
			}
			c = channel{ch, acct}
			channels[e.ChannelID] = c
		}
		ch := c.ch
		conn, err := a.Platforms.Get(ch.Platform)
		if err != nil {
			return nil, temporal.NewNonRetryableApplicationError(err.Error(), ErrTypePermanent, nil)
		}
		m, err := conn.Metrics(ctx, c.acct, e.RemoteID)
		if err != nil {
			return nil, a.classifyRead(err)
		}
		out = append(out, PostReport{ChannelID: ch.ID, Channel: ch.Name, StepID: e.StepID, PostID: e.RemoteID, URL: e.RemoteURL, Metrics: m})
	}
	return out, nil
}

// kpiOf computes a campaign's KPIs from its posts' metrics:
// engagements = likes + reposts + replies + clicks; engagement rate =
// engagements / impressions; CTR = clicks / impressions (0 without
// impressions).
func kpiOf(posts []PostReport) rules.KPI {
	var k rules.KPI
	k.Posts = len(posts)
	for _, p := range posts {
		m := p.Metrics
		k.Impressions += m.Impressions
		k.Likes += m.Likes
		k.Reposts += m.Reposts
		k.Replies += m.Replies
		k.Clicks += m.Clicks
	}
	k.Reach = k.Impressions
	k.Engagements = k.Likes + k.Reposts + k.Replies + k.Clicks
	if k.Impressions > 0 {
		k.EngagementRate = float64(k.Engagements) / float64(k.Impressions)
		k.CTR = float64(k.Clicks) / float64(k.Impressions)
	}
	return k
}

// BuildReport reads the current numbers of every post the campaign
// published, evaluates the playbook's goals against them and stores the
// report.
func (a *Activities) BuildReport(ctx context.Context, in ReportInput) (Report, error) {
	posts, err := a.postMetrics(ctx, in.CampaignID)
	if err != nil {
		return Report{}, err
	}
	k := kpiOf(posts)
	rep := Report{CampaignID: in.CampaignID, GeneratedAt: a.now().UTC(), Posts: posts, KPI: k,
		Impressions: k.Impressions, Engagements: k.Engagements, EngagementRate: k.EngagementRate}
	if len(in.Goals) > 0 {
		rep.Goals = map[string]bool{}
		names := make([]string, 0, len(in.Goals))
		for n := range in.Goals {
			names = append(names, n)
		}
		sort.Strings(names)
		for _, n := range names {
			env := in.Env
			env.KPI = k
			met, err := rules.Eval(in.Goals[n], rules.Campaign, env)
			if err != nil {
				return Report{}, temporal.NewNonRetryableApplicationError(fmt.Sprintf("goal %s: %v", n, err), ErrTypePermanent, nil)
			}
			rep.Goals[n] = met
		}
	}
	raw, err := json.Marshal(rep)
	if err != nil {
		return Report{}, err
	}
	if err := a.Store.SaveReport(ctx, in.CampaignID, in.Brand, in.Playbook, raw); err != nil {
		return Report{}, err
	}
	return rep, nil
}

func (a *Activities) classifyRead(err error) error {
	switch platforms.KindOf(err) {
	case platforms.Permanent, platforms.Auth:
		return temporal.NewNonRetryableApplicationError(err.Error(), ErrTypePermanent, nil)
	}
	return err
}

func shortHash(s string) string { return idempotencyKey(s)[:12] }
