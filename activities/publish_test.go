package activities_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/stretchr/testify/require"
	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/testsuite"

	"github.com/cmo-dev/cmo/activities"
	"github.com/cmo-dev/cmo/internal/pgtest"
	"github.com/cmo-dev/cmo/platforms"
	"github.com/cmo-dev/cmo/platforms/sandbox"
	"github.com/cmo-dev/cmo/sealbox"
	"github.com/cmo-dev/cmo/store"
)

func TestMain(m *testing.M) { pgtest.Main(m) }

// fixture is a real database with the demo brand and a real sandbox HTTP
// server in front of it, with a hook to misbehave like a platform does.
type fixture struct {
	store  *store.Store
	acts   *activities.Activities
	fault  atomic.Pointer[func(w http.ResponseWriter, r *http.Request, next http.Handler) bool]
	client *sandbox.Client
}

func newFixture(t *testing.T) *fixture {
	t.Helper()
	pool, _ := pgtest.NewDB(t, func(ctx context.Context, p *pgxpool.Pool) error { return store.Migrate(ctx, p, nil) })
	box, err := sealbox.New(bytes.Repeat([]byte{3}, 32))
	require.NoError(t, err)
	f := &fixture{store: store.New(pool, box)}
	require.NoError(t, f.store.SeedDemo(context.Background()))
	sb := sandbox.NewServer(f.store.Sandbox(), "", time.Now)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if fault := f.fault.Load(); fault != nil && (*fault)(w, r, sb) {
			return
		}
		sb.ServeHTTP(w, r)
	}))
	t.Cleanup(srv.Close)
	f.client = sandbox.NewClient(srv.URL, &http.Client{Timeout: 500 * time.Millisecond})
	f.acts = &activities.Activities{Store: f.store, Platforms: platforms.Registry{sandbox.Platform: f.client}}
	return f
}

func (f *fixture) setFault(fn func(w http.ResponseWriter, r *http.Request, next http.Handler) bool) {
	f.fault.Store(&fn)
}

func (f *fixture) publish(t *testing.T, in activities.PublishInput) (activities.PublishResult, error) {
	t.Helper()
	var s testsuite.WorkflowTestSuite
	env := s.NewTestActivityEnvironment()
	env.RegisterActivity(f.acts)
	val, err := env.ExecuteActivity(f.acts.Publish, in)
	if err != nil {
		return activities.PublishResult{}, err
	}
	var res activities.PublishResult
	require.NoError(t, val.Get(&res))
	return res, nil
}

func (f *fixture) posts(t *testing.T, handle string) []sandbox.StoredPost {
	t.Helper()
	ps, err := f.store.Sandbox().ListPosts(context.Background(), handle, 0, 100)
	require.NoError(t, err)
	return ps
}

func input(text string) activities.PublishInput {
	return activities.PublishInput{CampaignID: "c1", StepID: "launch", ChannelID: "ch_demo_news", Text: text, ContentHash: "h1"}
}

func TestPublishTwiceRecoversFromLedger(t *testing.T) {
	f := newFixture(t)
	first, err := f.publish(t, input("hello"))
	require.NoError(t, err)
	require.False(t, first.Recovered)
	second, err := f.publish(t, input("hello"))
	require.NoError(t, err)
	require.True(t, second.Recovered)
	require.Equal(t, first.PostID, second.PostID)
	require.Len(t, f.posts(t, "demo_news"), 1)
}

func TestPublishAfterUnrecordedSuccessReadsBack(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	in := input("went out, never recorded")
	// An earlier attempt began, reached the platform (with no idempotency
	// key, as on platforms that lack them), and died before recording.
	_, err := f.store.LedgerBegin(ctx, ledgerOf(in))
	require.NoError(t, err)
	secrets, err := f.store.ChannelSecrets(ctx, in.ChannelID)
	require.NoError(t, err)
	live, err := f.client.Publish(ctx, platforms.Account{Handle: "demo_news", Secrets: secrets}, platforms.Post{Text: in.Text})
	require.NoError(t, err)

	res, err := f.publish(t, in)
	require.NoError(t, err)
	require.True(t, res.Recovered)
	require.Equal(t, live.ID, res.PostID)
	require.Len(t, f.posts(t, "demo_news"), 1, "found by reading back, not posted again")
	e, err := f.store.LedgerEntry(ctx, in.Key())
	require.NoError(t, err)
	require.Equal(t, store.LedgerPublished, e.Status)
}

