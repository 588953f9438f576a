package workflows

import (
	"crypto/sha256"
	"encoding/hex"
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
	CrisisWorkflow          = "Crisis"
	SignalWindow            = "window"
	UpdateAck               = "ack"
	UpdateStatementApproval = "statement-approval"
	UpdateResolve           = "resolve"
	UpdateEscalate          = "escalate"
	UpdateDeescalate        = "deescalate"
	UpdateFreeze            = "freeze"
	ErrCrisisClosed         = "CrisisClosed"
	ErrAlreadyAcknowledged  = "AlreadyAcknowledged"
	ErrInvalidCrisisRequest = "InvalidCrisisRequest"

	crisisStatementStep      = "statement"
	crisisStatusOpen         = "open"
	crisisStatusAcknowledged = "acknowledged"
	crisisStatusResolved     = "resolved"
)

// Crisis event kinds, in the timeline.
const (
	EventDetected          = "detected"
	EventSeverity          = "severity"
	EventPage              = "page"
	EventPageFailed        = "page-failed"
	EventAck               = "acknowledged"
	EventEscalated         = "escalated"
	EventDeescalated       = "deescalated"
	EventFreeze            = "freeze"
	EventUnfreeze          = "unfreeze"
	EventStatementDraft    = "statement-draft"
	EventStatementDecision = "statement-decision"
	EventStatementEscalate = "statement-escalated"
	EventPublished         = "published"
	EventResolved          = "resolved"
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

// CrisisState is the crisis as the API shows it. Events is its timeline:
// every decision with its actor, in order.
type CrisisState struct {
	CrisisID     string             `json:"id"`
	Brand        string             `json:"brand"`
	Playbook     string             `json:"playbook"`
	Title        string             `json:"title"`
	Scope        string             `json:"scope,omitempty"`
	Status       string             `json:"status"`
	Severity     string             `json:"severity"`
	Severities   []SeverityChange   `json:"severity_changes"`
	Window       rules.Window       `json:"window"`
	OpenedAt     time.Time          `json:"opened_at"`
	Tier         int                `json:"tier"`
	Pages        []Page             `json:"pages"`
	AckedBy      string             `json:"acknowledged_by,omitempty"`
	AckedAt      *time.Time         `json:"acknowledged_at,omitempty"`
	Frozen       bool               `json:"frozen"`
	FrozenAt     *time.Time         `json:"frozen_at,omitempty"`
	Statement    string             `json:"statement,omitempty"`
	StatementBy  string             `json:"statement_approved_by,omitempty"`
	Statements   []StatementVersion `json:"statement_versions"`
	Posts        []Post             `json:"posts"`
	ResolvedAt   *time.Time         `json:"resolved_at,omitempty"`
	ResolvedBy   string             `json:"resolved_by,omitempty"`
	ResolveNotes string             `json:"resolve_notes,omitempty"`
	Events       []Event            `json:"events"`
}

// SeverityChange records a severity, the values that caused it and, when
// set by hand, who and why.
type SeverityChange struct {
	Level  string       `json:"level"`
	At     time.Time    `json:"at"`
	Window rules.Window `json:"window"`
	Actor  string       `json:"actor,omitempty"`
	Reason string       `json:"reason,omitempty"`
}

// Page is one escalation notification.
type Page struct {
	Tier    int       `json:"tier"`
	Round   int       `json:"round"`
	Targets []string  `json:"targets"`
	At      time.Time `json:"at"`
	// By is set when someone escalated by hand.
	By string `json:"by,omitempty"`
}

// StatementVersion is one text of the holding statement and what became
// of it.
type StatementVersion struct {
	Version int       `json:"version"`
	Text    string    `json:"text"`
	At      time.Time `json:"at"`
	By      string    `json:"by"` // "template", "pre-approved" or the editor
	// Hash identifies the text: an approval that names a hash applies
	// only to that text, so an edit voids approvals of earlier versions.
	Hash     string `json:"hash"`
	Decision string `json:"decision,omitempty"`
	Actor    string `json:"actor,omitempty"`
}

// Event is one line of a crisis timeline.
type Event struct {
	At     time.Time     `json:"at"`
	Kind   string        `json:"kind"`
	Actor  string        `json:"actor,omitempty"`
	Detail string        `json:"detail"`
	Window *rules.Window `json:"window,omitempty"`
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

// EscalateRequest pages the next tier now.
type EscalateRequest struct {
	Actor  string `json:"actor"`
	Reason string `json:"reason"`
}

// DeescalateRequest lowers the severity by hand.
type DeescalateRequest struct {
	Actor  string `json:"actor"`
	Level  string `json:"level"`
	Reason string `json:"reason"`
}

// FreezeRequest freezes or lifts the freeze by hand.
type FreezeRequest struct {
	Actor  string `json:"actor"`
	Frozen bool   `json:"frozen"`
	Reason string `json:"reason"`
}

// StatementApproval decides on the holding statement; Text, when given,
// is an edited statement that the decision applies to. Decision "edit"
// proposes the text as a new version and leaves it waiting for approval.
// ContentHash, when given, must be the hash of the version waiting: it
// proves the approver saw exactly that text.
type StatementApproval struct {
	Decision    string `json:"decision"`
	Actor       string `json:"actor"`
	Role        string `json:"role,omitempty"`
	Comment     string `json:"comment,omitempty"`
	Text        string `json:"text,omitempty"`
	ContentHash string `json:"content_hash,omitempty"`
}

// DecisionEdit proposes a new version of the holding statement.
const DecisionEdit = "edit"

// StatementHash identifies a statement's text.
func StatementHash(text string) string {
	sum := sha256.Sum256([]byte(text))
	return hex.EncodeToString(sum[:])
}

// Crisis runs a crisis playbook: severity from its rules, escalation tier
// by tier until someone acknowledges, freeze while the rule holds, an
// approved holding statement, and resolution once the resolve rule has
// held for its hold period.
func Crisis(ctx workflow.Context, in CrisisInput) (CrisisState, error) {
	if in.Plan == nil || in.Plan.Kind != playbooks.KindCrisis {
		return CrisisState{}, temporal.NewNonRetryableApplicationError("crisis input needs a Crisis plan", "BadInput", nil)
	}
	c := &crisisRun{in: in, wake: workflow.NewBufferedChannel(ctx, 1), state: CrisisState{CrisisID: in.CrisisID, Brand: in.Brand,
		Playbook: in.Plan.Name, Title: in.Plan.DisplayTitle(), Scope: in.Scope, Status: crisisStatusOpen, OpenedAt: workflow.Now(ctx),
		Pages: []Page{}, Posts: []Post{}, Severities: []SeverityChange{}, Statements: []StatementVersion{}, Events: []Event{}}}
	for name, h := range map[string]any{
		QueryState: func() (CrisisState, error) { return c.state, nil },
	} {
		if err := workflow.SetQueryHandler(ctx, name, h); err != nil {
			return CrisisState{}, err
		}
	}
	updates := []struct {
		name      string
		handler   any
		validator any
	}{
		{UpdateAck, c.ack, c.validateAck},
		{UpdateStatementApproval, c.approveStatement, c.validateStatementApproval},
		{UpdateResolve, c.resolveByHand, c.validateResolve},
		{UpdateEscalate, c.escalateByHand, c.validateEscalate},
		{UpdateDeescalate, c.deescalateByHand, c.validateDeescalate},
		{UpdateFreeze, c.freezeByHand, c.validateFreeze},
	}
	for _, u := range updates {
		if err := workflow.SetUpdateHandlerWithOptions(ctx, u.name, u.handler, workflow.UpdateHandlerOptions{Validator: u.validator}); err != nil {
			return CrisisState{}, err
		}
	}
	return c.run(ctx)
}

type crisisRun struct {
	in       CrisisInput
	state    CrisisState
	resolved bool
	// wake interrupts the watch loop when the crisis is resolved by hand.
	wake workflow.Channel
	// escalations counts manual escalations, which cut a tier's wait short.
	escalations int
	// sending counts notifications in flight beside the main flow; the
	// crisis does not close before they are delivered or given up.
	sending int
	// statement approval
	waiting  bool
	decided  *StatementApproval
	escalate string
}

func (c *crisisRun) event(ctx workflow.Context, kind, actor, detail string, w *rules.Window) {
	c.state.Events = append(c.state.Events, Event{At: workflow.Now(ctx), Kind: kind, Actor: actor, Detail: detail, Window: w})
}

func (c *crisisRun) run(ctx workflow.Context) (CrisisState, error) {
	w := c.in.Window
	c.event(ctx, EventDetected, "", fmt.Sprintf("%s held on %s: %d mentions, %.0f%% negative, volume z-score %.1f",
		c.in.Plan.Detect.Src, scopeName(c.in.Scope), w.Mentions, 100*w.NegativeRatio, w.VolumeZ), &w)
	c.observe(ctx, c.in.Window)
	windows := workflow.GetSignalChannel(ctx, SignalWindow)

	workflow.Go(ctx, c.escalation)
	if c.in.Plan.Statement != nil {
		c.sending++
		workflow.Go(ctx, func(ctx workflow.Context) {
			defer func() { c.sending-- }()
			c.statement(ctx)
		})
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
		c.setFrozen(ctx, false, "", "the crisis is resolved")
	}
	if err := c.send(ctx, "all-clear", c.allTargets(), activities.ActionResolve,
		fmt.Sprintf("All clear: crisis %s (%s) is resolved.", c.in.CrisisID, c.in.Plan.DisplayTitle())); err != nil {
		c.event(ctx, EventPageFailed, "", "all-clear: "+err.Error(), nil)
	}
	_ = workflow.Await(ctx, func() bool { return c.sending == 0 && workflow.AllHandlersFinished(ctx) })
	return c.state, nil
}

// sendAside delivers a notification without holding up the caller.
func (c *crisisRun) sendAside(ctx workflow.Context, key string, to []string, action, msg string) {
	c.sending++
	workflow.Go(ctx, func(ctx workflow.Context) {
		defer func() { c.sending-- }()
		if err := c.send(ctx, key, to, action, msg); err != nil {
			c.event(ctx, EventPageFailed, "", key+": "+err.Error(), nil)
		}
	})
}

func scopeName(scope string) string {
	if scope == "" {
		return "brand"
	}
	return scope
}

// observe takes a new window: severity may rise, and falls only while the
// playbook's deescalate rule holds; the freeze rule is checked against it.
func (c *crisisRun) observe(ctx workflow.Context, w rules.Window) {
	c.state.Window = w
	level := "low"
	for _, rule := range c.in.Plan.Severity {
		if ok, err := rules.Eval(rule.When.Src, rules.Crisis, rules.WindowEnv{Window: w}); err == nil && ok {
			level = rule.Level
			break
		}
	}
	switch {
	case rank(level) > rank(c.state.Severity):
		c.setSeverity(ctx, level, w, "", "")
	case rank(level) < rank(c.state.Severity) && !c.in.Plan.Deescalate.IsZero():
		if ok, err := rules.Eval(c.in.Plan.Deescalate.Src, rules.Crisis, rules.WindowEnv{Window: w}); err == nil && ok {
			c.setSeverity(ctx, level, w, "", c.in.Plan.Deescalate.Src)
		}
	}
	if fz := c.in.Plan.Freeze; fz != nil && !c.state.Frozen && !c.resolved {
		if ok, err := rules.Eval(fz.When.Src, rules.Freeze, rules.FreezeEnv{Window: w, Severity: c.state.Severity}); err == nil && ok {
			c.setFrozen(ctx, true, "", fz.When.Src)
		}
	}
}

func (c *crisisRun) setSeverity(ctx workflow.Context, level string, w rules.Window, actor, reason string) {
	from := c.state.Severity
	c.state.Severity = level
	c.state.Severities = append(c.state.Severities, SeverityChange{Level: level, At: workflow.Now(ctx), Window: w, Actor: actor, Reason: reason})
	detail := fmt.Sprintf("%s → %s", orNone(from), level)
	if reason != "" {
		detail += ": " + reason
	}
	c.event(ctx, EventSeverity, actor, detail, &w)
	_ = workflow.UpsertTypedSearchAttributes(ctx, SASeverity.ValueSet(level))
}

func orNone(s string) string {
	if s == "" {
		return "none"
	}
	return s
}

func rank(level string) int { return slices.Index(playbooks.SeverityLevels, level) }

// setFrozen freezes or lifts the brand's scheduled posts in the playbook's
// scope and tells everyone on the escalation list.
func (c *crisisRun) setFrozen(ctx workflow.Context, frozen bool, actor, reason string) {
	fz := c.in.Plan.Freeze
	if fz == nil {
		fz = &playbooks.Freeze{Scope: "brand", OnUnfreeze: "reschedule"}
	}
	now := workflow.Now(ctx)
	c.state.Frozen = frozen
	kind, msg := EventFreeze, fmt.Sprintf("Freeze (%s scope) for crisis %s: scheduled posts are held.", fz.Scope, c.in.CrisisID)
	if frozen {
		c.state.FrozenAt = &now
	} else {
		c.state.FrozenAt = nil
		kind, msg = EventUnfreeze, fmt.Sprintf("Freeze lifted for crisis %s: scheduled posts resume.", c.in.CrisisID)
	}
	c.event(ctx, kind, actor, fmt.Sprintf("scope %s; %s", fz.Scope, reason), nil)
	in := activities.FreezeInput{CrisisID: c.in.CrisisID, Brand: c.in.Brand, Scope: fz.Scope, Channels: fz.Channels, Tags: fz.Tags,
		Markets: fz.Markets, OnUnfreeze: fz.OnUnfreeze, Reapprove: fz.Reapprove, Frozen: frozen, Actor: actor, Reason: reason}
	actx := workflow.WithActivityOptions(ctx, workflow.ActivityOptions{
		StartToCloseTimeout: time.Minute, ScheduleToCloseTimeout: 24 * time.Hour, Summary: kind + " " + fz.Scope + " of " + c.in.Brand,
	})
	// The freeze row is written before anyone is told, and lifting waits
	// for it too: a campaign must never see a freeze that is already over.
	if err := workflow.ExecuteActivity(actx, acts.ApplyFreeze, in).Get(ctx, nil); err != nil {
		workflow.GetLogger(ctx).Error("apply freeze", "frozen", frozen, "error", err)
	}
	key := "freeze"
	if !frozen {
		key = "unfreeze"
	}
	c.sendAside(ctx, key, c.allTargets(), activities.ActionTrigger, msg)
}

// escalation pages tier after tier until someone acknowledges; the last
// tier is paged again Repeat times. A manual escalation pages the next
// tier at once.
func (c *crisisRun) escalation(ctx workflow.Context) {
	tiers := c.in.Plan.Escalation
	i, round := 0, 1
	manual := ""
	for {
		if c.state.AckedBy != "" || c.resolved {
			return
		}
		t := tiers[i]
		c.page(ctx, i, round, manual)
		seen := c.escalations
		_, _ = workflow.AwaitWithOptions(ctx, workflow.AwaitOptions{Timeout: t.AckWithin.D(),
			TimerOptions: workflow.TimerOptions{Summary: fmt.Sprintf("tier %d ack within %s", i+1, t.AckWithin)}},
			func() bool { return c.state.AckedBy != "" || c.resolved || c.escalations > seen })
		if c.state.AckedBy != "" || c.resolved {
			return
		}
		manual = ""
		if c.escalations > seen {
			manual = c.state.Events[len(c.state.Events)-1].Actor
		}
		switch {
		case i < len(tiers)-1:
			i, round = i+1, 1
		case manual != "" || round <= t.Repeat:
			round++
		default:
			// Every tier paged, the last one Repeat more times: the
			// crisis stays open and visible, but paging stops.
			_ = workflow.Await(ctx, func() bool { return c.state.AckedBy != "" || c.resolved || c.escalations > seen })
			if c.escalations > seen {
				manual, round = c.state.Events[len(c.state.Events)-1].Actor, round+1
				continue
			}
			return
		}
	}
}

// page notifies one tier. The delivery runs beside the acknowledgement
// timer: a slow or failing target must not stretch the tier's deadline.
func (c *crisisRun) page(ctx workflow.Context, i, round int, by string) {
	t := c.in.Plan.Escalation[i]
	c.state.Tier = i + 1
	c.state.Pages = append(c.state.Pages, Page{Tier: i + 1, Round: round, Targets: t.Notify, At: workflow.Now(ctx), By: by})
	c.event(ctx, EventPage, by, fmt.Sprintf("tier %d (round %d): %s", i+1, round, strings.Join(t.Notify, ", ")), nil)
	msg := fmt.Sprintf("[%s] %s for %s: %d mentions, %.0f%% negative. Acknowledge crisis %s.",
		strings.ToUpper(c.state.Severity), c.in.Plan.DisplayTitle(), c.in.Brand, c.state.Window.Mentions, 100*c.state.Window.NegativeRatio, c.in.CrisisID)
	key := fmt.Sprintf("page-%d-%d", i+1, round)
	c.sendAside(ctx, key, t.Notify, activities.ActionTrigger, msg)
}

func (c *crisisRun) open() error {
	if c.resolved {
		return temporal.NewApplicationError("crisis "+c.in.CrisisID+" is resolved", ErrCrisisClosed)
	}
	return nil
}

func needActor(actor string) error {
	if strings.TrimSpace(actor) == "" {
		return temporal.NewApplicationError("actor is required: who decides", ErrInvalidCrisisRequest, "actor")
	}
	return nil
}

func needReason(reason string) error {
	if strings.TrimSpace(reason) == "" {
		return temporal.NewApplicationError("reason is required", ErrInvalidCrisisRequest, "reason")
	}
	return nil
}

func (c *crisisRun) validateAck(ctx workflow.Context, req AckRequest) error {
	if err := c.open(); err != nil {
		return err
	}
	if err := needActor(req.Actor); err != nil {
		return err
	}
	if c.state.AckedBy != "" {
		return temporal.NewApplicationError("already acknowledged by "+c.state.AckedBy, ErrAlreadyAcknowledged)
	}
	return nil
}

func (c *crisisRun) ack(ctx workflow.Context, req AckRequest) (CrisisState, error) {
	now := workflow.Now(ctx)
	c.state.AckedBy, c.state.AckedAt, c.state.Status = req.Actor, &now, crisisStatusAcknowledged
	c.event(ctx, EventAck, req.Actor, fmt.Sprintf("acknowledged %s after detection", now.Sub(c.state.OpenedAt).Round(time.Second)), nil)
	_ = workflow.UpsertTypedSearchAttributes(ctx, SAStatus.ValueSet(crisisStatusAcknowledged))
	// Tell the pagers that someone has it, so they stop paging.
	var paged []string
	for _, p := range c.state.Pages {
		for _, t := range p.Targets {
			if strings.HasPrefix(t, "pagerduty:") && !slices.Contains(paged, t) {
				paged = append(paged, t)
			}
		}
	}
	if len(paged) > 0 {
		c.sendAside(ctx, "ack", paged, activities.ActionAcknowledge, fmt.Sprintf("Crisis %s acknowledged by %s.", c.in.CrisisID, req.Actor))
	}
	return c.state, nil
}

func (c *crisisRun) validateEscalate(ctx workflow.Context, req EscalateRequest) error {
	if err := c.open(); err != nil {
		return err
	}
	if err := needActor(req.Actor); err != nil {
		return err
	}
	if c.state.AckedBy != "" {
		return temporal.NewApplicationError("acknowledged by "+c.state.AckedBy+": escalation has stopped", ErrAlreadyAcknowledged)
	}
	return needReason(req.Reason)
}

func (c *crisisRun) escalateByHand(ctx workflow.Context, req EscalateRequest) (CrisisState, error) {
	c.escalations++
	c.event(ctx, EventEscalated, req.Actor, req.Reason, nil)
	// Let the escalation loop page before answering, so the answer shows it.
	pages := len(c.state.Pages)
	_ = workflow.Await(ctx, func() bool { return len(c.state.Pages) > pages || c.resolved || c.state.AckedBy != "" })
	return c.state, nil
}

func (c *crisisRun) validateDeescalate(ctx workflow.Context, req DeescalateRequest) error {
	if err := c.open(); err != nil {
		return err
	}
	if err := needActor(req.Actor); err != nil {
		return err
	}
	if err := needReason(req.Reason); err != nil {
		return err
	}
	if !slices.Contains(playbooks.SeverityLevels, req.Level) {
		return temporal.NewApplicationError(fmt.Sprintf("level must be one of %s", strings.Join(playbooks.SeverityLevels, ", ")), ErrInvalidCrisisRequest, "level")
	}
	if rank(req.Level) >= rank(c.state.Severity) {
		return temporal.NewApplicationError(fmt.Sprintf("level %s is not below the current %s", req.Level, c.state.Severity), ErrInvalidCrisisRequest, "level")
	}
	return nil
}

func (c *crisisRun) deescalateByHand(ctx workflow.Context, req DeescalateRequest) (CrisisState, error) {
	c.setSeverity(ctx, req.Level, c.state.Window, req.Actor, req.Reason)
	c.event(ctx, EventDeescalated, req.Actor, req.Reason, nil)
	return c.state, nil
}

func (c *crisisRun) validateFreeze(ctx workflow.Context, req FreezeRequest) error {
	if err := c.open(); err != nil {
		return err
	}
	if err := needActor(req.Actor); err != nil {
		return err
	}
	if req.Frozen == c.state.Frozen {
		state := "not frozen"
		if c.state.Frozen {
			state = "already frozen"
		}
		return temporal.NewApplicationError("the brand is "+state, ErrInvalidCrisisRequest, "frozen")
	}
	return needReason(req.Reason)
}

func (c *crisisRun) freezeByHand(ctx workflow.Context, req FreezeRequest) (CrisisState, error) {
	c.setFrozen(ctx, req.Frozen, req.Actor, req.Reason)
	return c.state, nil
}

// statement gets the holding statement approved, or falls back to the
// pre-approved text, and publishes it.
func (c *crisisRun) statement(ctx workflow.Context) {
	st := c.in.Plan.Statement
	text, err := c.render(st.Template)
	if err != nil {
		workflow.GetLogger(ctx).Error("render statement", "error", err)
		c.event(ctx, EventStatementDraft, "", "the template failed: "+err.Error(), nil)
		return
	}
	c.draft(ctx, text, "template")
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
				c.draft(ctx, strings.TrimSpace(st.Fallback), "pre-approved")
				c.decided = &StatementApproval{Decision: "fallback", Actor: "pre-approved"}
				c.decide(ctx, *c.decided)
			case a.OnTimeout == playbooks.OnTimeoutEscalate && !escalated && a.EscalateTo != "":
				escalated, c.escalate = true, a.EscalateTo
				c.event(ctx, EventStatementEscalate, "", "approval passed to "+a.EscalateTo+" after "+a.Within.String(), nil)
				_ = c.send(ctx, "statement-escalated", []string{"role:" + a.EscalateTo}, activities.ActionTrigger,
					"The holding statement for crisis "+c.in.CrisisID+" is waiting for approval.")
			case a.OnTimeout == playbooks.OnTimeoutCancel:
				c.waiting = false
				c.event(ctx, EventStatementDecision, "", "nobody approved within "+a.Within.String()+": no statement", nil)
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
			c.event(ctx, EventPublished, "", "statement to "+t.Name+" failed: "+err.Error(), nil)
			continue
		}
		c.state.Posts = append(c.state.Posts, Post{StepID: crisisStatementStep, ChannelID: t.ID, Channel: t.Name, PostID: res.PostID, URL: res.URL, PublishedAt: res.PublishedAt})
		c.event(ctx, EventPublished, "", "statement on "+t.Name+" "+res.URL, nil)
	}
}

