package linkedin_test

import (
	"context"
	"errors"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/cmo-dev/cmo/platforms"
	"github.com/cmo-dev/cmo/platforms/linkedin"
)

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

func account(f *fakeLinkedIn, s *saved) platforms.Account {
	return platforms.Account{
		ChannelID: "ch_acme_linkedin", Platform: linkedin.Platform, Handle: "acme",
		Secrets: map[string]string{"access_token": "li-at-1", "refresh_token": "li-rt-1"},
		Config: map[string]string{
			"organization": "urn:li:organization:2414183",
			"base_url":     f.srv.URL,
			"token_url":    f.srv.URL + "/oauth/v2/accessToken",
		},
		SaveSecrets: func(_ context.Context, secrets map[string]string) error {
			s.mu.Lock()
			defer s.mu.Unlock()
			s.all = append(s.all, secrets)
			return nil
		},
	}
}

func client(f *fakeLinkedIn) *linkedin.Client {
	return linkedin.New(&http.Client{Timeout: testTimeout}, f.clientID, f.clientSecret)
}

func errKind(t *testing.T, err error) *platforms.Error {
	t.Helper()
	require.Error(t, err)
	var pe *platforms.Error
	require.True(t, errors.As(err, &pe), "want a *platforms.Error, got %T: %v", err, err)
	return pe
}

func noSecrets(t *testing.T, err error) {
	t.Helper()
	for _, s := range []string{"li-at-1", "li-at-2", "li-rt-1", "li-client-secret"} {
		require.NotContains(t, err.Error(), s)
	}
}

func TestPublishCreatesOrganizationPost(t *testing.T) {
	f := newFakeLinkedIn(t)
	c := client(f)

	pub, err := c.Publish(context.Background(), account(f, &saved{}), platforms.Post{Text: "Hello LinkedIn", IdempotencyKey: "k1"})
	require.NoError(t, err)

	h := f.getLastHeader()
	require.Equal(t, "Bearer li-at-1", h.Get("Authorization"))
	require.Equal(t, linkedin.Version, h.Get("LinkedIn-Version"))
	require.Regexp(t, `^20\d{4}$`, linkedin.Version, "LinkedIn-Version is YYYYMM")
	require.Equal(t, "2.0.0", h.Get("X-Restli-Protocol-Version"))
	require.Equal(t, "application/json", h.Get("Content-Type"))
	require.Equal(t, map[string]any{
		"author":     "urn:li:organization:2414183",
		"commentary": "Hello LinkedIn",
		"visibility": "PUBLIC",
		"distribution": map[string]any{
			"feedDistribution": "MAIN_FEED", "targetEntities": []any{}, "thirdPartyDistributionChannels": []any{},
		},
		"lifecycleState":            "PUBLISHED",
		"isReshareDisabledByAuthor": false,
	}, f.getLastBody())

	posts := f.getPosts()
	require.Len(t, posts, 1)
	require.Equal(t, posts[0].id, pub.ID, "the id comes from the x-restli-id header")
	require.True(t, strings.HasPrefix(pub.ID, "urn:li:share:"))
	require.Equal(t, "https://www.linkedin.com/feed/update/"+pub.ID+"/", pub.URL)
	require.WithinDuration(t, time.Now(), pub.At, time.Second)
}

func TestBareOrganizationIDIsAccepted(t *testing.T) {
	f := newFakeLinkedIn(t)
	acct := account(f, &saved{})
	acct.Config["organization"] = "2414183"

	_, err := client(f).Publish(context.Background(), acct, platforms.Post{Text: "bare id"})
	require.NoError(t, err)
	require.Equal(t, "urn:li:organization:2414183", f.getLastBody()["author"])
}

func TestMissingOrganizationIsPermanent(t *testing.T) {
	f := newFakeLinkedIn(t)
	acct := account(f, &saved{})
	delete(acct.Config, "organization")

	_, err := client(f).Publish(context.Background(), acct, platforms.Post{Text: "nowhere"})
	require.Equal(t, platforms.Permanent, errKind(t, err).Kind)
	require.Contains(t, err.Error(), "config.organization")
	require.Zero(t, f.callCount())
}

