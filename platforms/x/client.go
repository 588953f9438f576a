// Package x publishes to X (formerly Twitter) through the X API v2 with an
// OAuth 2.0 user token, renewing the token with its refresh token when X
// says it has expired.
package x

import (
	"context"
	"errors"
	"fmt"
	"html"
	"net/http"
	"net/url"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/cmo-dev/cmo/platforms"
)

// Platform is X's platform name.
const Platform = "x"

// DefaultBaseURL is the X API; a channel's Config["base_url"] replaces it,
// which is how tests point a channel at a local server.
const DefaultBaseURL = "https://api.x.com"

// Client is the X connector. One Client serves every X channel; the
// channel's tokens come with each call in its Account:
//
//   - Secrets["access_token"]: the OAuth 2.0 user access token;
//   - Secrets["refresh_token"]: renews it (granted with offline.access);
//   - Secrets["client_id"], Secrets["client_secret"]: optional, for a
//     channel connected through its own X app instead of cmo's;
//   - Config["user_id"]: optional, saves looking the account up before
//     reading its posts back.
type Client struct {
	HTTP *http.Client
	// ClientID and ClientSecret are the X app's OAuth 2.0 credentials,
	// needed to refresh user tokens. ClientSecret is empty for a public
	// client; a confidential client authenticates with both.
	ClientID     string
	ClientSecret string
	// Now is the clock, for tests; nil means time.Now.
	Now func() time.Time

	tokens tokenCache
}

var _ platforms.Connector = (*Client)(nil)

// New returns an X connector using hc (nil: a client with a 30 s timeout)
// and the app credentials that refresh user tokens.
func New(hc *http.Client, clientID, clientSecret string) *Client {
	if hc == nil {
		hc = &http.Client{Timeout: 30 * time.Second}
	}
	return &Client{HTTP: hc, ClientID: clientID, ClientSecret: clientSecret}
}

func (c *Client) now() time.Time {
	if c.Now != nil {
		return c.Now()
	}
	return time.Now()
}

// tweet is a post as X API v2 returns it.
type tweet struct {
	ID            string         `json:"id"`
	Text          string         `json:"text"`
	CreatedAt     time.Time      `json:"created_at"`
	PublicMetrics *publicMetrics `json:"public_metrics"`
	Entities      *struct {
		URLs []struct {
			URL         string `json:"url"`
			ExpandedURL string `json:"expanded_url"`
		} `json:"urls"`
	} `json:"entities"`
}

type publicMetrics struct {
	RetweetCount    int64 `json:"retweet_count"`
	ReplyCount      int64 `json:"reply_count"`
	LikeCount       int64 `json:"like_count"`
	QuoteCount      int64 `json:"quote_count"`
	ImpressionCount int64 `json:"impression_count"`
}

type createRequest struct {
	Text  string     `json:"text,omitempty"`
	Reply *replySpec `json:"reply,omitempty"`
	Media *mediaSpec `json:"media,omitempty"`
}

type mediaSpec struct {
	MediaIDs []string `json:"media_ids"`
}

type replySpec struct {
	InReplyToTweetID string `json:"in_reply_to_tweet_id"`
}

