package workflows

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/mock"
	"github.com/stretchr/testify/require"
	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/testsuite"

	"github.com/cmo-dev/cmo/activities"
	"github.com/cmo-dev/cmo/playbooks"
	"github.com/cmo-dev/cmo/store"
)

// freezeStart is when every freeze test begins; the first campaign's
// launch slot is two hours later.
var freezeStart = time.Date(2026, 3, 2, 9, 0, 0, 0, time.UTC)

// freezeBoard stands in for the store's freezes: each one holds from its
// StartedAt until its lift, and FreezeStatus answers with the activity's
// own rule.
type freezeBoard struct {
	env *testsuite.TestWorkflowEnvironment

	mu       sync.Mutex
	freezes  []timedFreeze
	queries  []activities.FreezeQuery
	statuses []string // the Status search attribute, as upserted
}

type timedFreeze struct {
	store.Freeze
	liftAt time.Time // zero: never lifted
}

func newFreezeEnv(t *testing.T) (*testsuite.TestWorkflowEnvironment, *freezeBoard, *published) {
	env := newBareEnv(t)
	env.SetStartTime(freezeStart)
	b := &freezeBoard{env: env}
	env.OnActivity(acts.FreezeStatus, mock.Anything, mock.Anything).Return(b.status)
	pub := &published{}
	env.OnActivity(acts.Publish, mock.Anything, mock.Anything).Return(pub.record(env)).Maybe()
	env.OnActivity(acts.BuildReport, mock.Anything, mock.Anything).Return(activities.Report{}, nil).Maybe()
	env.OnUpsertTypedSearchAttributes(mock.Anything).Run(func(args mock.Arguments) {
		if v, ok := args.Get(0).(temporal.SearchAttributes).GetKeyword(SAStatus); ok {
			b.mu.Lock()
			b.statuses = append(b.statuses, v)
			b.mu.Unlock()
		}
	}).Return(nil).Maybe()
	return env, b, pub
}

func (b *freezeBoard) status(_ context.Context, q activities.FreezeQuery) (activities.FreezeState, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.queries = append(b.queries, q)
	now := b.env.Now()
	var active []store.Freeze
	for _, f := range b.freezes {
		if f.Brand == q.Brand && !now.Before(f.StartedAt) && (f.liftAt.IsZero() || now.Before(f.liftAt)) {
			active = append(active, f.Freeze)
		}
	}
	return activities.FreezeCoverage(active, q), nil
}

// freeze holds from `from` to `lift` after the start (lift 0: never) and,
// like ApplyFreeze, signals the campaign at both ends when signal is set.
func (b *freezeBoard) freeze(f store.Freeze, from, lift time.Duration, signal bool) {
	if f.Brand == "" {
		f.Brand = "demo"
	}
	if f.OnUnfreeze == "" {
		f.OnUnfreeze = playbooks.UnfreezeReschedule
	}
	f.StartedAt = freezeStart.Add(from)
	tf := timedFreeze{Freeze: f}
	if lift > 0 {
		tf.liftAt = freezeStart.Add(lift)
	}
	b.mu.Lock()
	b.freezes = append(b.freezes, tf)
	b.mu.Unlock()
	if !signal {
		return
	}
	if from > 0 {
		b.env.RegisterDelayedCallback(func() {
			b.env.SignalWorkflow(SignalFreeze, activities.FreezeNotice{CrisisID: f.CrisisID, Frozen: true})
		}, from)
	}
	if lift > 0 {
		b.env.RegisterDelayedCallback(func() {
			b.env.SignalWorkflow(SignalFreeze, activities.FreezeNotice{CrisisID: f.CrisisID})
		}, lift)
	}
}

// launchIn2h is the first campaign scheduled two hours after the start.
func launchIn2h(t *testing.T) CampaignInput {
	in := firstCampaignInput(t, map[string]any{"product": "Cold Brew", "launch_at": freezeStart.Add(2 * time.Hour).Format(time.RFC3339)})
	in.Tags, in.Market = []string{"launch", "promo"}, "es"
	return in
}

func queryState(t *testing.T, env *testsuite.TestWorkflowEnvironment, into *CampaignState) {
	t.Helper()
	v, err := env.QueryWorkflow(QueryState)
	require.NoError(t, err)
	require.NoError(t, v.Get(into))
}

