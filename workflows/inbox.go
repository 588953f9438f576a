package workflows

import (
	"errors"
	"fmt"
	"strings"
	"time"

	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/workflow"

	"github.com/cmo-dev/cmo/activities"
	"github.com/cmo-dev/cmo/inbox"
)

// Names clients use to talk to inbox workflows.
const (
	// BrandInboxWorkflow is the brand's inbox: it starts the workflows of
	// the items that mentions open.
	BrandInboxWorkflow = "BrandInbox"
	// SignalInboxItems tells the brand's inbox that mentions opened items.
	SignalInboxItems = "items"
	// InboxItemWorkflow keeps one item's deadlines until it is closed.
	InboxItemWorkflow        = "InboxItem"
	UpdateInboxAssign        = "assign"
	UpdateInboxReply         = "reply"
	UpdateInboxReplyApproval = "reply-approval"
	UpdateInboxClose         = "close"
	// ErrInboxItemClosed refuses a decision on a closed item.
	ErrInboxItemClosed = "InboxItemClosed"
	// ErrInvalidInboxRequest refuses a request naming the field in its details.
	ErrInvalidInboxRequest = "InvalidInboxRequest"
	// ErrReplyNotPublished says the platform did not take a reply.
	ErrReplyNotPublished = "ReplyNotPublished"
)

// Workflow kinds of the inbox, the value of the Kind search attribute.
const (
	KindInbox     = "inbox"
	KindInboxItem = "inbox-item"
)

// Inbox item event kinds, in the item's timeline.
const (
	EventInboxOpened        = "opened"
	EventInboxAssigned      = "assigned"
	EventInboxReminded      = "reminded"
	EventInboxOverdue       = "overdue"
	EventInboxReplyDrafted  = "reply-drafted"
	EventInboxReplyDecision = "reply-decision"
	EventInboxReplied       = "replied"
	EventInboxReplyFailed   = "reply-failed"
	EventInboxClosed        = "closed"
)

// InboxWorkflowID is the one inbox workflow of a brand.
func InboxWorkflowID(brand string) string { return "inbox:" + brand }

// InboxItemWorkflowID is an item's workflow: derived from the item id,
// itself derived from the mention, so an item is started at most once.
func InboxItemWorkflowID(itemID string) string { return "inbox-item:" + itemID }

// InboxItemInput starts an item's workflow.
type InboxItemInput struct {
	Item inbox.Item `json:"item"`
}

// InboxItemState is an item as the API shows it (the state query).
type InboxItemState struct {
	inbox.Item
	Status          string        `json:"status"`
	Assignee        string        `json:"assignee,omitempty"`
	RemindedAt      *time.Time    `json:"reminded_at,omitempty"`
	OverdueAt       *time.Time    `json:"overdue_at,omitempty"`
	Draft           *InboxDraft   `json:"draft,omitempty"`
	Replies         []InboxReply  `json:"replies"`
	FirstResponseAt *time.Time    `json:"first_response_at,omitempty"`
	ClosedAt        *time.Time    `json:"closed_at,omitempty"`
	ClosedBy        string        `json:"closed_by,omitempty"`
	CloseReason     string        `json:"close_reason,omitempty"`
	Events          []Event       `json:"events"`
	FirstResponse   time.Duration `json:"first_response,omitempty"`
}

// InboxDraft is a reply waiting for approval.
type InboxDraft struct {
	Text      string    `json:"text"`
	Actor     string    `json:"actor"`
	ChannelID string    `json:"channel_id"`
	At        time.Time `json:"at"`
}

// InboxReply is a published reply.
type InboxReply struct {
	Text       string    `json:"text"`
	Actor      string    `json:"actor"`
	ApprovedBy string    `json:"approved_by,omitempty"`
	ChannelID  string    `json:"channel_id"`
	PostID     string    `json:"post_id"`
	URL        string    `json:"url"`
	At         time.Time `json:"at"`
}

// AssignRequest gives an item to someone.
type AssignRequest struct {
	Actor    string `json:"actor"`
	Assignee string `json:"assignee"`
}

