package activities

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sort"
	"strings"
	"time"

	"go.temporal.io/sdk/temporal"

	"github.com/cmo-dev/cmo/listening"
	"github.com/cmo-dev/cmo/playbooks"
	"github.com/cmo-dev/cmo/rules"
	"github.com/cmo-dev/cmo/store"
)

// CrisisStart is what a crisis workflow is started (or signalled) with.
type CrisisStart struct {
	WorkflowID string
	CrisisID   string
	Brand      string
	Plan       *playbooks.Plan
	Scope      string
	Window     rules.Window
	Targets    map[string][]playbooks.Target
}

// CrisisStarter opens a crisis with signal-with-start: it starts the
// brand's crisis workflow for the playbook, or, when one is already open,
// signals it the new window. It returns the run that has the crisis.
type CrisisStarter interface {
	SignalWithStartCrisis(ctx context.Context, s CrisisStart) (runID string, err error)
}

// MonitorSetup is what a brand monitor runs with: the crisis playbooks it
// evaluates.
type MonitorSetup struct {
	Timezone string            `json:"timezone"`
	Plans    []*playbooks.Plan `json:"plans"`
}

// LoadMonitorSetup reads the brand's enabled crisis playbooks.
func (a *Activities) LoadMonitorSetup(ctx context.Context, brand string) (MonitorSetup, error) {
	b, err := a.Store.Brand(ctx, brand)
	if errors.Is(err, store.ErrNotFound) {
		return MonitorSetup{}, temporal.NewNonRetryableApplicationError("brand "+brand+" does not exist", ErrTypeNotFound, err)
	}
	if err != nil {
		return MonitorSetup{}, err
	}
	_, enabled, err := a.Store.Listening(ctx, brand)
	if err != nil {
		return MonitorSetup{}, err
	}
	out := MonitorSetup{Timezone: b.Timezone}
	if a.Playbooks == nil {
		return out, nil
	}
	for _, p := range a.Playbooks.List() {
		if p.Kind == playbooks.KindCrisis && p.Detect.Src != "" && (enabled == nil || slices.Contains(enabled, p.Name)) {
			out.Plans = append(out.Plans, p)
		}
	}
	sort.Slice(out.Plans, func(i, j int) bool { return out.Plans[i].Name < out.Plans[j].Name })
	return out, nil
}

// WindowsInput asks for a brand's windows at an instant.
type WindowsInput struct {
	Brand   string          `json:"brand"`
	At      time.Time       `json:"at"`
	Lengths []time.Duration `json:"lengths"`
}

// ListeningWindows folds completed hours into the baselines and computes
// the windows of every scope at the given instant (the workflow's clock,
// so a replay or a simulation sees the same windows).
func (a *Activities) ListeningWindows(ctx context.Context, in WindowsInput) ([]listening.ScopedWindow, error) {
	if len(in.Lengths) == 0 {
		return nil, nil
	}
	b, err := a.Store.Brand(ctx, in.Brand)
	if err != nil {
		return nil, err
	}
	loc, err := time.LoadLocation(b.Timezone)
	if err != nil {
		return nil, temporal.NewNonRetryableApplicationError("brand time zone "+b.Timezone, ErrTypePermanent, err)
	}
	cfg, _, err := a.Store.Listening(ctx, in.Brand)
	if err != nil {
		return nil, err
	}
	bases, err := a.Store.FoldBaselines(ctx, in.Brand, loc, in.At)
	if err != nil {
		return nil, err
	}
	from, to := listening.Span(in.At, slices.Max(in.Lengths))
	buckets, err := a.Store.Buckets(ctx, in.Brand, from, to)
	if err != nil {
		return nil, err
	}
	return listening.Windows(buckets, bases, in.At, in.Lengths, loc, cfg.Expected()), nil
}

