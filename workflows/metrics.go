package workflows

import (
	"fmt"
	"slices"
	"time"

	enumspb "go.temporal.io/api/enums/v1"
	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/workflow"

	"github.com/cmo-dev/cmo/activities"
	"github.com/cmo-dev/cmo/playbooks"
)

// changeKPITracking guards what a campaign does for its KPIs and the
// content calendar: it starts its metrics collector, tells it when it
// publishes and when it ends, puts scheduled posts on the calendar and
// asks for tracked links. Runs recorded before it replay without any of
// that.
const changeKPITracking = "kpi-tracking"

// Names of the metrics collector.
const (
	MetricsWorkflow = "CampaignMetrics"
	// SignalMetrics tells a collector that its campaign published or ended.
	SignalMetrics = "campaign"
	// KindMetrics is the Kind search attribute of collectors, so that
	// campaign lists leave them out.
	KindMetrics = "metrics"
)

// Campaign events a collector hears of.
const (
	MetricsPublished = "published"
	MetricsEnded     = "ended"
)

// MetricsWorkflowID is the collector's workflow id for a campaign.
func MetricsWorkflowID(campaignID string) string { return "metrics:" + campaignID }

// How long a collector goes on: a week after its campaign ends (posts
// keep collecting engagement for days), at most half a year whatever
// happens (a campaign killed by hand never says it ended), and a fresh
// history every few hundred rounds.
const (
	metricsAfter        = 7 * 24 * time.Hour
	metricsMaxLifetime  = 183 * 24 * time.Hour
	metricsRoundsPerRun = 400
)

// MetricsInput starts (or continues) a campaign's metrics collector.
type MetricsInput struct {
	CampaignID string    `json:"campaign_id"`
	Brand      string    `json:"brand"`
	Channels   []string  `json:"channels,omitempty"`
	Started    time.Time `json:"started"`
	// Carried across continue-as-new.
	LastPublished time.Time  `json:"last_published,omitempty"`
	EndedAt       *time.Time `json:"ended_at,omitempty"`
	Rounds        int        `json:"rounds,omitempty"`
}

// MetricsEvent is what a campaign tells its collector.
type MetricsEvent struct {
	Event string    `json:"event"`
	At    time.Time `json:"at"`
}

// sampleEvery is how long a collector waits between rounds: every ten
// minutes while the latest post is young and its numbers move fast,
// hourly for its first three days, then four times a day. Before
// anything is published only followers change, and the campaign says
// when it publishes.
func sampleEvery(published bool, sincePost time.Duration) time.Duration {
	switch {
	case !published:
		return 6 * time.Hour
	case sincePost < 6*time.Hour:
		return 10 * time.Minute
	case sincePost < 3*24*time.Hour:
		return time.Hour
	}
	return 6 * time.Hour
}

