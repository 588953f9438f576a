package meta_test

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/cmo-dev/cmo/platforms"
	"github.com/cmo-dev/cmo/platforms/meta"
)

const testTimeout = 300 * time.Millisecond

func fbAccount(f *fakeGraph) platforms.Account {
	return platforms.Account{
		ChannelID: "ch_acme_facebook", Platform: meta.FacebookPlatform, Handle: "acmecorp",
		Secrets: map[string]string{"page_access_token": "page-token"},
		Config:  map[string]string{"page_id": f.pageID, "base_url": f.srv.URL},
	}
}

func fbClient() *meta.Facebook {
	return meta.NewFacebook(&http.Client{Timeout: testTimeout})
}

func asPlatformError(t *testing.T, err error) *platforms.Error {
	t.Helper()
	require.Error(t, err)
	var pe *platforms.Error
	require.True(t, errors.As(err, &pe), "want a *platforms.Error, got %T: %v", err, err)
	return pe
}

func TestFacebookPublishPostsToPageFeed(t *testing.T) {
	f := newFakeGraph(t)

	pub, err := fbClient().Publish(context.Background(), fbAccount(f), platforms.Post{Text: "Hello from the Page", IdempotencyKey: "k1"})
	require.NoError(t, err)

	auth, form, query := f.last()
	require.Equal(t, "page-token", auth, "the Page token goes in the Authorization header")
	require.Equal(t, "Hello from the Page", form.Get("message"))
	require.Empty(t, query.Get("access_token"))
	require.True(t, strings.HasPrefix(pub.ID, f.pageID+"_"), "a Page post id is {page-id}_{post-id}")
	require.Equal(t, "https://www.facebook.com/"+pub.ID, pub.URL)
	require.WithinDuration(t, time.Now(), pub.At, time.Second)
	require.Contains(t, f.allCalls(), "POST /"+meta.GraphVersion+"/"+f.pageID+"/feed")
}

func TestFacebookReplyCommentsOnThePost(t *testing.T) {
	f := newFakeGraph(t)
	c := fbClient()
	post, err := c.Publish(context.Background(), fbAccount(f), platforms.Post{Text: "We're on it."})
	require.NoError(t, err)

	reply, err := c.Publish(context.Background(), fbAccount(f), platforms.Post{Text: "Resolved now.", InReplyTo: post.ID})
	require.NoError(t, err)
	o, ok := f.object(reply.ID)
	require.True(t, ok)
	require.Equal(t, "comment", o.kind)
	require.Equal(t, post.ID, o.parent)
	require.Equal(t, "Resolved now.", o.text)
}

func TestFacebookInvalidParameterIsPermanent(t *testing.T) {
	f := newFakeGraph(t)
	c := fbClient()
	_, err := c.Publish(context.Background(), fbAccount(f), platforms.Post{Text: "same"})
	require.NoError(t, err)

	_, err = c.Publish(context.Background(), fbAccount(f), platforms.Post{Text: "same"})
	pe := asPlatformError(t, err)
	require.Equal(t, platforms.Permanent, pe.Kind)
	require.Contains(t, err.Error(), "Duplicate status message (code 506, subcode 1455006, fbtrace_id AWy9dXk2hF1)")

	acct := fbAccount(f)
	acct.Config["page_id"] = "999"
	_, err = c.Publish(context.Background(), acct, platforms.Post{Text: "wrong page"})
	pe = asPlatformError(t, err)
	require.Equal(t, platforms.Permanent, pe.Kind, "code 100 is an invalid parameter, not a reason to retry")
	require.Equal(t, http.StatusBadRequest, pe.Status)
}

func TestFacebookExpiredTokenIsAuth(t *testing.T) {
	f := newFakeGraph(t)
	f.set(func() { delete(f.tokens, "page-token") })

	_, err := fbClient().Publish(context.Background(), fbAccount(f), platforms.Post{Text: "token expired"})
	pe := asPlatformError(t, err)
	require.Equal(t, platforms.Auth, pe.Kind, "code 190 on HTTP 400: Page tokens have no refresh grant")
	require.Contains(t, err.Error(), "code 190, subcode 463")
	require.NotContains(t, err.Error(), "page-token")
}

func TestFacebookMissingTokenOrPageIsRefusedBeforeCalling(t *testing.T) {
	f := newFakeGraph(t)
	acct := fbAccount(f)
	delete(acct.Secrets, "page_access_token")
	_, err := fbClient().Publish(context.Background(), acct, platforms.Post{Text: "x"})
	require.Equal(t, platforms.Auth, asPlatformError(t, err).Kind)

	acct = fbAccount(f)
	delete(acct.Config, "page_id")
	_, err = fbClient().Publish(context.Background(), acct, platforms.Post{Text: "x"})
	require.Equal(t, platforms.Permanent, asPlatformError(t, err).Kind)
	require.Contains(t, err.Error(), "config.page_id")
	require.Empty(t, f.allCalls())
}

