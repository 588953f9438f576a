package workflows

import (
	"context"
	"encoding/json"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/mock"
	"github.com/stretchr/testify/require"
	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/testsuite"

	"github.com/cmo-dev/cmo/activities"
	"github.com/cmo-dev/cmo/playbooks"
	"github.com/cmo-dev/cmo/rules"
)

// The shipped playbooks run here end to end on the test clock, with every
// activity mocked: each test launches a playbook the way the API does and
// checks what went out, when, and which branches ran.

// libStart is a Monday morning, so that parameters read like a calendar.
var libStart = time.Date(2026, 3, 2, 9, 0, 0, 0, time.UTC)

// The campaign's author; approvals in these tests come from the others.
const libAuthor = "marta"

// libHarness runs one shipped playbook and records every activity call.
type libHarness struct {
	t    *testing.T
	env  *testsuite.TestWorkflowEnvironment
	plan *playbooks.Plan

	// What the mocked world answers.
	findings []activities.Finding
	kpis     []rules.KPI // the nth collection returns kpis[n-1]; the last one repeats
	fails    func(activities.PublishInput) error

	mu        sync.Mutex
	posts     []libPost
	notes     []libNote
	checks    []activities.CheckInput
	collected []time.Time
	costs     []activities.CostInput
	reports   []activities.Report
	decisions []*libDecision
	peeks     []*libPeek

	final CampaignState
}

type libPost struct {
	Step, ChannelID, Text string
	At                    time.Time
}

type libNote struct {
	activities.NotifyInput
	At time.Time
}

type libDecision struct {
	req ApprovalRequest
	at  time.Duration
	// must says the decision has to be accepted for the test to pass.
	must bool
	err  error
}

func newLibHarness(t *testing.T, playbook string) *libHarness {
	h := &libHarness{t: t, env: newEnv(t), plan: shippedPlan(t, playbook)}
	h.env.SetStartTime(libStart)
	h.env.OnActivity(acts.Publish, mock.Anything, mock.Anything).Return(h.publish).Maybe()
	h.env.OnActivity(acts.Notify, mock.Anything, mock.Anything).Return(h.notify).Maybe()
	h.env.OnActivity(acts.CheckContent, mock.Anything, mock.Anything).Return(h.check).Maybe()
	h.env.OnActivity(acts.CollectMetrics, mock.Anything, mock.Anything).Return(h.collect).Maybe()
	h.env.OnActivity(acts.BuildReport, mock.Anything, mock.Anything).Return(h.report).Maybe()
	h.env.OnActivity(acts.RecordCost, mock.Anything, mock.Anything).Return(h.cost).Maybe()
	return h
}

func (h *libHarness) cost(_ context.Context, in activities.CostInput) error {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.costs = append(h.costs, in)
	return nil
}

func (h *libHarness) publish(_ context.Context, in activities.PublishInput) (activities.PublishResult, error) {
	if h.fails != nil {
		if err := h.fails(in); err != nil {
			return activities.PublishResult{}, err
		}
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	now := h.env.Now().UTC()
	h.posts = append(h.posts, libPost{Step: in.StepID, ChannelID: in.ChannelID, Text: in.Text, At: now})
	return activities.PublishResult{ChannelID: in.ChannelID, PostID: in.StepID + "-" + in.ChannelID,
		URL: "https://social.example/" + in.ChannelID + "/" + in.StepID, PublishedAt: now}, nil
}

func (h *libHarness) notify(_ context.Context, in activities.NotifyInput) error {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.notes = append(h.notes, libNote{NotifyInput: in, At: h.env.Now().UTC()})
	return nil
}

func (h *libHarness) check(_ context.Context, in activities.CheckInput) ([]activities.Finding, error) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.checks = append(h.checks, in)
	return append([]activities.Finding{}, h.findings...), nil
}

func (h *libHarness) collect(context.Context, activities.CollectInput) (rules.KPI, error) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.collected = append(h.collected, h.env.Now().UTC())
	return h.kpiAt(len(h.collected) - 1), nil
}

// kpiAt is the nth set of numbers (from 0); the last set repeats.
func (h *libHarness) kpiAt(n int) rules.KPI {
	if len(h.kpis) == 0 {
		return rules.KPI{}
	}
	return h.kpis[min(n, len(h.kpis)-1)]
}

