package server

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"sort"
	"strings"
	"time"

	"github.com/labstack/echo/v4"
	enumspb "go.temporal.io/api/enums/v1"
	"go.temporal.io/api/serviceerror"
	"go.temporal.io/api/workflowservice/v1"
	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/temporal"

	"github.com/cmo-dev/cmo/playbooks"
	"github.com/cmo-dev/cmo/store"
	"github.com/cmo-dev/cmo/workflows"
)

// LaunchRequest is the body of POST /v1/campaigns.
type LaunchRequest struct {
	// ID is the campaign id; one is generated when empty. A campaign id
	// runs once: launching it again answers 409.
	ID       string                     `json:"id"`
	Brand    string                     `json:"brand"`
	Playbook string                     `json:"playbook"`
	Params   map[string]json.RawMessage `json:"params"`
	// Author is who launches the campaign; with the four-eyes rule they
	// cannot approve it themselves.
	Author string `json:"author"`
	// Tags are added to the playbook's own; Market is the market the
	// campaign speaks to ("es"). A crisis freeze may hold campaigns by
	// either.
	Tags   []string `json:"tags"`
	Market string   `json:"market"`
}

// maxLaunchTags bounds the tags a launch may add.
const maxLaunchTags = 32

// LaunchResponse answers a launch.
type LaunchResponse struct {
	ID         string            `json:"id"`
	WorkflowID string            `json:"workflow_id"`
	RunID      string            `json:"run_id"`
	Brand      string            `json:"brand"`
	Playbook   string            `json:"playbook"`
	Links      map[string]string `json:"links"`
}

func newCampaignID(now time.Time) string {
	b := make([]byte, 4)
	_, _ = rand.Read(b)
	return now.UTC().Format("20060102-150405") + "-" + hex.EncodeToString(b)
}

func (s *Server) launchCampaign(c echo.Context) error {
	ctx := c.Request().Context()
	var req LaunchRequest
	if err := decodeJSON(c, &req); err != nil {
		return err
	}
	if req.ID == "" {
		req.ID = newCampaignID(s.d.Now())
	} else if !playbooks.ValidID(req.ID) {
		return invalidField("id", "campaign ids are 1-63 lower-case letters, digits, '-' or '_', got %q", req.ID)
	}
	if req.Brand == "" {
		return invalidField("brand", "brand is required")
	}
	if err := s.allowBrand(c, "brand", req.Brand); err != nil {
		return err
	}
	// The key's holder is the author, so the four-eyes rule knows who
	// may not approve.
	if err := bindActor(c, "author", &req.Author); err != nil {
		return err
	}
	brand, err := s.d.Store.Brand(ctx, req.Brand)
	if errors.Is(err, store.ErrNotFound) {
		return invalidField("brand", "no brand %q", req.Brand)
	} else if err != nil {
		return err
	}
	if req.Playbook == "" {
		return invalidField("playbook", "playbook is required (one of: %s)", strings.Join(s.d.Playbooks.Names(), ", "))
	}
	plan, ok := s.d.Playbooks.Get(req.Playbook)
	if !ok {
		return invalidField("playbook", "no playbook %q (known: %s)", req.Playbook, strings.Join(s.d.Playbooks.Names(), ", "))
	}
	if plan.Kind != playbooks.KindCampaign {
		return invalidField("playbook", "playbook %q is a %s playbook, not a campaign", req.Playbook, plan.Kind)
	}
	tags, err := launchTags(plan.Tags, req.Tags)
	if err != nil {
		return err
	}
	if req.Market != "" && !playbooks.ValidID(req.Market) {
		return invalidField("market", "market is one id of lower-case letters, digits, '-' or '_' (such as es), got %q", req.Market)
	}
	params, err := plan.BindParams(req.Params)
	var fes playbooks.FieldErrors
	if errors.As(err, &fes) {
		return fieldErrors(fes)
	} else if err != nil {
		return err
	}
	targets, err := s.resolveTargets(c, brand, plan)
	if err != nil {
		return err
	}
	loc, err := time.LoadLocation(brand.Timezone)
	if err != nil {
		return fmt.Errorf("brand %s time zone %q: %w", brand.ID, brand.Timezone, err)
	}
	times, err := plan.ResolveTimes(params, loc)
	if err != nil {
		return invalidField("params", "%v", err)
	}

	in := workflows.CampaignInput{CampaignID: req.ID, Brand: brand.ID, Author: req.Author, Plan: plan, Params: params,
		Targets: targets, Times: times, Timezone: brand.Timezone, Tags: tags, Market: req.Market}
	wid := workflows.CampaignWorkflowID(req.ID)
	opts := client.StartWorkflowOptions{
		ID:                       wid,
		TaskQueue:                s.d.TaskQueue,
		WorkflowIDReusePolicy:    enumspb.WORKFLOW_ID_REUSE_POLICY_REJECT_DUPLICATE,
		WorkflowIDConflictPolicy: enumspb.WORKFLOW_ID_CONFLICT_POLICY_FAIL,
		// Without this the SDK hands back the existing run as if it had
		// just started, and a second launch of an id would answer 201.
		WorkflowExecutionErrorWhenAlreadyStarted: true,
		TypedSearchAttributes: temporal.NewSearchAttributes(
			workflows.SABrand.ValueSet(brand.ID),
			workflows.SAPlaybook.ValueSet(plan.Name),
			workflows.SAKind.ValueSet(workflows.KindCampaign),
			workflows.SAStatus.ValueSet("starting"),
		),
		Memo:          map[string]any{"title": fmt.Sprintf("%s — %s", plan.DisplayTitle(), brand.Name), "author": req.Author},
		StaticSummary: fmt.Sprintf("%s for %s", plan.DisplayTitle(), brand.Name),
		StaticDetails: launchDetails(plan, brand, req.Author, params, tags, req.Market),
	}
	audit(c, func(e *store.AuditEntry) {
		e.Subject, e.WorkflowID = "campaign:"+req.ID, wid
		e.Detail["playbook"], e.Detail["playbook_hash"] = plan.Name, plan.Hash
	})
	run, err := s.d.Temporal.ExecuteWorkflow(ctx, opts, workflows.CampaignWorkflow, in)
	var started *serviceerror.WorkflowExecutionAlreadyStarted
	if errors.As(err, &started) {
		return conflict("id", "campaign %q already exists", req.ID)
	} else if err != nil {
		return fmt.Errorf("start campaign %s: %w", req.ID, err)
	}
	return c.JSON(http.StatusCreated, LaunchResponse{
		ID: req.ID, WorkflowID: wid, RunID: run.GetRunID(), Brand: brand.ID, Playbook: plan.Name,
		Links: s.links(req.ID),
	})
}

