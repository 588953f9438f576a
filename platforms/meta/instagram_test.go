package meta_test

import (
	"context"
	"net/http"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/cmo-dev/cmo/platforms"
	"github.com/cmo-dev/cmo/platforms/meta"
)

func igAccount(f *fakeGraph) platforms.Account {
	return platforms.Account{
		ChannelID: "ch_acme_instagram", Platform: meta.InstagramPlatform, Handle: "acme",
		Secrets: map[string]string{"access_token": "ig-token"},
		Config: map[string]string{
			"ig_user_id": f.igID, "base_url": f.srv.URL,
			"default_image_url": "https://cdn.example.com/brand/card.jpg",
		},
	}
}

func igClient() *meta.Instagram {
	c := meta.NewInstagram(&http.Client{Timeout: testTimeout})
	c.PollInterval = 5 * time.Millisecond
	c.PollAttempts = 5
	return c
}

func TestInstagramPublishChecksQuotaCreatesContainerAndPublishes(t *testing.T) {
	f := newFakeGraph(t)
	f.set(func() { f.inProgressPolls = 2 }) // Instagram is still fetching the image at first

	pub, err := igClient().Publish(context.Background(), igAccount(f), platforms.Post{Text: "New collection out now ✨ #launch", IdempotencyKey: "k1"})
	require.NoError(t, err)

	v := "/" + meta.GraphVersion + "/"
	calls := f.allCalls()
	require.Equal(t, []string{
		"GET " + v + f.igID + "/content_publishing_limit",
		"POST " + v + f.igID + "/media",
		"GET " + v + "17889455560051" + "1001",
		"GET " + v + "17889455560051" + "1001",
		"GET " + v + "17889455560051" + "1001",
		"POST " + v + f.igID + "/media_publish",
		"GET " + v + pub.ID,
	}, calls, "quota, container, polls until FINISHED, publish, permalink")

	o, ok := f.object(pub.ID)
	require.True(t, ok)
	require.Equal(t, "media", o.kind)
	require.Equal(t, "New collection out now ✨ #launch", o.text, "the text is the caption")
	require.Equal(t, "https://cdn.example.com/brand/card.jpg", o.image)
	require.Equal(t, "https://www.instagram.com/p/"+pub.ID+"/", pub.URL)
	require.WithinDuration(t, time.Now(), pub.At, 2*time.Second)
}

func TestInstagramWithoutImageIsPermanent(t *testing.T) {
	f := newFakeGraph(t)
	acct := igAccount(f)
	delete(acct.Config, "default_image_url")

	_, err := igClient().Publish(context.Background(), acct, platforms.Post{Text: "text only"})
	pe := asPlatformError(t, err)
	require.Equal(t, platforms.Permanent, pe.Kind)
	require.Contains(t, err.Error(), "config.default_image_url")
	require.Empty(t, f.allCalls())
}

func TestInstagramQuotaExhaustedIsRateLimitedWithoutPublishing(t *testing.T) {
	f := newFakeGraph(t)
	f.set(func() { f.quotaUsage = 50 })

	_, err := igClient().Publish(context.Background(), igAccount(f), platforms.Post{Text: "one too many"})
	pe := asPlatformError(t, err)
	require.Equal(t, platforms.RateLimited, pe.Kind)
	require.Equal(t, meta.QuotaRetryAfter, pe.RetryAfter)
	require.Contains(t, err.Error(), "50 of the 50")
	require.Zero(t, f.callsTo("/media_publish"), "media_publish is never called")
	require.Zero(t, f.callsTo("/media"), "no container is created for nothing")
}

func TestInstagramPublishLimitErrorIsRateLimited(t *testing.T) {
	// The quota can run out between the check and the publish (another
	// tool posting on the same account): error 9 / 2207042.
	f := newFakeGraph(t)
	f.set(func() {
		f.fault = func(w http.ResponseWriter, r *http.Request) bool {
			if r.URL.Path != "/"+meta.GraphVersion+"/"+f.igID+"/media_publish" {
				return false
			}
			graphError(w, http.StatusBadRequest, "OAuthException", 9, 2207042, "Application request limit reached")
			return true
		}
	})
	_, err := igClient().Publish(context.Background(), igAccount(f), platforms.Post{Text: "race"})
	pe := asPlatformError(t, err)
	require.Equal(t, platforms.RateLimited, pe.Kind)
	require.Equal(t, meta.QuotaRetryAfter, pe.RetryAfter)
}

func TestInstagramContainerErrorIsPermanent(t *testing.T) {
	f := newFakeGraph(t)
	f.set(func() { f.containerStatus = "ERROR" })

	_, err := igClient().Publish(context.Background(), igAccount(f), platforms.Post{Text: "broken image"})
	require.Equal(t, platforms.Permanent, asPlatformError(t, err).Kind)
	require.Contains(t, err.Error(), "2207003")
	require.Zero(t, f.callsTo("/media_publish"))
}

