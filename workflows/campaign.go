// Package workflows holds cmo's Temporal workflow code. It is
// deterministic: no I/O, no wall clock, no goroutines, no map iteration
// without sorting. Everything that touches the world is an activity.
package workflows

import (
	"errors"
	"fmt"
	"sort"
	"time"

	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/workflow"

	"github.com/cmo-dev/cmo/activities"
	"github.com/cmo-dev/cmo/playbooks"
	"github.com/cmo-dev/cmo/rules"
)

// Names that clients use to talk to a campaign workflow.
const (
	CampaignWorkflow = "Campaign"
	QueryState       = "state"
	UpdateApproval   = "approval"
	// SignalFreeze tells a campaign that a freeze of its brand began or
	// was lifted: a post held at a publish point checks again.
	SignalFreeze = activities.SignalFreeze
)

// CampaignWorkflowID derives the workflow id from the campaign id, so that
// a campaign id runs at most once.
func CampaignWorkflowID(campaignID string) string { return "campaign:" + campaignID }

// Campaign statuses, shown in the API and as the Status search attribute.
const (
	StatusDrafting         = "drafting"
	StatusAwaitingApproval = "awaiting_approval"
	StatusScheduled        = "scheduled"
	StatusWaiting          = "waiting"
	StatusPublishing       = "publishing"
	StatusFrozen           = "frozen"
	StatusReporting        = "reporting"
	StatusCompleted        = "completed"
	StatusPartial          = "completed_with_errors"
	StatusRejected         = "rejected"
	StatusBlocked          = "blocked"
	StatusExpired          = "expired"
	StatusFailed           = "failed"
)

// Error types returned by the approval update's validator, so the API can
// answer 409 (wrong moment) or 422 (bad request) without parsing text.
const (
	ErrNotAwaitingApproval = "NotAwaitingApproval"
	ErrInvalidApproval     = "InvalidApproval"
)

// CampaignInput starts a campaign. It carries the compiled plan (so the run
// keeps the playbook version it started with) and channel ids, never
// credentials.
type CampaignInput struct {
	CampaignID string                        `json:"campaign_id"`
	Brand      string                        `json:"brand"`
	Author     string                        `json:"author,omitempty"`
	Plan       *playbooks.Plan               `json:"plan"`
	Params     map[string]any                `json:"params"`
	Targets    map[string][]playbooks.Target `json:"targets"`
	// Times are the instants of publish.at and wait.until, resolved at
	// launch in the brand's time zone (playbooks.Plan.ResolveTimes).
	Times    map[string]time.Time `json:"times,omitempty"`
	Timezone string               `json:"timezone,omitempty"`
	// Tags (the playbook's and the launch's) and Market say which crisis
	// freezes hold the campaign's posts.
	Tags   []string `json:"tags,omitempty"`
	Market string   `json:"market,omitempty"`
}

// CampaignResult is what a finished campaign returns.
type CampaignResult struct {
	Status  string        `json:"status"`
	Posts   []Post        `json:"posts"`
	Dropped []DroppedPost `json:"dropped,omitempty"`
}

// CampaignState is the campaign as the API shows it (the state query).
type CampaignState struct {
	CampaignID   string                  `json:"id"`
	Brand        string                  `json:"brand"`
	Playbook     string                  `json:"playbook"`
	PlaybookHash string                  `json:"playbook_hash"`
	Title        string                  `json:"title"`
	Status       string                  `json:"status"`
	CurrentStep  string                  `json:"current_step,omitempty"`
	Steps        []StepState             `json:"steps"`
	Content      map[string]ContentState `json:"content"`
	Approvals    []ApprovalResult        `json:"approvals"`
	Posts        []Post                  `json:"posts"`
	ScheduledFor *time.Time              `json:"scheduled_for,omitempty"`
	Report       *activities.Report      `json:"report,omitempty"`
	KPI          rules.KPI               `json:"kpi"`
	Goals        map[string]bool         `json:"goals,omitempty"`
	Findings     []activities.Finding    `json:"findings,omitempty"`
	Errors       []string                `json:"errors,omitempty"`
	Tags         []string                `json:"tags,omitempty"`
	Market       string                  `json:"market,omitempty"`
	// Frozen is true while a crisis's freeze holds a post at a publish
	// point; FrozenBy names the crisis and FrozenSince when the post
	// stopped. Dropped lists the posts the freeze cost.
	Frozen      bool          `json:"frozen"`
	FrozenBy    string        `json:"frozen_by,omitempty"`
	FrozenSince *time.Time    `json:"frozen_since,omitempty"`
	Dropped     []DroppedPost `json:"dropped,omitempty"`
}