func (s *Server) links(id string) map[string]string {
	l := map[string]string{
		"self":      "/v1/campaigns/" + id,
		"approvals": "/v1/campaigns/" + id + "/approvals",
		"report":    "/v1/campaigns/" + id + "/report",
	}
	if s.d.UIURL != "" {
		l["temporal_ui"] = fmt.Sprintf("%s/namespaces/%s/workflows/%s", strings.TrimRight(s.d.UIURL, "/"),
			url.PathEscape(s.d.Namespace), url.PathEscape(workflows.CampaignWorkflowID(id)))
	}
	return l
}

// launchTags is the playbook's tags followed by the launch's new ones.
func launchTags(own, extra []string) ([]string, error) {
	if len(extra) > maxLaunchTags {
		return nil, invalidField("tags", "at most %d tags, got %d", maxLaunchTags, len(extra))
	}
	out := append([]string(nil), own...)
	for i, t := range extra {
		if !playbooks.ValidID(t) {
			return nil, invalidField(fmt.Sprintf("tags[%d]", i), "tags are 1-63 lower-case letters, digits, '-' or '_', got %q", t)
		}
		if !slices.Contains(out, t) {
			out = append(out, t)
		}
	}
	return out, nil
}

// launchDetails is the markdown the Temporal UI shows on the workflow page.
func launchDetails(plan *playbooks.Plan, brand store.Brand, author string, params map[string]any, tags []string, market string) string {
	var b strings.Builder
	fmt.Fprintf(&b, "**%s** for **%s**\n\n", plan.DisplayTitle(), brand.Name)
	fmt.Fprintf(&b, "playbook `%s` (%s, sha256 %s…)\n\n", plan.Name, plan.File, plan.Hash[:12])
	if author != "" {
		fmt.Fprintf(&b, "launched by %s\n\n", author)
	}
	if len(tags) > 0 {
		fmt.Fprintf(&b, "tags: %s\n\n", strings.Join(tags, ", "))
	}
	if market != "" {
		fmt.Fprintf(&b, "market: %s\n\n", market)
	}
	keys := make([]string, 0, len(params))
	for k := range params {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		fmt.Fprintf(&b, "- %s: %v\n", k, params[k])
	}
	return b.String()
}

// resolveTargets maps each channel reference of the plan to the brand's
// channels: a platform name means every active channel on it; anything
// else is a channel name.
func (s *Server) resolveTargets(c echo.Context, brand store.Brand, plan *playbooks.Plan) (map[string][]playbooks.Target, error) {
	out, missing, err := s.d.Store.ResolveTargets(c.Request().Context(), brand.ID, plan.ChannelRefs())
	if err != nil {
		return nil, err
	}
	if len(missing) > 0 {
		return nil, invalidField("brand", "brand %q has no active channel for %s, which playbook %q publishes to",
			brand.ID, strings.Join(missing, ", "), plan.Name)
	}
	return out, nil
}