func TestReservedCharactersSurviveAndReadBack(t *testing.T) {
	f := newFakeLinkedIn(t)
	c := client(f)
	acct := account(f, &saved{})
	text := "Q3 results (preliminary) are in #earnings — thanks @everyone [details] at https://example.com/q3_results_(draft)"

	_, err := c.Publish(context.Background(), acct, platforms.Post{Text: text})
	require.NoError(t, err)
	require.Equal(t,
		`Q3 results \(preliminary\) are in #earnings — thanks \@everyone \[details\] at https://example.com/q3_results_(draft)`,
		f.getLastBody()["commentary"], "little text reserved characters are escaped, links and hashtags kept")
	require.Contains(t, f.getPosts()[0].commentary, "https://example.com/q3_results_(draft)", "nothing was truncated")

	recent, err := c.Recent(context.Background(), acct, 10)
	require.NoError(t, err)
	require.Len(t, recent, 1)
	require.Equal(t, text, recent[0].Text, "read back as posted")
}

func TestReplyCommentsAsTheOrganization(t *testing.T) {
	f := newFakeLinkedIn(t)
	c := client(f)
	acct := account(f, &saved{})
	post, err := c.Publish(context.Background(), acct, platforms.Post{Text: "We hear you."})
	require.NoError(t, err)

	reply, err := c.Publish(context.Background(), acct, platforms.Post{Text: "Update: fixed.", InReplyTo: post.ID})
	require.NoError(t, err)
	comments := f.getComments()
	require.Len(t, comments, 1)
	require.Equal(t, "urn:li:organization:2414183", comments[0].actor)
	require.Equal(t, post.ID, comments[0].object)
	require.Equal(t, "Update: fixed.", comments[0].text)
	require.Equal(t, comments[0].urn, reply.ID)
	require.Equal(t, post.URL, reply.URL)

	nested, err := c.Publish(context.Background(), acct, platforms.Post{Text: "And a follow-up.", InReplyTo: reply.ID})
	require.NoError(t, err)
	comments = f.getComments()
	require.Equal(t, reply.ID, comments[1].parent, "a reply to a comment names it as parent")
	require.Equal(t, post.ID, comments[1].object)

	require.NoError(t, c.Delete(context.Background(), acct, nested.ID))
	require.Len(t, f.getComments(), 1)
	require.NoError(t, c.Delete(context.Background(), acct, nested.ID), "a comment already gone counts as deleted")
}

func TestValidationErrorsArePermanent(t *testing.T) {
	f := newFakeLinkedIn(t)
	c := client(f)
	acct := account(f, &saved{})
	_, err := c.Publish(context.Background(), acct, platforms.Post{Text: "once"})
	require.NoError(t, err)

	_, err = c.Publish(context.Background(), acct, platforms.Post{Text: "once"})
	pe := errKind(t, err)
	require.Equal(t, platforms.Permanent, pe.Kind)
	require.Equal(t, http.StatusUnprocessableEntity, pe.Status)
	require.Contains(t, err.Error(), "Content is a duplicate of urn:li:share:")

	f.set(func() {
		f.fault = func(w http.ResponseWriter, r *http.Request) bool {
			liError(w, http.StatusBadRequest, "ILLEGAL_ARGUMENT", "Request body could not be converted to data map")
			return true
		}
	})
	_, err = c.Publish(context.Background(), acct, platforms.Post{Text: "bad request"})
	require.Equal(t, platforms.Permanent, errKind(t, err).Kind)
	require.Contains(t, err.Error(), "ILLEGAL_ARGUMENT")
}

func TestTooLongIsPermanentWithoutCallingLinkedIn(t *testing.T) {
	f := newFakeLinkedIn(t)

	_, err := client(f).Publish(context.Background(), account(f, &saved{}), platforms.Post{Text: strings.Repeat("é", linkedin.MaxCommentary+1)})
	require.Equal(t, platforms.Permanent, errKind(t, err).Kind)
	require.Zero(t, f.callCount())
}