// Publish posts text, as a reply when p.InReplyTo is set, with p.Media
// uploaded first (up to 4 photos, or one GIF) and attached by media id. X
// has no idempotency key: a retry after an unknown outcome relies on the
// caller reading the timeline back first (see Recent); uploaded media that
// no post uses expire on their own.
func (c *Client) Publish(ctx context.Context, acct platforms.Account, p platforms.Post) (platforms.Published, error) {
	if strings.TrimSpace(p.Text) == "" && len(p.Media) == 0 {
		return platforms.Published{}, permanent("the post has no text")
	}
	if n := WeightedLength(p.Text); n > MaxLength {
		return platforms.Published{}, permanent(fmt.Sprintf(
			"the post is %d characters as X counts them (links count %d, emoji 2), over the limit of %d", n, urlWeight, MaxLength))
	}
	if err := checkMedia(p.Media); err != nil {
		return platforms.Published{}, err
	}
	req := createRequest{Text: p.Text}
	if len(p.Media) > 0 {
		ids, err := c.uploadMedia(ctx, acct, p.Media)
		if err != nil {
			return platforms.Published{}, fmt.Errorf("publish to %s: %w", who(acct), err)
		}
		req.Media = &mediaSpec{MediaIDs: ids}
	}
	if p.InReplyTo != "" {
		req.Reply = &replySpec{InReplyToTweetID: p.InReplyTo}
	}
	var out struct {
		Data tweet `json:"data"`
	}
	if err := c.call(ctx, acct, http.MethodPost, "/2/tweets", nil, req, &out); err != nil {
		return platforms.Published{}, fmt.Errorf("publish to %s: %w", who(acct), err)
	}
	if out.Data.ID == "" {
		// X accepted the request without saying what it created: the
		// outcome is unknown, so retry after reading the timeline back.
		return platforms.Published{}, fmt.Errorf("publish to %s: %w", who(acct),
			&platforms.Error{Platform: Platform, Kind: platforms.Transient, Msg: "the response named no post"})
	}
	return platforms.Published{ID: out.Data.ID, URL: postURL(acct.Handle, out.Data.ID), At: createdAt(out.Data.ID, c.now())}, nil
}

// Recent reads the account's latest posts, newest first. X returns text
// with links replaced by t.co addresses and &, < and > escaped; the text is
// given back as it was posted, so a caller can recognise its own post.
func (c *Client) Recent(ctx context.Context, acct platforms.Account, limit int) ([]platforms.Remote, error) {
	uid, err := c.userID(ctx, acct)
	if err != nil {
		return nil, fmt.Errorf("read back %s: %w", who(acct), err)
	}
	// The endpoint serves 5 to 100 posts a page.
	q := url.Values{
		"max_results":  {strconv.Itoa(min(max(limit, 5), 100))},
		"tweet.fields": {"created_at,entities"},
	}
	var out struct {
		Data []tweet `json:"data"`
	}
	if err := c.call(ctx, acct, http.MethodGet, "/2/users/"+url.PathEscape(uid)+"/tweets", q, nil, &out); err != nil {
		return nil, fmt.Errorf("read back %s: %w", who(acct), err)
	}
	sort.SliceStable(out.Data, func(i, j int) bool { return out.Data[i].CreatedAt.After(out.Data[j].CreatedAt) })
	if limit > 0 && len(out.Data) > limit {
		out.Data = out.Data[:limit]
	}
	res := make([]platforms.Remote, len(out.Data))
	for i, t := range out.Data {
		res[i] = platforms.Remote{ID: t.ID, URL: postURL(acct.Handle, t.ID), Text: postedText(t), At: t.CreatedAt}
	}
	return res, nil
}

// postedText undoes what X does to a post's text on the way out.
func postedText(t tweet) string {
	s := t.Text
	if t.Entities != nil {
		for _, u := range t.Entities.URLs {
			if u.URL != "" && u.ExpandedURL != "" {
				s = strings.Replace(s, u.URL, u.ExpandedURL, 1)
			}
		}
	}
	return html.UnescapeString(s)
}

// Metrics reads a post's public metrics. Link clicks are only in the
// non-public metrics, which X serves for 30 days after posting, so Clicks
// stays zero rather than failing for older posts.
func (c *Client) Metrics(ctx context.Context, acct platforms.Account, postID string) (platforms.Metrics, error) {
	var out struct {
		Data   tweet     `json:"data"`
		Errors []problem `json:"errors"`
	}
	q := url.Values{"tweet.fields": {"public_metrics"}}
	if err := c.call(ctx, acct, http.MethodGet, "/2/tweets/"+url.PathEscape(postID), q, nil, &out); err != nil {
		return platforms.Metrics{}, fmt.Errorf("metrics of %s: %w", postID, err)
	}
	if out.Data.ID == "" {
		// Lookups answer 200 with an errors array for a post that is gone.
		msg := "the post was not found"
		if len(out.Errors) > 0 {
			msg = out.Errors[0].String()
		}
		return platforms.Metrics{}, fmt.Errorf("metrics of %s: %w", postID, permanent(msg))
	}
	m := platforms.Metrics{At: c.now().UTC()}
	if pm := out.Data.PublicMetrics; pm != nil {
		m.Impressions, m.Likes, m.Reposts, m.Replies = pm.ImpressionCount, pm.LikeCount, pm.RetweetCount, pm.ReplyCount
	}
	return m, nil
}

