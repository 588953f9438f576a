// Package meta publishes to Meta's networks through the Graph API: a
// Facebook Page's feed and an Instagram professional account. Both share
// the Graph's request and error conventions, kept here.
package meta

import (
	"context"
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

const (
	// GraphVersion is the Graph API version requests are pinned to. Meta
	// supports a version for about two years; pinning keeps a field's
	// meaning from changing under the connector.
	GraphVersion = "v25.0"
	// DefaultBaseURL is the Graph API host; a channel's Config["base_url"]
	// replaces it (tests point it at a local server; an Instagram account
	// connected with Instagram Login uses https://graph.instagram.com).
	DefaultBaseURL = "https://graph.facebook.com"
	// DefaultRetryAfter is the wait after a throttling error that gives no
	// time to regain access. Graph limits are counted over a rolling hour;
	// five minutes lets a burst drain without hammering the API.
	DefaultRetryAfter = 5 * time.Minute
)

// maxBody bounds how much of a response is read.
const maxBody = 1 << 20

// graphError is the Graph API's error body:
// {"error":{"message","type","code","error_subcode","fbtrace_id",...}}.
type graphError struct {
	Message     string `json:"message"`
	Type        string `json:"type"`
	Code        int    `json:"code"`
	Subcode     int    `json:"error_subcode"`
	UserTitle   string `json:"error_user_title"`
	UserMsg     string `json:"error_user_msg"`
	IsTransient bool   `json:"is_transient"`
	FBTraceID   string `json:"fbtrace_id"`
}

// Graph error codes, from Meta's error handling guide.
const (
	codeUnknown         = 1   // temporary, retry
	codeService         = 2   // temporary downtime, retry
	codeTooManyCalls    = 4   // app throttled
	codeUserTooMany     = 17  // user throttled
	codeInvalidParam    = 100 // invalid parameter; subcode 33: object does not exist
	codeSession         = 102 // session invalid
	codeAccessToken     = 190 // token expired, revoked or invalid
	codePageTooMany     = 32  // page-level throttling
	codeAppLimit        = 341 // application limit reached
	codeRateLimit       = 613 // calls exceed the rate limit
	codeIGAction        = 9   // Instagram action blocked; subcode 2207042: posting limit
	subcodeMissing      = 33
	subcodeIGPostsLimit = 2207042
)

// isRateLimit reports the throttling codes, including the Business Use
// Case range 80000-80014 that Page and Instagram tokens are counted in.
func isRateLimit(code int) bool {
	switch code {
	case codeTooManyCalls, codeUserTooMany, codePageTooMany, codeAppLimit, codeRateLimit:
		return true
	}
	return code >= 80000 && code <= 80014
}

// api makes Graph requests for one connector.
type api struct {
	hc       *http.Client
	version  string
	platform string
	now      func() time.Time
}

func newAPI(hc *http.Client, version, platform string, now func() time.Time) api {
	if hc == nil {
		hc = &http.Client{Timeout: 30 * time.Second}
	}
	if version == "" {
		version = GraphVersion
	}
	if now == nil {
		now = time.Now
	}
	return api{hc: hc, version: version, platform: platform, now: now}
}

func baseURL(acct platforms.Account) string {
	if u := strings.TrimRight(acct.Config["base_url"], "/"); u != "" {
		return u
	}
	return DefaultBaseURL
}

// do calls the Graph. The token travels in the Authorization header, never
// in the URL, so that no URL in an error or a log can leak it; parameters
// go in the query for GET and DELETE and as a form body for POST.
func (a api) do(ctx context.Context, acct platforms.Account, token, method, path string, params url.Values, out any) error {
	if token == "" {
		return &platforms.Error{Platform: a.platform, Kind: platforms.Auth, Msg: "the channel has no access token"}
	}
	u := baseURL(acct) + "/" + a.version + path
	var body io.Reader
	if method == http.MethodPost {
		body = strings.NewReader(params.Encode())
	} else if len(params) > 0 {
		u += "?" + params.Encode()
	}
	req, err := http.NewRequestWithContext(ctx, method, u, body)
	if err != nil {
		return err
	}
	req.Header.Set("Authorization", "Bearer "+token)
	req.Header.Set("Accept", "application/json")
	if body != nil {
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	}
	resp, err := a.hc.Do(req)
	if err != nil {
		return a.noResponse(err)
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(io.LimitReader(resp.Body, maxBody))
	if err != nil {
		return a.noResponse(err)
	}
	var envelope struct {
		Error *graphError `json:"error"`
	}
	_ = json.Unmarshal(raw, &envelope)
	if resp.StatusCode/100 == 2 && envelope.Error == nil {
		if out != nil {
			if err := json.Unmarshal(raw, out); err != nil {
				return &platforms.Error{Platform: a.platform, Kind: platforms.Transient, Status: resp.StatusCode, Msg: "unreadable response body"}
			}
		}
		return nil
	}
	ge := graphError{}
	if envelope.Error != nil {
		ge = *envelope.Error
	}
	return &failure{pe: a.classify(resp.StatusCode, resp.Header, ge), code: ge.Code, subcode: ge.Subcode}
}

// failure is a classified Graph error that keeps the Graph's codes for the
// callers that need them, such as Delete telling "already gone" apart.
type failure struct {
	pe            *platforms.Error
	code, subcode int
}

func (f *failure) Error() string { return f.pe.Error() }
func (f *failure) Unwrap() error { return f.pe }

// classify turns a Graph error into what the caller should do. The Graph
// answers most errors with HTTP 400, so the error code decides: 190 (and
// 102) mean the token is expired or revoked — Page tokens have no refresh
// grant, so the channel must be reconnected; throttling codes wait; codes 1
// and 2 (or is_transient) are retried; every other code, 100 (invalid
// parameter) included, fails the same way again. Permission errors (10,
// 200-299) are permanent rather than auth: some of them only concern one
// object (insights on a post with too few viewers) and must not send a
// working channel to be reconnected.
func (a api) classify(status int, h http.Header, ge graphError) *platforms.Error {
	pe := &platforms.Error{Platform: a.platform, Status: status, Msg: describe(ge)}
	switch {
	case ge.Code == codeAccessToken || ge.Code == codeSession:
		pe.Kind = platforms.Auth
	case isRateLimit(ge.Code):
		pe.Kind = platforms.RateLimited
		pe.RetryAfter = throttleWait(h)
	case ge.Code == codeIGAction && ge.Subcode == subcodeIGPostsLimit:
		pe.Kind = platforms.RateLimited
		pe.RetryAfter = QuotaRetryAfter
	case ge.Code == codeUnknown || ge.Code == codeService || ge.IsTransient:
		pe.Kind = platforms.Transient
	case ge.Code != 0:
		pe.Kind = platforms.Permanent
	case status == http.StatusUnauthorized:
		pe.Kind = platforms.Auth
	case status == http.StatusTooManyRequests:
		pe.Kind = platforms.RateLimited
		pe.RetryAfter = throttleWait(h)
	case status == http.StatusRequestTimeout || status >= 500:
		pe.Kind = platforms.Transient
	default:
		pe.Kind = platforms.Permanent
	}
	return pe
}

func describe(ge graphError) string {
	msg := ge.Message
	if ge.UserMsg != "" && ge.UserMsg != ge.Message {
		msg = strings.TrimSpace(msg + " — " + ge.UserMsg)
	}
	var ids []string
	if ge.Code != 0 {
		ids = append(ids, "code "+strconv.Itoa(ge.Code))
	}
	if ge.Subcode != 0 {
		ids = append(ids, "subcode "+strconv.Itoa(ge.Subcode))
	}
	if ge.FBTraceID != "" {
		// Meta support asks for it when reporting a problem.
		ids = append(ids, "fbtrace_id "+ge.FBTraceID)
	}
	if len(ids) > 0 {
		msg = strings.TrimSpace(msg + " (" + strings.Join(ids, ", ") + ")")
	}
	return msg
}

// throttleWait reads how long Meta expects the throttling to last: the
// Business Use Case header (Page and Instagram tokens) carries
// estimated_time_to_regain_access in minutes; a Retry-After from a proxy
// is honoured too.
func throttleWait(h http.Header) time.Duration {
	var wait time.Duration
	if v := h.Get("X-Business-Use-Case-Usage"); v != "" {
		var usage map[string][]struct {
			Minutes int `json:"estimated_time_to_regain_access"`
		}
		if json.Unmarshal([]byte(v), &usage) == nil {
			for _, entries := range usage {
				for _, e := range entries {
					wait = max(wait, time.Duration(e.Minutes)*time.Minute)
				}
			}
		}
	}
	if n, err := strconv.Atoi(h.Get("Retry-After")); err == nil && n > 0 {
		wait = max(wait, time.Duration(n)*time.Second)
	}
	if wait <= 0 {
		return DefaultRetryAfter
	}
	return wait
}

func (a api) noResponse(err error) *platforms.Error {
	var ue *url.Error
	if errors.As(err, &ue) {
		err = ue.Err
	}
	return &platforms.Error{Platform: a.platform, Kind: platforms.Transient, Msg: "no response: " + err.Error()}
}

// isGone reports the Graph's answer for an object that no longer exists
// (or was never visible to this token): code 100, subcode 33.
func isGone(err error) bool {
	var f *failure
	if !errors.As(err, &f) {
		return false
	}
	return f.pe.Status == http.StatusNotFound || f.code == codeInvalidParam && f.subcode == subcodeMissing
}

// graphTime parses the Graph's timestamps ("2019-04-05T07:56:32+0000").
func graphTime(s string) time.Time {
	for _, layout := range []string{"2006-01-02T15:04:05-0700", time.RFC3339} {
		if t, err := time.Parse(layout, s); err == nil {
			return t.UTC()
		}
	}
	return time.Time{}
}

// insight is one metric of an /insights answer; newer metrics report a
// total_value instead of a list of values.
type insight struct {
	Name   string `json:"name"`
	Values []struct {
		Value json.Number `json:"value"`
	} `json:"values"`
	TotalValue *struct {
		Value json.Number `json:"value"`
	} `json:"total_value"`
}

func (i insight) value() int64 {
	var n json.Number
	switch {
	case i.TotalValue != nil:
		n = i.TotalValue.Value
	case len(i.Values) > 0:
		n = i.Values[len(i.Values)-1].Value
	}
	v, err := n.Int64()
	if err != nil {
		f, _ := n.Float64()
		v = int64(f)
	}
	return v
}

// insights reads metrics of a post or media. Insights are the first thing
// Meta renames or withdraws, and some are refused for a post with too few
// viewers; those permanent failures leave the numbers at zero instead of
// failing the counts already read. Auth, throttling and outages still fail.
func (a api) insights(ctx context.Context, acct platforms.Account, token, id, metrics string) (map[string]int64, error) {
	var out struct {
		Data []insight `json:"data"`
	}
	err := a.do(ctx, acct, token, http.MethodGet, "/"+url.PathEscape(id)+"/insights", url.Values{"metric": {metrics}}, &out)
	if platforms.KindOf(err) == platforms.Permanent {
		return map[string]int64{}, nil
	}
	if err != nil {
		return nil, err
	}
	res := make(map[string]int64, len(out.Data))
	for _, in := range out.Data {
		res[in.Name] = in.value()
	}
	return res, nil
}

func configValue(acct platforms.Account, platform, key, example string) (string, error) {
	v := strings.TrimSpace(acct.Config[key])
	if v == "" {
		return "", &platforms.Error{Platform: platform, Kind: platforms.Permanent,
			Msg: fmt.Sprintf("channel %s needs config.%s (%s)", acct.ChannelID, key, example)}
	}
	return v, nil
}

// remove deletes a Graph object; one already gone counts as deleted.
func (a api) remove(ctx context.Context, acct platforms.Account, token, id string) error {
	err := a.do(ctx, acct, token, http.MethodDelete, "/"+url.PathEscape(id), nil, nil)
	if err != nil && !isGone(err) {
		return fmt.Errorf("delete %s: %w", id, err)
	}
	return nil
}

// profile is what Facebook Pages and Instagram accounts both say about
// themselves.
type profile struct {
	ID             string `json:"id"`
	Name           string `json:"name"`
	Username       string `json:"username"`
	FollowersCount int64  `json:"followers_count"`
}

// profile reads node's identity and audience, which also proves the token.
func (a api) profile(ctx context.Context, acct platforms.Account, token, node, what string) (profile, error) {
	var out profile
	q := url.Values{"fields": {"id,name,username,followers_count"}}
	if err := a.do(ctx, acct, token, http.MethodGet, "/"+url.PathEscape(node), q, &out); err != nil {
		return profile{}, fmt.Errorf("verify credentials of %s %s: %w", what, node, err)
	}
	return out, nil
}
