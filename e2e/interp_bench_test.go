package e2e

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	"go.temporal.io/sdk/activity"
	"go.temporal.io/sdk/client"
	sdkworker "go.temporal.io/sdk/worker"
	"go.temporal.io/sdk/workflow"

	"github.com/cmo-dev/cmo/activities"
	"github.com/cmo-dev/cmo/playbooks"
	"github.com/cmo-dev/cmo/workflows"
)

// The interpreter's overhead: a 10-step playbook run by the Campaign
// interpreter against a hand-written workflow calling the same no-op
// activity ten times, on the same embedded server in the same run.

const interpQueue = "bench-interp"

var interpOnce sync.Once

func noopNotify(ctx context.Context, in activities.NotifyInput) error { return nil }

func tenNotifies(ctx workflow.Context, in activities.NotifyInput) error {
	ctx = workflow.WithActivityOptions(ctx, workflow.ActivityOptions{StartToCloseTimeout: time.Minute})
	for i := 0; i < 10; i++ {
		in.StepID = fmt.Sprintf("s%d", i)
		if err := workflow.ExecuteActivity(ctx, "Notify", in).Get(ctx, nil); err != nil {
			return err
		}
	}
	return nil
}

func tenStepPlan(b *testing.B) *playbooks.Plan {
	src := "apiVersion: cmo/v1\nkind: Campaign\nname: ten-steps\nparams:\n  product: {type: string}\nsteps:\n"
	for i := 0; i < 10; i++ {
		src += fmt.Sprintf("  - id: s%d\n    notify: {to: [log:bench], message: \"step %d for {{.product}}\"}\n", i, i)
	}
	p, err := playbooks.Parse("ten-steps.yaml", []byte(src))
	if err != nil {
		b.Fatal(err)
	}
	return p
}

func interpWorker(b *testing.B) {
	s := sharedStack(b)
	interpOnce.Do(func() {
		w := sdkworker.New(s.Client, interpQueue, sdkworker.Options{})
		w.RegisterWorkflowWithOptions(workflows.Campaign, workflow.RegisterOptions{Name: workflows.CampaignWorkflow})
		w.RegisterWorkflowWithOptions(tenNotifies, workflow.RegisterOptions{Name: "TenNotifies"})
		w.RegisterActivityWithOptions(noopNotify, activity.RegisterOptions{Name: "Notify"})
		if err := w.Start(); err != nil {
			b.Fatal(err)
		}
	})
}

func BenchmarkEngineInterpreterTenSteps(b *testing.B) {
	s := sharedStack(b)
	interpWorker(b)
	plan := tenStepPlan(b)
	runConcurrent(b, func(ctx context.Context, i int) error {
		id := fmt.Sprintf("interp-%d-%d-%d", benchRun, b.N, i)
		run, err := s.Client.ExecuteWorkflow(ctx, client.StartWorkflowOptions{ID: id, TaskQueue: interpQueue},
			workflows.CampaignWorkflow, workflows.CampaignInput{CampaignID: id, Brand: "demo", Plan: plan, Params: map[string]any{"product": "x"}})
		if err != nil {
			return err
		}
		return run.Get(ctx, nil)
	})
}

func BenchmarkEngineHandWrittenTenSteps(b *testing.B) {
	s := sharedStack(b)
	interpWorker(b)
	runConcurrent(b, func(ctx context.Context, i int) error {
		id := fmt.Sprintf("hand-%d-%d-%d", benchRun, b.N, i)
		run, err := s.Client.ExecuteWorkflow(ctx, client.StartWorkflowOptions{ID: id, TaskQueue: interpQueue},
			"TenNotifies", activities.NotifyInput{CampaignID: id, Brand: "demo", To: []string{"log:bench"}, Message: "step for x"})
		if err != nil {
			return err
		}
		return run.Get(ctx, nil)
	})
}