// ReplyRequest answers an item. ChannelID, when set, is the brand channel
// to answer from instead of the item's own.
type ReplyRequest struct {
	Actor     string `json:"actor"`
	Text      string `json:"text"`
	ChannelID string `json:"channel_id,omitempty"`
}

// ReplyApproval decides on a reply waiting for approval.
type ReplyApproval struct {
	Decision string `json:"decision"`
	Actor    string `json:"actor"`
	Role     string `json:"role,omitempty"`
	Comment  string `json:"comment,omitempty"`
}

// CloseRequest closes an item by hand.
type CloseRequest struct {
	Actor  string `json:"actor"`
	Reason string `json:"reason,omitempty"`
}

// MaxReplyChars bounds a reply before any platform's own limit applies.
const MaxReplyChars = 5000

// InboxItem keeps one inbox item: it tells the team, reminds them before
// the deadline, escalates when the deadline passes without a reply, and
// publishes replies (approved first when the brand requires it) threaded
// to the mention. An answered item stays open for the customer's next
// message and closes itself after the policy's quiet period, resolved at
// its last reply; a person may close it at any time.
func InboxItem(ctx workflow.Context, in InboxItemInput) (InboxItemState, error) {
	it := in.Item
	if it.ID == "" || it.DueAt.IsZero() || it.Policy.ReplyWithin <= 0 {
		return InboxItemState{}, temporal.NewNonRetryableApplicationError("inbox item input needs an id, a deadline and a policy", "BadInput", nil)
	}
	r := &itemRun{in: in, state: InboxItemState{Item: it, Status: inbox.StatusOpen, Replies: []InboxReply{}, Events: []Event{}}}
	if err := workflow.SetQueryHandler(ctx, QueryState, func() (InboxItemState, error) { return r.state, nil }); err != nil {
		return InboxItemState{}, err
	}
	for _, u := range []struct {
		name      string
		handler   any
		validator any
	}{
		{UpdateInboxAssign, r.assign, r.validateAssign},
		{UpdateInboxReply, r.reply, r.validateReply},
		{UpdateInboxReplyApproval, r.approveReply, r.validateReplyApproval},
		{UpdateInboxClose, r.closeByHand, r.validateClose},
	} {
		if err := workflow.SetUpdateHandlerWithOptions(ctx, u.name, u.handler, workflow.UpdateHandlerOptions{Validator: u.validator}); err != nil {
			return InboxItemState{}, err
		}
	}
	return r.run(ctx)
}

type itemRun struct {
	in    InboxItemInput
	state InboxItemState
	// seq orders the projection's writes.
	seq int64
	// attempts counts publish attempts: each gets its own ledger key, so a
	// reply the platform refused does not block the next one.
	attempts   int
	publishing bool
	closed     bool
}

func (r *itemRun) event(ctx workflow.Context, kind, actor, detail string) {
	r.state.Events = append(r.state.Events, Event{At: workflow.Now(ctx), Kind: kind, Actor: actor, Detail: detail})
}

