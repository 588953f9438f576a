package listening

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"
)

// Headers of a signed mention delivery.
const (
	HeaderTimestamp = "X-Cmo-Timestamp"
	HeaderSignature = "X-Cmo-Signature"
	// SignatureTolerance is how far a delivery's timestamp may be from
	// the receiver's clock: a captured delivery cannot be replayed later.
	SignatureTolerance = 300 * time.Second
)

// Sign returns the signature header value of body sent at ts: "v1=" and
// the hex HMAC-SHA256, keyed with the source's secret, of the Unix
// timestamp, a dot and the raw body.
func Sign(secret []byte, ts time.Time, body []byte) string {
	return "v1=" + hex.EncodeToString(mac(secret, strconv.FormatInt(ts.Unix(), 10), body))
}

func mac(secret []byte, ts string, body []byte) []byte {
	h := hmac.New(sha256.New, secret)
	h.Write([]byte(ts))
	h.Write([]byte{'.'})
	h.Write(body)
	return h.Sum(nil)
}

// Signature errors; each is answered with 401 and says what was wrong.
var (
	ErrNoTimestamp  = errors.New("missing " + HeaderTimestamp + " header")
	ErrBadTimestamp = errors.New(HeaderTimestamp + " is not a Unix time in seconds")
	ErrStale        = fmt.Errorf("%s is more than %d seconds from now", HeaderTimestamp, int(SignatureTolerance.Seconds()))
	ErrNoSignature  = errors.New("missing " + HeaderSignature + " header")
	ErrBadSignature = errors.New(HeaderSignature + " does not match the body")
)

// Verify checks a delivery's timestamp and signature. The header may carry
// several comma-separated signatures (during a secret rotation); one that
// matches is enough. Comparisons take constant time.
func Verify(secret []byte, timestamp, signature string, body []byte, now time.Time) error {
	if timestamp == "" {
		return ErrNoTimestamp
	}
	sec, err := strconv.ParseInt(timestamp, 10, 64)
	if err != nil {
		return ErrBadTimestamp
	}
	if d := now.Sub(time.Unix(sec, 0)); d > SignatureTolerance || d < -SignatureTolerance {
		return ErrStale
	}
	if signature == "" {
		return ErrNoSignature
	}
	want := mac(secret, timestamp, body)
	ok := false
	for _, part := range strings.Split(signature, ",") {
		v, found := strings.CutPrefix(strings.TrimSpace(part), "v1=")
		if !found {
			continue
		}
		got, err := hex.DecodeString(v)
		if err == nil && hmac.Equal(got, want) {
			ok = true
		}
	}
	if !ok {
		return ErrBadSignature
	}
	return nil
}