func TestPublishTimeoutAfterAcceptDoesNotDuplicate(t *testing.T) {
	f := newFixture(t)
	var slow atomic.Bool
	slow.Store(true)
	f.setFault(func(w http.ResponseWriter, r *http.Request, next http.Handler) bool {
		if r.Method == http.MethodPost && slow.Load() {
			// The platform accepts the post, then answers too late.
			next.ServeHTTP(httptest.NewRecorder(), r)
			time.Sleep(time.Second)
			w.WriteHeader(http.StatusGatewayTimeout)
			return true
		}
		return false
	})
	in := input("slow platform")
	_, err := f.publish(t, in)
	require.Error(t, err, "the first attempt times out")
	require.False(t, isNonRetryable(err), "a timeout is retried: %v", err)
	slow.Store(false)

	res, err := f.publish(t, in)
	require.NoError(t, err)
	require.True(t, res.Recovered)
	require.Len(t, f.posts(t, "demo_news"), 1)
}

func TestPublishErrorsAreClassified(t *testing.T) {
	t.Run("validation error is permanent", func(t *testing.T) {
		f := newFixture(t)
		_, err := f.publish(t, input(strings.Repeat("x", sandbox.MaxChars+1)))
		require.True(t, isNonRetryable(err), "%v", err)
		require.Equal(t, activities.ErrTypePermanent, appType(err))
		require.Contains(t, err.Error(), "text for sandbox-news (sandbox) is 501 characters")
		require.Contains(t, err.Error(), "the limit is 500")
		require.Empty(t, f.posts(t, "demo_news"), "refused before reaching the platform")
		e, lerr := f.store.LedgerEntry(context.Background(), input("").Key())
		require.NoError(t, lerr)
		require.Equal(t, store.LedgerFailed, e.Status)
	})
	t.Run("revoked token needs reconnecting", func(t *testing.T) {
		f := newFixture(t)
		require.NoError(t, f.store.UpsertChannel(context.Background(), store.DemoChannels[0], map[string]string{"token": "revoked"}))
		_, err := f.publish(t, input("hello"))
		require.True(t, isNonRetryable(err), "%v", err)
		require.Equal(t, activities.ErrTypeAuth, appType(err))
		require.NotContains(t, err.Error(), "revoked", "the token never appears in an error")
		ch, cerr := f.store.Channel(context.Background(), "ch_demo_news")
		require.NoError(t, cerr)
		require.Equal(t, "reconnect", ch.Status, "a refused token puts the channel in reconnect")
		ns, nerr := f.store.Notifications(context.Background(), "demo", 10)
		require.NoError(t, nerr)
		require.Len(t, ns, 1)
		require.Contains(t, ns[0].Message, "needs reconnecting")
	})
	t.Run("rate limit waits until the reset time", func(t *testing.T) {
		f := newFixture(t)
		reset := time.Now().Add(90 * time.Second).UTC()
		f.setFault(func(w http.ResponseWriter, r *http.Request, _ http.Handler) bool {
			w.Header().Set("X-RateLimit-Limit", "300")
			w.Header().Set("X-RateLimit-Remaining", "0")
			w.Header().Set("X-RateLimit-Reset", reset.Format(time.RFC3339Nano))
			w.WriteHeader(http.StatusTooManyRequests)
			w.Write([]byte(`{"error":"Too many requests"}`))
			return true
		})
		_, err := f.publish(t, input("hello"))
		var app *temporal.ApplicationError
		require.ErrorAs(t, err, &app)
		require.Equal(t, activities.ErrTypeRateLimited, app.Type())
		require.False(t, app.NonRetryable())
		require.InDelta(t, 90, app.NextRetryDelay().Seconds(), 5)
	})
	t.Run("server error is retried", func(t *testing.T) {
		f := newFixture(t)
		f.setFault(func(w http.ResponseWriter, r *http.Request, _ http.Handler) bool {
			w.WriteHeader(http.StatusBadGateway)
			return true
		})
		_, err := f.publish(t, input("hello"))
		require.Error(t, err)
		require.False(t, isNonRetryable(err), "%v", err)
		require.Empty(t, f.posts(t, "demo_news"))
	})
}