// report evaluates the goal rules against the latest numbers, as the real
// activity does against the posts' metrics.
func (h *libHarness) report(_ context.Context, in activities.ReportInput) (activities.Report, error) {
	h.mu.Lock()
	defer h.mu.Unlock()
	// The numbers have moved on since the last collection: the report
	// reads the next set when the test gives one.
	k := h.kpiAt(len(h.collected))
	rep := activities.Report{CampaignID: in.CampaignID, GeneratedAt: h.env.Now().UTC(), KPI: k,
		Impressions: k.Impressions, Engagements: k.Engagements, EngagementRate: k.EngagementRate}
	if len(in.Goals) > 0 {
		rep.Goals = map[string]bool{}
		for name, src := range in.Goals {
			met, err := rules.Eval(src, rules.Campaign, rules.CampaignEnv{KPI: k})
			if err != nil {
				return activities.Report{}, temporal.NewNonRetryableApplicationError(err.Error(), activities.ErrTypePermanent, nil)
			}
			rep.Goals[name] = met
		}
	}
	h.reports = append(h.reports, rep)
	return rep, nil
}

// input builds the launch the way the API does: parameters bound from
// JSON, times resolved in the brand's zone, every channel reference mapped
// to the brand's channels.
func (h *libHarness) input(params map[string]any) CampaignInput {
	raw := map[string]json.RawMessage{}
	for name, v := range params {
		if at, ok := v.(time.Time); ok {
			v = at.Format(time.RFC3339)
		}
		b, err := json.Marshal(v)
		require.NoError(h.t, err)
		raw[name] = b
	}
	bound, err := h.plan.BindParams(raw)
	require.NoError(h.t, err)
	times, err := h.plan.ResolveTimes(bound, time.UTC)
	require.NoError(h.t, err)
	targets := map[string][]playbooks.Target{}
	for _, ref := range h.plan.ChannelRefs() {
		targets[ref] = libTargets(ref)
	}
	return CampaignInput{CampaignID: "c-" + h.plan.Name, Brand: "fieldnotes", Author: libAuthor, Plan: h.plan,
		Params: bound, Targets: targets, Times: times, Timezone: "UTC"}
}

// libTargets stands in for the brand's channels: two sandbox channels, one
// account on each platform, and a sandbox channel for a named reference.
func libTargets(ref string) []playbooks.Target {
	switch {
	case ref == "sandbox":
		return []playbooks.Target{
			{ID: "ch_news", Name: "sandbox-news", Platform: "sandbox"},
			{ID: "ch_care", Name: "sandbox-care", Platform: "sandbox"},
		}
	case playbooks.IsPlatform(ref):
		return []playbooks.Target{{ID: "ch_" + ref, Name: "fieldnotes-" + ref, Platform: ref}}
	}
	return []playbooks.Target{{ID: "ch_" + ref, Name: ref, Platform: "sandbox"}}
}

// approve has actor approve at the given time after the start; role is
// what the approver's client claims, empty for none. The decision must be
// accepted.
func (h *libHarness) approve(at time.Duration, actor, role string) {
	h.decide(at, ApprovalRequest{Decision: DecisionApprove, Actor: actor, Role: role}, true)
}

func (h *libHarness) reject(at time.Duration, actor, comment string) {
	h.decide(at, ApprovalRequest{Decision: DecisionReject, Actor: actor, Comment: comment}, true)
}

// decide sends a decision at a time after the start; the test reads its
// outcome from the returned record once the run is over.
func (h *libHarness) decide(at time.Duration, req ApprovalRequest, must bool) *libDecision {
	d := &libDecision{req: req, at: at, must: must}
	h.decisions = append(h.decisions, d)
	h.env.RegisterDelayedCallback(func() {
		h.env.UpdateWorkflow(UpdateApproval, "", &testsuite.TestUpdateCallback{
			OnAccept:   func() {},
			OnReject:   func(err error) { d.err = err },
			OnComplete: func(_ any, err error) { d.err = err },
		}, req)
	}, at)
	return d
}

// peek reads the campaign's state at a time after the start; run checks
// the read happened and fills in the result.
func (h *libHarness) peek(at time.Duration) *CampaignState {
	p := &libPeek{at: at}
	h.peeks = append(h.peeks, p)
	h.env.RegisterDelayedCallback(func() {
		p.done = true
		v, err := h.env.QueryWorkflow(QueryState)
		if err == nil {
			err = v.Get(&p.state)
		}
		p.err = err
	}, at)
	return &p.state
}

type libPeek struct {
	at    time.Duration
	state CampaignState
	done  bool
	err   error
}

// startedAt is when a step last started, as the state shows it.
func startedAt(t *testing.T, st *CampaignState, id string) time.Time {
	t.Helper()
	for _, s := range st.Steps {
		if s.ID == id {
			require.NotNil(t, s.StartedAt, "step %s has not started", id)
			return s.StartedAt.UTC()
		}
	}
	require.Failf(t, "no step", "%s", id)
	return time.Time{}
}

