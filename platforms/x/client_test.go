package x_test

import (
	"context"
	"errors"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/cmo-dev/cmo/platforms"
	"github.com/cmo-dev/cmo/platforms/x"
)

// testTimeout is the connector's HTTP timeout in tests: long enough for a
// local server, short enough that the slow-answer case stays fast.
const testTimeout = 300 * time.Millisecond

type saved struct {
	mu  sync.Mutex
	all []map[string]string
}

func (s *saved) last() map[string]string {
	s.mu.Lock()
	defer s.mu.Unlock()
	if len(s.all) == 0 {
		return nil
	}
	return s.all[len(s.all)-1]
}

func (s *saved) count() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.all)
}

func account(f *fakeX, s *saved) platforms.Account {
	return platforms.Account{
		ChannelID: "ch_acme_x", Platform: x.Platform, Handle: "brand",
		Secrets: map[string]string{"access_token": "at-1", "refresh_token": "rt-1", "other": "kept"},
		Config:  map[string]string{"base_url": f.srv.URL},
		SaveSecrets: func(_ context.Context, secrets map[string]string) error {
			s.mu.Lock()
			defer s.mu.Unlock()
			s.all = append(s.all, secrets)
			return nil
		},
	}
}

func kind(t *testing.T, err error) platforms.ErrorKind {
	t.Helper()
	require.Error(t, err)
	var pe *platforms.Error
	require.True(t, errors.As(err, &pe), "want a *platforms.Error, got %T: %v", err, err)
	return pe.Kind
}

// noSecrets checks an error never carries a token.
func noSecrets(t *testing.T, err error) {
	t.Helper()
	for _, s := range []string{"at-1", "at-2", "rt-1", "rt-2", "app-client-secret"} {
		require.NotContains(t, err.Error(), s)
	}
}

func TestPublishCreatesAPost(t *testing.T) {
	f := newFakeX(t)
	c := f.client(testTimeout)
	before := time.Now()

	pub, err := c.Publish(context.Background(), account(f, &saved{}), platforms.Post{Text: "Launch day! https://example.com/launch", IdempotencyKey: "k1"})
	require.NoError(t, err)

	require.Equal(t, "at-1", f.getLastAuth(), "the user token goes in a Bearer header")
	require.Equal(t, map[string]any{"text": "Launch day! https://example.com/launch"}, f.getLastBody(), "a plain post sends only its text")
	require.Len(t, f.getPosts(), 1)
	require.Equal(t, f.getPosts()[0].id, pub.ID)
	require.Equal(t, "https://x.com/brand/status/"+pub.ID, pub.URL)
	// The time comes from the snowflake id, to the millisecond.
	require.WithinDuration(t, before, pub.At, 2*time.Second)
	require.Equal(t, f.getPosts()[0].at, pub.At)
}

func TestPublishReplySendsReplyObject(t *testing.T) {
	f := newFakeX(t)
	c := f.client(testTimeout)
	acct := account(f, &saved{})
	first, err := c.Publish(context.Background(), acct, platforms.Post{Text: "We are looking into the outage."})
	require.NoError(t, err)

	_, err = c.Publish(context.Background(), acct, platforms.Post{Text: "Fixed, thanks for your patience.", InReplyTo: first.ID})
	require.NoError(t, err)
	require.Equal(t, map[string]any{"in_reply_to_tweet_id": first.ID}, f.getLastBody()["reply"])
	require.Equal(t, first.ID, f.getPosts()[1].replyTo)
}

func TestPublishTooLongIsPermanentWithoutCallingX(t *testing.T) {
	f := newFakeX(t)
	c := f.client(testTimeout)

	_, err := c.Publish(context.Background(), account(f, &saved{}), platforms.Post{Text: strings.Repeat("a", 281)})
	require.Equal(t, platforms.Permanent, kind(t, err))
	require.Contains(t, err.Error(), "281")
	require.Zero(t, f.callCount(""), "an over-long post is refused before any request")

	// A long link counts 23, so this 300-byte post fits.
	text := strings.Repeat("b", 250) + " https://example.com/" + strings.Repeat("p", 40)
	require.Greater(t, len(text), 280)
	_, err = c.Publish(context.Background(), account(f, &saved{}), platforms.Post{Text: text})
	require.NoError(t, err)
}