// StepState is one step's progress.
type StepState struct {
	ID        string     `json:"id"`
	Kind      string     `json:"kind"`
	Title     string     `json:"title,omitempty"`
	Status    string     `json:"status"`
	StartedAt *time.Time `json:"started_at,omitempty"`
	EndedAt   *time.Time `json:"ended_at,omitempty"`
	Detail    string     `json:"detail,omitempty"`
}

// Step statuses.
const (
	StepPending = "pending"
	StepRunning = "running"
	StepDone    = "done"
	StepFailed  = "failed"
	StepSkipped = "skipped"
)

// ContentState is a content step's rendered text and its hash.
type ContentState struct {
	Hash     string               `json:"hash"`
	Rendered []playbooks.Rendered `json:"rendered"`
	Approved *ApprovalResult      `json:"approved,omitempty"`
}

// Post is one published post.
type Post struct {
	StepID      string    `json:"step_id"`
	ChannelID   string    `json:"channel_id"`
	Channel     string    `json:"channel"`
	PostID      string    `json:"post_id"`
	URL         string    `json:"url"`
	PublishedAt time.Time `json:"published_at"`
}

// ApprovalRequest is a person's decision on content awaiting approval.
type ApprovalRequest struct {
	Decision string `json:"decision"`
	Actor    string `json:"actor"`
	Comment  string `json:"comment,omitempty"`
	// ContentHash, when given, must be the hash of the content awaiting
	// approval: it proves the approver saw exactly that text.
	ContentHash string `json:"content_hash,omitempty"`
	// StepID, when given, must be the approval step that is waiting.
	StepID string `json:"step_id,omitempty"`
	// Role, when given, must be the role the step asks for (or the role
	// it was escalated to).
	Role string `json:"role,omitempty"`
}

// Approval decisions.
const (
	DecisionApprove = "approve"
	DecisionReject  = "reject"
)

// ApprovalResult records an accepted decision.
type ApprovalResult struct {
	StepID      string    `json:"step_id"`
	Decision    string    `json:"decision"`
	Actor       string    `json:"actor"`
	Comment     string    `json:"comment,omitempty"`
	ContentHash string    `json:"content_hash"`
	At          time.Time `json:"at"`
}

// Campaign runs a campaign playbook: one interpreter for every campaign
// playbook, walking the Plan it was started with.
func Campaign(ctx workflow.Context, in CampaignInput) (CampaignResult, error) {
	if in.Plan == nil {
		return CampaignResult{}, temporal.NewNonRetryableApplicationError("campaign input has no plan", "BadInput", nil)
	}
	r := &campaignRun{in: in, started: workflow.Now(ctx), results: map[string]rules.StepResult{}, booting: true, progs: map[string]*rules.Program{},
		substitute: map[string]string{}, state: CampaignState{
			CampaignID: in.CampaignID, Brand: in.Brand, Playbook: in.Plan.Name, PlaybookHash: in.Plan.Hash,
			Title: in.Plan.DisplayTitle(), Content: map[string]ContentState{}, Approvals: []ApprovalResult{}, Posts: []Post{},
			Tags: in.Tags, Market: in.Market,
		}}
	in.Plan.Walk(func(s *playbooks.Step) {
		r.state.Steps = append(r.state.Steps, StepState{ID: s.ID, Kind: s.Kind(), Title: s.Title, Status: StepPending})
	})
	if err := workflow.SetQueryHandler(ctx, QueryState, func() (CampaignState, error) { return r.state, nil }); err != nil {
		return CampaignResult{}, err
	}
	if err := workflow.SetUpdateHandlerWithOptions(ctx, UpdateApproval, r.approve,
		workflow.UpdateHandlerOptions{Validator: r.validateApproval}); err != nil {
		return CampaignResult{}, err
	}
	// Freeze signals only wake held posts; counting them is all it takes,
	// since a held post asks the store what holds it.
	workflow.Go(ctx, func(ctx workflow.Context) {
		signals := workflow.GetSignalChannel(ctx, SignalFreeze)
		for {
			var n activities.FreezeNotice
			signals.Receive(ctx, &n)
			r.freezeSignals++
			workflow.GetLogger(ctx).Info("freeze signal", "crisis", n.CrisisID, "frozen", n.Frozen)
		}
	})
	return r.run(ctx)
}