func TestInstagramUnusableImageURLIsPermanent(t *testing.T) {
	f := newFakeGraph(t)
	acct := igAccount(f)
	acct.Config["default_image_url"] = "http://insecure.example.com/card.jpg"

	_, err := igClient().Publish(context.Background(), acct, platforms.Post{Text: "x"})
	require.Equal(t, platforms.Permanent, asPlatformError(t, err).Kind)
	require.Contains(t, err.Error(), "Media download has failed")
}

func TestInstagramExpiredTokenIsAuth(t *testing.T) {
	f := newFakeGraph(t)
	f.set(func() { delete(f.tokens, "ig-token") })

	_, err := igClient().Publish(context.Background(), igAccount(f), platforms.Post{Text: "x"})
	require.Equal(t, platforms.Auth, asPlatformError(t, err).Kind)
	require.NotContains(t, err.Error(), "ig-token")
}

func TestInstagramServerErrorIsTransient(t *testing.T) {
	f := newFakeGraph(t)
	f.set(func() {
		f.fault = func(w http.ResponseWriter, r *http.Request) bool {
			graphError(w, http.StatusServiceUnavailable, "OAuthException", 2, 0, "Service temporarily unavailable")
			return true
		}
	})
	_, err := igClient().Publish(context.Background(), igAccount(f), platforms.Post{Text: "x"})
	require.Equal(t, platforms.Transient, asPlatformError(t, err).Kind)
}

func TestInstagramTimeoutAfterPublishIsTransientAndRecentFindsIt(t *testing.T) {
	f := newFakeGraph(t)
	f.set(func() {
		f.afterCreate = func(r *http.Request) {
			select {
			case <-r.Context().Done():
			case <-time.After(3 * testTimeout):
			}
		}
	})
	c := igClient()
	text := "Behind the scenes of our new store 🏬"
	started := time.Now()

	_, err := c.Publish(context.Background(), igAccount(f), platforms.Post{Text: text, IdempotencyKey: "k-timeout"})
	require.Equal(t, platforms.Transient, asPlatformError(t, err).Kind)
	require.Equal(t, 1, f.count("media"), "Instagram published the media before the answer was lost")

	f.set(func() { f.afterCreate = nil })
	recent, err := c.Recent(context.Background(), igAccount(f), 40)
	require.NoError(t, err)
	require.Len(t, recent, 1)
	require.Equal(t, text, recent[0].Text)
	require.WithinDuration(t, started, recent[0].At, 2*time.Second)
	require.NotEmpty(t, recent[0].URL)
}

func TestInstagramReplyCommentsWithoutQuotaOrImage(t *testing.T) {
	f := newFakeGraph(t)
	c := igClient()
	post, err := c.Publish(context.Background(), igAccount(f), platforms.Post{Text: "post"})
	require.NoError(t, err)
	f.set(func() { f.quotaUsage = 50 })
	acct := igAccount(f)
	delete(acct.Config, "default_image_url")

	reply, err := c.Publish(context.Background(), acct, platforms.Post{Text: "Thanks for the love!", InReplyTo: post.ID})
	require.NoError(t, err)
	o, ok := f.object(reply.ID)
	require.True(t, ok)
	require.Equal(t, "comment", o.kind)
	require.Equal(t, post.ID, o.parent)

	require.NoError(t, c.Delete(context.Background(), igAccount(f), reply.ID))
	require.NoError(t, c.Delete(context.Background(), igAccount(f), reply.ID), "already gone")
}

func TestInstagramMetrics(t *testing.T) {
	f := newFakeGraph(t)
	c := igClient()
	pub, err := c.Publish(context.Background(), igAccount(f), platforms.Post{Text: "measure"})
	require.NoError(t, err)
	f.set(func() {
		o := f.objects[pub.ID]
		o.likes, o.comments, o.shares, o.views = 120, 9, 4, 3400
	})

	m, err := c.Metrics(context.Background(), igAccount(f), pub.ID)
	require.NoError(t, err)
	require.Equal(t, platforms.Metrics{Impressions: 3400, Likes: 120, Reposts: 4, Replies: 9, At: m.At}, m)
}

func TestInstagramAccountInfo(t *testing.T) {
	f := newFakeGraph(t)

	info, err := igClient().AccountInfo(context.Background(), igAccount(f))
	require.NoError(t, err)
	require.Equal(t, platforms.AccountInfo{ID: f.igID, Handle: "acme", DisplayName: "Acme Corp", Followers: 9120}, info)
}
