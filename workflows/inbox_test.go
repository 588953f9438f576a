package workflows

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/mock"
	"github.com/stretchr/testify/require"
	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/testsuite"
	"go.temporal.io/sdk/workflow"

	"github.com/cmo-dev/cmo/activities"
	"github.com/cmo-dev/cmo/inbox"
)

// itemRecorder records what an inbox item's activities were asked, with
// the (skipped) time since the item opened.
type itemRecorder struct {
	mu      sync.Mutex
	start   time.Time
	notes   []activities.NotifyInput
	noteAt  []time.Duration
	posts   []activities.PublishInput
	records []inbox.Update
	// refuse makes the platform refuse the next post for good.
	refuse bool
}

func (r *itemRecorder) sent() map[string]time.Duration {
	r.mu.Lock()
	defer r.mu.Unlock()
	out := map[string]time.Duration{}
	for i, n := range r.notes {
		out[n.StepID] = r.noteAt[i]
	}
	return out
}

func (r *itemRecorder) statuses() []string {
	var out []string
	for _, u := range r.records {
		out = append(out, u.Status)
	}
	return out
}

func newItemEnv(t *testing.T, pol inbox.Policy) (*testsuite.TestWorkflowEnvironment, *itemRecorder, InboxItemInput) {
	t.Helper()
	var s testsuite.WorkflowTestSuite
	env := s.NewTestWorkflowEnvironment()
	env.RegisterWorkflowWithOptions(InboxItem, workflow.RegisterOptions{Name: InboxItemWorkflow})
	env.RegisterActivity(&activities.Activities{})
	rec := &itemRecorder{start: env.Now()}
	env.OnActivity((*activities.Activities)(nil).Notify, mock.Anything, mock.Anything).Return(
		func(_ context.Context, in activities.NotifyInput) error {
			rec.mu.Lock()
			defer rec.mu.Unlock()
			rec.notes = append(rec.notes, in)
			rec.noteAt = append(rec.noteAt, env.Now().Sub(rec.start))
			return nil
		}).Maybe()
	env.OnActivity((*activities.Activities)(nil).RecordInboxItem, mock.Anything, mock.Anything).Return(
		func(_ context.Context, u inbox.Update) error {
			rec.mu.Lock()
			defer rec.mu.Unlock()
			rec.records = append(rec.records, u)
			return nil
		}).Maybe()
	env.OnActivity((*activities.Activities)(nil).Publish, mock.Anything, mock.Anything).Return(
		func(_ context.Context, in activities.PublishInput) (activities.PublishResult, error) {
			rec.mu.Lock()
			defer rec.mu.Unlock()
			if rec.refuse {
				rec.refuse = false
				return activities.PublishResult{}, temporal.NewNonRetryableApplicationError("sandbox: permanent (HTTP 422)", activities.ErrTypePermanent, nil)
			}
			rec.posts = append(rec.posts, in)
			return activities.PublishResult{ChannelID: in.ChannelID, PostID: "9001", URL: "https://sandbox.example/@demo_care/9001"}, nil
		}).Maybe()
	opened := env.Now()
	in := InboxItemInput{Item: inbox.Item{ID: "demo-0123456789abcdef", Brand: "demo", Source: "sandbox", ExternalID: "42", Author: "@ana",
		Followers: 25000, Excerpt: "Still waiting for my refund, awful service", Rule: "complaint-high-reach", Kind: inbox.KindComplaint,
		Priority: inbox.PriorityUrgent, OpenedAt: opened, DueAt: opened.Add(pol.ReplyWithin), ReplyChannelID: "ch_demo_care",
		ReplyChannel: "sandbox-care", Policy: pol}}
	return env, rec, in
}

// urgent is the default policy of an urgent item: reply within an hour,
// reminded a quarter of it before.
var urgent = (&inbox.Config{}).PolicyFor(inbox.PriorityUrgent)

// outcome is what became of an update.
type outcome struct {
	rejected, failed error
	state            InboxItemState
}

func updateItem(env *testsuite.TestWorkflowEnvironment, d time.Duration, name string, arg any, out *outcome) {
	env.RegisterDelayedCallback(func() {
		env.UpdateWorkflow(name, "", &testsuite.TestUpdateCallback{
			OnAccept: func() {},
			OnReject: func(err error) {
				if out != nil {
					out.rejected = err
				}
			},
			OnComplete: func(res any, err error) {
				if out != nil {
					out.failed = err
					if st, ok := res.(InboxItemState); ok {
						out.state = st
					}
				}
			},
		}, arg)
	}, d)
}