// run executes the campaign to its end and keeps its final state. The
// error is the workflow's, for the paths that fail the campaign.
func (h *libHarness) run(params map[string]any) (CampaignResult, error) {
	h.env.ExecuteWorkflow(CampaignWorkflow, h.input(params))
	require.True(h.t, h.env.IsWorkflowCompleted())
	for _, d := range h.decisions {
		if d.must {
			require.NoError(h.t, d.err, "%s by %s at +%s", d.req.Decision, d.req.Actor, d.at)
		}
	}
	for _, p := range h.peeks {
		require.True(h.t, p.done, "the campaign ended before +%s", p.at)
		require.NoError(h.t, p.err, "state at +%s", p.at)
	}
	v, err := h.env.QueryWorkflow(QueryState)
	require.NoError(h.t, err)
	require.NoError(h.t, v.Get(&h.final))
	var res CampaignResult
	werr := h.env.GetWorkflowError()
	if werr == nil {
		require.NoError(h.t, h.env.GetWorkflowResult(&res))
		require.Equal(h.t, h.final.Status, res.Status)
	}
	return res, werr
}

// completed runs a campaign that must finish without a workflow error.
func (h *libHarness) completed(params map[string]any) CampaignResult {
	res, err := h.run(params)
	require.NoError(h.t, err)
	return res
}

// published lists the publish runs in the order they went out.
func (h *libHarness) published() []string {
	posts := append([]libPost(nil), h.posts...)
	sort.SliceStable(posts, func(i, j int) bool { return posts[i].At.Before(posts[j].At) })
	var out []string
	for _, p := range posts {
		if len(out) == 0 || out[len(out)-1] != p.Step {
			out = append(out, p.Step)
		}
	}
	return out
}

// postsOf returns one publish run's posts by channel id; they all went out
// at the same moment, which is returned too.
func (h *libHarness) postsOf(step string) (map[string]string, time.Time) {
	h.t.Helper()
	texts := map[string]string{}
	var at time.Time
	for _, p := range h.posts {
		if p.Step != step {
			continue
		}
		require.NotContains(h.t, texts, p.ChannelID, "%s posted twice on %s", step, p.ChannelID)
		if at.IsZero() {
			at = p.At
		}
		require.Equal(h.t, at, p.At, "%s went out at different times", step)
		texts[p.ChannelID] = p.Text
	}
	require.NotEmpty(h.t, texts, "nothing published by %s", step)
	return texts, at
}

// requirePosted checks a publish run went out on exactly these channels
// at start+at.
func (h *libHarness) requirePosted(step string, at time.Duration, channels ...string) map[string]string {
	h.t.Helper()
	texts, when := h.postsOf(step)
	require.ElementsMatch(h.t, channels, keys(texts), "channels of %s", step)
	require.Equal(h.t, libStart.Add(at), when, "%s went out at +%s", step, when.Sub(libStart))
	return texts
}

// notified lists "step → target" for every notification, in order.
func (h *libHarness) notified() []string {
	var out []string
	for _, n := range h.notes {
		for _, to := range n.To {
			out = append(out, n.StepID+" → "+to)
		}
	}
	return out
}

func (h *libHarness) note(step string) libNote {
	h.t.Helper()
	for _, n := range h.notes {
		if n.StepID == step {
			return n
		}
	}
	require.Failf(h.t, "no notification", "step %s sent none; sent: %v", step, h.notified())
	return libNote{}
}

// requireSteps checks the final status of steps by id.
func (h *libHarness) requireSteps(status string, ids ...string) {
	h.t.Helper()
	got := map[string]string{}
	for _, st := range h.final.Steps {
		got[st.ID] = st.Status
	}
	for _, id := range ids {
		require.Contains(h.t, got, id)
		require.Equal(h.t, status, got[id], "step %s", id)
	}
}

// requireNotRun checks steps were never started: a branch not taken.
func (h *libHarness) requireNotRun(ids ...string) {
	h.t.Helper()
	steps := map[string]StepState{}
	for _, st := range h.final.Steps {
		steps[st.ID] = st
	}
	for _, id := range ids {
		st, ok := steps[id]
		require.True(h.t, ok, "no step %s", id)
		require.Nil(h.t, st.StartedAt, "step %s started (status %s)", id, st.Status)
		require.NotEqual(h.t, StepDone, st.Status, "step %s", id)
	}
}

func keys(m map[string]string) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	return out
}