func TestFacebookRateLimitCodes(t *testing.T) {
	for _, tc := range []struct {
		code   int
		header string
		want   time.Duration
	}{
		{4, "", meta.DefaultRetryAfter},
		{17, "", meta.DefaultRetryAfter},
		{613, "", meta.DefaultRetryAfter},
		{32, `{"104000000000001":[{"type":"pages","call_count":100,"total_cputime":25,"total_time":25,"estimated_time_to_regain_access":7}]}`, 7 * time.Minute},
		{80001, `{"104000000000001":[{"type":"pages","call_count":100,"estimated_time_to_regain_access":12}]}`, 12 * time.Minute},
	} {
		f := newFakeGraph(t)
		f.set(func() {
			f.fault = func(w http.ResponseWriter, r *http.Request) bool {
				if tc.header != "" {
					w.Header().Set("X-Business-Use-Case-Usage", tc.header)
				}
				graphError(w, http.StatusBadRequest, "OAuthException", tc.code, 0, fmt.Sprintf("(#%d) Calls to this api have exceeded the rate limit.", tc.code))
				return true
			}
		})
		_, err := fbClient().Publish(context.Background(), fbAccount(f), platforms.Post{Text: "throttled"})
		pe := asPlatformError(t, err)
		require.Equal(t, platforms.RateLimited, pe.Kind, "code %d", tc.code)
		require.Equal(t, tc.want, pe.RetryAfter, "code %d", tc.code)
	}
}

func TestFacebookTransientErrors(t *testing.T) {
	for _, fault := range []func(w http.ResponseWriter){
		func(w http.ResponseWriter) {
			graphError(w, http.StatusInternalServerError, "OAuthException", 2, 0, "An unexpected error has occurred. Please retry your request later.")
		},
		func(w http.ResponseWriter) {
			graphError(w, http.StatusBadRequest, "OAuthException", 1, 0, "An unknown error occurred")
		},
		func(w http.ResponseWriter) { w.WriteHeader(http.StatusBadGateway) },
	} {
		f := newFakeGraph(t)
		f.set(func() {
			f.fault = func(w http.ResponseWriter, r *http.Request) bool { fault(w); return true }
		})
		_, err := fbClient().Publish(context.Background(), fbAccount(f), platforms.Post{Text: "down"})
		require.Equal(t, platforms.Transient, asPlatformError(t, err).Kind)
	}
}

func TestFacebookTimeoutAfterAcceptanceIsTransientAndRecentFindsThePost(t *testing.T) {
	f := newFakeGraph(t)
	f.set(func() {
		f.afterCreate = func(r *http.Request) {
			select {
			case <-r.Context().Done():
			case <-time.After(3 * testTimeout):
			}
		}
	})
	c := fbClient()
	text := "Service update: all systems back to normal."
	started := time.Now()

	_, err := c.Publish(context.Background(), fbAccount(f), platforms.Post{Text: text, IdempotencyKey: "k-timeout"})
	require.Equal(t, platforms.Transient, asPlatformError(t, err).Kind)
	require.Equal(t, 1, f.count("fbpost"), "the Page has the post although the answer was lost")

	f.set(func() { f.afterCreate = nil })
	recent, err := c.Recent(context.Background(), fbAccount(f), 40)
	require.NoError(t, err)
	require.Len(t, recent, 1)
	require.Equal(t, text, recent[0].Text)
	require.WithinDuration(t, started, recent[0].At, 2*time.Second)
	require.True(t, strings.HasPrefix(recent[0].URL, "https://www.facebook.com/"))
	_, _, query := f.last()
	require.Equal(t, "40", query.Get("limit"))
	require.Equal(t, "id,message,created_time,permalink_url", query.Get("fields"))
}

func TestFacebookMetrics(t *testing.T) {
	f := newFakeGraph(t)
	c := fbClient()
	pub, err := c.Publish(context.Background(), fbAccount(f), platforms.Post{Text: "measure"})
	require.NoError(t, err)
	f.set(func() {
		o := f.objects[pub.ID]
		o.likes, o.comments, o.shares, o.views, o.clicks = 40, 6, 3, 900, 25
	})

	m, err := c.Metrics(context.Background(), fbAccount(f), pub.ID)
	require.NoError(t, err)
	require.Equal(t, platforms.Metrics{Impressions: 900, Likes: 40, Reposts: 3, Replies: 6, Clicks: 25, At: m.At}, m)

	// A withdrawn or refused insight leaves reach at zero but keeps the counts.
	f.set(func() { f.insightsError = true })
	m, err = c.Metrics(context.Background(), fbAccount(f), pub.ID)
	require.NoError(t, err)
	require.Equal(t, platforms.Metrics{Likes: 40, Reposts: 3, Replies: 6, At: m.At}, m)
}

func TestFacebookDeleteAndGone(t *testing.T) {
	f := newFakeGraph(t)
	c := fbClient()
	pub, err := c.Publish(context.Background(), fbAccount(f), platforms.Post{Text: "delete me"})
	require.NoError(t, err)

	require.NoError(t, c.Delete(context.Background(), fbAccount(f), pub.ID))
	require.Zero(t, f.count("fbpost"))
	require.NoError(t, c.Delete(context.Background(), fbAccount(f), pub.ID), "code 100 subcode 33 on delete means already gone")

	f.set(func() { delete(f.tokens, "page-token") })
	require.Equal(t, platforms.Auth, asPlatformError(t, c.Delete(context.Background(), fbAccount(f), pub.ID)).Kind)
}

func TestFacebookAccountInfo(t *testing.T) {
	f := newFakeGraph(t)

	info, err := fbClient().AccountInfo(context.Background(), fbAccount(f))
	require.NoError(t, err)
	require.Equal(t, platforms.AccountInfo{ID: f.pageID, Handle: "acmecorp", DisplayName: "Acme", Followers: 48213}, info)
}
