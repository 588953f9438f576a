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
	"github.com/cmo-dev/cmo/report"
	"github.com/cmo-dev/cmo/rules"
)

// ReportInput names the campaign to report on and its goal rules.
type ReportInput struct {
	CampaignID string            `json:"campaign_id"`
	Brand      string            `json:"brand"`
	Playbook   string            `json:"playbook"`
	Title      string            `json:"title,omitempty"`
	Goals      map[string]string `json:"goals,omitempty"`
	// Channels are the channels the campaign may publish to, whose
	// followers are measured even before anything went out on them.
	Channels []string `json:"channels,omitempty"`
	// Env is what goal rules read besides the KPIs computed here.
	Env rules.CampaignEnv `json:"env"`
}

// PostReport is one published post's numbers.
type PostReport = report.PostReport

// Report is a campaign's results at a moment.
type Report = report.Report

// CollectInput names the campaign whose metrics to read.
type CollectInput struct {
	CampaignID string `json:"campaign_id"`
	// PublishStep limits the post numbers to one publish step's posts,
	// all of its repeat runs included ("post", "post#2", ...); clicks,
	// followers and money stay the campaign's.
	PublishStep string   `json:"publish_step,omitempty"`
	Channels    []string `json:"channels,omitempty"`
}

// CollectMetrics reads the current numbers of everything the campaign
// published, records them in its time series and returns its KPIs.
func (a *Activities) CollectMetrics(ctx context.Context, in CollectInput) (rules.KPI, error) {
	m, err := a.measure(ctx, in.CampaignID, in.Channels)
	if err != nil {
		return rules.KPI{}, err
	}
	if in.PublishStep != "" {
		var mine []PostReport
		for _, p := range m.Posts {
			if p.StepID == in.PublishStep || strings.HasPrefix(p.StepID, in.PublishStep+"#") {
				mine = append(mine, p)
			}
		}
		m.Posts = mine
	}
	return report.KPIs(m.Measured), nil
}

// BuildReport reads the current numbers of every post the campaign
// published, evaluates the playbook's goals against the KPIs and stores
// the report.
func (a *Activities) BuildReport(ctx context.Context, in ReportInput) (Report, error) {
	m, err := a.measure(ctx, in.CampaignID, in.Channels)
	if err != nil {
		return Report{}, err
	}
	k := report.KPIs(m.Measured)
	rep := Report{CampaignID: in.CampaignID, Brand: in.Brand, Playbook: in.Playbook, Title: in.Title,
		GeneratedAt: m.At, Posts: m.Posts, KPI: k, Channels: m.Channels, Referrers: m.Referrers, Currency: m.Currency,
		Impressions: k.Impressions, Engagements: k.Engagements, EngagementRate: k.EngagementRate}
	// Customer care over the campaign so far: its brand's inbox items.
	from := m.At.Add(-time.Duration(in.Env.Elapsed * float64(time.Hour)))
	if care, err := a.Store.CareKPIs(ctx, in.Brand, from, m.At.Add(time.Second), m.At); err != nil {
		return Report{}, err
	} else if care.Total.Items > 0 {
		rep.Care = &care
	}
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
			rep.GoalResults = append(rep.GoalResults, report.GoalResult{Name: n, Rule: in.Goals[n], Met: met})
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
