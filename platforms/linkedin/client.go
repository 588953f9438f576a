// Package linkedin publishes to a LinkedIn organization page through the
// versioned Marketing API: the Posts API for posts, socialActions for
// comments and reactions, organizationalEntityShareStatistics for reach.
package linkedin

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"sort"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/cmo-dev/cmo/platforms"
)

// Platform is LinkedIn's platform name.
const Platform = "linkedin"

const (
	// DefaultBaseURL is the API host; a channel's Config["base_url"]
	// replaces it (tests point it at a local server).
	DefaultBaseURL = "https://api.linkedin.com"
	// DefaultTokenURL renews access tokens; Config["token_url"] replaces it.
	DefaultTokenURL = "https://www.linkedin.com/oauth/v2/accessToken"
	// Version is the Marketing API version sent as LinkedIn-Version
	// (YYYYMM). LinkedIn supports a version for about a year and then
	// answers 426, so it is bumped with each release of cmo.
	Version = "202605"
	// MaxCommentary is how many characters a post's text may have.
	MaxCommentary = 3000
)

// Client is the LinkedIn connector for organization pages. A channel
// brings, in its Account:
//
//   - Config["organization"]: the page, "urn:li:organization:123" or "123";
//   - Secrets["access_token"]: a member token with w_organization_social
//     (and r_organization_social, rw_organization_admin for reading);
//   - Secrets["refresh_token"]: only apps approved for programmatic
//     refresh tokens get one; without it an expired token means
//     reconnecting the channel;
//   - Secrets["client_id"], Secrets["client_secret"]: optional, for a
//     channel connected through its own LinkedIn app.
type Client struct {
	HTTP *http.Client
	// ClientID and ClientSecret are the LinkedIn app's credentials, which
	// the refresh_token grant requires.
	ClientID     string
	ClientSecret string
	// Version overrides the LinkedIn-Version header; empty means Version.
	Version string
	// Now is the clock, for tests; nil means time.Now.
	Now func() time.Time
}

var _ platforms.Connector = (*Client)(nil)

// New returns a LinkedIn connector using hc (nil: a 30 s timeout) and the
// app credentials that renew tokens.
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

func (c *Client) version() string {
	if c.Version != "" {
		return c.Version
	}
	return Version
}

type postRequest struct {
	Author                    string       `json:"author"`
	Commentary                string       `json:"commentary"`
	Visibility                string       `json:"visibility"`
	Distribution              distribution `json:"distribution"`
	LifecycleState            string       `json:"lifecycleState"`
	IsReshareDisabledByAuthor bool         `json:"isReshareDisabledByAuthor"`
	Content                   *postContent `json:"content,omitempty"`
}

type distribution struct {
	FeedDistribution               string `json:"feedDistribution"`
	TargetEntities                 []any  `json:"targetEntities"`
	ThirdPartyDistributionChannels []any  `json:"thirdPartyDistributionChannels"`
}

