package workflows

import (
	"fmt"
	"slices"
	"strings"
	"text/template"
	"time"

	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/workflow"

	"github.com/cmo-dev/cmo/activities"
	"github.com/cmo-dev/cmo/playbooks"
	"github.com/cmo-dev/cmo/rules"
)

// Names clients use to talk to a crisis workflow.
const (
	CrisisWorkflow           = "Crisis"
	SignalWindow             = "window"
	UpdateAck                = "ack"
	UpdateStatementApproval  = "statement-approval"
	UpdateResolve            = "resolve"
	ErrCrisisClosed          = "CrisisClosed"
	ErrAlreadyAcknowledged   = "AlreadyAcknowledged"
	crisisStatementStep      = "statement"
	crisisStatusOpen         = "open"
	crisisStatusAcknowledged = "acknowledged"
	crisisStatusResolved     = "resolved"
)

// CrisisInput starts a crisis: the playbook, the brand's channels for the
// statement, and the window that triggered detection.
type CrisisInput struct {
	CrisisID string          `json:"crisis_id"`
	Brand    string          `json:"brand"`
	Plan     *playbooks.Plan `json:"plan"`
	// Scope is the window the detection held on: the brand's own
	// mentions, a topic or a competitor.
	Scope   string                        `json:"scope,omitempty"`
	Window  rules.Window                  `json:"window"`
	Targets map[string][]playbooks.Target `json:"targets"`
}

// CrisisState is the crisis as the API shows it.
type CrisisState struct {
	CrisisID     string           `json:"id"`
	Brand        string           `json:"brand"`
	Playbook     string           `json:"playbook"`
	Status       string           `json:"status"`
	Severity     string           `json:"severity"`
	Severities   []SeverityChange `json:"severity_changes"`
	Window       rules.Window     `json:"window"`
	Pages        []Page           `json:"pages"`
	AckedBy      string           `json:"acknowledged_by,omitempty"`
	AckedAt      *time.Time       `json:"acknowledged_at,omitempty"`
	Frozen       bool             `json:"frozen"`
	Statement    string           `json:"statement,omitempty"`
	StatementBy  string           `json:"statement_approved_by,omitempty"`
	Posts        []Post           `json:"posts"`
	ResolvedAt   *time.Time       `json:"resolved_at,omitempty"`
	ResolvedBy   string           `json:"resolved_by,omitempty"`
	ResolveNotes string           `json:"resolve_notes,omitempty"`
}

// SeverityChange records a severity and the values that caused it.
type SeverityChange struct {
	Level  string       `json:"level"`
	At     time.Time    `json:"at"`
	Window rules.Window `json:"window"`
}

// Page is one escalation notification.
type Page struct {
	Tier    int       `json:"tier"`
	Round   int       `json:"round"`
	Targets []string  `json:"targets"`
	At      time.Time `json:"at"`
}

// AckRequest acknowledges a crisis page.
type AckRequest struct {
	Actor string `json:"actor"`
}

// ResolveRequest closes a crisis by hand.
type ResolveRequest struct {
	Actor  string `json:"actor"`
	Reason string `json:"reason"`
}

// Crisis runs a crisis playbook: severity from its rules, escalation tier
// by tier until someone acknowledges, freeze while the rule holds, an
// approved holding statement, and resolution once the resolve rule has
// held for its hold period.
func Crisis(ctx workflow.Context, in CrisisInput) (CrisisState, error) {
	if in.Plan == nil || in.Plan.Kind != playbooks.KindCrisis {
		return CrisisState{}, temporal.NewNonRetryableApplicationError("crisis input needs a Crisis plan", "BadInput", nil)
	}
	c := &crisisRun{in: in, wake: workflow.NewBufferedChannel(ctx, 1), state: CrisisState{CrisisID: in.CrisisID, Brand: in.Brand, Playbook: in.Plan.Name,
		Status: crisisStatusOpen, Pages: []Page{}, Posts: []Post{}, Severities: []SeverityChange{}}}
	if err := workflow.SetQueryHandler(ctx, QueryState, func() (CrisisState, error) { return c.state, nil }); err != nil {
		return CrisisState{}, err
	}
	if err := workflow.SetUpdateHandlerWithOptions(ctx, UpdateAck, c.ack, workflow.UpdateHandlerOptions{Validator: c.validateAck}); err != nil {
		return CrisisState{}, err
	}
	if err := workflow.SetUpdateHandlerWithOptions(ctx, UpdateStatementApproval, c.approveStatement,
		workflow.UpdateHandlerOptions{Validator: c.validateStatementApproval}); err != nil {
		return CrisisState{}, err
	}
	if err := workflow.SetUpdateHandlerWithOptions(ctx, UpdateResolve, c.resolveByHand, workflow.UpdateHandlerOptions{Validator: c.validateResolve}); err != nil {
		return CrisisState{}, err
	}
	return c.run(ctx)
}

