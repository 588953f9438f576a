package server

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	enumspb "go.temporal.io/api/enums/v1"
	"go.temporal.io/api/serviceerror"
	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/converter"
	"go.temporal.io/sdk/temporal"

	"github.com/labstack/echo/v4"

	"github.com/cmo-dev/cmo/postmortem"
	"github.com/cmo-dev/cmo/store"
	"github.com/cmo-dev/cmo/workflows"
)

// CrisisSummary is one item of GET /v1/crises.
type CrisisSummary struct {
	store.Crisis
	Status         string     `json:"status"`
	Severity       string     `json:"severity"`
	WorkflowStatus string     `json:"workflow_status"`
	ClosedAt       *time.Time `json:"closed_at,omitempty"`
}

// listCrises answers GET /v1/crises?brand=&status=open|closed&limit=,
// newest first, with the status and severity the workflow last recorded.
func (s *Server) listCrises(c echo.Context) error {
	ctx := c.Request().Context()
	brand, status := c.QueryParam("brand"), c.QueryParam("status")
	if brand != "" {
		if _, err := s.brandOr404ByID(c, brand); err != nil {
			return err
		}
	}
	switch status {
	case "", "open", "closed":
	default:
		return invalidField("status", "status is open or closed, got %q", status)
	}
	limit := 50
	if v := c.QueryParam("limit"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 || n > 200 {
			return invalidField("limit", "limit must be an integer from 1 to 200, got %q", v)
		}
		limit = n
	}
	rows, err := s.d.Store.Crises(ctx, brand, limit)
	if err != nil {
		return s.storeError(err)
	}
	out := []CrisisSummary{}
	for _, r := range rows {
		sum, err := s.crisisSummary(ctx, r)
		if err != nil {
			return err
		}
		open := sum.WorkflowStatus == "running"
		if (status == "open" && !open) || (status == "closed" && open) {
			continue
		}
		out = append(out, sum)
	}
	return c.JSON(http.StatusOK, map[string]any{"crises": out})
}

func (s *Server) crisisSummary(ctx context.Context, r store.Crisis) (CrisisSummary, error) {
	sum := CrisisSummary{Crisis: r}
	d, err := s.d.Temporal.DescribeWorkflowExecution(ctx, r.WorkflowID, r.RunID)
	if err != nil {
		return sum, s.crisisErr(err, r.ID)
	}
	info := d.GetWorkflowExecutionInfo()
	sum.WorkflowStatus = executionStatus(info.GetStatus())
	if info.GetStatus() != enumspb.WORKFLOW_EXECUTION_STATUS_RUNNING && info.GetCloseTime() != nil {
		t := info.GetCloseTime().AsTime()
		sum.ClosedAt = &t
	}
	for name, p := range info.GetSearchAttributes().GetIndexedFields() {
		var v string
		if converter.GetDefaultDataConverter().FromPayload(p, &v) != nil {
			continue
		}
		switch name {
		case workflows.SAStatus.GetName():
			sum.Status = v
		case workflows.SASeverity.GetName():
			sum.Severity = v
		}
	}
	return sum, nil
}

// crisis finds a crisis and its run.
func (s *Server) crisis(c echo.Context) (store.Crisis, error) {
	id := c.Param("id")
	r, err := s.d.Store.CrisisByID(c.Request().Context(), id)
	if errors.Is(err, store.ErrNotFound) {
		return r, notFound("id", "no crisis %q", id)
	}
	if err != nil {
		return r, s.storeError(err)
	}
	return r, nil
}

func (s *Server) crisisState(ctx context.Context, r store.Crisis) (workflows.CrisisState, error) {
	var st workflows.CrisisState
	v, err := s.d.Temporal.QueryWorkflow(ctx, r.WorkflowID, r.RunID, workflows.QueryState)
	if err != nil {
		return st, s.crisisErr(err, r.ID)
	}
	if err := v.Get(&st); err != nil {
		return st, fmt.Errorf("decode crisis %s: %w", r.ID, err)
	}
	return st, nil
}

// CrisisView is GET /v1/crises/{id}.
type CrisisView struct {
	workflows.CrisisState
	WorkflowID     string            `json:"workflow_id"`
	RunID          string            `json:"run_id"`
	WorkflowStatus string            `json:"workflow_status"`
	Links          map[string]string `json:"links"`
}