// kpi is a set of numbers with the derived rates computed as the metrics
// activity computes them.
func kpi(posts int, impressions, likes, reposts, replies, clicks int64) rules.KPI {
	k := rules.KPI{Posts: posts, Impressions: impressions, Reach: impressions, Likes: likes, Reposts: reposts,
		Replies: replies, Clicks: clicks, Engagements: likes + reposts + replies + clicks}
	if impressions > 0 {
		k.EngagementRate = float64(k.Engagements) / float64(impressions)
		k.CTR = float64(clicks) / float64(impressions)
	}
	return k
}

func permanent(msg string) error {
	return temporal.NewNonRetryableApplicationError(msg, activities.ErrTypePermanent, nil)
}

const (
	day  = 24 * time.Hour
	week = 7 * day
)

func TestLibraryFirstCampaign(t *testing.T) {
	params := map[string]any{"product": "Cold Brew Kit", "launch_at": libStart.Add(3 * day)}

	t.Run("approved by a colleague, published at launch time", func(t *testing.T) {
		h := newLibHarness(t, "first-campaign")
		self := h.decide(5*time.Minute, ApprovalRequest{Decision: DecisionApprove, Actor: libAuthor}, false)
		h.approve(2*time.Hour, "jordi", "approver")
		waiting := h.peek(day)
		res := h.completed(params)

		require.Equal(t, StatusCompleted, res.Status)
		require.ErrorContains(t, self.err, "four-eyes")
		require.Equal(t, StatusScheduled, waiting.Status)
		require.Equal(t, libStart.Add(3*day), waiting.ScheduledFor.UTC())
		require.Equal(t, []string{"launch"}, h.published())
		texts := h.requirePosted("launch", 3*day, "ch_news", "ch_care")
		require.Equal(t, "Cold Brew Kit is here! Try it today.\n\n#launch", texts["ch_news"])
		require.Len(t, h.reports, 1)
		require.Equal(t, "jordi", h.final.Content["draft"].Approved.Actor)
	})

	t.Run("nobody approves within a day", func(t *testing.T) {
		h := newLibHarness(t, "first-campaign")
		res := h.completed(params)

		require.Equal(t, StatusExpired, res.Status)
		require.Empty(t, h.posts)
		require.Empty(t, h.reports)
		require.Equal(t, libStart.Add(day), h.env.Now().UTC(), "expires after the playbook's 24h")
		h.requireSteps(StepSkipped, "launch", "report")
	})
}

func TestLibraryProductLaunch(t *testing.T) {
	launch := 2 * day // Wednesday 09:00
	params := map[string]any{
		"product": "Aurora", "tagline": "It wakes you with sunrise light, not an alarm.",
		"url": "https://aurora.example/launch", "launch_at": libStart.Add(launch),
	}
	quiet := kpi(5, 18400, 120, 31, 22, 48)    // 1.2%: under the 2% default
	lively := kpi(5, 21300, 610, 140, 96, 250) // 5.2%
	final := kpi(8, 26900, 260, 64, 51, 310)   // after the second post
	everyone := []string{"ch_news", "ch_care", "ch_mastodon", "ch_bluesky", "ch_linkedin"}

	t.Run("reviewer away, escalated; low engagement gets a second post", func(t *testing.T) {
		h := newLibHarness(t, "product-launch")
		h.findings = []activities.Finding{{ChannelID: "ch_linkedin", Rule: "spelling", Severity: "warn", Word: "Aurora"}}
		h.kpis = []rules.KPI{quiet, final}
		h.approve(day+time.Hour, "anna", "marketing-lead")       // after the 24h escalation
		h.approve(launch+2*day+2*time.Hour, "jordi", "reviewer") // the second post
		res := h.completed(params)

		require.Equal(t, StatusCompleted, res.Status)
		require.Len(t, h.checks, 1)
		require.Equal(t, []string{"en"}, h.checks[0].Languages)
		require.Contains(t, h.checks[0].Banned, "guaranteed")
		require.True(t, h.checks[0].RequireLink)
		require.Len(t, h.checks[0].Rendered, 5, "one text per channel is checked")

		require.Equal(t, []string{"review → role:marketing-lead"}, h.notified())
		require.Equal(t, libStart.Add(day), h.note("review").At)
		require.Equal(t, "anna", h.final.Content["draft"].Approved.Actor)

		require.Equal(t, []string{"announce", "followup"}, h.published())
		texts := h.requirePosted("announce", launch, everyone...)
		require.True(t, strings.HasPrefix(texts["ch_linkedin"], "Today we are launching Aurora."))
		require.True(t, strings.HasPrefix(texts["ch_mastodon"], "Aurora is out today!"))
		require.Equal(t, "Aurora is here. It wakes you with sunrise light, not an alarm.\nFind out more: https://aurora.example/launch\n\n#launch", texts["ch_news"])
		h.requirePosted("followup", launch+2*day+2*time.Hour, "ch_mastodon", "ch_bluesky", "ch_linkedin")

		require.Equal(t, []time.Time{libStart.Add(launch + 2*day)}, h.collected, "measured after two days")
		h.requireSteps(StepDone, "gate", "review", "settle", "measure", "second-chance", "followup", "report")
		require.Equal(t, map[string]bool{"reach": true, "engagement": false, "clicks": false}, h.final.Goals)
		require.Len(t, h.final.Findings, 1, "a spelling warning does not block")
	})

	t.Run("healthy engagement needs no second post", func(t *testing.T) {
		h := newLibHarness(t, "product-launch")
		h.kpis = []rules.KPI{lively}
		h.approve(3*time.Hour, "jordi", "reviewer")
		res := h.completed(params)

		require.Equal(t, StatusCompleted, res.Status)
		require.Empty(t, h.notes, "approved in time: no escalation")
		require.Equal(t, []string{"announce"}, h.published())
		h.requirePosted("announce", launch, everyone...)
		h.requireSteps(StepSkipped, "second-chance")
		h.requireNotRun("draft-followup", "review-followup", "followup")
		require.Equal(t, map[string]bool{"reach": true, "engagement": true, "clicks": false}, h.final.Goals)
	})

	t.Run("a banned word blocks the launch", func(t *testing.T) {
		h := newLibHarness(t, "product-launch")
		h.findings = []activities.Finding{{ChannelID: "ch_linkedin", Rule: "banned", Severity: "block", Word: "revolutionary",
			Message: `"revolutionary" is on the banned list`}}
		res := h.completed(params)

		require.Equal(t, StatusBlocked, res.Status)
		require.Empty(t, h.posts)
		require.Empty(t, h.notes)
		require.Empty(t, h.final.Approvals)
		h.requireSteps(StepSkipped, "review", "announce", "report")
		require.Equal(t, "revolutionary", h.final.Findings[0].Word)
	})
}

