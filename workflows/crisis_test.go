package workflows

import (
	"context"
	"strings"
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

// crisisRecorder records the crisis activities' calls with their
// (skipped) time since the crisis began.
type crisisRecorder struct {
	mu       sync.Mutex
	start    time.Time
	notes    []activities.NotifyInput
	noteAt   []time.Duration
	posts    []activities.PublishInput
	postedAt []time.Duration
	freezes  []activities.FreezeInput
	// failPages makes page notifications fail, as an unreachable pager.
	failPages bool
}

func (c *crisisRecorder) pages() []string {
	var out []string
	for _, n := range c.notes {
		if strings.HasPrefix(n.StepID, "page-") {
			out = append(out, n.StepID)
		}
	}
	return out
}

func (c *crisisRecorder) sent(step string) (time.Duration, bool) {
	for i, n := range c.notes {
		if n.StepID == step {
			return c.noteAt[i], true
		}
	}
	return 0, false
}

func newCrisisEnv(t *testing.T, name string) (*testsuite.TestWorkflowEnvironment, *crisisRecorder, CrisisInput) {
	t.Helper()
	var s testsuite.WorkflowTestSuite
	env := s.NewTestWorkflowEnvironment()
	env.RegisterWorkflowWithOptions(Crisis, workflow.RegisterOptions{Name: CrisisWorkflow})
	env.RegisterActivity(&activities.Activities{})
	rec := &crisisRecorder{start: env.Now()}
	env.OnActivity((*activities.Activities)(nil).Notify, mock.Anything, mock.Anything).Return(
		func(_ context.Context, in activities.NotifyInput) error {
			rec.mu.Lock()
			defer rec.mu.Unlock()
			rec.notes = append(rec.notes, in)
			rec.noteAt = append(rec.noteAt, env.Now().Sub(rec.start))
			if rec.failPages && strings.HasPrefix(in.StepID, "page-") {
				return temporal.NewNonRetryableApplicationError("pager refused", activities.ErrTypePermanent, nil)
			}
			return nil
		}).Maybe()
	env.OnActivity((*activities.Activities)(nil).ApplyFreeze, mock.Anything, mock.Anything).Return(
		func(_ context.Context, in activities.FreezeInput) (activities.FreezeResult, error) {
			rec.mu.Lock()
			defer rec.mu.Unlock()
			rec.freezes = append(rec.freezes, in)
			return activities.FreezeResult{}, nil
		}).Maybe()
	env.OnActivity((*activities.Activities)(nil).Publish, mock.Anything, mock.Anything).Return(
		func(_ context.Context, in activities.PublishInput) (activities.PublishResult, error) {
			rec.mu.Lock()
			defer rec.mu.Unlock()
			rec.posts = append(rec.posts, in)
			rec.postedAt = append(rec.postedAt, env.Now().Sub(rec.start))
			return activities.PublishResult{ChannelID: in.ChannelID, PostID: "p-" + in.ChannelID}, nil
		}).Maybe()
	plan := shippedPlan(t, name)
	targets := map[string][]playbooks.Target{}
	for _, ref := range plan.ChannelRefs() {
		targets[ref] = []playbooks.Target{{ID: "ch_" + ref, Name: ref, Platform: ref}}
	}
	return env, rec, CrisisInput{CrisisID: "k1", Brand: "demo", Plan: plan, Targets: targets}
}

func at(env *testsuite.TestWorkflowEnvironment, d time.Duration, fn func()) {
	env.RegisterDelayedCallback(fn, d)
}

func sendWindow(env *testsuite.TestWorkflowEnvironment, d time.Duration, w rules.Window) {
	at(env, d, func() { env.SignalWorkflow(SignalWindow, w) })
}

func update(env *testsuite.TestWorkflowEnvironment, d time.Duration, name string, arg any, rejected *error) {
	at(env, d, func() {
		env.UpdateWorkflow(name, "", &testsuite.TestUpdateCallback{
			OnAccept: func() {}, OnComplete: func(any, error) {},
			OnReject: func(err error) {
				if rejected != nil {
					*rejected = err
				}
			},
		}, arg)
	})
}

func crisisResult(t *testing.T, env *testsuite.TestWorkflowEnvironment) CrisisState {
	t.Helper()
	require.True(t, env.IsWorkflowCompleted())
	require.NoError(t, env.GetWorkflowError())
	var st CrisisState
	require.NoError(t, env.GetWorkflowResult(&st))
	return st
}

func TestNegativeSpikeAcknowledgedApprovedAndResolved(t *testing.T) {
	env, rec, in := newCrisisEnv(t, "negative-spike")
	in.Window = rules.Window{Mentions: 120, Negative: 70, NegativeRatio: 0.58, VolumeZ: 4.2}
	update(env, 10*time.Minute, UpdateStatementApproval, StatementApproval{Decision: DecisionApprove, Actor: "laia", Role: "comms-lead"}, nil)
	update(env, 20*time.Minute, UpdateAck, AckRequest{Actor: "pau"}, nil)
	var again error
	update(env, 25*time.Minute, UpdateAck, AckRequest{Actor: "marc"}, &again)
	sendWindow(env, 40*time.Minute, rules.Window{Mentions: 300, NegativeRatio: 0.75, VolumeZ: 7}) // worse: critical
	sendWindow(env, 2*time.Hour, rules.Window{Mentions: 40, NegativeRatio: 0.1, VolumeZ: 0.5})    // calm: hold starts
	sendWindow(env, 3*time.Hour, rules.Window{Mentions: 35, NegativeRatio: 0.12, VolumeZ: 0.8})   // still calm
	env.ExecuteWorkflow(CrisisWorkflow, in)
	st := crisisResult(t, env)

	require.Equal(t, []string{"page-1-1", "page-2-1"}, rec.pages(), "tier 2 paged at 15m, acknowledged before tier 3")
	require.Equal(t, "pau", st.AckedBy)
	require.ErrorContains(t, again, "already acknowledged by pau")
	require.Equal(t, []string{"high", "critical", "low"}, []string{st.Severities[0].Level, st.Severities[1].Level, st.Severities[2].Level},
		"severity rises with the evidence and falls once the deescalate rule holds")
	require.Equal(t, "low", st.Severity)
	d, froze := rec.sent("freeze")
	require.True(t, froze)
	require.Zero(t, d, "high severity freezes at once")
	require.Len(t, rec.posts, 3, "statement on sandbox, mastodon, bluesky")
	for _, at := range rec.postedAt {
		require.Equal(t, 10*time.Minute, at)
	}
	require.Equal(t, "laia", st.StatementBy)
	require.Equal(t, crisisStatusResolved, st.Status)
	require.Equal(t, 8*time.Hour, st.ResolvedAt.Sub(rec.start), "resolved 6h after sentiment calmed at 2h")
	_, unfrozen := rec.sent("unfreeze")
	_, clear := rec.sent("all-clear")
	require.True(t, unfrozen)
	require.True(t, clear)
}

func TestNegativeSpikeNobodyAnswers(t *testing.T) {
	env, rec, in := newCrisisEnv(t, "negative-spike")
	in.Window = rules.Window{Mentions: 60, NegativeRatio: 0.45, VolumeZ: 3.5}
	update(env, 10*time.Hour, UpdateResolve, ResolveRequest{Actor: "director", Reason: "handled offline"}, nil)
	env.ExecuteWorkflow(CrisisWorkflow, in)
	st := crisisResult(t, env)
	require.Equal(t, []string{"page-1-1", "page-2-1", "page-3-1", "page-3-2", "page-3-3"}, rec.pages(), "last tier repeats twice")
	require.Equal(t, "medium", st.Severity)
	_, froze := rec.sent("freeze")
	require.False(t, froze, "a medium spike is watched, not frozen")
	d, escalated := rec.sent("statement-escalated")
	require.True(t, escalated)
	require.Equal(t, 30*time.Minute, d)
	require.Empty(t, rec.posts, "no statement without approval")
	require.Equal(t, "director", st.ResolvedBy)
}

func TestServiceOutageFallsBackToPreApprovedStatement(t *testing.T) {
	env, rec, in := newCrisisEnv(t, "service-outage")
	in.Window = rules.Window{Mentions: 150, VolumeZ: 5, Topic: "login is down"}
	update(env, 5*time.Minute, UpdateAck, AckRequest{Actor: "sre"}, nil)
	sendWindow(env, time.Hour, rules.Window{Mentions: 5, VolumeZ: 0.2})
	env.ExecuteWorkflow(CrisisWorkflow, in)
	st := crisisResult(t, env)
	require.Equal(t, "high", st.Severity)
	require.Len(t, rec.posts, 4)
	require.Contains(t, rec.posts[0].Text, "We are aware of a problem with the service", "the pre-approved fallback")
	require.Equal(t, 15*time.Minute, rec.postedAt[0])
	require.Equal(t, []string{"page-1-1"}, rec.pages())
	require.Equal(t, 3*time.Hour, st.ResolvedAt.Sub(rec.start))
}

func TestServiceOutageApprovedStatementAndRejectedOne(t *testing.T) {
	env, rec, in := newCrisisEnv(t, "service-outage")
	in.Window = rules.Window{Mentions: 30, VolumeZ: 3}
	update(env, 2*time.Minute, UpdateStatementApproval, StatementApproval{Decision: DecisionReject, Actor: "ines", Comment: "wait for facts"}, nil)
	update(env, time.Hour, UpdateResolve, ResolveRequest{Actor: "ines", Reason: "false alarm"}, nil)
	env.ExecuteWorkflow(CrisisWorkflow, in)
	st := crisisResult(t, env)
	require.Empty(t, rec.posts, "a rejected statement is not published")
	require.Equal(t, "medium", st.Severity)
}

func TestViralComplaintRelapseRestartsTheHold(t *testing.T) {
	env, rec, in := newCrisisEnv(t, "viral-complaint")
	in.Window = rules.Window{Mentions: 800, MaxReach: 450000, NegativeRatio: 0.6}
	update(env, 30*time.Minute, UpdateStatementApproval, StatementApproval{Decision: DecisionApprove, Actor: "laia"}, nil)
	update(env, 10*time.Minute, UpdateAck, AckRequest{Actor: "pau"}, nil)
	sendWindow(env, 2*time.Hour, rules.Window{Mentions: 20, MaxReach: 5000, NegativeRatio: 0.1})   // calm
	sendWindow(env, 8*time.Hour, rules.Window{Mentions: 300, MaxReach: 90000, NegativeRatio: 0.5}) // relapse
	sendWindow(env, 9*time.Hour, rules.Window{Mentions: 10, MaxReach: 3000, NegativeRatio: 0.05})  // calm again
	env.ExecuteWorkflow(CrisisWorkflow, in)
	st := crisisResult(t, env)
	require.Equal(t, "high", st.Severity)
	d, froze := rec.sent("freeze")
	require.True(t, froze)
	require.Zero(t, d)
	require.Len(t, rec.posts, 4)
	require.Equal(t, 21*time.Hour, st.ResolvedAt.Sub(rec.start), "the relapse at 8h restarted the 12h hold from 9h")
}

func TestViralComplaintStatementEscalatesThenApproved(t *testing.T) {
	env, rec, in := newCrisisEnv(t, "viral-complaint")
	in.Window = rules.Window{Mentions: 500, MaxReach: 150000, NegativeRatio: 0.5}
	var wrongRole error
	update(env, 61*time.Minute, UpdateStatementApproval, StatementApproval{Decision: DecisionApprove, Actor: "x", Role: "intern"}, &wrongRole)
	update(env, 70*time.Minute, UpdateStatementApproval, StatementApproval{Decision: DecisionApprove, Actor: "director", Role: "comms-director"}, nil)
	update(env, 80*time.Minute, UpdateResolve, ResolveRequest{Actor: "director", Reason: "settled with the customer"}, nil)
	env.ExecuteWorkflow(CrisisWorkflow, in)
	st := crisisResult(t, env)
	d, escalated := rec.sent("statement-escalated")
	require.True(t, escalated)
	require.Equal(t, time.Hour, d)
	require.ErrorContains(t, wrongRole, "needs role")
	require.Equal(t, "director", st.StatementBy)
	require.Len(t, rec.posts, 4)
	require.Equal(t, "medium", st.Severity)
}

func (c *crisisRecorder) note(step string) (activities.NotifyInput, bool) {
	for _, n := range c.notes {
		if n.StepID == step {
			return n, true
		}
	}
	return activities.NotifyInput{}, false
}

func eventKinds(st CrisisState) []string {
	var out []string
	for _, e := range st.Events {
		out = append(out, e.Kind)
	}
	return out
}

func TestCrisisFreezeIsAppliedAndLiftedAtResolution(t *testing.T) {
	env, rec, in := newCrisisEnv(t, "negative-spike")
	in.Window = rules.Window{Mentions: 120, Negative: 70, NegativeRatio: 0.58, VolumeZ: 4.2}
	update(env, time.Minute, UpdateAck, AckRequest{Actor: "pau"}, nil)
	update(env, 2*time.Minute, UpdateResolve, ResolveRequest{Actor: "pau", Reason: "bot wave, removed"}, nil)
	env.ExecuteWorkflow(CrisisWorkflow, in)
	st := crisisResult(t, env)
	require.Len(t, rec.freezes, 2)
	fz := rec.freezes[0]
	require.True(t, fz.Frozen)
	require.Equal(t, "brand", fz.Scope)
	require.Equal(t, "reschedule", fz.OnUnfreeze)
	require.True(t, fz.Reapprove)
	require.Equal(t, "k1", fz.CrisisID)
	require.False(t, rec.freezes[1].Frozen, "resolution lifts the freeze")
	require.False(t, st.Frozen)
	require.Subset(t, eventKinds(st), []string{EventDetected, EventSeverity, EventFreeze, EventPage, EventAck, EventResolved, EventUnfreeze})
}

func TestCrisisPagesCarrySeverityAndAckTellsThePager(t *testing.T) {
	env, rec, in := newCrisisEnv(t, "negative-spike")
	in.Window = rules.Window{Mentions: 60, NegativeRatio: 0.45, VolumeZ: 3.5}
	update(env, 70*time.Minute, UpdateAck, AckRequest{Actor: "director"}, nil)
	update(env, 71*time.Minute, UpdateResolve, ResolveRequest{Actor: "director", Reason: "done"}, nil)
	env.ExecuteWorkflow(CrisisWorkflow, in)
	crisisResult(t, env)
	page, ok := rec.note("page-3-1")
	require.True(t, ok)
	require.Equal(t, activities.ActionTrigger, page.Action)
	require.Equal(t, "medium", page.Severity)
	require.Equal(t, "k1", page.Incident, "the crisis id is the pager's dedup key")
	ack, ok := rec.note("ack")
	require.True(t, ok, "the acknowledgement is sent to the pagers that were paged")
	require.Equal(t, []string{"pagerduty:comms-director"}, ack.To)
	require.Equal(t, activities.ActionAcknowledge, ack.Action)
	clear, _ := rec.note("all-clear")
	require.Equal(t, activities.ActionResolve, clear.Action)
}

func TestFailingPagerDoesNotStretchTheDeadline(t *testing.T) {
	env, rec, in := newCrisisEnv(t, "negative-spike")
	rec.failPages = true
	in.Window = rules.Window{Mentions: 60, NegativeRatio: 0.45, VolumeZ: 3.5}
	update(env, 50*time.Minute, UpdateResolve, ResolveRequest{Actor: "director", Reason: "done"}, nil)
	env.ExecuteWorkflow(CrisisWorkflow, in)
	st := crisisResult(t, env)
	require.Equal(t, []string{"page-1-1", "page-2-1", "page-3-1"}, rec.pages(), "tiers still move on at 15m and 45m")
	require.Contains(t, eventKinds(st), EventPageFailed)
}

func TestManualEscalationPagesTheNextTierNow(t *testing.T) {
	env, rec, in := newCrisisEnv(t, "negative-spike")
	in.Window = rules.Window{Mentions: 60, NegativeRatio: 0.45, VolumeZ: 3.5}
	var noReason error
	update(env, 2*time.Minute, UpdateEscalate, EscalateRequest{Actor: "laia"}, &noReason)
	update(env, 5*time.Minute, UpdateEscalate, EscalateRequest{Actor: "laia", Reason: "a journalist called"}, nil)
	update(env, 6*time.Minute, UpdateAck, AckRequest{Actor: "marta"}, nil)
	update(env, 7*time.Minute, UpdateResolve, ResolveRequest{Actor: "marta", Reason: "handled"}, nil)
	env.ExecuteWorkflow(CrisisWorkflow, in)
	st := crisisResult(t, env)
	require.ErrorContains(t, noReason, "reason is required")
	require.Equal(t, []string{"page-1-1", "page-2-1"}, rec.pages())
	d, _ := rec.sent("page-2-1")
	require.Equal(t, 5*time.Minute, d, "tier 2 paged at the escalation, not at 15m")
	require.Equal(t, "laia", st.Pages[1].By)
	require.Equal(t, 2, st.Tier)
}

func TestSeverityFallsOnlyWhenARuleOrAPersonSaysSo(t *testing.T) {
	env, _, in := newCrisisEnv(t, "negative-spike")
	in.Window = rules.Window{Mentions: 300, NegativeRatio: 0.75, VolumeZ: 7}                       // critical
	sendWindow(env, 10*time.Minute, rules.Window{Mentions: 200, NegativeRatio: 0.42, VolumeZ: 3})  // medium by the rules, deescalate does not hold
	sendWindow(env, 20*time.Minute, rules.Window{Mentions: 150, NegativeRatio: 0.3, VolumeZ: 2})   // deescalate holds: low
	sendWindow(env, 30*time.Minute, rules.Window{Mentions: 400, NegativeRatio: 0.6, VolumeZ: 5.5}) // high again
	var notLower error
	update(env, 35*time.Minute, UpdateDeescalate, DeescalateRequest{Actor: "pau", Level: "critical", Reason: "x"}, &notLower)
	update(env, 40*time.Minute, UpdateDeescalate, DeescalateRequest{Actor: "pau", Level: "medium", Reason: "bots filtered out"}, nil)
	update(env, 50*time.Minute, UpdateResolve, ResolveRequest{Actor: "pau", Reason: "done"}, nil)
	env.ExecuteWorkflow(CrisisWorkflow, in)
	st := crisisResult(t, env)
	var levels []string
	for _, s := range st.Severities {
		levels = append(levels, s.Level)
	}
	require.Equal(t, []string{"critical", "low", "high", "medium"}, levels)
	require.Equal(t, "window.negative_ratio < 0.33", st.Severities[1].Reason)
	require.Equal(t, 0.3, st.Severities[1].Window.NegativeRatio, "each change keeps the values that caused it")
	require.Equal(t, "pau", st.Severities[3].Actor)
	require.ErrorContains(t, notLower, "not below")
}

func TestEditedStatementIsVersioned(t *testing.T) {
	env, rec, in := newCrisisEnv(t, "negative-spike")
	in.Window = rules.Window{Mentions: 60, NegativeRatio: 0.45, VolumeZ: 3.5}
	const edited = "We hear you. An update follows within the hour."
	var selfApproval, ownVersion, staleHash, emptyEdit error
	// The editor may not approve their own edit, in one request or later.
	update(env, 4*time.Minute, UpdateStatementApproval, StatementApproval{Decision: DecisionApprove, Actor: "laia", Text: edited}, &selfApproval)
	update(env, 5*time.Minute, UpdateStatementApproval, StatementApproval{Decision: DecisionEdit, Actor: "laia", Role: "comms-lead", Text: edited}, nil)
	update(env, 6*time.Minute, UpdateStatementApproval, StatementApproval{Decision: DecisionApprove, Actor: "laia"}, &ownVersion)
	update(env, 6*time.Minute+time.Second, UpdateStatementApproval, StatementApproval{Decision: DecisionEdit, Actor: "ines", Text: edited}, &emptyEdit)
	// An approval of the text someone saw before the edit is void.
	update(env, 7*time.Minute, UpdateStatementApproval, StatementApproval{Decision: DecisionApprove, Actor: "ines",
		ContentHash: StatementHash("the template's text")}, &staleHash)
	update(env, 8*time.Minute, UpdateStatementApproval, StatementApproval{Decision: DecisionApprove, Actor: "ines",
		ContentHash: StatementHash(edited)}, nil)
	update(env, 10*time.Minute, UpdateResolve, ResolveRequest{Actor: "laia", Reason: "done"}, nil)
	env.ExecuteWorkflow(CrisisWorkflow, in)
	st := crisisResult(t, env)
	require.ErrorContains(t, selfApproval, "cannot approve their own edit")
	require.ErrorContains(t, ownVersion, "wrote version 2")
	require.ErrorContains(t, emptyEdit, "differs from version 2")
	require.ErrorContains(t, staleHash, "the statement changed: version 2")
	require.Len(t, st.Statements, 2)
	require.Equal(t, "template", st.Statements[0].By)
	require.Equal(t, StatementVersion{Version: 2, Text: edited, At: st.Statements[1].At,
		By: "laia", Hash: StatementHash(edited), Decision: DecisionApprove, Actor: "ines"}, st.Statements[1])
	require.Equal(t, "ines", st.StatementBy)
	require.Equal(t, edited, rec.posts[0].Text, "the approved version is the one published")
}

func TestFreezeByHand(t *testing.T) {
	env, rec, in := newCrisisEnv(t, "negative-spike")
	in.Window = rules.Window{Mentions: 60, NegativeRatio: 0.45, VolumeZ: 3.5} // medium: no automatic freeze
	var unfreezeFirst error
	update(env, time.Minute, UpdateFreeze, FreezeRequest{Actor: "pau", Frozen: false, Reason: "x"}, &unfreezeFirst)
	update(env, 2*time.Minute, UpdateFreeze, FreezeRequest{Actor: "pau", Frozen: true, Reason: "the CEO asked"}, nil)
	update(env, 3*time.Minute, UpdateFreeze, FreezeRequest{Actor: "pau", Frozen: false, Reason: "cleared with legal"}, nil)
	update(env, 4*time.Minute, UpdateResolve, ResolveRequest{Actor: "pau", Reason: "done"}, nil)
	env.ExecuteWorkflow(CrisisWorkflow, in)
	st := crisisResult(t, env)
	require.ErrorContains(t, unfreezeFirst, "not frozen")
	require.Len(t, rec.freezes, 2, "lifted by hand, not again at resolution")
	require.Equal(t, "pau", rec.freezes[0].Actor)
	require.Equal(t, "the CEO asked", rec.freezes[0].Reason)
	require.False(t, st.Frozen)
}