func (r *itemRun) run(ctx workflow.Context) (InboxItemState, error) {
	it, pol := r.in.Item, r.in.Item.Policy
	r.event(ctx, EventInboxOpened, "", fmt.Sprintf("%s %s from %s on %s (rule %s); reply by %s", it.Priority, it.Kind,
		orSomeone(it.Author), it.Source, it.Rule, it.DueAt.UTC().Format(time.RFC3339)))
	r.notify(ctx, "new", pol.Notify, fmt.Sprintf("New %s %s from %s on %s: “%s” Reply by %s (inbox item %s).",
		it.Priority, it.Kind, orSomeone(it.Author), it.Source, it.Excerpt, it.DueAt.UTC().Format("2006-01-02 15:04 MST"), it.ID))

	answered := func() bool { return len(r.state.Replies) > 0 || r.closed }
	if remindAt := it.DueAt.Add(-pol.RemindBefore); workflow.Now(ctx).Before(it.DueAt) && !r.waitUntil(ctx, remindAt, answered, "reminder") {
		r.remind(ctx)
	}
	if !r.waitUntil(ctx, it.DueAt, answered, "reply deadline") {
		r.escalate(ctx)
	}
	if err := workflow.Await(ctx, answered); err != nil {
		return r.state, err
	}
	// Answered: the conversation may go on; the item closes itself once
	// it has been quiet for the policy's period after the last reply.
	for !r.closed {
		seen := len(r.state.Replies)
		stirred, err := workflow.AwaitWithOptions(ctx, workflow.AwaitOptions{Timeout: pol.CloseAfter,
			TimerOptions: workflow.TimerOptions{Summary: "close when quiet for " + pol.CloseAfter.String()}},
			func() bool { return r.closed || len(r.state.Replies) > seen || r.state.Draft != nil })
		if err != nil {
			return r.state, err
		}
		if r.closed {
			break
		}
		if r.state.Draft != nil || r.publishing {
			// A reply is on its way: wait for it to be decided first.
			_ = workflow.Await(ctx, func() bool { return r.closed || (r.state.Draft == nil && !r.publishing) })
			continue
		}
		if !stirred { // quiet for the whole period
			last := r.state.Replies[len(r.state.Replies)-1].At
			r.close(ctx, "", fmt.Sprintf("no further message within %s of the last reply", pol.CloseAfter), last)
		}
	}
	_ = workflow.Await(ctx, func() bool { return workflow.AllHandlersFinished(ctx) })
	return r.state, nil
}

// waitUntil waits for cond until the instant at and reports whether it
// held; an instant already past reports cond at once.
func (r *itemRun) waitUntil(ctx workflow.Context, at time.Time, cond func() bool, what string) bool {
	d := at.Sub(workflow.Now(ctx))
	if d <= 0 {
		return cond()
	}
	ok, err := workflow.AwaitWithOptions(ctx, workflow.AwaitOptions{Timeout: d,
		TimerOptions: workflow.TimerOptions{Summary: what + " at " + at.UTC().Format("15:04:05")}}, cond)
	return ok || err != nil
}

func (r *itemRun) remind(ctx workflow.Context) {
	it := r.in.Item
	now := workflow.Now(ctx)
	r.state.RemindedAt = &now
	left := it.DueAt.Sub(now).Round(time.Minute)
	who := "nobody is assigned"
	if r.state.Assignee != "" {
		who = "assigned to " + r.state.Assignee
	}
	r.event(ctx, EventInboxReminded, "", fmt.Sprintf("%s left; %s", left, who))
	r.record(ctx)
	r.notify(ctx, "reminder", it.Policy.Notify, fmt.Sprintf("Reminder: the %s %s from %s on %s is due in %s (%s): “%s” (inbox item %s).",
		it.Priority, it.Kind, orSomeone(it.Author), it.Source, left, who, it.Excerpt, it.ID))
}

func (r *itemRun) escalate(ctx workflow.Context) {
	it := r.in.Item
	now := workflow.Now(ctx)
	r.state.OverdueAt = &now
	pending := ""
	if r.state.Draft != nil {
		pending = fmt.Sprintf(" A reply by %s is waiting for approval by role %s.", r.state.Draft.Actor, it.Policy.ApprovalRole)
	}
	r.event(ctx, EventInboxOverdue, "", fmt.Sprintf("no reply within %s; escalated to %s", it.Policy.ReplyWithin, strings.Join(it.Policy.EscalateTo, ", ")))
	r.setStatus(ctx)
	r.record(ctx)
	r.notify(ctx, "overdue", it.Policy.EscalateTo, fmt.Sprintf("Overdue: the %s %s from %s on %s has had no reply for %s: “%s”%s (inbox item %s).",
		it.Priority, it.Kind, orSomeone(it.Author), it.Source, it.Policy.ReplyWithin, it.Excerpt, pending, it.ID))
}

// status is the item's state from its facts, most final first.
func (r *itemRun) status() string {
	switch {
	case r.closed:
		return inbox.StatusClosed
	case r.state.Draft != nil:
		return inbox.StatusAwaitingApproval
	case len(r.state.Replies) > 0:
		return inbox.StatusReplied
	case r.state.OverdueAt != nil:
		return inbox.StatusOverdue
	case r.state.Assignee != "":
		return inbox.StatusAssigned
	}
	return inbox.StatusOpen
}