// Publish posts text on the organization's page, or comments as the
// organization when p.InReplyTo names a post or a comment. Images in
// p.Media are uploaded through the Images API and attached (one as media,
// 2 to 20 as multiImage). LinkedIn takes
// no idempotency key: after an unknown outcome the caller reads the page
// back (see Recent) before posting again.
func (c *Client) Publish(ctx context.Context, acct platforms.Account, p platforms.Post) (platforms.Published, error) {
	org, err := organization(acct)
	if err != nil {
		return platforms.Published{}, err
	}
	if strings.TrimSpace(p.Text) == "" {
		return platforms.Published{}, permanent("the post has no text")
	}
	if n := utf8.RuneCountInString(p.Text); n > MaxCommentary {
		return platforms.Published{}, permanent(fmt.Sprintf("the post is %d characters, over LinkedIn's limit of %d", n, MaxCommentary))
	}
	if err := checkMedia(p); err != nil {
		return platforms.Published{}, err
	}
	if p.InReplyTo != "" {
		return c.comment(ctx, acct, org, p)
	}
	var content *postContent
	if len(p.Media) > 0 {
		if content, err = c.uploadImages(ctx, acct, org, p.Media); err != nil {
			return platforms.Published{}, fmt.Errorf("publish to %s: %w", org, err)
		}
	}
	req := postRequest{
		Content:    content,
		Author:     org,
		Commentary: escapeLittle(p.Text),
		Visibility: "PUBLIC",
		Distribution: distribution{
			FeedDistribution: "MAIN_FEED", TargetEntities: []any{}, ThirdPartyDistributionChannels: []any{},
		},
		LifecycleState: "PUBLISHED",
	}
	h, err := c.call(ctx, acct, http.MethodPost, "/rest/posts", "", req, nil, nil)
	if err != nil {
		return platforms.Published{}, fmt.Errorf("publish to %s: %w", org, err)
	}
	// The Posts API answers 201 with an empty body and the new post's URN
	// in x-restli-id.
	id := h.Get("x-restli-id")
	if id == "" {
		return platforms.Published{}, fmt.Errorf("publish to %s: %w", org,
			&platforms.Error{Platform: Platform, Kind: platforms.Transient, Msg: "the response named no post (no x-restli-id header)"})
	}
	return platforms.Published{ID: id, URL: postURL(id), At: c.now().UTC()}, nil
}

type commentRequest struct {
	Actor         string         `json:"actor"`
	Object        string         `json:"object"`
	ParentComment string         `json:"parentComment,omitempty"`
	Message       commentMessage `json:"message"`
}

type commentMessage struct {
	Text string `json:"text"`
}

// comment replies as the organization: to a post through
// socialActions/{post}/comments, to a comment through
// socialActions/{comment}/comments with the comment as parent.
func (c *Client) comment(ctx context.Context, acct platforms.Account, org string, p platforms.Post) (platforms.Published, error) {
	req := commentRequest{Actor: org, Object: p.InReplyTo, Message: commentMessage{Text: p.Text}}
	if parent, _, ok := splitComment(p.InReplyTo); ok {
		req.Object, req.ParentComment = parent, p.InReplyTo
	}
	var out struct {
		ID  string `json:"id"`
		URN string `json:"$URN"`
	}
	h, err := c.call(ctx, acct, http.MethodPost, "/rest/socialActions/"+key(p.InReplyTo)+"/comments", "", req, &out, nil)
	if err != nil {
		return platforms.Published{}, fmt.Errorf("comment on %s: %w", p.InReplyTo, err)
	}
	id := out.URN
	if id == "" {
		if hid := h.Get("x-restli-id"); strings.HasPrefix(hid, "urn:li:comment:") {
			id = hid
		} else if cid := firstNonEmpty(out.ID, hid); cid != "" {
			id = "urn:li:comment:(" + req.Object + "," + cid + ")"
		}
	}
	if id == "" {
		return platforms.Published{}, fmt.Errorf("comment on %s: %w", p.InReplyTo,
			&platforms.Error{Platform: Platform, Kind: platforms.Transient, Msg: "the response named no comment"})
	}
	return platforms.Published{ID: id, URL: postURL(req.Object), At: c.now().UTC()}, nil
}

type post struct {
	ID             string `json:"id"`
	Commentary     string `json:"commentary"`
	CreatedAt      int64  `json:"createdAt"`
	PublishedAt    int64  `json:"publishedAt"`
	LifecycleState string `json:"lifecycleState"`
}

func (p post) at() time.Time {
	if p.PublishedAt > 0 {
		return time.UnixMilli(p.PublishedAt).UTC()
	}
	return time.UnixMilli(p.CreatedAt).UTC()
}

