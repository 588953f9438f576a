package activities_test

import (
	"bytes"
	"context"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/stretchr/testify/require"

	"github.com/cmo-dev/cmo/activities"
	"github.com/cmo-dev/cmo/inbox"
	"github.com/cmo-dev/cmo/internal/pgtest"
	"github.com/cmo-dev/cmo/listening"
	"github.com/cmo-dev/cmo/sealbox"
	"github.com/cmo-dev/cmo/store"
)

// starter records the items DispatchInbox started; failAfter makes the
// start fail after that many, as a Temporal outage would.
type starter struct {
	mu        sync.Mutex
	started   []inbox.Item
	failAfter int
}

func (s *starter) StartInboxItem(_ context.Context, item inbox.Item) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.failAfter >= 0 && len(s.started) >= s.failAfter {
		return errors.New("temporal is unavailable")
	}
	s.started = append(s.started, item)
	return nil
}

func inboxActs(t *testing.T) (*activities.Activities, *store.Store, *starter) {
	t.Helper()
	pool, _ := pgtest.NewDB(t, func(ctx context.Context, p *pgxpool.Pool) error { return store.Migrate(ctx, p, nil) })
	box, err := sealbox.New(bytes.Repeat([]byte{4}, 32))
	require.NoError(t, err)
	s := store.New(pool, box)
	ctx := context.Background()
	require.NoError(t, s.UpsertBrand(ctx, store.Brand{ID: "acme", Name: "Acme"}))
	require.NoError(t, s.UpsertChannel(ctx, store.Channel{ID: "ch_care", BrandID: "acme", Name: "care", Platform: "sandbox", Handle: "acme_care"}, nil))
	require.NoError(t, s.UpsertChannel(ctx, store.Channel{ID: "ch_x", BrandID: "acme", Name: "acme-x", Platform: "x", Handle: "acme"}, nil))
	require.NoError(t, s.SetInboxConfig(ctx, "acme", &inbox.Config{Enabled: true, ReplyChannels: map[string]string{"mastodon": "care"}}))
	st := &starter{failAfter: -1}
	return &activities.Activities{Store: s, Inbox: st}, s, st
}

// complaints stores n complaints from a source, classified by the
// default rules, the way the API does.
func complaints(t *testing.T, s *store.Store, source string, n int) store.IngestResult {
	t.Helper()
	cfg := &inbox.Config{Enabled: true}
	cl, err := cfg.Classifier(nil)
	require.NoError(t, err)
	now := time.Now()
	var ms []listening.Mention
	var marks []inbox.Mark
	for i := range n {
		m := listening.Mention{Brand: "acme", Source: source, ExternalID: source + "-" + string(rune('a'+i)), Text: "Still no refund, awful",
			CreatedAt: now, Author: listening.Author{Handle: "@ana", Followers: int64(20_000 * (i % 2))}}
		require.NoError(t, listening.Prepare(&m, nil, func(string, string) (float64, string, string) { return -0.6, listening.Negative, "en" }, now))
		mark, ok := cl.Classify(&m, now)
		require.True(t, ok)
		ms, marks = append(ms, m), append(marks, mark)
	}
	res, err := s.InsertMentions(context.Background(), ms, marks...)
	require.NoError(t, err)
	return res
}

func TestItemsCommittedWithTheirMentionsAreStartedOnceBySweeps(t *testing.T) {
	acts, s, st := inboxActs(t)
	ctx := context.Background()
	res := complaints(t, s, "sandbox", 3)
	require.Equal(t, 3, res.Inbox)
	again := complaints(t, s, "sandbox", 3)
	require.Zero(t, again.Inbox, "a mention sent again opens no second item")
	require.Equal(t, 3, again.Duplicates)

	// The process that stored them died before telling anyone: the
	// sweep finds them. Temporal fails after the first start.
	st.failAfter = 1
	out, err := acts.DispatchInbox(ctx, "acme")
	require.Error(t, err)
	require.Equal(t, 1, out.Started)
	left, err := s.UnstartedInboxItems(ctx, "acme", 10)
	require.NoError(t, err)
	require.Len(t, left, 2, "an item whose start failed waits for the next sweep")

	st.failAfter = -1
	out, err = acts.DispatchInbox(ctx, "acme")
	require.NoError(t, err)
	require.Equal(t, 2, out.Started)
	out, err = acts.DispatchInbox(ctx, "acme")
	require.NoError(t, err)
	require.Zero(t, out.Started, "a started item is not started again")
	require.Len(t, st.started, 3)

	byMention := map[string]inbox.Item{}
	for _, it := range st.started {
		byMention[it.ExternalID] = it
	}
	first := byMention["sandbox-a"]
	require.Equal(t, inbox.ItemID("acme", "sandbox", "sandbox-a"), first.ID)
	require.Equal(t, "ch_care", first.ReplyChannelID, "the brand's channel on the mention's platform answers")
	require.Equal(t, inbox.PriorityHigh, first.Priority)
	require.Equal(t, 4*time.Hour, first.DueAt.Sub(first.OpenedAt))
	second := byMention["sandbox-b"]
	require.Equal(t, inbox.PriorityUrgent, second.Priority, "a complaint from 20,000 followers is urgent")
	require.Equal(t, time.Hour, second.Policy.ReplyWithin)
	require.Equal(t, 15*time.Minute, second.Policy.RemindBefore)

	complaints(t, s, "mastodon", 1)
	complaints(t, s, "forum", 1)
	_, err = acts.DispatchInbox(ctx, "acme")
	require.NoError(t, err)
	require.Equal(t, "ch_care", st.started[3].ReplyChannelID, "reply_channels maps a source to a channel by name")
	require.Empty(t, st.started[4].ReplyChannelID, "no channel answers a forum: a reply must name one")
	require.Equal(t, "forum", st.started[4].Source)
}