type crisisRun struct {
	in       CrisisInput
	state    CrisisState
	resolved bool
	// wake interrupts the watch loop when the crisis is resolved by hand.
	wake workflow.Channel
	// statement approval
	waiting  bool
	decided  *ApprovalResult
	escalate string
}

func (c *crisisRun) run(ctx workflow.Context) (CrisisState, error) {
	c.observe(ctx, c.in.Window)
	windows := workflow.GetSignalChannel(ctx, SignalWindow)

	workflow.Go(ctx, c.escalation)
	if c.in.Plan.Statement != nil {
		workflow.Go(ctx, c.statement)
	}

	// Watch the window until the resolve rule has held for its hold
	// period (or someone resolves by hand).
	r := c.in.Plan.Resolve
	var holdCancel workflow.CancelFunc
	var holdTimer workflow.Future
	for !c.resolved {
		sel := workflow.NewSelector(ctx)
		sel.AddReceive(windows, func(ch workflow.ReceiveChannel, _ bool) {
			var w rules.Window
			ch.Receive(ctx, &w)
			c.observe(ctx, w)
		})
		if holdTimer != nil {
			sel.AddFuture(holdTimer, func(f workflow.Future) {
				if f.Get(ctx, nil) == nil {
					c.resolve(ctx, "", fmt.Sprintf("%s held for %s", r.When.Src, r.Hold))
				}
			})
		}
		sel.AddReceive(c.wake, func(ch workflow.ReceiveChannel, _ bool) { ch.Receive(ctx, nil) })
		sel.Select(ctx)
		if c.resolved {
			break
		}
		holds, err := rules.Eval(r.When.Src, rules.Crisis, rules.WindowEnv{Window: c.state.Window})
		if err != nil {
			return c.state, err
		}
		switch {
		case holds && holdTimer == nil && !c.resolved:
			tctx, cancel := workflow.WithCancel(ctx)
			holdCancel = cancel
			holdTimer = workflow.NewTimerWithOptions(tctx, r.Hold.D(), workflow.TimerOptions{Summary: "resolve once calm for " + r.Hold.String()})
		case !holds && holdTimer != nil:
			holdCancel()
			holdTimer, holdCancel = nil, nil
		}
	}
	if holdCancel != nil {
		holdCancel()
	}
	if c.state.Frozen {
		c.state.Frozen = false
		if err := c.send(ctx, "unfreeze", c.allTargets(), fmt.Sprintf("Crisis %s is resolved: scheduled posts resume.", c.in.CrisisID)); err != nil {
			return c.state, err
		}
	}
	if err := c.send(ctx, "all-clear", c.allTargets(), fmt.Sprintf("All clear: crisis %s (%s) is resolved.", c.in.CrisisID, c.in.Plan.DisplayTitle())); err != nil {
		return c.state, err
	}
	_ = workflow.Await(ctx, func() bool { return workflow.AllHandlersFinished(ctx) })
	return c.state, nil
}

// observe takes a new window: severity may rise (never fall on its own),
// and the freeze rule is checked against it.
func (c *crisisRun) observe(ctx workflow.Context, w rules.Window) {
	c.state.Window = w
	level := "low"
	for _, rule := range c.in.Plan.Severity {
		if ok, err := rules.Eval(rule.When.Src, rules.Crisis, rules.WindowEnv{Window: w}); err == nil && ok {
			level = rule.Level
			break
		}
	}
	if rank(level) > rank(c.state.Severity) {
		c.state.Severity = level
		c.state.Severities = append(c.state.Severities, SeverityChange{Level: level, At: workflow.Now(ctx), Window: w})
		_ = workflow.UpsertTypedSearchAttributes(ctx, SASeverity.ValueSet(level))
	}
	if fz := c.in.Plan.Freeze; fz != nil && !c.state.Frozen && !c.resolved {
		if ok, err := rules.Eval(fz.When.Src, rules.Freeze, rules.FreezeEnv{Window: w, Severity: c.state.Severity}); err == nil && ok {
			c.state.Frozen = true
			workflow.Go(ctx, func(ctx workflow.Context) {
				_ = c.send(ctx, "freeze", c.allTargets(), fmt.Sprintf("Freeze (%s scope) for crisis %s: scheduled posts are held.", fz.Scope, c.in.CrisisID))
			})
		}
	}
}

func rank(level string) int { return slices.Index(playbooks.SeverityLevels, level) }

