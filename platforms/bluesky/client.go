// Package bluesky publishes to Bluesky through the AT Protocol's XRPC API
// on the account's PDS.
//
// A channel logs in with an app password (Secrets["app_password"], with
// Secrets["identifier"] or the channel's handle), on the service in
// Config["service"] (https://bsky.social by default). The session it gets
// is stored back through Account.SaveSecrets and reused; when the PDS
// refuses it the connector refreshes it, then logs in again, and reports
// an Auth error only when both fail.
//
// Feed reads with engagement counts are served by an app view, not the
// PDS: Metrics and the follower count of AccountInfo use the one in
// Config["appview"] (for example https://public.api.bsky.app) when set.
package bluesky

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/rivo/uniseg"

	"github.com/cmo-dev/cmo/platforms"
)

// Platform is the name channels use for Bluesky.
const Platform = "bluesky"

// DefaultService is the PDS entryway of accounts hosted by Bluesky.
const DefaultService = "https://bsky.social"

const (
	postCollection = "app.bsky.feed.post"
	// Limits of app.bsky.feed.post's text, checked before any call so
	// that an over-long post fails without spending a request.
	maxGraphemes = 300
	maxBytes     = 3000
	// maxPage is the most records listRecords returns at once.
	maxPage = 100
	// createdAtLayout is RFC 3339 in UTC with milliseconds, the form
	// Bluesky's own clients write.
	createdAtLayout = "2006-01-02T15:04:05.000Z"
)

// Client is the Bluesky connector. One Client serves every Bluesky
// channel; sessions come with each call's Account.
type Client struct {
	HTTP *http.Client
	// Now stamps createdAt and measures rate-limit resets.
	Now func() time.Time
	// Log receives the failures that do not fail a call (storing a
	// renewed session). Never tokens.
	Log *slog.Logger

	mu sync.Mutex
	// sessions keeps renewed sessions for channels whose secrets could
	// not be saved, so they do not log in on every call.
	sessions map[string]session
}

var _ platforms.Connector = (*Client)(nil)

// New returns a Bluesky connector using hc (a client with a 30 s timeout
// when nil).
func New(hc *http.Client) *Client {
	if hc == nil {
		hc = &http.Client{Timeout: 30 * time.Second}
	}
	return &Client{HTTP: hc, Now: time.Now}
}

type strongRef struct {
	URI string `json:"uri"`
	CID string `json:"cid"`
}

type replyRef struct {
	Root   strongRef `json:"root"`
	Parent strongRef `json:"parent"`
}

type postRecord struct {
	Type      string    `json:"$type"`
	Text      string    `json:"text"`
	CreatedAt string    `json:"createdAt"`
	Facets    []facet   `json:"facets,omitempty"`
	Reply     *replyRef `json:"reply,omitempty"`
	// Embed is app.bsky.embed.images when the post has images.
	Embed *imagesEmbedRecord `json:"embed,omitempty"`
}

// Publish creates an app.bsky.feed.post record and returns its at:// URI
// as the post id. Links, mentions and hashtags become facets; a reply
// (p.InReplyTo, an at:// URI or a bsky.app address) references both its
// parent and its thread's root, as the post lexicon requires.
//
// p.Media are fetched and checked first (at most 4 images of at most
// 1,000,000 bytes each, no video), then uploaded with uploadBlob and
// embedded as app.bsky.embed.images with their alt texts.
//
// Bluesky has no idempotency key: after an unknown outcome the caller
// finds a post that did go out with Recent.
func (c *Client) Publish(ctx context.Context, acct platforms.Account, p platforms.Post) (platforms.Published, error) {
	if err := checkLength(p.Text); err != nil {
		return platforms.Published{}, err
	}
	imgs, err := c.fetchImages(ctx, p.Media)
	if err != nil {
		return platforms.Published{}, fmt.Errorf("publish to %s: %w", who(acct), err)
	}
	k, err := c.connect(ctx, acct)
	if err != nil {
		return platforms.Published{}, fmt.Errorf("publish to %s: %w", who(acct), err)
	}
	at := c.now().UTC().Truncate(time.Millisecond)
	rec := postRecord{Type: postCollection, Text: p.Text, CreatedAt: at.Format(createdAtLayout)}
	if rec.Facets, err = facets(ctx, p.Text, k.resolveHandle); err != nil {
		return platforms.Published{}, fmt.Errorf("publish to %s: resolve mentions: %w", who(acct), err)
	}
	if p.InReplyTo != "" {
		if rec.Reply, err = k.replyTo(ctx, p.InReplyTo); err != nil {
			return platforms.Published{}, fmt.Errorf("publish to %s: %w", who(acct), err)
		}
	}
	if len(imgs) > 0 {
		if rec.Embed, err = k.embedImages(ctx, imgs); err != nil {
			return platforms.Published{}, fmt.Errorf("publish to %s: %w", who(acct), err)
		}
	}
	in := map[string]any{"repo": k.sess.did, "collection": postCollection, "record": rec}
	var out strongRef
	if err := k.call(ctx, http.MethodPost, "com.atproto.repo.createRecord", nil, in, &out); err != nil {
		return platforms.Published{}, fmt.Errorf("publish to %s: %w", who(acct), err)
	}
	return platforms.Published{ID: out.URI, URL: k.postURL(out.URI), At: at}, nil
}

