package meta

import (
	"context"
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

// FacebookPlatform is the Facebook Page connector's platform name.
const FacebookPlatform = "facebook"

// MaxFacebookMessage is the longest message a Page post may have.
const MaxFacebookMessage = 63206

// Facebook publishes to a Facebook Page's feed. A channel brings, in its
// Account, Config["page_id"] and Secrets["page_access_token"]: a Page token
// with pages_manage_posts and pages_read_engagement (read_insights for
// reach). Page tokens obtained from a long-lived user token do not expire
// and have no refresh grant, so a refused token means reconnecting.
type Facebook struct {
	HTTP *http.Client
	// Version overrides GraphVersion.
	Version string
	// Now is the clock, for tests; nil means time.Now.
	Now func() time.Time
}

var _ platforms.Connector = (*Facebook)(nil)

// NewFacebook returns a Facebook Page connector using hc (nil: a 30 s timeout).
func NewFacebook(hc *http.Client) *Facebook {
	if hc == nil {
		hc = &http.Client{Timeout: 30 * time.Second}
	}
	return &Facebook{HTTP: hc}
}

func (f *Facebook) api() api { return newAPI(f.HTTP, f.Version, FacebookPlatform, f.Now) }

func pageToken(acct platforms.Account) string {
	if t := acct.Secrets["page_access_token"]; t != "" {
		return t
	}
	return acct.Secrets["access_token"]
}

func (f *Facebook) page(acct platforms.Account) (string, error) {
	return configValue(acct, FacebookPlatform, "page_id", "the Page's numeric id")
}

// Publish posts a message on the Page's feed, or comments as the Page when
// p.InReplyTo names a post or a comment (a comment on a comment is a
// reply). The Graph takes no idempotency key: after an unknown outcome the
// caller reads the feed back (see Recent) before posting again.
func (f *Facebook) Publish(ctx context.Context, acct platforms.Account, p platforms.Post) (platforms.Published, error) {
	page, err := f.page(acct)
	if err != nil {
		return platforms.Published{}, err
	}
	if strings.TrimSpace(p.Text) == "" {
		return platforms.Published{}, &platforms.Error{Platform: FacebookPlatform, Kind: platforms.Permanent, Msg: "the post has no text"}
	}
	if n := utf8.RuneCountInString(p.Text); n > MaxFacebookMessage {
		return platforms.Published{}, &platforms.Error{Platform: FacebookPlatform, Kind: platforms.Permanent,
			Msg: fmt.Sprintf("the post is %d characters, over Facebook's limit of %d", n, MaxFacebookMessage)}
	}
	path, what := "/"+url.PathEscape(page)+"/feed", "publish to page "+page
	if p.InReplyTo != "" {
		path, what = "/"+url.PathEscape(p.InReplyTo)+"/comments", "comment on "+p.InReplyTo
	}
	var out struct {
		ID string `json:"id"`
	}
	a := f.api()
	if err := a.do(ctx, acct, pageToken(acct), http.MethodPost, path, url.Values{"message": {p.Text}}, &out); err != nil {
		return platforms.Published{}, fmt.Errorf("%s: %w", what, err)
	}
	if out.ID == "" {
		return platforms.Published{}, fmt.Errorf("%s: %w", what,
			&platforms.Error{Platform: FacebookPlatform, Kind: platforms.Transient, Msg: "the response named no post"})
	}
	return platforms.Published{ID: out.ID, URL: "https://www.facebook.com/" + out.ID, At: a.now().UTC()}, nil
}

type pagePost struct {
	ID           string `json:"id"`
	Message      string `json:"message"`
	CreatedTime  string `json:"created_time"`
	PermalinkURL string `json:"permalink_url"`
}

// Recent reads the Page's feed, newest first.
func (f *Facebook) Recent(ctx context.Context, acct platforms.Account, limit int) ([]platforms.Remote, error) {
	page, err := f.page(acct)
	if err != nil {
		return nil, err
	}
	q := url.Values{
		"fields": {"id,message,created_time,permalink_url"},
		"limit":  {strconv.Itoa(min(max(limit, 1), 100))},
	}
	var out struct {
		Data []pagePost `json:"data"`
	}
	if err := f.api().do(ctx, acct, pageToken(acct), http.MethodGet, "/"+url.PathEscape(page)+"/feed", q, &out); err != nil {
		return nil, fmt.Errorf("read back page %s: %w", page, err)
	}
	res := make([]platforms.Remote, 0, len(out.Data))
	for _, p := range out.Data {
		u := p.PermalinkURL
		if u == "" {
			u = "https://www.facebook.com/" + p.ID
		}
		res = append(res, platforms.Remote{ID: p.ID, URL: u, Text: p.Message, At: graphTime(p.CreatedTime)})
	}
	sort.SliceStable(res, func(i, j int) bool { return res[i].At.After(res[j].At) })
	if limit > 0 && len(res) > limit {
		res = res[:limit]
	}
	return res, nil
}

// facebookInsights are the post metrics read for reach and clicks.
// post_total_media_view_unique is Meta's documented replacement for the
// withdrawn post_impressions_unique.
const facebookInsights = "post_total_media_view_unique,post_clicks"

// Metrics reads a post's reactions, comments and shares, then its
// insights for views and clicks.
func (f *Facebook) Metrics(ctx context.Context, acct platforms.Account, postID string) (platforms.Metrics, error) {
	a := f.api()
	var out struct {
		Shares *struct {
			Count int64 `json:"count"`
		} `json:"shares"`
		Reactions summary `json:"reactions"`
		Comments  summary `json:"comments"`
	}
	q := url.Values{"fields": {"shares,reactions.summary(total_count).limit(0),comments.summary(total_count).limit(0)"}}
	if err := a.do(ctx, acct, pageToken(acct), http.MethodGet, "/"+url.PathEscape(postID), q, &out); err != nil {
		return platforms.Metrics{}, fmt.Errorf("metrics of %s: %w", postID, err)
	}
	m := platforms.Metrics{Likes: out.Reactions.Summary.TotalCount, Replies: out.Comments.Summary.TotalCount, At: a.now().UTC()}
	if out.Shares != nil {
		m.Reposts = out.Shares.Count
	}
	in, err := a.insights(ctx, acct, pageToken(acct), postID, facebookInsights)
	if err != nil {
		return platforms.Metrics{}, fmt.Errorf("insights of %s: %w", postID, err)
	}
	m.Impressions, m.Clicks = in["post_total_media_view_unique"], in["post_clicks"]
	return m, nil
}

type summary struct {
	Summary struct {
		TotalCount int64 `json:"total_count"`
	} `json:"summary"`
}

// Delete removes a post or comment; one already gone counts as deleted.
func (f *Facebook) Delete(ctx context.Context, acct platforms.Account, postID string) error {
	err := f.api().do(ctx, acct, pageToken(acct), http.MethodDelete, "/"+url.PathEscape(postID), nil, nil)
	if err != nil && !isGone(err) {
		return fmt.Errorf("delete %s: %w", postID, err)
	}
	return nil
}

// AccountInfo checks the Page token by reading the Page.
func (f *Facebook) AccountInfo(ctx context.Context, acct platforms.Account) (platforms.AccountInfo, error) {
	page, err := f.page(acct)
	if err != nil {
		return platforms.AccountInfo{}, err
	}
	var out struct {
		ID             string `json:"id"`
		Name           string `json:"name"`
		Username       string `json:"username"`
		FollowersCount int64  `json:"followers_count"`
	}
	q := url.Values{"fields": {"id,name,username,followers_count"}}
	if err := f.api().do(ctx, acct, pageToken(acct), http.MethodGet, "/"+url.PathEscape(page), q, &out); err != nil {
		return platforms.AccountInfo{}, fmt.Errorf("verify credentials of page %s: %w", page, err)
	}
	handle := out.Username
	if handle == "" {
		handle = out.ID
	}
	return platforms.AccountInfo{ID: out.ID, Handle: handle, DisplayName: out.Name, Followers: out.FollowersCount}, nil
}
