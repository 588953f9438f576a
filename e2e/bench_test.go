package e2e

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"os"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"go.temporal.io/sdk/client"
	sdkworker "go.temporal.io/sdk/worker"
	"go.temporal.io/sdk/workflow"

	"github.com/cmo-dev/cmo/devstack"
	"github.com/cmo-dev/cmo/playbooks"
	"github.com/cmo-dev/cmo/store"
	"github.com/cmo-dev/cmo/workflows"
)

// The engine baseline: a hand-written workflow with one no-op activity,
// and the first-campaign workflow (render, approval, two sandbox posts
// through HTTP and the ledger, report), measured on the same embedded
// stack in the same run so that their ratio means something.

var (
	benchOnce  sync.Once
	benchStack *devstack.Stack
	benchErr   error
	benchDir   string
)

func sharedStack(b *testing.B) *devstack.Stack {
	benchOnce.Do(func() {
		benchDir, benchErr = os.MkdirTemp("", "cmo-bench-")
		if benchErr != nil {
			return
		}
		os.Chmod(benchDir, 0o755)
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
		defer cancel()
		benchStack, benchErr = devstack.Start(ctx, devstack.Options{
			DataDir: benchDir, UIPort: -1, Log: slog.New(slog.NewTextHandler(io.Discard, nil)),
		})
		if benchErr != nil {
			return
		}
		registerAPI(benchStack.APIURL, benchStack.APIKey)
		w := sdkworker.New(benchStack.Client, "bench-noop", sdkworker.Options{})
		w.RegisterWorkflowWithOptions(noopWorkflow, workflow.RegisterOptions{Name: "Noop"})
		w.RegisterActivity(noopActivity)
		benchErr = w.Start()
	})
	if benchErr != nil {
		b.Fatal(benchErr)
	}
	return benchStack
}

func closeSharedStack() {
	if benchStack != nil {
		benchStack.Close()
		os.RemoveAll(benchDir)
	}
}

func noopActivity(ctx context.Context, n int) (int, error) { return n + 1, nil }

func noopWorkflow(ctx workflow.Context, n int) (int, error) {
	ctx = workflow.WithActivityOptions(ctx, workflow.ActivityOptions{StartToCloseTimeout: time.Minute})
	var out int
	err := workflow.ExecuteActivity(ctx, noopActivity, n).Get(ctx, &out)
	return out, err
}

// runConcurrent runs b.N workflows, at most 16 at a time, and reports workflows/s.
func runConcurrent(b *testing.B, one func(ctx context.Context, i int) error) {
	ctx := context.Background()
	var next atomic.Int64
	var wg sync.WaitGroup
	errs := make(chan error, 16)
	b.ResetTimer()
	start := time.Now()
	for w := 0; w < 16; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				i := int(next.Add(1)) - 1
				if i >= b.N {
					return
				}
				if err := one(ctx, i); err != nil {
					select {
					case errs <- err:
					default:
					}
					return
				}
			}
		}()
	}
	wg.Wait()
	elapsed := time.Since(start)
	b.StopTimer()
	select {
	case err := <-errs:
		b.Fatal(err)
	default:
	}
	b.ReportMetric(float64(b.N)/elapsed.Seconds(), "workflows/s")
}

var benchRun = time.Now().UnixNano()

func BenchmarkEngineOneActivityWorkflow(b *testing.B) {
	s := sharedStack(b)
	runConcurrent(b, func(ctx context.Context, i int) error {
		run, err := s.Client.ExecuteWorkflow(ctx, client.StartWorkflowOptions{
			ID: fmt.Sprintf("noop-%d-%d-%d", benchRun, b.N, i), TaskQueue: "bench-noop",
		}, "Noop", i)
		if err != nil {
			return err
		}
		var out int
		return run.Get(ctx, &out)
	})
}

func BenchmarkEngineCampaignWorkflow(b *testing.B) {
	s := sharedStack(b)
	lib, err := playbooks.Shipped()
	if err != nil {
		b.Fatal(err)
	}
	plan, _ := lib.Get("first-campaign")
	var targets []playbooks.Target
	for _, ch := range store.DemoChannels {
		targets = append(targets, playbooks.Target{ID: ch.ID, Name: ch.Name, Platform: ch.Platform})
	}
	runConcurrent(b, func(ctx context.Context, i int) error {
		id := fmt.Sprintf("bench-%d-%d-%d", benchRun, b.N, i)
		run, err := s.Client.ExecuteWorkflow(ctx, client.StartWorkflowOptions{
			ID: workflows.CampaignWorkflowID(id), TaskQueue: s.TaskQueue,
		}, workflows.CampaignWorkflow, workflows.CampaignInput{
			CampaignID: id, Brand: store.DemoBrand, Author: "bench", Plan: plan,
			Params:  map[string]any{"product": "Bench Blend " + id},
			Targets: map[string][]playbooks.Target{"sandbox": targets},
		})
		if err != nil {
			return err
		}
		h, err := s.Client.UpdateWorkflow(ctx, client.UpdateWorkflowOptions{
			WorkflowID: run.GetID(), UpdateName: workflows.UpdateApproval, WaitForStage: client.WorkflowUpdateStageCompleted,
			Args: []any{workflows.ApprovalRequest{Decision: workflows.DecisionApprove, Actor: "approver"}},
		})
		if err != nil {
			return err
		}
		if err := h.Get(ctx, nil); err != nil {
			return err
		}
		var res workflows.CampaignResult
		if err := run.Get(ctx, &res); err != nil {
			return err
		}
		if res.Status != workflows.StatusCompleted || len(res.Posts) != 2 {
			return fmt.Errorf("campaign %s ended %s with %d posts", id, res.Status, len(res.Posts))
		}
		return nil
	})
}