// escalation pages tier after tier until someone acknowledges; the last
// tier is paged again Repeat times.
func (c *crisisRun) escalation(ctx workflow.Context) {
	tiers := c.in.Plan.Escalation
	for i, t := range tiers {
		rounds := 1
		if i == len(tiers)-1 {
			rounds += t.Repeat
		}
		for round := 1; round <= rounds; round++ {
			if c.state.AckedBy != "" || c.resolved {
				return
			}
			c.state.Pages = append(c.state.Pages, Page{Tier: i + 1, Round: round, Targets: t.Notify, At: workflow.Now(ctx)})
			msg := fmt.Sprintf("[%s] %s for %s: %d mentions, %.0f%% negative. Acknowledge crisis %s.",
				strings.ToUpper(c.state.Severity), c.in.Plan.DisplayTitle(), c.in.Brand, c.state.Window.Mentions, 100*c.state.Window.NegativeRatio, c.in.CrisisID)
			if err := c.send(ctx, fmt.Sprintf("page-%d-%d", i+1, round), t.Notify, msg); err != nil {
				workflow.GetLogger(ctx).Error("page", "error", err)
			}
			_, _ = workflow.AwaitWithOptions(ctx, workflow.AwaitOptions{Timeout: t.AckWithin.D(),
				TimerOptions: workflow.TimerOptions{Summary: fmt.Sprintf("tier %d ack within %s", i+1, t.AckWithin)}},
				func() bool { return c.state.AckedBy != "" || c.resolved })
		}
	}
}

func (c *crisisRun) validateAck(ctx workflow.Context, req AckRequest) error {
	if c.resolved {
		return temporal.NewApplicationError("crisis "+c.in.CrisisID+" is resolved", ErrCrisisClosed)
	}
	if strings.TrimSpace(req.Actor) == "" {
		return temporal.NewApplicationError("actor is required: who acknowledges", ErrInvalidApproval, "actor")
	}
	if c.state.AckedBy != "" {
		return temporal.NewApplicationError("already acknowledged by "+c.state.AckedBy, ErrAlreadyAcknowledged)
	}
	return nil
}

func (c *crisisRun) ack(ctx workflow.Context, req AckRequest) (CrisisState, error) {
	now := workflow.Now(ctx)
	c.state.AckedBy, c.state.AckedAt, c.state.Status = req.Actor, &now, crisisStatusAcknowledged
	_ = workflow.UpsertTypedSearchAttributes(ctx, SAStatus.ValueSet(crisisStatusAcknowledged))
	return c.state, nil
}

// statement gets the holding statement approved, or falls back to the
// pre-approved text, and publishes it.
func (c *crisisRun) statement(ctx workflow.Context) {
	st := c.in.Plan.Statement
	text, err := c.render(st.Template)
	if err != nil {
		workflow.GetLogger(ctx).Error("render statement", "error", err)
		return
	}
	c.state.Statement = text
	if a := st.Approval; a != nil {
		c.waiting = true
		cond := func() bool { return c.decided != nil || c.resolved }
		escalated := false
		for !cond() {
			ok, _ := workflow.AwaitWithOptions(ctx, workflow.AwaitOptions{Timeout: a.Within.D(),
				TimerOptions: workflow.TimerOptions{Summary: "statement approval within " + a.Within.String()}}, cond)
			if ok || a.Within <= 0 {
				break
			}
			switch {
			case a.OnTimeout == playbooks.OnTimeoutFallback && st.Fallback != "":
				c.decided = &ApprovalResult{Decision: "fallback", Actor: "pre-approved", At: workflow.Now(ctx)}
				c.state.Statement = strings.TrimSpace(st.Fallback)
			case a.OnTimeout == playbooks.OnTimeoutEscalate && !escalated && a.EscalateTo != "":
				escalated, c.escalate = true, a.EscalateTo
				_ = c.send(ctx, "statement-escalated", []string{"role:" + a.EscalateTo}, "The holding statement for crisis "+c.in.CrisisID+" is waiting for approval.")
			case a.OnTimeout == playbooks.OnTimeoutCancel:
				c.waiting = false
				return
			default:
				_ = workflow.Await(ctx, cond) // a crisis statement is never dropped silently
			}
		}
		c.waiting = false
		if c.decided == nil || c.decided.Decision == DecisionReject {
			return
		}
		c.state.StatementBy = c.decided.Actor
	}
	for _, t := range c.statementTargets() {
		actx := workflow.WithActivityOptions(ctx, workflow.ActivityOptions{
			StartToCloseTimeout: 2 * time.Minute, ScheduleToCloseTimeout: 24 * time.Hour, HeartbeatTimeout: 10 * time.Second,
			Summary: "publish holding statement to " + t.Name,
			RetryPolicy: &temporal.RetryPolicy{InitialInterval: 2 * time.Second, MaximumInterval: 5 * time.Minute,
				NonRetryableErrorTypes: []string{activities.ErrTypePermanent, activities.ErrTypeAuth, activities.ErrTypeNotFound}},
		})
		var res activities.PublishResult
		if err := workflow.ExecuteActivity(actx, acts.Publish, activities.PublishInput{
			CampaignID: c.in.CrisisID, StepID: crisisStatementStep, ChannelID: t.ID, Text: c.state.Statement, ContentHash: "statement",
		}).Get(ctx, &res); err != nil {
			workflow.GetLogger(ctx).Error("publish statement", "channel", t.Name, "error", err)
			continue
		}
		c.state.Posts = append(c.state.Posts, Post{StepID: crisisStatementStep, ChannelID: t.ID, Channel: t.Name, PostID: res.PostID, URL: res.URL, PublishedAt: res.PublishedAt})
	}
}

