package workflows

import (
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/workflow"

	"github.com/cmo-dev/cmo/activities"
	"github.com/cmo-dev/cmo/playbooks"
)

// changeContentFreeze guards the freeze check at publish points. Runs
// whose history reached a publish point before it existed replay as they
// ran; a run that reaches its next publish point on this code checks.
const changeContentFreeze = "content-freeze"

// freezeRecheck is how long a held post waits for a freeze signal before
// it checks again anyway: a signal can be lost, or miss a campaign that
// visibility did not list yet, and a lift should still be noticed soon.
const freezeRecheck = 5 * time.Minute

// reapprovalSuffix names the approval a held post waits for after the
// lift when the freeze asks for one: "<publish step>-reapproval".
const reapprovalSuffix = "-reapproval"

// DroppedPost is a post that was not published because of a freeze.
type DroppedPost struct {
	StepID    string    `json:"step_id"`
	ChannelID string    `json:"channel_id"`
	Channel   string    `json:"channel"`
	CrisisID  string    `json:"crisis_id,omitempty"`
	Reason    string    `json:"reason"`
	At        time.Time `json:"at"`
}

// freezeHold is what a held post learnt from the freezes over it.
type freezeHold struct {
	crisis    string
	drop      bool
	reapprove bool
}

// freezeStatus asks whether freezes cover a post to the targets. It
// retries for as long as the store does not answer: a post never goes out
// unchecked during a crisis.
func (r *campaignRun) freezeStatus(ctx workflow.Context, s *playbooks.Step, targets []playbooks.Target) (activities.FreezeState, error) {
	names := make([]string, 0, len(targets))
	for _, t := range targets {
		names = append(names, t.Name)
	}
	actx := workflow.WithActivityOptions(ctx, workflow.ActivityOptions{
		StartToCloseTimeout: 30 * time.Second,
		Summary:             fmt.Sprintf("freeze check %s (%s)", r.runKey(s.ID), strings.Join(names, ", ")),
		RetryPolicy:         &temporal.RetryPolicy{InitialInterval: time.Second, BackoffCoefficient: 2, MaximumInterval: time.Minute},
	})
	var st activities.FreezeState
	err := workflow.ExecuteActivity(actx, acts.FreezeStatus, activities.FreezeQuery{
		Brand: r.in.Brand, Tags: r.in.Tags, Market: r.in.Market, Targets: targets,
	}).Get(ctx, &st)
	return st, err
}

// heldTargets are the targets a freeze state covers.
func heldTargets(targets []playbooks.Target, st activities.FreezeState) []playbooks.Target {
	if !st.Frozen {
		return nil
	}
	var out []playbooks.Target
	for _, t := range targets {
		if slices.Contains(st.Channels, t.ID) {
			out = append(out, t)
		}
	}
	return out
}

func withoutTargets(targets, drop []playbooks.Target) []playbooks.Target {
	var out []playbooks.Target
	for _, t := range targets {
		if !slices.ContainsFunc(drop, func(d playbooks.Target) bool { return d.ID == t.ID }) {
			out = append(out, t)
		}
	}
	return out
}

// afterFreeze waits until no freeze covers the held targets, then says
// which of them to publish now: none when the slot passed and a freeze
// said drop; all of them otherwise, once approved again when a freeze
// asked for that.
func (r *campaignRun) afterFreeze(ctx workflow.Context, s *playbooks.Step, slot time.Time, contentID string, held []playbooks.Target, st activities.FreezeState) ([]playbooks.Target, error) {
	key := r.runKey(s.ID)
	for {
		h, err := r.awaitLift(ctx, s, held, st)
		if err != nil {
			return nil, err
		}
		now := workflow.Now(ctx)
		if h.drop && slot.Before(now) {
			r.drop(ctx, key, held, h.crisis, fmt.Sprintf("its time (%s) passed during the freeze of crisis %s, which drops such posts",
				slot.UTC().Format(time.RFC3339), h.crisis))
			return nil, nil
		}
		if !h.reapprove {
			return held, nil
		}
		if err := r.reapprove(ctx, s, contentID); err != nil {
			if errors.Is(err, errStop) {
				r.drop(ctx, key, held, h.crisis, "not approved again after the freeze: "+r.stepState(s.ID+reapprovalSuffix).Detail)
			}
			return nil, err
		}
		// Waiting for the approval may have taken a while: look again.
		if st, err = r.freezeStatus(ctx, s, held); err != nil {
			return nil, err
		}
		if !st.Frozen {
			return held, nil
		}
	}
}

