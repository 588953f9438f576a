// Package simulate backtests a crisis playbook on a recorded stream of
// mentions. It runs the production workflows — the brand monitor and the
// crisis — in Temporal's test environment with time skipping, so the
// detection, severity, escalation and freeze decisions are the ones the
// live system would have made; only the world is replaced: windows come
// from listening.Memory (the store's own code, in memory), and
// notifications, freezes and publications are recorded instead of sent.
package simulate

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"slices"
	"sort"
	"sync"
	"time"

	"github.com/stretchr/testify/mock"
	"go.temporal.io/sdk/converter"
	tlog "go.temporal.io/sdk/log"
	"go.temporal.io/sdk/testsuite"
	"go.temporal.io/sdk/workflow"

	"github.com/cmo-dev/cmo/activities"
	"github.com/cmo-dev/cmo/listening"
	"github.com/cmo-dev/cmo/playbooks"
	"github.com/cmo-dev/cmo/rules"
	"github.com/cmo-dev/cmo/store"
	"github.com/cmo-dev/cmo/workflows"
)

// Options shape a simulation. Zero values take the defaults.
type Options struct {
	Brand     string            // default "simulated"
	Location  *time.Location    // the brand's time zone; default UTC
	Listening *listening.Config // topics and competitors
	// Interval is the monitor's tick, as CMO_MONITOR_INTERVAL; default 10 s.
	Interval time.Duration
	// AckAfter is when someone acknowledges each crisis; 0 means nobody.
	AckAfter time.Duration
	// Tail is how long after the last mention the simulation goes on, so
	// that open crises can calm down and resolve; default 24 h.
	Tail time.Duration
	// Posts are scheduled posts; the result says which a freeze held.
	Posts []Post
	// Progress, when set, is told how far the simulated clock has gone.
	Progress func(done, total time.Duration)
}

// Post is a scheduled post a freeze may hold.
type Post struct {
	ID      string    `json:"id"`
	At      time.Time `json:"at"`
	Channel string    `json:"channel"`
	Tags    []string  `json:"tags,omitempty"`
	Market  string    `json:"market,omitempty"`
}

// Result is what the playbook would have done.
type Result struct {
	Playbook string    `json:"playbook"`
	Hash     string    `json:"hash"`
	From     time.Time `json:"from"`
	To       time.Time `json:"to"`
	Mentions int       `json:"mentions"`
	Ticks    int64     `json:"ticks"`
	Crises   []Crisis  `json:"crises"`
	// Took is the wall-clock time of the simulation.
	Took time.Duration `json:"took_ns"`
}

// Crisis is one crisis the playbook would have opened.
type Crisis struct {
	ID string `json:"id"`
	// DetectedAt is the monitor's tick; EvidenceAt the newest mention in
	// the window that fired, the instant the evidence was complete.
	DetectedAt   time.Time                  `json:"detected_at"`
	EvidenceAt   time.Time                  `json:"evidence_at"`
	Scope        string                     `json:"scope"`
	Window       rules.Window               `json:"window"`
	Severities   []workflows.SeverityChange `json:"severity_changes"`
	Pages        []workflows.Page           `json:"pages"`
	AckedAt      *time.Time                 `json:"acknowledged_at,omitempty"`
	Freezes      []Interval                 `json:"freezes"`
	FrozenPosts  []Post                     `json:"frozen_posts"`
	Statements   []time.Time                `json:"statements_published"`
	ResolvedAt   *time.Time                 `json:"resolved_at,omitempty"`
	ResolveNotes string                     `json:"resolve_notes,omitempty"`
	Events       []workflows.Event          `json:"events"`
}

// Interval is a freeze, from its start to its lift (nil: still frozen
// when the simulation ended).
type Interval struct {
	From time.Time  `json:"from"`
	To   *time.Time `json:"to,omitempty"`
}