// Delete removes one of the account's posts. deleteRecord succeeds for a
// record that is already gone.
func (c *Client) Delete(ctx context.Context, acct platforms.Account, postID string) error {
	ref, err := parsePostRef(postID)
	if err != nil {
		return &platforms.Error{Platform: Platform, Kind: platforms.Permanent, Msg: err.Error()}
	}
	k, err := c.connect(ctx, acct)
	if err != nil {
		return fmt.Errorf("delete %s: %w", postID, err)
	}
	if strings.HasPrefix(ref.repo, "did:") && ref.repo != k.sess.did {
		return &platforms.Error{Platform: Platform, Kind: platforms.Permanent, Msg: "post " + postID + " belongs to another account"}
	}
	in := map[string]string{"repo": k.sess.did, "collection": ref.collection, "rkey": ref.rkey}
	if err := k.call(ctx, http.MethodPost, "com.atproto.repo.deleteRecord", nil, in, nil); err != nil {
		// The reference PDS succeeds for a missing record; a PDS that
		// answers RecordNotFound instead means the same thing.
		var pe *platforms.Error
		if errors.As(err, &pe) && strings.HasPrefix(pe.Msg, "RecordNotFound") {
			return nil
		}
		return fmt.Errorf("delete %s: %w", postID, err)
	}
	return nil
}

// Recent lists the account's latest posts from its repository, newest
// first (listRecords orders by record key, which is time-based, and
// reverse=false keeps newest first). It needs no app view, so it works on
// any PDS.
func (c *Client) Recent(ctx context.Context, acct platforms.Account, limit int) ([]platforms.Remote, error) {
	k, err := c.connect(ctx, acct)
	if err != nil {
		return nil, fmt.Errorf("read back %s: %w", who(acct), err)
	}
	if limit <= 0 {
		limit = 50
	}
	var out []platforms.Remote
	cursor := ""
	for len(out) < limit {
		q := url.Values{}
		q.Set("repo", k.sess.did)
		q.Set("collection", postCollection)
		q.Set("limit", strconv.Itoa(min(limit-len(out), maxPage)))
		q.Set("reverse", "false")
		if cursor != "" {
			q.Set("cursor", cursor)
		}
		var page struct {
			Cursor  string `json:"cursor"`
			Records []struct {
				URI   string `json:"uri"`
				CID   string `json:"cid"`
				Value struct {
					Text      string `json:"text"`
					CreatedAt string `json:"createdAt"`
				} `json:"value"`
			} `json:"records"`
		}
		if err := k.call(ctx, http.MethodGet, "com.atproto.repo.listRecords", q, nil, &page); err != nil {
			return nil, fmt.Errorf("read back %s: %w", who(acct), err)
		}
		for _, r := range page.Records {
			at, _ := time.Parse(time.RFC3339Nano, r.Value.CreatedAt)
			out = append(out, platforms.Remote{ID: r.URI, URL: k.postURL(r.URI), Text: r.Value.Text, At: at})
		}
		if page.Cursor == "" || len(page.Records) == 0 {
			break
		}
		cursor = page.Cursor
	}
	if len(out) > limit {
		out = out[:limit]
	}
	return out, nil
}