func ledgerOf(in activities.PublishInput) store.LedgerEntry {
	return store.LedgerEntry{Key: in.Key(), CampaignID: in.CampaignID, StepID: in.StepID, ChannelID: in.ChannelID, ContentHash: in.ContentHash}
}

func isNonRetryable(err error) bool {
	var app *temporal.ApplicationError
	return errors.As(err, &app) && app.NonRetryable()
}

func appType(err error) string {
	var app *temporal.ApplicationError
	if errors.As(err, &app) {
		return app.Type()
	}
	return ""
}

func TestBuildReportSumsSandboxEngagement(t *testing.T) {
	f := newFixture(t)
	_, err := f.publish(t, input("measured"))
	require.NoError(t, err)
	in := input("measured")
	in.ChannelID = "ch_demo_care"
	_, err = f.publish(t, in)
	require.NoError(t, err)
	// Age the posts by two hours so the sandbox's curve has grown.
	_, err = f.store.Pool().Exec(context.Background(), `UPDATE sandbox_posts SET created_at = created_at - interval '2 hours'`)
	require.NoError(t, err)

	var s testsuite.WorkflowTestSuite
	env := s.NewTestActivityEnvironment()
	env.RegisterActivity(f.acts)
	val, err := env.ExecuteActivity(f.acts.BuildReport, activities.ReportInput{CampaignID: "c1", Brand: "demo", Playbook: "p"})
	require.NoError(t, err)
	var rep activities.Report
	require.NoError(t, val.Get(&rep))
	require.Len(t, rep.Posts, 2)
	var sum int64
	for _, p := range rep.Posts {
		require.Positive(t, p.Metrics.Impressions)
		sum += p.Metrics.Impressions
	}
	require.Equal(t, sum, rep.Impressions)
	require.Greater(t, rep.EngagementRate, 0.0)
	raw, err := f.store.Report(context.Background(), "c1")
	require.NoError(t, err)
	var stored activities.Report
	require.NoError(t, json.Unmarshal(raw, &stored))
	require.Equal(t, rep.Impressions, stored.Impressions)
}

func TestPublishWaitsForLeases(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	in := input("one at a time")
	ok, err := f.store.AcquireLease(ctx, "post:"+in.Key(), "someone-else", time.Minute)
	require.NoError(t, err)
	require.True(t, ok)
	_, err = f.publish(t, in)
	require.Equal(t, activities.ErrTypeBusy, appType(err), "another attempt at the same post is in flight: %v", err)
	require.False(t, isNonRetryable(err))
	require.Empty(t, f.posts(t, "demo_news"))
	require.NoError(t, f.store.ReleaseLeases(ctx, "someone-else"))

	// Every channel slot taken: the attempt waits too.
	for i := 0; i < 4; i++ {
		_, err := f.store.AcquireLease(ctx, fmt.Sprintf("channel:ch_demo_news:%d", i), "busy-campaign", time.Minute)
		require.NoError(t, err)
	}
	_, err = f.publish(t, in)
	require.Equal(t, activities.ErrTypeBusy, appType(err))
	require.NoError(t, f.store.ReleaseLeases(ctx, "busy-campaign"))

	_, err = f.publish(t, in)
	require.NoError(t, err)
	require.Len(t, f.posts(t, "demo_news"), 1)
	var n int
	require.NoError(t, f.store.Pool().QueryRow(ctx, `SELECT count(*) FROM publish_leases`).Scan(&n))
	require.Zero(t, n, "leases are released after the attempt")
}

func TestPublishRefusesTooManyAttachments(t *testing.T) {
	f := newFixture(t)
	in := input("five pictures")
	for i := 0; i < 5; i++ {
		in.Media = append(in.Media, platforms.Media{URL: fmt.Sprintf("https://cdn.example/%d.png", i)})
	}
	_, err := f.publish(t, in)
	require.True(t, isNonRetryable(err), "%v", err)
	require.Contains(t, err.Error(), "sandbox-news (sandbox) takes at most 4 attachments; this post has 5")
	require.Empty(t, f.posts(t, "demo_news"))
}