func itemResult(t *testing.T, env *testsuite.TestWorkflowEnvironment) InboxItemState {
	t.Helper()
	require.True(t, env.IsWorkflowCompleted())
	require.NoError(t, env.GetWorkflowError())
	var st InboxItemState
	require.NoError(t, env.GetWorkflowResult(&st))
	return st
}

func TestOverdueItemIsRemindedThenEscalated(t *testing.T) {
	env, rec, in := newItemEnv(t, urgent)
	var assigned, replied outcome
	updateItem(env, 5*time.Minute, UpdateInboxAssign, AssignRequest{Actor: "marta", Assignee: "jordi"}, &assigned)
	updateItem(env, 90*time.Minute, UpdateInboxReply, ReplyRequest{Actor: "jordi", Text: "Sorry Ana, your refund is on its way: DM us the order number."}, &replied)
	updateItem(env, 2*time.Hour, UpdateInboxClose, CloseRequest{Actor: "jordi", Reason: "refund confirmed"}, nil)
	env.ExecuteWorkflow(InboxItemWorkflow, in)
	st := itemResult(t, env)

	require.NoError(t, assigned.rejected)
	require.Equal(t, inbox.StatusAssigned, assigned.state.Status)
	require.Equal(t, map[string]time.Duration{"new": 0, "reminder": 45 * time.Minute, "overdue": time.Hour}, rec.sent(),
		"told at once, reminded a quarter of the hour before the deadline, escalated at the deadline")
	for _, n := range rec.notes {
		switch n.StepID {
		case "overdue":
			require.Equal(t, inbox.DefaultEscalateTo, n.To)
		default:
			require.Equal(t, inbox.DefaultNotify, n.To)
		}
		require.Equal(t, in.Item.ID, n.Incident)
	}
	require.Contains(t, rec.notes[1].Message, "assigned to jordi")

	require.NoError(t, replied.failed)
	require.Len(t, rec.posts, 1)
	require.Equal(t, activities.PublishInput{CampaignID: in.Item.ID, StepID: "reply-1", ChannelID: "ch_demo_care", ContentHash: "reply",
		Text: "Sorry Ana, your refund is on its way: DM us the order number.", InReplyTo: "42"}, rec.posts[0], "threaded to the mention")
	require.Equal(t, 90*time.Minute, st.FirstResponse)
	require.Equal(t, 90*time.Minute, st.FirstResponseAt.Sub(rec.start))
	require.Equal(t, time.Hour, st.OverdueAt.Sub(rec.start))
	require.Equal(t, inbox.StatusClosed, st.Status)
	require.Equal(t, 2*time.Hour, st.ClosedAt.Sub(rec.start))
	require.Equal(t, "refund confirmed", st.CloseReason)

	require.Equal(t, []string{inbox.StatusAssigned, inbox.StatusAssigned, inbox.StatusOverdue, inbox.StatusReplied, inbox.StatusClosed}, rec.statuses())
	last := rec.records[len(rec.records)-1]
	require.Equal(t, int64(len(rec.records)), last.Seq, "every record is newer than the one before")
	require.Equal(t, "9001", last.ReplyPostID)
	require.Equal(t, 1, last.Replies)
	require.NotNil(t, last.FirstResponseAt)
	require.NotNil(t, last.OverdueAt)
}

func TestReplyBeforeTheDeadlineStopsEscalation(t *testing.T) {
	env, rec, in := newItemEnv(t, urgent)
	var replied outcome
	updateItem(env, 20*time.Minute, UpdateInboxReply, ReplyRequest{Actor: "jordi", Text: "On it, Ana!"}, &replied)
	env.ExecuteWorkflow(InboxItemWorkflow, in)
	st := itemResult(t, env)

	require.NoError(t, replied.failed)
	require.Equal(t, inbox.StatusReplied, replied.state.Status, "the answer shows the reply")
	require.Equal(t, 20*time.Minute, replied.state.FirstResponse)
	require.Equal(t, map[string]time.Duration{"new": 0}, rec.sent(), "no reminder and no escalation after a reply in time")
	require.Nil(t, st.OverdueAt)
	require.Nil(t, st.RemindedAt)
	require.Equal(t, inbox.StatusClosed, st.Status, "closed itself once quiet")
	require.Equal(t, 20*time.Minute, st.ClosedAt.Sub(rec.start), "resolved at the last reply")
	require.Empty(t, st.ClosedBy)
	require.Contains(t, st.CloseReason, "no further message within 72h")
	require.Equal(t, 20*time.Minute+inbox.DefaultCloseAfter, env.Now().Sub(rec.start), "after the quiet period")
}

