// Package webhook is a channel that publishes by calling the brand's own
// endpoint: each post is a JSON event signed per Standard Webhooks
// (standardwebhooks.com), so a brand can feed its site, a chat tool or an
// internal system with any Standard Webhooks library. The package also
// holds the receiving side, Verify.
package webhook

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/cmo-dev/cmo/platforms"
)

// Platform is the webhook channel's platform name.
const Platform = "webhook"

// Event types sent to the endpoint.
const (
	EventPostCreated = "post.created"
	EventPostDeleted = "post.deleted"
)

// DefaultRetryAfter is the wait after a 429 that does not say how long.
const DefaultRetryAfter = 30 * time.Second

// Event is the JSON body of a delivery, in the Standard Webhooks shape.
type Event struct {
	Type      string    `json:"type"`
	Timestamp time.Time `json:"timestamp"`
	Data      EventData `json:"data"`
}

// EventData describes the post. IdempotencyKey repeats webhook-id so a
// receiver that stores only the body can still deduplicate.
type EventData struct {
	ChannelID      string `json:"channel_id"`
	PostID         string `json:"post_id,omitempty"`
	Text           string `json:"text,omitempty"`
	IdempotencyKey string `json:"idempotency_key,omitempty"`
	InReplyTo      string `json:"in_reply_to,omitempty"`
	// Media are the post's attachments by URL, for the receiver to fetch.
	Media []platforms.Media `json:"media,omitempty"`
}

// Client is the webhook connector. A channel brings Config["url"], the
// endpoint, and Secrets["secret"], its signing secret "whsec_<base64>".
type Client struct {
	HTTP *http.Client
	// Now is the clock, for tests; nil means time.Now.
	Now func() time.Time
}

var _ platforms.Connector = (*Client)(nil)

// New returns a webhook connector using hc (nil: a 30 s timeout, within
// the 15-30 s Standard Webhooks recommends receivers be given).
func New(hc *http.Client) *Client {
	if hc == nil {
		hc = &http.Client{Timeout: 30 * time.Second}
	}
	return &Client{HTTP: hc}
}

func (c *Client) now() time.Time {
	if c.Now != nil {
		return c.Now()
	}
	return time.Now()
}

// Publish delivers a post.created event. The webhook-id is the post's
// idempotency key, the same on every retry, so a receiver that remembers
// the ids it processed handles a post once however often it is delivered.
// The receipt's id is that webhook-id; there is no URL.
func (c *Client) Publish(ctx context.Context, acct platforms.Account, p platforms.Post) (platforms.Published, error) {
	id := p.IdempotencyKey
	if id == "" {
		id = randomID()
	}
	now := c.now().UTC()
	ev := Event{Type: EventPostCreated, Timestamp: now, Data: EventData{
		ChannelID: acct.ChannelID, Text: p.Text, IdempotencyKey: p.IdempotencyKey, InReplyTo: p.InReplyTo, Media: p.Media,
	}}
	if err := c.deliver(ctx, acct, id, ev); err != nil {
		return platforms.Published{}, fmt.Errorf("deliver %s to %s: %w", EventPostCreated, acct.ChannelID, err)
	}
	return platforms.Published{ID: id, At: now}, nil
}

// Delete delivers a post.deleted event for a post this channel sent. Its
// webhook-id derives from the post's, so retries of the deletion
// deduplicate too. An endpoint answering 404 does not know the post, which
// is as good as deleted.
func (c *Client) Delete(ctx context.Context, acct platforms.Account, postID string) error {
	ev := Event{Type: EventPostDeleted, Timestamp: c.now().UTC(), Data: EventData{ChannelID: acct.ChannelID, PostID: postID}}
	err := c.deliver(ctx, acct, "del_"+postID, ev)
	var pe *platforms.Error
	if errors.As(err, &pe) && pe.Status == http.StatusNotFound {
		return nil
	}
	if err != nil {
		return fmt.Errorf("deliver %s to %s: %w", EventPostDeleted, acct.ChannelID, err)
	}
	return nil
}

// Recent returns nothing: an endpoint has no timeline to read back. That
// is safe for retries after an unknown outcome, because the retry carries
// the same webhook-id and a deduplicating receiver drops the repeat.
func (c *Client) Recent(context.Context, platforms.Account, int) ([]platforms.Remote, error) {
	return nil, nil
}

// Metrics are zero: a webhook has no audience to measure.
func (c *Client) Metrics(context.Context, platforms.Account, string) (platforms.Metrics, error) {
	return platforms.Metrics{At: c.now().UTC()}, nil
}

// AccountInfo checks the channel's URL and secret without calling the
// endpoint: a test delivery would land in the brand's systems like a post.
func (c *Client) AccountInfo(_ context.Context, acct platforms.Account) (platforms.AccountInfo, error) {
	u, err := endpoint(acct)
	if err != nil {
		return platforms.AccountInfo{}, err
	}
	if _, err := decodeSecret(acct.Secrets["secret"]); err != nil {
		return platforms.AccountInfo{}, authError(0, "the channel's signing secret must be whsec_ followed by a base64 key")
	}
	return platforms.AccountInfo{ID: acct.ChannelID, Handle: u.Host, DisplayName: u.Host + u.Path}, nil
}

