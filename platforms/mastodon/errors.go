package mastodon

import (
	"encoding/json"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/cmo-dev/cmo/platforms"
)

// userRequired is the 422 message Mastodon gives a token that has no user
// behind it (an app-only token): the channel was connected wrongly, which
// only reconnecting fixes.
const userRequired = "This method requires an authenticated user"

// defaultRetryAfter is the wait when a 429 carries no reset information;
// Mastodon's rate-limit periods are five minutes long, a minute is a
// cautious first step.
const defaultRetryAfter = time.Minute

// classify turns an error response into a platforms.Error. The status
// code decides, as Mastodon's Error entity documentation says it should;
// the body's "error" (and OAuth's "error_description") only explains.
func classify(code int, h http.Header, raw []byte, now time.Time) *platforms.Error {
	var body struct {
		Error       string `json:"error"`
		Description string `json:"error_description"`
	}
	_ = json.Unmarshal(raw, &body)
	msg := body.Error
	if body.Description != "" {
		msg += ": " + body.Description
	}
	if msg == "" {
		// A proxy in front of the instance answered with HTML or nothing.
		msg = http.StatusText(code)
	}
	pe := &platforms.Error{Platform: Platform, Status: code, Msg: msg}
	switch {
	case code == http.StatusUnauthorized || code == http.StatusForbidden:
		// Invalid, revoked or expired token, or a disabled, unconfirmed
		// or unapproved login: none of these refresh, a person must act.
		pe.Kind = platforms.Auth
	case code == http.StatusUnprocessableEntity && body.Error == userRequired:
		pe.Kind = platforms.Auth
	case code == http.StatusTooManyRequests:
		pe.Kind = platforms.RateLimited
		pe.RetryAfter = retryAfter(h, now)
	case code == http.StatusRequestTimeout || code >= 500:
		pe.Kind = platforms.Transient
	default:
		// 422 validation failures, 404 for a missing status or reply
		// target, 400 missing parameters: the same request fails again.
		pe.Kind = platforms.Permanent
	}
	return pe
}

// retryAfter reads how long to wait from a 429: Mastodon's
// X-RateLimit-Reset (an ISO 8601 time), else a standard Retry-After
// (seconds or an HTTP date), else a default.
func retryAfter(h http.Header, now time.Time) time.Duration {
	if v := strings.TrimSpace(h.Get("X-RateLimit-Reset")); v != "" {
		if t, err := time.Parse(time.RFC3339Nano, v); err == nil && t.After(now) {
			return t.Sub(now)
		}
	}
	if v := strings.TrimSpace(h.Get("Retry-After")); v != "" {
		if n, err := strconv.Atoi(v); err == nil && n > 0 {
			return time.Duration(n) * time.Second
		}
		if t, err := http.ParseTime(v); err == nil && t.After(now) {
			return t.Sub(now)
		}
	}
	return defaultRetryAfter
}
