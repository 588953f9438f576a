package worker_test

import (
	"context"
	"testing"

	"github.com/stretchr/testify/require"
	commonpb "go.temporal.io/api/common/v1"
	"go.temporal.io/api/serviceerror"
	workflowpb "go.temporal.io/api/workflow/v1"
	"go.temporal.io/api/workflowservice/v1"
	"go.temporal.io/sdk/client"

	"github.com/cmo-dev/cmo/worker"
)

// visibility answers ListWorkflow from pages of workflow ids and records
// the signals sent; ended ids answer NotFound, as Temporal does for a run
// that closed after it was listed.
type visibility struct {
	client.Client
	pages    [][]string
	ended    map[string]bool
	queries  []string
	signals  []string
	lastArgs []any
}

func (v *visibility) ListWorkflow(_ context.Context, req *workflowservice.ListWorkflowExecutionsRequest) (*workflowservice.ListWorkflowExecutionsResponse, error) {
	v.queries = append(v.queries, req.GetQuery())
	page := 0
	if len(req.GetNextPageToken()) > 0 {
		page = int(req.GetNextPageToken()[0])
	}
	resp := &workflowservice.ListWorkflowExecutionsResponse{}
	for _, id := range v.pages[page] {
		resp.Executions = append(resp.Executions, &workflowpb.WorkflowExecutionInfo{
			Execution: &commonpb.WorkflowExecution{WorkflowId: id, RunId: "run-" + id}})
	}
	if page+1 < len(v.pages) {
		resp.NextPageToken = []byte{byte(page + 1)}
	}
	return resp, nil
}

func (v *visibility) SignalWorkflow(_ context.Context, id, runID, name string, arg any) error {
	if v.ended[id] {
		return serviceerror.NewNotFound("workflow execution already completed")
	}
	v.signals = append(v.signals, id+"/"+runID+"/"+name)
	v.lastArgs = append(v.lastArgs, arg)
	return nil
}

func TestSignalRunningCampaignsPagesAndSkipsEndedOnes(t *testing.T) {
	v := &visibility{pages: [][]string{{"campaign:a", "campaign:b"}, {"campaign:c"}}, ended: map[string]bool{"campaign:b": true}}
	n, err := worker.Campaigns{Client: v}.SignalRunningCampaigns(context.Background(), "acme", "freeze", "x")
	require.NoError(t, err)
	require.Equal(t, 2, n)
	require.Equal(t, []string{"campaign:a/run-campaign:a/freeze", "campaign:c/run-campaign:c/freeze"}, v.signals)
	require.Equal(t, []any{"x", "x"}, v.lastArgs)
	require.Len(t, v.queries, 2, "both pages read")
	require.Equal(t, "Brand = 'acme' AND Kind = 'campaign' AND ExecutionStatus = 'Running'", v.queries[0])

	_, err = worker.Campaigns{Client: v}.SignalRunningCampaigns(context.Background(), "acme' OR Brand != '", "freeze", nil)
	require.Error(t, err, "a brand that is not an id never reaches the query")
}