// Recent lists the organization's latest posts, newest first, through the
// Posts API finder by author. Their text is given back as it was posted,
// without the escaping LinkedIn's little text format requires.
func (c *Client) Recent(ctx context.Context, acct platforms.Account, limit int) ([]platforms.Remote, error) {
	org, err := organization(acct)
	if err != nil {
		return nil, err
	}
	q := url.Values{
		"q":      {"author"},
		"author": {org},
		"count":  {strconv.Itoa(min(max(limit, 1), 100))},
		"sortBy": {"LAST_MODIFIED"},
	}
	var out struct {
		Elements []post `json:"elements"`
	}
	if _, err := c.call(ctx, acct, http.MethodGet, "/rest/posts", q.Encode(), nil, &out, map[string]string{"X-RestLi-Method": "FINDER"}); err != nil {
		return nil, fmt.Errorf("read back %s: %w", org, err)
	}
	sort.SliceStable(out.Elements, func(i, j int) bool { return out.Elements[i].at().After(out.Elements[j].at()) })
	if limit > 0 && len(out.Elements) > limit {
		out.Elements = out.Elements[:limit]
	}
	res := make([]platforms.Remote, len(out.Elements))
	for i, p := range out.Elements {
		res[i] = platforms.Remote{ID: p.ID, URL: postURL(p.ID), Text: unescapeLittle(p.Commentary), At: p.at()}
	}
	return res, nil
}

type shareStatistics struct {
	ImpressionCount int64 `json:"impressionCount"`
	LikeCount       int64 `json:"likeCount"`
	CommentCount    int64 `json:"commentCount"`
	ShareCount      int64 `json:"shareCount"`
	ClickCount      int64 `json:"clickCount"`
}

// Metrics reads a post's organic statistics. LinkedIn keeps share
// statistics for a rolling 12 months; for an older post (or one it has no
// statistics for yet) the likes and comments still come from socialActions.
func (c *Client) Metrics(ctx context.Context, acct platforms.Account, postID string) (platforms.Metrics, error) {
	org, err := organization(acct)
	if err != nil {
		return platforms.Metrics{}, err
	}
	param := "shares"
	if strings.HasPrefix(postID, "urn:li:ugcPost:") {
		param = "ugcPosts"
	}
	// Rest.li 2.0 lists are written List(a,b) with each element encoded
	// but the parentheses literal, so this query is built by hand.
	q := "q=organizationalEntity&organizationalEntity=" + url.QueryEscape(org) + "&" + param + "=List(" + url.QueryEscape(postID) + ")"
	var out struct {
		Elements []struct {
			TotalShareStatistics shareStatistics `json:"totalShareStatistics"`
		} `json:"elements"`
	}
	if _, err := c.call(ctx, acct, http.MethodGet, "/rest/organizationalEntityShareStatistics", q, nil, &out, nil); err != nil {
		return platforms.Metrics{}, fmt.Errorf("metrics of %s: %w", postID, err)
	}
	m := platforms.Metrics{At: c.now().UTC()}
	if len(out.Elements) > 0 {
		s := out.Elements[0].TotalShareStatistics
		m.Impressions, m.Likes, m.Replies, m.Reposts, m.Clicks = s.ImpressionCount, s.LikeCount, s.CommentCount, s.ShareCount, s.ClickCount
		return m, nil
	}
	var sa struct {
		LikesSummary struct {
			TotalLikes int64 `json:"totalLikes"`
		} `json:"likesSummary"`
		CommentsSummary struct {
			AggregatedTotalComments int64 `json:"aggregatedTotalComments"`
		} `json:"commentsSummary"`
	}
	if _, err := c.call(ctx, acct, http.MethodGet, "/rest/socialActions/"+key(postID), "", nil, &sa, nil); err != nil {
		return platforms.Metrics{}, fmt.Errorf("metrics of %s: %w", postID, err)
	}
	m.Likes, m.Replies = sa.LikesSummary.TotalLikes, sa.CommentsSummary.AggregatedTotalComments
	return m, nil
}

