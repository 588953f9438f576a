package webhook

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"fmt"
	"math"
	"net/http"
	"strconv"
	"strings"
	"time"
)

// Standard Webhooks header names.
const (
	HeaderID        = "webhook-id"
	HeaderTimestamp = "webhook-timestamp"
	HeaderSignature = "webhook-signature"
)

// SecretPrefix marks a Standard Webhooks symmetric secret: the rest is the
// base64 HMAC key.
const SecretPrefix = "whsec_"

// DefaultTolerance is how far a delivery's timestamp may be from the
// receiver's clock, the window the Standard Webhooks libraries use.
const DefaultTolerance = 5 * time.Minute

// Errors Verify returns, so a receiver can answer 400 or 401 and log why.
var (
	ErrMissingHeaders = errors.New("webhook: missing webhook-id, webhook-timestamp or webhook-signature header")
	ErrInvalidSecret  = errors.New("webhook: the secret is not whsec_ followed by a base64 key")
	ErrTimestamp      = errors.New("webhook: timestamp outside the tolerance window")
	ErrSignature      = errors.New("webhook: no matching signature")
)

// decodeSecret reads "whsec_<base64>" (the prefix is optional, as in the
// reference libraries).
func decodeSecret(secret string) ([]byte, error) {
	key, err := base64.StdEncoding.DecodeString(strings.TrimPrefix(strings.TrimSpace(secret), SecretPrefix))
	if err != nil || len(key) == 0 {
		return nil, ErrInvalidSecret
	}
	return key, nil
}

// CheckSecret reports whether secret is a usable signing secret, so a
// secret can be refused when it is configured instead of at the first
// delivery.
func CheckSecret(secret string) error {
	_, err := decodeSecret(secret)
	return err
}

// sign computes HMAC-SHA256 over "{id}.{timestamp}.{body}".
func sign(key []byte, id string, ts int64, body []byte) []byte {
	mac := hmac.New(sha256.New, key)
	mac.Write([]byte(id))
	mac.Write([]byte{'.'})
	mac.Write([]byte(strconv.FormatInt(ts, 10)))
	mac.Write([]byte{'.'})
	mac.Write(body)
	return mac.Sum(nil)
}

// Sign returns the webhook-signature header value for a delivery:
// "v1," followed by the base64 HMAC-SHA256 of id.timestamp.body.
func Sign(secret, id string, ts time.Time, body []byte) (string, error) {
	key, err := decodeSecret(secret)
	if err != nil {
		return "", err
	}
	if err := checkID(id); err != nil {
		return "", err
	}
	return "v1," + base64.StdEncoding.EncodeToString(sign(key, id, ts.Unix(), body)), nil
}

// checkID refuses ids that would make the signed content ambiguous: the
// id is joined to the timestamp with a full stop.
func checkID(id string) error {
	if id == "" || strings.ContainsAny(id, ". \t\r\n") {
		return fmt.Errorf("webhook: id %q must be non-empty, without full stops or spaces", id)
	}
	return nil
}

// Verify checks a delivery on the receiving side: the headers are present,
// the timestamp is within tolerance of now (0 means DefaultTolerance), and
// one of the space-separated v1 signatures matches, compared in constant
// time. body must be the raw request body, before any JSON parsing.
// Receivers should then use webhook-id to drop deliveries they already
// processed.
func Verify(secret string, headers http.Header, body []byte, tolerance time.Duration) error {
	return verifyAt(secret, headers, body, tolerance, time.Now())
}

func verifyAt(secret string, headers http.Header, body []byte, tolerance time.Duration, now time.Time) error {
	id, tsv, sigs := headers.Get(HeaderID), headers.Get(HeaderTimestamp), headers.Get(HeaderSignature)
	if id == "" || tsv == "" || sigs == "" {
		return ErrMissingHeaders
	}
	key, err := decodeSecret(secret)
	if err != nil {
		return err
	}
	ts, err := strconv.ParseInt(tsv, 10, 64)
	if err != nil {
		return ErrTimestamp
	}
	if tolerance <= 0 {
		tolerance = DefaultTolerance
	}
	if math.Abs(float64(now.Unix()-ts)) > tolerance.Seconds() {
		return ErrTimestamp
	}
	want := sign(key, id, ts, body)
	for _, s := range strings.Fields(sigs) {
		version, b64, ok := strings.Cut(s, ",")
		if !ok || version != "v1" {
			continue // another scheme (v1a) or a malformed entry
		}
		got, err := base64.StdEncoding.DecodeString(b64)
		if err != nil {
			continue
		}
		if hmac.Equal(got, want) {
			return nil
		}
	}
	return ErrSignature
}