// Run simulates plan on ms, which need not be sorted; mentions of other
// brands are taken as the simulated brand's.
func Run(ctx context.Context, plan *playbooks.Plan, ms []listening.Mention, o Options) (Result, error) {
	if plan == nil || plan.Kind != playbooks.KindCrisis {
		return Result{}, errors.New("simulate: the playbook must be a Crisis playbook")
	}
	if len(ms) == 0 {
		return Result{}, errors.New("simulate: no mentions")
	}
	o.defaults()
	began := time.Now()
	ms = slices.Clone(ms)
	for i := range ms {
		ms[i].Brand = o.Brand
		if err := listening.Prepare(&ms[i], o.Listening, listening.Lexicon(), ms[i].CreatedAt); err != nil {
			return Result{}, fmt.Errorf("mention %d (%s): %w", i, ms[i].ExternalID, err)
		}
	}
	sort.SliceStable(ms, func(i, j int) bool { return ms[i].CreatedAt.Before(ms[j].CreatedAt) })
	from := ms[0].CreatedAt.Truncate(time.Minute)
	until := ms[len(ms)-1].CreatedAt.Add(o.Tail)
	res := Result{Playbook: plan.Name, Hash: plan.Hash, From: from, To: until, Mentions: len(ms)}

	r := &run{o: o, plan: plan, ms: ms, from: from, until: until, mem: listening.NewMemory(o.Location, o.Listening.Expected()),
		freezes: map[string][]activities.FreezeInput{}, freezeAt: map[string][]time.Time{}, published: map[string][]time.Time{}}
	var suite testsuite.WorkflowTestSuite
	// The test environment logs every timer at debug level; a week of
	// ticks would spend its time writing that.
	suite.SetLogger(tlog.NewStructuredLogger(slog.New(slog.NewTextHandler(io.Discard, nil))))
	env := suite.NewTestWorkflowEnvironment()
	r.env = env
	env.SetStartTime(from)
	env.SetTestTimeout(time.Hour)
	// Crises still open when the stream and its tail end are reported as
	// they stand; the simulation does not wait for them.
	env.SetDetachedChildWait(false)
	env.RegisterWorkflowWithOptions(workflows.BrandMonitor, workflow.RegisterOptions{Name: workflows.MonitorWorkflow})
	env.RegisterWorkflowWithOptions(workflows.Crisis, workflow.RegisterOptions{Name: workflows.CrisisWorkflow})
	env.RegisterActivity(&activities.Activities{})
	r.mock()
	r.nudges()
	env.SetOnChildWorkflowStartedListener(func(info *workflow.Info, _ workflow.Context, args converter.EncodedValues) {
		var in workflows.CrisisInput
		if args.Get(&in) != nil {
			return
		}
		r.opened(info.WorkflowExecution.ID, in)
	})
	env.SetOnChildWorkflowCompletedListener(func(info *workflow.Info, result converter.EncodedValue, err error) {
		var st workflows.CrisisState
		if err == nil && result != nil && result.Get(&st) == nil {
			r.closed(st)
		}
	})

	env.ExecuteWorkflow(workflows.MonitorWorkflow, workflows.MonitorInput{Brand: o.Brand, Interval: o.Interval, Simulate: true, Until: until})
	if err := env.GetWorkflowError(); err != nil {
		return res, fmt.Errorf("simulate: %w", err)
	}
	// Crises still open at the end: their state as it stands.
	for _, wid := range r.openIDs() {
		v, err := env.QueryWorkflowByID(wid, workflows.QueryState)
		if err != nil {
			continue
		}
		var st workflows.CrisisState
		if v.Get(&st) == nil {
			r.closed(st)
		}
	}
	res.Crises = r.outcomes()
	res.Ticks = r.ticks
	res.Took = time.Since(began)
	return res, ctx.Err()
}

func (o *Options) defaults() {
	if o.Brand == "" {
		o.Brand = "simulated"
	}
	if o.Location == nil {
		o.Location = time.UTC
	}
	if o.Listening == nil {
		o.Listening = &listening.Config{}
	}
	if o.Interval <= 0 {
		o.Interval = workflows.DefaultMonitorInterval
	}
	if o.Tail <= 0 {
		o.Tail = 24 * time.Hour
	}
}

