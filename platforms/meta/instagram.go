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

// InstagramPlatform is the Instagram connector's platform name.
const InstagramPlatform = "instagram"

const (
	// MaxCaption is the longest caption Instagram accepts.
	MaxCaption = 2200
	// DefaultPublishingQuota is how many posts an account may publish
	// through the API in a moving 24 hours, when the limit endpoint does
	// not say.
	DefaultPublishingQuota = 50
	// QuotaRetryAfter is the wait once the publishing quota is used up.
	// The window moves: a slot frees 24 hours after each post, at a time
	// the API does not tell, so the caller checks back hourly.
	QuotaRetryAfter = time.Hour
)

// Instagram publishes to an Instagram professional account with the
// Content Publishing API. A channel brings, in its Account:
//
//   - Config["ig_user_id"]: the Instagram professional account's id;
//   - Config["default_image_url"]: a public image every post carries,
//     since Instagram has no text-only posts and a cmo post is text;
//   - Secrets["access_token"] (or "page_access_token"): a token with
//     instagram_basic and instagram_content_publish (instagram_manage_insights
//     for metrics).
type Instagram struct {
	HTTP *http.Client
	// Version overrides GraphVersion.
	Version string
	// Now is the clock, for tests; nil means time.Now.
	Now func() time.Time
	// PollInterval and PollAttempts bound the wait for Instagram to fetch
	// and process the image before the container can be published.
	PollInterval time.Duration
	PollAttempts int
}

var _ platforms.Connector = (*Instagram)(nil)

// NewInstagram returns an Instagram connector using hc (nil: a 30 s timeout).
func NewInstagram(hc *http.Client) *Instagram {
	if hc == nil {
		hc = &http.Client{Timeout: 30 * time.Second}
	}
	return &Instagram{HTTP: hc, PollInterval: time.Second, PollAttempts: 10}
}

func (g *Instagram) api() api { return newAPI(g.HTTP, g.Version, InstagramPlatform, g.Now) }

func igToken(acct platforms.Account) string {
	if t := acct.Secrets["access_token"]; t != "" {
		return t
	}
	return acct.Secrets["page_access_token"]
}

func (g *Instagram) user(acct platforms.Account) (string, error) {
	return configValue(acct, InstagramPlatform, "ig_user_id", "the Instagram professional account's id")
}

func igPermanent(msg string) *platforms.Error {
	return &platforms.Error{Platform: InstagramPlatform, Kind: platforms.Permanent, Msg: msg}
}

// Publish posts the text as the caption of the post's media — one image,
// a reel for one video, a carousel for 2 to 10 — or, without media, of the
// channel's default image: it
// checks the publishing quota, creates a media container, waits for it to
// be ready and publishes it. With p.InReplyTo it comments on that media
// instead (comments need no image and do not count against the quota).
// Instagram takes no idempotency key: after an unknown outcome the caller
// reads the account's media back (see Recent) before posting again.
func (g *Instagram) Publish(ctx context.Context, acct platforms.Account, p platforms.Post) (platforms.Published, error) {
	ig, err := g.user(acct)
	if err != nil {
		return platforms.Published{}, err
	}
	if n := utf8.RuneCountInString(p.Text); n > MaxCaption {
		return platforms.Published{}, igPermanent(fmt.Sprintf("the caption is %d characters, over Instagram's limit of %d", n, MaxCaption))
	}
	a, token := g.api(), igToken(acct)
	if p.InReplyTo != "" {
		if len(p.Media) > 0 {
			return platforms.Published{}, igPermanent("an Instagram comment cannot carry attachments")
		}
		return g.comment(ctx, a, acct, token, p)
	}
	if len(p.Media) > MaxCarouselItems {
		return platforms.Published{}, igPermanent(fmt.Sprintf("the post has %d attachments, over Instagram's carousel limit of %d", len(p.Media), MaxCarouselItems))
	}
	for _, m := range p.Media {
		if strings.TrimSpace(m.URL) == "" {
			return platforms.Published{}, igPermanent("an attachment has no URL")
		}
	}
	image := strings.TrimSpace(acct.Config["default_image_url"])
	if len(p.Media) == 0 && image == "" {
		return platforms.Published{}, igPermanent("Instagram cannot publish text alone: every post needs an image, " +
			"and this channel has no config.default_image_url (a public https image to publish captions with)")
	}
	if err := g.checkQuota(ctx, a, acct, token, ig); err != nil {
		return platforms.Published{}, fmt.Errorf("publish to instagram %s: %w", ig, err)
	}
	var params url.Values
	switch {
	case len(p.Media) == 0:
		params = url.Values{"image_url": {image}}
	case len(p.Media) == 1:
		params = igMediaParams(p.Media[0], false)
	default:
		children := make([]string, 0, len(p.Media))
		for i, m := range p.Media {
			child, err := g.createContainer(ctx, a, acct, token, ig, igMediaParams(m, true))
			if err != nil {
				return platforms.Published{}, fmt.Errorf("carousel item %d of %d: %w", i+1, len(p.Media), err)
			}
			if err := g.waitReady(ctx, a, acct, token, child); err != nil {
				return platforms.Published{}, fmt.Errorf("instagram carousel item %s: %w", child, err)
			}
			children = append(children, child)
		}
		params = url.Values{"media_type": {"CAROUSEL"}, "children": {strings.Join(children, ",")}}
	}
	if p.Text != "" {
		params.Set("caption", p.Text)
	}
	containerID, err := g.createContainer(ctx, a, acct, token, ig, params)
	if err != nil {
		return platforms.Published{}, err
	}
	if err := g.waitReady(ctx, a, acct, token, containerID); err != nil {
		return platforms.Published{}, fmt.Errorf("instagram media container %s: %w", containerID, err)
	}
	var media struct {
		ID string `json:"id"`
	}
	if err := a.do(ctx, acct, token, http.MethodPost, "/"+url.PathEscape(ig)+"/media_publish", url.Values{"creation_id": {containerID}}, &media); err != nil {
		return platforms.Published{}, fmt.Errorf("publish instagram media container %s: %w", containerID, err)
	}
	if media.ID == "" {
		return platforms.Published{}, fmt.Errorf("publish instagram media container %s: %w", containerID,
			&platforms.Error{Platform: InstagramPlatform, Kind: platforms.Transient, Msg: "the response named no media"})
	}
	pub := platforms.Published{ID: media.ID, At: a.now().UTC()}
	// The permalink is a nicety: the post is live, so failing to read it
	// must not turn a success into a retry.
	var info struct {
		Permalink string `json:"permalink"`
		Timestamp string `json:"timestamp"`
	}
	if a.do(ctx, acct, token, http.MethodGet, "/"+url.PathEscape(media.ID), url.Values{"fields": {"permalink,timestamp"}}, &info) == nil {
		pub.URL = info.Permalink
		if t := graphTime(info.Timestamp); !t.IsZero() {
			pub.At = t
		}
	}
	return pub, nil
}

