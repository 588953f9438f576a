package workflows

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/mock"
	"github.com/stretchr/testify/require"
	"go.temporal.io/sdk/converter"
	"go.temporal.io/sdk/testsuite"
	"go.temporal.io/sdk/workflow"

	"github.com/cmo-dev/cmo/activities"
)

// rounds records when the collector measured, and what it was asked.
type rounds struct {
	mu        sync.Mutex
	at        []time.Time
	inputs    []activities.SampleInput
	published time.Time // the mock platform's latest post, zero before
}

func (r *rounds) sample(env *testsuite.TestWorkflowEnvironment) func(context.Context, activities.SampleInput) (activities.SampleResult, error) {
	return func(_ context.Context, in activities.SampleInput) (activities.SampleResult, error) {
		r.mu.Lock()
		defer r.mu.Unlock()
		r.at = append(r.at, env.Now().UTC())
		r.inputs = append(r.inputs, in)
		return activities.SampleResult{At: env.Now().UTC(), LastPublished: r.published}, nil
	}
}

// between counts the rounds in [from, to).
func (r *rounds) between(from, to time.Time) int {
	n := 0
	for _, at := range r.at {
		if !at.Before(from) && at.Before(to) {
			n++
		}
	}
	return n
}

// A campaign under the KPI-tracking version starts its collector at once,
// puts its scheduled posts on the calendar, asks for tracked links, and
// tells the collector when it publishes and when it ends; the collector
// measures on its schedule and stops a week after the end.
func TestCampaignCollectsMetricsAndFillsTheCalendar(t *testing.T) {
	var s testsuite.WorkflowTestSuite
	env := s.NewTestWorkflowEnvironment()
	env.RegisterWorkflowWithOptions(Campaign, workflow.RegisterOptions{Name: CampaignWorkflow})
	env.RegisterWorkflowWithOptions(CampaignMetrics, workflow.RegisterOptions{Name: MetricsWorkflow})
	env.RegisterActivity(&activities.Activities{})
	env.OnActivity(acts.FreezeStatus, mock.Anything, mock.Anything).Return(activities.FreezeState{}, nil)
	start := env.Now().UTC()
	launch := start.Add(49 * time.Hour)

	var r rounds
	env.OnActivity(acts.SampleMetrics, mock.Anything, mock.Anything).Return(r.sample(env))
	var pub published
	env.OnActivity(acts.Publish, mock.Anything, mock.Anything).Return(
		func(ctx context.Context, in activities.PublishInput) (activities.PublishResult, error) {
			r.mu.Lock()
			r.published = env.Now().UTC()
			r.mu.Unlock()
			return pub.record(env)(ctx, in)
		})
	var cal []activities.CalendarInput
	env.OnActivity(acts.ScheduleCalendar, mock.Anything, mock.Anything).Return(func(_ context.Context, in activities.CalendarInput) error {
		cal = append(cal, in)
		return nil
	})
	var reportIn activities.ReportInput
	env.OnActivity(acts.BuildReport, mock.Anything, mock.Anything).Return(func(_ context.Context, in activities.ReportInput) (activities.Report, error) {
		reportIn = in
		return activities.Report{CampaignID: in.CampaignID, GeneratedAt: env.Now()}, nil
	})
	approve(env, time.Hour, ApprovalRequest{Decision: DecisionApprove, Actor: "jordi"}, nil)

	in := firstCampaignInput(t, map[string]any{"product": "Cold Brew", "launch_at": launch.Format(time.RFC3339Nano)})
	in.Timezone = "Europe/Madrid"
	env.ExecuteWorkflow(CampaignWorkflow, in)
	require.NoError(t, env.GetWorkflowError())
	var res CampaignResult
	require.NoError(t, env.GetWorkflowResult(&res))
	require.Equal(t, StatusCompleted, res.Status)

	// The calendar heard of both posts when they were approved, at their time.
	require.Len(t, cal, 1)
	require.Equal(t, "launch", cal[0].StepID)
	require.True(t, cal[0].At.Equal(launch), "due at %s", cal[0].At)
	require.Equal(t, "Europe/Madrid", cal[0].Timezone)
	require.Equal(t, "First campaign", cal[0].Title)
	require.Equal(t, []activities.CalendarPost{
		{ChannelID: "ch_care", Text: "Cold Brew is here! Try it today.\n\n#launch"},
		{ChannelID: "ch_news", Text: "Cold Brew is here! Try it today.\n\n#launch"},
	}, cal[0].Posts)

	require.Len(t, pub.calls, 2)
	for _, c := range pub.calls {
		require.True(t, c.TrackLinks, "campaign posts ask for tracked links")
	}
	require.Equal(t, []string{"ch_care", "ch_news"}, reportIn.Channels, "the report measures every channel's followers")
	require.Equal(t, "First campaign", reportIn.Title)

	// The collector: followers at once, every 6h while nothing is out,
	// every 10 minutes for the first six hours after the post, hourly to
	// three days, every 6h after, the last round a week after the end.
	require.NotEmpty(t, r.at)
	require.Equal(t, start, r.at[0], "measured at the campaign's start: the followers baseline")
	require.Equal(t, []string{"ch_care", "ch_news"}, r.inputs[0].Channels)
	require.Equal(t, 9, r.between(start, launch), "0h, 6h, ... 48h")
	require.Equal(t, launch.Add(10*time.Minute), r.at[9], "the publication cut the 6h wait short")
	require.Equal(t, 35, r.between(launch, launch.Add(6*time.Hour)), "+10m ... +5h50m")
	require.Equal(t, 66, r.between(launch.Add(6*time.Hour), launch.Add(72*time.Hour)))
	end := launch // the report follows the post at once
	require.Equal(t, end.Add(metricsAfter), r.at[len(r.at)-1], "the last round is a week after the end")
	require.Equal(t, 16, r.between(launch.Add(72*time.Hour), end.Add(metricsAfter)), "every 6h from day 3 to day 7")
}

