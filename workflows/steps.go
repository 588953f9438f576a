package workflows

import (
	"fmt"
	"strings"
	"text/template"
	"time"

	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/workflow"

	"github.com/cmo-dev/cmo/activities"
	"github.com/cmo-dev/cmo/platforms"
	"github.com/cmo-dev/cmo/playbooks"
	"github.com/cmo-dev/cmo/rules"
)

// acts is how workflow code names activities: a nil pointer whose methods
// are only used for their names and types.
var acts *activities.Activities

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

func (r *campaignRun) check(ctx workflow.Context, s *playbooks.Step) error {
	ck := s.Check
	cs, ok := r.state.Content[ck.Content]
	if !ok {
		return fmt.Errorf("content %s was not drafted", ck.Content)
	}
	actx := workflow.WithActivityOptions(ctx, workflow.ActivityOptions{
		StartToCloseTimeout: time.Minute,
		Summary:             fmt.Sprintf("check %s (%d channels)", ck.Content, len(cs.Rendered)),
	})
	var findings []activities.Finding
	if err := workflow.ExecuteActivity(actx, acts.CheckContent, activities.CheckInput{
		Rendered: cs.Rendered, Media: len(r.in.Plan.StepByID(ck.Content).Content.Media),
		Languages: ck.Languages, Required: ck.Required, Banned: ck.Banned,
		RequireLink: ck.RequireLink, Accept: ck.Accept, Spelling: ck.Spelling,
	}).Get(ctx, &findings); err != nil {
		return err
	}
	r.state.Findings = append(r.state.Findings, findings...)
	blocking := 0
	for _, f := range findings {
		if f.Severity == "block" {
			blocking++
		}
	}
	r.results[s.ID] = rules.StepResult{Findings: len(findings)}
	r.stepState(s.ID).Detail = fmt.Sprintf("%d findings, %d blocking", len(findings), blocking)
	if blocking > 0 {
		r.setStatus(ctx, StatusBlocked)
		return errStop
	}
	return nil
}

func (r *campaignRun) approval(ctx workflow.Context, s *playbooks.Step) error {
	a := s.Approval
	cs, ok := r.state.Content[a.Content]
	if !ok {
		return fmt.Errorf("content %s was not drafted", a.Content)
	}
	r.waiting, r.pending, r.decided, r.escalated = s, cs.Hash, nil, ""
	defer func() { r.waiting = nil }()
	r.setStatus(ctx, StatusAwaitingApproval)
	cond := func() bool { return r.decided != nil }
	reminders := 0
	for r.decided == nil {
		within := a.Within.D()
		if within <= 0 {
			if err := workflow.Await(ctx, cond); err != nil {
				return err
			}
			break
		}
		ok, err := workflow.AwaitWithOptions(ctx, workflow.AwaitOptions{
			Timeout:      within,
			TimerOptions: workflow.TimerOptions{Summary: fmt.Sprintf("approval %s due in %s", s.ID, within)},
		}, cond)
		if err != nil {
			return err
		}
		if ok {
			break
		}
		switch {
		case a.OnTimeout == playbooks.OnTimeoutRemind && reminders < a.Reminders:
			reminders++
			if err := r.send(ctx, s.ID, []string{"role:" + a.Role},
				fmt.Sprintf("Reminder %d of %d: %s is waiting for your approval (%s).", reminders, a.Reminders, r.in.Plan.DisplayTitle(), s.ID)); err != nil {
				return err
			}
		case a.OnTimeout == playbooks.OnTimeoutEscalate && r.escalated == "":
			r.escalated = a.EscalateTo
			r.stepState(s.ID).Detail = "escalated to " + a.EscalateTo
			if err := r.send(ctx, s.ID, []string{"role:" + a.EscalateTo},
				fmt.Sprintf("Escalated: %s has waited %s for approval (%s).", r.in.Plan.DisplayTitle(), within, s.ID)); err != nil {
				return err
			}
		case a.OnTimeout == playbooks.OnTimeoutFallback:
			r.substitute[a.Content] = a.Fallback
			r.stepState(s.ID).Detail = fmt.Sprintf("no decision within %s: publishing pre-approved %s instead", within, a.Fallback)
			r.results[s.ID] = rules.StepResult{Decision: "fallback"}
			return nil
		default:
			r.stepState(s.ID).Detail = fmt.Sprintf("no decision within %s", within)
			r.setStatus(ctx, StatusExpired)
			return errStop
		}
	}
	d := *r.decided
	r.stepState(s.ID).Detail = fmt.Sprintf("%s by %s", pastTense(d.Decision), d.Actor)
	r.results[s.ID] = rules.StepResult{Decision: d.Decision, Actor: d.Actor}
	if d.Decision == DecisionReject {
		r.setStatus(ctx, StatusRejected)
		return errStop
	}
	cs.Approved = &d
	r.state.Content[a.Content] = cs
	return nil
}