// Delete removes a post or one of the organization's comments; one already
// gone counts as deleted.
func (c *Client) Delete(ctx context.Context, acct platforms.Account, postID string) error {
	var err error
	if parent, commentID, ok := splitComment(postID); ok {
		org, oerr := organization(acct)
		if oerr != nil {
			return oerr
		}
		_, err = c.call(ctx, acct, http.MethodDelete, "/rest/socialActions/"+key(parent)+"/comments/"+url.PathEscape(commentID),
			"actor="+url.QueryEscape(org), nil, nil, nil)
	} else {
		_, err = c.call(ctx, acct, http.MethodDelete, "/rest/posts/"+key(postID), "", nil, nil, map[string]string{"X-RestLi-Method": "DELETE"})
	}
	var pe *platforms.Error
	if errors.As(err, &pe) && (pe.Status == http.StatusNotFound || pe.Status == http.StatusGone) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("delete %s: %w", postID, err)
	}
	return nil
}

// AccountInfo checks the token by reading the organization and its
// follower count.
func (c *Client) AccountInfo(ctx context.Context, acct platforms.Account) (platforms.AccountInfo, error) {
	org, err := organization(acct)
	if err != nil {
		return platforms.AccountInfo{}, err
	}
	id := strings.TrimPrefix(org, orgPrefix)
	var o struct {
		ID            int64  `json:"id"`
		LocalizedName string `json:"localizedName"`
		VanityName    string `json:"vanityName"`
	}
	if _, err := c.call(ctx, acct, http.MethodGet, "/rest/organizations/"+url.PathEscape(id), "", nil, &o, nil); err != nil {
		return platforms.AccountInfo{}, fmt.Errorf("verify credentials of %s: %w", org, err)
	}
	var size struct {
		FirstDegreeSize int64 `json:"firstDegreeSize"`
	}
	if _, err := c.call(ctx, acct, http.MethodGet, "/rest/networkSizes/"+key(org), "edgeType=COMPANY_FOLLOWED_BY_MEMBER", nil, &size, nil); err != nil {
		return platforms.AccountInfo{}, fmt.Errorf("follower count of %s: %w", org, err)
	}
	return platforms.AccountInfo{ID: org, Handle: o.VanityName, DisplayName: o.LocalizedName, Followers: size.FirstDegreeSize}, nil
}

const orgPrefix = "urn:li:organization:"

// organization is the channel's page as a URN, accepting the bare id too.
func organization(acct platforms.Account) (string, error) {
	v := strings.TrimSpace(acct.Config["organization"])
	id := strings.TrimPrefix(v, orgPrefix)
	if _, err := strconv.ParseUint(id, 10, 64); err != nil || id == "" {
		return "", permanent(fmt.Sprintf("channel %s needs config.organization set to the page's URN, like urn:li:organization:123 (got %q)", acct.ChannelID, v))
	}
	return orgPrefix + id, nil
}

// key writes a URN as a Rest.li resource key: fully percent-encoded, colons
// and parentheses included.
func key(urn string) string { return url.QueryEscape(urn) }

// splitComment reads urn:li:comment:(parent,id).
func splitComment(urn string) (parent, id string, ok bool) {
	inner, found := strings.CutPrefix(urn, "urn:li:comment:(")
	if !found || !strings.HasSuffix(inner, ")") {
		return "", "", false
	}
	inner = strings.TrimSuffix(inner, ")")
	i := strings.LastIndex(inner, ",")
	if i <= 0 || i == len(inner)-1 {
		return "", "", false
	}
	return inner[:i], inner[i+1:], true
}

func postURL(urn string) string {
	return "https://www.linkedin.com/feed/update/" + urn + "/"
}

func firstNonEmpty(ss ...string) string {
	for _, s := range ss {
		if s != "" {
			return s
		}
	}
	return ""
}

func permanent(msg string) *platforms.Error {
	return &platforms.Error{Platform: Platform, Kind: platforms.Permanent, Msg: msg}
}
