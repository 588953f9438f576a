// Package mastodon publishes to a Mastodon instance through its REST API.
//
// A channel names its instance in Config["base_url"] and carries a user
// access token in Secrets["token"]. Mastodon access tokens have no refresh
// flow and do not expire on a schedule, so a token the instance refuses
// means a person has to reconnect the channel: that is an Auth error, never
// something a retry can fix.
package mastodon

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/cmo-dev/cmo/platforms"
)

// Platform is the name channels use for Mastodon.
const Platform = "mastodon"

// maxPage is the most statuses GET /api/v1/accounts/:id/statuses returns
// in one page.
const maxPage = 40

// Client is the Mastodon connector. One Client serves every Mastodon
// channel, whatever its instance: the instance and token come with each
// call's Account.
type Client struct {
	HTTP *http.Client
	// Now is the clock rate-limit resets are measured against.
	Now func() time.Time
	// MediaPollInterval is how often UploadMedia asks whether media the
	// instance is still processing in the background is ready.
	MediaPollInterval time.Duration

	mu sync.Mutex
	// accountIDs caches the account id behind a token, keyed by a hash of
	// instance and token: Recent needs the id and the instance only tells
	// it through verify_credentials, which is worth calling once, not on
	// every read-back.
	accountIDs map[string]string
}

var _ platforms.Connector = (*Client)(nil)

// New returns a Mastodon connector using hc (a client with a 30 s timeout
// when nil).
func New(hc *http.Client) *Client {
	if hc == nil {
		hc = &http.Client{Timeout: 30 * time.Second}
	}
	return &Client{HTTP: hc, Now: time.Now, MediaPollInterval: time.Second}
}

// maxAttachments is how many media attachments a Mastodon status may
// carry (the instance's configuration.statuses.max_media_attachments,
// 4 on Mastodon).
const maxAttachments = 4

// Publish posts a status (a reply when p.InReplyTo is a status id on the
// same instance). The idempotency key goes in the Idempotency-Key header:
// the instance remembers it for an hour and answers a repeat with the
// status it already created.
//
// Each of p.Media is fetched, uploaded with POST /api/v2/media (its Alt as
// the description, waiting until the instance has processed it) and
// attached by id. A retry uploads again: the instance discards media no
// status uses.
func (c *Client) Publish(ctx context.Context, acct platforms.Account, p platforms.Post) (platforms.Published, error) {
	if len(p.Media) == 0 {
		return c.PublishWithMedia(ctx, acct, p)
	}
	// A misconfigured channel fails before anything is fetched.
	if _, err := endpointOf(acct); err != nil {
		return platforms.Published{}, err
	}
	if len(p.Media) > maxAttachments {
		return platforms.Published{}, &platforms.Error{Platform: Platform, Kind: platforms.Permanent,
			Msg: fmt.Sprintf("too many attachments (maximum %d, got %d)", maxAttachments, len(p.Media))}
	}
	ids := make([]string, 0, len(p.Media))
	for _, m := range p.Media {
		f, err := platforms.FetchMedia(ctx, c.httpClient(), m)
		if err != nil {
			return platforms.Published{}, err
		}
		id, err := c.uploadMedia(ctx, acct, f.Name, f.MimeType, bytes.NewReader(f.Data), m.Alt)
		if err != nil {
			return platforms.Published{}, err
		}
		ids = append(ids, id)
	}
	return c.PublishWithMedia(ctx, acct, p, ids...)
}