func (r *itemRun) setStatus(ctx workflow.Context) {
	s := r.status()
	if s == r.state.Status {
		return
	}
	r.state.Status = s
	if err := workflow.UpsertTypedSearchAttributes(ctx, SAStatus.ValueSet(s)); err != nil {
		workflow.GetLogger(ctx).Warn("upsert status", "error", err)
	}
}

// record writes the item's state to its projection and waits for it, so
// that an answer to a decision is already visible in lists and KPIs.
func (r *itemRun) record(ctx workflow.Context) {
	r.seq++
	s := r.state
	u := inbox.Update{ID: s.ID, Seq: r.seq, Status: s.Status, Assignee: s.Assignee, RemindedAt: s.RemindedAt, OverdueAt: s.OverdueAt,
		FirstResponseAt: s.FirstResponseAt, Replies: len(s.Replies), ClosedAt: s.ClosedAt, ClosedBy: s.ClosedBy, CloseReason: s.CloseReason}
	if n := len(s.Replies); n > 0 {
		last := s.Replies[n-1]
		u.ReplyChannelID, u.ReplyPostID, u.ReplyURL = last.ChannelID, last.PostID, last.URL
	}
	actx := workflow.WithActivityOptions(ctx, workflow.ActivityOptions{
		StartToCloseTimeout: 30 * time.Second, ScheduleToCloseTimeout: time.Hour, Summary: "record " + s.ID + " as " + s.Status,
	})
	if err := workflow.ExecuteActivity(actx, acts.RecordInboxItem, u).Get(ctx, nil); err != nil {
		workflow.GetLogger(ctx).Error("record inbox item", "item", s.ID, "error", err)
	}
}

// notify tells targets beside the item's clocks: a slow receiver must not
// move a deadline.
func (r *itemRun) notify(ctx workflow.Context, key string, to []string, msg string) {
	if len(to) == 0 {
		return
	}
	it := r.in.Item
	workflow.Go(ctx, func(ctx workflow.Context) {
		actx := workflow.WithActivityOptions(ctx, workflow.ActivityOptions{
			StartToCloseTimeout: time.Minute, ScheduleToCloseTimeout: 24 * time.Hour, Summary: "notify " + strings.Join(to, ", "),
		})
		err := workflow.ExecuteActivity(actx, acts.Notify, activities.NotifyInput{
			CampaignID: it.ID, Brand: it.Brand, StepID: key, To: to, Message: msg, Incident: it.ID, Severity: severityOf(it.Priority),
			Subject: fmt.Sprintf("[%s] %s from %s — %s", strings.ToUpper(it.Priority), it.Kind, orSomeone(it.Author), it.Brand),
		}).Get(ctx, nil)
		if err != nil {
			workflow.GetLogger(ctx).Warn("inbox notification", "item", it.ID, "step", key, "error", err)
		}
	})
}

// severityOf maps an item's priority to a notification severity: one
// customer waiting is never a critical incident.
func severityOf(priority string) string {
	switch priority {
	case inbox.PriorityUrgent:
		return "high"
	case inbox.PriorityHigh:
		return "medium"
	}
	return "low"
}

func orSomeone(author string) string {
	if author == "" {
		return "someone"
	}
	return author
}

func invalidInbox(field, format string, args ...any) error {
	return temporal.NewApplicationError(fmt.Sprintf(format, args...), ErrInvalidInboxRequest, field)
}

func (r *itemRun) open() error {
	if r.closed {
		return temporal.NewApplicationError(fmt.Sprintf("inbox item %s is closed", r.state.ID), ErrInboxItemClosed)
	}
	return nil
}

func (r *itemRun) validateAssign(ctx workflow.Context, req AssignRequest) error {
	if err := r.open(); err != nil {
		return err
	}
	if strings.TrimSpace(req.Actor) == "" {
		return invalidInbox("actor", "actor is required: who assigns")
	}
	if strings.TrimSpace(req.Assignee) == "" {
		return invalidInbox("assignee", "assignee is required: who answers")
	}
	return nil
}