// OpenCrisisInput is a detection: a playbook's rule held on a window.
type OpenCrisisInput struct {
	Brand  string          `json:"brand"`
	Plan   *playbooks.Plan `json:"plan"`
	Scope  string          `json:"scope"`
	Window rules.Window    `json:"window"`
	At     time.Time       `json:"at"`
}

// OpenCrisisResult names the crisis that has the detection.
type OpenCrisisResult struct {
	CrisisID   string    `json:"crisis_id"`
	WorkflowID string    `json:"workflow_id"`
	RunID      string    `json:"run_id"`
	Scope      string    `json:"scope"`
	OpenedAt   time.Time `json:"opened_at"`
	// Started is false when the crisis was already open and the detection
	// was added to it as evidence.
	Started bool `json:"started"`
}

// CrisisWorkflowID is the workflow id of a brand's crisis for a playbook:
// one id per brand and playbook is what keeps a second detection from
// opening a second crisis.
func CrisisWorkflowID(brand, playbook string) string { return "crisis:" + brand + ":" + playbook }

// CrisisID names the crisis a detection at an instant would open.
func CrisisID(brand, playbook string, at time.Time) string {
	return brand + "-" + playbook + "-" + strings.ToLower(at.UTC().Format("20060102t150405"))
}

// OpenCrisis opens a crisis for a detection, or adds it to the open one,
// and records which crisis the run is.
func (a *Activities) OpenCrisis(ctx context.Context, in OpenCrisisInput) (OpenCrisisResult, error) {
	if a.Crises == nil {
		return OpenCrisisResult{}, temporal.NewNonRetryableApplicationError("this worker cannot open crises", ErrTypePermanent, nil)
	}
	if in.Plan == nil || in.Plan.Kind != playbooks.KindCrisis {
		return OpenCrisisResult{}, temporal.NewNonRetryableApplicationError("open crisis needs a Crisis playbook", ErrTypePermanent, nil)
	}
	var refs []string
	if in.Plan.Statement != nil {
		refs = in.Plan.Statement.Channels
	}
	targets, _, err := a.Store.ResolveTargets(ctx, in.Brand, refs)
	if err != nil {
		return OpenCrisisResult{}, err
	}
	start := CrisisStart{WorkflowID: CrisisWorkflowID(in.Brand, in.Plan.Name), CrisisID: CrisisID(in.Brand, in.Plan.Name, in.At),
		Brand: in.Brand, Plan: in.Plan, Scope: in.Scope, Window: in.Window, Targets: targets}
	runID, err := a.Crises.SignalWithStartCrisis(ctx, start)
	if err != nil {
		return OpenCrisisResult{}, fmt.Errorf("signal-with-start %s: %w", start.WorkflowID, err)
	}
	startedAt := a.now()
	c, err := a.Store.RecordCrisis(ctx, store.Crisis{ID: start.CrisisID, Brand: in.Brand, Playbook: in.Plan.Name, Scope: in.Scope,
		WorkflowID: start.WorkflowID, RunID: runID, OpenedAt: in.At})
	if err != nil {
		return OpenCrisisResult{}, err
	}
	if c.ID == start.CrisisID {
		// Detection latency runs from the newest mention of the window
		// that held the rule, the moment the evidence was complete. A
		// retry of this activity after this point observes it again;
		// retries here are rare and the histogram is for trends.
		if !in.Window.LastMentionAt.IsZero() {
			a.Metrics.CrisisDetected(startedAt.Sub(in.Window.LastMentionAt))
		}
		a.logger().Info("crisis opened", "crisis", c.ID, "brand", in.Brand, "playbook", in.Plan.Name, "scope", in.Scope,
			"mentions", in.Window.Mentions, "negative_ratio", in.Window.NegativeRatio, "volume_z", in.Window.VolumeZ)
	}
	return OpenCrisisResult{CrisisID: c.ID, WorkflowID: c.WorkflowID, RunID: c.RunID, Scope: c.Scope, OpenedAt: c.OpenedAt,
		Started: c.ID == start.CrisisID}, nil
}