// CampaignMetrics measures a campaign's posts and its channels' followers
// on a schedule, while the campaign runs and for a week after it ends, so
// that reports have time series and growth is measured from the start.
// Each round is one SampleMetrics activity; a failed round is logged and
// the next one tries again.
func CampaignMetrics(ctx workflow.Context, in MetricsInput) error {
	log := workflow.GetLogger(ctx)
	events := workflow.GetSignalChannel(ctx, SignalMetrics)
	apply := func(ev MetricsEvent) {
		switch ev.Event {
		case MetricsPublished:
			if ev.At.After(in.LastPublished) {
				in.LastPublished = ev.At
			}
		case MetricsEnded:
			at := ev.At
			in.EndedAt = &at
		}
	}
	drain := func() {
		for {
			var ev MetricsEvent
			if !events.ReceiveAsync(&ev) {
				return
			}
			apply(ev)
		}
	}
	actx := workflow.WithActivityOptions(ctx, workflow.ActivityOptions{
		StartToCloseTimeout: 2 * time.Minute,
		Summary:             "measure " + in.CampaignID,
		RetryPolicy:         &temporal.RetryPolicy{InitialInterval: 5 * time.Second, BackoffCoefficient: 2, MaximumAttempts: 3},
	})
	for run := 0; ; run++ {
		drain()
		var res activities.SampleResult
		if err := workflow.ExecuteActivity(actx, acts.SampleMetrics, activities.SampleInput{
			CampaignID: in.CampaignID, Channels: in.Channels,
		}).Get(ctx, &res); err != nil {
			log.Warn("metrics round failed", "campaign", in.CampaignID, "error", err)
		} else if res.LastPublished.After(in.LastPublished) {
			in.LastPublished = res.LastPublished
		}
		in.Rounds++

		// Wait for the next round.
		for {
			now := workflow.Now(ctx)
			if in.EndedAt != nil && !now.Before(in.EndedAt.Add(metricsAfter)) || now.Sub(in.Started) >= metricsMaxLifetime {
				return nil
			}
			wait := sampleEvery(!in.LastPublished.IsZero(), now.Sub(in.LastPublished))
			if in.EndedAt != nil {
				wait = min(wait, in.EndedAt.Add(metricsAfter).Sub(now))
			}
			wait = min(wait, in.Started.Add(metricsMaxLifetime).Sub(now))
			tctx, cancel := workflow.WithCancel(ctx)
			timer := workflow.NewTimerWithOptions(tctx, wait, workflow.TimerOptions{Summary: fmt.Sprintf("next measurement in %s", wait)})
			fired := false
			sel := workflow.NewSelector(ctx)
			sel.AddFuture(timer, func(workflow.Future) { fired = true })
			sel.AddReceive(events, func(c workflow.ReceiveChannel, _ bool) {
				var ev MetricsEvent
				c.Receive(ctx, &ev)
				apply(ev)
			})
			sel.Select(ctx)
			cancel()
			if fired {
				break
			}
			// A publication or the end changes the wait: work it out again.
		}
		if run+1 >= metricsRoundsPerRun || workflow.GetInfo(ctx).GetContinueAsNewSuggested() {
			drain()
			return workflow.NewContinueAsNewError(ctx, MetricsWorkflow, in)
		}
	}
}

// startCollector starts the campaign's metrics collector as a child that
// outlives the campaign, so that numbers are still measured in the week
// after it ends.
func (r *campaignRun) startCollector(ctx workflow.Context) {
	var channels []string
	for _, ts := range r.in.Targets {
		for _, t := range ts {
			if !slices.Contains(channels, t.ID) {
				channels = append(channels, t.ID)
			}
		}
	}
	slices.Sort(channels)
	cctx := workflow.WithChildOptions(ctx, workflow.ChildWorkflowOptions{
		WorkflowID:            MetricsWorkflowID(r.in.CampaignID),
		ParentClosePolicy:     enumspb.PARENT_CLOSE_POLICY_ABANDON,
		WorkflowIDReusePolicy: enumspb.WORKFLOW_ID_REUSE_POLICY_ALLOW_DUPLICATE,
		TypedSearchAttributes: temporal.NewSearchAttributes(
			SABrand.ValueSet(r.in.Brand), SAPlaybook.ValueSet(r.in.Plan.Name), SAKind.ValueSet(KindMetrics), SAStatus.ValueSet("measuring"),
		),
		StaticSummary: fmt.Sprintf("Metrics of campaign %s (%s)", r.in.CampaignID, r.in.Plan.DisplayTitle()),
	})
	r.channels = channels
	r.collector = workflow.ExecuteChildWorkflow(cctx, MetricsWorkflow, MetricsInput{
		CampaignID: r.in.CampaignID, Brand: r.in.Brand, Channels: channels, Started: workflow.Now(ctx),
	})
}

