package mastodon_test

import (
	"bytes"
	"context"
	"errors"
	"net"
	"net/http"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/cmo-dev/cmo/platforms"
	"github.com/cmo-dev/cmo/platforms/mastodon"
)

const testTimeout = 300 * time.Millisecond

func newClient() *mastodon.Client {
	c := mastodon.New(&http.Client{Timeout: testTimeout})
	c.MediaPollInterval = 5 * time.Millisecond
	return c
}

func (in *instance) account(token string) platforms.Account {
	return platforms.Account{
		ChannelID: "ch-1", Platform: mastodon.Platform, Handle: "alice",
		Secrets: map[string]string{"token": token},
		Config:  map[string]string{"base_url": in.srv.URL + "/"},
	}
}

func requireKind(t *testing.T, err error, kind platforms.ErrorKind) *platforms.Error {
	t.Helper()
	require.Error(t, err)
	require.Equal(t, kind, platforms.KindOf(err), "error: %v", err)
	var pe *platforms.Error
	if errors.As(err, &pe) {
		return pe
	}
	return nil
}

func TestPublishSendsTheDocumentedRequest(t *testing.T) {
	in := newInstance(t)
	c := newClient()
	acct := in.account(aliceToken)
	acct.Config["visibility"] = "unlisted"

	pub, err := c.Publish(context.Background(), acct, platforms.Post{Text: "Launch day! https://example.com/launch", IdempotencyKey: "k-1"})
	require.NoError(t, err)

	require.Len(t, in.creates, 1)
	got := in.creates[0]
	require.Equal(t, "application/x-www-form-urlencoded", got.ContentType)
	require.Equal(t, "Bearer "+aliceToken, got.Authorization)
	require.Equal(t, "k-1", got.IdempotencyKey)
	require.Equal(t, []string{"status", "visibility"}, sortedKeys(got.Form))
	require.Equal(t, "Launch day! https://example.com/launch", got.Form.Get("status"))
	require.Equal(t, "unlisted", got.Form.Get("visibility"))

	st := in.stored()
	require.Len(t, st, 1)
	require.Equal(t, st[0].ID, pub.ID)
	require.Equal(t, in.srv.URL+"/@alice/"+st[0].ID, pub.URL)
	require.WithinDuration(t, st[0].CreatedAt, pub.At, time.Millisecond)
}

func TestPublishReplySendsInReplyToID(t *testing.T) {
	in := newInstance(t)
	c := newClient()
	acct := in.account(aliceToken)
	parent, err := c.Publish(context.Background(), acct, platforms.Post{Text: "Thread start"})
	require.NoError(t, err)

	reply, err := c.Publish(context.Background(), acct, platforms.Post{Text: "And a reply", InReplyTo: parent.ID})
	require.NoError(t, err)
	require.Equal(t, parent.ID, in.creates[1].Form.Get("in_reply_to_id"))
	require.Equal(t, parent.ID, in.stored()[1].InReplyTo)
	require.NotEqual(t, parent.ID, reply.ID)
}

func TestPublishReplyToMissingStatusIsPermanent(t *testing.T) {
	in := newInstance(t)
	_, err := newClient().Publish(context.Background(), in.account(aliceToken), platforms.Post{Text: "hello?", InReplyTo: "404404"})
	pe := requireKind(t, err, platforms.Permanent)
	require.Equal(t, http.StatusNotFound, pe.Status)
	require.Empty(t, in.stored())
}

func TestSameIdempotencyKeyReturnsTheSamePost(t *testing.T) {
	in := newInstance(t)
	c := newClient()
	acct := in.account(aliceToken)
	p := platforms.Post{Text: "Only once, please", IdempotencyKey: "campaign-1/step-2/ch-1"}

	first, err := c.Publish(context.Background(), acct, p)
	require.NoError(t, err)
	again, err := c.Publish(context.Background(), acct, p)
	require.NoError(t, err)
	require.Equal(t, first, again)
	require.Len(t, in.stored(), 1)
}

