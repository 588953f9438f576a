// Package worker registers cmo's workflows and activities on a Temporal
// worker.
package worker

import (
	"go.temporal.io/sdk/client"
	sdkworker "go.temporal.io/sdk/worker"

	"github.com/cmo-dev/cmo/activities"
	"github.com/cmo-dev/cmo/workflows"
	"go.temporal.io/sdk/workflow"
)

// New returns a worker on taskQueue with every cmo workflow and the given
// activities registered. The caller starts and stops it.
func New(c client.Client, taskQueue string, acts *activities.Activities) sdkworker.Worker {
	w := sdkworker.New(c, taskQueue, sdkworker.Options{})
	Register(w, acts)
	return w
}

// Register adds cmo's workflows and activities to any registry (a worker,
// or a test environment).
func Register(r sdkworker.Registry, acts *activities.Activities) {
	r.RegisterWorkflowWithOptions(workflows.Campaign, workflow.RegisterOptions{Name: workflows.CampaignWorkflow})
	r.RegisterWorkflowWithOptions(workflows.CampaignMetrics, workflow.RegisterOptions{Name: workflows.MetricsWorkflow})
	r.RegisterWorkflowWithOptions(workflows.Crisis, workflow.RegisterOptions{Name: workflows.CrisisWorkflow})
	r.RegisterWorkflowWithOptions(workflows.BrandMonitor, workflow.RegisterOptions{Name: workflows.MonitorWorkflow})
	r.RegisterWorkflowWithOptions(workflows.BrandInbox, workflow.RegisterOptions{Name: workflows.BrandInboxWorkflow})
	r.RegisterWorkflowWithOptions(workflows.InboxItem, workflow.RegisterOptions{Name: workflows.InboxItemWorkflow})
	r.RegisterActivity(acts)
}
