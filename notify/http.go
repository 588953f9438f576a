package notify

import (
	"bytes"
	"context"
	"errors"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"
)

// reply is an HTTP answer, its body cut short: notifiers answer in a word
// or a small JSON object.
type reply struct {
	status int
	header http.Header
	body   []byte
}

// postJSON POSTs body to u without following redirects (a redirected
// signed or secret-bearing request is not ours to re-send elsewhere). A
// request that got no answer is a transient *Error whose text holds
// neither the URL nor the body: both may be secrets.
func postJSON(ctx context.Context, hc *http.Client, kind Kind, u string, body []byte, header http.Header) (reply, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, u, bytes.NewReader(body))
	if err != nil {
		return reply{}, &Error{Kind: kind, Permanent: true, Msg: "the route's URL is not usable"}
	}
	for k, vs := range header {
		req.Header[k] = vs
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("User-Agent", "cmo-notify/1")
	c := *hc
	c.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
	resp, err := c.Do(req)
	if err != nil {
		// *url.Error repeats the method and the full URL; keep only why.
		var ue *url.Error
		if errors.As(err, &ue) {
			err = ue.Err
		}
		return reply{}, &Error{Kind: kind, Msg: "no answer: " + redact(err.Error(), u)}
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(io.LimitReader(resp.Body, 8<<10))
	return reply{status: resp.StatusCode, header: resp.Header, body: raw}, nil
}

// classify turns a non-2xx answer into an *Error by the rules the HTTP
// notifiers share: 429, 408 and 5xx may succeed later (after Retry-After
// when given); redirects and every other 4xx fail the same way each time.
func classify(kind Kind, r reply, msg string, now time.Time) *Error {
	e := &Error{Kind: kind, Status: r.status, Msg: msg}
	switch {
	case r.status == http.StatusTooManyRequests, r.status == http.StatusRequestTimeout, r.status >= 500:
		e.RetryAfter = retryAfter(r.header, now)
	case r.status/100 == 3:
		e.Permanent = true
		e.Msg = "the endpoint redirects elsewhere; update the route's URL"
	default:
		e.Permanent = true
	}
	return e
}

// retryAfter reads Retry-After as seconds or an HTTP date; zero if absent.
func retryAfter(h http.Header, now time.Time) time.Duration {
	v := strings.TrimSpace(h.Get("Retry-After"))
	if v == "" {
		return 0
	}
	if n, err := strconv.Atoi(v); err == nil && n >= 0 {
		return time.Duration(n) * time.Second
	}
	if t, err := http.ParseTime(v); err == nil {
		return max(t.Sub(now), 0)
	}
	return 0
}

// snippet is a short, single-line excerpt of a response body for error
// messages.
func snippet(body []byte) string {
	return truncate(strings.Join(strings.Fields(string(body)), " "), 200)
}