func TestValidationErrorIsPermanent(t *testing.T) {
	f := newFakeX(t)
	c := f.client(testTimeout)

	_, err := c.Publish(context.Background(), account(f, &saved{}), platforms.Post{Text: "reply to nothing", InReplyTo: "1"})
	require.Equal(t, platforms.Permanent, kind(t, err))
	require.Contains(t, err.Error(), "HTTP 400")
	require.Contains(t, err.Error(), "does not exist", "the reason X gives is kept")
}

func TestDuplicateContentIsPermanent(t *testing.T) {
	f := newFakeX(t)
	c := f.client(testTimeout)
	acct := account(f, &saved{})
	_, err := c.Publish(context.Background(), acct, platforms.Post{Text: "same words"})
	require.NoError(t, err)

	_, err = c.Publish(context.Background(), acct, platforms.Post{Text: "same words"})
	require.Equal(t, platforms.Permanent, kind(t, err))
	require.Contains(t, err.Error(), "duplicate content")
}

func TestExpiredTokenIsRefreshedSavedAndUsed(t *testing.T) {
	f := newFakeX(t)
	f.expireAccess("at-1")
	c := f.client(testTimeout)
	var s saved
	acct := account(f, &s)

	pub, err := c.Publish(context.Background(), acct, platforms.Post{Text: "after a token refresh"})
	require.NoError(t, err)
	require.NotEmpty(t, pub.ID)

	require.Equal(t, 1, f.getTokenCalls())
	require.Equal(t, "at-2", f.getLastAuth(), "the retried request uses the renewed token")
	got := s.last()
	require.Equal(t, "at-2", got["access_token"])
	require.Equal(t, "rt-2", got["refresh_token"], "X rotates refresh tokens: the new one is saved")
	require.Equal(t, "kept", got["other"], "saving renewed tokens keeps the channel's other secrets")
	exp, err := time.Parse(time.RFC3339, got["expires_at"])
	require.NoError(t, err)
	require.WithinDuration(t, time.Now().Add(2*time.Hour), exp, time.Minute)
	require.Equal(t, "at-1", acct.Secrets["access_token"], "the caller's account is not modified")

	// The caller still holds the old tokens (an activity reads back, then
	// publishes, with one Account). The spent refresh token must not be
	// presented again: the renewed token is used directly.
	_, err = c.Recent(context.Background(), acct, 5)
	require.NoError(t, err)
	require.Equal(t, 1, f.getTokenCalls())
	require.Equal(t, "at-2", f.getLastAuth())
}

func TestConcurrentCallsRefreshOnce(t *testing.T) {
	f := newFakeX(t)
	f.expireAccess("at-1")
	c := f.client(testTimeout)
	var s saved
	acct := account(f, &s)

	var wg sync.WaitGroup
	errs := make([]error, 4)
	for i := range errs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			_, errs[i] = c.AccountInfo(context.Background(), acct)
		}()
	}
	wg.Wait()
	for _, err := range errs {
		require.NoError(t, err)
	}
	require.Equal(t, 1, f.getTokenCalls(), "a single-use refresh token is spent once")
	require.Equal(t, 1, s.count())
}

func TestRefreshRefusedIsAuth(t *testing.T) {
	f := newFakeX(t)
	f.expireAccess("at-1")
	delete(f.refresh, "rt-1") // revoked when the user removed the app
	c := f.client(testTimeout)
	var s saved

	_, err := c.Publish(context.Background(), account(f, &s), platforms.Post{Text: "will not go out"})
	require.Equal(t, platforms.Auth, kind(t, err))
	require.Contains(t, err.Error(), "Value passed for the token was invalid")
	noSecrets(t, err)
	require.Zero(t, s.count(), "nothing is saved when the refresh fails")
	require.Empty(t, f.getPosts())
}

func TestExpiredTokenWithoutRefreshTokenIsAuth(t *testing.T) {
	f := newFakeX(t)
	f.expireAccess("at-1")
	c := f.client(testTimeout)
	acct := account(f, &saved{})
	delete(acct.Secrets, "refresh_token")

	_, err := c.Publish(context.Background(), acct, platforms.Post{Text: "no refresh token"})
	require.Equal(t, platforms.Auth, kind(t, err))
	noSecrets(t, err)
	require.Zero(t, f.getTokenCalls())
}