// loadCrisis finds a crisis, its state (a query, replayed from the
// history) and its execution status.
func (s *Server) loadCrisis(c echo.Context) (store.Crisis, workflows.CrisisState, CrisisSummary, error) {
	r, err := s.crisis(c)
	if err != nil {
		return r, workflows.CrisisState{}, CrisisSummary{}, err
	}
	ctx := c.Request().Context()
	st, err := s.crisisState(ctx, r)
	if err != nil {
		return r, st, CrisisSummary{}, err
	}
	sum, err := s.crisisSummary(ctx, r)
	return r, st, sum, err
}

func (s *Server) getCrisis(c echo.Context) error {
	r, st, sum, err := s.loadCrisis(c)
	if err != nil {
		return err
	}
	return c.JSON(http.StatusOK, CrisisView{CrisisState: st, WorkflowID: r.WorkflowID, RunID: r.RunID, WorkflowStatus: sum.WorkflowStatus, Links: s.crisisLinks(r)})
}

func (s *Server) crisisLinks(r store.Crisis) map[string]string {
	l := map[string]string{"self": "/v1/crises/" + r.ID, "timeline": "/v1/crises/" + r.ID + "/timeline",
		"postmortem": "/v1/crises/" + r.ID + "/timeline?format=markdown"}
	if s.d.UIURL != "" {
		l["temporal_ui"] = fmt.Sprintf("%s/namespaces/%s/workflows/%s/%s", strings.TrimRight(s.d.UIURL, "/"),
			url.PathEscape(s.d.Namespace), url.PathEscape(r.WorkflowID), url.PathEscape(r.RunID))
	}
	return l
}

// crisisUpdate sends a decision to the crisis workflow and answers with
// the crisis as it stands after it.
func (s *Server) crisisUpdate(name string, req func() any, check func(any) error) echo.HandlerFunc {
	return func(c echo.Context) error {
		r, err := s.crisis(c)
		if err != nil {
			return err
		}
		body, err := decodeDecision(c, req, check)
		if err != nil {
			return err
		}
		noteDecision(c, r.WorkflowID, body)
		ctx := c.Request().Context()
		h, err := s.d.Temporal.UpdateWorkflow(ctx, client.UpdateWorkflowOptions{
			WorkflowID: r.WorkflowID, RunID: r.RunID, UpdateName: name, Args: []any{body}, WaitForStage: client.WorkflowUpdateStageCompleted,
		})
		if err == nil {
			err = h.Get(ctx, nil)
		}
		if err != nil {
			return s.crisisErr(err, r.ID)
		}
		st, err := s.crisisState(ctx, r)
		if err != nil {
			return err
		}
		return c.JSON(http.StatusOK, st)
	}
}

func requireActor(actor string) error {
	if strings.TrimSpace(actor) == "" {
		return invalidField("actor", "actor is required: who decides")
	}
	return nil
}

func requireReason(reason string) error {
	if strings.TrimSpace(reason) == "" {
		return invalidField("reason", "reason is required: it goes in the timeline")
	}
	return nil
}