func stepOf(st CampaignState, id string) StepState {
	for _, s := range st.Steps {
		if s.ID == id {
			return s
		}
	}
	return StepState{}
}

func TestFrozenPostWaitsForTheLiftThenPublishes(t *testing.T) {
	env, board, pub := newFreezeEnv(t)
	board.freeze(store.Freeze{CrisisID: "demo-spike-1", Scope: "brand"}, time.Hour, 5*time.Hour, true)
	approve(env, time.Minute, ApprovalRequest{Decision: DecisionApprove, Actor: "jordi"}, nil)
	var during, after CampaignState
	var early error
	env.RegisterDelayedCallback(func() { queryState(t, env, &during) }, 3*time.Hour)
	approve(env, 4*time.Hour, ApprovalRequest{Decision: DecisionApprove, Actor: "anna"}, &early)
	env.RegisterDelayedCallback(func() { queryState(t, env, &after) }, 5*time.Hour+time.Second)

	env.ExecuteWorkflow(CampaignWorkflow, launchIn2h(t))
	require.NoError(t, env.GetWorkflowError())

	require.Equal(t, StatusFrozen, during.Status)
	require.True(t, during.Frozen)
	require.Equal(t, "demo-spike-1", during.FrozenBy)
	require.NotNil(t, during.FrozenSince)
	require.True(t, during.FrozenSince.Equal(freezeStart.Add(2*time.Hour)), "held from its slot: %s", during.FrozenSince)
	require.Contains(t, stepOf(during, "launch").Detail, "held by the freeze of crisis demo-spike-1 (brand scope")
	require.Empty(t, during.Posts)
	var app *temporal.ApplicationError
	require.ErrorAs(t, early, &app, "no approval is asked for while frozen")
	require.Equal(t, ErrNotAwaitingApproval, app.Type())

	require.False(t, after.Frozen)
	require.Empty(t, after.FrozenBy)
	require.Nil(t, after.FrozenSince)

	require.Len(t, pub.at, 2)
	for _, at := range pub.at {
		require.True(t, at.Equal(freezeStart.Add(5*time.Hour)), "reschedule publishes right after the lift, not at %s", at)
	}
	var res CampaignResult
	require.NoError(t, env.GetWorkflowResult(&res))
	require.Equal(t, StatusCompleted, res.Status)
	require.Empty(t, res.Dropped)
	require.Subset(t, board.statuses, []string{StatusScheduled, StatusFrozen, StatusPublishing})
	require.Less(t, indexOf(board.statuses, StatusFrozen), indexOf(board.statuses, StatusPublishing))

	q := board.queries[0]
	require.Equal(t, "demo", q.Brand)
	require.Equal(t, []string{"launch", "promo"}, q.Tags)
	require.Equal(t, "es", q.Market)
	require.Len(t, q.Targets, 2)
}

func indexOf(list []string, v string) int {
	for i, s := range list {
		if s == v {
			return i
		}
	}
	return -1
}

func TestFreezeDropsASlotThatPassedDuringIt(t *testing.T) {
	env, board, pub := newFreezeEnv(t)
	board.freeze(store.Freeze{CrisisID: "demo-spike-1", Scope: "tags", Tags: []string{"promo"}, OnUnfreeze: "drop"}, time.Hour, 5*time.Hour, true)
	approve(env, time.Minute, ApprovalRequest{Decision: DecisionApprove, Actor: "jordi"}, nil)

	env.ExecuteWorkflow(CampaignWorkflow, launchIn2h(t))
	require.NoError(t, env.GetWorkflowError())
	require.Empty(t, pub.calls, "a dropped post never goes out")
	var res CampaignResult
	require.NoError(t, env.GetWorkflowResult(&res))
	require.Equal(t, StatusCompleted, res.Status, "the rest of the campaign runs")
	require.Len(t, res.Dropped, 2)
	for _, d := range res.Dropped {
		require.Equal(t, "launch", d.StepID)
		require.Equal(t, "demo-spike-1", d.CrisisID)
		require.Contains(t, d.Reason, "passed during the freeze of crisis demo-spike-1")
		require.True(t, d.At.Equal(freezeStart.Add(5*time.Hour)))
	}
	var st CampaignState
	queryState(t, env, &st)
	require.Equal(t, "0 of 2 published; dropped after the freeze: sandbox-care, sandbox-news", stepOf(st, "launch").Detail)
	require.Equal(t, StepDone, stepOf(st, "report").Status)
}