func TestLibraryWeeklyContentCalendar(t *testing.T) {
	first := 4*day + time.Hour // Friday 10:00
	const review = 30 * time.Minute
	params := map[string]any{
		"community": "Fieldnotes", "prompt": "What did you build this week?",
		"url": "https://fieldnotes.example/highlights", "weeks": 3, "start_at": libStart.Add(first),
	}
	// A round starts seven days after the previous one ended, so each
	// week's post goes out one review time later than the week before.
	round := func(n int) time.Duration { return first + time.Duration(n-1)*(week+review) }

	t.Run("three weekly posts", func(t *testing.T) {
		h := newLibHarness(t, "weekly-content-calendar")
		h.kpis = []rules.KPI{kpi(9, 7400, 210, 18, 64, 35)}
		var asked []*CampaignState
		for n := 1; n <= 3; n++ {
			asked = append(asked, h.peek(round(n)+review-time.Minute))
			h.approve(round(n)+review, "jordi", "editor")
		}
		res := h.completed(params)

		require.Equal(t, StatusCompleted, res.Status)
		for n, st := range asked {
			require.Equal(t, StatusAwaitingApproval, st.Status, "week %d", n+1)
			require.Equal(t, libStart.Add(round(n+1)), startedAt(t, st, "approve"), "week %d's round starts on time", n+1)
		}
		require.Equal(t, []string{"publish", "publish#2", "publish#3"}, h.published())
		for n, step := range []string{"publish", "publish#2", "publish#3"} {
			texts := h.requirePosted(step, round(n+1)+review, "ch_news", "ch_care", "ch_mastodon")
			require.Contains(t, texts["ch_mastodon"], "alt text", "the mastodon variant")
			require.True(t, strings.HasSuffix(texts["ch_news"], "#ShowAndTell"))
		}
		require.Len(t, h.final.Approvals, 3)
		require.Empty(t, h.notes, "approved every week: no reminders")
		require.Equal(t, map[string]bool{"conversation": true, "engagement": true}, h.final.Goals)
		h.requireSteps(StepDone, "first-slot", "every-week", "report")
	})

	t.Run("week two is never approved", func(t *testing.T) {
		h := newLibHarness(t, "weekly-content-calendar")
		h.approve(round(1)+review, "jordi", "editor")
		res := h.completed(params)

		require.Equal(t, StatusExpired, res.Status)
		require.Equal(t, []string{"publish"}, h.published())
		require.Equal(t, []string{"approve#2 → role:editor", "approve#2 → role:editor"}, h.notified())
		require.Equal(t, libStart.Add(round(2)+2*day), h.notes[0].At)
		require.Equal(t, libStart.Add(round(2)+4*day), h.notes[1].At)
		require.Contains(t, h.notes[1].Message, "Reminder 2 of 2")
		require.Equal(t, libStart.Add(round(2)+6*day), h.env.Now().UTC(), "gives up after two reminders")
		require.Empty(t, h.reports)
		h.requireSteps(StepSkipped, "report")
	})
}