func (r *itemRun) assign(ctx workflow.Context, req AssignRequest) (InboxItemState, error) {
	r.state.Assignee = req.Assignee
	r.event(ctx, EventInboxAssigned, req.Actor, "assigned to "+req.Assignee)
	r.setStatus(ctx)
	r.record(ctx)
	return r.state, nil
}

func (r *itemRun) validateReply(ctx workflow.Context, req ReplyRequest) error {
	if err := r.open(); err != nil {
		return err
	}
	if strings.TrimSpace(req.Actor) == "" {
		return invalidInbox("actor", "actor is required: who answers")
	}
	if strings.TrimSpace(req.Text) == "" {
		return invalidInbox("text", "text is required")
	}
	if len([]rune(req.Text)) > MaxReplyChars {
		return invalidInbox("text", "text is longer than %d characters", MaxReplyChars)
	}
	if req.ChannelID == "" && r.in.Item.ReplyChannelID == "" {
		return invalidInbox("channel", "no channel of brand %s answers mentions from %s; name one", r.in.Item.Brand, r.in.Item.Source)
	}
	if r.publishing {
		return temporal.NewApplicationError("a reply is being published; try again when it is out", ErrInvalidInboxRequest, "text")
	}
	if r.state.Draft != nil {
		return temporal.NewApplicationError(fmt.Sprintf("a reply by %s is waiting for approval; approve or reject it first", r.state.Draft.Actor),
			ErrInvalidInboxRequest, "text")
	}
	return nil
}

func (r *itemRun) reply(ctx workflow.Context, req ReplyRequest) (InboxItemState, error) {
	channel := req.ChannelID
	if channel == "" {
		channel = r.in.Item.ReplyChannelID
	}
	text := strings.TrimSpace(req.Text)
	if role := r.in.Item.Policy.ApprovalRole; role != "" {
		r.state.Draft = &InboxDraft{Text: text, Actor: req.Actor, ChannelID: channel, At: workflow.Now(ctx)}
		r.event(ctx, EventInboxReplyDrafted, req.Actor, fmt.Sprintf("waiting for approval by role %s: %s", role, text))
		r.setStatus(ctx)
		r.record(ctx)
		r.attempts++ // the approval notice keys on it, so each draft is announced once
		r.notify(ctx, fmt.Sprintf("approval-%d", r.attempts), []string{"role:" + role},
			fmt.Sprintf("A reply by %s to %s on %s is waiting for your approval: “%s” (inbox item %s).",
				req.Actor, orSomeone(r.in.Item.Author), r.in.Item.Source, text, r.in.Item.ID))
		return r.state, nil
	}
	return r.publish(ctx, text, req.Actor, "", channel)
}

// publish posts a reply threaded to the mention, through the publish
// ledger: a retried attempt never posts it twice.
func (r *itemRun) publish(ctx workflow.Context, text, actor, approvedBy, channel string) (InboxItemState, error) {
	r.publishing = true
	defer func() { r.publishing = false }()
	r.attempts++
	it := r.in.Item
	actx := workflow.WithActivityOptions(ctx, workflow.ActivityOptions{
		StartToCloseTimeout: 2 * time.Minute, ScheduleToCloseTimeout: 10 * time.Minute, HeartbeatTimeout: 10 * time.Second,
		Summary: fmt.Sprintf("reply to %s on %s", orSomeone(it.Author), it.Source),
		RetryPolicy: &temporal.RetryPolicy{InitialInterval: 2 * time.Second, MaximumInterval: time.Minute,
			NonRetryableErrorTypes: []string{activities.ErrTypePermanent, activities.ErrTypeAuth, activities.ErrTypeNotFound}},
	})
	var res activities.PublishResult
	err := workflow.ExecuteActivity(actx, acts.Publish, activities.PublishInput{
		CampaignID: it.ID, StepID: fmt.Sprintf("reply-%d", r.attempts), ChannelID: channel, Text: text, ContentHash: "reply",
		InReplyTo: it.ExternalID,
	}).Get(ctx, &res)
	if err != nil {
		r.event(ctx, EventInboxReplyFailed, actor, err.Error())
		return r.state, temporal.NewApplicationError("the reply was not published: "+err.Error(), ErrReplyNotPublished)
	}
	now := workflow.Now(ctx)
	r.state.Draft = nil
	r.state.Replies = append(r.state.Replies, InboxReply{Text: text, Actor: actor, ApprovedBy: approvedBy, ChannelID: channel,
		PostID: res.PostID, URL: res.URL, At: now})
	detail := "replied " + res.URL
	if r.state.FirstResponseAt == nil {
		r.state.FirstResponseAt = &now
		r.state.FirstResponse = now.Sub(it.OpenedAt)
		detail += fmt.Sprintf(" (first response after %s)", r.state.FirstResponse.Round(time.Second))
	}
	r.event(ctx, EventInboxReplied, actor, detail)
	r.setStatus(ctx)
	r.record(ctx)
	return r.state, nil
}

