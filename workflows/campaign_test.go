package workflows

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/mock"
	"github.com/stretchr/testify/require"
	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/testsuite"
	"go.temporal.io/sdk/workflow"

	"github.com/cmo-dev/cmo/activities"
	"github.com/cmo-dev/cmo/playbooks"
	"github.com/cmo-dev/cmo/rules"
)

func shippedPlan(t *testing.T, name string) *playbooks.Plan {
	t.Helper()
	lib, err := playbooks.Shipped()
	require.NoError(t, err)
	p, ok := lib.Get(name)
	require.True(t, ok)
	return p
}

func firstCampaignInput(t *testing.T, params map[string]any) CampaignInput {
	plan := shippedPlan(t, "first-campaign")
	times, err := plan.ResolveTimes(params, time.UTC)
	require.NoError(t, err)
	return CampaignInput{
		CampaignID: "c1", Brand: "demo", Author: "marta", Times: times,
		Plan:   plan,
		Params: params,
		Targets: map[string][]playbooks.Target{"sandbox": {
			{ID: "ch_news", Name: "sandbox-news", Platform: "sandbox"},
			{ID: "ch_care", Name: "sandbox-care", Platform: "sandbox"},
		}},
	}
}

// published collects what the Publish activity was asked to post.
type published struct {
	mu    sync.Mutex
	calls []activities.PublishInput
	at    []time.Time
}

func (p *published) record(env *testsuite.TestWorkflowEnvironment) func(context.Context, activities.PublishInput) (activities.PublishResult, error) {
	return func(_ context.Context, in activities.PublishInput) (activities.PublishResult, error) {
		p.mu.Lock()
		defer p.mu.Unlock()
		p.calls = append(p.calls, in)
		p.at = append(p.at, env.Now())
		return activities.PublishResult{ChannelID: in.ChannelID, PostID: "p-" + in.ChannelID, URL: "https://sandbox/" + in.ChannelID, PublishedAt: env.Now()}, nil
	}
}

// newEnv is a test environment where no freeze ever holds a post.
func newEnv(t *testing.T) *testsuite.TestWorkflowEnvironment {
	env := newBareEnv(t)
	env.OnActivity(acts.FreezeStatus, mock.Anything, mock.Anything).Return(activities.FreezeState{}, nil).Maybe()
	return env
}

// newBareEnv leaves every activity to the test to mock, but for the
// bookkeeping of KPIs and the calendar, which succeeds.
func newBareEnv(t *testing.T) *testsuite.TestWorkflowEnvironment {
	var s testsuite.WorkflowTestSuite
	env := s.NewTestWorkflowEnvironment()
	env.RegisterWorkflowWithOptions(Campaign, workflow.RegisterOptions{Name: CampaignWorkflow})
	env.RegisterWorkflowWithOptions(CampaignMetrics, workflow.RegisterOptions{Name: MetricsWorkflow})
	env.RegisterActivity(&activities.Activities{})
	// The collector outlives its campaign by a week; the environment
	// would run it to the end and move its clock there.
	env.OnWorkflow(MetricsWorkflow, mock.Anything, mock.Anything).Return(nil).Maybe()
	env.OnActivity(acts.SampleMetrics, mock.Anything, mock.Anything).Return(activities.SampleResult{}, nil).Maybe()
	env.OnActivity(acts.ScheduleCalendar, mock.Anything, mock.Anything).Return(nil).Maybe()
	return env
}

func approve(env *testsuite.TestWorkflowEnvironment, after time.Duration, req ApprovalRequest, rejected *error) {
	env.RegisterDelayedCallback(func() {
		env.UpdateWorkflow(UpdateApproval, "", &testsuite.TestUpdateCallback{
			OnAccept: func() {},
			OnReject: func(err error) {
				if rejected != nil {
					*rejected = err
				}
			},
			OnComplete: func(any, error) {},
		}, req)
	}, after)
}