func TestFreezeWithReapproveWaitsForANewApproval(t *testing.T) {
	env, board, pub := newFreezeEnv(t)
	board.freeze(store.Freeze{CrisisID: "demo-spike-1", Scope: "markets", Markets: []string{"es"}, Reapprove: true}, 0, 5*time.Hour, true)
	approve(env, time.Minute, ApprovalRequest{Decision: DecisionApprove, Actor: "jordi"}, nil)
	var selfApproval, wrongRole error
	approve(env, 5*time.Hour+time.Minute, ApprovalRequest{Decision: DecisionApprove, Actor: "marta"}, &selfApproval)
	approve(env, 5*time.Hour+2*time.Minute, ApprovalRequest{Decision: DecisionApprove, Actor: "jordi", Role: "intern"}, &wrongRole)
	var waiting CampaignState
	env.RegisterDelayedCallback(func() { queryState(t, env, &waiting) }, 5*time.Hour+30*time.Minute)
	approve(env, 6*time.Hour, ApprovalRequest{Decision: DecisionApprove, Actor: "anna", StepID: "launch-reapproval", Role: "approver"}, nil)

	env.ExecuteWorkflow(CampaignWorkflow, launchIn2h(t))
	require.NoError(t, env.GetWorkflowError())

	require.ErrorContains(t, selfApproval, "four-eyes", "the same role rules as the first approval")
	require.ErrorContains(t, wrongRole, "needs role approver")
	require.Equal(t, StatusAwaitingApproval, waiting.Status)
	require.False(t, waiting.Frozen)
	require.Empty(t, waiting.Posts)
	ids := []string{}
	for _, s := range waiting.Steps {
		ids = append(ids, s.ID)
	}
	require.Equal(t, []string{"draft", "review", "launch", "launch-reapproval", "report"}, ids, "the reapproval shows right after its post")
	require.Equal(t, StepRunning, stepOf(waiting, "launch-reapproval").Status)

	require.Len(t, pub.at, 2)
	for _, at := range pub.at {
		require.True(t, at.Equal(freezeStart.Add(6*time.Hour)), "published once approved again, not at %s", at)
	}
	var st CampaignState
	queryState(t, env, &st)
	require.Len(t, st.Approvals, 2)
	require.Equal(t, "launch-reapproval", st.Approvals[1].StepID)
	require.Equal(t, "anna", st.Approvals[1].Actor)
	require.Equal(t, "approved by anna", stepOf(st, "launch-reapproval").Detail)
	require.Equal(t, StatusCompleted, st.Status)
}

func TestReapprovalRejectedStopsTheCampaign(t *testing.T) {
	env, board, pub := newFreezeEnv(t)
	board.freeze(store.Freeze{CrisisID: "demo-spike-1", Scope: "brand", Reapprove: true}, 0, 3*time.Hour, true)
	approve(env, time.Minute, ApprovalRequest{Decision: DecisionApprove, Actor: "jordi"}, nil)
	approve(env, 4*time.Hour, ApprovalRequest{Decision: DecisionReject, Actor: "jordi", Comment: "tone-deaf now"}, nil)

	env.ExecuteWorkflow(CampaignWorkflow, launchIn2h(t))
	require.NoError(t, env.GetWorkflowError())
	require.Empty(t, pub.calls)
	var res CampaignResult
	require.NoError(t, env.GetWorkflowResult(&res))
	require.Equal(t, StatusRejected, res.Status)
	require.Len(t, res.Dropped, 2)
	require.Contains(t, res.Dropped[0].Reason, "not approved again after the freeze: rejected by jordi")
}

