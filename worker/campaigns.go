package worker

import (
	"context"
	"errors"
	"fmt"

	"go.temporal.io/api/serviceerror"
	"go.temporal.io/api/workflowservice/v1"
	"go.temporal.io/sdk/client"

	"github.com/cmo-dev/cmo/playbooks"
	"github.com/cmo-dev/cmo/workflows"
)

// Campaigns signals a brand's running campaigns, for the ApplyFreeze
// activity.
type Campaigns struct {
	Client client.Client
}

// SignalRunningCampaigns sends signal (with arg) to every campaign of the
// brand that visibility lists as running, page by page, and says how many
// received it. A campaign that ended after it was listed is skipped: it
// has nothing left to publish.
func (c Campaigns) SignalRunningCampaigns(ctx context.Context, brand, signal string, arg any) (int, error) {
	// The brand goes into the query unescaped; ids cannot break out of it.
	if !playbooks.ValidID(brand) {
		return 0, fmt.Errorf("signal campaigns: brand %q is not a brand id", brand)
	}
	q := fmt.Sprintf("Brand = '%s' AND Kind = '%s' AND ExecutionStatus = 'Running'", brand, workflows.KindCampaign)
	n := 0
	var token []byte
	for {
		resp, err := c.Client.ListWorkflow(ctx, &workflowservice.ListWorkflowExecutionsRequest{Query: q, NextPageToken: token})
		if err != nil {
			return n, fmt.Errorf("list running campaigns of %s: %w", brand, err)
		}
		for _, ex := range resp.GetExecutions() {
			run := ex.GetExecution()
			err := c.Client.SignalWorkflow(ctx, run.GetWorkflowId(), run.GetRunId(), signal, arg)
			var nf *serviceerror.NotFound
			if errors.As(err, &nf) {
				continue
			}
			if err != nil {
				return n, fmt.Errorf("signal %s to %s: %w", signal, run.GetWorkflowId(), err)
			}
			n++
		}
		if token = resp.GetNextPageToken(); len(token) == 0 {
			return n, nil
		}
	}
}
