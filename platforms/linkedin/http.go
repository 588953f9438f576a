package linkedin

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"maps"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/cmo-dev/cmo/platforms"
)

// DefaultRetryAfter is how long to wait after a 429 that says nothing
// more. LinkedIn's documented limits are daily quotas reset at midnight
// UTC, but it sends no reset time and also answers 429 to protect its
// infrastructure for short spells; waiting a minute recovers from the
// latter quickly and costs one cheap refused call per minute for the
// former, which is better than idling a crisis response until midnight.
const DefaultRetryAfter = time.Minute

// maxBody bounds how much of a response is read.
const maxBody = 1 << 20

func baseURL(acct platforms.Account) string {
	if u := strings.TrimRight(acct.Config["base_url"], "/"); u != "" {
		return u
	}
	return DefaultBaseURL
}

func tokenURL(acct platforms.Account) string {
	if u := acct.Config["token_url"]; u != "" {
		return u
	}
	return DefaultTokenURL
}

// call makes a Rest.li 2.0 request with the channel's token and returns the
// response headers (the Posts API puts the new post's id there). A 401
// renews the token once when the channel has a refresh token.
func (c *Client) call(ctx context.Context, acct platforms.Account, method, path, rawQuery string, in, out any, headers map[string]string) (http.Header, error) {
	var body []byte
	if in != nil {
		var err error
		if body, err = json.Marshal(in); err != nil {
			return nil, err
		}
	}
	token := acct.Secrets["access_token"]
	h, err := c.send(ctx, acct, token, method, path, rawQuery, body, out, headers)
	var pe *platforms.Error
	if !errors.As(err, &pe) || pe.Status != http.StatusUnauthorized {
		return h, err
	}
	token, rerr := c.refresh(ctx, acct)
	if rerr != nil {
		return nil, rerr
	}
	h, err = c.send(ctx, acct, token, method, path, rawQuery, body, out, headers)
	if errors.As(err, &pe) && pe.Status == http.StatusUnauthorized {
		pe.Msg = "the renewed token was refused too: " + pe.Msg
	}
	return h, err
}