func TestExpiredTokenIsRefreshedSavedAndUsed(t *testing.T) {
	f := newFakeLinkedIn(t)
	f.set(func() { delete(f.access, "li-at-1") })
	var s saved

	pub, err := client(f).Publish(context.Background(), account(f, &s), platforms.Post{Text: "after refresh"})
	require.NoError(t, err)
	require.NotEmpty(t, pub.ID)

	forms := f.getTokenForms()
	require.Len(t, forms, 1)
	require.Equal(t, "refresh_token", forms[0].Get("grant_type"))
	require.Equal(t, "li-rt-1", forms[0].Get("refresh_token"))
	require.Equal(t, "li-client", forms[0].Get("client_id"))
	require.Equal(t, "li-client-secret", forms[0].Get("client_secret"))

	got := s.last()
	require.Equal(t, "li-at-2", got["access_token"])
	require.Equal(t, "li-rt-1", got["refresh_token"])
	require.NotEmpty(t, got["expires_at"])
	require.NotEmpty(t, got["refresh_token_expires_at"])
	require.Equal(t, "Bearer li-at-2", f.getLastHeader().Get("Authorization"), "the retried request used the renewed token")
}

func TestRefreshRefusedIsAuth(t *testing.T) {
	f := newFakeLinkedIn(t)
	f.set(func() {
		delete(f.access, "li-at-1")
		delete(f.refresh, "li-rt-1")
	})
	var s saved

	_, err := client(f).Publish(context.Background(), account(f, &s), platforms.Post{Text: "no"})
	require.Equal(t, platforms.Auth, errKind(t, err).Kind)
	require.Contains(t, err.Error(), "invalid, expired or revoked")
	noSecrets(t, err)
	require.Nil(t, s.last())
	require.Empty(t, f.getPosts())
}

func TestExpiredTokenWithoutRefreshTokenIsAuth(t *testing.T) {
	f := newFakeLinkedIn(t)
	f.set(func() { delete(f.access, "li-at-1") })
	acct := account(f, &saved{})
	delete(acct.Secrets, "refresh_token") // most apps get no refresh token

	_, err := client(f).Publish(context.Background(), acct, platforms.Post{Text: "no"})
	pe := errKind(t, err)
	require.Equal(t, platforms.Auth, pe.Kind)
	require.Equal(t, http.StatusUnauthorized, pe.Status)
	noSecrets(t, err)
	require.Empty(t, f.getTokenForms())
}

func TestForbiddenIsAuth(t *testing.T) {
	f := newFakeLinkedIn(t)
	acct := account(f, &saved{})
	acct.Config["organization"] = "urn:li:organization:999" // not an admin there

	_, err := client(f).Publish(context.Background(), acct, platforms.Post{Text: "not mine"})
	pe := errKind(t, err)
	require.Equal(t, platforms.Auth, pe.Kind)
	require.Contains(t, err.Error(), "ACCESS_DENIED")
}

func TestRateLimitUsesDefaultOrRetryAfter(t *testing.T) {
	f := newFakeLinkedIn(t)
	retryAfter := ""
	f.set(func() {
		f.fault = func(w http.ResponseWriter, r *http.Request) bool {
			if retryAfter != "" {
				w.Header().Set("Retry-After", retryAfter)
			}
			writeJSON(w, http.StatusTooManyRequests, map[string]any{"status": 429, "message": "Resource level throttle limit for calls to this resource is reached."})
			return true
		}
	})
	c := client(f)

	_, err := c.Publish(context.Background(), account(f, &saved{}), platforms.Post{Text: "throttled"})
	pe := errKind(t, err)
	require.Equal(t, platforms.RateLimited, pe.Kind)
	require.Equal(t, linkedin.DefaultRetryAfter, pe.RetryAfter, "LinkedIn sends no reset time")
	require.Equal(t, time.Minute, linkedin.DefaultRetryAfter)

	retryAfter = "120" // a proxy in front of LinkedIn may say how long
	_, err = c.Publish(context.Background(), account(f, &saved{}), platforms.Post{Text: "throttled"})
	require.Equal(t, 120*time.Second, errKind(t, err).RetryAfter)
}

