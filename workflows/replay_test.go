package workflows

import (
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/require"
	"go.temporal.io/sdk/worker"
	"go.temporal.io/sdk/workflow"
)

// TestReplayRecordedHistories replays histories recorded from real runs
// (testdata/*.json) against the current workflow code. A change that
// running campaigns would see must keep these passing, through
// workflow.GetVersion, or it would break campaigns in flight.
//
// Record new ones with:
//
//	CMO_RECORD_HISTORIES=campaign-vN go test ./e2e -run 'TestCampaignEndToEnd|TestBadInput'
//
// campaign-v3-* pass through a content freeze: held at the publish point,
// woken by the freeze signal on the lift, then approved again
// (reapproved) or with one channel's post dropped while the other went
// out on time (dropped). They were recorded the same way on the embedded
// stack, with the freeze set and lifted through the ApplyFreeze activity.
//
// campaign-v5-* start the metrics collector only for playbooks that
// publish (kpi-tracking version 2).
//
// crisis-v1-* come from the crisis end-to-end test
// (CMO_RECORD_HISTORIES=crisis-v1 go test ./e2e -run TestCrisisEndToEnd):
// a crisis from detection to resolution, the campaign it froze, and the
// brand monitor that opened it.
//
// inbox-v1-* come from the inbox end-to-end test
// (CMO_RECORD_HISTORIES=inbox-v1 go test ./e2e -run TestInboxEndToEnd): an
// urgent complaint assigned, answered and closed, and the brand's inbox
// that started it.
//
// campaign-v4-* come from the report end-to-end test
// (CMO_RECORD_HISTORIES=campaign-v4 go test ./e2e -run TestReportEqualsTheSandboxAndTheClicks):
// a campaign under the kpi-tracking version, which starts its metrics
// collector, puts its posts on the calendar, records a cost step, waits
// for clicks, reports and branches on a missed goal, and that collector
// measuring on after the campaign ended.
func TestReplayRecordedHistories(t *testing.T) {
	files, err := filepath.Glob(filepath.Join("testdata", "*.json"))
	require.NoError(t, err)
	require.NotEmpty(t, files, "no recorded histories")
	for _, f := range files {
		t.Run(filepath.Base(f), func(t *testing.T) {
			r := worker.NewWorkflowReplayer()
			r.RegisterWorkflowWithOptions(Campaign, workflow.RegisterOptions{Name: CampaignWorkflow})
			r.RegisterWorkflowWithOptions(CampaignMetrics, workflow.RegisterOptions{Name: MetricsWorkflow})
			r.RegisterWorkflowWithOptions(Crisis, workflow.RegisterOptions{Name: CrisisWorkflow})
			r.RegisterWorkflowWithOptions(BrandMonitor, workflow.RegisterOptions{Name: MonitorWorkflow})
			r.RegisterWorkflowWithOptions(InboxItem, workflow.RegisterOptions{Name: InboxItemWorkflow})
			r.RegisterWorkflowWithOptions(BrandInbox, workflow.RegisterOptions{Name: BrandInboxWorkflow})
			require.NoError(t, r.ReplayWorkflowHistoryFromJSONFile(nil, f))
		})
	}
}
