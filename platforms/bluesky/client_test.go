package bluesky_test

import (
	"context"
	"errors"
	"net"
	"net/http"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/cmo-dev/cmo/platforms"
	"github.com/cmo-dev/cmo/platforms/bluesky"
)

const testTimeout = 300 * time.Millisecond

func newClient() *bluesky.Client {
	return bluesky.New(&http.Client{Timeout: testTimeout})
}

func aliceVault() *vault {
	return newVault(map[string]string{"app_password": alicePassword})
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

func rkeyOf(uri string) string { return uri[strings.LastIndex(uri, "/")+1:] }

func TestPublishLogsInStoresTheSessionAndCreatesThePost(t *testing.T) {
	p := newPDS(t)
	c := newClient()
	v := aliceVault()

	pub, err := c.Publish(context.Background(), p.account(v), platforms.Post{Text: "Hello from cmo"})
	require.NoError(t, err)

	require.Equal(t, []map[string]string{{"identifier": "alice.test", "password": alicePassword}}, p.logins)
	s := v.get()
	require.Equal(t, alicePassword, s["app_password"], "saving the session keeps the app password")
	require.Equal(t, aliceDID, s["did"])
	require.NotEmpty(t, s["access_jwt"])
	require.NotEmpty(t, s["refresh_jwt"])

	require.Len(t, p.creates, 1)
	got := p.creates[0]
	require.Equal(t, "Bearer "+s["access_jwt"], got.Authorization)
	require.Equal(t, "application/json", got.ContentType)
	require.Equal(t, aliceDID, got.Body["repo"])
	require.Equal(t, "app.bsky.feed.post", got.Body["collection"])
	rec := got.Body["record"].(map[string]any)
	require.Equal(t, "app.bsky.feed.post", rec["$type"])
	require.Equal(t, "Hello from cmo", rec["text"])
	require.NotContains(t, rec, "facets")
	require.NotContains(t, rec, "reply")
	createdAt, err := time.Parse(time.RFC3339Nano, rec["createdAt"].(string))
	require.NoError(t, err)
	require.True(t, strings.HasSuffix(rec["createdAt"].(string), "Z"))
	require.Equal(t, createdAt, pub.At)

	stored := p.posts(aliceDID)
	require.Len(t, stored, 1)
	require.Equal(t, stored[0].URI, pub.ID)
	require.True(t, strings.HasPrefix(pub.ID, "at://"+aliceDID+"/app.bsky.feed.post/"))
	require.Equal(t, "https://bsky.app/profile/alice.test/post/"+rkeyOf(pub.ID), pub.URL)

	// The next call (a new activity, secrets read again) reuses the session.
	_, err = c.Publish(context.Background(), p.account(v), platforms.Post{Text: "Second"})
	require.NoError(t, err)
	_, err = newClient().Recent(context.Background(), p.account(v), 5)
	require.NoError(t, err)
	require.Equal(t, 1, p.count("com.atproto.server.createSession"))
}

func TestSessionIsKeptInMemoryWhenSecretsCannotBeSaved(t *testing.T) {
	p := newPDS(t)
	c := newClient()
	acct := p.account(aliceVault())
	acct.SaveSecrets = nil
	for range 3 {
		_, err := c.Recent(context.Background(), acct, 5)
		require.NoError(t, err)
	}
	require.Equal(t, 1, p.count("com.atproto.server.createSession"))
}

func TestIdentifierSecretWinsOverHandle(t *testing.T) {
	p := newPDS(t)
	v := newVault(map[string]string{"identifier": "alice@example.com", "app_password": alicePassword})
	acct := p.account(v)
	acct.Handle = ""
	_, err := newClient().Publish(context.Background(), acct, platforms.Post{Text: "by email"})
	require.NoError(t, err)
	require.Equal(t, "alice@example.com", p.logins[0]["identifier"])
}

// The example of docs.bsky.app's "Posts" guide: byte offsets 23-35 for
// the mention and 74-108 for the link, trailing period left out.
func TestFacetsUseUTF8ByteOffsets(t *testing.T) {
	p := newPDS(t)
	c := newClient()
	text := "✨ example mentioning @atproto.com to share the URL 👨‍❤️‍👨 https://en.wikipedia.org/wiki/CBOR."

	pub, err := c.Publish(context.Background(), p.account(aliceVault()), platforms.Post{Text: text})
	require.NoError(t, err)
	rec := p.posts(aliceDID)[0].Raw
	require.Equal(t, pub.ID, p.posts(aliceDID)[0].URI)
	require.Equal(t, []any{
		map[string]any{
			"index":    map[string]any{"byteStart": 23.0, "byteEnd": 35.0},
			"features": []any{map[string]any{"$type": "app.bsky.richtext.facet#mention", "did": atprotoDID}},
		},
		map[string]any{
			"index":    map[string]any{"byteStart": 74.0, "byteEnd": 108.0},
			"features": []any{map[string]any{"$type": "app.bsky.richtext.facet#link", "uri": "https://en.wikipedia.org/wiki/CBOR"}},
		},
	}, rec["facets"])
}

func TestFacetsAfterAccentsAndEmojiAndUnresolvableMentions(t *testing.T) {
	p := newPDS(t)
	c := newClient()
	text := "Café crème ☕🇫🇷 demain : https://exemple.fr/été?x=1, avec @nobody.test et @atproto.com #Lancement2026!"

	_, err := c.Publish(context.Background(), p.account(aliceVault()), platforms.Post{Text: text})
	require.NoError(t, err)
	facets := p.posts(aliceDID)[0].Raw["facets"].([]any)
	require.Len(t, facets, 3, "no facet for a handle that does not resolve")
	require.Equal(t, 2, p.count("com.atproto.identity.resolveHandle"))

	type want struct{ covers, kind, value string }
	for i, w := range []want{
		{"https://exemple.fr/été?x=1", "link", "https://exemple.fr/été?x=1"},
		{"@atproto.com", "mention", atprotoDID},
		{"#Lancement2026", "tag", "Lancement2026"},
	} {
		f := facets[i].(map[string]any)
		idx := f["index"].(map[string]any)
		start, end := int(idx["byteStart"].(float64)), int(idx["byteEnd"].(float64))
		require.Equal(t, w.covers, string([]byte(text)[start:end]), "facet %d covers its bytes", i)
		feat := f["features"].([]any)[0].(map[string]any)
		require.Equal(t, "app.bsky.richtext.facet#"+w.kind, feat["$type"])
		key := map[string]string{"link": "uri", "mention": "did", "tag": "tag"}[w.kind]
		require.Equal(t, w.value, feat[key])
	}
	// "Café crème ☕🇫🇷 demain : " is 23 graphemes (24 code points) but 34 bytes.
	require.Equal(t, 34.0, facets[0].(map[string]any)["index"].(map[string]any)["byteStart"])
}

func TestReplyReferencesRootAndParent(t *testing.T) {
	p := newPDS(t)
	c := newClient()
	v := aliceVault()
	rootURI, rootCID := p.seed(carolDID, map[string]any{"$type": "app.bsky.feed.post", "text": "Thread start", "createdAt": "2026-01-02T10:00:00.000Z"})
	midURI, midCID := p.seed(carolDID, map[string]any{"$type": "app.bsky.feed.post", "text": "Reply in thread", "createdAt": "2026-01-02T10:05:00.000Z",
		"reply": map[string]any{"root": map[string]any{"uri": rootURI, "cid": rootCID}, "parent": map[string]any{"uri": rootURI, "cid": rootCID}}})

	_, err := c.Publish(context.Background(), p.account(v), platforms.Post{Text: "Answering", InReplyTo: midURI})
	require.NoError(t, err)
	require.Equal(t, map[string]any{
		"root":   map[string]any{"uri": rootURI, "cid": rootCID},
		"parent": map[string]any{"uri": midURI, "cid": midCID},
	}, p.posts(aliceDID)[0].Raw["reply"])

	// A reply to the thread's first post: it is both root and parent. Given
	// as a bsky.app address, by handle.
	_, err = c.Publish(context.Background(), p.account(v), platforms.Post{Text: "Also answering", InReplyTo: "https://bsky.app/profile/carol.test/post/" + rkeyOf(rootURI)})
	require.NoError(t, err)
	ref := map[string]any{"uri": rootURI, "cid": rootCID}
	require.Equal(t, map[string]any{"root": ref, "parent": ref}, p.posts(aliceDID)[1].Raw["reply"])

	_, err = c.Publish(context.Background(), p.account(v), platforms.Post{Text: "To nothing", InReplyTo: "at://" + carolDID + "/app.bsky.feed.post/3lmissing"})
	pe := requireKind(t, err, platforms.Permanent)
	require.Contains(t, pe.Msg, "RecordNotFound")
	require.Len(t, p.posts(aliceDID), 2)
}

func TestTooLongFailsBeforeAnyCall(t *testing.T) {
	p := newPDS(t)
	c := newClient()
	_, err := c.Publish(context.Background(), p.account(aliceVault()), platforms.Post{Text: strings.Repeat("a", 301)})
	pe := requireKind(t, err, platforms.Permanent)
	require.Equal(t, "grapheme too big (maximum 300, got 301)", pe.Msg)
	require.Zero(t, p.requests)

	// 300 graphemes of "e" and a combining accent: 600 runes, 900 bytes,
	// still within the limit.
	_, err = c.Publish(context.Background(), p.account(aliceVault()), platforms.Post{Text: strings.Repeat("e\u0301", 300)})
	require.NoError(t, err)
}

func TestServerValidationErrorIsPermanent(t *testing.T) {
	p := newPDS(t)
	p.setFault(func(w http.ResponseWriter, r *http.Request) bool {
		if !strings.HasSuffix(r.URL.Path, "createRecord") {
			return false
		}
		writeError(w, http.StatusBadRequest, "InvalidRequest", "Invalid app.bsky.feed.post record: Record/langs must not be longer than 3 elements")
		return true
	})
	_, err := newClient().Publish(context.Background(), p.account(aliceVault()), platforms.Post{Text: "hi"})
	pe := requireKind(t, err, platforms.Permanent)
	require.Equal(t, http.StatusBadRequest, pe.Status)
	require.Equal(t, "InvalidRequest: Invalid app.bsky.feed.post record: Record/langs must not be longer than 3 elements", pe.Msg)
	require.Equal(t, 1, p.count("com.atproto.repo.createRecord"), "not retried")
}

func TestExpiredAccessTokenIsRefreshed(t *testing.T) {
	p := newPDS(t)
	c := newClient()
	v := aliceVault()
	_, err := c.Recent(context.Background(), p.account(v), 1)
	require.NoError(t, err)
	before := v.get()
	p.expireSessions()

	pub, err := c.Publish(context.Background(), p.account(v), platforms.Post{Text: "after an hour"})
	require.NoError(t, err)
	require.Equal(t, 1, p.count("com.atproto.server.createSession"))
	require.Equal(t, 1, p.count("com.atproto.server.refreshSession"))
	require.Equal(t, 2, p.count("com.atproto.repo.createRecord"), "refused once, then done")
	require.Len(t, p.posts(aliceDID), 1)
	require.Equal(t, p.posts(aliceDID)[0].URI, pub.ID)

	after := v.get()
	require.NotEqual(t, before["access_jwt"], after["access_jwt"])
	require.NotEqual(t, before["refresh_jwt"], after["refresh_jwt"])
	require.Equal(t, alicePassword, after["app_password"])
}

func TestFailedRefreshFallsBackToTheAppPassword(t *testing.T) {
	p := newPDS(t)
	c := newClient()
	v := aliceVault()
	_, err := c.Recent(context.Background(), p.account(v), 1)
	require.NoError(t, err)
	p.expireSessions()
	p.revokeRefreshTokens()

	_, err = c.Publish(context.Background(), p.account(v), platforms.Post{Text: "logged in again"})
	require.NoError(t, err)
	require.Equal(t, 1, p.count("com.atproto.server.refreshSession"))
	require.Equal(t, 2, p.count("com.atproto.server.createSession"))
	require.Len(t, p.posts(aliceDID), 1)
}

func TestRefreshAndLoginBothFailingIsAuth(t *testing.T) {
	p := newPDS(t)
	c := newClient()
	v := aliceVault()
	_, err := c.Recent(context.Background(), p.account(v), 1)
	require.NoError(t, err)
	s := v.get()
	p.expireSessions()
	p.revokeRefreshTokens()
	p.mu.Lock()
	p.accounts[aliceDID].password = "revoked-app-password"
	p.mu.Unlock()

	_, err = c.Publish(context.Background(), p.account(v), platforms.Post{Text: "will not go out"})
	pe := requireKind(t, err, platforms.Auth)
	require.Contains(t, pe.Msg, "Invalid identifier or password")
	require.Empty(t, p.posts(aliceDID))
	for _, secret := range []string{alicePassword, s["access_jwt"], s["refresh_jwt"]} {
		require.NotContains(t, err.Error(), secret)
	}
}

func TestNoSessionAndNoAppPasswordIsAuth(t *testing.T) {
	p := newPDS(t)
	_, err := newClient().Publish(context.Background(), p.account(newVault(nil)), platforms.Post{Text: "hi"})
	requireKind(t, err, platforms.Auth)
	require.Zero(t, p.requests)
}

func TestRateLimitWaitsUntilRateLimitReset(t *testing.T) {
	p := newPDS(t)
	reset := time.Now().Add(120 * time.Second)
	p.setFault(func(w http.ResponseWriter, r *http.Request) bool {
		if !strings.HasSuffix(r.URL.Path, "createRecord") {
			return false
		}
		w.Header().Set("RateLimit-Limit", "5000")
		w.Header().Set("RateLimit-Remaining", "0")
		w.Header().Set("RateLimit-Reset", strconv.FormatInt(reset.Unix(), 10))
		w.Header().Set("RateLimit-Policy", "5000;w=3600")
		writeError(w, http.StatusTooManyRequests, "RateLimitExceeded", "Rate Limit Exceeded")
		return true
	})
	_, err := newClient().Publish(context.Background(), p.account(aliceVault()), platforms.Post{Text: "hi"})
	pe := requireKind(t, err, platforms.RateLimited)
	require.InDelta(t, time.Until(reset).Seconds(), pe.RetryAfter.Seconds(), 2)
}

// The 31st createSession in five minutes: the login is rate limited, not
// refused, and the channel must not be sent to reconnection.
func TestRateLimitedLoginIsNotAuth(t *testing.T) {
	p := newPDS(t)
	reset := time.Now().Add(250 * time.Second)
	p.setFault(func(w http.ResponseWriter, r *http.Request) bool {
		if !strings.HasSuffix(r.URL.Path, "createSession") {
			return false
		}
		w.Header().Set("RateLimit-Limit", "30")
		w.Header().Set("RateLimit-Remaining", "0")
		w.Header().Set("RateLimit-Reset", strconv.FormatInt(reset.Unix(), 10))
		w.Header().Set("RateLimit-Policy", "30;w=300")
		writeError(w, http.StatusTooManyRequests, "RateLimitExceeded", "Rate Limit Exceeded")
		return true
	})
	_, err := newClient().Publish(context.Background(), p.account(aliceVault()), platforms.Post{Text: "hi"})
	pe := requireKind(t, err, platforms.RateLimited)
	require.InDelta(t, time.Until(reset).Seconds(), pe.RetryAfter.Seconds(), 2)
}

func TestServerErrorsAreTransient(t *testing.T) {
	p := newPDS(t)
	for _, code := range []int{500, 502, 503, 504} {
		p.setFault(func(w http.ResponseWriter, r *http.Request) bool {
			if !strings.HasSuffix(r.URL.Path, "createRecord") {
				return false
			}
			if code == 502 {
				w.Header().Set("Content-Type", "text/html")
				w.WriteHeader(code)
				_, _ = w.Write([]byte("<html><body>502 Bad Gateway</body></html>"))
				return true
			}
			writeError(w, code, "InternalServerError", "Internal Server Error")
			return true
		})
		_, err := newClient().Publish(context.Background(), p.account(aliceVault()), platforms.Post{Text: "hi"})
		pe := requireKind(t, err, platforms.Transient)
		require.Equal(t, code, pe.Status)
	}
}

// The PDS stores the record, then answers later than the client waits:
// the caller sees a transient failure and finds the post by reading back.
func TestTimeoutAfterThePDSAcceptedThePost(t *testing.T) {
	p := newPDS(t)
	c := newClient()
	v := aliceVault()
	var slow atomic.Bool
	slow.Store(true)
	p.mu.Lock()
	p.afterCreate = func() {
		if slow.Load() {
			time.Sleep(2 * testTimeout)
		}
	}
	p.mu.Unlock()
	text := "Breaking: we ship today 🚀 https://example.com/launch"

	_, err := c.Publish(context.Background(), p.account(v), platforms.Post{Text: text})
	requireKind(t, err, platforms.Transient)
	var ne net.Error
	require.True(t, errors.As(err, &ne) && ne.Timeout(), "a client timeout: %v", err)
	stored := p.posts(aliceDID)
	require.Len(t, stored, 1, "the PDS did accept the post")

	slow.Store(false)
	recent, err := c.Recent(context.Background(), p.account(v), 40)
	require.NoError(t, err)
	require.Len(t, recent, 1)
	require.Equal(t, stored[0].URI, recent[0].ID)
	require.Equal(t, text, recent[0].Text)
	require.Equal(t, "https://bsky.app/profile/alice.test/post/"+rkeyOf(stored[0].URI), recent[0].URL)
	require.WithinDuration(t, time.Now(), recent[0].At, 5*time.Second)
}

func TestRecentIsNewestFirstAndPages(t *testing.T) {
	p := newPDS(t)
	c := newClient()
	v := aliceVault()
	for i := range 120 {
		p.seed(aliceDID, map[string]any{"$type": "app.bsky.feed.post", "text": "post " + strconv.Itoa(i),
			"createdAt": time.Date(2026, 3, 1, 12, i/60, i%60, 0, time.UTC).Format(time.RFC3339)})
	}
	p.seed(carolDID, map[string]any{"$type": "app.bsky.feed.post", "text": "carol's", "createdAt": "2026-03-01T13:00:00Z"})

	recent, err := c.Recent(context.Background(), p.account(v), 110)
	require.NoError(t, err)
	require.Len(t, recent, 110)
	require.Equal(t, "post 119", recent[0].Text)
	require.Equal(t, "post 10", recent[109].Text)
	require.Equal(t, time.Date(2026, 3, 1, 12, 1, 59, 0, time.UTC), recent[0].At)

	require.Len(t, p.listQuery, 2)
	require.Equal(t, "collection=app.bsky.feed.post&limit=100&repo="+strings.ReplaceAll(aliceDID, ":", "%3A")+"&reverse=false", p.listQuery[0])
	require.Contains(t, p.listQuery[1], "limit=10")
	require.Contains(t, p.listQuery[1], "cursor=")
}

func TestDelete(t *testing.T) {
	p := newPDS(t)
	c := newClient()
	v := aliceVault()
	pub, err := c.Publish(context.Background(), p.account(v), platforms.Post{Text: "oops"})
	require.NoError(t, err)

	require.NoError(t, c.Delete(context.Background(), p.account(v), pub.ID))
	require.Empty(t, p.posts(aliceDID))
	require.NoError(t, c.Delete(context.Background(), p.account(v), pub.ID), "already gone counts as deleted")

	carolPost, _ := p.seed(carolDID, map[string]any{"$type": "app.bsky.feed.post", "text": "not yours", "createdAt": "2026-03-01T13:00:00Z"})
	err = c.Delete(context.Background(), p.account(v), carolPost)
	requireKind(t, err, platforms.Permanent)
	require.Len(t, p.posts(carolDID), 1)
	require.Equal(t, 2, p.count("com.atproto.repo.deleteRecord"))
}

func TestMetricsFromTheAppView(t *testing.T) {
	p := newPDS(t)
	c := newClient()
	v := aliceVault()
	pub, err := c.Publish(context.Background(), p.account(v), platforms.Post{Text: "count me"})
	require.NoError(t, err)
	p.mu.Lock()
	rec := p.records[aliceDID][0]
	rec.likes, rec.reposts, rec.replies = 40, 5, 2
	p.mu.Unlock()

	// No app view configured: nothing to read, zeros, no request.
	m, err := c.Metrics(context.Background(), p.account(v), pub.ID)
	require.NoError(t, err)
	require.Equal(t, platforms.Metrics{At: m.At}, m)
	require.Zero(t, p.count("appview:app.bsky.feed.getPosts"))

	acct := p.account(v)
	acct.Config["appview"] = p.appview.URL
	m, err = c.Metrics(context.Background(), acct, pub.ID)
	require.NoError(t, err)
	require.Equal(t, int64(40), m.Likes)
	require.Equal(t, int64(5), m.Reposts)
	require.Equal(t, int64(2), m.Replies)
	require.Zero(t, m.Impressions)

	_, err = c.Metrics(context.Background(), acct, "at://"+aliceDID+"/app.bsky.feed.post/3lgone")
	requireKind(t, err, platforms.Permanent)
}

func TestAccountInfo(t *testing.T) {
	p := newPDS(t)
	c := newClient()
	acct := p.account(aliceVault())
	info, err := c.AccountInfo(context.Background(), acct)
	require.NoError(t, err)
	require.Equal(t, platforms.AccountInfo{ID: aliceDID, Handle: "alice.test"}, info)

	acct.Config["appview"] = p.appview.URL
	info, err = c.AccountInfo(context.Background(), acct)
	require.NoError(t, err)
	require.Equal(t, platforms.AccountInfo{ID: aliceDID, Handle: "alice.test", DisplayName: "Alice", Followers: 321}, info)
}