func TestServerErrorsAreTransient(t *testing.T) {
	for _, status := range []int{http.StatusInternalServerError, http.StatusBadGateway, http.StatusGatewayTimeout} {
		f := newFakeLinkedIn(t)
		f.set(func() {
			f.fault = func(w http.ResponseWriter, r *http.Request) bool {
				liError(w, status, "INTERNAL_SERVER_ERROR", "Internal Server Error")
				return true
			}
		})
		_, err := client(f).Publish(context.Background(), account(f, &saved{}), platforms.Post{Text: "down"})
		require.Equal(t, platforms.Transient, errKind(t, err).Kind, "HTTP %d", status)
	}
}

func TestTimeoutAfterAcceptanceIsTransientAndRecentFindsThePost(t *testing.T) {
	f := newFakeLinkedIn(t)
	f.set(func() {
		f.afterCreate = func(r *http.Request) {
			select {
			case <-r.Context().Done():
			case <-time.After(3 * testTimeout):
			}
		}
	})
	c := client(f)
	acct := account(f, &saved{})
	text := "Statement on the outage (updated) #status"
	started := time.Now()

	_, err := c.Publish(context.Background(), acct, platforms.Post{Text: text, IdempotencyKey: "k-timeout"})
	require.Equal(t, platforms.Transient, errKind(t, err).Kind)
	require.Len(t, f.getPosts(), 1, "LinkedIn stored the post before the answer was lost")

	f.set(func() { f.afterCreate = nil })
	recent, err := c.Recent(context.Background(), acct, 40)
	require.NoError(t, err)
	require.Len(t, recent, 1)
	require.Equal(t, f.getPosts()[0].id, recent[0].ID)
	require.Equal(t, text, recent[0].Text)
	require.WithinDuration(t, started, recent[0].At, 2*time.Second)
}

func TestRecentIsNewestFirst(t *testing.T) {
	f := newFakeLinkedIn(t)
	c := client(f)
	acct := account(f, &saved{})
	for _, s := range []string{"first", "second", "third"} {
		_, err := c.Publish(context.Background(), acct, platforms.Post{Text: s})
		require.NoError(t, err)
		time.Sleep(2 * time.Millisecond)
	}
	recent, err := c.Recent(context.Background(), acct, 2)
	require.NoError(t, err)
	require.Len(t, recent, 2)
	require.Equal(t, []string{"third", "second"}, []string{recent[0].Text, recent[1].Text})
}

func TestDeletePostAndGone(t *testing.T) {
	f := newFakeLinkedIn(t)
	c := client(f)
	acct := account(f, &saved{})
	pub, err := c.Publish(context.Background(), acct, platforms.Post{Text: "delete me"})
	require.NoError(t, err)

	require.NoError(t, c.Delete(context.Background(), acct, pub.ID))
	require.Empty(t, f.getPosts())
	require.NoError(t, c.Delete(context.Background(), acct, pub.ID), "a post already gone counts as deleted")
}

func TestMetricsFromShareStatistics(t *testing.T) {
	f := newFakeLinkedIn(t)
	c := client(f)
	acct := account(f, &saved{})
	pub, err := c.Publish(context.Background(), acct, platforms.Post{Text: "measure"})
	require.NoError(t, err)
	f.set(func() {
		f.stats[pub.ID] = map[string]int64{"impressions": 900, "unique": 700, "likes": 40, "comments": 6, "shares": 3, "clicks": 25}
	})

	m, err := c.Metrics(context.Background(), acct, pub.ID)
	require.NoError(t, err)
	require.Equal(t, platforms.Metrics{Impressions: 900, Likes: 40, Reposts: 3, Replies: 6, Clicks: 25, At: m.At}, m)

	// Without statistics (a post older than LinkedIn's 12-month window),
	// likes and comments still come from socialActions.
	m, err = c.Metrics(context.Background(), acct, "urn:li:share:1")
	require.NoError(t, err)
	require.Equal(t, platforms.Metrics{Likes: 7, Replies: 3, At: m.At}, m)
}

func TestAccountInfo(t *testing.T) {
	f := newFakeLinkedIn(t)

	info, err := client(f).AccountInfo(context.Background(), account(f, &saved{}))
	require.NoError(t, err)
	require.Equal(t, platforms.AccountInfo{ID: "urn:li:organization:2414183", Handle: "acme", DisplayName: "Acme Corp", Followers: 12345}, info)
}
