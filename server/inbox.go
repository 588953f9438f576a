package server

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/labstack/echo/v4"
	"go.temporal.io/api/serviceerror"
	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/temporal"

	"github.com/cmo-dev/cmo/activities"
	"github.com/cmo-dev/cmo/contentcheck"
	"github.com/cmo-dev/cmo/inbox"
	"github.com/cmo-dev/cmo/listening"
	"github.com/cmo-dev/cmo/playbooks"
	"github.com/cmo-dev/cmo/store"
	"github.com/cmo-dev/cmo/worker"
	"github.com/cmo-dev/cmo/workflows"
)

// registerInboxRoutes adds the reply inbox, its set-up and its KPIs.
func (s *Server) registerInboxRoutes(v1 *echo.Group) {
	if s.d.Temporal != nil {
		s.inboxNudge = newNudger(s.signalInbox)
	}
	v1.GET("/brands/:brand/inbox", s.listInbox)
	v1.GET("/brands/:brand/inbox/setup", s.getInboxSetup)
	v1.PUT("/brands/:brand/inbox/setup", s.putInboxSetup)
	v1.GET("/brands/:brand/inbox/kpis", s.getCareKPIs)
	v1.GET("/inbox/:id", s.getInboxItem)
	v1.POST("/inbox/:id/assign", s.inboxUpdate(workflows.UpdateInboxAssign, func() any { return &workflows.AssignRequest{} },
		func(b any) error {
			r := b.(*workflows.AssignRequest)
			if strings.TrimSpace(r.Assignee) == "" {
				return invalidField("assignee", "assignee is required: who answers")
			}
			return requireActor(r.Actor)
		}))
	v1.POST("/inbox/:id/reply", s.replyInboxItem)
	v1.POST("/inbox/:id/approval", s.inboxUpdate(workflows.UpdateInboxReplyApproval, func() any { return &workflows.ReplyApproval{} },
		func(b any) error {
			r := b.(*workflows.ReplyApproval)
			if r.Decision != workflows.DecisionApprove && r.Decision != workflows.DecisionReject {
				return invalidField("decision", "decision must be %q or %q, got %q", workflows.DecisionApprove, workflows.DecisionReject, r.Decision)
			}
			return requireActor(r.Actor)
		}))
	v1.POST("/inbox/:id/close", s.inboxUpdate(workflows.UpdateInboxClose, func() any { return &workflows.CloseRequest{} },
		func(b any) error { return requireActor(b.(*workflows.CloseRequest).Actor) }))
	s.registerInfluencerRoutes(v1)
}

// inboxMarks classifies a request's mentions with their brands' inbox
// rules, before they are stored, so that their items are written in the
// same transaction. Brands without an enabled inbox cost one query per
// request and nothing per mention.
//
// Starting each item's workflow here, inline, would put a Temporal round
// trip per complaint on the ingestion path and lose the item if the
// process died between the commit and the start. Instead the item is a
// row written with its mention (nothing accepted is lost), the brand's
// inbox workflow is told after the commit (inboxOpened) and starts the
// items' workflows within moments, and its periodic sweep starts any row
// a lost signal left behind.
func (s *Server) inboxMarks(ctx context.Context, ms []listening.Mention, brands map[string]*listening.Config, now time.Time) ([]inbox.Mark, error) {
	var classifiers map[string]*inbox.Classifier
	for brand := range brands {
		cfg, err := s.d.Store.InboxConfig(ctx, brand)
		if err != nil {
			return nil, err
		}
		if !cfg.Enabled {
			continue
		}
		chs, err := s.d.Store.Channels(ctx, brand)
		if err != nil {
			return nil, err
		}
		handles := make([]string, 0, len(chs))
		for _, ch := range chs {
			handles = append(handles, ch.Handle)
		}
		cl, err := cfg.Classifier(handles)
		if err != nil {
			return nil, err
		}
		if classifiers == nil {
			classifiers = map[string]*inbox.Classifier{}
		}
		classifiers[brand] = cl
	}
	if classifiers == nil {
		return nil, nil
	}
	var marks []inbox.Mark
	for i := range ms {
		if mark, ok := classifiers[ms[i].Brand].Classify(&ms[i], now); ok {
			marks = append(marks, mark)
		}
	}
	return marks, nil
}

