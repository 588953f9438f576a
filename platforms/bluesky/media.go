package bluesky

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"strings"

	"github.com/cmo-dev/cmo/platforms"
)

const (
	// maxImages is how many images app.bsky.embed.images holds.
	maxImages = 4
	// maxImageBytes is the lexicon's maxSize for an image blob.
	maxImageBytes = 1_000_000
	imagesEmbed   = "app.bsky.embed.images"
)

type imagesEmbedRecord struct {
	Type   string       `json:"$type"`
	Images []embedImage `json:"images"`
}

// embedImage is app.bsky.embed.images#image; alt is required (empty when
// the playbook gave none).
type embedImage struct {
	Alt   string          `json:"alt"`
	Image json.RawMessage `json:"image"`
}

type fetchedImage struct {
	platforms.Fetched
	alt string
}

// fetchImages downloads a post's attachments and checks them against the
// images embed's limits, so that a post that cannot go out fails before
// anything reaches the PDS.
func (c *Client) fetchImages(ctx context.Context, media []platforms.Media) ([]fetchedImage, error) {
	if len(media) > maxImages {
		return nil, &platforms.Error{Platform: Platform, Kind: platforms.Permanent,
			Msg: fmt.Sprintf("too many images (maximum %d, got %d)", maxImages, len(media))}
	}
	out := make([]fetchedImage, 0, len(media))
	for _, m := range media {
		f, err := platforms.FetchMedia(ctx, c.httpClient(), m)
		if err != nil {
			return nil, err
		}
		if !strings.HasPrefix(f.MimeType, "image/") {
			// app.bsky.embed.video takes a blob processed by Bluesky's
			// video service first, which this connector does not call.
			return nil, &platforms.Error{Platform: Platform, Kind: platforms.Permanent,
				Msg: "video posts are not supported by this connector yet (" + m.URL + ")"}
		}
		if len(f.Data) > maxImageBytes {
			return nil, &platforms.Error{Platform: Platform, Kind: platforms.Permanent,
				Msg: fmt.Sprintf("image %s is too large (maximum %d bytes, got %d)", m.URL, maxImageBytes, len(f.Data))}
		}
		out = append(out, fetchedImage{Fetched: f, alt: m.Alt})
	}
	return out, nil
}

// embedImages uploads each image with com.atproto.repo.uploadBlob and
// returns the embed that references the blobs. A blob the post never
// references is discarded by the PDS, so a retry may upload again.
func (k *conn) embedImages(ctx context.Context, imgs []fetchedImage) (*imagesEmbedRecord, error) {
	e := &imagesEmbedRecord{Type: imagesEmbed, Images: make([]embedImage, 0, len(imgs))}
	for _, img := range imgs {
		var out struct {
			Blob json.RawMessage `json:"blob"`
		}
		if err := k.call(ctx, http.MethodPost, "com.atproto.repo.uploadBlob", nil, rawInput{data: img.Data, mimeType: img.MimeType}, &out); err != nil {
			return nil, fmt.Errorf("upload %s: %w", img.Name, err)
		}
		if len(out.Blob) == 0 || string(out.Blob) == "null" {
			return nil, &platforms.Error{Platform: Platform, Kind: platforms.Transient, Msg: "uploadBlob returned no blob"}
		}
		e.Images = append(e.Images, embedImage{Alt: img.alt, Image: out.Blob})
	}
	return e, nil
}