// PublishWithMedia posts a status with attachments uploaded beforehand by
// UploadMedia (p.Media is not looked at); the status text may then be
// empty.
func (c *Client) PublishWithMedia(ctx context.Context, acct platforms.Account, p platforms.Post, mediaIDs ...string) (platforms.Published, error) {
	ep, err := endpointOf(acct)
	if err != nil {
		return platforms.Published{}, err
	}
	form := url.Values{}
	form.Set("status", p.Text)
	if p.InReplyTo != "" {
		form.Set("in_reply_to_id", p.InReplyTo)
	}
	if v := acct.Config["visibility"]; v != "" {
		form.Set("visibility", v)
	}
	for _, id := range mediaIDs {
		form.Add("media_ids[]", id)
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, ep.base+"/api/v1/statuses", strings.NewReader(form.Encode()))
	if err != nil {
		return platforms.Published{}, err
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	if p.IdempotencyKey != "" {
		req.Header.Set("Idempotency-Key", p.IdempotencyKey)
	}
	var st status
	if _, err := c.send(req, ep, &st); err != nil {
		return platforms.Published{}, fmt.Errorf("publish to %s: %w", ep.host, err)
	}
	return platforms.Published{ID: st.ID, URL: st.link(ep), At: st.CreatedAt}, nil
}

// Delete removes one of the account's statuses. The instance answers 404
// for a status that is gone (or was never the account's), which counts
// as deleted.
func (c *Client) Delete(ctx context.Context, acct platforms.Account, postID string) error {
	ep, err := endpointOf(acct)
	if err != nil {
		return err
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodDelete, ep.base+"/api/v1/statuses/"+url.PathEscape(postID), nil)
	if err != nil {
		return err
	}
	if _, err := c.send(req, ep, nil); err != nil {
		var pe *platforms.Error
		if errors.As(err, &pe) && pe.Status == http.StatusNotFound {
			return nil
		}
		return fmt.Errorf("delete status %s on %s: %w", postID, ep.host, err)
	}
	return nil
}

// Recent reads the account's latest statuses, newest first, boosts left
// out since they are not the account's own posts. Text is recovered from
// the HTML the instance renders (see plainText), because the plain source
// is only returned when a status is deleted.
func (c *Client) Recent(ctx context.Context, acct platforms.Account, limit int) ([]platforms.Remote, error) {
	ep, err := endpointOf(acct)
	if err != nil {
		return nil, err
	}
	id, err := c.accountID(ctx, ep)
	if err != nil {
		return nil, fmt.Errorf("read back %s: %w", ep.host, err)
	}
	if limit <= 0 {
		limit = 20
	}
	var out []platforms.Remote
	maxID := ""
	for len(out) < limit {
		q := url.Values{}
		q.Set("limit", strconv.Itoa(min(limit-len(out), maxPage)))
		q.Set("exclude_reblogs", "true")
		if maxID != "" {
			q.Set("max_id", maxID)
		}
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, ep.base+"/api/v1/accounts/"+url.PathEscape(id)+"/statuses?"+q.Encode(), nil)
		if err != nil {
			return nil, err
		}
		var page []status
		if _, err := c.send(req, ep, &page); err != nil {
			var pe *platforms.Error
			if errors.As(err, &pe) && pe.Status == http.StatusNotFound {
				// The cached id no longer names an account here.
				c.forgetAccountID(ep)
			}
			return nil, fmt.Errorf("read back %s: %w", ep.host, err)
		}
		for _, st := range page {
			out = append(out, platforms.Remote{ID: st.ID, URL: st.link(ep), Text: st.plainText(), At: st.CreatedAt})
		}
		if len(page) == 0 || len(page) < maxPage {
			break
		}
		maxID = page[len(page)-1].ID
	}
	if len(out) > limit {
		out = out[:limit]
	}
	return out, nil
}

// Metrics reads a status's favourites, boosts and replies. Mastodon does
// not publish impressions or clicks, so those stay zero.
func (c *Client) Metrics(ctx context.Context, acct platforms.Account, postID string) (platforms.Metrics, error) {
	ep, err := endpointOf(acct)
	if err != nil {
		return platforms.Metrics{}, err
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, ep.base+"/api/v1/statuses/"+url.PathEscape(postID), nil)
	if err != nil {
		return platforms.Metrics{}, err
	}
	var st status
	if _, err := c.send(req, ep, &st); err != nil {
		return platforms.Metrics{}, fmt.Errorf("metrics of status %s on %s: %w", postID, ep.host, err)
	}
	return platforms.Metrics{
		Likes: st.FavouritesCount, Reposts: st.ReblogsCount, Replies: st.RepliesCount, At: c.now().UTC(),
	}, nil
}

// AccountInfo checks the token with verify_credentials and reads the
// account's identity and follower count.
func (c *Client) AccountInfo(ctx context.Context, acct platforms.Account) (platforms.AccountInfo, error) {
	ep, err := endpointOf(acct)
	if err != nil {
		return platforms.AccountInfo{}, err
	}
	a, err := c.verifyCredentials(ctx, ep)
	if err != nil {
		return platforms.AccountInfo{}, fmt.Errorf("verify credentials on %s: %w", ep.host, err)
	}
	return platforms.AccountInfo{ID: a.ID, Handle: a.Acct, DisplayName: a.DisplayName, Followers: a.FollowersCount}, nil
}

type account struct {
	ID             string `json:"id"`
	Username       string `json:"username"`
	Acct           string `json:"acct"`
	DisplayName    string `json:"display_name"`
	URL            string `json:"url"`
	FollowersCount int64  `json:"followers_count"`
}