// inboxOpened tells the inboxes of the brands whose mentions opened items
// to start them. Best effort: the inbox's sweep is the guarantee.
func (s *Server) inboxOpened(marks []inbox.Mark, opened int) {
	if opened == 0 || s.inboxNudge == nil {
		return
	}
	for _, m := range marks {
		s.inboxNudge.poke(m.Brand) // at most one signal a second per brand
	}
}

func (s *Server) signalInbox(brand string) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := worker.NudgeInbox(ctx, s.d.Temporal, s.d.TaskQueue, brand, workflows.InboxInput{}); err != nil {
		s.d.Log.Warn("nudge inbox", "brand", brand, "error", err)
	}
}

// InboxSetupRequest replaces a brand's inbox set-up. Durations are text
// such as "30m", "4h" or "2d".
type InboxSetupRequest struct {
	Enabled            bool              `json:"enabled"`
	Rules              []inbox.Rule      `json:"rules"`
	Deadlines          map[string]string `json:"deadlines"`
	RemindBefore       string            `json:"remind_before"`
	Notify             []string          `json:"notify"`
	EscalateTo         []string          `json:"escalate_to"`
	ApprovalRole       string            `json:"approval_role"`
	ReplyChannels      map[string]string `json:"reply_channels"`
	CloseAfter         string            `json:"close_after"`
	MaxAge             string            `json:"max_age"`
	IncludeCompetitors bool              `json:"include_competitors"`
}

func (s *Server) putInboxSetup(c echo.Context) error {
	ctx := c.Request().Context()
	b, err := s.brandOr404(c)
	if err != nil {
		return err
	}
	var req InboxSetupRequest
	if err := decodeJSON(c, &req); err != nil {
		return err
	}
	cfg := &inbox.Config{Enabled: req.Enabled, Rules: req.Rules, Notify: req.Notify, EscalateTo: req.EscalateTo,
		ApprovalRole: req.ApprovalRole, ReplyChannels: req.ReplyChannels, IncludeCompetitors: req.IncludeCompetitors}
	duration := func(field, v string) (inbox.Duration, error) {
		if v == "" {
			return 0, nil
		}
		d, err := playbooks.ParseDuration(v)
		if err != nil {
			return 0, invalidField(field, "%v", err)
		}
		return inbox.Duration(d), nil
	}
	if cfg.RemindBefore, err = duration("remind_before", req.RemindBefore); err != nil {
		return err
	}
	if cfg.CloseAfter, err = duration("close_after", req.CloseAfter); err != nil {
		return err
	}
	if cfg.MaxAge, err = duration("max_age", req.MaxAge); err != nil {
		return err
	}
	for p, v := range req.Deadlines {
		d, err := duration("deadlines."+p, v)
		if err != nil {
			return err
		}
		if cfg.Deadlines == nil {
			cfg.Deadlines = map[string]inbox.Duration{}
		}
		cfg.Deadlines[p] = d
	}
	if err := cfg.Validate(); err != nil {
		return inboxFieldError(err)
	}
	chs, err := s.d.Store.Channels(ctx, b.ID)
	if err != nil {
		return s.storeError(err)
	}
	for src, name := range cfg.ReplyChannels {
		if !slices.ContainsFunc(chs, func(ch store.Channel) bool { return ch.Name == name }) {
			return invalidField("reply_channels."+src, "brand %s has no channel named %q", b.ID, name)
		}
	}
	if err := s.d.Store.SetInboxConfig(ctx, b.ID, cfg); err != nil {
		return inboxFieldError(err)
	}
	if cfg.Enabled && s.d.Temporal != nil {
		sctx, cancel := context.WithTimeout(ctx, 5*time.Second)
		defer cancel()
		if err := worker.NudgeInbox(sctx, s.d.Temporal, s.d.TaskQueue, b.ID, workflows.InboxInput{}); err != nil {
			s.d.Log.Warn("start inbox", "brand", b.ID, "error", err)
		}
	}
	return s.getInboxSetup(c)
}

