// Package workflows holds cmo's Temporal workflow code. It is
// deterministic: no I/O, no wall clock, no goroutines, no map iteration
// without sorting. Everything that touches the world is an activity.
package workflows

import (
	"errors"
	"fmt"
	"sort"
	"strings"
	"time"

	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/workflow"

	"github.com/cmo-dev/cmo/activities"
	"github.com/cmo-dev/cmo/playbooks"
)

// Names that clients use to talk to a campaign workflow.
const (
	CampaignWorkflow = "Campaign"
	QueryState       = "state"
	UpdateApproval   = "approval"
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
	StatusReporting        = "reporting"
	StatusCompleted        = "completed"
	StatusPartial          = "completed_with_errors"
	StatusRejected         = "rejected"
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
}

// CampaignResult is what a finished campaign returns.
type CampaignResult struct {
	Status string `json:"status"`
	Posts  []Post `json:"posts"`
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
	Errors       []string                `json:"errors,omitempty"`
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

// Campaign runs a campaign playbook's steps in order.
func Campaign(ctx workflow.Context, in CampaignInput) (CampaignResult, error) {
	if in.Plan == nil {
		return CampaignResult{}, temporal.NewNonRetryableApplicationError("campaign input has no plan", "BadInput", nil)
	}
	r := &campaignRun{in: in, state: CampaignState{
		CampaignID: in.CampaignID, Brand: in.Brand, Playbook: in.Plan.Name, PlaybookHash: in.Plan.Hash,
		Title: in.Plan.DisplayTitle(), Content: map[string]ContentState{}, Approvals: []ApprovalResult{}, Posts: []Post{},
	}}
	for _, s := range in.Plan.Steps {
		r.state.Steps = append(r.state.Steps, StepState{ID: s.ID, Kind: s.Kind(), Title: s.Title, Status: StepPending})
	}
	if err := workflow.SetQueryHandler(ctx, QueryState, func() (CampaignState, error) { return r.state, nil }); err != nil {
		return CampaignResult{}, err
	}
	if err := workflow.SetUpdateHandlerWithOptions(ctx, UpdateApproval, r.approve,
		workflow.UpdateHandlerOptions{Validator: r.validateApproval}); err != nil {
		return CampaignResult{}, err
	}
	return r.run(ctx)
}

type campaignRun struct {
	in      CampaignInput
	state   CampaignState
	waiting *playbooks.Step // the approval step waiting for a decision
	pending string          // content hash the waiting approval is for
	decided *ApprovalResult
}

// errStop ends the campaign early without failing the workflow (rejected, expired).
var errStop = errors.New("campaign stopped")

func (r *campaignRun) run(ctx workflow.Context) (CampaignResult, error) {
	for i := range r.in.Plan.Steps {
		step := &r.in.Plan.Steps[i]
		r.begin(ctx, i)
		err := r.runStep(ctx, step)
		if errors.Is(err, errStop) {
			r.end(ctx, i, StepDone, "")
			for j := i + 1; j < len(r.state.Steps); j++ {
				r.state.Steps[j].Status = StepSkipped
			}
			return r.result(), nil
		}
		if err != nil {
			r.end(ctx, i, StepFailed, err.Error())
			r.state.Errors = append(r.state.Errors, fmt.Sprintf("step %s: %v", step.ID, err))
			r.setStatus(ctx, StatusFailed)
			return r.result(), temporal.NewNonRetryableApplicationError(
				fmt.Sprintf("campaign %s failed at step %s: %v", r.in.CampaignID, step.ID, err), "CampaignFailed", nil)
		}
		r.end(ctx, i, StepDone, r.state.Steps[i].Detail)
	}
	r.state.CurrentStep = ""
	if len(r.state.Errors) > 0 {
		r.setStatus(ctx, StatusPartial)
	} else {
		r.setStatus(ctx, StatusCompleted)
	}
	return r.result(), nil
}

func (r *campaignRun) result() CampaignResult {
	return CampaignResult{Status: r.state.Status, Posts: r.state.Posts}
}

func (r *campaignRun) begin(ctx workflow.Context, i int) {
	now := workflow.Now(ctx)
	r.state.CurrentStep = r.state.Steps[i].ID
	r.state.Steps[i].Status = StepRunning
	r.state.Steps[i].StartedAt = &now
}

func (r *campaignRun) end(ctx workflow.Context, i int, status, detail string) {
	now := workflow.Now(ctx)
	r.state.Steps[i].Status = status
	r.state.Steps[i].EndedAt = &now
	r.state.Steps[i].Detail = detail
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
	return &StepState{}
}

func (r *campaignRun) runStep(ctx workflow.Context, s *playbooks.Step) error {
	switch {
	case s.Content != nil:
		return r.content(ctx, s)
	case s.Approval != nil:
		return r.approval(ctx, s)
	case s.Publish != nil:
		return r.publish(ctx, s)
	case s.Wait != nil:
		r.setStatus(ctx, StatusWaiting)
		return workflow.NewTimerWithOptions(ctx, s.Wait.For.D(), workflow.TimerOptions{Summary: "wait " + s.ID}).Get(ctx, nil)
	case s.Report != nil:
		return r.report(ctx, s)
	}
	return fmt.Errorf("step %s has no action", s.ID)
}

// targets resolves channel references to the channels given at launch,
// without duplicates, in a stable order.
func (r *campaignRun) targets(refs []string) []playbooks.Target {
	seen := map[string]bool{}
	var out []playbooks.Target
	for _, ref := range refs {
		for _, t := range r.in.Targets[ref] {
			if !seen[t.ID] {
				seen[t.ID] = true
				out = append(out, t)
			}
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out
}

func (r *campaignRun) content(ctx workflow.Context, s *playbooks.Step) error {
	r.setStatus(ctx, StatusDrafting)
	targets := r.targets(s.Content.Channels)
	if len(targets) == 0 {
		return fmt.Errorf("no channel of brand %s matches %s", r.in.Brand, strings.Join(s.Content.Channels, ", "))
	}
	rendered, err := playbooks.Render(s.Content, r.in.Params, targets)
	if err != nil {
		return err
	}
	hash := playbooks.ContentHash(rendered)
	r.state.Content[s.ID] = ContentState{Hash: hash, Rendered: rendered}
	r.stepState(s.ID).Detail = fmt.Sprintf("%d variants, hash %s", len(rendered), hash)
	return nil
}

func (r *campaignRun) approval(ctx workflow.Context, s *playbooks.Step) error {
	cs, ok := r.state.Content[s.Approval.Content]
	if !ok {
		return fmt.Errorf("content %s was not drafted", s.Approval.Content)
	}
	r.waiting, r.pending, r.decided = s, cs.Hash, nil
	defer func() { r.waiting = nil }()
	r.setStatus(ctx, StatusAwaitingApproval)
	cond := func() bool { return r.decided != nil }
	if within := s.Approval.Within.D(); within > 0 {
		ok, err := workflow.AwaitWithOptions(ctx, workflow.AwaitOptions{
			Timeout:      within,
			TimerOptions: workflow.TimerOptions{Summary: fmt.Sprintf("approval %s due in %s", s.ID, within)},
		}, cond)
		if err != nil {
			return err
		}
		if !ok {
			r.stepState(s.ID).Detail = fmt.Sprintf("no decision within %s", within)
			r.setStatus(ctx, StatusExpired)
			return errStop
		}
	} else if err := workflow.Await(ctx, cond); err != nil {
		return err
	}
	d := *r.decided
	r.stepState(s.ID).Detail = fmt.Sprintf("%sd by %s", d.Decision, d.Actor)
	if d.Decision == DecisionReject {
		r.setStatus(ctx, StatusRejected)
		return errStop
	}
	cs.Approved = &d
	r.state.Content[s.Approval.Content] = cs
	return nil
}

// validateApproval accepts or refuses an approval before it enters the
// history. An approval that arrives before the campaign reaches its
// approval step (a fast reviewer right after launch) is accepted and waits
// for the step; one that arrives after the decision is refused.
func (r *campaignRun) validateApproval(ctx workflow.Context, req ApprovalRequest) error {
	if r.decided != nil && r.waiting != nil || r.waiting == nil && !r.approvalAhead() {
		return temporal.NewApplicationError(fmt.Sprintf("campaign %s is not awaiting approval (status %s)", r.in.CampaignID, r.state.Status), ErrNotAwaitingApproval)
	}
	return r.checkApproval(req)
}

// approvalAhead reports whether an approval step has yet to begin.
func (r *campaignRun) approvalAhead() bool {
	for i, s := range r.in.Plan.Steps {
		if s.Approval != nil && r.state.Steps[i].Status == StepPending {
			return true
		}
	}
	return false
}

func (r *campaignRun) checkApproval(req ApprovalRequest) error {
	invalid := func(field, format string, args ...any) error {
		return temporal.NewApplicationError(fmt.Sprintf(format, args...), ErrInvalidApproval, field)
	}
	switch req.Decision {
	case DecisionApprove, DecisionReject:
	default:
		return invalid("decision", "decision must be %q or %q, got %q", DecisionApprove, DecisionReject, req.Decision)
	}
	if strings.TrimSpace(req.Actor) == "" {
		return invalid("actor", "actor is required: who decides")
	}
	if req.Decision == DecisionApprove && r.in.Author != "" && req.Actor == r.in.Author {
		return invalid("actor", "%s wrote this campaign and cannot approve it (four-eyes rule)", req.Actor)
	}
	if r.waiting == nil {
		return nil // checked again when the approval step is reached
	}
	if req.StepID != "" && req.StepID != r.waiting.ID {
		return invalid("step_id", "step %q is not waiting; %q is", req.StepID, r.waiting.ID)
	}
	if req.ContentHash != "" && req.ContentHash != r.pending {
		return invalid("content_hash", "content hash %q does not match the content awaiting approval (%s)", req.ContentHash, r.pending)
	}
	return nil
}

func (r *campaignRun) approve(ctx workflow.Context, req ApprovalRequest) (ApprovalResult, error) {
	if err := workflow.Await(ctx, func() bool { return r.waiting != nil }); err != nil {
		return ApprovalResult{}, err
	}
	if r.decided != nil {
		return ApprovalResult{}, temporal.NewApplicationError(fmt.Sprintf("campaign %s was already decided by %s", r.in.CampaignID, r.decided.Actor), ErrNotAwaitingApproval)
	}
	if err := r.checkApproval(req); err != nil {
		return ApprovalResult{}, err
	}
	res := ApprovalResult{StepID: r.waiting.ID, Decision: req.Decision, Actor: req.Actor, Comment: req.Comment,
		ContentHash: r.pending, At: workflow.Now(ctx)}
	r.decided = &res
	r.state.Approvals = append(r.state.Approvals, res)
	return res, nil
}

// publishAt works out when a publish step fires.
func (r *campaignRun) publishAt(ctx workflow.Context, p *playbooks.PublishStep) (time.Time, error) {
	now := workflow.Now(ctx)
	switch {
	case p.After > 0:
		return now.Add(p.After.D()), nil
	case strings.HasPrefix(p.At, "params."):
		name := strings.TrimPrefix(p.At, "params.")
		if _, set := r.in.Params[name]; !set {
			return now, nil // optional time left out: publish now
		}
		return playbooks.TimeParam(r.in.Params, name)
	case p.At != "":
		return time.Parse(time.RFC3339, p.At)
	}
	return now, nil
}

func (r *campaignRun) publish(ctx workflow.Context, s *playbooks.Step) error {
	p := s.Publish
	cs, ok := r.state.Content[p.Content]
	if !ok {
		return fmt.Errorf("content %s was not drafted", p.Content)
	}
	if r.needsApproval(p.Content) && cs.Approved == nil {
		return fmt.Errorf("content %s is not approved", p.Content)
	}
	at, err := r.publishAt(ctx, p)
	if err != nil {
		return err
	}
	if wait := at.Sub(workflow.Now(ctx)); wait > 0 {
		r.state.ScheduledFor = &at
		r.setStatus(ctx, StatusScheduled)
		if err := workflow.NewTimerWithOptions(ctx, wait, workflow.TimerOptions{
			Summary: fmt.Sprintf("%s scheduled for %s", s.ID, at.UTC().Format(time.RFC3339)),
		}).Get(ctx, nil); err != nil {
			return err
		}
	}
	r.setStatus(ctx, StatusPublishing)

	texts := map[string]playbooks.Rendered{}
	for _, rd := range cs.Rendered {
		texts[rd.ChannelID] = rd
	}
	targets := r.targets(p.Channels)
	if len(targets) == 0 {
		return fmt.Errorf("no channel of brand %s matches %s", r.in.Brand, strings.Join(p.Channels, ", "))
	}
	type pending struct {
		target playbooks.Target
		future workflow.Future
	}
	var started []pending
	for _, t := range targets {
		rd, ok := texts[t.ID]
		if !ok {
			return fmt.Errorf("content %s was not drafted for channel %s", p.Content, t.Name)
		}
		actx := workflow.WithActivityOptions(ctx, workflow.ActivityOptions{
			StartToCloseTimeout:    2 * time.Minute,
			ScheduleToCloseTimeout: 24 * time.Hour,
			Summary:                fmt.Sprintf("publish %s to %s (%s)", s.ID, t.Name, t.Platform),
			RetryPolicy: &temporal.RetryPolicy{
				InitialInterval: 2 * time.Second, BackoffCoefficient: 2, MaximumInterval: 5 * time.Minute,
				NonRetryableErrorTypes: []string{activities.ErrTypePermanent, activities.ErrTypeAuth, activities.ErrTypeNotFound},
			},
		})
		var a *activities.Activities
		f := workflow.ExecuteActivity(actx, a.Publish, activities.PublishInput{
			CampaignID: r.in.CampaignID, StepID: s.ID, ChannelID: t.ID, Text: rd.Text, ContentHash: cs.Hash,
		})
		started = append(started, pending{target: t, future: f})
	}
	var failed []string
	for _, pd := range started {
		var res activities.PublishResult
		if err := pd.future.Get(ctx, &res); err != nil {
			failed = append(failed, pd.target.Name)
			r.state.Errors = append(r.state.Errors, fmt.Sprintf("publish %s to %s: %v", s.ID, pd.target.Name, err))
			continue
		}
		r.state.Posts = append(r.state.Posts, Post{StepID: s.ID, ChannelID: pd.target.ID, Channel: pd.target.Name,
			PostID: res.PostID, URL: res.URL, PublishedAt: res.PublishedAt})
	}
	detail := fmt.Sprintf("%d of %d published", len(targets)-len(failed), len(targets))
	if len(failed) > 0 {
		detail += "; failed: " + strings.Join(failed, ", ")
	}
	r.stepState(s.ID).Detail = detail
	if len(failed) == len(targets) {
		return errors.New(detail)
	}
	return nil
}

// needsApproval reports whether the playbook puts an approval on content.
func (r *campaignRun) needsApproval(contentID string) bool {
	for _, s := range r.in.Plan.Steps {
		if s.Approval != nil && s.Approval.Content == contentID {
			return true
		}
	}
	return false
}

func (r *campaignRun) report(ctx workflow.Context, s *playbooks.Step) error {
	r.setStatus(ctx, StatusReporting)
	actx := workflow.WithActivityOptions(ctx, workflow.ActivityOptions{
		StartToCloseTimeout:    time.Minute,
		ScheduleToCloseTimeout: time.Hour,
		Summary:                "report " + s.ID,
	})
	var a *activities.Activities
	var rep activities.Report
	if err := workflow.ExecuteActivity(actx, a.BuildReport, activities.ReportInput{
		CampaignID: r.in.CampaignID, Brand: r.in.Brand, Playbook: r.in.Plan.Name,
	}).Get(ctx, &rep); err != nil {
		return err
	}
	r.state.Report = &rep
	r.stepState(s.ID).Detail = fmt.Sprintf("%d posts, %d impressions", len(rep.Posts), rep.Impressions)
	return nil
}