// MaxCarouselItems is the most images and videos one carousel may hold.
const MaxCarouselItems = 10

// igMediaParams are a container's parameters for one attachment: a video
// (told by its .mp4 or .mov extension) is a reel, or a VIDEO item inside
// a carousel; anything else is an image.
func igMediaParams(m platforms.Media, carouselItem bool) url.Values {
	v := url.Values{}
	if isVideoURL(m.URL) {
		v.Set("video_url", m.URL)
		v.Set("media_type", "REELS")
		if carouselItem {
			v.Set("media_type", "VIDEO")
		}
	} else {
		v.Set("image_url", m.URL)
	}
	if carouselItem {
		v.Set("is_carousel_item", "true")
	}
	return v
}

// createContainer creates a media container and returns its id.
func (g *Instagram) createContainer(ctx context.Context, a api, acct platforms.Account, token, ig string, params url.Values) (string, error) {
	var container struct {
		ID string `json:"id"`
	}
	if err := a.do(ctx, acct, token, http.MethodPost, "/"+url.PathEscape(ig)+"/media", params, &container); err != nil {
		return "", fmt.Errorf("create instagram media container: %w", err)
	}
	if container.ID == "" {
		return "", fmt.Errorf("create instagram media container: %w",
			&platforms.Error{Platform: InstagramPlatform, Kind: platforms.Transient, Msg: "the response named no container"})
	}
	return container.ID, nil
}

// checkQuota refuses to publish when the account has used its moving
// 24-hour allowance: publishing would fail anyway, after a container was
// created for nothing.
func (g *Instagram) checkQuota(ctx context.Context, a api, acct platforms.Account, token, ig string) error {
	var out struct {
		Data []struct {
			QuotaUsage int `json:"quota_usage"`
			Config     *struct {
				QuotaTotal    int `json:"quota_total"`
				QuotaDuration int `json:"quota_duration"`
			} `json:"config"`
		} `json:"data"`
	}
	q := url.Values{"fields": {"quota_usage,config"}}
	if err := a.do(ctx, acct, token, http.MethodGet, "/"+url.PathEscape(ig)+"/content_publishing_limit", q, &out); err != nil {
		return err
	}
	if len(out.Data) == 0 {
		return nil
	}
	used, total := out.Data[0].QuotaUsage, DefaultPublishingQuota
	if cfg := out.Data[0].Config; cfg != nil && cfg.QuotaTotal > 0 {
		total = cfg.QuotaTotal
	}
	if used >= total {
		return &platforms.Error{Platform: InstagramPlatform, Kind: platforms.RateLimited, RetryAfter: QuotaRetryAfter,
			Msg: fmt.Sprintf("the account has published %d of the %d posts Instagram allows in 24 hours", used, total)}
	}
	return nil
}

