package bluesky

import (
	"bytes"
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

// defaultRetryAfter is the wait when a 429 says nothing about when the
// limit resets.
const defaultRetryAfter = time.Minute

// apiError is an XRPC error response, {"error": Name, "message": ...},
// before it is classified: the session layer needs the raw name to tell
// an expired token from a refused request.
type apiError struct {
	status  int
	name    string
	message string
	header  http.Header
}

func (e *apiError) Error() string { return e.describe() }

func (e *apiError) describe() string {
	switch {
	case e.name != "" && e.message != "":
		return e.name + ": " + e.message
	case e.name != "":
		return e.name
	case e.message != "":
		return e.message
	}
	// A load balancer's page rather than an XRPC error body.
	return http.StatusText(e.status)
}

// sessionRejected reports whether the server refused the access token
// itself: the reference PDS answers 400 ExpiredToken for an expired one,
// 400 InvalidToken for a bad one, and 401 when none is usable. These are
// worth renewing the session for; nothing else is.
func (e *apiError) sessionRejected() bool {
	return e.status == http.StatusUnauthorized ||
		(e.status == http.StatusBadRequest && (e.name == "ExpiredToken" || e.name == "InvalidToken"))
}

func rejected(err error) bool {
	var ae *apiError
	return errors.As(err, &ae) && ae.sessionRejected()
}

// authErrors are 400 error names that mean the account or its
// credentials, not the request, are the problem.
var authErrors = map[string]bool{
	"ExpiredToken": true, "InvalidToken": true, "AccountTakedown": true,
	"AccountDeactivated": true, "AuthFactorTokenRequired": true, "AuthenticationRequired": true,
}

// rawInput is a procedure's input sent as it is rather than as JSON (the
// bytes of a blob for com.atproto.repo.uploadBlob).
type rawInput struct {
	data     []byte
	mimeType string
}

// xrpc calls one XRPC method: a query (GET) with params or a procedure
// (POST) with a JSON body, or raw bytes when in is a rawInput. bearer may be empty for public methods. Error
// responses come back as *apiError, network failures as they are.
func (c *Client) xrpc(ctx context.Context, base, method, nsid string, q url.Values, in any, bearer string, out any) error {
	u := base + "/xrpc/" + nsid
	if len(q) > 0 {
		u += "?" + q.Encode()
	}
	var body io.Reader
	ctype := ""
	switch v := in.(type) {
	case nil:
	case rawInput:
		body, ctype = bytes.NewReader(v.data), v.mimeType
	default:
		raw, err := json.Marshal(in)
		if err != nil {
			return fmt.Errorf("encode %s input: %w", nsid, err)
		}
		body, ctype = bytes.NewReader(raw), "application/json"
	}
	req, err := http.NewRequestWithContext(ctx, method, u, body)
	if err != nil {
		return err
	}
	if ctype != "" {
		req.Header.Set("Content-Type", ctype)
	}
	req.Header.Set("Accept", "application/json")
	if bearer != "" {
		req.Header.Set("Authorization", "Bearer "+bearer)
	}
	resp, err := c.httpClient().Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(io.LimitReader(resp.Body, 4<<20))
	if err != nil {
		return err
	}
	if resp.StatusCode/100 == 2 {
		if out != nil && len(bytes.TrimSpace(raw)) > 0 {
			if err := json.Unmarshal(raw, out); err != nil {
				return &platforms.Error{Platform: Platform, Kind: platforms.Transient, Status: resp.StatusCode, Msg: "unreadable " + nsid + " response"}
			}
		}
		return nil
	}
	var e struct {
		Error   string `json:"error"`
		Message string `json:"message"`
	}
	// Servers are encouraged, not bound, to answer with JSON.
	_ = json.Unmarshal(raw, &e)
	return &apiError{status: resp.StatusCode, name: e.Error, message: e.Message, header: resp.Header}
}

// classify turns an XRPC error response into a platforms.Error and lets
// anything else (network errors, timeouts) through, which
// platforms.KindOf counts as transient.
func (c *Client) classify(err error) error {
	var ae *apiError
	if !errors.As(err, &ae) {
		return err
	}
	pe := &platforms.Error{Platform: Platform, Status: ae.status, Msg: ae.describe()}
	switch {
	case ae.status == http.StatusTooManyRequests:
		pe.Kind = platforms.RateLimited
		pe.RetryAfter = retryAfter(ae.header, c.now())
	case ae.status == http.StatusUnauthorized || ae.status == http.StatusForbidden:
		pe.Kind = platforms.Auth
	case ae.status == http.StatusBadRequest && authErrors[ae.name]:
		pe.Kind = platforms.Auth
	case ae.status == http.StatusNotImplemented:
		// The XRPC spec: the method is known but not implemented, do not retry.
		pe.Kind = platforms.Permanent
	case ae.status == http.StatusRequestTimeout || ae.status >= 500:
		pe.Kind = platforms.Transient
	default:
		// 400 InvalidRequest (a post over 300 graphemes, a missing
		// field), RecordNotFound, 404 for a method this server lacks,
		// 413: the same request fails again.
		pe.Kind = platforms.Permanent
	}
	return pe
}

// retryAfter reads how long to wait from a 429. The PDS sends
// RateLimit-Reset as a unix time in seconds; the IETF draft it follows
// defines a number of seconds from now, so a small value is read that
// way. Retry-After is the fallback, then a default.
func retryAfter(h http.Header, now time.Time) time.Duration {
	if v := strings.TrimSpace(h.Get("RateLimit-Reset")); v != "" {
		if n, err := strconv.ParseInt(v, 10, 64); err == nil && n > 0 {
			if n < 1_000_000_000 {
				return time.Duration(n) * time.Second
			}
			if d := time.Unix(n, 0).Sub(now); d > 0 {
				return d
			}
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