func (s *Server) registerCrisisRoutes(v1 *echo.Group) {
	v1.GET("/crises", s.listCrises)
	v1.GET("/crises/:id", s.getCrisis)
	v1.GET("/crises/:id/timeline", s.getCrisisTimeline)
	v1.POST("/crises/:id/ack", s.crisisUpdate(workflows.UpdateAck, func() any { return &workflows.AckRequest{} },
		func(b any) error { return requireActor(b.(*workflows.AckRequest).Actor) }))
	v1.POST("/crises/:id/escalate", s.crisisUpdate(workflows.UpdateEscalate, func() any { return &workflows.EscalateRequest{} },
		func(b any) error {
			r := b.(*workflows.EscalateRequest)
			return errors.Join(requireActor(r.Actor), requireReason(r.Reason))
		}))
	v1.POST("/crises/:id/deescalate", s.crisisUpdate(workflows.UpdateDeescalate, func() any { return &workflows.DeescalateRequest{} },
		func(b any) error {
			r := b.(*workflows.DeescalateRequest)
			if r.Level == "" {
				return invalidField("level", "level is required: the lower severity")
			}
			return errors.Join(requireActor(r.Actor), requireReason(r.Reason))
		}))
	v1.POST("/crises/:id/resolve", s.crisisUpdate(workflows.UpdateResolve, func() any { return &workflows.ResolveRequest{} },
		func(b any) error {
			r := b.(*workflows.ResolveRequest)
			return errors.Join(requireActor(r.Actor), requireReason(r.Reason))
		}))
	v1.POST("/crises/:id/freeze", s.crisisUpdate(workflows.UpdateFreeze, func() any { return &workflows.FreezeRequest{} },
		func(b any) error {
			r := b.(*workflows.FreezeRequest)
			return errors.Join(requireActor(r.Actor), requireReason(r.Reason))
		}))
	v1.POST("/crises/:id/statement", s.crisisUpdate(workflows.UpdateStatementApproval, func() any { return &workflows.StatementApproval{} },
		func(b any) error {
			r := b.(*workflows.StatementApproval)
			switch r.Decision {
			case workflows.DecisionApprove, workflows.DecisionReject, workflows.DecisionEdit:
			default:
				return invalidField("decision", "decision must be %q, %q or %q, got %q", workflows.DecisionApprove, workflows.DecisionReject, workflows.DecisionEdit, r.Decision)
			}
			return requireActor(r.Actor)
		}))
}

// crisisErr maps Temporal's answers about a crisis to problems.
func (s *Server) crisisErr(err error, id string) error {
	var p *Problem
	if errors.As(err, &p) {
		return p
	}
	var app *temporal.ApplicationError
	if errors.As(err, &app) {
		field := ""
		if app.HasDetails() {
			_ = app.Details(&field)
		}
		switch app.Type() {
		case workflows.ErrCrisisClosed, workflows.ErrAlreadyAcknowledged, workflows.ErrNotAwaitingApproval:
			return conflict("id", "%s", app.Message())
		case workflows.ErrInvalidCrisisRequest, workflows.ErrInvalidApproval:
			if field == "" {
				field = "body"
			}
			return invalidField(field, "%s", app.Message())
		}
	}
	var nf *serviceerror.NotFound
	if errors.As(err, &nf) {
		return conflict("id", "crisis %q is closed and takes no more decisions", id)
	}
	var unavail *serviceerror.Unavailable
	if errors.As(err, &unavail) {
		return unavailable("temporal is unavailable, try again shortly")
	}
	return fmt.Errorf("crisis %s: %w", id, err)
}

// getCrisisTimeline answers the post-mortem: JSON by default, Markdown
// with ?format=markdown or Accept: text/markdown.
func (s *Server) getCrisisTimeline(c echo.Context) error {
	r, st, sum, err := s.loadCrisis(c)
	if err != nil {
		return err
	}
	ctx := c.Request().Context()
	deliveries, err := s.d.Store.CrisisDeliveries(ctx, r.ID)
	if err != nil {
		return s.storeError(err)
	}
	// Mentions from a window before detection to the end (or now), in
	// about a hundred steps of whole minutes.
	before := st.Window.Minutes
	if before <= 0 {
		before = 60
	}
	from := r.OpenedAt.Add(-time.Duration(before) * time.Minute).Truncate(time.Minute)
	to := s.d.Now()
	if sum.ClosedAt != nil {
		to = *sum.ClosedAt
	}
	step := max(to.Sub(from)/100, time.Minute).Truncate(time.Minute)
	series, err := s.d.Store.Series(ctx, r.Brand, r.Scope, from, to.Add(time.Minute), step)
	if err != nil {
		return s.storeError(err)
	}
	t := postmortem.Build(postmortem.Input{Crisis: r, State: st, Running: sum.WorkflowStatus == "running", ClosedAt: sum.ClosedAt,
		Deliveries: deliveries, Series: series, SeriesStep: step, WorkflowURL: s.crisisLinks(r)["temporal_ui"]})
	format := c.QueryParam("format")
	if format == "" && strings.Contains(c.Request().Header.Get("Accept"), "text/markdown") {
		format = "markdown"
	}
	switch format {
	case "", "json":
		return c.JSON(http.StatusOK, t)
	case "markdown", "md":
		return c.Blob(http.StatusOK, "text/markdown; charset=utf-8", []byte(postmortem.Markdown(t)))
	}
	return invalidField("format", "format is json or markdown, got %q", format)
}