func inboxFieldError(err error) error {
	var fe *inbox.FieldError
	if errors.As(err, &fe) {
		return invalidField(fe.Field, "%s", fe.Message)
	}
	return err
}

// InboxSetupView is a brand's inbox set-up as stored, with what is in
// force once the defaults fill the gaps.
type InboxSetupView struct {
	Brand  string        `json:"brand"`
	Setup  *inbox.Config `json:"setup"`
	Rules  []inbox.Rule  `json:"rules"`
	Policy map[string]struct {
		ReplyWithin  string   `json:"reply_within"`
		RemindBefore string   `json:"remind_before"`
		Notify       []string `json:"notify"`
		EscalateTo   []string `json:"escalate_to"`
		ApprovalRole string   `json:"approval_role,omitempty"`
		CloseAfter   string   `json:"close_after"`
	} `json:"policy"`
	Inbox any `json:"workflow,omitempty"`
}

func (s *Server) getInboxSetup(c echo.Context) error {
	ctx := c.Request().Context()
	b, err := s.brandOr404(c)
	if err != nil {
		return err
	}
	cfg, err := s.d.Store.InboxConfig(ctx, b.ID)
	if err != nil {
		return s.storeError(err)
	}
	v := InboxSetupView{Brand: b.ID, Setup: cfg, Rules: cfg.EffectiveRules()}
	v.Policy = map[string]struct {
		ReplyWithin  string   `json:"reply_within"`
		RemindBefore string   `json:"remind_before"`
		Notify       []string `json:"notify"`
		EscalateTo   []string `json:"escalate_to"`
		ApprovalRole string   `json:"approval_role,omitempty"`
		CloseAfter   string   `json:"close_after"`
	}{}
	for _, p := range inbox.Priorities {
		pol := cfg.PolicyFor(p)
		e := v.Policy[p]
		e.ReplyWithin, e.RemindBefore, e.Notify, e.EscalateTo = pol.ReplyWithin.String(), pol.RemindBefore.String(), pol.Notify, pol.EscalateTo
		e.ApprovalRole, e.CloseAfter = pol.ApprovalRole, pol.CloseAfter.String()
		v.Policy[p] = e
	}
	if cfg.Enabled {
		v.Inbox = s.queryState(ctx, workflows.InboxWorkflowID(b.ID), &workflows.InboxState{})
	}
	return c.JSON(http.StatusOK, v)
}

// queryState asks a workflow for its state; the answer still comes when
// Temporal does not.
func (s *Server) queryState(ctx context.Context, workflowID string, into any) any {
	if s.d.Temporal == nil {
		return map[string]string{"status": "unknown"}
	}
	ctx, cancel := context.WithTimeout(ctx, 3*time.Second)
	defer cancel()
	v, err := s.d.Temporal.QueryWorkflow(ctx, workflowID, "", workflows.QueryState)
	if err != nil {
		return map[string]string{"status": "unreachable", "error": err.Error()}
	}
	if err := v.Get(into); err != nil {
		return map[string]string{"status": "unreadable", "error": err.Error()}
	}
	return into
}