func (c *crisisRun) validateStatementApproval(ctx workflow.Context, req ApprovalRequest) error {
	if !c.waiting || c.decided != nil {
		return temporal.NewApplicationError("no holding statement is waiting for approval", ErrNotAwaitingApproval)
	}
	if req.Decision != DecisionApprove && req.Decision != DecisionReject {
		return temporal.NewApplicationError(fmt.Sprintf("decision must be %q or %q", DecisionApprove, DecisionReject), ErrInvalidApproval, "decision")
	}
	if strings.TrimSpace(req.Actor) == "" {
		return temporal.NewApplicationError("actor is required: who decides", ErrInvalidApproval, "actor")
	}
	if a := c.in.Plan.Statement.Approval; req.Role != "" && a.Role != "" && req.Role != a.Role && req.Role != c.escalate {
		return temporal.NewApplicationError("this approval needs role "+a.Role, ErrInvalidApproval, "role")
	}
	return nil
}

func (c *crisisRun) approveStatement(ctx workflow.Context, req ApprovalRequest) (ApprovalResult, error) {
	res := ApprovalResult{StepID: crisisStatementStep, Decision: req.Decision, Actor: req.Actor, Comment: req.Comment, At: workflow.Now(ctx)}
	c.decided = &res
	return res, nil
}

func (c *crisisRun) validateResolve(ctx workflow.Context, req ResolveRequest) error {
	if c.resolved {
		return temporal.NewApplicationError("crisis "+c.in.CrisisID+" is already resolved", ErrCrisisClosed)
	}
	if strings.TrimSpace(req.Actor) == "" || strings.TrimSpace(req.Reason) == "" {
		return temporal.NewApplicationError("actor and reason are required to resolve by hand", ErrInvalidApproval, "reason")
	}
	return nil
}

func (c *crisisRun) resolveByHand(ctx workflow.Context, req ResolveRequest) (CrisisState, error) {
	c.resolve(ctx, req.Actor, req.Reason)
	return c.state, nil
}

func (c *crisisRun) resolve(ctx workflow.Context, actor, why string) {
	now := workflow.Now(ctx)
	c.resolved = true
	c.wake.SendAsync(true)
	c.state.Status, c.state.ResolvedAt, c.state.ResolvedBy, c.state.ResolveNotes = crisisStatusResolved, &now, actor, why
	_ = workflow.UpsertTypedSearchAttributes(ctx, SAStatus.ValueSet(crisisStatusResolved))
}

func (c *crisisRun) render(src string) (string, error) {
	tpl, err := template.New("statement").Option("missingkey=error").Parse(src)
	if err != nil {
		return "", err
	}
	var b strings.Builder
	err = tpl.Execute(&b, map[string]any{"brand": c.in.Brand, "severity": c.state.Severity, "mentions": c.state.Window.Mentions})
	return strings.TrimSpace(b.String()), err
}

func (c *crisisRun) statementTargets() []playbooks.Target {
	return resolveTargets(c.in.Targets, c.in.Plan.Statement.Channels)
}

// allTargets is everyone on the escalation list, for freeze and all-clear.
func (c *crisisRun) allTargets() []string {
	var out []string
	for _, t := range c.in.Plan.Escalation {
		for _, n := range t.Notify {
			if !slices.Contains(out, n) {
				out = append(out, n)
			}
		}
	}
	return out
}

func (c *crisisRun) send(ctx workflow.Context, key string, to []string, msg string) error {
	actx := workflow.WithActivityOptions(ctx, workflow.ActivityOptions{
		StartToCloseTimeout: time.Minute, ScheduleToCloseTimeout: 24 * time.Hour, Summary: "notify " + strings.Join(to, ", "),
	})
	return workflow.ExecuteActivity(actx, acts.Notify, activities.NotifyInput{
		CampaignID: c.in.CrisisID, Brand: c.in.Brand, StepID: key, To: to, Message: msg,
	}).Get(ctx, nil)
}