// Metrics reads a post's likes, reposts and replies from the app view in
// Config["appview"]. Without one there is nowhere to read them: the PDS
// only stores the account's own records, so the numbers are zero.
// Bluesky publishes no impressions or clicks.
func (c *Client) Metrics(ctx context.Context, acct platforms.Account, postID string) (platforms.Metrics, error) {
	m := platforms.Metrics{At: c.now().UTC()}
	appview, err := appviewOf(acct)
	if err != nil || appview == "" {
		return m, err
	}
	var out struct {
		Posts []struct {
			URI         string `json:"uri"`
			LikeCount   int64  `json:"likeCount"`
			RepostCount int64  `json:"repostCount"`
			ReplyCount  int64  `json:"replyCount"`
		} `json:"posts"`
	}
	if err := c.xrpc(ctx, appview, http.MethodGet, "app.bsky.feed.getPosts", url.Values{"uris": {postID}}, nil, "", &out); err != nil {
		return m, fmt.Errorf("metrics of %s: %w", postID, c.classify(err))
	}
	if len(out.Posts) == 0 {
		// getPosts leaves out posts it cannot find rather than failing.
		return m, &platforms.Error{Platform: Platform, Kind: platforms.Permanent, Msg: "post " + postID + " not found"}
	}
	p := out.Posts[0]
	m.Likes, m.Reposts, m.Replies = p.LikeCount, p.RepostCount, p.ReplyCount
	return m, nil
}

// AccountInfo checks the session with getSession and reads the follower
// count from the app view's profile when one is configured.
func (c *Client) AccountInfo(ctx context.Context, acct platforms.Account) (platforms.AccountInfo, error) {
	k, err := c.connect(ctx, acct)
	if err != nil {
		return platforms.AccountInfo{}, fmt.Errorf("check %s: %w", who(acct), err)
	}
	var s struct {
		Handle string `json:"handle"`
		DID    string `json:"did"`
	}
	if err := k.call(ctx, http.MethodGet, "com.atproto.server.getSession", nil, nil, &s); err != nil {
		return platforms.AccountInfo{}, fmt.Errorf("check %s: %w", who(acct), err)
	}
	info := platforms.AccountInfo{ID: s.DID, Handle: s.Handle}
	appview, err := appviewOf(acct)
	if err != nil || appview == "" {
		return info, err
	}
	var p struct {
		DisplayName    string `json:"displayName"`
		FollowersCount int64  `json:"followersCount"`
	}
	if err := c.xrpc(ctx, appview, http.MethodGet, "app.bsky.actor.getProfile", url.Values{"actor": {s.DID}}, nil, "", &p); err != nil {
		return info, fmt.Errorf("profile of %s: %w", who(acct), c.classify(err))
	}
	info.DisplayName, info.Followers = p.DisplayName, p.FollowersCount
	return info, nil
}

// checkLength applies the post lexicon's limits (300 graphemes, 3000
// bytes) before any call. Graphemes, not runes or bytes: an emoji family
// or an accented letter written with a combining mark is one.
func checkLength(text string) error {
	if n := uniseg.GraphemeClusterCount(text); n > maxGraphemes {
		return &platforms.Error{Platform: Platform, Kind: platforms.Permanent,
			Msg: fmt.Sprintf("grapheme too big (maximum %d, got %d)", maxGraphemes, n)}
	}
	if n := len(text); n > maxBytes {
		return &platforms.Error{Platform: Platform, Kind: platforms.Permanent,
			Msg: fmt.Sprintf("text too long (maximum %d bytes, got %d)", maxBytes, n)}
	}
	return nil
}

