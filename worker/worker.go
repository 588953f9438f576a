// Package worker registers cmo's workflows and activities on a Temporal
// worker.
package worker

import (
	"time"

	"go.temporal.io/sdk/client"
	sdkworker "go.temporal.io/sdk/worker"

	"github.com/cmo-dev/cmo/activities"
	"github.com/cmo-dev/cmo/workflows"
	"go.temporal.io/sdk/workflow"
)

// StopTimeout is how long Stop waits for activities in flight before it
// cancels them. Cancelled at once, a publish that reached the platform
// would leave its receipt unrecorded and its retry to read the channel
// back; 30 s is the longest one platform call takes by default
// (CMO_PLATFORM_TIMEOUT).
const StopTimeout = 30 * time.Second

// New returns a worker on taskQueue with every cmo workflow and the given
// activities registered. The caller starts and stops it; Stop waits for
// activities in flight for up to StopTimeout.
func New(c client.Client, taskQueue string, acts *activities.Activities) sdkworker.Worker {
	w := sdkworker.New(c, taskQueue, sdkworker.Options{WorkerStopTimeout: StopTimeout})
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