func TestCampaignPublishesEachChannelOnceAfterApproval(t *testing.T) {
	env := newEnv(t)
	var pub published
	env.OnActivity((*activities.Activities)(nil).Publish, mock.Anything, mock.Anything).Return(pub.record(env))
	env.OnActivity((*activities.Activities)(nil).BuildReport, mock.Anything, mock.Anything).
		Return(activities.Report{CampaignID: "c1", Impressions: 100}, nil).Once()

	var selfApproval error
	approve(env, time.Minute, ApprovalRequest{Decision: DecisionApprove, Actor: "marta"}, &selfApproval)
	approve(env, 2*time.Hour, ApprovalRequest{Decision: DecisionApprove, Actor: "jordi"}, nil)

	env.ExecuteWorkflow(CampaignWorkflow, firstCampaignInput(t, map[string]any{"product": "Cold Brew"}))
	require.True(t, env.IsWorkflowCompleted())
	require.NoError(t, env.GetWorkflowError())

	var res CampaignResult
	require.NoError(t, env.GetWorkflowResult(&res))
	require.Equal(t, StatusCompleted, res.Status)
	require.Len(t, res.Posts, 2)

	require.Len(t, pub.calls, 2, "one publish per channel")
	seen := map[string]bool{}
	for _, c := range pub.calls {
		require.False(t, seen[c.ChannelID], "channel %s published twice", c.ChannelID)
		seen[c.ChannelID] = true
		require.Equal(t, "Cold Brew is here! Try it today.\n\n#launch", c.Text)
		require.Equal(t, "launch", c.StepID)
	}
	require.ErrorContains(t, selfApproval, "four-eyes")
	var app *temporal.ApplicationError
	require.ErrorAs(t, selfApproval, &app)
	require.Equal(t, ErrInvalidApproval, app.Type())
}

func TestCampaignRejectedPublishesNothing(t *testing.T) {
	env := newEnv(t)
	var pub published
	env.OnActivity((*activities.Activities)(nil).Publish, mock.Anything, mock.Anything).Return(pub.record(env)).Maybe()
	approve(env, time.Minute, ApprovalRequest{Decision: DecisionReject, Actor: "jordi", Comment: "off-brand"}, nil)

	env.ExecuteWorkflow(CampaignWorkflow, firstCampaignInput(t, map[string]any{"product": "Cold Brew"}))
	require.NoError(t, env.GetWorkflowError())
	var res CampaignResult
	require.NoError(t, env.GetWorkflowResult(&res))
	require.Equal(t, StatusRejected, res.Status)
	require.Empty(t, pub.calls)
}

func TestCampaignApprovalExpires(t *testing.T) {
	env := newEnv(t)
	var pub published
	env.OnActivity((*activities.Activities)(nil).Publish, mock.Anything, mock.Anything).Return(pub.record(env)).Maybe()
	start := env.Now()

	env.ExecuteWorkflow(CampaignWorkflow, firstCampaignInput(t, map[string]any{"product": "Cold Brew"}))
	require.NoError(t, env.GetWorkflowError())
	var res CampaignResult
	require.NoError(t, env.GetWorkflowResult(&res))
	require.Equal(t, StatusExpired, res.Status)
	require.Empty(t, pub.calls)
	require.GreaterOrEqual(t, env.Now().Sub(start), 24*time.Hour, "waits the playbook's 24h before expiring")
}

func TestCampaignWaitsForLaunchTime(t *testing.T) {
	env := newEnv(t)
	var pub published
	env.OnActivity((*activities.Activities)(nil).Publish, mock.Anything, mock.Anything).Return(pub.record(env))
	env.OnActivity((*activities.Activities)(nil).BuildReport, mock.Anything, mock.Anything).Return(activities.Report{}, nil)
	launch := env.Now().Add(72 * time.Hour).UTC()

	var scheduled CampaignState
	var late error
	approve(env, time.Minute, ApprovalRequest{Decision: DecisionApprove, Actor: "jordi"}, nil)
	approve(env, 2*time.Hour, ApprovalRequest{Decision: DecisionApprove, Actor: "anna"}, &late)
	env.RegisterDelayedCallback(func() {
		v, err := env.QueryWorkflow(QueryState)
		require.NoError(t, err)
		require.NoError(t, v.Get(&scheduled))
	}, time.Hour)

	env.ExecuteWorkflow(CampaignWorkflow, firstCampaignInput(t, map[string]any{
		"product": "Cold Brew", "launch_at": launch.Format(time.RFC3339Nano),
	}))
	require.NoError(t, env.GetWorkflowError())
	require.Equal(t, StatusScheduled, scheduled.Status)
	var app *temporal.ApplicationError
	require.ErrorAs(t, late, &app, "an approval after the decision is refused")
	require.Equal(t, ErrNotAwaitingApproval, app.Type())
	require.NotNil(t, scheduled.ScheduledFor)
	require.True(t, scheduled.ScheduledFor.Equal(launch))
	require.Len(t, pub.at, 2)
	for _, at := range pub.at {
		require.False(t, at.Before(launch), "published at %s, before launch %s", at, launch)
	}
}

