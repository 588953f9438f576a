package workflows

import (
	"fmt"
	"slices"
	"time"

	enumspb "go.temporal.io/api/enums/v1"
	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/workflow"

	"github.com/cmo-dev/cmo/activities"
	"github.com/cmo-dev/cmo/listening"
	"github.com/cmo-dev/cmo/playbooks"
)

// Names clients use to talk to a brand monitor.
const (
	MonitorWorkflow = "BrandMonitor"
	// SignalMentions tells the monitor new mentions are stored, so it
	// looks now instead of at its next tick.
	SignalMentions = "mentions"
	// SignalReload makes the monitor read the brand's crisis playbooks
	// again (after the brand's listening set-up changed).
	SignalReload = "reload"
)

// Monitor defaults.
const (
	DefaultMonitorInterval = 10 * time.Second
	// DefaultMonitorMinGap spaces evaluations when mentions keep arriving.
	DefaultMonitorMinGap = time.Second
	// DefaultMonitorTicks bounds one run's history (about ten events a
	// tick) well below Temporal's limits before continuing as new.
	DefaultMonitorTicks = 500
	// DefaultEvidenceEvery spaces the windows sent to an open crisis.
	DefaultEvidenceEvery = 30 * time.Second
)

// MonitorWorkflowID is the one monitor of a brand.
func MonitorWorkflowID(brand string) string { return "monitor:" + brand }

// MonitorInput starts (or continues) a brand's monitor. Zero durations
// take the defaults.
type MonitorInput struct {
	Brand         string        `json:"brand"`
	Interval      time.Duration `json:"interval,omitempty"`
	MinGap        time.Duration `json:"min_gap,omitempty"`
	EvidenceEvery time.Duration `json:"evidence_every,omitempty"`
	MaxTicks      int           `json:"max_ticks,omitempty"`
	// Simulate runs crises as child workflows, for backtests in a test
	// environment where there is no server to signal-with-start; the
	// monitor then stops at Until instead of continuing as new.
	Simulate bool      `json:"simulate,omitempty"`
	Until    time.Time `json:"until,omitzero"`
	// State carries what the monitor knows across continue-as-new.
	State MonitorState `json:"state"`
}

// MonitorState is the monitor as its query shows it.
type MonitorState struct {
	Brand      string                 `json:"brand"`
	Playbooks  []string               `json:"playbooks"`
	Ticks      int64                  `json:"ticks"`
	Runs       int                    `json:"runs"`
	Detections int64                  `json:"detections"`
	LastTick   time.Time              `json:"last_tick"`
	LastError  string                 `json:"last_error,omitempty"`
	Open       map[string]*OpenCrisis `json:"open"`
}

// OpenCrisis is a crisis the monitor feeds with windows.
type OpenCrisis struct {
	CrisisID     string        `json:"crisis_id"`
	WorkflowID   string        `json:"workflow_id"`
	Scope        string        `json:"scope"`
	Length       time.Duration `json:"length"`
	OpenedAt     time.Time     `json:"opened_at"`
	LastEvidence time.Time     `json:"last_evidence"`
}

func (in *MonitorInput) defaults() {
	if in.Interval <= 0 {
		in.Interval = DefaultMonitorInterval
	}
	if in.MinGap <= 0 {
		in.MinGap = DefaultMonitorMinGap
	}
	if in.EvidenceEvery <= 0 {
		in.EvidenceEvery = DefaultEvidenceEvery
	}
	if in.MaxTicks <= 0 {
		in.MaxTicks = DefaultMonitorTicks
	}
	if in.State.Open == nil {
		in.State.Open = map[string]*OpenCrisis{}
	}
	in.State.Brand = in.Brand
}