// CampaignView is GET /v1/campaigns/{id}: the workflow's own state plus
// what Temporal knows about the execution.
type CampaignView struct {
	workflows.CampaignState
	WorkflowID     string            `json:"workflow_id"`
	RunID          string            `json:"run_id"`
	WorkflowStatus string            `json:"workflow_status"`
	StartedAt      *time.Time        `json:"started_at,omitempty"`
	ClosedAt       *time.Time        `json:"closed_at,omitempty"`
	Links          map[string]string `json:"links"`
}

func (s *Server) getCampaign(c echo.Context) error {
	ctx := c.Request().Context()
	id := c.Param("id")
	wid := workflows.CampaignWorkflowID(id)
	desc, err := s.d.Temporal.DescribeWorkflowExecution(ctx, wid, "")
	if err != nil {
		return s.workflowErr(err, id)
	}
	resp, err := s.d.Temporal.QueryWorkflow(ctx, wid, "", workflows.QueryState)
	if err != nil {
		return s.workflowErr(err, id)
	}
	var view CampaignView
	if err := resp.Get(&view.CampaignState); err != nil {
		return fmt.Errorf("decode state of %s: %w", id, err)
	}
	info := desc.GetWorkflowExecutionInfo()
	view.WorkflowID, view.RunID = wid, info.GetExecution().GetRunId()
	view.WorkflowStatus = executionStatus(info.GetStatus())
	if t := info.GetStartTime(); t != nil {
		st := t.AsTime()
		view.StartedAt = &st
	}
	if t := info.GetCloseTime(); t != nil && info.GetStatus() != enumspb.WORKFLOW_EXECUTION_STATUS_RUNNING {
		ct := t.AsTime()
		view.ClosedAt = &ct
	}
	view.Links = s.links(id)
	return c.JSON(http.StatusOK, view)
}

func executionStatus(st enumspb.WorkflowExecutionStatus) string {
	return strings.ToLower(strings.TrimPrefix(st.String(), "WORKFLOW_EXECUTION_STATUS_"))
}

// workflowErr maps Temporal errors about one campaign to answers.
func (s *Server) workflowErr(err error, id string) error {
	var nf *serviceerror.NotFound
	if errors.As(err, &nf) {
		return notFound("id", "no campaign %q", id)
	}
	var unavail *serviceerror.Unavailable
	if errors.As(err, &unavail) {
		return unavailable("temporal is unavailable, try again shortly")
	}
	// A query that outlives its deadline means a busy worker, not a broken
	// request: the client should try again.
	var deadline *serviceerror.DeadlineExceeded
	if errors.As(err, &deadline) || errors.Is(err, context.DeadlineExceeded) {
		p := unavailable("campaign %s did not answer in time; try again shortly", id)
		p.RetryAfter = 1
		return p
	}
	return fmt.Errorf("campaign %s: %w", id, err)
}

// CampaignSummary is one item of GET /v1/campaigns.
type CampaignSummary struct {
	ID             string     `json:"id"`
	WorkflowID     string     `json:"workflow_id"`
	Brand          string     `json:"brand"`
	Playbook       string     `json:"playbook"`
	Status         string     `json:"status"`
	WorkflowStatus string     `json:"workflow_status"`
	Title          string     `json:"title,omitempty"`
	StartedAt      time.Time  `json:"started_at"`
	ClosedAt       *time.Time `json:"closed_at,omitempty"`
}