func TestValidationErrorIsPermanentWithTheInstanceMessage(t *testing.T) {
	in := newInstance(t)
	_, err := newClient().Publish(context.Background(), in.account(aliceToken), platforms.Post{Text: strings.Repeat("é", 501)})
	pe := requireKind(t, err, platforms.Permanent)
	require.Equal(t, http.StatusUnprocessableEntity, pe.Status)
	require.Equal(t, "Validation failed: Text character limit of 500 exceeded", pe.Msg)

	_, err = newClient().Publish(context.Background(), in.account(aliceToken), platforms.Post{Text: "   "})
	pe = requireKind(t, err, platforms.Permanent)
	require.Equal(t, "Validation failed: Text can't be blank", pe.Msg)
}

func TestRefusedTokenIsAuthAndNeverShown(t *testing.T) {
	in := newInstance(t)
	c := newClient()
	const revoked = "tok-revoked-secret-9931"

	_, err := c.Publish(context.Background(), in.account(revoked), platforms.Post{Text: "hi"})
	pe := requireKind(t, err, platforms.Auth)
	require.Equal(t, http.StatusUnauthorized, pe.Status)
	require.Equal(t, "The access token is invalid", pe.Msg)
	require.NotContains(t, err.Error(), revoked)

	for name, call := range map[string]func(platforms.Account) error{
		"recent":  func(a platforms.Account) error { _, err := c.Recent(context.Background(), a, 5); return err },
		"metrics": func(a platforms.Account) error { _, err := c.Metrics(context.Background(), a, "1"); return err },
		"info":    func(a platforms.Account) error { _, err := c.AccountInfo(context.Background(), a); return err },
		"delete":  func(a platforms.Account) error { return c.Delete(context.Background(), a, "1") },
	} {
		err := call(in.account(revoked))
		requireKind(t, err, platforms.Auth)
		require.NotContains(t, err.Error(), revoked, name)
	}
}

func TestDisabledLoginAndAppOnlyTokenAreAuth(t *testing.T) {
	in := newInstance(t)
	c := newClient()
	in.setFault(func(w http.ResponseWriter, r *http.Request) bool {
		writeError(w, http.StatusForbidden, "Your login is currently disabled")
		return true
	})
	_, err := c.Publish(context.Background(), in.account(aliceToken), platforms.Post{Text: "hi"})
	requireKind(t, err, platforms.Auth)

	in.setFault(func(w http.ResponseWriter, r *http.Request) bool {
		writeError(w, http.StatusUnprocessableEntity, "This method requires an authenticated user")
		return true
	})
	_, err = c.Publish(context.Background(), in.account(aliceToken), platforms.Post{Text: "hi"})
	requireKind(t, err, platforms.Auth)
}

func TestRateLimitWaitsUntilXRateLimitReset(t *testing.T) {
	in := newInstance(t)
	reset := time.Now().Add(90 * time.Second).UTC()
	in.setFault(func(w http.ResponseWriter, r *http.Request) bool {
		w.Header().Set("X-RateLimit-Limit", "300")
		w.Header().Set("X-RateLimit-Remaining", "0")
		w.Header().Set("X-RateLimit-Reset", reset.Format("2006-01-02T15:04:05.000000Z"))
		writeError(w, http.StatusTooManyRequests, "Too many requests")
		return true
	})
	_, err := newClient().Publish(context.Background(), in.account(aliceToken), platforms.Post{Text: "hi"})
	pe := requireKind(t, err, platforms.RateLimited)
	require.InDelta(t, time.Until(reset).Seconds(), pe.RetryAfter.Seconds(), 2)
	require.Empty(t, in.stored())
}

func TestRateLimitFallsBackToRetryAfter(t *testing.T) {
	in := newInstance(t)
	in.setFault(func(w http.ResponseWriter, r *http.Request) bool {
		w.Header().Set("Retry-After", "30")
		writeError(w, http.StatusTooManyRequests, "Too many requests")
		return true
	})
	_, err := newClient().Recent(context.Background(), in.account(aliceToken), 5)
	pe := requireKind(t, err, platforms.RateLimited)
	require.Equal(t, 30*time.Second, pe.RetryAfter)
}