func (r *itemRun) validateReplyApproval(ctx workflow.Context, req ReplyApproval) error {
	if err := r.open(); err != nil {
		return err
	}
	d := r.state.Draft
	if d == nil || r.publishing {
		return temporal.NewApplicationError("no reply is waiting for approval", ErrNotAwaitingApproval)
	}
	if req.Decision != DecisionApprove && req.Decision != DecisionReject {
		return invalidInbox("decision", "decision must be %q or %q, got %q", DecisionApprove, DecisionReject, req.Decision)
	}
	if strings.TrimSpace(req.Actor) == "" {
		return invalidInbox("actor", "actor is required: who decides")
	}
	if req.Decision == DecisionApprove && req.Actor == d.Actor {
		return invalidInbox("actor", "%s wrote this reply and cannot approve it (four-eyes rule)", req.Actor)
	}
	if role := r.in.Item.Policy.ApprovalRole; req.Role != "" && req.Role != role {
		return invalidInbox("role", "replies are approved by role %s, not %s", role, req.Role)
	}
	return nil
}

func (r *itemRun) approveReply(ctx workflow.Context, req ReplyApproval) (InboxItemState, error) {
	d := *r.state.Draft
	detail := pastTense(req.Decision) + " the reply by " + d.Actor
	if req.Comment != "" {
		detail += ": " + req.Comment
	}
	r.event(ctx, EventInboxReplyDecision, req.Actor, detail)
	if req.Decision == DecisionReject {
		r.state.Draft = nil
		r.setStatus(ctx)
		r.record(ctx)
		return r.state, nil
	}
	return r.publish(ctx, d.Text, d.Actor, req.Actor, d.ChannelID)
}

func (r *itemRun) validateClose(ctx workflow.Context, req CloseRequest) error {
	if err := r.open(); err != nil {
		return err
	}
	if strings.TrimSpace(req.Actor) == "" {
		return invalidInbox("actor", "actor is required: who closes")
	}
	if r.publishing {
		return temporal.NewApplicationError("a reply is being published; close the item when it is out", ErrInvalidInboxRequest, "actor")
	}
	return nil
}

func (r *itemRun) closeByHand(ctx workflow.Context, req CloseRequest) (InboxItemState, error) {
	reason := strings.TrimSpace(req.Reason)
	if reason == "" {
		reason = "closed by hand"
	}
	r.close(ctx, req.Actor, reason, workflow.Now(ctx))
	return r.state, nil
}

// close ends the item, resolved at the given instant.
func (r *itemRun) close(ctx workflow.Context, actor, reason string, at time.Time) {
	r.closed = true
	if r.state.Draft != nil {
		r.event(ctx, EventInboxReplyDecision, actor, "the reply by "+r.state.Draft.Actor+" waiting for approval is dropped")
		r.state.Draft = nil
	}
	r.state.ClosedAt, r.state.ClosedBy, r.state.CloseReason = &at, actor, reason
	r.event(ctx, EventInboxClosed, actor, reason)
	r.setStatus(ctx)
	r.record(ctx)
}