// Delete removes a post; one already gone counts as deleted.
func (c *Client) Delete(ctx context.Context, acct platforms.Account, postID string) error {
	var out struct {
		Data struct {
			Deleted bool `json:"deleted"`
		} `json:"data"`
	}
	err := c.call(ctx, acct, http.MethodDelete, "/2/tweets/"+url.PathEscape(postID), nil, nil, &out)
	var pe *platforms.Error
	if errors.As(err, &pe) && pe.Status == http.StatusNotFound {
		return nil
	}
	if err != nil {
		return fmt.Errorf("delete %s: %w", postID, err)
	}
	return nil
}

type user struct {
	ID            string `json:"id"`
	Name          string `json:"name"`
	Username      string `json:"username"`
	PublicMetrics struct {
		FollowersCount int64 `json:"followers_count"`
	} `json:"public_metrics"`
}

// AccountInfo checks the token by reading the account it belongs to.
func (c *Client) AccountInfo(ctx context.Context, acct platforms.Account) (platforms.AccountInfo, error) {
	u, err := c.me(ctx, acct, "public_metrics")
	if err != nil {
		return platforms.AccountInfo{}, fmt.Errorf("verify credentials of %s: %w", who(acct), err)
	}
	return platforms.AccountInfo{ID: u.ID, Handle: u.Username, DisplayName: u.Name, Followers: u.PublicMetrics.FollowersCount}, nil
}

func (c *Client) me(ctx context.Context, acct platforms.Account, fields string) (user, error) {
	var q url.Values
	if fields != "" {
		q = url.Values{"user.fields": {fields}}
	}
	var out struct {
		Data user `json:"data"`
	}
	if err := c.call(ctx, acct, http.MethodGet, "/2/users/me", q, nil, &out); err != nil {
		return user{}, err
	}
	return out.Data, nil
}

// userID is the account's numeric id, which the timeline endpoint needs.
func (c *Client) userID(ctx context.Context, acct platforms.Account) (string, error) {
	if id := acct.Config["user_id"]; id != "" {
		return id, nil
	}
	u, err := c.me(ctx, acct, "")
	if err != nil {
		return "", err
	}
	if u.ID == "" {
		return "", &platforms.Error{Platform: Platform, Kind: platforms.Transient, Msg: "the account lookup named no user"}
	}
	return u.ID, nil
}

// who names a channel in error messages.
func who(acct platforms.Account) string {
	if acct.Handle != "" {
		return "@" + strings.TrimPrefix(acct.Handle, "@")
	}
	return acct.ChannelID
}

func postURL(handle, id string) string {
	if handle = strings.TrimPrefix(handle, "@"); handle != "" {
		return "https://x.com/" + url.PathEscape(handle) + "/status/" + id
	}
	return "https://x.com/i/web/status/" + id
}

// twitterEpoch is where post ids count time from: ids are snowflakes whose
// upper bits are milliseconds since this instant.
const twitterEpoch = 1288834974657

// createdAt reads a post's creation time from its id, since creating a
// post does not return one; it falls back to now for an id that is not a
// plausible snowflake.
func createdAt(id string, now time.Time) time.Time {
	n, err := strconv.ParseUint(id, 10, 64)
	if err != nil {
		return now.UTC()
	}
	t := time.UnixMilli(int64(n>>22) + twitterEpoch).UTC()
	if n>>22 == 0 || t.After(now.Add(24*time.Hour)) {
		return now.UTC()
	}
	return t
}

func permanent(msg string) *platforms.Error {
	return &platforms.Error{Platform: Platform, Kind: platforms.Permanent, Msg: msg}
}