func TestServerErrorsAreTransient(t *testing.T) {
	in := newInstance(t)
	for _, code := range []int{500, 502, 503} {
		in.setFault(func(w http.ResponseWriter, r *http.Request) bool {
			if code == 502 {
				// A reverse proxy's page, not JSON.
				w.Header().Set("Content-Type", "text/html")
				w.WriteHeader(code)
				_, _ = w.Write([]byte("<html><body>502 Bad Gateway</body></html>"))
				return true
			}
			writeError(w, code, "There was a temporary problem serving your request, please try again")
			return true
		})
		_, err := newClient().Publish(context.Background(), in.account(aliceToken), platforms.Post{Text: "hi"})
		pe := requireKind(t, err, platforms.Transient)
		require.Equal(t, code, pe.Status)
	}
}

// The instance stores the status, then takes longer to answer than the
// client waits: the outcome is unknown to the caller, who must be able to
// find the post by reading back, and whose retry with the same key must
// not post twice.
func TestTimeoutAfterTheInstanceAcceptedThePost(t *testing.T) {
	in := newInstance(t)
	c := newClient()
	acct := in.account(aliceToken)
	text := "Big news from @bob and @carol@other.example:\nread https://example.com/2026/announcement-with-a-long-path?ref=cmo #launch\n\nQ&A <today> at 5 \"sharp\""
	var slow atomic.Bool
	slow.Store(true)
	in.mu.Lock()
	in.afterCreate = func() {
		if slow.Load() {
			time.Sleep(2 * testTimeout)
		}
	}
	in.mu.Unlock()
	p := platforms.Post{Text: text, IdempotencyKey: "c-9/s-1/ch-1"}

	_, err := c.Publish(context.Background(), acct, p)
	requireKind(t, err, platforms.Transient)
	var ne net.Error
	require.True(t, errors.As(err, &ne) && ne.Timeout(), "a client timeout: %v", err)
	require.Len(t, in.stored(), 1, "the instance did accept the post")

	recent, err := c.Recent(context.Background(), acct, 40)
	require.NoError(t, err)
	require.Len(t, recent, 1)
	stored := in.stored()[0]
	require.Equal(t, stored.ID, recent[0].ID)
	require.Equal(t, text, recent[0].Text, "text read back as it was sent")
	require.Equal(t, in.srv.URL+"/@alice/"+stored.ID, recent[0].URL)
	require.WithinDuration(t, stored.CreatedAt, recent[0].At, time.Millisecond)

	slow.Store(false)
	pub, err := c.Publish(context.Background(), acct, p)
	require.NoError(t, err)
	require.Equal(t, stored.ID, pub.ID)
	require.Len(t, in.stored(), 1, "the retry created no second post")
}

func TestRecentIsNewestFirstAndPages(t *testing.T) {
	in := newInstance(t)
	c := newClient()
	acct := in.account(aliceToken)
	for i := range 45 {
		_, err := c.Publish(context.Background(), acct, platforms.Post{Text: "post " + string(rune('A'+i%26))})
		require.NoError(t, err)
	}
	_, err := c.Publish(context.Background(), in.account(bobToken), platforms.Post{Text: "bob's post"})
	require.NoError(t, err)

	recent, err := c.Recent(context.Background(), acct, 42)
	require.NoError(t, err)
	require.Len(t, recent, 42)
	stored := in.stored()
	require.Equal(t, stored[44].ID, recent[0].ID)
	require.Equal(t, stored[3].ID, recent[41].ID)
	for i := 1; i < len(recent); i++ {
		require.False(t, recent[i].At.After(recent[i-1].At))
	}
}

func TestAccountIDIsLookedUpOncePerToken(t *testing.T) {
	in := newInstance(t)
	c := newClient()
	_, err := c.Recent(context.Background(), in.account(aliceToken), 5)
	require.NoError(t, err)
	_, err = c.Recent(context.Background(), in.account(aliceToken), 5)
	require.NoError(t, err)
	require.Equal(t, 1, in.verifyCalls)

	_, err = c.Recent(context.Background(), in.account(bobToken), 5)
	require.NoError(t, err)
	require.Equal(t, 2, in.verifyCalls)
}

func TestDeleteTreatsAGoneStatusAsDeleted(t *testing.T) {
	in := newInstance(t)
	c := newClient()
	acct := in.account(aliceToken)
	pub, err := c.Publish(context.Background(), acct, platforms.Post{Text: "oops"})
	require.NoError(t, err)

	require.NoError(t, c.Delete(context.Background(), acct, pub.ID))
	require.Empty(t, in.stored())
	require.NoError(t, c.Delete(context.Background(), acct, pub.ID))
}