func TestTokenEndpointOutageIsTransient(t *testing.T) {
	f := newFakeX(t)
	f.expireAccess("at-1")
	f.fault = func(w http.ResponseWriter, r *http.Request) bool {
		if r.URL.Path != "/2/oauth2/token" {
			return false
		}
		w.WriteHeader(http.StatusServiceUnavailable)
		return true
	}
	c := f.client(testTimeout)

	_, err := c.Publish(context.Background(), account(f, &saved{}), platforms.Post{Text: "X is down"})
	require.Equal(t, platforms.Transient, kind(t, err), "an outage is not a reason to reconnect the channel")
}

func TestRateLimitWaitsUntilReset(t *testing.T) {
	f := newFakeX(t)
	reset := time.Now().Add(90 * time.Second)
	f.fault = func(w http.ResponseWriter, r *http.Request) bool {
		w.Header().Set("x-rate-limit-limit", "200")
		w.Header().Set("x-rate-limit-remaining", "0")
		w.Header().Set("x-rate-limit-reset", strconv.FormatInt(reset.Unix(), 10))
		writeJSON(w, http.StatusTooManyRequests, map[string]any{"title": "Too Many Requests", "detail": "Too Many Requests", "type": "about:blank", "status": 429})
		return true
	}
	c := f.client(testTimeout)

	_, err := c.Publish(context.Background(), account(f, &saved{}), platforms.Post{Text: "rate limited"})
	require.Equal(t, platforms.RateLimited, kind(t, err))
	var pe *platforms.Error
	require.ErrorAs(t, err, &pe)
	require.InDelta(t, 90, pe.RetryAfter.Seconds(), 2)
}

func TestRateLimitWaitsForExhaustedDailyLimit(t *testing.T) {
	f := newFakeX(t)
	now := time.Now()
	f.fault = func(w http.ResponseWriter, r *http.Request) bool {
		// The 15-minute window has room; the 24-hour posting limit does not.
		w.Header().Set("x-rate-limit-remaining", "150")
		w.Header().Set("x-rate-limit-reset", strconv.FormatInt(now.Add(10*time.Minute).Unix(), 10))
		w.Header().Set("x-user-limit-24hour-limit", "100")
		w.Header().Set("x-user-limit-24hour-remaining", "0")
		w.Header().Set("x-user-limit-24hour-reset", strconv.FormatInt(now.Add(5*time.Hour).Unix(), 10))
		writeJSON(w, http.StatusTooManyRequests, map[string]any{"title": "Too Many Requests", "status": 429})
		return true
	}
	c := f.client(testTimeout)

	_, err := c.Publish(context.Background(), account(f, &saved{}), platforms.Post{Text: "daily limit"})
	var pe *platforms.Error
	require.ErrorAs(t, err, &pe)
	require.Equal(t, platforms.RateLimited, pe.Kind)
	require.InDelta(t, (5 * time.Hour).Seconds(), pe.RetryAfter.Seconds(), 2)
}

func TestServerErrorIsTransient(t *testing.T) {
	f := newFakeX(t)
	f.fault = func(w http.ResponseWriter, r *http.Request) bool {
		writeJSON(w, http.StatusServiceUnavailable, map[string]any{"title": "Service Unavailable", "detail": "Service Unavailable", "type": "about:blank", "status": 503})
		return true
	}
	c := f.client(testTimeout)

	_, err := c.Publish(context.Background(), account(f, &saved{}), platforms.Post{Text: "down"})
	require.Equal(t, platforms.Transient, kind(t, err))
	require.Contains(t, err.Error(), "HTTP 503")
}

func TestTimeoutAfterAcceptanceIsTransientAndRecentFindsThePost(t *testing.T) {
	f := newFakeX(t)
	f.afterCreate = func(r *http.Request) {
		select { // answer long after the client gave up
		case <-r.Context().Done():
		case <-time.After(3 * testTimeout):
		}
	}
	c := f.client(testTimeout)
	acct := account(f, &saved{})
	text := "Our statement on today's incident & what comes next: https://example.com/statement?ref=x"
	started := time.Now()

	_, err := c.Publish(context.Background(), acct, platforms.Post{Text: text, IdempotencyKey: "k-timeout"})
	require.Equal(t, platforms.Transient, kind(t, err))
	require.Len(t, f.getPosts(), 1, "X accepted the post before the answer was lost")

	f.set(func() { f.afterCreate = nil })
	recent, err := c.Recent(context.Background(), acct, 40)
	require.NoError(t, err)
	require.NotEmpty(t, recent)
	require.Equal(t, f.getPosts()[0].id, recent[0].ID)
	require.Equal(t, text, recent[0].Text, "the text reads back as posted: t.co links expanded, & unescaped")
	require.WithinDuration(t, started, recent[0].At, 2*time.Second)
	require.Equal(t, "https://x.com/brand/status/"+recent[0].ID, recent[0].URL)
}