// waitReady polls the container until Instagram has fetched and processed
// the image. An image that cannot be used fails permanently; one still in
// progress after the last poll is worth retrying later.
func (g *Instagram) waitReady(ctx context.Context, a api, acct platforms.Account, token, container string) error {
	attempts := max(g.PollAttempts, 1)
	for i := 0; i < attempts; i++ {
		var out struct {
			StatusCode string `json:"status_code"`
			Status     string `json:"status"`
		}
		q := url.Values{"fields": {"status_code,status"}}
		if err := a.do(ctx, acct, token, http.MethodGet, "/"+url.PathEscape(container), q, &out); err != nil {
			return err
		}
		switch out.StatusCode {
		case "FINISHED", "":
			return nil
		case "ERROR", "EXPIRED":
			msg := "Instagram could not use the image (" + out.StatusCode + ")"
			if out.Status != "" {
				msg += ": " + out.Status
			}
			return igPermanent(msg)
		case "PUBLISHED":
			return igPermanent("the container was already published")
		}
		if i < attempts-1 {
			select {
			case <-ctx.Done():
				return a.noResponse(ctx.Err())
			case <-time.After(g.PollInterval):
			}
		}
	}
	return &platforms.Error{Platform: InstagramPlatform, Kind: platforms.Transient, Msg: "Instagram is still processing the image"}
}

func (g *Instagram) comment(ctx context.Context, a api, acct platforms.Account, token string, p platforms.Post) (platforms.Published, error) {
	if strings.TrimSpace(p.Text) == "" {
		return platforms.Published{}, igPermanent("the comment has no text")
	}
	var out struct {
		ID string `json:"id"`
	}
	if err := a.do(ctx, acct, token, http.MethodPost, "/"+url.PathEscape(p.InReplyTo)+"/comments", url.Values{"message": {p.Text}}, &out); err != nil {
		return platforms.Published{}, fmt.Errorf("comment on %s: %w", p.InReplyTo, err)
	}
	if out.ID == "" {
		return platforms.Published{}, fmt.Errorf("comment on %s: %w", p.InReplyTo,
			&platforms.Error{Platform: InstagramPlatform, Kind: platforms.Transient, Msg: "the response named no comment"})
	}
	return platforms.Published{ID: out.ID, At: a.now().UTC()}, nil
}

// Recent lists the account's latest media, newest first, with captions as
// their text.
func (g *Instagram) Recent(ctx context.Context, acct platforms.Account, limit int) ([]platforms.Remote, error) {
	ig, err := g.user(acct)
	if err != nil {
		return nil, err
	}
	q := url.Values{
		"fields": {"id,caption,permalink,timestamp"},
		"limit":  {strconv.Itoa(min(max(limit, 1), 100))},
	}
	var out struct {
		Data []struct {
			ID        string `json:"id"`
			Caption   string `json:"caption"`
			Permalink string `json:"permalink"`
			Timestamp string `json:"timestamp"`
		} `json:"data"`
	}
	if err := g.api().do(ctx, acct, igToken(acct), http.MethodGet, "/"+url.PathEscape(ig)+"/media", q, &out); err != nil {
		return nil, fmt.Errorf("read back instagram %s: %w", ig, err)
	}
	res := make([]platforms.Remote, 0, len(out.Data))
	for _, m := range out.Data {
		res = append(res, platforms.Remote{ID: m.ID, URL: m.Permalink, Text: m.Caption, At: graphTime(m.Timestamp)})
	}
	sort.SliceStable(res, func(i, j int) bool { return res[i].At.After(res[j].At) })
	if limit > 0 && len(res) > limit {
		res = res[:limit]
	}
	return res, nil
}

// instagramInsights are the media metrics read for views and reposts.
const instagramInsights = "views,shares"

// Metrics reads a media's likes and comments, then its insights for views
// and shares.
func (g *Instagram) Metrics(ctx context.Context, acct platforms.Account, postID string) (platforms.Metrics, error) {
	a, token := g.api(), igToken(acct)
	var out struct {
		LikeCount     int64 `json:"like_count"`
		CommentsCount int64 `json:"comments_count"`
	}
	if err := a.do(ctx, acct, token, http.MethodGet, "/"+url.PathEscape(postID), url.Values{"fields": {"like_count,comments_count"}}, &out); err != nil {
		return platforms.Metrics{}, fmt.Errorf("metrics of %s: %w", postID, err)
	}
	in, err := a.insights(ctx, acct, token, postID, instagramInsights)
	if err != nil {
		return platforms.Metrics{}, fmt.Errorf("insights of %s: %w", postID, err)
	}
	return platforms.Metrics{
		Impressions: in["views"], Likes: out.LikeCount, Reposts: in["shares"], Replies: out.CommentsCount, At: a.now().UTC(),
	}, nil
}

// Delete removes a media or comment; one already gone counts as deleted.
func (g *Instagram) Delete(ctx context.Context, acct platforms.Account, postID string) error {
	return g.api().remove(ctx, acct, igToken(acct), postID)
}

// AccountInfo checks the token by reading the Instagram account.
func (g *Instagram) AccountInfo(ctx context.Context, acct platforms.Account) (platforms.AccountInfo, error) {
	ig, err := g.user(acct)
	if err != nil {
		return platforms.AccountInfo{}, err
	}
	out, err := g.api().profile(ctx, acct, igToken(acct), ig, "instagram")
	if err != nil {
		return platforms.AccountInfo{}, err
	}
	return platforms.AccountInfo{ID: out.ID, Handle: out.Username, DisplayName: out.Name, Followers: out.FollowersCount}, nil
}