func TestLibraryEventPromotion(t *testing.T) {
	event := 10*day + 9*time.Hour // Thursday 12 March, 18:00
	params := map[string]any{
		"event": "Fieldnotes Live", "event_at": libStart.Add(event), "place": "Hall 2, Fira Barcelona",
		"url": "https://fieldnotes.example/live",
	}
	channels := []string{"ch_news", "ch_care", "ch_mastodon", "ch_linkedin"}
	approveAll := func(h *libHarness) {
		for i := 1; i <= 3; i++ {
			h.approve(time.Duration(i)*time.Hour, "jordi", "events-lead")
		}
	}

	t.Run("teaser, reminder and live post on the event's clock", func(t *testing.T) {
		h := newLibHarness(t, "event-promotion")
		h.kpis = []rules.KPI{kpi(12, 16800, 420, 75, 38, 355)}
		approveAll(h)
		res := h.completed(params)

		require.Equal(t, StatusCompleted, res.Status)
		require.Equal(t, []string{"teaser", "reminder", "live"}, h.published())
		teaser := h.requirePosted("teaser", event-week, channels...)
		require.True(t, strings.HasPrefix(teaser["ch_news"], "Save the date"))
		require.True(t, strings.HasPrefix(teaser["ch_linkedin"], "One week to go"))
		reminder := h.requirePosted("reminder", event-day, channels...)
		require.True(t, strings.HasPrefix(reminder["ch_mastodon"], "Tomorrow: Fieldnotes Live"))
		h.requirePosted("live", event, channels...)

		require.Equal(t, []string{"tell-team → slack:events", "tell-team → email:events-team"}, h.notified())
		require.Equal(t, libStart.Add(event), h.note("tell-team").At)
		require.Contains(t, h.note("tell-team").Message, "The live post for Fieldnotes Live is out.")
		require.Len(t, h.reports, 1)
		require.Equal(t, libStart.Add(event+2*day), h.reports[0].GeneratedAt)
		require.Equal(t, map[string]bool{"reach": true, "clicks": true}, h.final.Goals)
	})

	t.Run("the reminder fails on every channel", func(t *testing.T) {
		h := newLibHarness(t, "event-promotion")
		approveAll(h)
		h.fails = func(in activities.PublishInput) error {
			if in.StepID == "reminder" {
				return permanent("status is a duplicate")
			}
			return nil
		}
		_, err := h.run(params)

		require.ErrorContains(t, err, "step reminder: 0 of 4 published")
		require.Equal(t, StatusFailed, h.final.Status)
		require.Equal(t, []string{"teaser"}, h.published())
		h.requirePosted("teaser", event-week, channels...)
		require.Empty(t, h.notes, "the team is not told about a live post that never went out")
		h.requireSteps(StepFailed, "reminder")
		h.requireNotRun("live", "tell-team", "report")
		require.Len(t, h.final.Errors, 5, "four channels and the step")
	})
}