// listInbox answers GET /v1/brands/{brand}/inbox?status=&assignee=&kind=&priority=&limit=&offset=:
// the open items soonest due first, then the closed ones.
func (s *Server) listInbox(c echo.Context) error {
	b, err := s.brandOr404(c)
	if err != nil {
		return err
	}
	f := store.InboxFilter{Brand: b.ID, Status: c.QueryParam("status"), Assignee: c.QueryParam("assignee"),
		Kind: c.QueryParam("kind"), Priority: c.QueryParam("priority")}
	if f.Status != "" && f.Status != "active" && !slices.Contains(inbox.Statuses, f.Status) {
		return invalidField("status", "status is active or one of %s, got %q", strings.Join(inbox.Statuses, ", "), f.Status)
	}
	if f.Kind != "" && !slices.Contains(inbox.Kinds, f.Kind) {
		return invalidField("kind", "kind is one of %s, got %q", strings.Join(inbox.Kinds, ", "), f.Kind)
	}
	if f.Priority != "" && !slices.Contains(inbox.Priorities, f.Priority) {
		return invalidField("priority", "priority is one of %s, got %q", strings.Join(inbox.Priorities, ", "), f.Priority)
	}
	if f.Limit, err = intParam(c, "limit", 100, 1, 500); err != nil {
		return err
	}
	if f.Offset, err = intParam(c, "offset", 0, 0, 1_000_000); err != nil {
		return err
	}
	items, err := s.d.Store.InboxItems(c.Request().Context(), f)
	if err != nil {
		return s.storeError(err)
	}
	if items == nil {
		items = []store.InboxItem{}
	}
	return c.JSON(http.StatusOK, map[string]any{"items": items})
}

func intParam(c echo.Context, name string, def, lo, hi int) (int, error) {
	v := c.QueryParam(name)
	if v == "" {
		return def, nil
	}
	n, err := strconv.Atoi(v)
	if err != nil || n < lo || n > hi {
		return 0, invalidField(name, "%s must be an integer from %d to %d, got %q", name, lo, hi, v)
	}
	return n, nil
}

// getCareKPIs answers GET /v1/brands/{brand}/inbox/kpis?from=&to=: the
// customer-care KPIs of the items opened in the window (the last 30 days
// by default), in total and per channel.
func (s *Server) getCareKPIs(c echo.Context) error {
	b, err := s.brandOr404(c)
	if err != nil {
		return err
	}
	now := s.d.Now()
	from, err := timeParam(c, "from")
	if err != nil {
		return err
	}
	to, err := timeParam(c, "to")
	if err != nil {
		return err
	}
	if to.IsZero() {
		to = now
	}
	if from.IsZero() {
		from = to.Add(-30 * 24 * time.Hour)
	}
	if !from.Before(to) {
		return invalidField("from", "from must be before to")
	}
	k, err := s.d.Store.CareKPIs(c.Request().Context(), b.ID, from, to, now)
	if err != nil {
		return s.storeError(err)
	}
	return c.JSON(http.StatusOK, k)
}

// careOverview is the last week's customer care, for the listening
// overview; the overview still answers when it cannot be read.
func (s *Server) careOverview(ctx context.Context, brand string) any {
	now := s.d.Now()
	k, err := s.d.Store.CareKPIs(ctx, brand, now.Add(-7*24*time.Hour), now, now)
	if err != nil {
		return map[string]string{"status": "unreadable", "error": "customer-care KPIs could not be read"}
	}
	return k
}

// InboxItemView is GET /v1/inbox/{id}: the item as the store keeps it,
// with its workflow's timeline, replies and any draft.
type InboxItemView struct {
	store.InboxItem
	Reply      *InboxReplyTarget      `json:"reply_channel,omitempty"`
	Policy     *inbox.Policy          `json:"policy,omitempty"`
	Draft      *workflows.InboxDraft  `json:"draft,omitempty"`
	RepliesOut []workflows.InboxReply `json:"reply_posts"`
	Events     []workflows.Event      `json:"events"`
	WorkflowID string                 `json:"workflow_id"`
	// Workflow is starting (not started yet), running, closed or
	// unreachable (Temporal did not answer: the rest is the store's).
	Workflow string            `json:"workflow_status"`
	Links    map[string]string `json:"links"`
}