// Names of the brand inbox workflow's defaults.
const (
	// DefaultInboxSweep is how often a brand's inbox looks for items whose
	// workflow is not started, besides when it is told of new ones.
	DefaultInboxSweep = 30 * time.Second
	// DefaultInboxTicks bounds one run's history before continuing as new.
	DefaultInboxTicks = 500
)

// InboxInput starts (or continues) a brand's inbox. Zero values take the
// defaults.
type InboxInput struct {
	Brand    string        `json:"brand"`
	Sweep    time.Duration `json:"sweep,omitempty"`
	MaxTicks int           `json:"max_ticks,omitempty"`
	State    InboxState    `json:"state"`
}

// InboxState is the brand inbox as its query shows it.
type InboxState struct {
	Brand     string    `json:"brand"`
	Runs      int       `json:"runs"`
	Sweeps    int64     `json:"sweeps"`
	Started   int64     `json:"started"`
	LastSweep time.Time `json:"last_sweep"`
	LastError string    `json:"last_error,omitempty"`
}

// BrandInbox starts the workflows of a brand's inbox items. Ingestion
// writes an item with its mention and then tells this workflow, which
// starts the item's workflow within moments; its periodic sweep starts
// any item whose signal was lost (the API died after the commit), so no
// accepted item is ever left without its deadlines. It continues as new
// every few hundred sweeps.
func BrandInbox(ctx workflow.Context, in InboxInput) error {
	if in.Sweep <= 0 {
		in.Sweep = DefaultInboxSweep
	}
	if in.MaxTicks <= 0 {
		in.MaxTicks = DefaultInboxTicks
	}
	st := in.State
	st.Brand = in.Brand
	st.Runs++
	if err := workflow.SetQueryHandler(ctx, QueryState, func() (InboxState, error) { return st, nil }); err != nil {
		return err
	}
	nudges := workflow.GetSignalChannel(ctx, SignalInboxItems)
	for ticks := 0; ; ticks++ {
		more, gone := sweepInbox(ctx, &st)
		if gone {
			return nil
		}
		if ticks+1 >= in.MaxTicks || workflow.GetInfo(ctx).GetContinueAsNewSuggested() {
			break
		}
		if more {
			continue
		}
		tctx, cancel := workflow.WithCancel(ctx)
		sel := workflow.NewSelector(ctx)
		sel.AddFuture(workflow.NewTimerWithOptions(tctx, in.Sweep, workflow.TimerOptions{Summary: "next sweep"}), func(workflow.Future) {})
		sel.AddReceive(nudges, func(c workflow.ReceiveChannel, _ bool) {
			for c.ReceiveAsync(nil) {
			}
		})
		sel.Select(ctx)
		cancel()
	}
	// Pending nudges need no carrying: the next run sweeps at once.
	for nudges.ReceiveAsync(nil) {
	}
	next := in
	next.State = st
	return workflow.NewContinueAsNewError(ctx, BrandInboxWorkflow, next)
}

// sweepInbox starts the brand's unstarted items. A failure is recorded
// and the next sweep tries again; a brand that no longer exists ends the
// inbox.
func sweepInbox(ctx workflow.Context, st *InboxState) (more, gone bool) {
	at := workflow.Now(ctx)
	st.Sweeps++
	st.LastSweep = at
	actx := workflow.WithActivityOptions(ctx, workflow.ActivityOptions{
		StartToCloseTimeout: 2 * time.Minute, ScheduleToCloseTimeout: 5 * time.Minute, HeartbeatTimeout: 30 * time.Second,
		Summary:     "start the inbox items of " + st.Brand,
		RetryPolicy: &temporal.RetryPolicy{MaximumInterval: 30 * time.Second, NonRetryableErrorTypes: []string{activities.ErrTypeNotFound}},
	})
	var res activities.DispatchResult
	err := workflow.ExecuteActivity(actx, acts.DispatchInbox, st.Brand).Get(ctx, &res)
	if err != nil {
		var app *temporal.ApplicationError
		if errors.As(err, &app) && app.Type() == activities.ErrTypeNotFound {
			return false, true
		}
		st.LastError = err.Error()
		return false, false
	}
	st.LastError = ""
	st.Started += int64(res.Started)
	return res.More, false
}