type run struct {
	o     Options
	plan  *playbooks.Plan
	ms    []listening.Mention
	from  time.Time
	until time.Time
	env   *testsuite.TestWorkflowEnvironment
	mem   *listening.Memory

	mu        sync.Mutex
	next      int
	ticks     int64
	started   []workflows.CrisisInput
	startedAt []time.Time
	open      map[string]string // workflow id → crisis id
	states    map[string]workflows.CrisisState
	freezes   map[string][]activities.FreezeInput
	freezeAt  map[string][]time.Time
	published map[string][]time.Time
}

func (r *run) mock() {
	var a *activities.Activities
	r.env.OnActivity(a.LoadMonitorSetup, mock.Anything, mock.Anything).Return(
		activities.MonitorSetup{Timezone: r.o.Location.String(), Plans: []*playbooks.Plan{r.plan}}, nil)
	r.env.OnActivity(a.ListeningWindows, mock.Anything, mock.Anything).Return(
		func(_ context.Context, in activities.WindowsInput) ([]listening.ScopedWindow, error) {
			r.mu.Lock()
			defer r.mu.Unlock()
			j := r.next
			for j < len(r.ms) && !r.ms[j].CreatedAt.After(in.At) {
				j++
			}
			if j > r.next {
				r.mem.Add(r.ms[r.next:j])
				r.next = j
			}
			r.ticks++
			if r.o.Progress != nil {
				r.o.Progress(in.At.Sub(r.from), r.until.Sub(r.from))
			}
			return r.mem.Windows(in.At, in.Lengths), nil
		})
	r.env.OnActivity(a.Notify, mock.Anything, mock.Anything).Return(nil).Maybe()
	r.env.OnActivity(a.ApplyFreeze, mock.Anything, mock.Anything).Return(
		func(_ context.Context, in activities.FreezeInput) (activities.FreezeResult, error) {
			r.mu.Lock()
			defer r.mu.Unlock()
			r.freezes[in.CrisisID] = append(r.freezes[in.CrisisID], in)
			r.freezeAt[in.CrisisID] = append(r.freezeAt[in.CrisisID], r.env.Now())
			return activities.FreezeResult{}, nil
		}).Maybe()
	r.env.OnActivity(a.Publish, mock.Anything, mock.Anything).Return(
		func(_ context.Context, in activities.PublishInput) (activities.PublishResult, error) {
			r.mu.Lock()
			defer r.mu.Unlock()
			now := r.env.Now()
			r.published[in.CampaignID] = append(r.published[in.CampaignID], now)
			return activities.PublishResult{ChannelID: in.ChannelID, PostID: "simulated", PublishedAt: now}, nil
		}).Maybe()
}

// nudges tells the monitor about new mentions when they arrive, as the
// API does: at once, or, within a second of the previous nudge, once that
// second is over (NudgeTimes). Each nudge schedules the next, because the
// test environment takes only so many callbacks ahead of time.
func (r *run) nudges() {
	arrivals := make([]time.Time, len(r.ms))
	for i, m := range r.ms {
		arrivals[i] = m.CreatedAt
	}
	at := NudgeTimes(arrivals, NudgeGap)
	var next func(i int)
	next = func(i int) {
		if i >= len(at) {
			return
		}
		r.env.RegisterDelayedCallback(func() {
			r.env.SignalWorkflow(workflows.SignalMentions, nil)
			next(i + 1)
		}, at[i].Sub(r.env.Now()))
	}
	next(0)
}

// NudgeGap is the API's spacing of the nudges it sends a brand monitor.
const NudgeGap = time.Second