func TestCampaignContentHashBindsApproval(t *testing.T) {
	env := newEnv(t)
	var pub published
	env.OnActivity((*activities.Activities)(nil).Publish, mock.Anything, mock.Anything).Return(pub.record(env))
	env.OnActivity((*activities.Activities)(nil).BuildReport, mock.Anything, mock.Anything).Return(activities.Report{}, nil)
	var stale error
	approve(env, time.Minute, ApprovalRequest{Decision: DecisionApprove, Actor: "jordi", ContentHash: "0000000000000000"}, &stale)
	var state CampaignState
	env.RegisterDelayedCallback(func() {
		v, err := env.QueryWorkflow(QueryState)
		require.NoError(t, err)
		require.NoError(t, v.Get(&state))
		approve(env, 0, ApprovalRequest{Decision: DecisionApprove, Actor: "jordi", ContentHash: state.Content["draft"].Hash}, nil)
	}, 2*time.Minute)

	env.ExecuteWorkflow(CampaignWorkflow, firstCampaignInput(t, map[string]any{"product": "Cold Brew"}))
	require.NoError(t, env.GetWorkflowError())
	require.ErrorContains(t, stale, "does not match the content awaiting approval")
	require.Len(t, pub.calls, 2)
	require.Equal(t, state.Content["draft"].Hash, pub.calls[0].ContentHash)
}

func TestCampaignPartialAndTotalPublishFailure(t *testing.T) {
	t.Run("one channel fails", func(t *testing.T) {
		env := newEnv(t)
		env.OnActivity((*activities.Activities)(nil).Publish, mock.Anything, mock.Anything).Return(
			func(_ context.Context, in activities.PublishInput) (activities.PublishResult, error) {
				if in.ChannelID == "ch_care" {
					return activities.PublishResult{}, temporal.NewNonRetryableApplicationError("token revoked", activities.ErrTypeAuth, nil)
				}
				return activities.PublishResult{ChannelID: in.ChannelID, PostID: "1"}, nil
			})
		env.OnActivity((*activities.Activities)(nil).BuildReport, mock.Anything, mock.Anything).Return(activities.Report{}, nil)
		approve(env, time.Minute, ApprovalRequest{Decision: DecisionApprove, Actor: "jordi"}, nil)
		env.ExecuteWorkflow(CampaignWorkflow, firstCampaignInput(t, map[string]any{"product": "Cold Brew"}))
		require.NoError(t, env.GetWorkflowError())
		var res CampaignResult
		require.NoError(t, env.GetWorkflowResult(&res))
		require.Equal(t, StatusPartial, res.Status)
		require.Len(t, res.Posts, 1)
	})
	t.Run("every channel fails", func(t *testing.T) {
		env := newEnv(t)
		env.OnActivity((*activities.Activities)(nil).Publish, mock.Anything, mock.Anything).Return(
			activities.PublishResult{}, temporal.NewNonRetryableApplicationError("text too long", activities.ErrTypePermanent, nil))
		approve(env, time.Minute, ApprovalRequest{Decision: DecisionApprove, Actor: "jordi"}, nil)
		env.ExecuteWorkflow(CampaignWorkflow, firstCampaignInput(t, map[string]any{"product": "Cold Brew"}))
		err := env.GetWorkflowError()
		require.Error(t, err)
		require.ErrorContains(t, err, "step launch: 0 of 2 published")
		var app *temporal.ApplicationError
		require.True(t, errors.As(err, &app))
	})
}

func TestApprovalSentBeforeTheStepIsReachedWaitsForIt(t *testing.T) {
	env := newEnv(t)
	var pub published
	env.OnActivity((*activities.Activities)(nil).Publish, mock.Anything, mock.Anything).Return(pub.record(env))
	env.OnActivity((*activities.Activities)(nil).BuildReport, mock.Anything, mock.Anything).Return(activities.Report{}, nil)
	var rejected error
	approve(env, 0, ApprovalRequest{Decision: DecisionApprove, Actor: "jordi"}, &rejected)
	env.ExecuteWorkflow(CampaignWorkflow, firstCampaignInput(t, map[string]any{"product": "Cold Brew"}))
	require.NoError(t, env.GetWorkflowError())
	require.NoError(t, rejected)
	var res CampaignResult
	require.NoError(t, env.GetWorkflowResult(&res))
	require.Equal(t, StatusCompleted, res.Status)
	require.Len(t, pub.calls, 2)
}

