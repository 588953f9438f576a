package webhook_test

import (
	"net/http"
	"strconv"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/cmo-dev/cmo/platforms/webhook"
)

// The Standard Webhooks reference vector, shared by the spec's libraries.
const (
	vectorSecret = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
	vectorID     = "msg_p5jXN8AQM9LWM0D4loKWxJek"
	vectorTS     = 1614265330
	vectorBody   = `{"test": 2432232314}`
	vectorSig    = "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE="
)

func headers(id string, ts int64, sig string) http.Header {
	h := http.Header{}
	h.Set(webhook.HeaderID, id)
	h.Set(webhook.HeaderTimestamp, strconv.FormatInt(ts, 10))
	h.Set(webhook.HeaderSignature, sig)
	return h
}

func TestSignMatchesTheReferenceVector(t *testing.T) {
	sig, err := webhook.Sign(vectorSecret, vectorID, time.Unix(vectorTS, 0), []byte(vectorBody))
	require.NoError(t, err)
	require.Equal(t, vectorSig, sig)

	require.NoError(t, webhook.VerifyAt(vectorSecret, headers(vectorID, vectorTS, vectorSig), []byte(vectorBody), 0, time.Unix(vectorTS+10, 0)))
}

func TestSignVerifyRoundTrip(t *testing.T) {
	secret := "whsec_c2VjcmV0LWtleS1mb3ItdGVzdHMtMzItYnl0ZXMh"
	now := time.Now()
	body := []byte(`{"type":"post.created","data":{"text":"hi"}}`)
	sig, err := webhook.Sign(secret, "k1", now, body)
	require.NoError(t, err)

	require.NoError(t, webhook.Verify(secret, headers("k1", now.Unix(), sig), body, time.Minute))
	// The whsec_ prefix is optional when verifying, as in the reference libraries.
	require.NoError(t, webhook.Verify(secret[len("whsec_"):], headers("k1", now.Unix(), sig), body, time.Minute))
}

func TestVerifyRejectsTampering(t *testing.T) {
	secret := "whsec_c2VjcmV0LWtleS1mb3ItdGVzdHMtMzItYnl0ZXMh"
	now := time.Now()
	body := []byte(`{"type":"post.created","data":{"text":"the original"}}`)
	sig, err := webhook.Sign(secret, "k1", now, body)
	require.NoError(t, err)
	ok := headers("k1", now.Unix(), sig)

	for _, tc := range []struct {
		name    string
		secret  string
		headers http.Header
		body    []byte
		want    error
	}{
		{"changed body", secret, ok, []byte(`{"type":"post.created","data":{"text":"a forgery"}}`), webhook.ErrSignature},
		{"changed id", secret, headers("k2", now.Unix(), sig), body, webhook.ErrSignature},
		{"changed timestamp", secret, headers("k1", now.Unix()-1, sig), body, webhook.ErrSignature},
		{"replayed later", secret, headers("k1", now.Add(-10*time.Minute).Unix(), sig), body, webhook.ErrTimestamp},
		{"from the future", secret, headers("k1", now.Add(10*time.Minute).Unix(), sig), body, webhook.ErrTimestamp},
		{"wrong secret", "whsec_b3RoZXItc2VjcmV0LWtleS1mb3ItdGVzdHMtMzI=", ok, body, webhook.ErrSignature},
		{"not a secret", "whsec_!!!", ok, body, webhook.ErrInvalidSecret},
		{"no signature", secret, headers("k1", now.Unix(), ""), body, webhook.ErrMissingHeaders},
		{"asymmetric scheme only", secret, headers("k1", now.Unix(), "v1a,"+sig[3:]), body, webhook.ErrSignature},
		{"garbage signature", secret, headers("k1", now.Unix(), "v1,not-base64!"), body, webhook.ErrSignature},
	} {
		t.Run(tc.name, func(t *testing.T) {
			require.ErrorIs(t, webhook.Verify(tc.secret, tc.headers, tc.body, 0), tc.want)
		})
	}
}

func TestVerifyAcceptsAnyOfSeveralSignatures(t *testing.T) {
	// During a secret rotation the sender signs with both keys.
	oldSecret := "whsec_b2xkLXNlY3JldC1rZXktZm9yLXJvdGF0aW9uLTMyYg=="
	newSecret := "whsec_bmV3LXNlY3JldC1rZXktZm9yLXJvdGF0aW9uLTMyYg=="
	now := time.Now()
	body := []byte(`{}`)
	a, err := webhook.Sign(oldSecret, "k1", now, body)
	require.NoError(t, err)
	b, err := webhook.Sign(newSecret, "k1", now, body)
	require.NoError(t, err)

	require.NoError(t, webhook.Verify(newSecret, headers("k1", now.Unix(), a+" "+b), body, 0))
	require.NoError(t, webhook.Verify(oldSecret, headers("k1", now.Unix(), a+" "+b), body, 0))
}

func TestSignRefusesAmbiguousIDs(t *testing.T) {
	_, err := webhook.Sign(vectorSecret, "a.b", time.Now(), nil)
	require.Error(t, err)
	_, err = webhook.Sign(vectorSecret, "", time.Now(), nil)
	require.Error(t, err)
}