// awaitLift holds the post while a freeze covers it, checking again on
// every freeze signal and every freezeRecheck, and gathers what the
// freezes over it ask for after the lift.
func (r *campaignRun) awaitLift(ctx workflow.Context, s *playbooks.Step, held []playbooks.Target, st activities.FreezeState) (freezeHold, error) {
	var h freezeHold
	r.holding++
	if r.holding == 1 {
		now := workflow.Now(ctx)
		r.state.Frozen, r.state.FrozenSince = true, &now
	}
	defer func() {
		if r.holding--; r.holding == 0 {
			r.state.Frozen, r.state.FrozenBy, r.state.FrozenSince = false, "", nil
		}
	}()
	r.setStatus(ctx, StatusFrozen)
	names := make([]string, 0, len(held))
	for _, t := range held {
		names = append(names, t.Name)
	}
	for st.Frozen {
		h.crisis = st.CrisisID
		h.drop = h.drop || st.OnUnfreeze == playbooks.UnfreezeDrop
		h.reapprove = h.reapprove || st.Reapprove
		r.state.FrozenBy = st.CrisisID
		since := ""
		if st.Since != nil {
			since = " since " + st.Since.UTC().Format(time.RFC3339)
		}
		r.stepState(s.ID).Detail = fmt.Sprintf("held by the freeze of crisis %s (%s scope%s): %s",
			st.CrisisID, st.Scope, since, strings.Join(names, ", "))
		// The backstop timer is cancelled when a signal comes first, so a
		// long freeze with many signals leaves no timers behind.
		seen := r.freezeSignals
		tctx, cancel := workflow.WithCancel(ctx)
		timer := workflow.NewTimerWithOptions(tctx, freezeRecheck, workflow.TimerOptions{
			Summary: fmt.Sprintf("%s held by crisis %s: check again", r.runKey(s.ID), st.CrisisID),
		})
		err := workflow.Await(ctx, func() bool { return r.freezeSignals != seen || timer.IsReady() })
		cancel()
		if err != nil {
			return h, err
		}
		if st, err = r.freezeStatus(ctx, s, held); err != nil {
			return h, err
		}
	}
	return h, nil
}

// drop records held posts that will not go out.
func (r *campaignRun) drop(ctx workflow.Context, key string, held []playbooks.Target, crisis, reason string) {
	now := workflow.Now(ctx)
	for _, t := range held {
		r.state.Dropped = append(r.state.Dropped, DroppedPost{StepID: key, ChannelID: t.ID, Channel: t.Name,
			CrisisID: crisis, Reason: reason, At: now})
	}
}

// reapprove waits for a new approval of the held content, through the
// campaign's approval update, as the synthetic step "<step>-reapproval"
// with the role, four-eyes rule and deadline of the content's own
// approval. A rejection stops the campaign, as at the first approval.
func (r *campaignRun) reapprove(ctx workflow.Context, s *playbooks.Step, contentID string) error {
	// One approval waits at a time; a parallel branch's goes first.
	if err := workflow.Await(ctx, func() bool { return r.waiting == nil }); err != nil {
		return err
	}
	a := playbooks.ApprovalStep{}
	if orig := r.approvalOf(contentID); orig != nil {
		a = *orig
	}
	a.Content = contentID
	if a.OnTimeout == playbooks.OnTimeoutFallback {
		// Pre-approved text is what the freeze asks to look at again.
		a.OnTimeout, a.Fallback = playbooks.OnTimeoutCancel, ""
	}
	step := &playbooks.Step{ID: s.ID + reapprovalSuffix, Title: "Approve again after the freeze", Approval: &a}
	r.insertStepAfter(s.ID, StepState{ID: step.ID, Kind: playbooks.StepApproval, Title: step.Title, Status: StepPending})
	r.begin(ctx, step.ID)
	err := r.approval(ctx, step)
	status := StepDone
	if err != nil && !errors.Is(err, errStop) {
		status = StepFailed
	}
	r.end(ctx, step.ID, status)
	r.state.CurrentStep = s.ID
	return err
}

// approvalOf finds the approval that content goes through (or the one it
// stands in for as a fallback).
func (r *campaignRun) approvalOf(contentID string) *playbooks.ApprovalStep {
	var found *playbooks.ApprovalStep
	r.in.Plan.Walk(func(s *playbooks.Step) {
		if found == nil && s.Approval != nil && (s.Approval.Content == contentID || s.Approval.Fallback == contentID) {
			found = s.Approval
		}
	})
	return found
}

// insertStepAfter adds a step the plan does not have (a reapproval) to
// the state, right after the step it belongs to.
func (r *campaignRun) insertStepAfter(after string, st StepState) {
	if slices.ContainsFunc(r.state.Steps, func(s StepState) bool { return s.ID == st.ID }) {
		return
	}
	i := slices.IndexFunc(r.state.Steps, func(s StepState) bool { return s.ID == after })
	r.state.Steps = slices.Insert(r.state.Steps, i+1, st)
}
