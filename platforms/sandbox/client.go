package sandbox

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/cmo-dev/cmo/platforms"
)

// Platform is the sandbox's platform name.
const Platform = "sandbox"

// Client is the sandbox connector. It speaks HTTP to a sandbox Server like
// any other connector speaks to its network.
type Client struct {
	BaseURL string
	HTTP    *http.Client
}

var _ platforms.Connector = (*Client)(nil)

// NewClient returns a connector for the sandbox served at baseURL.
func NewClient(baseURL string, hc *http.Client) *Client {
	if hc == nil {
		hc = &http.Client{Timeout: 30 * time.Second}
	}
	return &Client{BaseURL: strings.TrimRight(baseURL, "/"), HTTP: hc}
}

// Publish posts a status.
func (c *Client) Publish(ctx context.Context, acct platforms.Account, p platforms.Post) (platforms.Published, error) {
	body, _ := json.Marshal(createRequest{Status: p.Text, InReplyToID: p.InReplyTo})
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, c.BaseURL+"/api/v1/statuses", bytes.NewReader(body))
	if err != nil {
		return platforms.Published{}, err
	}
	req.Header.Set("Content-Type", "application/json")
	if p.IdempotencyKey != "" {
		req.Header.Set("Idempotency-Key", p.IdempotencyKey)
	}
	var st Status
	if err := c.do(req, acct, &st); err != nil {
		return platforms.Published{}, fmt.Errorf("publish to @%s: %w", acct.Handle, err)
	}
	return platforms.Published{ID: st.ID, URL: st.URL, At: st.CreatedAt}, nil
}

// pageSize is the most statuses one request returns, as on Mastodon.
const pageSize = 40

// Recent lists up to limit of the account's latest posts, newest first,
// following max_id pages: a busy account can have published more than
// one page since the post being looked for.
func (c *Client) Recent(ctx context.Context, acct platforms.Account, limit int) ([]platforms.Remote, error) {
	var out []platforms.Remote
	maxID := ""
	for len(out) < limit {
		u := fmt.Sprintf("%s/api/v1/accounts/%s/statuses?limit=%d", c.BaseURL, acct.Handle, min(pageSize, limit-len(out)))
		if maxID != "" {
			u += "&max_id=" + maxID
		}
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
		if err != nil {
			return nil, err
		}
		var sts []Status
		if err := c.do(req, acct, &sts); err != nil {
			return nil, fmt.Errorf("read back @%s: %w", acct.Handle, err)
		}
		for _, st := range sts {
			out = append(out, platforms.Remote{ID: st.ID, URL: st.URL, Text: st.Content, At: st.CreatedAt})
		}
		if len(sts) == 0 {
			break
		}
		maxID = sts[len(sts)-1].ID
	}
	return out, nil
}

// Metrics reads a post's engagement.
func (c *Client) Metrics(ctx context.Context, acct platforms.Account, postID string) (platforms.Metrics, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, c.BaseURL+"/api/v1/statuses/"+postID, nil)
	if err != nil {
		return platforms.Metrics{}, err
	}
	var st Status
	if err := c.do(req, acct, &st); err != nil {
		return platforms.Metrics{}, fmt.Errorf("metrics of %s: %w", postID, err)
	}
	at := st.MeasuredAt
	if at.IsZero() {
		at = time.Now().UTC()
	}
	return platforms.Metrics{
		Impressions: st.Impressions, Reach: st.Reach, Likes: st.Likes, Reposts: st.Reposts,
		Replies: st.Replies, Clicks: st.Clicks, At: at,
	}, nil
}

func (c *Client) do(req *http.Request, acct platforms.Account, out any) error {
	if tok := acct.Secrets["token"]; tok != "" {
		req.Header.Set("Authorization", "Bearer "+tok)
	}
	req.Header.Set("Accept", "application/json")
	resp, err := c.HTTP.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if err != nil {
		return err
	}
	if resp.StatusCode/100 == 2 {
		if err := json.Unmarshal(raw, out); err != nil {
			return &platforms.Error{Platform: Platform, Kind: platforms.Transient, Status: resp.StatusCode, Msg: "unreadable response body"}
		}
		return nil
	}
	var e struct {
		Error string `json:"error"`
	}
	_ = json.Unmarshal(raw, &e)
	pe := &platforms.Error{Platform: Platform, Status: resp.StatusCode, Msg: e.Error}
	switch {
	case resp.StatusCode == http.StatusUnauthorized || resp.StatusCode == http.StatusForbidden:
		pe.Kind = platforms.Auth
	case resp.StatusCode == http.StatusTooManyRequests:
		pe.Kind = platforms.RateLimited
		pe.RetryAfter = retryAfter(resp.Header, time.Now())
	case resp.StatusCode >= 500:
		pe.Kind = platforms.Transient
	default:
		pe.Kind = platforms.Permanent
	}
	return pe
}

// retryAfter reads Mastodon's X-RateLimit-Reset (an ISO 8601 time) or a
// standard Retry-After (seconds), defaulting to a minute.
func retryAfter(h http.Header, now time.Time) time.Duration {
	if v := h.Get("X-RateLimit-Reset"); v != "" {
		if t, err := time.Parse(time.RFC3339Nano, v); err == nil && t.After(now) {
			return t.Sub(now)
		}
	}
	if v := h.Get("Retry-After"); v != "" {
		if n, err := strconv.Atoi(v); err == nil && n >= 0 {
			return time.Duration(n) * time.Second
		}
	}
	return time.Minute
}

// Delete removes a post; one already gone counts as deleted.
func (c *Client) Delete(ctx context.Context, acct platforms.Account, postID string) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodDelete, c.BaseURL+"/api/v1/statuses/"+postID, nil)
	if err != nil {
		return err
	}
	var out map[string]string
	err = c.do(req, acct, &out)
	var pe *platforms.Error
	if errors.As(err, &pe) && pe.Status == http.StatusNotFound {
		return nil
	}
	if err != nil {
		return fmt.Errorf("delete %s: %w", postID, err)
	}
	return nil
}

// AccountInfo checks the token and reads the account.
func (c *Client) AccountInfo(ctx context.Context, acct platforms.Account) (platforms.AccountInfo, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, c.BaseURL+"/api/v1/accounts/verify_credentials", nil)
	if err != nil {
		return platforms.AccountInfo{}, err
	}
	var out struct {
		ID         string    `json:"id"`
		Acct       string    `json:"acct"`
		Followers  int64     `json:"followers_count"`
		MeasuredAt time.Time `json:"measured_at"`
	}
	if err := c.do(req, acct, &out); err != nil {
		return platforms.AccountInfo{}, fmt.Errorf("verify credentials of @%s: %w", acct.Handle, err)
	}
	return platforms.AccountInfo{ID: out.ID, Handle: out.Acct, Followers: out.Followers, At: out.MeasuredAt}, nil
}