func (c *crisisRun) draft(ctx workflow.Context, text, by string) {
	c.state.Statement = text
	c.state.Statements = append(c.state.Statements, StatementVersion{Version: len(c.state.Statements) + 1, Text: text,
		At: workflow.Now(ctx), By: by, Hash: StatementHash(text)})
	c.event(ctx, EventStatementDraft, by, fmt.Sprintf("version %d: %s", len(c.state.Statements), text), nil)
}

func (c *crisisRun) decide(ctx workflow.Context, d StatementApproval) {
	v := &c.state.Statements[len(c.state.Statements)-1]
	v.Decision, v.Actor = d.Decision, d.Actor
	detail := fmt.Sprintf("%s version %d", d.Decision, v.Version)
	if d.Comment != "" {
		detail += ": " + d.Comment
	}
	c.event(ctx, EventStatementDecision, d.Actor, detail, nil)
}

func (c *crisisRun) validateStatementApproval(ctx workflow.Context, req StatementApproval) error {
	if !c.waiting || c.decided != nil {
		return temporal.NewApplicationError("no holding statement is waiting for approval", ErrNotAwaitingApproval)
	}
	invalid := func(field, format string, args ...any) error {
		return temporal.NewApplicationError(fmt.Sprintf(format, args...), ErrInvalidApproval, field)
	}
	if req.Decision != DecisionApprove && req.Decision != DecisionReject && req.Decision != DecisionEdit {
		return invalid("decision", "decision must be %q, %q or %q", DecisionApprove, DecisionReject, DecisionEdit)
	}
	if strings.TrimSpace(req.Actor) == "" {
		return invalid("actor", "actor is required: who decides")
	}
	cur := c.state.Statements[len(c.state.Statements)-1]
	if req.ContentHash != "" && req.ContentHash != cur.Hash {
		return invalid("content_hash", "the statement changed: version %d (hash %s) is waiting, not the text you saw", cur.Version, cur.Hash)
	}
	edited := strings.TrimSpace(req.Text) != "" && strings.TrimSpace(req.Text) != c.state.Statement
	if req.Decision == DecisionEdit && !edited {
		return invalid("text", "an edit needs a text that differs from version %d", cur.Version)
	}
	// Four-eyes: whoever wrote a version may not approve it, in the same
	// request (edit and approve) or later.
	if a := c.in.Plan.Statement.Approval; req.Decision == DecisionApprove && a.RequiresFourEyes() {
		if edited {
			return invalid("actor", "%s cannot approve their own edit (four-eyes rule): send it with decision %q and let someone else approve", req.Actor, DecisionEdit)
		}
		if cur.By == req.Actor {
			return invalid("actor", "%s wrote version %d and cannot approve it (four-eyes rule)", req.Actor, cur.Version)
		}
	}
	if a := c.in.Plan.Statement.Approval; req.Role != "" && a.Role != "" && req.Role != a.Role && req.Role != c.escalate {
		return temporal.NewApplicationError("this approval needs role "+a.Role, ErrInvalidApproval, "role")
	}
	if len(req.Text) > 5000 {
		return temporal.NewApplicationError("text is longer than 5000 characters", ErrInvalidApproval, "text")
	}
	return nil
}