func TestRecentIsNewestFirstAndRespectsLimit(t *testing.T) {
	f := newFakeX(t)
	c := f.client(testTimeout)
	acct := account(f, &saved{})
	for _, s := range []string{"one", "two", "three"} {
		_, err := c.Publish(context.Background(), acct, platforms.Post{Text: s})
		require.NoError(t, err)
		time.Sleep(2 * time.Millisecond)
	}

	recent, err := c.Recent(context.Background(), acct, 2)
	require.NoError(t, err)
	require.Len(t, recent, 2)
	require.Equal(t, "three", recent[0].Text)
	require.Equal(t, "two", recent[1].Text)
	require.Equal(t, 1, f.callCount("GET /2/users/me"), "the user id is looked up when the channel does not configure it")

	acct.Config["user_id"] = f.userID
	_, err = c.Recent(context.Background(), acct, 2)
	require.NoError(t, err)
	require.Equal(t, 1, f.callCount("GET /2/users/me"))
}

func TestMetricsReadPublicMetrics(t *testing.T) {
	f := newFakeX(t)
	c := f.client(testTimeout)
	acct := account(f, &saved{})
	pub, err := c.Publish(context.Background(), acct, platforms.Post{Text: "measure me"})
	require.NoError(t, err)
	f.set(func() {
		p := f.posts[0]
		p.likes, p.retweets, p.replies, p.impressions = 100, 10, 5, 1500
	})

	m, err := c.Metrics(context.Background(), acct, pub.ID)
	require.NoError(t, err)
	require.Equal(t, platforms.Metrics{Impressions: 1500, Likes: 100, Reposts: 10, Replies: 5, At: m.At}, m)
	require.WithinDuration(t, time.Now(), m.At, time.Second)

	_, err = c.Metrics(context.Background(), acct, "123")
	require.Equal(t, platforms.Permanent, kind(t, err), "a post that is gone has no metrics")
	require.Contains(t, err.Error(), "Not Found")
}

func TestDeleteRemovesAndToleratesGone(t *testing.T) {
	f := newFakeX(t)
	c := f.client(testTimeout)
	acct := account(f, &saved{})
	pub, err := c.Publish(context.Background(), acct, platforms.Post{Text: "delete me"})
	require.NoError(t, err)

	require.NoError(t, c.Delete(context.Background(), acct, pub.ID))
	require.Empty(t, f.getPosts())
	require.NoError(t, c.Delete(context.Background(), acct, pub.ID), "deleting a post already gone is not an error")
}

func TestAccountInfo(t *testing.T) {
	f := newFakeX(t)
	c := f.client(testTimeout)

	info, err := c.AccountInfo(context.Background(), account(f, &saved{}))
	require.NoError(t, err)
	require.Equal(t, platforms.AccountInfo{ID: "2244994945", Handle: "brand", DisplayName: "Brand Inc.", Followers: 583423}, info)
}

func TestPublicClientRefreshesWithoutSecret(t *testing.T) {
	f := newFakeX(t)
	f.clientSecret = "" // a public client: no Basic auth expected
	f.expireAccess("at-1")
	c := x.New(&http.Client{Timeout: testTimeout}, f.clientID, "")
	var s saved

	_, err := c.AccountInfo(context.Background(), account(f, &s))
	require.NoError(t, err)
	require.Equal(t, "at-2", s.last()["access_token"])
}

func TestRateLimitWithoutResetWaitsAWindow(t *testing.T) {
	f := newFakeX(t)
	f.fault = func(w http.ResponseWriter, r *http.Request) bool {
		writeJSON(w, http.StatusTooManyRequests, map[string]any{"errors": []map[string]any{{"code": 88, "message": "Rate limit exceeded"}}})
		return true
	}
	c := f.client(testTimeout)

	_, err := c.Publish(context.Background(), account(f, &saved{}), platforms.Post{Text: "no headers"})
	var pe *platforms.Error
	require.ErrorAs(t, err, &pe)
	require.Equal(t, platforms.RateLimited, pe.Kind)
	require.Equal(t, 15*time.Minute, pe.RetryAfter, "X's windows are 15 minutes")
	require.Contains(t, err.Error(), "Rate limit exceeded")
}