func TestMetricsCollectorContinuesAsNewCarryingItsState(t *testing.T) {
	var s testsuite.WorkflowTestSuite
	env := s.NewTestWorkflowEnvironment()
	env.RegisterWorkflowWithOptions(CampaignMetrics, workflow.RegisterOptions{Name: MetricsWorkflow})
	env.RegisterActivity(&activities.Activities{})
	start := env.Now().UTC()
	r := rounds{published: start}
	env.OnActivity(acts.SampleMetrics, mock.Anything, mock.Anything).Return(r.sample(env))

	// Never told that its campaign ended: it measures until the history
	// should be renewed, then continues as new with what it knew.
	env.ExecuteWorkflow(MetricsWorkflow, MetricsInput{CampaignID: "c1", Brand: "demo", Channels: []string{"ch_a"}, Started: start})
	err := env.GetWorkflowError()
	var can *workflow.ContinueAsNewError
	require.True(t, errors.As(err, &can), "got %v", err)
	require.Equal(t, MetricsWorkflow, can.WorkflowType.Name)
	require.Len(t, r.at, metricsRoundsPerRun)

	var next MetricsInput
	require.NoError(t, converter.GetDefaultDataConverter().FromPayloads(can.Input, &next))
	require.Equal(t, metricsRoundsPerRun, next.Rounds)
	require.True(t, next.Started.Equal(start), "the lifetime still counts from the campaign's start")
	require.True(t, next.LastPublished.Equal(start))
	require.Nil(t, next.EndedAt)
}

func TestMetricsCollectorStopsAtItsLifetime(t *testing.T) {
	var s testsuite.WorkflowTestSuite
	env := s.NewTestWorkflowEnvironment()
	env.RegisterWorkflowWithOptions(CampaignMetrics, workflow.RegisterOptions{Name: MetricsWorkflow})
	env.RegisterActivity(&activities.Activities{})
	var r rounds
	env.OnActivity(acts.SampleMetrics, mock.Anything, mock.Anything).Return(activities.SampleResult{}, errors.New("platform down")).Times(3)
	env.OnActivity(acts.SampleMetrics, mock.Anything, mock.Anything).Return(r.sample(env))
	now := env.Now().UTC()

	started := now.Add(-metricsMaxLifetime + 13*time.Hour)
	env.ExecuteWorkflow(MetricsWorkflow, MetricsInput{CampaignID: "c1", Started: started})
	require.NoError(t, env.GetWorkflowError(), "a failed round does not stop the collector")
	require.Len(t, r.at, 3, "the first round failed; two ran 6h apart; the last at the end of its half year: %v", r.at)
	require.GreaterOrEqual(t, r.at[0].Sub(now), 6*time.Hour)
	require.Equal(t, 6*time.Hour, r.at[1].Sub(r.at[0]))
	require.Equal(t, started.Add(metricsMaxLifetime), r.at[2])
}