func TestCampaignsOutOfTheFreezeScopePublishOnTime(t *testing.T) {
	for name, f := range map[string]store.Freeze{
		"other tags":     {Scope: "tags", Tags: []string{"humour"}},
		"other markets":  {Scope: "markets", Markets: []string{"fr", "pt"}},
		"other channels": {Scope: "channels", Channels: []string{"x", "sandbox-blog"}},
		"other brand":    {Brand: "acme", Scope: "brand"},
	} {
		t.Run(name, func(t *testing.T) {
			env, board, pub := newFreezeEnv(t)
			f.CrisisID = "spike"
			board.freeze(f, 0, 0, false)
			approve(env, time.Minute, ApprovalRequest{Decision: DecisionApprove, Actor: "jordi"}, nil)
			env.ExecuteWorkflow(CampaignWorkflow, launchIn2h(t))
			require.NoError(t, env.GetWorkflowError())
			require.Len(t, pub.at, 2)
			for _, at := range pub.at {
				require.True(t, at.Equal(freezeStart.Add(2*time.Hour)), "published at %s", at)
			}
			require.NotContains(t, board.statuses, StatusFrozen)
		})
	}
}

func TestFreezeOnOneChannelHoldsOnlyThatPost(t *testing.T) {
	env, board, pub := newFreezeEnv(t)
	plan := parsePlan(t, `apiVersion: cmo/v1
kind: Campaign
name: t
steps:
  - id: draft
    content: {template: "hello", channels: [sandbox, x]}
  - id: post
    publish: {after: 1h}
`)
	board.freeze(store.Freeze{CrisisID: "x-storm", Scope: "channels", Channels: []string{"x"}}, 0, 3*time.Hour, true)
	env.ExecuteWorkflow(CampaignWorkflow, CampaignInput{CampaignID: "c", Brand: "demo", Plan: plan, Targets: map[string][]playbooks.Target{
		"sandbox": {{ID: "ch_news", Name: "news", Platform: "sandbox"}},
		"x":       {{ID: "ch_x", Name: "demo-x", Platform: "x"}},
	}})
	require.NoError(t, env.GetWorkflowError())
	at := map[string]time.Time{}
	for i, c := range pub.calls {
		at[c.ChannelID] = pub.at[i]
	}
	require.True(t, at["ch_news"].Equal(freezeStart.Add(time.Hour)), "the post elsewhere goes out at its time")
	require.True(t, at["ch_x"].Equal(freezeStart.Add(3*time.Hour)), "the post to X waits for the lift")
	var st CampaignState
	queryState(t, env, &st)
	require.Equal(t, "2 of 2 published", stepOf(st, "post").Detail)
}

func TestHeldPostNoticesALiftWithoutASignal(t *testing.T) {
	env, board, pub := newFreezeEnv(t)
	// No signal at all: a campaign launched during the freeze, and a
	// lift whose signal was lost.
	board.freeze(store.Freeze{CrisisID: "demo-spike-1", Scope: "brand"}, 0, 5*time.Hour+time.Minute, false)
	approve(env, time.Minute, ApprovalRequest{Decision: DecisionApprove, Actor: "jordi"}, nil)
	env.ExecuteWorkflow(CampaignWorkflow, launchIn2h(t))
	require.NoError(t, env.GetWorkflowError())
	require.Len(t, pub.at, 2)
	lift := freezeStart.Add(5*time.Hour + time.Minute)
	for _, at := range pub.at {
		require.False(t, at.Before(lift), "published at %s, before the lift", at)
		require.LessOrEqual(t, at.Sub(lift), freezeRecheck, "noticed within one re-check")
	}
}

func TestTwoCrisesHoldAPostUntilBothLift(t *testing.T) {
	env, board, pub := newFreezeEnv(t)
	board.freeze(store.Freeze{CrisisID: "first", Scope: "brand"}, time.Hour, 4*time.Hour, true)
	board.freeze(store.Freeze{CrisisID: "second", Scope: "tags", Tags: []string{"promo"}, OnUnfreeze: "drop"}, 3*time.Hour, 6*time.Hour, true)
	approve(env, time.Minute, ApprovalRequest{Decision: DecisionApprove, Actor: "jordi"}, nil)
	var between CampaignState
	env.RegisterDelayedCallback(func() { queryState(t, env, &between) }, 5*time.Hour)
	env.ExecuteWorkflow(CampaignWorkflow, launchIn2h(t))
	require.NoError(t, env.GetWorkflowError())
	require.True(t, between.Frozen)
	require.Equal(t, "second", between.FrozenBy, "the crisis that still holds it")
	require.Empty(t, pub.calls, "the second crisis said drop")
	var res CampaignResult
	require.NoError(t, env.GetWorkflowResult(&res))
	require.Len(t, res.Dropped, 2)
	require.Equal(t, "second", res.Dropped[0].CrisisID)
}