func TestMetricsReadsCountsAndNoImpressions(t *testing.T) {
	in := newInstance(t)
	c := newClient()
	acct := in.account(aliceToken)
	pub, err := c.Publish(context.Background(), acct, platforms.Post{Text: "count me"})
	require.NoError(t, err)
	in.mu.Lock()
	st := in.find(pub.ID)
	st.Favourites, st.Reblogs, st.Replies = 12, 3, 4
	in.mu.Unlock()

	m, err := c.Metrics(context.Background(), acct, pub.ID)
	require.NoError(t, err)
	require.Equal(t, int64(12), m.Likes)
	require.Equal(t, int64(3), m.Reposts)
	require.Equal(t, int64(4), m.Replies)
	require.Zero(t, m.Impressions)
	require.WithinDuration(t, time.Now(), m.At, time.Second)

	_, err = c.Metrics(context.Background(), acct, "999")
	requireKind(t, err, platforms.Permanent)
}

func TestAccountInfo(t *testing.T) {
	in := newInstance(t)
	info, err := newClient().AccountInfo(context.Background(), in.account(aliceToken))
	require.NoError(t, err)
	require.Equal(t, platforms.AccountInfo{ID: "109348746182933001", Handle: "alice", DisplayName: "Alice", Followers: 1234}, info)
}

func TestMisconfiguredChannelFailsBeforeAnyRequest(t *testing.T) {
	in := newInstance(t)
	c := newClient()
	acct := in.account(aliceToken)
	acct.Config = map[string]string{}
	_, err := c.Publish(context.Background(), acct, platforms.Post{Text: "hi"})
	requireKind(t, err, platforms.Permanent)

	acct = in.account("")
	_, err = c.Publish(context.Background(), acct, platforms.Post{Text: "hi"})
	requireKind(t, err, platforms.Auth)
	require.Empty(t, in.creates)
}

func TestUploadMediaThenPublishWithIt(t *testing.T) {
	in := newInstance(t)
	c := newClient()
	acct := in.account(aliceToken)
	png := append([]byte("\x89PNG\r\n\x1a\n"), bytes.Repeat([]byte{0}, 100)...)

	img, err := c.UploadMedia(context.Background(), acct, "chart.png", bytes.NewReader(png), "Sales chart, up 20%")
	require.NoError(t, err)
	// No extension: the type is sniffed; video is processed in the
	// background (202) and polled until ready.
	webm := append([]byte{0x1A, 0x45, 0xDF, 0xA3}, bytes.Repeat([]byte{1}, 60)...)
	vid, err := c.UploadMedia(context.Background(), acct, "clip", bytes.NewReader(webm), "")
	require.NoError(t, err)

	require.Len(t, in.uploads, 2)
	require.Equal(t, uploadRequest{Filename: "chart.png", ContentType: "image/png", Description: "Sales chart, up 20%", Size: len(png)}, in.uploads[0])
	require.Equal(t, "video/webm", mediaType(in.uploads[1].ContentType))
	in.mu.Lock()
	require.Zero(t, in.media[vid].pollsLeft, "waited until processed")
	in.mu.Unlock()

	pub, err := c.PublishWithMedia(context.Background(), acct, platforms.Post{IdempotencyKey: "m-1"}, img, vid)
	require.NoError(t, err)
	require.Equal(t, []string{img, vid}, in.creates[0].Form["media_ids[]"])
	require.Equal(t, []string{img, vid}, in.stored()[0].MediaIDs)
	require.NotEmpty(t, pub.ID)
}

func TestUploadMediaRejectedTypeIsPermanent(t *testing.T) {
	in := newInstance(t)
	in.setFault(func(w http.ResponseWriter, r *http.Request) bool {
		if r.URL.Path != "/api/v2/media" {
			return false
		}
		writeError(w, http.StatusUnprocessableEntity, "Validation failed: File content type is invalid, File is invalid")
		return true
	})
	_, err := newClient().UploadMedia(context.Background(), in.account(aliceToken), "notes.txt", strings.NewReader("plain"), "")
	pe := requireKind(t, err, platforms.Permanent)
	require.Contains(t, pe.Msg, "File content type is invalid")
}