func (c *Client) send(ctx context.Context, acct platforms.Account, token, method, path, rawQuery string, body []byte, out any, headers map[string]string) (http.Header, error) {
	u := baseURL(acct) + path
	if rawQuery != "" {
		u += "?" + rawQuery
	}
	var rd io.Reader
	if body != nil {
		rd = bytes.NewReader(body)
	}
	req, err := http.NewRequestWithContext(ctx, method, u, rd)
	if err != nil {
		return nil, err
	}
	req.Header.Set("Authorization", "Bearer "+token)
	req.Header.Set("LinkedIn-Version", c.version())
	req.Header.Set("X-Restli-Protocol-Version", "2.0.0")
	req.Header.Set("Accept", "application/json")
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	for k, v := range headers {
		req.Header.Set(k, v)
	}
	resp, err := c.HTTP.Do(req)
	if err != nil {
		return nil, noResponse(err)
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(io.LimitReader(resp.Body, maxBody))
	if err != nil {
		return nil, noResponse(err)
	}
	if resp.StatusCode/100 == 2 {
		if out != nil && len(bytes.TrimSpace(raw)) > 0 {
			if err := json.Unmarshal(raw, out); err != nil {
				return nil, &platforms.Error{Platform: Platform, Kind: platforms.Transient, Status: resp.StatusCode, Msg: "unreadable response body"}
			}
		}
		return resp.Header, nil
	}
	return nil, c.apiError(resp, raw)
}

// apiError classifies a failed response. 401 (expired or revoked token)
// and 403 (the member lost the page role, or the token lacks a scope) can
// only be fixed by reconnecting; 422 and 400 are validation failures that
// will fail again; 429 waits; 5xx and gateway timeouts are retried.
func (c *Client) apiError(resp *http.Response, raw []byte) *platforms.Error {
	var e struct {
		Message          string `json:"message"`
		Code             string `json:"code"`
		ServiceErrorCode int    `json:"serviceErrorCode"`
	}
	_ = json.Unmarshal(raw, &e)
	msg := strings.TrimSpace(e.Message)
	if e.Code != "" {
		msg = strings.TrimSpace(e.Code + ": " + msg)
	}
	if len(msg) > 500 {
		msg = msg[:500] + "…"
	}
	pe := &platforms.Error{Platform: Platform, Status: resp.StatusCode, Msg: msg}
	switch s := resp.StatusCode; {
	case s == http.StatusUnauthorized || s == http.StatusForbidden:
		pe.Kind = platforms.Auth
	case s == http.StatusTooManyRequests:
		pe.Kind = platforms.RateLimited
		pe.RetryAfter = retryAfter(resp.Header, c.now())
	case s == http.StatusRequestTimeout || s >= 500:
		pe.Kind = platforms.Transient
	default:
		pe.Kind = platforms.Permanent
	}
	return pe
}

// retryAfter honours a Retry-After header (seconds or an HTTP date), which
// LinkedIn does not send but a proxy in front of it may, and otherwise
// waits DefaultRetryAfter.
func retryAfter(h http.Header, now time.Time) time.Duration {
	v := h.Get("Retry-After")
	if n, err := strconv.Atoi(v); err == nil && n >= 0 {
		return time.Duration(n) * time.Second
	}
	if t, err := http.ParseTime(v); err == nil && t.After(now) {
		return t.Sub(now)
	}
	return DefaultRetryAfter
}

// refresh renews the access token with the refresh_token grant, saves the
// new tokens through acct.SaveSecrets and returns the new access token.
// LinkedIn gives refresh tokens only to approved apps; without one, or
// when LinkedIn refuses it, the channel has to be reconnected.
func (c *Client) refresh(ctx context.Context, acct platforms.Account) (string, error) {
	rt := acct.Secrets["refresh_token"]
	id, secret := c.ClientID, c.ClientSecret
	if acct.Secrets["client_id"] != "" {
		id, secret = acct.Secrets["client_id"], acct.Secrets["client_secret"]
	}
	if rt == "" || id == "" || secret == "" {
		return "", &platforms.Error{Platform: Platform, Kind: platforms.Auth, Status: http.StatusUnauthorized,
			Msg: "LinkedIn refused the access token (expired or revoked) and the channel has no refresh token to renew it"}
	}
	form := url.Values{
		"grant_type":    {"refresh_token"},
		"refresh_token": {rt},
		"client_id":     {id},
		"client_secret": {secret},
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, tokenURL(acct), strings.NewReader(form.Encode()))
	if err != nil {
		return "", err
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("Accept", "application/json")
	resp, err := c.HTTP.Do(req)
	if err != nil {
		return "", noResponse(err)
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(io.LimitReader(resp.Body, maxBody))
	if err != nil {
		return "", noResponse(err)
	}
	var got struct {
		AccessToken           string `json:"access_token"`
		ExpiresIn             int64  `json:"expires_in"`
		RefreshToken          string `json:"refresh_token"`
		RefreshTokenExpiresIn int64  `json:"refresh_token_expires_in"`
		Error                 string `json:"error"`
		Description           string `json:"error_description"`
	}
	_ = json.Unmarshal(raw, &got)
	switch s := resp.StatusCode; {
	case s/100 == 2 && got.AccessToken != "":
	case s/100 == 2:
		return "", &platforms.Error{Platform: Platform, Kind: platforms.Transient, Status: s, Msg: "the token endpoint returned no access token"}
	case s == http.StatusTooManyRequests:
		return "", &platforms.Error{Platform: Platform, Kind: platforms.RateLimited, Status: s,
			Msg: "renewing the access token was rate limited", RetryAfter: retryAfter(resp.Header, c.now())}
	case s >= 500:
		return "", &platforms.Error{Platform: Platform, Kind: platforms.Transient, Status: s, Msg: "the token endpoint failed"}
	default:
		msg := "LinkedIn refused to renew the access token"
		if got.Error != "" {
			msg += " (" + got.Error + ")"
		}
		if got.Description != "" {
			msg += ": " + got.Description
		}
		return "", &platforms.Error{Platform: Platform, Kind: platforms.Auth, Status: s, Msg: msg}
	}
	secrets := maps.Clone(acct.Secrets)
	secrets["access_token"] = got.AccessToken
	if got.RefreshToken != "" {
		secrets["refresh_token"] = got.RefreshToken
	}
	now := c.now().UTC()
	if got.ExpiresIn > 0 {
		secrets["expires_at"] = now.Add(time.Duration(got.ExpiresIn) * time.Second).Format(time.RFC3339)
	}
	if got.RefreshTokenExpiresIn > 0 {
		secrets["refresh_token_expires_at"] = now.Add(time.Duration(got.RefreshTokenExpiresIn) * time.Second).Format(time.RFC3339)
	}
	if acct.SaveSecrets != nil {
		if err := acct.SaveSecrets(ctx, secrets); err != nil {
			return "", fmt.Errorf("save renewed LinkedIn token: %w", err)
		}
	}
	return got.AccessToken, nil
}

// noResponse classifies a request that got no answer as transient.
func noResponse(err error) *platforms.Error {
	var ue *url.Error
	if errors.As(err, &ue) {
		err = ue.Err
	}
	return &platforms.Error{Platform: Platform, Kind: platforms.Transient, Msg: "no response: " + err.Error()}
}