// InboxReplyTarget is the channel that answers an item.
type InboxReplyTarget struct {
	ID   string `json:"id"`
	Name string `json:"name"`
}

func (s *Server) inboxItem(c echo.Context) (store.InboxItem, error) {
	id := c.Param("id")
	it, err := s.d.Store.InboxItem(c.Request().Context(), id)
	if errors.Is(err, store.ErrNotFound) {
		return it, notFound("id", "no inbox item %q", id)
	}
	if err != nil {
		return it, s.storeError(err)
	}
	return it, nil
}

func (s *Server) inboxView(ctx context.Context, it store.InboxItem) InboxItemView {
	wid := workflows.InboxItemWorkflowID(it.ID)
	v := InboxItemView{InboxItem: it, RepliesOut: []workflows.InboxReply{}, Events: []workflows.Event{}, WorkflowID: wid,
		Workflow: "starting", Links: map[string]string{"self": "/v1/inbox/" + it.ID}}
	if s.d.UIURL != "" {
		v.Links["temporal_ui"] = fmt.Sprintf("%s/namespaces/%s/workflows/%s", strings.TrimRight(s.d.UIURL, "/"),
			url.PathEscape(s.d.Namespace), url.PathEscape(wid))
	}
	if it.StartedAt == nil || s.d.Temporal == nil {
		return v
	}
	var st workflows.InboxItemState
	if got, ok := s.queryState(ctx, wid, &st).(*workflows.InboxItemState); ok {
		v.Workflow = "running"
		if got.ClosedAt != nil {
			v.Workflow = "closed"
		}
		v.Policy, v.Draft, v.RepliesOut, v.Events = &got.Policy, got.Draft, got.Replies, got.Events
		if got.ReplyChannelID != "" {
			v.Reply = &InboxReplyTarget{ID: got.ReplyChannelID, Name: got.ReplyChannel}
		}
	} else {
		v.Workflow = "unreachable"
	}
	return v
}

func (s *Server) getInboxItem(c echo.Context) error {
	it, err := s.inboxItem(c)
	if err != nil {
		return err
	}
	return c.JSON(http.StatusOK, s.inboxView(c.Request().Context(), it))
}

// inboxUpdate sends a decision to an item's workflow and answers with the
// item as it stands after it.
func (s *Server) inboxUpdate(name string, req func() any, check func(any) error) echo.HandlerFunc {
	return func(c echo.Context) error {
		it, err := s.inboxItem(c)
		if err != nil {
			return err
		}
		body, err := decodeDecision(c, req, check)
		if err != nil {
			return err
		}
		noteDecision(c, workflows.InboxItemWorkflowID(it.ID), body)
		return s.sendInboxUpdate(c, it, name, body)
	}
}

func (s *Server) sendInboxUpdate(c echo.Context, it store.InboxItem, name string, body any) error {
	if it.StartedAt == nil {
		p := conflict("id", "inbox item %s is being opened; try again in a moment", it.ID)
		p.RetryAfter = 1
		return p
	}
	if s.d.Temporal == nil {
		return unavailable("this API has no Temporal client to send decisions with")
	}
	ctx := c.Request().Context()
	h, err := s.d.Temporal.UpdateWorkflow(ctx, client.UpdateWorkflowOptions{
		WorkflowID: workflows.InboxItemWorkflowID(it.ID), UpdateName: name, Args: []any{body}, WaitForStage: client.WorkflowUpdateStageCompleted,
	})
	if err == nil {
		err = h.Get(ctx, nil)
	}
	if err != nil {
		return s.inboxErr(err, it.ID)
	}
	// The workflow recorded the new state before answering: read it back.
	fresh, err := s.d.Store.InboxItem(ctx, it.ID)
	if err != nil {
		return s.storeError(err)
	}
	return c.JSON(http.StatusOK, s.inboxView(ctx, fresh))
}

