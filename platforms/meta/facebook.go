package meta

import (
	"context"
	"fmt"
	"net/http"
	"net/url"
	"path"
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

// MaxFacebookPhotos bounds the photos of one multi-photo Page post. The
// Graph documents no hard limit for attached_media; ten keeps a post within
// what the Page composer shows and bounds the unpublished uploads.
const MaxFacebookPhotos = 10

// Publish posts a message on the Page's feed, or comments as the Page when
// p.InReplyTo names a post or a comment (a comment on a comment is a
// reply). With p.Media it posts photos, which Facebook fetches from their
// URLs: one photo goes to /{page-id}/photos with the text as its caption;
// several are uploaded unpublished and attached to one /feed post by
// attached_media. A comment may carry one photo (attachment_url). Alt
// text is not sent: the photo upload documents no parameter for it. The
// Graph takes no idempotency key: after an unknown outcome the caller
// reads the feed back (see Recent) before posting again.
func (f *Facebook) Publish(ctx context.Context, acct platforms.Account, p platforms.Post) (platforms.Published, error) {
	page, err := f.page(acct)
	if err != nil {
		return platforms.Published{}, err
	}
	if strings.TrimSpace(p.Text) == "" && len(p.Media) == 0 {
		return platforms.Published{}, fbPermanent("the post has no text")
	}
	if n := utf8.RuneCountInString(p.Text); n > MaxFacebookMessage {
		return platforms.Published{}, fbPermanent(fmt.Sprintf("the post is %d characters, over Facebook's limit of %d", n, MaxFacebookMessage))
	}
	if err := checkFacebookMedia(p); err != nil {
		return platforms.Published{}, err
	}
	a, token := f.api(), pageToken(acct)
	if len(p.Media) > 0 && p.InReplyTo == "" {
		return f.publishPhotos(ctx, a, acct, token, page, p)
	}
	path, what := "/"+url.PathEscape(page)+"/feed", "publish to page "+page
	params := url.Values{"message": {p.Text}}
	if p.InReplyTo != "" {
		path, what = "/"+url.PathEscape(p.InReplyTo)+"/comments", "comment on "+p.InReplyTo
		if len(p.Media) == 1 {
			params.Set("attachment_url", p.Media[0].URL)
		}
	}
	var out struct {
		ID string `json:"id"`
	}
	if err := a.do(ctx, acct, token, http.MethodPost, path, params, &out); err != nil {
		return platforms.Published{}, fmt.Errorf("%s: %w", what, err)
	}
	if out.ID == "" {
		return platforms.Published{}, fmt.Errorf("%s: %w", what,
			&platforms.Error{Platform: FacebookPlatform, Kind: platforms.Transient, Msg: "the response named no post"})
	}
	return platforms.Published{ID: out.ID, URL: "https://www.facebook.com/" + out.ID, At: a.now().UTC()}, nil
}

func fbPermanent(msg string) *platforms.Error {
	return &platforms.Error{Platform: FacebookPlatform, Kind: platforms.Permanent, Msg: msg}
}

// checkFacebookMedia refuses, before any call, what the connector cannot
// post: videos (the Page video upload is another flow), too many photos,
// and more than one photo on a comment.
func checkFacebookMedia(p platforms.Post) error {
	for _, m := range p.Media {
		if strings.TrimSpace(m.URL) == "" {
			return fbPermanent("an attachment has no URL")
		}
		if isVideoURL(m.URL) {
			return fbPermanent("video attachments are not supported yet on Facebook: " + m.URL)
		}
	}
	if p.InReplyTo != "" && len(p.Media) > 1 {
		return fbPermanent(fmt.Sprintf("a comment can carry one photo, not %d", len(p.Media)))
	}
	if len(p.Media) > MaxFacebookPhotos {
		return fbPermanent(fmt.Sprintf("the post has %d photos, over the limit of %d", len(p.Media), MaxFacebookPhotos))
	}
	return nil
}

// publishPhotos posts one photo with its caption, or several unpublished
// photos attached to one feed post.
func (f *Facebook) publishPhotos(ctx context.Context, a api, acct platforms.Account, token, page string, p platforms.Post) (platforms.Published, error) {
	photos := "/" + url.PathEscape(page) + "/photos"
	if len(p.Media) == 1 {
		var out struct {
			ID     string `json:"id"`
			PostID string `json:"post_id"`
		}
		params := url.Values{"url": {p.Media[0].URL}}
		if p.Text != "" {
			params.Set("caption", p.Text)
		}
		if err := a.do(ctx, acct, token, http.MethodPost, photos, params, &out); err != nil {
			return platforms.Published{}, fmt.Errorf("publish photo to page %s: %w", page, err)
		}
		id := out.PostID
		if id == "" {
			id = out.ID
		}
		if id == "" {
			return platforms.Published{}, fmt.Errorf("publish photo to page %s: %w", page,
				&platforms.Error{Platform: FacebookPlatform, Kind: platforms.Transient, Msg: "the response named no post"})
		}
		return platforms.Published{ID: id, URL: "https://www.facebook.com/" + id, At: a.now().UTC()}, nil
	}
	params := url.Values{}
	if p.Text != "" {
		params.Set("message", p.Text)
	}
	for i, m := range p.Media {
		var out struct {
			ID string `json:"id"`
		}
		up := url.Values{"url": {m.URL}, "published": {"false"}}
		if err := a.do(ctx, acct, token, http.MethodPost, photos, up, &out); err != nil {
			return platforms.Published{}, fmt.Errorf("upload photo %d of %d to page %s: %w", i+1, len(p.Media), page, err)
		}
		if out.ID == "" {
			return platforms.Published{}, fmt.Errorf("upload photo %d of %d to page %s: %w", i+1, len(p.Media), page,
				&platforms.Error{Platform: FacebookPlatform, Kind: platforms.Transient, Msg: "the response named no photo"})
		}
		params.Set(fmt.Sprintf("attached_media[%d]", i), `{"media_fbid":"`+out.ID+`"}`)
	}
	var out struct {
		ID string `json:"id"`
	}
	if err := a.do(ctx, acct, token, http.MethodPost, "/"+url.PathEscape(page)+"/feed", params, &out); err != nil {
		return platforms.Published{}, fmt.Errorf("publish to page %s: %w", page, err)
	}
	if out.ID == "" {
		return platforms.Published{}, fmt.Errorf("publish to page %s: %w", page,
			&platforms.Error{Platform: FacebookPlatform, Kind: platforms.Transient, Msg: "the response named no post"})
	}
	return platforms.Published{ID: out.ID, URL: "https://www.facebook.com/" + out.ID, At: a.now().UTC()}, nil
}

// isVideoURL tells a video attachment by its URL's extension.
func isVideoURL(raw string) bool {
	u, err := url.Parse(raw)
	if err != nil {
		return false
	}
	ext := strings.ToLower(path.Ext(u.Path))
	return ext == ".mp4" || ext == ".mov"
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
	return f.api().remove(ctx, acct, pageToken(acct), postID)
}

// AccountInfo checks the Page token by reading the Page.
func (f *Facebook) AccountInfo(ctx context.Context, acct platforms.Account) (platforms.AccountInfo, error) {
	page, err := f.page(acct)
	if err != nil {
		return platforms.AccountInfo{}, err
	}
	out, err := f.api().profile(ctx, acct, pageToken(acct), page, "page")
	if err != nil {
		return platforms.AccountInfo{}, err
	}
	handle := out.Username
	if handle == "" {
		handle = out.ID
	}
	return platforms.AccountInfo{ID: out.ID, Handle: handle, DisplayName: out.Name, Followers: out.FollowersCount}, nil
}
