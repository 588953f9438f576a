package linkedin

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"

	"github.com/cmo-dev/cmo/platforms"
)

// MaxImages is the most images a multi-image post may carry.
const MaxImages = 20

// postContent is a post's media: one image in media, or 2 to 20 in
// multiImage.
type postContent struct {
	Media      *imageRef   `json:"media,omitempty"`
	MultiImage *multiImage `json:"multiImage,omitempty"`
}

type imageRef struct {
	ID      string `json:"id"`
	AltText string `json:"altText,omitempty"`
}

type multiImage struct {
	Images []imageRef `json:"images"`
}

// checkMedia refuses, before anything is fetched, what the connector
// cannot post: too many images, or attachments on a comment.
func checkMedia(p platforms.Post) error {
	if len(p.Media) == 0 {
		return nil
	}
	if p.InReplyTo != "" {
		return permanent("a LinkedIn comment cannot carry attachments")
	}
	if len(p.Media) > MaxImages {
		return permanent(fmt.Sprintf("the post has %d attachments, over LinkedIn's limit of %d images", len(p.Media), MaxImages))
	}
	for _, m := range p.Media {
		if strings.TrimSpace(m.URL) == "" {
			return permanent("an attachment has no URL")
		}
	}
	return nil
}

// uploadImages fetches every attachment first, so that a bad URL fails the
// post before anything is uploaded, then uploads each through the Images
// API (initializeUpload, then PUT to the upload URL) and returns the
// post's content referring to the image URNs.
func (c *Client) uploadImages(ctx context.Context, acct platforms.Account, org string, media []platforms.Media) (*postContent, error) {
	files := make([]platforms.Fetched, len(media))
	for i, m := range media {
		f, err := platforms.FetchMedia(ctx, c.HTTP, m)
		if err != nil {
			return nil, fmt.Errorf("attachment %d of %d: %w", i+1, len(media), err)
		}
		if !strings.HasPrefix(f.MimeType, "image/") {
			return nil, permanent(fmt.Sprintf("%s is %s: only images are supported on LinkedIn yet", m.URL, f.MimeType))
		}
		files[i] = f
	}
	refs := make([]imageRef, len(files))
	for i, f := range files {
		urn, err := c.uploadImage(ctx, acct, org, f)
		if err != nil {
			return nil, fmt.Errorf("upload %s: %w", media[i].URL, err)
		}
		refs[i] = imageRef{ID: urn, AltText: media[i].Alt}
	}
	if len(refs) == 1 {
		return &postContent{Media: &refs[0]}, nil
	}
	return &postContent{MultiImage: &multiImage{Images: refs}}, nil
}

func (c *Client) uploadImage(ctx context.Context, acct platforms.Account, org string, f platforms.Fetched) (string, error) {
	req := map[string]any{"initializeUploadRequest": map[string]string{"owner": org}}
	var out struct {
		Value struct {
			UploadURL string `json:"uploadUrl"`
			Image     string `json:"image"`
		} `json:"value"`
	}
	if _, err := c.call(ctx, acct, http.MethodPost, "/rest/images", "action=initializeUpload", req, &out, nil); err != nil {
		return "", err
	}
	if out.Value.UploadURL == "" || out.Value.Image == "" {
		return "", &platforms.Error{Platform: Platform, Kind: platforms.Transient, Msg: "initializeUpload named no upload URL or image"}
	}
	err := c.put(ctx, acct.Secrets["access_token"], out.Value.UploadURL, f)
	var pe *platforms.Error
	if errors.As(err, &pe) && pe.Status == http.StatusUnauthorized {
		token, rerr := c.refresh(ctx, acct)
		if rerr != nil {
			return "", rerr
		}
		err = c.put(ctx, token, out.Value.UploadURL, f)
	}
	if err != nil {
		return "", err
	}
	return out.Value.Image, nil
}

// put sends the file's bytes to the upload URL initializeUpload gave.
func (c *Client) put(ctx context.Context, token, uploadURL string, f platforms.Fetched) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodPut, uploadURL, bytes.NewReader(f.Data))
	if err != nil {
		return permanent("LinkedIn gave an unusable upload URL")
	}
	req.Header.Set("Authorization", "Bearer "+token)
	req.Header.Set("Content-Type", f.MimeType)
	resp, err := c.HTTP.Do(req)
	if err != nil {
		return noResponse(err)
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(io.LimitReader(resp.Body, maxBody))
	if resp.StatusCode/100 != 2 {
		return c.apiError(resp, raw)
	}
	return nil
}