func TestRepliesWaitForApprovalByAnotherPerson(t *testing.T) {
	pol := urgent
	pol.ApprovalRole = "care-lead"
	env, rec, in := newItemEnv(t, pol)
	var drafted, own, wrongRole, rejected, again, approved outcome
	updateItem(env, 10*time.Minute, UpdateInboxReply, ReplyRequest{Actor: "marta", Text: "We are sorry!"}, &drafted)
	updateItem(env, 11*time.Minute, UpdateInboxReplyApproval, ReplyApproval{Decision: DecisionApprove, Actor: "marta"}, &own)
	updateItem(env, 12*time.Minute, UpdateInboxReplyApproval, ReplyApproval{Decision: DecisionReject, Actor: "jordi", Comment: "too short"}, &rejected)
	updateItem(env, 13*time.Minute, UpdateInboxReply, ReplyRequest{Actor: "marta", Text: "We are sorry, Ana: the refund left today."}, &again)
	updateItem(env, 65*time.Minute, UpdateInboxReplyApproval, ReplyApproval{Decision: DecisionApprove, Actor: "pau", Role: "intern"}, &wrongRole)
	updateItem(env, 70*time.Minute, UpdateInboxReplyApproval, ReplyApproval{Decision: DecisionApprove, Actor: "jordi", Role: "care-lead"}, &approved)
	updateItem(env, 80*time.Minute, UpdateInboxClose, CloseRequest{Actor: "jordi"}, nil)
	env.ExecuteWorkflow(InboxItemWorkflow, in)
	st := itemResult(t, env)

	require.Equal(t, inbox.StatusAwaitingApproval, drafted.state.Status)
	require.ErrorContains(t, own.rejected, "four-eyes")
	require.NoError(t, rejected.rejected)
	require.NoError(t, again.rejected)
	require.ErrorContains(t, wrongRole.rejected, "role care-lead")
	require.NoError(t, approved.failed)

	sent := rec.sent()
	require.Equal(t, 10*time.Minute, sent["approval-1"])
	require.Equal(t, 13*time.Minute, sent["approval-2"])
	require.Equal(t, time.Hour, sent["overdue"], "a reply waiting for approval is not a reply")
	for _, n := range rec.notes {
		if n.StepID == "approval-1" {
			require.Equal(t, []string{"role:care-lead"}, n.To)
		}
		if n.StepID == "overdue" {
			require.Contains(t, n.Message, "waiting for approval")
		}
	}
	require.Len(t, rec.posts, 1, "only the approved reply is published")
	require.Equal(t, "We are sorry, Ana: the refund left today.", rec.posts[0].Text)
	require.Equal(t, "reply-3", rec.posts[0].StepID, "two drafts announced, then the publish attempt")
	require.Equal(t, "marta", st.Replies[0].Actor)
	require.Equal(t, "jordi", st.Replies[0].ApprovedBy)
	require.Equal(t, 70*time.Minute, st.FirstResponse)
	require.Equal(t, "closed by hand", st.CloseReason)
}