func (c *crisisRun) approveStatement(ctx workflow.Context, req StatementApproval) (StatementApproval, error) {
	if t := strings.TrimSpace(req.Text); t != "" && t != c.state.Statement {
		c.draft(ctx, t, req.Actor)
	}
	if req.Decision == DecisionEdit {
		return req, nil // the new version waits for someone's approval
	}
	c.decided = &req
	c.decide(ctx, req)
	return req, nil
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
	c.event(ctx, EventResolved, actor, why, nil)
	_ = workflow.UpsertTypedSearchAttributes(ctx, SAStatus.ValueSet(crisisStatusResolved))
}

// render fills the statement template with the crisis facts.
func (c *crisisRun) render(src string) (string, error) {
	tpl, err := template.New("statement").Option("missingkey=error").Parse(src)
	if err != nil {
		return "", err
	}
	var b strings.Builder
	w := c.state.Window
	err = tpl.Execute(&b, map[string]any{
		"brand": c.in.Brand, "severity": c.state.Severity, "mentions": w.Mentions, "negative": w.Negative,
		"negative_percent": int(100*w.NegativeRatio + 0.5), "topic": w.Topic, "crisis": c.in.CrisisID, "title": c.in.Plan.DisplayTitle(),
	})
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

func (c *crisisRun) send(ctx workflow.Context, key string, to []string, action, msg string) error {
	actx := workflow.WithActivityOptions(ctx, workflow.ActivityOptions{
		StartToCloseTimeout: time.Minute, ScheduleToCloseTimeout: 24 * time.Hour, Summary: "notify " + strings.Join(to, ", "),
	})
	return workflow.ExecuteActivity(actx, acts.Notify, activities.NotifyInput{
		CampaignID: c.in.CrisisID, Brand: c.in.Brand, StepID: key, To: to, Message: msg, Action: action,
		Subject:  fmt.Sprintf("[%s] %s — %s", strings.ToUpper(orNone(c.state.Severity)), c.in.Plan.DisplayTitle(), c.in.Brand),
		Severity: c.state.Severity, Incident: c.in.CrisisID,
	}).Get(ctx, nil)
}
