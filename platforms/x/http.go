package x

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/cmo-dev/cmo/platforms"
)

// maxBody bounds how much of a response is read: X's answers are small,
// and a misbehaving proxy should not fill memory.
const maxBody = 1 << 20

func baseURL(acct platforms.Account) string {
	if u := strings.TrimRight(acct.Config["base_url"], "/"); u != "" {
		return u
	}
	return DefaultBaseURL
}

// call makes an API request with the channel's token. When X answers 401
// the token has expired or been revoked: it is renewed once with the
// refresh token and the request repeated, so an expired token costs one
// extra round trip instead of a reconnected channel.
func (c *Client) call(ctx context.Context, acct platforms.Account, method, path string, q url.Values, in, out any) error {
	var body []byte
	if in != nil {
		var err error
		if body, err = json.Marshal(in); err != nil {
			return err
		}
	}
	return c.callBody(ctx, acct, method, path, q, "application/json", body, out)
}

// callBody is call with a body already encoded as contentType (a
// multipart media upload).
func (c *Client) callBody(ctx context.Context, acct platforms.Account, method, path string, q url.Values, contentType string, body []byte, out any) error {
	token := c.accessToken(acct)
	err := c.send(ctx, acct, token, method, path, q, contentType, body, out)
	var pe *platforms.Error
	if !errors.As(err, &pe) || pe.Status != http.StatusUnauthorized {
		return err
	}
	token, rerr := c.refresh(ctx, acct, token)
	if rerr != nil {
		return rerr
	}
	err = c.send(ctx, acct, token, method, path, q, contentType, body, out)
	if errors.As(err, &pe) && pe.Status == http.StatusUnauthorized {
		pe.Msg = "the renewed token was refused too: " + pe.Msg
	}
	return err
}

func (c *Client) send(ctx context.Context, acct platforms.Account, token, method, path string, q url.Values, contentType string, body []byte, out any) error {
	u := baseURL(acct) + path
	if len(q) > 0 {
		u += "?" + q.Encode()
	}
	var rd io.Reader
	if body != nil {
		rd = bytes.NewReader(body)
	}
	req, err := http.NewRequestWithContext(ctx, method, u, rd)
	if err != nil {
		return err
	}
	req.Header.Set("Authorization", "Bearer "+token)
	req.Header.Set("Accept", "application/json")
	if body != nil {
		req.Header.Set("Content-Type", contentType)
	}
	resp, err := c.HTTP.Do(req)
	if err != nil {
		return noResponse(err)
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(io.LimitReader(resp.Body, maxBody))
	if err != nil {
		return noResponse(err)
	}
	if resp.StatusCode/100 == 2 {
		if out != nil && len(bytes.TrimSpace(raw)) > 0 {
			if err := json.Unmarshal(raw, out); err != nil {
				return &platforms.Error{Platform: Platform, Kind: platforms.Transient, Status: resp.StatusCode, Msg: "unreadable response body"}
			}
		}
		return nil
	}
	return c.apiError(resp, raw)
}

// problem is X API v2's error body (RFC 7807 with X's extensions).
type problem struct {
	Title  string `json:"title"`
	Detail string `json:"detail"`
	Type   string `json:"type"`
	Errors []struct {
		Message string `json:"message"`
		Code    int    `json:"code"`
	} `json:"errors"`
}

func (p problem) String() string {
	var parts []string
	for _, s := range []string{p.Title, p.Detail} {
		if s != "" && !slices.Contains(parts, s) {
			parts = append(parts, s)
		}
	}
	for _, e := range p.Errors {
		if e.Message != "" && !slices.Contains(parts, e.Message) {
			parts = append(parts, e.Message)
		}
	}
	return strings.Join(parts, ": ")
}

// apiError classifies a failed response: 401 is an auth failure (call
// renews the token first), 429 waits for X's reset time, 5xx is retried,
// and any other 4xx (invalid request, duplicate content, a deleted post)
// will fail the same way again.
func (c *Client) apiError(resp *http.Response, raw []byte) *platforms.Error {
	var p problem
	_ = json.Unmarshal(raw, &p)
	pe := &platforms.Error{Platform: Platform, Status: resp.StatusCode, Msg: p.String()}
	switch s := resp.StatusCode; {
	case s == http.StatusUnauthorized:
		pe.Kind = platforms.Auth
	case s == http.StatusTooManyRequests:
		pe.Kind = platforms.RateLimited
		pe.RetryAfter = rateLimitWait(resp.Header, c.now())
	case s == http.StatusRequestTimeout || s >= 500:
		pe.Kind = platforms.Transient
	default:
		pe.Kind = platforms.Permanent
	}
	return pe
}

// defaultWait is used when a 429 carries no reset time: X's windows are 15
// minutes long, so a later retry would most likely be refused again.
const defaultWait = 15 * time.Minute

// rateLimitWait reads how long to wait from X's headers, all epoch
// seconds. x-rate-limit-reset ends the endpoint's 15-minute window; posting
// also has 24-hour user and app limits with their own headers, and when
// one of those is exhausted, retrying at the 15-minute reset would only
// earn another 429. So the wait runs to the latest of the window's reset
// and the resets of exhausted 24-hour limits.
func rateLimitWait(h http.Header, now time.Time) time.Duration {
	var reset time.Time
	consider := func(prefix string, onlyIfExhausted bool) {
		n, err := strconv.ParseInt(h.Get(prefix+"-reset"), 10, 64)
		if err != nil || onlyIfExhausted && h.Get(prefix+"-remaining") != "0" {
			return
		}
		if t := time.Unix(n, 0); t.After(reset) {
			reset = t
		}
	}
	consider("x-rate-limit", false)
	consider("x-user-limit-24hour", true)
	consider("x-app-limit-24hour", true)
	if !reset.IsZero() {
		// A reset already past (clock skew) still deserves a pause.
		return max(reset.Sub(now), time.Second)
	}
	if n, err := strconv.Atoi(h.Get("Retry-After")); err == nil && n >= 0 {
		return time.Duration(n) * time.Second
	}
	return defaultWait
}

// noResponse classifies a request that got no answer. The URL is left out
// of the message: it adds nothing the caller's context does not say.
func noResponse(err error) *platforms.Error {
	var ue *url.Error
	if errors.As(err, &ue) {
		err = ue.Err
	}
	return &platforms.Error{Platform: Platform, Kind: platforms.Transient, Msg: "no response: " + err.Error()}
}