// NudgeTimes is when the API nudges a monitor for mentions arriving at
// the given (sorted) instants: the first of a quiet spell at once, the
// ones that follow within gap together, when the gap is over.
func NudgeTimes(arrivals []time.Time, gap time.Duration) []time.Time {
	var out []time.Time
	var last time.Time
	queued := false
	for _, t := range arrivals {
		if queued && !t.Before(last) {
			queued = false // the trailing nudge went out before t
		}
		switch {
		case queued:
		case last.IsZero() || t.Sub(last) >= gap:
			last = t
			out = append(out, t)
		default:
			last = last.Add(gap)
			out = append(out, last)
			queued = true
		}
	}
	return out
}

func (r *run) opened(wid string, in workflows.CrisisInput) {
	r.mu.Lock()
	r.started = append(r.started, in)
	r.startedAt = append(r.startedAt, r.env.Now())
	if r.open == nil {
		r.open = map[string]string{}
	}
	r.open[wid] = in.CrisisID
	r.mu.Unlock()
	if r.o.AckAfter > 0 {
		r.env.RegisterDelayedCallback(func() {
			_ = r.env.UpdateWorkflowByID(wid, workflows.UpdateAck, "", &testsuite.TestUpdateCallback{
				OnAccept: func() {}, OnReject: func(error) {}, OnComplete: func(any, error) {},
			}, workflows.AckRequest{Actor: "simulated"})
		}, r.o.AckAfter)
	}
}

func (r *run) closed(st workflows.CrisisState) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.states == nil {
		r.states = map[string]workflows.CrisisState{}
	}
	r.states[st.CrisisID] = st
	for wid, id := range r.open {
		if id == st.CrisisID && st.Status == "resolved" {
			delete(r.open, wid)
		}
	}
}

func (r *run) openIDs() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	var out []string
	for wid := range r.open {
		out = append(out, wid)
	}
	sort.Strings(out)
	return out
}

func (r *run) outcomes() []Crisis {
	out := []Crisis{}
	for i, in := range r.started {
		st := r.states[in.CrisisID]
		c := Crisis{ID: in.CrisisID, DetectedAt: r.startedAt[i], EvidenceAt: in.Window.LastMentionAt, Scope: in.Scope, Window: in.Window,
			Severities: st.Severities, Pages: st.Pages, AckedAt: st.AckedAt, ResolvedAt: st.ResolvedAt, ResolveNotes: st.ResolveNotes,
			Events: st.Events, Freezes: []Interval{}, FrozenPosts: []Post{}, Statements: r.published[in.CrisisID]}
		for k, f := range r.freezes[in.CrisisID] {
			at := r.freezeAt[in.CrisisID][k]
			if f.Frozen {
				c.Freezes = append(c.Freezes, Interval{From: at})
			} else if n := len(c.Freezes); n > 0 && c.Freezes[n-1].To == nil {
				c.Freezes[n-1].To = &at
			}
		}
		c.FrozenPosts = r.held(c, r.freezes[in.CrisisID])
		out = append(out, c)
	}
	return out
}

// held lists the scheduled posts whose time falls in a freeze that covers
// them, with the rule the live campaigns use.
func (r *run) held(c Crisis, fs []activities.FreezeInput) []Post {
	out := []Post{}
	if len(fs) == 0 {
		return out
	}
	f := fs[0]
	for _, p := range r.o.Posts {
		in := false
		for _, iv := range c.Freezes {
			if !p.At.Before(iv.From) && (iv.To == nil || p.At.Before(*iv.To)) {
				in = true
			}
		}
		if !in {
			continue
		}
		row := store.Freeze{CrisisID: c.ID, Brand: r.o.Brand, Scope: f.Scope, Channels: f.Channels, Tags: f.Tags, Markets: f.Markets,
			OnUnfreeze: f.OnUnfreeze, Reapprove: f.Reapprove}
		q := activities.FreezeQuery{Brand: r.o.Brand, Tags: p.Tags, Market: p.Market,
			Targets: []playbooks.Target{{ID: p.Channel, Name: p.Channel, Platform: p.Channel}}}
		if activities.FreezeCoverage([]store.Freeze{row}, q).Frozen {
			out = append(out, p)
		}
	}
	return out
}