type campaignRun struct {
	in      CampaignInput
	state   CampaignState
	started time.Time
	// progs are this run's compiled conditions, by source.
	progs map[string]*rules.Program
	// results feed later conditions (steps.review.decision).
	results map[string]rules.StepResult
	// iteration counts the runs of the innermost repeat (0 outside one).
	iteration int
	// substitute maps a content step to the one published instead (an
	// approval that timed out with a fallback).
	substitute map[string]string

	// booting is true until the first step begins: an approval sent right
	// after launch may be validated before the workflow has run at all.
	booting bool
	// done is set when the steps have finished.
	done bool

	waiting   *playbooks.Step // the approval step waiting for a decision
	pending   string          // content hash the waiting approval is for
	decided   *ApprovalResult
	escalated string // role the waiting approval was escalated to

	// freezeSignals counts the freeze signals received; holding counts
	// the posts (parallel branches) a freeze holds now.
	freezeSignals int
	holding       int

	// tracking is true for runs that collect metrics with a collector,
	// put posts on the calendar and track links (changeKPITracking);
	// collector is that child and channels the ones it measures.
	tracking  bool
	collector workflow.ChildWorkflowFuture
	channels  []string
}

// errStop ends the campaign early without failing the workflow (rejected,
// expired, blocked).
var errStop = errors.New("campaign stopped")

func (r *campaignRun) run(ctx workflow.Context) (CampaignResult, error) {
	// Version 2 starts the collector only for playbooks that publish:
	// one with nothing to measure need not leave a workflow behind.
	if v := workflow.GetVersion(ctx, changeKPITracking, workflow.DefaultVersion, 2); v >= 1 {
		r.tracking = true
		if v == 1 || publishes(r.in.Plan) {
			r.startCollector(ctx)
		}
	}
	err := r.runSteps(ctx, r.in.Plan.Steps)
	r.state.CurrentStep = ""
	r.done = true
	for i := range r.state.Steps {
		if r.state.Steps[i].Status == StepPending {
			r.state.Steps[i].Status = StepSkipped
		}
	}
	r.tellCollector(ctx, MetricsEnded)
	// Early approvals still waiting for a step that will never come get
	// their answer before the workflow closes.
	_ = workflow.Await(ctx, func() bool { return workflow.AllHandlersFinished(ctx) })
	switch {
	case errors.Is(err, errStop):
		return r.result(), nil
	case err != nil:
		r.setStatus(ctx, StatusFailed)
		return r.result(), temporal.NewNonRetryableApplicationError(
			fmt.Sprintf("campaign %s failed: %v", r.in.CampaignID, err), "CampaignFailed", nil)
	}
	if len(r.state.Errors) > 0 {
		r.setStatus(ctx, StatusPartial)
	} else {
		r.setStatus(ctx, StatusCompleted)
	}
	return r.result(), nil
}

func (r *campaignRun) result() CampaignResult {
	return CampaignResult{Status: r.state.Status, Posts: r.state.Posts, Dropped: r.state.Dropped}
}

func (r *campaignRun) runSteps(ctx workflow.Context, steps []playbooks.Step) error {
	for i := range steps {
		if err := r.runStep(ctx, &steps[i]); err != nil {
			return err
		}
	}
	return nil
}

// env is what conditions see now.
func (r *campaignRun) env(ctx workflow.Context) rules.CampaignEnv {
	return rules.CampaignEnv{
		Params: r.in.Params, KPI: r.state.KPI, Goals: r.state.Goals, Steps: r.results,
		Iteration: r.iteration, Elapsed: workflow.Now(ctx).Sub(r.started).Hours(),
	}
}

func (r *campaignRun) holds(ctx workflow.Context, e playbooks.Expr) (bool, error) {
	p, ok := r.progs[e.Src]
	if !ok {
		var err error
		if p, err = rules.Cached(e.Src, rules.Campaign); err != nil {
			return false, err
		}
		r.progs[e.Src] = p
	}
	return p.EvalBool(r.env(ctx))
}