func endpoint(acct platforms.Account) (*url.URL, error) {
	raw := strings.TrimSpace(acct.Config["url"])
	u, err := url.Parse(raw)
	if raw == "" || err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" {
		return nil, &platforms.Error{Platform: Platform, Kind: platforms.Permanent,
			Msg: fmt.Sprintf("channel %s needs config.url set to the endpoint's http(s) URL", acct.ChannelID)}
	}
	return u, nil
}

// deliver POSTs one signed event.
func (c *Client) deliver(ctx context.Context, acct platforms.Account, id string, ev Event) error {
	u, err := endpoint(acct)
	if err != nil {
		return err
	}
	secret := acct.Secrets["secret"]
	if _, err := decodeSecret(secret); err != nil {
		return authError(0, "the channel's signing secret must be whsec_ followed by a base64 key")
	}
	if err := checkID(id); err != nil {
		return &platforms.Error{Platform: Platform, Kind: platforms.Permanent, Msg: err.Error()}
	}
	body, err := json.Marshal(ev)
	if err != nil {
		return err
	}
	// The attempt's time, signed; it differs from the event's timestamp on
	// a retry, which is what lets receivers reject replays.
	ts := c.now()
	sig, err := Sign(secret, id, ts, body)
	if err != nil {
		return err
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, u.String(), bytes.NewReader(body))
	if err != nil {
		return err
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("User-Agent", "cmo-webhook/1")
	req.Header.Set(HeaderID, id)
	req.Header.Set(HeaderTimestamp, strconv.FormatInt(ts.Unix(), 10))
	req.Header.Set(HeaderSignature, sig)

	// Redirects are not followed: Standard Webhooks treats a 3xx as a
	// failure, and re-posting a signed body elsewhere is not ours to do.
	hc := *c.HTTP
	hc.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
	resp, err := hc.Do(req)
	if err != nil {
		var ue *url.Error
		if errors.As(err, &ue) {
			err = ue.Err
		}
		return &platforms.Error{Platform: Platform, Kind: platforms.Transient, Msg: "no response: " + err.Error()}
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(io.LimitReader(resp.Body, 4<<10))
	if resp.StatusCode/100 == 2 {
		return nil
	}
	return classify(resp, raw, c.now())
}

// classify follows the Standard Webhooks status handling: 410 Gone means
// the endpoint no longer wants deliveries, so the channel is disabled (an
// Auth error: the brand must reconnect it) rather than retried; 401 and 403
// mean the receiver refuses our signature, a wrong secret; 429 and 5xx
// are retried, after Retry-After when the endpoint sends one; 3xx and
// other 4xx fail the same way on every attempt.
func classify(resp *http.Response, raw []byte, now time.Time) *platforms.Error {
	s := resp.StatusCode
	detail := strings.TrimSpace(string(raw))
	if len(detail) > 200 {
		detail = detail[:200] + "…"
	}
	pe := &platforms.Error{Platform: Platform, Status: s, Msg: detail}
	wait, hasWait := retryAfter(resp.Header, now)
	switch {
	case s == http.StatusGone:
		pe.Kind = platforms.Auth
		pe.Msg = "the endpoint answered 410 Gone: it no longer accepts deliveries"
	case s == http.StatusUnauthorized || s == http.StatusForbidden:
		pe.Kind = platforms.Auth
		pe.Msg = strings.TrimSpace("the endpoint refused the delivery; check the channel's signing secret " + detail)
	case s == http.StatusTooManyRequests:
		pe.Kind = platforms.RateLimited
		pe.RetryAfter = DefaultRetryAfter
		if hasWait {
			pe.RetryAfter = wait
		}
	case s >= 500 && hasWait:
		// The endpoint asked for a pause: only RateLimited makes the
		// retry wait for it.
		pe.Kind = platforms.RateLimited
		pe.RetryAfter = wait
	case s >= 500 || s == http.StatusRequestTimeout:
		pe.Kind = platforms.Transient
	case s/100 == 3:
		pe.Kind = platforms.Permanent
		pe.Msg = strings.TrimSpace("the endpoint redirects to " + resp.Header.Get("Location") + "; update the channel's URL")
	default:
		pe.Kind = platforms.Permanent
	}
	return pe
}

// retryAfter reads Retry-After as seconds or an HTTP date.
func retryAfter(h http.Header, now time.Time) (time.Duration, bool) {
	v := strings.TrimSpace(h.Get("Retry-After"))
	if v == "" {
		return 0, false
	}
	if n, err := strconv.Atoi(v); err == nil && n >= 0 {
		return time.Duration(n) * time.Second, true
	}
	if t, err := http.ParseTime(v); err == nil {
		return max(t.Sub(now), 0), true
	}
	return 0, false
}

func authError(status int, msg string) *platforms.Error {
	return &platforms.Error{Platform: Platform, Kind: platforms.Auth, Status: status, Msg: msg}
}

// randomID names a delivery that came without an idempotency key.
func randomID() string {
	var b [16]byte
	_, _ = rand.Read(b[:])
	return "msg_" + hex.EncodeToString(b[:])
}
