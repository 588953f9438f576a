package workflows

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/mock"
	"github.com/stretchr/testify/require"
	"go.temporal.io/sdk/converter"
	"go.temporal.io/sdk/testsuite"
	"go.temporal.io/sdk/workflow"

	"github.com/cmo-dev/cmo/activities"
	"github.com/cmo-dev/cmo/listening"
	"github.com/cmo-dev/cmo/playbooks"
	"github.com/cmo-dev/cmo/rules"
)

// monitorHarness scripts the windows a monitor sees over (skipped) time
// and records the crises it opens and the windows it sends them.
type monitorHarness struct {
	t     *testing.T
	env   *testsuite.TestWorkflowEnvironment
	start time.Time
	mu    sync.Mutex
	// window returns the brand window at a time since the start.
	window   func(since time.Duration) rules.Window
	ticks    []time.Duration
	opened   []activities.OpenCrisisInput
	signals  []rules.Window
	closed   bool // the crisis workflow has ended: signals fail
	plans    []*playbooks.Plan
	openedAt []time.Duration
}

func newMonitorHarness(t *testing.T, window func(time.Duration) rules.Window) *monitorHarness {
	var s testsuite.WorkflowTestSuite
	env := s.NewTestWorkflowEnvironment()
	env.RegisterWorkflowWithOptions(BrandMonitor, workflow.RegisterOptions{Name: MonitorWorkflow})
	env.RegisterActivity(&activities.Activities{})
	h := &monitorHarness{t: t, env: env, start: env.Now(), window: window, plans: []*playbooks.Plan{shippedPlan(t, "negative-spike")}}
	var a *activities.Activities
	env.OnActivity(a.LoadMonitorSetup, mock.Anything, mock.Anything).Return(
		func(context.Context, string) (activities.MonitorSetup, error) {
			return activities.MonitorSetup{Timezone: "UTC", Plans: h.plans}, nil
		})
	env.OnActivity(a.ListeningWindows, mock.Anything, mock.Anything).Return(
		func(_ context.Context, in activities.WindowsInput) ([]listening.ScopedWindow, error) {
			h.mu.Lock()
			defer h.mu.Unlock()
			since := in.At.Sub(h.start)
			h.ticks = append(h.ticks, since)
			return []listening.ScopedWindow{{Scope: listening.ScopeBrand, Length: time.Hour, Window: h.window(since)}}, nil
		})
	env.OnActivity(a.OpenCrisis, mock.Anything, mock.Anything).Return(
		func(_ context.Context, in activities.OpenCrisisInput) (activities.OpenCrisisResult, error) {
			h.mu.Lock()
			defer h.mu.Unlock()
			started := len(h.opened) == 0 || h.closed
			h.opened = append(h.opened, in)
			h.openedAt = append(h.openedAt, in.At.Sub(h.start))
			id := activities.CrisisID(in.Brand, in.Plan.Name, in.At)
			if !started {
				id = activities.CrisisID(in.Brand, in.Plan.Name, h.opened[0].At)
			}
			return activities.OpenCrisisResult{CrisisID: id, WorkflowID: activities.CrisisWorkflowID(in.Brand, in.Plan.Name),
				Scope: in.Scope, OpenedAt: in.At, Started: started}, nil
		}).Maybe()
	env.OnSignalExternalWorkflow(mock.Anything, activities.CrisisWorkflowID("demo", "negative-spike"), "", SignalWindow, mock.Anything).Return(
		func(_, _, _ string, _ string, arg any) error {
			h.mu.Lock()
			defer h.mu.Unlock()
			if h.closed {
				return errors.New("workflow execution already completed")
			}
			h.signals = append(h.signals, arg.(rules.Window))
			return nil
		}).Maybe()
	return h
}

func quiet(time.Duration) rules.Window {
	return rules.Window{Mentions: 12, Negative: 1, NegativeRatio: 0.08, Baseline: 12, Minutes: 60}
}

func spikeFrom(at, until time.Duration) func(time.Duration) rules.Window {
	return func(since time.Duration) rules.Window {
		if since >= at && (until == 0 || since < until) {
			return rules.Window{Mentions: 120, Negative: 90, NegativeRatio: 0.75, VolumeZ: 9, Baseline: 12, Minutes: 60}
		}
		return quiet(since)
	}
}

