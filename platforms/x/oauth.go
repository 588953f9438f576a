package x

import (
	"context"
	"crypto/sha256"
	"encoding/json"
	"fmt"
	"io"
	"maps"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"time"

	"github.com/cmo-dev/cmo/platforms"
)

// tokens is what the token endpoint hands out.
type tokens struct {
	Access    string `json:"access_token"`
	Refresh   string `json:"refresh_token"`
	ExpiresIn int64  `json:"expires_in"`
}

// tokenCache remembers, per channel, the tokens a refresh produced and
// which refresh token it spent. X refresh tokens are single-use: once one
// is exchanged, presenting it again fails. Callers keep using the Account
// they were given (an activity reads the channel back, then publishes,
// with the same secrets), and concurrent calls on one channel can all see
// the same expired token; without this memory the second refresh would
// spend a dead token and disconnect the channel.
type tokenCache struct {
	mu    sync.Mutex
	locks map[string]*sync.Mutex
	spent map[string]spentToken
}

type spentToken struct {
	from [32]byte // SHA-256 of the refresh token exchanged
	got  tokens
}

func (tc *tokenCache) channelLock(channel string) *sync.Mutex {
	tc.mu.Lock()
	defer tc.mu.Unlock()
	if tc.locks == nil {
		tc.locks = map[string]*sync.Mutex{}
	}
	l, ok := tc.locks[channel]
	if !ok {
		l = &sync.Mutex{}
		tc.locks[channel] = l
	}
	return l
}

// renewed returns the tokens that replaced refreshToken, if this process
// exchanged it.
func (tc *tokenCache) renewed(channel, refreshToken string) (tokens, bool) {
	if refreshToken == "" {
		return tokens{}, false
	}
	tc.mu.Lock()
	defer tc.mu.Unlock()
	s, ok := tc.spent[channel]
	if !ok || s.from != sha256.Sum256([]byte(refreshToken)) {
		return tokens{}, false
	}
	return s.got, true
}

func (tc *tokenCache) remember(channel, refreshToken string, got tokens) {
	tc.mu.Lock()
	defer tc.mu.Unlock()
	if tc.spent == nil {
		tc.spent = map[string]spentToken{}
	}
	tc.spent[channel] = spentToken{from: sha256.Sum256([]byte(refreshToken)), got: got}
}

// accessToken is the channel's token, or the one that replaced it when
// this process already renewed it.
func (c *Client) accessToken(acct platforms.Account) string {
	if t, ok := c.tokens.renewed(acct.ChannelID, acct.Secrets["refresh_token"]); ok {
		return t.Access
	}
	return acct.Secrets["access_token"]
}

func (c *Client) appCredentials(acct platforms.Account) (id, secret string) {
	if id := acct.Secrets["client_id"]; id != "" {
		return id, acct.Secrets["client_secret"]
	}
	return c.ClientID, c.ClientSecret
}

// refresh renews the channel's access token after X refused failed, saves
// the new tokens through acct.SaveSecrets and returns the new access token.
// A refused refresh is an Auth error: only the account owner can fix it by
// connecting the channel again.
func (c *Client) refresh(ctx context.Context, acct platforms.Account, failed string) (string, error) {
	presented := acct.Secrets["refresh_token"]
	clientID, clientSecret := c.appCredentials(acct)
	if presented == "" || clientID == "" {
		return "", &platforms.Error{Platform: Platform, Kind: platforms.Auth, Status: http.StatusUnauthorized,
			Msg: "X refused the access token and there is no refresh token and client id to renew it"}
	}
	l := c.tokens.channelLock(acct.ChannelID)
	l.Lock()
	defer l.Unlock()

	spend := presented
	if t, ok := c.tokens.renewed(acct.ChannelID, presented); ok {
		if t.Access != failed {
			// Another call renewed the token while this one waited.
			return t.Access, nil
		}
		// The renewed token was refused too: carry on from the newest
		// refresh token, not the spent one.
		spend = t.Refresh
	}
	got, err := c.grant(ctx, acct, spend, clientID, clientSecret)
	if err != nil {
		return "", err
	}
	if got.Refresh == "" {
		got.Refresh = spend
	}
	// Remember before saving: the old refresh token is spent either way.
	c.tokens.remember(acct.ChannelID, presented, got)

	secrets := maps.Clone(acct.Secrets)
	secrets["access_token"] = got.Access
	secrets["refresh_token"] = got.Refresh
	if got.ExpiresIn > 0 {
		secrets["expires_at"] = c.now().Add(time.Duration(got.ExpiresIn) * time.Second).UTC().Format(time.RFC3339)
	}
	if acct.SaveSecrets != nil {
		if err := acct.SaveSecrets(ctx, secrets); err != nil {
			// Retrying is safe: the renewed tokens are remembered, and
			// the next attempt saves them without spending anything.
			return "", fmt.Errorf("save renewed X token: %w", err)
		}
	}
	return got.Access, nil
}

// grant exchanges a refresh token at POST /2/oauth2/token. A confidential
// client authenticates with HTTP Basic; a public one only names itself.
func (c *Client) grant(ctx context.Context, acct platforms.Account, refreshToken, clientID, clientSecret string) (tokens, error) {
	form := url.Values{
		"grant_type":    {"refresh_token"},
		"refresh_token": {refreshToken},
		"client_id":     {clientID},
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, baseURL(acct)+"/2/oauth2/token", strings.NewReader(form.Encode()))
	if err != nil {
		return tokens{}, err
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("Accept", "application/json")
	if clientSecret != "" {
		req.SetBasicAuth(clientID, clientSecret)
	}
	resp, err := c.HTTP.Do(req)
	if err != nil {
		return tokens{}, noResponse(err)
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(io.LimitReader(resp.Body, maxBody))
	if err != nil {
		return tokens{}, noResponse(err)
	}
	switch s := resp.StatusCode; {
	case s/100 == 2:
		var got tokens
		if err := json.Unmarshal(raw, &got); err != nil || got.Access == "" {
			return tokens{}, &platforms.Error{Platform: Platform, Kind: platforms.Transient, Status: s, Msg: "the token endpoint returned no access token"}
		}
		return got, nil
	case s == http.StatusTooManyRequests:
		return tokens{}, &platforms.Error{Platform: Platform, Kind: platforms.RateLimited, Status: s,
			Msg: "renewing the access token was rate limited", RetryAfter: rateLimitWait(resp.Header, c.now())}
	case s >= 500:
		// X is down, the refresh token may well be fine: retry, do not
		// send the brand to reconnect the channel.
		return tokens{}, &platforms.Error{Platform: Platform, Kind: platforms.Transient, Status: s, Msg: "the token endpoint failed"}
	}
	var e struct {
		Error       string `json:"error"`
		Description string `json:"error_description"`
	}
	_ = json.Unmarshal(raw, &e)
	msg := "X refused to renew the access token"
	if e.Error != "" {
		msg += " (" + e.Error + ")"
	}
	if e.Description != "" {
		msg += ": " + e.Description
	}
	return tokens{}, &platforms.Error{Platform: Platform, Kind: platforms.Auth, Status: resp.StatusCode, Msg: msg}
}