func (r *campaignRun) runStep(ctx workflow.Context, s *playbooks.Step) error {
	if !s.When.IsZero() {
		ok, err := r.holds(ctx, s.When)
		if err != nil {
			return fmt.Errorf("step %s: %w", s.ID, err)
		}
		if !ok {
			r.skip(*s, "when "+s.When.Src+" was false")
			return r.runSteps(ctx, s.Else)
		}
		for _, e := range s.Else {
			r.skip(e, "when "+s.When.Src+" was true")
		}
	}
	r.booting = false
	r.begin(ctx, s.ID)
	err := r.exec(ctx, s)
	switch {
	case errors.Is(err, errStop):
		r.end(ctx, s.ID, StepDone)
		return err
	case err != nil:
		r.end(ctx, s.ID, StepFailed)
		r.stepState(s.ID).Detail = err.Error()
		r.state.Errors = append(r.state.Errors, fmt.Sprintf("step %s: %v", s.ID, err))
		return fmt.Errorf("step %s: %w", s.ID, err)
	}
	r.end(ctx, s.ID, StepDone)
	return nil
}

func (r *campaignRun) exec(ctx workflow.Context, s *playbooks.Step) error {
	switch {
	case s.Content != nil:
		return r.content(ctx, s)
	case s.Check != nil:
		return r.check(ctx, s)
	case s.Approval != nil:
		return r.approval(ctx, s)
	case s.Publish != nil:
		return r.publish(ctx, s)
	case s.Wait != nil:
		return r.wait(ctx, s)
	case s.Collect != nil:
		return r.collect(ctx, s)
	case s.Notify != nil:
		return r.notify(ctx, s)
	case s.Report != nil:
		return r.report(ctx, s)
	case s.Cost != nil:
		return r.cost(ctx, s)
	case s.Sequence != nil:
		return r.runSteps(ctx, s.Sequence)
	case s.Parallel != nil:
		return r.parallel(ctx, s)
	case s.Repeat != nil:
		return r.repeat(ctx, s)
	}
	return fmt.Errorf("step %s has no action", s.ID)
}

// skip marks a step and everything nested in it as skipped.
func (r *campaignRun) skip(s playbooks.Step, why string) {
	playbooks.WalkSteps([]playbooks.Step{s}, func(n *playbooks.Step) {
		st := r.stepState(n.ID)
		if st.Status == StepPending {
			st.Status, st.Detail = StepSkipped, why
			r.results[n.ID] = rules.StepResult{Status: StepSkipped}
		}
	})
}

func (r *campaignRun) begin(ctx workflow.Context, id string) {
	now := workflow.Now(ctx)
	r.state.CurrentStep = id
	st := r.stepState(id)
	st.Status, st.StartedAt, st.EndedAt, st.Detail = StepRunning, &now, nil, ""
	// A step run again (in a repeat) starts with a clean result, so a
	// condition never reads the previous run's outcome.
	r.results[id] = rules.StepResult{Status: StepRunning}
}

func (r *campaignRun) end(ctx workflow.Context, id, status string) {
	now := workflow.Now(ctx)
	st := r.stepState(id)
	st.Status, st.EndedAt = status, &now
	res := r.results[id]
	res.Status = status
	r.results[id] = res
}

func (r *campaignRun) setStatus(ctx workflow.Context, status string) {
	if r.state.Status == status {
		return
	}
	r.state.Status = status
	if err := workflow.UpsertTypedSearchAttributes(ctx, SAStatus.ValueSet(status)); err != nil {
		workflow.GetLogger(ctx).Warn("upsert status", "error", err)
	}
	workflow.SetCurrentDetails(ctx, fmt.Sprintf("**%s** — %s", status, r.state.CurrentStep))
}

func (r *campaignRun) stepState(id string) *StepState {
	for i := range r.state.Steps {
		if r.state.Steps[i].ID == id {
			return &r.state.Steps[i]
		}
	}
	r.state.Steps = append(r.state.Steps, StepState{ID: id})
	return &r.state.Steps[len(r.state.Steps)-1]
}

// runKey identifies a step's run: the step id, with the iteration inside
// a repeat, so each iteration publishes under its own ledger key.
func (r *campaignRun) runKey(id string) string {
	if r.iteration > 1 {
		return fmt.Sprintf("%s#%d", id, r.iteration)
	}
	return id
}

// targets resolves channel references to the channels given at launch,
// without duplicates, in a stable order.
func (r *campaignRun) targets(refs []string) []playbooks.Target {
	return resolveTargets(r.in.Targets, refs)
}

// resolveTargets maps channel references to the channels given at launch.
func resolveTargets(byRef map[string][]playbooks.Target, refs []string) []playbooks.Target {
	seen := map[string]bool{}
	var out []playbooks.Target
	for _, ref := range refs {
		for _, t := range byRef[ref] {
			if !seen[t.ID] {
				seen[t.ID] = true
				out = append(out, t)
			}
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out
}