// continued runs the monitor until it continues as new and returns the
// input of the next run.
func (h *monitorHarness) continued(in MonitorInput) MonitorInput {
	h.env.ExecuteWorkflow(MonitorWorkflow, in)
	require.True(h.t, h.env.IsWorkflowCompleted())
	var can *workflow.ContinueAsNewError
	require.ErrorAs(h.t, h.env.GetWorkflowError(), &can, "the monitor only ends by continuing as new")
	var next MonitorInput
	require.NoError(h.t, converter.GetDefaultDataConverter().FromPayloads(can.Input, &next))
	return next
}

func TestMonitorOpensOneCrisisAndFeedsIt(t *testing.T) {
	h := newMonitorHarness(t, spikeFrom(35*time.Second, 3*time.Minute))
	next := h.continued(MonitorInput{Brand: "demo", MaxTicks: 60})

	require.Len(t, h.openedAt, 1+int((3*time.Minute-40*time.Second)/DefaultEvidenceEvery), "detections while open are signal-with-start evidence, spaced")
	require.Equal(t, 40*time.Second, h.openedAt[0], "detected at the first tick after the spike")
	require.EqualValues(t, 1, next.State.Detections, "one crisis, however long the rule holds")
	require.Equal(t, listening.ScopeBrand, h.opened[0].Scope)
	require.EqualValues(t, 120, h.opened[0].Window.Mentions)

	require.NotEmpty(t, h.signals, "once the rule stops holding the open crisis keeps getting windows")
	require.EqualValues(t, 12, h.signals[len(h.signals)-1].Mentions)
	require.Contains(t, next.State.Open, "negative-spike")
}

func TestMonitorForgetsAClosedCrisisAndOpensANewOne(t *testing.T) {
	h := newMonitorHarness(t, nil)
	h.window = func(since time.Duration) rules.Window {
		if since >= 2*time.Minute && !h.closed {
			h.closed = true // resolved while calm
		}
		return spikeFrom(0, time.Minute)(since)
	}
	next := h.continued(MonitorInput{Brand: "demo", MaxTicks: 20})
	require.NotContains(t, next.State.Open, "negative-spike", "a failed signal means the crisis is over")
	require.EqualValues(t, 1, next.State.Detections)

	h2 := newMonitorHarness(t, spikeFrom(0, 0))
	h2.closed = true
	in := next
	in.State.Open = map[string]*OpenCrisis{"negative-spike": {CrisisID: "old", WorkflowID: activities.CrisisWorkflowID("demo", "negative-spike"), Scope: "brand"}}
	in.MaxTicks = 2
	after := h2.continued(in)
	require.EqualValues(t, 2, after.State.Detections, "a new spike after the crisis closed opens a new one")
}

func TestMonitorContinuesAsNewWithItsState(t *testing.T) {
	h := newMonitorHarness(t, spikeFrom(0, 0))
	first := h.continued(MonitorInput{Brand: "demo", Interval: 5 * time.Second, MaxTicks: 3})
	require.EqualValues(t, 3, first.State.Ticks)
	require.Equal(t, 1, first.State.Runs)
	require.EqualValues(t, 1, first.State.Detections)
	require.Equal(t, 5*time.Second, first.Interval, "settings carry over")
	open := first.State.Open["negative-spike"]
	require.NotNil(t, open)

	h2 := newMonitorHarness(t, spikeFrom(0, 0))
	h2.opened = []activities.OpenCrisisInput{{At: open.OpenedAt}} // the crisis is still open
	second := h2.continued(first)
	require.EqualValues(t, 6, second.State.Ticks)
	require.Equal(t, 2, second.State.Runs)
	require.EqualValues(t, 1, second.State.Detections, "the next run knows the crisis is open")
	require.Equal(t, open.CrisisID, second.State.Open["negative-spike"].CrisisID)
	require.Equal(t, []string{"negative-spike"}, second.State.Playbooks)
}

func TestMonitorWakesOnNewMentions(t *testing.T) {
	h := newMonitorHarness(t, quiet)
	h.env.RegisterDelayedCallback(func() { h.env.SignalWorkflow(SignalMentions, nil) }, 3*time.Second)
	// Two nudges in quick succession: the second waits for MinGap.
	h.env.RegisterDelayedCallback(func() {
		h.env.SignalWorkflow(SignalMentions, nil)
	}, 3*time.Second+200*time.Millisecond)
	h.continued(MonitorInput{Brand: "demo", MaxTicks: 4})
	require.Equal(t, []time.Duration{0, 3 * time.Second, 4 * time.Second, 14 * time.Second}, h.ticks,
		"a nudge ticks at once, the next no sooner than a second later, then the interval resumes")
}