// InboxReplyRequest answers an item: Channel, when given, names the brand
// channel to answer from instead of the item's own.
type InboxReplyRequest struct {
	Actor   string `json:"actor"`
	Text    string `json:"text"`
	Channel string `json:"channel"`
}

// replyInboxItem publishes a reply threaded to the item's mention (or,
// when the brand requires approval, submits it for approval).
func (s *Server) replyInboxItem(c echo.Context) error {
	ctx := c.Request().Context()
	it, err := s.inboxItem(c)
	if err != nil {
		return err
	}
	var req InboxReplyRequest
	if err := decodeJSON(c, &req); err != nil {
		return err
	}
	if err := bindActor(c, "actor", &req.Actor); err != nil {
		return err
	}
	audit(c, func(e *store.AuditEntry) {
		e.WorkflowID = workflows.InboxItemWorkflowID(it.ID)
		e.Detail["text"], e.Detail["channel"] = req.Text, req.Channel
	})
	if err := requireActor(req.Actor); err != nil {
		return err
	}
	if strings.TrimSpace(req.Text) == "" {
		return invalidField("text", "text is required: the reply")
	}
	chs, err := s.d.Store.Channels(ctx, it.Brand)
	if err != nil {
		return s.storeError(err)
	}
	var ch store.Channel
	found := false
	if req.Channel != "" {
		for _, c := range chs {
			if c.Name == req.Channel || c.ID == req.Channel {
				ch, found = c, true
			}
		}
		if !found {
			return invalidField("channel", "brand %s has no channel %q", it.Brand, req.Channel)
		}
	} else {
		cfg, err := s.d.Store.InboxConfig(ctx, it.Brand)
		if err != nil {
			return s.storeError(err)
		}
		if ch, found = activities.ReplyChannel(cfg, chs, it.Source); !found {
			return invalidField("channel", "no channel of brand %s answers mentions from %s; name one", it.Brand, it.Source)
		}
	}
	if ch.Status != "active" {
		return invalidField("channel", "channel %s is %s", ch.Name, ch.Status)
	}
	if lim, ok := contentcheck.Limits(ch.Platform); ok && lim.MaxChars > 0 {
		if n := contentcheck.Length(ch.Platform, req.Text); n > lim.MaxChars {
			return invalidField("text", "the reply is %d characters as %s counts them; the limit is %d", n, lim.Name, lim.MaxChars)
		}
	}
	return s.sendInboxUpdate(c, it, workflows.UpdateInboxReply, workflows.ReplyRequest{Actor: req.Actor, Text: req.Text, ChannelID: ch.ID})
}

// inboxErr maps Temporal's answers about an item to problems.
func (s *Server) inboxErr(err error, id string) error {
	var app *temporal.ApplicationError
	if errors.As(err, &app) {
		field := ""
		if app.HasDetails() {
			_ = app.Details(&field)
		}
		switch app.Type() {
		case workflows.ErrInboxItemClosed, workflows.ErrNotAwaitingApproval:
			return conflict("id", "%s", app.Message())
		case workflows.ErrInvalidInboxRequest:
			if field == "" {
				field = "body"
			}
			return invalidField(field, "%s", app.Message())
		case workflows.ErrReplyNotPublished:
			return &Problem{Type: TypeBadGateway, Title: "Bad gateway", Status: http.StatusBadGateway, Detail: app.Message(), Field: "text"}
		}
	}
	var nf *serviceerror.NotFound
	if errors.As(err, &nf) {
		return conflict("id", "inbox item %q is closed and takes no more decisions", id)
	}
	var unavail *serviceerror.Unavailable
	if errors.As(err, &unavail) {
		return unavailable("temporal is unavailable, try again shortly")
	}
	return fmt.Errorf("inbox item %s: %w", id, err)
}

// TypeBadGateway says a platform refused what cmo sent it.
const TypeBadGateway = "urn:cmo:problem:bad-gateway"