func (c *Client) verifyCredentials(ctx context.Context, ep endpoint) (account, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, ep.base+"/api/v1/accounts/verify_credentials", nil)
	if err != nil {
		return account{}, err
	}
	var a account
	if _, err := c.send(req, ep, &a); err != nil {
		return account{}, err
	}
	if a.ID == "" {
		return account{}, &platforms.Error{Platform: Platform, Kind: platforms.Transient, Msg: "verify_credentials returned no account id"}
	}
	c.mu.Lock()
	if c.accountIDs == nil {
		c.accountIDs = map[string]string{}
	}
	c.accountIDs[ep.cacheKey()] = a.ID
	c.mu.Unlock()
	return a, nil
}

func (c *Client) accountID(ctx context.Context, ep endpoint) (string, error) {
	c.mu.Lock()
	id, ok := c.accountIDs[ep.cacheKey()]
	c.mu.Unlock()
	if ok {
		return id, nil
	}
	a, err := c.verifyCredentials(ctx, ep)
	if err != nil {
		return "", err
	}
	return a.ID, nil
}

func (c *Client) forgetAccountID(ep endpoint) {
	c.mu.Lock()
	delete(c.accountIDs, ep.cacheKey())
	c.mu.Unlock()
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

// endpoint is one account on one instance.
type endpoint struct {
	base  string // scheme and host, no trailing slash
	host  string // for error messages: never the token
	token string
}

// cacheKey identifies the account without keeping the token itself as a
// map key.
func (ep endpoint) cacheKey() string {
	sum := sha256.Sum256([]byte(ep.base + "\x00" + ep.token))
	return hex.EncodeToString(sum[:])
}

func endpointOf(acct platforms.Account) (endpoint, error) {
	base := strings.TrimRight(strings.TrimSpace(acct.Config["base_url"]), "/")
	if base == "" {
		return endpoint{}, &platforms.Error{Platform: Platform, Kind: platforms.Permanent, Msg: "channel has no base_url (the address of its instance)"}
	}
	u, err := url.Parse(base)
	if err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" {
		return endpoint{}, &platforms.Error{Platform: Platform, Kind: platforms.Permanent, Msg: "base_url is not an http(s) address"}
	}
	token := acct.Secrets["token"]
	if token == "" {
		return endpoint{}, &platforms.Error{Platform: Platform, Kind: platforms.Auth, Msg: "channel has no access token"}
	}
	return endpoint{base: base, host: u.Host, token: token}, nil
}

// status is the part of Mastodon's Status entity cmo reads.
type status struct {
	ID              string    `json:"id"`
	CreatedAt       time.Time `json:"created_at"`
	URL             string    `json:"url"`
	Content         string    `json:"content"`
	Text            string    `json:"text"`
	RepliesCount    int64     `json:"replies_count"`
	ReblogsCount    int64     `json:"reblogs_count"`
	FavouritesCount int64     `json:"favourites_count"`
	Mentions        []mention `json:"mentions"`
	Account         struct {
		Acct string `json:"acct"`
	} `json:"account"`
}

type mention struct {
	Acct string `json:"acct"`
	URL  string `json:"url"`
}

// link is the status's web address; the instance sets url on its own
// statuses, the fallback is the address pattern Mastodon serves.
func (st status) link(ep endpoint) string {
	if st.URL != "" {
		return st.URL
	}
	if st.Account.Acct != "" {
		return ep.base + "/@" + st.Account.Acct + "/" + st.ID
	}
	return ""
}

func (st status) plainText() string {
	if st.Text != "" {
		return st.Text
	}
	return plainText(st.Content, st.Mentions)
}

// send performs req with the account's token and decodes a 2xx JSON body
// into out (ignored when nil). Errors the instance answers with come back
// as *platforms.Error; network errors and timeouts come back as they are,
// which platforms.KindOf counts as transient.
func (c *Client) send(req *http.Request, ep endpoint, out any) (int, error) {
	req.Header.Set("Authorization", "Bearer "+ep.token)
	req.Header.Set("Accept", "application/json")
	resp, err := c.httpClient().Do(req)
	if err != nil {
		return 0, err
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(io.LimitReader(resp.Body, 4<<20))
	if err != nil {
		return resp.StatusCode, err
	}
	if resp.StatusCode/100 == 2 {
		if out != nil && len(raw) > 0 && resp.StatusCode != http.StatusPartialContent {
			if err := json.Unmarshal(raw, out); err != nil {
				return resp.StatusCode, &platforms.Error{Platform: Platform, Kind: platforms.Transient, Status: resp.StatusCode, Msg: "unreadable response body"}
			}
		}
		return resp.StatusCode, nil
	}
	return resp.StatusCode, classify(resp.StatusCode, resp.Header, raw, c.now())
}