// BrandMonitor watches one brand's mentions for as long as the brand
// exists: on every tick (and soon after new mentions arrive) it computes
// the windows, evaluates each enabled crisis playbook's detect rule and
// opens a crisis with signal-with-start when one holds. Open crises get
// fresh windows so their resolve rules can see things calm down. It
// continues as new every few hundred ticks, carrying its state.
func BrandMonitor(ctx workflow.Context, in MonitorInput) error {
	in.defaults()
	m := &monitor{in: in, state: in.State}
	m.state.Runs++
	if err := workflow.SetQueryHandler(ctx, QueryState, func() (MonitorState, error) { return m.state, nil }); err != nil {
		return err
	}
	nudges := workflow.GetSignalChannel(ctx, SignalMentions)
	reloads := workflow.GetSignalChannel(ctx, SignalReload)
	if err := m.load(ctx); err != nil {
		return err
	}
	for ticks := 0; ; ticks++ {
		m.tick(ctx)
		if in.Simulate {
			if !workflow.Now(ctx).Before(in.Until) {
				return nil
			}
		} else if ticks+1 >= in.MaxTicks || workflow.GetInfo(ctx).GetContinueAsNewSuggested() {
			break
		}
		if reload := m.wait(ctx, nudges, reloads); reload {
			if err := m.load(ctx); err != nil {
				return err
			}
		}
	}
	// Pending nudges and reloads need no carrying: the next run loads the
	// playbooks and looks at once.
	for nudges.ReceiveAsync(nil) || reloads.ReceiveAsync(nil) {
	}
	next := in
	next.State = m.state
	return workflow.NewContinueAsNewError(ctx, MonitorWorkflow, next)
}

type monitor struct {
	in      MonitorInput
	state   MonitorState
	plans   []*playbooks.Plan
	lengths []time.Duration
}

func (m *monitor) load(ctx workflow.Context) error {
	actx := workflow.WithActivityOptions(ctx, workflow.ActivityOptions{
		StartToCloseTimeout: 30 * time.Second, Summary: "load crisis playbooks of " + m.in.Brand,
		RetryPolicy: &temporal.RetryPolicy{MaximumInterval: time.Minute, NonRetryableErrorTypes: []string{activities.ErrTypeNotFound}},
	})
	var setup activities.MonitorSetup
	if err := workflow.ExecuteActivity(actx, acts.LoadMonitorSetup, m.in.Brand).Get(ctx, &setup); err != nil {
		return err
	}
	m.plans, m.lengths, m.state.Playbooks = setup.Plans, nil, []string{}
	for _, p := range setup.Plans {
		m.state.Playbooks = append(m.state.Playbooks, p.Name)
		if d := p.Window.D(); !slices.Contains(m.lengths, d) {
			m.lengths = append(m.lengths, d)
		}
	}
	slices.Sort(m.lengths)
	return nil
}

// wait sleeps until the next tick, or until mentions arrive (no sooner
// than MinGap after the last tick). It reports whether a reload came.
func (m *monitor) wait(ctx workflow.Context, nudges, reloads workflow.ReceiveChannel) (reload bool) {
	tctx, cancel := workflow.WithCancel(ctx)
	defer cancel()
	timer := workflow.NewTimerWithOptions(tctx, m.in.Interval, workflow.TimerOptions{Summary: "next tick"})
	nudged := false
	sel := workflow.NewSelector(ctx)
	sel.AddFuture(timer, func(workflow.Future) {})
	sel.AddReceive(nudges, func(c workflow.ReceiveChannel, _ bool) {
		for c.ReceiveAsync(nil) {
		}
		nudged = true
	})
	sel.AddReceive(reloads, func(c workflow.ReceiveChannel, _ bool) {
		for c.ReceiveAsync(nil) {
		}
		reload = true
	})
	sel.Select(ctx)
	if nudged {
		if gap := m.in.MinGap - workflow.Now(ctx).Sub(m.state.LastTick); gap > 0 {
			_ = workflow.NewTimerWithOptions(ctx, gap, workflow.TimerOptions{Summary: "space evaluations"}).Get(ctx, nil)
		}
	}
	return reload
}