func (s *Server) listCampaigns(c echo.Context) error {
	ctx := c.Request().Context()
	q := fmt.Sprintf("WorkflowType = '%s' AND Kind = '%s'", workflows.CampaignWorkflow, workflows.KindCampaign)
	for _, f := range []struct{ param, attr string }{{"brand", "Brand"}, {"playbook", "Playbook"}, {"status", "Status"}} {
		v := c.QueryParam(f.param)
		if v == "" {
			continue
		}
		if !playbooks.ValidID(v) {
			return invalidField(f.param, "%s must be lower-case letters, digits, '-' or '_', got %q", f.param, v)
		}
		q += fmt.Sprintf(" AND %s = '%s'", f.attr, v)
	}
	size := int32(50)
	if v := c.QueryParam("limit"); v != "" {
		var n int
		if _, err := fmt.Sscanf(v, "%d", &n); err != nil || n < 1 || n > 500 {
			return invalidField("limit", "limit must be an integer from 1 to 500, got %q", v)
		}
		size = int32(n)
	}
	var token []byte
	if v := c.QueryParam("page_token"); v != "" {
		raw, err := hex.DecodeString(v)
		if err != nil {
			return invalidField("page_token", "page_token is not one this API returned")
		}
		token = raw
	}
	resp, err := s.d.Temporal.ListWorkflow(ctx, &workflowservice.ListWorkflowExecutionsRequest{
		Namespace: s.d.Namespace, Query: q, PageSize: size, NextPageToken: token,
	})
	if err != nil {
		var inv *serviceerror.InvalidArgument
		if errors.As(err, &inv) {
			return unavailable("campaign search is not ready: %v", inv.Message)
		}
		return fmt.Errorf("list campaigns: %w", err)
	}
	out := []CampaignSummary{}
	for _, ex := range resp.GetExecutions() {
		sa := ex.GetSearchAttributes().GetIndexedFields()
		str := func(name string) string {
			if p, ok := sa[name]; ok {
				var v string
				if json.Unmarshal(p.GetData(), &v) == nil {
					return v
				}
			}
			return ""
		}
		var title string
		if m, ok := ex.GetMemo().GetFields()["title"]; ok {
			_ = json.Unmarshal(m.GetData(), &title)
		}
		wid := ex.GetExecution().GetWorkflowId()
		item := CampaignSummary{
			ID: strings.TrimPrefix(wid, "campaign:"), WorkflowID: wid,
			Brand: str("Brand"), Playbook: str("Playbook"), Status: str("Status"),
			WorkflowStatus: executionStatus(ex.GetStatus()), Title: title, StartedAt: ex.GetStartTime().AsTime(),
		}
		if ex.GetCloseTime() != nil && ex.GetStatus() != enumspb.WORKFLOW_EXECUTION_STATUS_RUNNING {
			ct := ex.GetCloseTime().AsTime()
			item.ClosedAt = &ct
		}
		out = append(out, item)
	}
	body := map[string]any{"campaigns": out}
	if len(resp.GetNextPageToken()) > 0 {
		body["next_page_token"] = hex.EncodeToString(resp.GetNextPageToken())
	}
	return c.JSON(http.StatusOK, body)
}

func (s *Server) approveCampaign(c echo.Context) error {
	ctx := c.Request().Context()
	id := c.Param("id")
	var req workflows.ApprovalRequest
	if err := decodeJSON(c, &req); err != nil {
		return err
	}
	switch req.Decision {
	case workflows.DecisionApprove, workflows.DecisionReject:
	case "":
		return invalidField("decision", "decision is required: %q or %q", workflows.DecisionApprove, workflows.DecisionReject)
	default:
		return invalidField("decision", "decision must be %q or %q, got %q", workflows.DecisionApprove, workflows.DecisionReject, req.Decision)
	}
	if err := bindActor(c, "actor", &req.Actor); err != nil {
		return err
	}
	if strings.TrimSpace(req.Actor) == "" {
		return invalidField("actor", "actor is required: who decides")
	}
	wid := workflows.CampaignWorkflowID(id)
	audit(c, func(e *store.AuditEntry) {
		e.Action, e.WorkflowID = req.Decision, wid
		e.Detail["step_id"], e.Detail["content_hash"], e.Detail["comment"] = req.StepID, req.ContentHash, req.Comment
	})
	handle, err := s.d.Temporal.UpdateWorkflow(ctx, client.UpdateWorkflowOptions{
		WorkflowID: wid, UpdateName: workflows.UpdateApproval, Args: []any{req},
		WaitForStage: client.WorkflowUpdateStageCompleted,
	})
	if err == nil {
		var res workflows.ApprovalResult
		if err = handle.Get(ctx, &res); err == nil {
			return c.JSON(http.StatusOK, res)
		}
	}
	var app *temporal.ApplicationError
	if errors.As(err, &app) {
		switch app.Type() {
		case workflows.ErrNotAwaitingApproval:
			return conflict("id", "%s", app.Message())
		case workflows.ErrInvalidApproval:
			field := "body"
			if app.HasDetails() {
				_ = app.Details(&field)
			}
			return invalidField(field, "%s", app.Message())
		}
	}
	var nf *serviceerror.NotFound
	if errors.As(err, &nf) {
		// The workflow may exist but be closed: say which.
		if desc, derr := s.d.Temporal.DescribeWorkflowExecution(ctx, wid, ""); derr == nil {
			return conflict("id", "campaign %q has finished (%s) and takes no more approvals", id,
				executionStatus(desc.GetWorkflowExecutionInfo().GetStatus()))
		}
		return notFound("id", "no campaign %q", id)
	}
	return s.workflowErr(err, id)
}