// pastTense says what a decision did, for step details.
func pastTense(decision string) string {
	if decision == DecisionReject {
		return "rejected"
	}
	return decision + "d"
}

// validateApproval accepts or refuses an approval before it enters the
// history. An approval that arrives before the campaign reaches its
// approval step (a fast reviewer right after launch) is accepted and waits
// for the step; one that arrives after the decision is refused.
func (r *campaignRun) validateApproval(ctx workflow.Context, req ApprovalRequest) error {
	if r.waiting == nil && !(r.booting && r.firstApprovalUnconditional()) || r.waiting != nil && r.decided != nil {
		return temporal.NewApplicationError(fmt.Sprintf("campaign %s is not awaiting approval (status %s)", r.in.CampaignID, r.state.Status), ErrNotAwaitingApproval)
	}
	return r.checkApproval(req)
}

// firstApprovalUnconditional reports whether the plan's first approval is
// a top-level step with no condition, so an approval sent before the run
// starts can only be meant for it.
func (r *campaignRun) firstApprovalUnconditional() bool {
	for _, s := range r.in.Plan.Steps {
		if !s.When.IsZero() || s.Parallel != nil || s.Repeat != nil || s.Sequence != nil {
			return false
		}
		if s.Approval != nil {
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
	fourEyes := r.waiting == nil || r.waiting.Approval.RequiresFourEyes()
	if fourEyes && req.Decision == DecisionApprove && r.in.Author != "" && req.Actor == r.in.Author {
		return invalid("actor", "%s wrote this campaign and cannot approve it (four-eyes rule)", req.Actor)
	}
	if r.waiting == nil {
		return nil // checked again when the approval step is reached
	}
	if req.Role != "" && r.waiting.Approval.Role != "" && req.Role != r.waiting.Approval.Role && req.Role != r.escalated {
		return invalid("role", "this approval needs role %s, not %s", r.waiting.Approval.Role, req.Role)
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
	if err := workflow.Await(ctx, func() bool { return r.waiting != nil || r.done }); err != nil {
		return ApprovalResult{}, err
	}
	if r.waiting == nil {
		return ApprovalResult{}, temporal.NewApplicationError(fmt.Sprintf("campaign %s ended before its approval step (status %s)", r.in.CampaignID, r.state.Status), ErrNotAwaitingApproval)
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

// needsApproval reports whether the playbook puts an approval on content.
func (r *campaignRun) needsApproval(contentID string) bool {
	needs := false
	r.in.Plan.Walk(func(s *playbooks.Step) {
		if s.Approval != nil && s.Approval.Content == contentID {
			needs = true
		}
	})
	return needs
}

func (r *campaignRun) publish(ctx workflow.Context, s *playbooks.Step) error {
	p := s.Publish
	contentID := p.Content
	if sub, ok := r.substitute[contentID]; ok {
		contentID = sub
	} else if cs, ok := r.state.Content[contentID]; ok && r.needsApproval(contentID) && cs.Approved == nil {
		return fmt.Errorf("content %s is not approved", contentID)
	}
	cs, ok := r.state.Content[contentID]
	if !ok {
		return fmt.Errorf("content %s was not drafted", contentID)
	}
	at := workflow.Now(ctx)
	if t, ok := r.in.Times[s.ID]; ok {
		at = t
	} else if p.After > 0 {
		at = at.Add(p.After.D())
	}
	if r.tracking {
		r.scheduleCalendar(ctx, s, at, cs)
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

	// At the publish point, a crisis's freeze may hold the post (or its
	// posts to some channels). Runs that started before this check
	// existed publish without asking, as they did when recorded.
	targets := r.targets(p.Channels)
	var held []playbooks.Target
	var frozen activities.FreezeState
	if len(targets) > 0 && workflow.GetVersion(ctx, changeContentFreeze, workflow.DefaultVersion, 1) >= 1 {
		var err error
		if frozen, err = r.freezeStatus(ctx, s, targets); err != nil {
			return err
		}
		held = heldTargets(targets, frozen)
	}
	free := withoutTargets(targets, held)
	if len(free) > 0 || len(held) == 0 {
		r.setStatus(ctx, StatusPublishing)
	}

	texts := map[string]playbooks.Rendered{}
	for _, rd := range cs.Rendered {
		texts[rd.ChannelID] = rd
	}
	if len(targets) == 0 {
		return fmt.Errorf("no channel of brand %s matches %s", r.in.Brand, strings.Join(p.Channels, ", "))
	}
	key := r.runKey(s.ID)
	out, err := r.publishTo(ctx, key, contentID, cs.Hash, texts, free)
	if err != nil {
		return err
	}
	var heldErr error
	if len(held) > 0 {
		var release []playbooks.Target
		release, heldErr = r.afterFreeze(ctx, s, at, contentID, held, frozen)
		if len(release) > 0 {
			r.setStatus(ctx, StatusPublishing)
			more, err := r.publishTo(ctx, key, contentID, cs.Hash, texts, release)
			if err != nil {
				return err
			}
			out.published += more.published
			out.failed = append(out.failed, more.failed...)
		}
	}
	var dropped []string
	for _, d := range r.state.Dropped {
		if d.StepID == key {
			dropped = append(dropped, d.Channel)
		}
	}
	detail := fmt.Sprintf("%d of %d published", out.published, len(targets))
	if len(out.failed) > 0 {
		detail += "; failed: " + strings.Join(out.failed, ", ")
	}
	if len(dropped) > 0 {
		detail += "; dropped after the freeze: " + strings.Join(dropped, ", ")
	}
	r.stepState(s.ID).Detail = detail
	r.results[s.ID] = rules.StepResult{Posts: out.published}
	if out.published > 0 {
		r.tellCollector(ctx, MetricsPublished)
	}
	if heldErr != nil {
		return heldErr
	}
	if out.published == 0 && len(dropped) == 0 {
		return fmt.Errorf("%s", detail)
	}
	return nil
}

// publishOutcome counts what one round of publishing did.
type publishOutcome struct {
	published int
	failed    []string
}

// publishTo publishes the content to the targets at once, one activity
// per channel, and records the posts.
func (r *campaignRun) publishTo(ctx workflow.Context, key, contentID, hash string, texts map[string]playbooks.Rendered, targets []playbooks.Target) (publishOutcome, error) {
	type pending struct {
		target playbooks.Target
		future workflow.Future
	}
	var started []pending
	for _, t := range targets {
		rd, ok := texts[t.ID]
		if !ok {
			return publishOutcome{}, fmt.Errorf("content %s was not drafted for channel %s", contentID, t.Name)
		}
		actx := workflow.WithActivityOptions(ctx, workflow.ActivityOptions{
			StartToCloseTimeout:    2 * time.Minute,
			ScheduleToCloseTimeout: 24 * time.Hour,
			// The activity heartbeats every 2 s: a worker that dies mid-call
			// is replaced within seconds.
			HeartbeatTimeout: 10 * time.Second,
			Summary:          fmt.Sprintf("publish %s to %s (%s)", key, t.Name, t.Platform),
			RetryPolicy: &temporal.RetryPolicy{
				InitialInterval: 2 * time.Second, BackoffCoefficient: 2, MaximumInterval: 5 * time.Minute,
				NonRetryableErrorTypes: []string{activities.ErrTypePermanent, activities.ErrTypeAuth, activities.ErrTypeNotFound},
			},
		})
		var media []platforms.Media
		for _, m := range rd.Media {
			media = append(media, platforms.Media{URL: m.URL, Alt: m.Alt})
		}
		f := workflow.ExecuteActivity(actx, acts.Publish, activities.PublishInput{
			CampaignID: r.in.CampaignID, StepID: key, ChannelID: t.ID, Text: rd.Text, ContentHash: hash, Media: media,
			TrackLinks: r.tracking,
		})
		started = append(started, pending{target: t, future: f})
	}
	var out publishOutcome
	for _, pd := range started {
		var res activities.PublishResult
		if err := pd.future.Get(ctx, &res); err != nil {
			out.failed = append(out.failed, pd.target.Name)
			r.state.Errors = append(r.state.Errors, fmt.Sprintf("publish %s to %s: %v", key, pd.target.Name, err))
			continue
		}
		out.published++
		r.state.Posts = append(r.state.Posts, Post{StepID: key, ChannelID: pd.target.ID, Channel: pd.target.Name,
			PostID: res.PostID, URL: res.URL, PublishedAt: res.PublishedAt})
	}
	return out, nil
}

func (r *campaignRun) wait(ctx workflow.Context, s *playbooks.Step) error {
	w := s.Wait
	switch {
	case w.For > 0:
		r.setStatus(ctx, StatusWaiting)
		return workflow.NewTimerWithOptions(ctx, w.For.D(), workflow.TimerOptions{Summary: fmt.Sprintf("wait %s for %s", s.ID, w.For)}).Get(ctx, nil)
	case w.Until != "":
		at, ok := r.in.Times[s.ID]
		if d := at.Sub(workflow.Now(ctx)); ok && d > 0 {
			r.setStatus(ctx, StatusWaiting)
			return workflow.NewTimerWithOptions(ctx, d, workflow.TimerOptions{Summary: fmt.Sprintf("wait %s until %s", s.ID, at.UTC().Format(time.RFC3339))}).Get(ctx, nil)
		}
		return nil
	}
	// A rule: check it now and on every tick, with fresh metrics when
	// something was published, until it holds or the timeout passes.
	r.setStatus(ctx, StatusWaiting)
	deadline := workflow.Now(ctx).Add(w.Timeout.D())
	for checks := 1; ; checks++ {
		if len(r.state.Posts) > 0 {
			if err := r.collectKPI(ctx, "for "+s.ID); err != nil {
				return err
			}
		}
		ok, err := r.holds(ctx, w.Rule)
		if err != nil {
			return err
		}
		if ok {
			r.stepState(s.ID).Detail = fmt.Sprintf("rule held after %d checks", checks)
			return nil
		}
		if !workflow.Now(ctx).Before(deadline) {
			r.stepState(s.ID).Detail = fmt.Sprintf("rule still false after %s; going on", w.Timeout)
			r.results[s.ID] = rules.StepResult{Decision: "timeout"}
			return nil
		}
		tick := min(w.Every.D(), deadline.Sub(workflow.Now(ctx)))
		if err := workflow.NewTimerWithOptions(ctx, tick, workflow.TimerOptions{Summary: fmt.Sprintf("check %s again", s.ID)}).Get(ctx, nil); err != nil {
			return err
		}
	}
}

func (r *campaignRun) collectKPI(ctx workflow.Context, why string) error {
	return r.collectFor(ctx, why, "")
}

// collectFor reads metrics of the campaign's posts, or of one publish
// step's posts (all its repeat runs) when publishStep is set.
func (r *campaignRun) collectFor(ctx workflow.Context, why, publishStep string) error {
	actx := workflow.WithActivityOptions(ctx, workflow.ActivityOptions{
		StartToCloseTimeout: time.Minute, ScheduleToCloseTimeout: time.Hour, Summary: "collect metrics " + why,
	})
	var kpi rules.KPI
	if err := workflow.ExecuteActivity(actx, acts.CollectMetrics, activities.CollectInput{
		CampaignID: r.in.CampaignID, PublishStep: publishStep, Channels: r.channels,
	}).Get(ctx, &kpi); err != nil {
		return err
	}
	r.state.KPI = kpi
	return nil
}

func (r *campaignRun) collect(ctx workflow.Context, s *playbooks.Step) error {
	if err := r.collectFor(ctx, "("+s.ID+")", s.Collect.Publish); err != nil {
		return err
	}
	r.stepState(s.ID).Detail = fmt.Sprintf("%d posts, %d impressions, engagement rate %.4f", r.state.KPI.Posts, r.state.KPI.Impressions, r.state.KPI.EngagementRate)
	return nil
}

func (r *campaignRun) notify(ctx workflow.Context, s *playbooks.Step) error {
	tpl, err := template.New("message").Option("missingkey=error").Parse(s.Notify.Message)
	if err != nil {
		return err
	}
	var b strings.Builder
	if err := tpl.Execute(&b, r.in.Params); err != nil {
		return fmt.Errorf("render message: %w", err)
	}
	return r.send(ctx, s.ID, s.Notify.To, b.String())
}

func (r *campaignRun) send(ctx workflow.Context, stepID string, to []string, msg string) error {
	actx := workflow.WithActivityOptions(ctx, workflow.ActivityOptions{
		StartToCloseTimeout: time.Minute, ScheduleToCloseTimeout: 24 * time.Hour,
		Summary: fmt.Sprintf("notify %s", strings.Join(to, ", ")),
	})
	return workflow.ExecuteActivity(actx, acts.Notify, activities.NotifyInput{
		CampaignID: r.in.CampaignID, Brand: r.in.Brand, StepID: r.runKey(stepID), To: to, Message: msg,
	}).Get(ctx, nil)
}

func (r *campaignRun) report(ctx workflow.Context, s *playbooks.Step) error {
	r.setStatus(ctx, StatusReporting)
	goals := map[string]string{}
	for name, g := range r.in.Plan.Goals {
		goals[name] = g.Src
	}
	actx := workflow.WithActivityOptions(ctx, workflow.ActivityOptions{
		StartToCloseTimeout:    time.Minute,
		ScheduleToCloseTimeout: time.Hour,
		Summary:                "build report (" + s.ID + ")",
	})
	var rep activities.Report
	if err := workflow.ExecuteActivity(actx, acts.BuildReport, activities.ReportInput{
		CampaignID: r.in.CampaignID, Brand: r.in.Brand, Playbook: r.in.Plan.Name, Title: r.in.Plan.DisplayTitle(),
		Goals: goals, Channels: r.channels, Env: r.env(ctx),
	}).Get(ctx, &rep); err != nil {
		return err
	}
	r.state.Report = &rep
	r.state.KPI = rep.KPI
	r.state.Goals = rep.Goals
	detail := fmt.Sprintf("%d posts, %d impressions", len(rep.Posts), rep.Impressions)
	if len(goals) > 0 {
		met := 0
		for _, ok := range rep.Goals {
			if ok {
				met++
			}
		}
		detail += fmt.Sprintf(", %d of %d goals met", met, len(goals))
	}
	r.stepState(s.ID).Detail = detail
	return nil
}

func (r *campaignRun) parallel(ctx workflow.Context, s *playbooks.Step) error {
	wg := workflow.NewWaitGroup(ctx)
	errs := make([]error, len(s.Parallel))
	for i := range s.Parallel {
		branch := &s.Parallel[i]
		wg.Add(1)
		workflow.Go(ctx, func(ctx workflow.Context) {
			defer wg.Done()
			errs[i] = r.runStep(ctx, branch)
		})
	}
	wg.Wait(ctx)
	for _, err := range errs {
		if err != nil {
			return err
		}
	}
	return nil
}

func (r *campaignRun) repeat(ctx workflow.Context, s *playbooks.Step) error {
	rp := s.Repeat
	outer := r.iteration
	defer func() { r.iteration = outer }()
	for i := 1; i <= rp.Max; i++ {
		r.iteration = i
		if err := r.runSteps(ctx, rp.Steps); err != nil {
			return err
		}
		done, err := r.holds(ctx, rp.Until)
		if err != nil {
			return err
		}
		if done {
			r.stepState(s.ID).Detail = fmt.Sprintf("until held after %d runs", i)
			return nil
		}
		if rp.Every > 0 && i < rp.Max {
			if err := workflow.NewTimerWithOptions(ctx, rp.Every.D(), workflow.TimerOptions{Summary: fmt.Sprintf("%s: run %d in %s", s.ID, i+1, rp.Every)}).Get(ctx, nil); err != nil {
				return err
			}
		}
	}
	r.stepState(s.ID).Detail = fmt.Sprintf("stopped after %d runs (max); until never held", rp.Max)
	return nil
}