func parsePlan(t *testing.T, src string) *playbooks.Plan {
	t.Helper()
	p, err := playbooks.Parse("t.yaml", []byte(src))
	require.NoError(t, err)
	return p
}

func TestSkippedBranchesAreMarkedAndTheirApprovalsRefused(t *testing.T) {
	env := newEnv(t)
	var pub published
	env.OnActivity((*activities.Activities)(nil).Publish, mock.Anything, mock.Anything).Return(pub.record(env))
	plan := parsePlan(t, `apiVersion: cmo/v1
kind: Campaign
name: t
steps:
  - id: draft
    content: {template: "hello", channels: [sandbox]}
  - id: pause
    wait: {for: 2h}
  - id: maybe
    when: kpi.posts > 0
    steps:
      - id: ok
        approval: {within: 1h}
      - id: post
        publish: {}
    else:
      - id: nothing
        notify: {to: ["log:team"], message: "no posts yet"}
`)
	env.OnActivity((*activities.Activities)(nil).Notify, mock.Anything, mock.Anything).Return(nil)
	var early error
	approve(env, time.Hour, ApprovalRequest{Decision: DecisionApprove, Actor: "jordi"}, &early)
	env.ExecuteWorkflow(CampaignWorkflow, CampaignInput{CampaignID: "c", Brand: "demo", Plan: plan,
		Targets: map[string][]playbooks.Target{"sandbox": {{ID: "ch", Name: "news", Platform: "sandbox"}}}})
	require.NoError(t, env.GetWorkflowError())
	var app *temporal.ApplicationError
	require.ErrorAs(t, early, &app, "an approval during the wait, for a step not reached, is refused")
	require.Equal(t, ErrNotAwaitingApproval, app.Type())
	require.Empty(t, pub.calls)

	v, err := env.QueryWorkflow(QueryState)
	require.NoError(t, err)
	var st CampaignState
	require.NoError(t, v.Get(&st))
	status := map[string]string{}
	for _, s := range st.Steps {
		status[s.ID] = s.Status
	}
	require.Equal(t, map[string]string{"draft": StepDone, "pause": StepDone, "maybe": StepSkipped,
		"ok": StepSkipped, "post": StepSkipped, "nothing": StepDone}, status)
	require.Equal(t, StatusCompleted, st.Status)
}

func TestRepeatResetsStepResultsEachRun(t *testing.T) {
	env := newEnv(t)
	plan := parsePlan(t, `apiVersion: cmo/v1
kind: Campaign
name: t
steps:
  - id: draft
    content: {template: "hello", channels: [sandbox]}
  - id: post
    publish: {}
  - id: loop
    repeat:
      max: 2
      until: iteration >= 2
      steps:
        - id: w
          wait: {rule: kpi.replies > 0, every: 1h, timeout: 2h}
        - id: nudge
          when: steps.w.decision == "timeout"
          notify: {to: ["log:team"], message: "no reply"}
`)
	var pub published
	env.OnActivity((*activities.Activities)(nil).Publish, mock.Anything, mock.Anything).Return(pub.record(env))
	// Three checks in the first run see no reply; the second run sees one.
	calls := 0
	env.OnActivity((*activities.Activities)(nil).CollectMetrics, mock.Anything, mock.Anything).Return(
		func(context.Context, activities.CollectInput) (rules.KPI, error) {
			calls++
			if calls <= 3 {
				return rules.KPI{Posts: 1}, nil
			}
			return rules.KPI{Posts: 1, Replies: 5}, nil
		})
	var nudges []string
	env.OnActivity((*activities.Activities)(nil).Notify, mock.Anything, mock.Anything).Return(
		func(_ context.Context, in activities.NotifyInput) error {
			nudges = append(nudges, in.StepID)
			return nil
		})
	env.ExecuteWorkflow(CampaignWorkflow, CampaignInput{CampaignID: "c", Brand: "demo", Plan: plan,
		Targets: map[string][]playbooks.Target{"sandbox": {{ID: "ch", Name: "news", Platform: "sandbox"}}}})
	require.NoError(t, env.GetWorkflowError())
	require.Equal(t, []string{"nudge"}, nudges, "the second run's wait held, so its nudge is skipped")
}