// tick evaluates every playbook on the current windows. A failure is
// recorded and the next tick tries again: a monitor never stops watching
// because the database blinked.
func (m *monitor) tick(ctx workflow.Context) {
	at := workflow.Now(ctx)
	m.state.Ticks++
	m.state.LastTick = at
	if len(m.plans) == 0 {
		return
	}
	actx := workflow.WithActivityOptions(ctx, workflow.ActivityOptions{
		StartToCloseTimeout: 20 * time.Second, ScheduleToCloseTimeout: time.Minute,
		Summary: "windows of " + m.in.Brand + " at " + at.UTC().Format("15:04:05"),
	})
	var windows []listening.ScopedWindow
	if err := workflow.ExecuteActivity(actx, acts.ListeningWindows, activities.WindowsInput{Brand: m.in.Brand, At: at, Lengths: m.lengths}).Get(ctx, &windows); err != nil {
		m.state.LastError = "windows: " + err.Error()
		return
	}
	m.state.LastError = ""
	for _, p := range m.plans {
		w, fired, err := listening.Detect(p.Detect.Src, p.Window.D(), windows)
		if err != nil {
			m.state.LastError = fmt.Sprintf("%s: %v", p.Name, err)
			continue
		}
		open := m.state.Open[p.Name]
		due := open == nil || at.Sub(open.LastEvidence) >= m.in.EvidenceEvery
		switch {
		case fired && due:
			m.open(ctx, p, w, at)
		case open != nil && due:
			// The rule no longer holds: the crisis still needs to see the
			// window, to know when things are calm.
			ev := listening.Find(windows, open.Scope, open.Length)
			if err := workflow.SignalExternalWorkflow(ctx, open.WorkflowID, "", SignalWindow, ev).Get(ctx, nil); err != nil {
				delete(m.state.Open, p.Name) // closed: resolved, or ended by hand
				continue
			}
			open.LastEvidence = at
		}
	}
}

func (m *monitor) open(ctx workflow.Context, p *playbooks.Plan, w listening.ScopedWindow, at time.Time) {
	if m.in.Simulate {
		m.openChild(ctx, p, w, at)
		return
	}
	actx := workflow.WithActivityOptions(ctx, workflow.ActivityOptions{
		StartToCloseTimeout: 30 * time.Second, ScheduleToCloseTimeout: 2 * time.Minute,
		Summary: fmt.Sprintf("%s on %s: %d mentions, %.0f%% negative", p.Name, w.Scope, w.Window.Mentions, 100*w.Window.NegativeRatio),
	})
	var res activities.OpenCrisisResult
	err := workflow.ExecuteActivity(actx, acts.OpenCrisis, activities.OpenCrisisInput{
		Brand: m.in.Brand, Plan: p, Scope: w.Scope, Window: w.Window, At: at,
	}).Get(ctx, &res)
	if err != nil {
		m.state.LastError = fmt.Sprintf("open %s: %v", p.Name, err)
		return
	}
	if res.Started {
		m.state.Detections++
	}
	m.state.Open[p.Name] = &OpenCrisis{CrisisID: res.CrisisID, WorkflowID: res.WorkflowID, Scope: res.Scope,
		Length: p.Window.D(), OpenedAt: res.OpenedAt, LastEvidence: at}
}

// openChild is signal-with-start for backtests: the open crisis gets the
// window as a signal, or a new crisis starts as a child workflow that
// outlives nothing but the simulation.
func (m *monitor) openChild(ctx workflow.Context, p *playbooks.Plan, w listening.ScopedWindow, at time.Time) {
	wid := activities.CrisisWorkflowID(m.in.Brand, p.Name)
	if open := m.state.Open[p.Name]; open != nil {
		if workflow.SignalExternalWorkflow(ctx, wid, "", SignalWindow, w.Window).Get(ctx, nil) == nil {
			open.LastEvidence = at
			return
		}
		delete(m.state.Open, p.Name)
	}
	targets := map[string][]playbooks.Target{}
	if p.Statement != nil {
		for _, ref := range p.Statement.Channels {
			targets[ref] = []playbooks.Target{{ID: "simulated:" + ref, Name: ref, Platform: ref}}
		}
	}
	id := activities.CrisisID(m.in.Brand, p.Name, at)
	cctx := workflow.WithChildOptions(ctx, workflow.ChildWorkflowOptions{WorkflowID: wid, ParentClosePolicy: enumspb.PARENT_CLOSE_POLICY_ABANDON})
	f := workflow.ExecuteChildWorkflow(cctx, CrisisWorkflow, CrisisInput{CrisisID: id, Brand: m.in.Brand, Plan: p, Scope: w.Scope, Window: w.Window, Targets: targets})
	if err := f.GetChildWorkflowExecution().Get(ctx, nil); err != nil {
		m.state.LastError = fmt.Sprintf("open %s: %v", p.Name, err)
		return
	}
	m.state.Detections++
	m.state.Open[p.Name] = &OpenCrisis{CrisisID: id, WorkflowID: wid, Scope: w.Scope, Length: p.Window.D(), OpenedAt: at, LastEvidence: at}
}