func TestLibraryInfluencerOutreach(t *testing.T) {
	params := map[string]any{
		"handle": "@ana@mastodon.social", "creator": "Ana", "liked": "your thread on home espresso",
		"product": "the Brewline grinder",
	}
	const approved = 2 * time.Hour
	silent := kpi(1, 2300, 14, 2, 0, 9)
	answered := kpi(1, 3100, 22, 4, 2, 17)

	t.Run("no answer in three days: one follow-up", func(t *testing.T) {
		h := newLibHarness(t, "influencer-outreach")
		h.kpis = []rules.KPI{silent, silent, silent, silent, silent, silent, silent, silent, silent, silent, silent, silent, silent, answered}
		h.approve(approved, "jordi", "partnerships")
		h.approve(approved+3*day+time.Hour, "jordi", "partnerships")
		res := h.completed(params)

		require.Equal(t, StatusCompleted, res.Status)
		require.Equal(t, []string{"shortlist → slack:community", "shortlist → email:partnerships"}, h.notified())
		require.Contains(t, h.notes[0].Message, "Ana (@ana@mastodon.social)")
		require.Equal(t, []string{"mention", "follow-up"}, h.published())
		mention := h.requirePosted("mention", approved, "ch_mastodon")
		require.True(t, strings.HasPrefix(mention["ch_mastodon"], "Hi @ana@mastodon.social! We loved your thread on home espresso."))
		followUp := h.requirePosted("follow-up", approved+3*day+time.Hour, "ch_mastodon")
		require.Contains(t, followUp["ch_mastodon"], "our offer to send you the Brewline grinder stands")

		require.Len(t, h.collected, 13, "checked every 6h for 3 days, both ends included")
		require.Equal(t, libStart.Add(approved+3*day), h.collected[12])
		h.requireSteps(StepDone, "await_reply", "nudge", "follow-up", "report")
		require.Equal(t, map[string]bool{"answered": true}, h.final.Goals)
	})

	t.Run("an answer on the second day: no follow-up", func(t *testing.T) {
		h := newLibHarness(t, "influencer-outreach")
		h.kpis = []rules.KPI{silent, silent, silent, silent, silent, answered}
		h.approve(approved, "jordi", "partnerships")
		res := h.completed(params)

		require.Equal(t, StatusCompleted, res.Status)
		require.Equal(t, []string{"mention"}, h.published())
		require.Len(t, h.collected, 6)
		require.Equal(t, libStart.Add(approved+30*time.Hour), h.reports[0].GeneratedAt, "reported as soon as the rule held")
		h.requireSteps(StepSkipped, "nudge")
		h.requireNotRun("draft-nudge", "review-nudge", "follow-up")
	})

	t.Run("partnerships turns the message down", func(t *testing.T) {
		h := newLibHarness(t, "influencer-outreach")
		h.reject(approved, "jordi", "Ana is already in talks with our agency")
		res := h.completed(params)

		require.Equal(t, StatusRejected, res.Status)
		require.Empty(t, h.posts)
		require.Empty(t, h.collected)
		require.Len(t, h.notes, 1, "only the shortlist notice went out")
		require.Equal(t, DecisionReject, h.final.Approvals[0].Decision)
		h.requireSteps(StepSkipped, "mention", "await_reply", "nudge", "report")
	})
}

func TestLibraryPaidBoost(t *testing.T) {
	params := func(budget float64) map[string]any {
		return map[string]any{
			"product": "Spring box", "offer": "20% off your first box until Sunday.",
			"url": "https://fieldnotes.example/spring", "budget": budget, "publish_at": libStart.Add(day),
		}
	}
	organic := kpi(2, 4100, 96, 12, 8, 61)
	boosted := kpi(2, 38500, 640, 85, 41, 1180)
	boosted.Cost, boosted.Conversions, boosted.Revenue, boosted.ROI = 300, 46, 1380, 3.6

	t.Run("budget within the cap: the ads team boosts", func(t *testing.T) {
		h := newLibHarness(t, "paid-boost")
		h.kpis = []rules.KPI{organic, boosted}
		h.approve(time.Hour, "jordi", "approver")
		res := h.completed(params(300))

		require.Equal(t, StatusCompleted, res.Status)
		texts := h.requirePosted("organic", day, "ch_facebook", "ch_instagram")
		require.Equal(t, "Spring box ✨ 20% off your first box until Sunday.\nLink in bio.", texts["ch_instagram"])
		require.Equal(t, []string{"ask-ads → slack:ads", "ask-ads → email:ads-team"}, h.notified())
		ask := h.note("ask-ads")
		require.Equal(t, libStart.Add(2*day), ask.At, "a day after the organic post")
		require.Contains(t, ask.Message, "budget of 300 (cap 500), targeting followers and people like them")
		require.Equal(t, []time.Time{libStart.Add(2 * day), libStart.Add(7 * day)}, h.collected)
		h.requireSteps(StepDone, "boost", "ask-ads", "boost-spend", "boost-runs", "boosted-numbers", "report")
		require.Equal(t, []activities.CostInput{{CampaignID: "c-paid-boost", StepID: "boost-spend", Amount: 300, Note: "paid boost"}}, h.costs,
			"the budget counts as spent once the boost is asked for")
		h.requireNotRun("cap-blocks", "roi-shortfall")
		require.Equal(t, map[string]bool{"roi": true, "engagement": true}, h.final.Goals)
	})

	t.Run("budget over the cap: no boost, marketing is told", func(t *testing.T) {
		h := newLibHarness(t, "paid-boost")
		h.kpis = []rules.KPI{organic}
		h.approve(time.Hour, "jordi", "approver")
		res := h.completed(params(1200))

		require.Equal(t, StatusCompleted, res.Status)
		require.Equal(t, []string{"organic"}, h.published())
		require.Equal(t, []string{"cap-blocks → slack:marketing", "roi-shortfall → slack:marketing"}, h.notified())
		require.Contains(t, h.note("cap-blocks").Message, "budget of 1200 is over the cap of 500")
		require.Contains(t, h.note("roi-shortfall").Message, "missed its ROI goal", "the shortfall branch runs on the missed goal")
		h.requireSteps(StepSkipped, "boost")
		h.requireSteps(StepDone, "cap-blocks", "report", "roi-shortfall")
		h.requireNotRun("ask-ads", "boost-spend", "boost-runs", "boosted-numbers")
		require.Empty(t, h.costs, "nothing spent over the cap")
		require.Equal(t, libStart.Add(2*day), h.reports[0].GeneratedAt)
		require.Equal(t, map[string]bool{"roi": false, "engagement": true}, h.final.Goals, "an organic post earns no ROI")
	})
}