func TestRefusedRequestsAndARefusedPost(t *testing.T) {
	env, rec, in := newItemEnv(t, urgent)
	in.Item.ReplyChannelID, in.Item.ReplyChannel = "", ""
	var noChannel, noActor, refused, retried, closed, late outcome
	updateItem(env, time.Minute, UpdateInboxReply, ReplyRequest{Actor: "jordi", Text: "hi"}, &noChannel)
	updateItem(env, 2*time.Minute, UpdateInboxAssign, AssignRequest{Assignee: "jordi"}, &noActor)
	env.RegisterDelayedCallback(func() { rec.mu.Lock(); rec.refuse = true; rec.mu.Unlock() }, 3*time.Minute)
	updateItem(env, 4*time.Minute, UpdateInboxReply, ReplyRequest{Actor: "jordi", Text: "hi", ChannelID: "ch_demo_news"}, &refused)
	updateItem(env, 5*time.Minute, UpdateInboxReply, ReplyRequest{Actor: "jordi", Text: "hello", ChannelID: "ch_demo_news"}, &retried)
	// A reply sent just after the close, in the same moment, is refused.
	env.RegisterDelayedCallback(func() {
		env.UpdateWorkflow(UpdateInboxClose, "", &testsuite.TestUpdateCallback{OnAccept: func() {},
			OnReject: func(err error) { closed.rejected = err }, OnComplete: func(any, error) {}}, CloseRequest{Actor: "jordi", Reason: "answered"})
		env.UpdateWorkflow(UpdateInboxReply, "", &testsuite.TestUpdateCallback{OnAccept: func() {},
			OnReject: func(err error) { late.rejected = err }, OnComplete: func(any, error) {}}, ReplyRequest{Actor: "jordi", Text: "one more", ChannelID: "ch_demo_news"})
	}, 6*time.Minute)
	env.ExecuteWorkflow(InboxItemWorkflow, in)
	st := itemResult(t, env)

	var app *temporal.ApplicationError
	require.ErrorAs(t, noChannel.rejected, &app)
	require.Equal(t, ErrInvalidInboxRequest, app.Type())
	var field string
	require.NoError(t, app.Details(&field))
	require.Equal(t, "channel", field)
	require.ErrorContains(t, noActor.rejected, "actor is required")

	require.ErrorAs(t, refused.failed, &app)
	require.Equal(t, ErrReplyNotPublished, app.Type())
	require.NoError(t, retried.failed)
	require.Len(t, rec.posts, 1)
	require.Equal(t, "reply-2", rec.posts[0].StepID, "a new ledger key after a refused post")
	require.Equal(t, 5*time.Minute, st.FirstResponse)

	require.NoError(t, closed.rejected)
	require.ErrorAs(t, late.rejected, &app)
	require.Equal(t, ErrInboxItemClosed, app.Type())
	require.Equal(t, "jordi", st.ClosedBy)
}

func TestBrandInboxSweepsWhenToldAndOnItsOwn(t *testing.T) {
	var s testsuite.WorkflowTestSuite
	env := s.NewTestWorkflowEnvironment()
	env.RegisterWorkflowWithOptions(BrandInbox, workflow.RegisterOptions{Name: BrandInboxWorkflow})
	env.RegisterActivity(&activities.Activities{})
	start := env.Now()
	var at []time.Duration
	results := []activities.DispatchResult{{Started: 200, More: true}, {Started: 3}, {Started: 1}, {}}
	env.OnActivity((*activities.Activities)(nil).DispatchInbox, mock.Anything, "demo").Return(
		func(context.Context, string) (activities.DispatchResult, error) {
			at = append(at, env.Now().Sub(start))
			res := results[0]
			results = results[1:]
			return res, nil
		})
	env.RegisterDelayedCallback(func() { env.SignalWorkflow(SignalInboxItems, nil) }, 10*time.Second)
	env.ExecuteWorkflow(BrandInboxWorkflow, InboxInput{Brand: "demo", MaxTicks: 4})
	require.True(t, env.IsWorkflowCompleted())
	var can *workflow.ContinueAsNewError
	require.ErrorAs(t, env.GetWorkflowError(), &can, "continues as new after MaxTicks sweeps")
	require.Equal(t, []time.Duration{0, 0, 10 * time.Second, 10*time.Second + DefaultInboxSweep}, at,
		"again at once while more items wait, at the nudge, then on the sweep timer")
}

func TestBrandInboxEndsWithItsBrand(t *testing.T) {
	var s testsuite.WorkflowTestSuite
	env := s.NewTestWorkflowEnvironment()
	env.RegisterWorkflowWithOptions(BrandInbox, workflow.RegisterOptions{Name: BrandInboxWorkflow})
	env.RegisterActivity(&activities.Activities{})
	env.OnActivity((*activities.Activities)(nil).DispatchInbox, mock.Anything, "gone").Return(activities.DispatchResult{},
		temporal.NewNonRetryableApplicationError("brand gone does not exist", activities.ErrTypeNotFound, nil))
	env.ExecuteWorkflow(BrandInboxWorkflow, InboxInput{Brand: "gone"})
	require.True(t, env.IsWorkflowCompleted())
	require.NoError(t, env.GetWorkflowError())
}