func TestRecordedStateFeedsListsAndCareKPIs(t *testing.T) {
	acts, s, _ := inboxActs(t)
	ctx := context.Background()
	complaints(t, s, "sandbox", 2)
	complaints(t, s, "x", 1)
	items, err := s.InboxItems(ctx, store.InboxFilter{Brand: "acme", Status: "active"})
	require.NoError(t, err)
	require.Len(t, items, 3)
	require.Equal(t, inbox.PriorityUrgent, items[0].Priority, "soonest due first")
	require.Equal(t, "@ana", items[0].Mention.Author.Handle)

	it := items[0]
	replied := it.OpenedAt.Add(20 * time.Minute)
	closed := it.OpenedAt.Add(50 * time.Minute)
	require.NoError(t, acts.RecordInboxItem(ctx, inbox.Update{ID: it.ID, Seq: 2, Status: inbox.StatusClosed, Replies: 1,
		FirstResponseAt: &replied, ClosedAt: &closed, ClosedBy: "jordi", ReplyPostID: "9", ReplyURL: "https://s/9"}))
	require.NoError(t, acts.RecordInboxItem(ctx, inbox.Update{ID: it.ID, Seq: 1, Status: inbox.StatusAssigned, Assignee: "jordi"}),
		"a late retry of an older record")
	got, err := s.InboxItem(ctx, it.ID)
	require.NoError(t, err)
	require.Equal(t, inbox.StatusClosed, got.Status, "the older record did not overwrite the newer one")
	require.InDelta(t, 1200, *got.FirstResponseSeconds, 0.001)
	require.InDelta(t, 3000, *got.ResolutionSeconds, 0.001)

	// Another item answered after its deadline; the third is overdue now.
	late := items[1]
	lateReply := late.DueAt.Add(time.Hour)
	require.NoError(t, acts.RecordInboxItem(ctx, inbox.Update{ID: late.ID, Seq: 1, Status: inbox.StatusReplied, Replies: 1, FirstResponseAt: &lateReply}))
	now := items[2].DueAt.Add(time.Minute)
	k, err := s.CareKPIs(ctx, "acme", it.OpenedAt.Add(-time.Hour), now, now)
	require.NoError(t, err)
	require.EqualValues(t, 3, k.Total.Items)
	require.EqualValues(t, 2, k.Total.Responded)
	require.EqualValues(t, 1, k.Total.Resolved)
	require.InDelta(t, 3000, *k.Total.ResolutionAvg, 0.001)
	require.EqualValues(t, 2, k.Total.Breached, "one answered late, one not answered past its deadline")
	require.InDelta(t, 0.5, *k.Total.OnTime, 0.001)
	require.EqualValues(t, 1, k.Total.Overdue)
	byChannel := map[string]store.CareStats{}
	for _, c := range k.Channels {
		byChannel[c.Channel] = c
	}
	require.Equal(t, []string{"sandbox", "sandbox", "x"}, []string{items[0].Source, items[1].Source, items[2].Source})
	sb, x := byChannel["sandbox"], byChannel["x"]
	require.Equal(t, [4]int64{2, 2, 1, 0}, [4]int64{sb.Items, sb.Responded, sb.Breached, sb.Overdue}, "per channel: %+v", sb)
	require.Equal(t, [4]int64{1, 0, 1, 1}, [4]int64{x.Items, x.Responded, x.Breached, x.Overdue}, "per channel: %+v", x)
	require.Nil(t, x.FirstResponseAvg, "no first response yet")
	require.Len(t, k.Channels, 2)
}