// tellCollector signals the collector that the campaign published or
// ended. The collector is a convenience: if it did not start, or has
// gone, the campaign carries on.
func (r *campaignRun) tellCollector(ctx workflow.Context, event string) {
	if r.collector == nil {
		return
	}
	var exec workflow.Execution
	if err := r.collector.GetChildWorkflowExecution().Get(ctx, &exec); err != nil {
		workflow.GetLogger(ctx).Warn("metrics collector did not start", "campaign", r.in.CampaignID, "error", err)
		r.collector = nil
		return
	}
	err := workflow.SignalExternalWorkflow(ctx, exec.ID, "", SignalMetrics, MetricsEvent{Event: event, At: workflow.Now(ctx)}).Get(ctx, nil)
	if err != nil {
		workflow.GetLogger(ctx).Warn("tell metrics collector", "campaign", r.in.CampaignID, "event", event, "error", err)
	}
}

// scheduleCalendar puts a publish step's posts on the content calendar
// at their time. The calendar is for people planning; a failure to
// record there never holds a post.
func (r *campaignRun) scheduleCalendar(ctx workflow.Context, s *playbooks.Step, at time.Time, cs ContentState) {
	targets := r.targets(s.Publish.Channels)
	texts := map[string]string{}
	for _, rd := range cs.Rendered {
		texts[rd.ChannelID] = rd.Text
	}
	var posts []activities.CalendarPost
	for _, t := range targets {
		if text, ok := texts[t.ID]; ok {
			posts = append(posts, activities.CalendarPost{ChannelID: t.ID, Text: text})
		}
	}
	if len(posts) == 0 {
		return
	}
	key := r.runKey(s.ID)
	actx := workflow.WithActivityOptions(ctx, workflow.ActivityOptions{
		StartToCloseTimeout: 30 * time.Second,
		Summary:             fmt.Sprintf("calendar: %s at %s", key, at.UTC().Format(time.RFC3339)),
		RetryPolicy:         &temporal.RetryPolicy{InitialInterval: time.Second, BackoffCoefficient: 2, MaximumAttempts: 5},
	})
	err := workflow.ExecuteActivity(actx, acts.ScheduleCalendar, activities.CalendarInput{
		CampaignID: r.in.CampaignID, Brand: r.in.Brand, Playbook: r.in.Plan.Name, Title: r.in.Plan.DisplayTitle(),
		StepID: key, At: at, Timezone: r.in.Timezone, Posts: posts,
	}).Get(ctx, nil)
	if err != nil {
		workflow.GetLogger(ctx).Warn("put posts on the calendar", "step", key, "error", err)
	}
}

// cost records what a cost step says the campaign spent.
func (r *campaignRun) cost(ctx workflow.Context, s *playbooks.Step) error {
	amount, err := s.Cost.Value(r.in.Params)
	if err != nil {
		return err
	}
	key := r.runKey(s.ID)
	actx := workflow.WithActivityOptions(ctx, workflow.ActivityOptions{
		StartToCloseTimeout: 30 * time.Second, ScheduleToCloseTimeout: 24 * time.Hour,
		Summary: fmt.Sprintf("cost %s: %.2f %s", key, amount, s.Cost.Currency),
		RetryPolicy: &temporal.RetryPolicy{InitialInterval: time.Second, BackoffCoefficient: 2, MaximumInterval: time.Minute,
			NonRetryableErrorTypes: []string{activities.ErrTypePermanent}},
	})
	if err := workflow.ExecuteActivity(actx, acts.RecordCost, activities.CostInput{
		CampaignID: r.in.CampaignID, StepID: key, Amount: amount, Currency: s.Cost.Currency, Note: s.Cost.Note,
	}).Get(ctx, nil); err != nil {
		return err
	}
	detail := fmt.Sprintf("%.2f", amount)
	if s.Cost.Currency != "" {
		detail += " " + s.Cost.Currency
	}
	r.stepState(s.ID).Detail = detail + " spent"
	return nil
}

// publishes reports whether a plan has a publish step anywhere.
func publishes(p *playbooks.Plan) bool {
	found := false
	p.Walk(func(s *playbooks.Step) {
		if s.Publish != nil {
			found = true
		}
	})
	return found
}
