package bluesky

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"maps"
	"net/http"
	"net/url"
	"strings"

	"github.com/cmo-dev/cmo/platforms"
)

// Secret keys a channel carries. The app password and identifier are set
// when the channel is connected; the session keys are written back by the
// connector so that every call does not log in again (createSession is
// limited to 30 per 5 minutes per account).
const (
	keyIdentifier = "identifier"
	keyPassword   = "app_password"
	keyAccess     = "access_jwt"
	keyRefresh    = "refresh_jwt"
	keyDID        = "did"
	keyHandle     = "handle"
)

// session is a legacy (app password) XRPC session.
type session struct {
	access, refresh, did, handle string
}

type sessionOutput struct {
	AccessJwt  string `json:"accessJwt"`
	RefreshJwt string `json:"refreshJwt"`
	Handle     string `json:"handle"`
	DID        string `json:"did"`
}

// conn is one channel's session on its PDS for the duration of a call.
type conn struct {
	c       *Client
	acct    platforms.Account
	service string
	sess    session
}

// connect finds the channel's session: the one stored in its secrets,
// else one this process kept from an earlier call (when secrets could not
// be saved), else a new one from the app password.
func (c *Client) connect(ctx context.Context, acct platforms.Account) (*conn, error) {
	service, err := serviceOf(acct)
	if err != nil {
		return nil, err
	}
	k := &conn{c: c, acct: acct, service: service}
	if s := acct.Secrets; s[keyAccess] != "" && s[keyDID] != "" {
		k.sess = session{access: s[keyAccess], refresh: s[keyRefresh], did: s[keyDID], handle: s[keyHandle]}
		return k, nil
	}
	if s, ok := c.remembered(k.cacheKey()); ok {
		k.sess = s
		return k, nil
	}
	if err := k.login(ctx); err != nil {
		return nil, err
	}
	return k, nil
}

// call calls an authenticated XRPC method. When the PDS refuses the
// access token it renews the session (refreshSession, then createSession
// with the app password) and tries once more; only when that fails does
// the caller see an Auth error. The first attempt was refused, not
// performed, so repeating it cannot duplicate a write.
func (k *conn) call(ctx context.Context, method, nsid string, q url.Values, in, out any) error {
	err := k.c.xrpc(ctx, k.service, method, nsid, q, in, k.sess.access, out)
	if rejected(err) {
		if rerr := k.renew(ctx); rerr != nil {
			return rerr
		}
		err = k.c.xrpc(ctx, k.service, method, nsid, q, in, k.sess.access, out)
	}
	return k.c.classify(err)
}

// renew replaces a refused session.
func (k *conn) renew(ctx context.Context) error {
	if k.sess.refresh != "" {
		var out sessionOutput
		err := k.c.xrpc(ctx, k.service, http.MethodPost, "com.atproto.server.refreshSession", nil, nil, k.sess.refresh, &out)
		if err == nil && out.AccessJwt != "" {
			k.adopt(ctx, out)
			return nil
		}
		var ae *apiError
		if err != nil && (!errors.As(err, &ae) || (!ae.sessionRejected() && ae.status != http.StatusBadRequest)) {
			// The PDS is down or limiting us: the refresh token may be
			// fine, and logging in would only spend a createSession.
			return k.c.classify(err)
		}
	}
	return k.login(ctx)
}

// login creates a session from the app password.
func (k *conn) login(ctx context.Context) error {
	id, pw := k.identifier(), k.acct.Secrets[keyPassword]
	if id == "" || pw == "" {
		return &platforms.Error{Platform: Platform, Kind: platforms.Auth, Msg: "no usable session and no identifier and app password to log in with"}
	}
	var out sessionOutput
	err := k.c.xrpc(ctx, k.service, http.MethodPost, "com.atproto.server.createSession", nil,
		map[string]string{"identifier": id, "password": pw}, "", &out)
	if err != nil {
		var ae *apiError
		if errors.As(err, &ae) && ae.status == http.StatusBadRequest {
			// A refused login (bad identifier, takedown, second factor
			// required) needs a person, whatever the error name.
			return &platforms.Error{Platform: Platform, Kind: platforms.Auth, Status: ae.status, Msg: "log in: " + ae.describe()}
		}
		return k.c.classify(err)
	}
	if out.AccessJwt == "" || out.DID == "" {
		return &platforms.Error{Platform: Platform, Kind: platforms.Transient, Msg: "createSession returned no session"}
	}
	k.adopt(ctx, out)
	return nil
}

// adopt makes a new session current and stores it for the next calls.
// Failing to store it is logged, not returned: the post or read at hand
// can go on, and a later call that finds the stored session stale
// renews it again.
func (k *conn) adopt(ctx context.Context, out sessionOutput) {
	k.sess = session{access: out.AccessJwt, refresh: out.RefreshJwt, did: out.DID, handle: out.Handle}
	k.c.remember(k.cacheKey(), k.sess)
	if k.acct.SaveSecrets == nil {
		return
	}
	// SaveSecrets replaces the channel's secrets: keep the app password.
	secrets := maps.Clone(k.acct.Secrets)
	if secrets == nil {
		secrets = map[string]string{}
	}
	secrets[keyAccess] = k.sess.access
	secrets[keyRefresh] = k.sess.refresh
	secrets[keyDID] = k.sess.did
	if k.sess.handle != "" {
		secrets[keyHandle] = k.sess.handle
	}
	if err := k.acct.SaveSecrets(ctx, secrets); err != nil {
		k.c.logger().Warn("store renewed bluesky session", "channel", k.acct.ChannelID, "error", err)
	}
}

// identifier is what the channel logs in with: an explicit identifier
// (a handle or an email address) or its handle.
func (k *conn) identifier() string {
	if id := k.acct.Secrets[keyIdentifier]; id != "" {
		return id
	}
	return strings.TrimPrefix(k.acct.Handle, "@")
}

// cacheKey names the channel's session in memory without holding the
// password as a key.
func (k *conn) cacheKey() string {
	sum := sha256.Sum256([]byte(k.service + "\x00" + k.acct.ChannelID + "\x00" + k.identifier()))
	return hex.EncodeToString(sum[:])
}

func (c *Client) remembered(key string) (session, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	s, ok := c.sessions[key]
	return s, ok
}

func (c *Client) remember(key string, s session) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.sessions == nil {
		c.sessions = map[string]session{}
	}
	c.sessions[key] = s
}