func TestLibraryABTest(t *testing.T) {
	start := day
	params := map[string]any{
		"product": "Nightjar", "benefit": "Your notes never leave your phone.",
		"url": "https://nightjar.example", "start_at": libStart.Add(start),
	}
	decided := start + 2*day
	approveVariants := func(h *libHarness) {
		h.approve(time.Hour, "jordi", "approver")
		h.approve(2*time.Hour, "jordi", "approver")
	}

	t.Run("A wins on clicks: link-led follow-up", func(t *testing.T) {
		h := newLibHarness(t, "ab-test")
		h.kpis = []rules.KPI{kpi(2, 12400, 310, 44, 35, 420)}
		approveVariants(h)
		h.approve(decided+time.Hour, "anna", "approver")
		res := h.completed(params)

		require.Equal(t, StatusCompleted, res.Status)
		order := h.published()
		require.Len(t, order, 3)
		require.ElementsMatch(t, []string{"publish-a", "publish-b"}, order[:2], "both variants at once")
		a := h.requirePosted("publish-a", start, "ch_mastodon")
		b := h.requirePosted("publish-b", start, "ch_bluesky")
		require.Equal(t, "Nightjar: Your notes never leave your phone.\nTry it: https://nightjar.example", a["ch_mastodon"])
		require.Contains(t, b["ch_bluesky"], "What would that change for you?")
		require.Equal(t, []time.Time{libStart.Add(decided)}, h.collected)

		require.Equal(t, "publish-winner-a", order[2])
		h.requirePosted("publish-winner-a", decided+time.Hour, "ch_mastodon", "ch_bluesky")
		h.requireSteps(StepDone, "go-live", "results", "follow-up-a", "publish-winner-a", "final-report")
		h.requireNotRun("follow-up-b", "publish-winner-b")
		require.Len(t, h.reports, 2)
		require.Equal(t, map[string]bool{"a_wins": true, "reach": true}, h.reports[0].Goals)
	})

	t.Run("B wins on replies: the else branch asks again", func(t *testing.T) {
		h := newLibHarness(t, "ab-test")
		h.kpis = []rules.KPI{kpi(2, 9800, 280, 52, 140, 60)}
		approveVariants(h)
		h.approve(decided+time.Hour, "anna", "approver")
		res := h.completed(params)

		require.Equal(t, StatusCompleted, res.Status)
		require.Len(t, h.published(), 3)
		texts := h.requirePosted("publish-winner-b", decided+time.Hour, "ch_mastodon", "ch_bluesky")
		require.True(t, strings.HasPrefix(texts["ch_bluesky"], "You told us a lot this week"))
		h.requireSteps(StepSkipped, "follow-up-a")
		h.requireSteps(StepDone, "follow-up-b", "publish-winner-b", "final-report")
		h.requireNotRun("draft-winner-a", "publish-winner-a")
		require.Equal(t, map[string]bool{"a_wins": false, "reach": false}, h.final.Goals)
	})

	t.Run("variant B cannot be published", func(t *testing.T) {
		h := newLibHarness(t, "ab-test")
		approveVariants(h)
		h.fails = func(in activities.PublishInput) error {
			if in.ChannelID == "ch_bluesky" {
				return temporal.NewNonRetryableApplicationError("app password revoked", activities.ErrTypeAuth, nil)
			}
			return nil
		}
		_, err := h.run(params)

		require.ErrorContains(t, err, "step publish-b: 0 of 1 published")
		require.Equal(t, StatusFailed, h.final.Status)
		require.Equal(t, []string{"publish-a"}, h.published(), "A still went out")
		h.requireSteps(StepDone, "publish-a")
		h.requireSteps(StepFailed, "publish-b", "go-live")
		h.requireNotRun("test-window", "results", "follow-up-a", "final-report")
		require.Empty(t, h.reports)
	})
}
