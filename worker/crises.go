package worker

import (
	"context"
	"fmt"

	enumspb "go.temporal.io/api/enums/v1"
	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/temporal"

	"github.com/cmo-dev/cmo/activities"
	"github.com/cmo-dev/cmo/workflows"
)

// Crises opens crisis workflows with signal-with-start, for the OpenCrisis
// activity.
type Crises struct {
	Client    client.Client
	TaskQueue string
}

// SignalWithStartCrisis starts the brand's crisis workflow for the
// playbook with the detection's window, or signals the window to the one
// already running. A closed crisis's id may be reused by the next one.
func (c Crises) SignalWithStartCrisis(ctx context.Context, s activities.CrisisStart) (string, error) {
	opts := client.StartWorkflowOptions{
		ID:                    s.WorkflowID,
		TaskQueue:             c.TaskQueue,
		WorkflowIDReusePolicy: enumspb.WORKFLOW_ID_REUSE_POLICY_ALLOW_DUPLICATE,
		TypedSearchAttributes: temporal.NewSearchAttributes(
			workflows.SABrand.ValueSet(s.Brand),
			workflows.SAPlaybook.ValueSet(s.Plan.Name),
			workflows.SAKind.ValueSet(workflows.KindCrisis),
			workflows.SAStatus.ValueSet("open"),
		),
		Memo:          map[string]any{"title": fmt.Sprintf("%s — %s", s.Plan.DisplayTitle(), s.Brand), "crisis_id": s.CrisisID},
		StaticSummary: fmt.Sprintf("Crisis %s: %s for %s", s.CrisisID, s.Plan.DisplayTitle(), s.Brand),
		StaticDetails: fmt.Sprintf("Detected on %s: %d mentions, %.0f%% negative, volume z-score %.1f (rule: `%s`).",
			s.Scope, s.Window.Mentions, 100*s.Window.NegativeRatio, s.Window.VolumeZ, s.Plan.Detect.Src),
	}
	run, err := c.Client.SignalWithStartWorkflow(ctx, s.WorkflowID, workflows.SignalWindow, s.Window, opts, workflows.CrisisWorkflow,
		workflows.CrisisInput{CrisisID: s.CrisisID, Brand: s.Brand, Plan: s.Plan, Scope: s.Scope, Window: s.Window, Targets: s.Targets})
	if err != nil {
		return "", err
	}
	return run.GetRunID(), nil
}

// StartMonitor makes sure the brand's monitor runs; starting one that runs
// already is not an error.
func StartMonitor(ctx context.Context, c client.Client, taskQueue, brand string, in workflows.MonitorInput) error {
	in.Brand = brand
	_, err := c.ExecuteWorkflow(ctx, client.StartWorkflowOptions{
		ID:                       workflows.MonitorWorkflowID(brand),
		TaskQueue:                taskQueue,
		WorkflowIDReusePolicy:    enumspb.WORKFLOW_ID_REUSE_POLICY_ALLOW_DUPLICATE,
		WorkflowIDConflictPolicy: enumspb.WORKFLOW_ID_CONFLICT_POLICY_USE_EXISTING,
		TypedSearchAttributes: temporal.NewSearchAttributes(
			workflows.SABrand.ValueSet(brand),
			workflows.SAKind.ValueSet(workflows.KindMonitor),
			workflows.SAStatus.ValueSet("watching"),
		),
		Memo:          map[string]any{"title": "Listening monitor — " + brand},
		StaticSummary: "Listening monitor for " + brand,
	}, workflows.MonitorWorkflow, in)
	if err != nil {
		return fmt.Errorf("start monitor of %s: %w", brand, err)
	}
	return nil
}

// Brands lists the brands a monitor should watch.
type Brands interface {
	BrandIDs(ctx context.Context) ([]string, error)
}

// EnsureMonitors starts a monitor for every brand that has none running.
func EnsureMonitors(ctx context.Context, c client.Client, taskQueue string, brands Brands, in workflows.MonitorInput) error {
	ids, err := brands.BrandIDs(ctx)
	if err != nil {
		return fmt.Errorf("list brands: %w", err)
	}
	for _, id := range ids {
		if err := StartMonitor(ctx, c, taskQueue, id, in); err != nil {
			return err
		}
	}
	return nil
}
