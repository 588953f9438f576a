package x

import (
	"bytes"
	"context"
	"fmt"
	"mime/multipart"
	"net/http"
	"net/textproto"
	"strings"
	"unicode/utf8"

	"github.com/cmo-dev/cmo/platforms"
)

const (
	// MaxImages is the most photos one post may carry (or one GIF).
	MaxImages = 4
	// MaxAltText is the longest alt text X keeps for an image.
	MaxAltText = 1000
)

// checkMedia refuses, before anything is fetched, attachments X would
// refuse: more than four, or alt text over the limit.
func checkMedia(media []platforms.Media) error {
	if len(media) > MaxImages {
		return permanent(fmt.Sprintf("the post has %d attachments, over X's limit of %d photos", len(media), MaxImages))
	}
	for _, m := range media {
		if strings.TrimSpace(m.URL) == "" {
			return permanent("an attachment has no URL")
		}
		if n := utf8.RuneCountInString(m.Alt); n > MaxAltText {
			return permanent(fmt.Sprintf("the alt text of %s is %d characters, over X's limit of %d", m.URL, n, MaxAltText))
		}
	}
	return nil
}

// uploadMedia fetches every attachment first, so that a bad URL fails the
// post before anything is uploaded, then uploads each with POST
// /2/media/upload (multipart: media, media_category) and sets its alt text
// with POST /2/media/metadata. It returns the media ids in order.
func (c *Client) uploadMedia(ctx context.Context, acct platforms.Account, media []platforms.Media) ([]string, error) {
	files := make([]platforms.Fetched, len(media))
	for i, m := range media {
		f, err := platforms.FetchMedia(ctx, c.HTTP, m)
		if err != nil {
			return nil, fmt.Errorf("attachment %d of %d: %w", i+1, len(media), err)
		}
		files[i] = f
	}
	categories := make([]string, len(files))
	for i, f := range files {
		switch {
		case strings.HasPrefix(f.MimeType, "video/"):
			return nil, permanent(fmt.Sprintf("%s is a video: video attachments are not supported yet on X", media[i].URL))
		case f.MimeType == "image/gif":
			if len(files) > 1 {
				return nil, permanent("an X post carries one GIF alone, or up to 4 photos")
			}
			categories[i] = "tweet_gif"
		default:
			categories[i] = "tweet_image"
		}
	}
	ids := make([]string, len(files))
	for i, f := range files {
		id, err := c.upload(ctx, acct, f, categories[i])
		if err != nil {
			return nil, fmt.Errorf("upload %s: %w", media[i].URL, err)
		}
		if alt := media[i].Alt; alt != "" {
			req := map[string]any{"id": id, "metadata": map[string]any{"alt_text": map[string]string{"text": alt}}}
			if err := c.call(ctx, acct, http.MethodPost, "/2/media/metadata", nil, req, nil); err != nil {
				return nil, fmt.Errorf("alt text of %s: %w", media[i].URL, err)
			}
		}
		ids[i] = id
	}
	return ids, nil
}

// upload sends one file to POST /2/media/upload, which answers
// {"data":{"id","media_key",...}}.
func (c *Client) upload(ctx context.Context, acct platforms.Account, f platforms.Fetched, category string) (string, error) {
	var buf bytes.Buffer
	mw := multipart.NewWriter(&buf)
	h := textproto.MIMEHeader{}
	h.Set("Content-Disposition", fmt.Sprintf(`form-data; name="media"; filename=%q`, f.Name))
	h.Set("Content-Type", f.MimeType)
	part, err := mw.CreatePart(h)
	if err != nil {
		return "", err
	}
	if _, err := part.Write(f.Data); err != nil {
		return "", err
	}
	if err := mw.WriteField("media_category", category); err != nil {
		return "", err
	}
	if err := mw.Close(); err != nil {
		return "", err
	}
	var out struct {
		Data struct {
			ID string `json:"id"`
		} `json:"data"`
	}
	if err := c.callBody(ctx, acct, http.MethodPost, "/2/media/upload", nil, mw.FormDataContentType(), buf.Bytes(), &out); err != nil {
		return "", err
	}
	if out.Data.ID == "" {
		return "", &platforms.Error{Platform: Platform, Kind: platforms.Transient, Msg: "the upload named no media"}
	}
	return out.Data.ID, nil
}