// resolveHandle finds a mentioned account's DID. The PDS answers 400 for
// a handle that does not resolve: that mention stays plain text. Other
// failures are returned, so that a passing outage does not silently
// publish a post with dead mentions.
func (k *conn) resolveHandle(ctx context.Context, handle string) (string, bool, error) {
	var out struct {
		DID string `json:"did"`
	}
	err := k.c.xrpc(ctx, k.service, http.MethodGet, "com.atproto.identity.resolveHandle", url.Values{"handle": {handle}}, nil, "", &out)
	var ae *apiError
	if errors.As(err, &ae) && (ae.status == http.StatusBadRequest || ae.status == http.StatusNotFound) {
		return "", false, nil
	}
	if err != nil {
		return "", false, k.c.classify(err)
	}
	return out.DID, out.DID != "", nil
}

// replyTo builds the reply reference: the parent's uri and cid from
// getRecord (the PDS serves other accounts' records too, through its app
// view), and the root the parent itself names, or the parent when it
// starts its thread.
func (k *conn) replyTo(ctx context.Context, target string) (*replyRef, error) {
	ref, err := parsePostRef(target)
	if err != nil {
		return nil, &platforms.Error{Platform: Platform, Kind: platforms.Permanent, Msg: "reply target: " + err.Error()}
	}
	q := url.Values{"repo": {ref.repo}, "collection": {ref.collection}, "rkey": {ref.rkey}}
	var parent struct {
		URI   string `json:"uri"`
		CID   string `json:"cid"`
		Value struct {
			Reply *replyRef `json:"reply"`
		} `json:"value"`
	}
	if err := k.call(ctx, http.MethodGet, "com.atproto.repo.getRecord", q, nil, &parent); err != nil {
		return nil, fmt.Errorf("read reply target %s: %w", target, err)
	}
	if parent.URI == "" || parent.CID == "" {
		return nil, &platforms.Error{Platform: Platform, Kind: platforms.Permanent, Msg: "reply target " + target + " has no cid"}
	}
	self := strongRef{URI: parent.URI, CID: parent.CID}
	r := &replyRef{Root: self, Parent: self}
	if pr := parent.Value.Reply; pr != nil && pr.Root.URI != "" && pr.Root.CID != "" {
		r.Root = pr.Root
	}
	return r, nil
}

// postURL is the post's address in the Bluesky app. The handle comes from
// the session (a handle that no longer resolves shows as handle.invalid,
// where the DID still works).
func (k *conn) postURL(uri string) string {
	ref, err := parsePostRef(uri)
	if err != nil {
		return ""
	}
	actor := k.sess.handle
	if actor == "" {
		actor = strings.TrimPrefix(k.acct.Handle, "@")
	}
	if actor == "" || actor == "handle.invalid" || (ref.repo != k.sess.did && ref.repo != actor) {
		actor = ref.repo
	}
	return "https://bsky.app/profile/" + actor + "/post/" + ref.rkey
}

func serviceOf(acct platforms.Account) (string, error) {
	s := strings.TrimRight(strings.TrimSpace(acct.Config["service"]), "/")
	if s == "" {
		return DefaultService, nil
	}
	if !isHTTPURL(s) {
		return "", &platforms.Error{Platform: Platform, Kind: platforms.Permanent, Msg: "service is not an http(s) address"}
	}
	return s, nil
}

func appviewOf(acct platforms.Account) (string, error) {
	s := strings.TrimRight(strings.TrimSpace(acct.Config["appview"]), "/")
	if s != "" && !isHTTPURL(s) {
		return "", &platforms.Error{Platform: Platform, Kind: platforms.Permanent, Msg: "appview is not an http(s) address"}
	}
	return s, nil
}

func isHTTPURL(s string) bool {
	u, err := url.Parse(s)
	return err == nil && (u.Scheme == "https" || u.Scheme == "http") && u.Host != ""
}

// who names the channel in error messages.
func who(acct platforms.Account) string {
	if h := strings.TrimPrefix(acct.Handle, "@"); h != "" {
		return "@" + h
	}
	return "channel " + acct.ChannelID
}

func (c *Client) now() time.Time {
	if c.Now != nil {
		return c.Now()
	}
	return time.Now()
}

func (c *Client) httpClient() *http.Client {
	if c.HTTP != nil {
		return c.HTTP
	}
	return http.DefaultClient
}

func (c *Client) logger() *slog.Logger {
	if c.Log != nil {
		return c.Log
	}
	return slog.Default()
}
