package mastodon

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"mime"
	"mime/multipart"
	"net/http"
	"net/textproto"
	"net/url"
	"path/filepath"
	"strings"
	"time"

	"github.com/cmo-dev/cmo/platforms"
)

// UploadMedia uploads one attachment with POST /api/v2/media and returns
// its id, for PublishWithMedia. description is the alt text.
//
// The file is streamed, not held in memory, with a MIME type taken from
// the file name or sniffed from its first bytes (the instance requires
// one). Large media is processed in the background: the instance answers
// 202 and refuses to attach it until it is done, so UploadMedia waits,
// polling GET /api/v1/media/:id, until the media is ready or ctx ends.
func (c *Client) UploadMedia(ctx context.Context, acct platforms.Account, filename string, r io.Reader, description string) (string, error) {
	return c.uploadMedia(ctx, acct, filename, "", r, description)
}

// uploadMedia is UploadMedia with the MIME type known beforehand (from
// the server a fetched attachment came from); empty means work it out.
func (c *Client) uploadMedia(ctx context.Context, acct platforms.Account, filename, ctype string, r io.Reader, description string) (string, error) {
	ep, err := endpointOf(acct)
	if err != nil {
		return "", err
	}
	br := bufio.NewReaderSize(r, 512)
	if ctype == "" {
		ctype = mime.TypeByExtension(strings.ToLower(filepath.Ext(filename)))
	}
	if ctype == "" {
		head, _ := br.Peek(512)
		ctype = http.DetectContentType(head)
	}

	pr, pw := io.Pipe()
	mw := multipart.NewWriter(pw)
	go func() {
		// The transport closes the request body when the exchange ends,
		// which unblocks a write here if the instance answers early.
		pw.CloseWithError(writeUpload(mw, filename, ctype, br, description))
	}()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, ep.base+"/api/v2/media", pr)
	if err != nil {
		pr.Close()
		return "", err
	}
	req.Header.Set("Content-Type", mw.FormDataContentType())
	var att struct {
		ID string `json:"id"`
	}
	code, err := c.send(req, ep, &att)
	if err != nil {
		return "", fmt.Errorf("upload %s to %s: %w", filename, ep.host, err)
	}
	if att.ID == "" {
		return "", &platforms.Error{Platform: Platform, Kind: platforms.Transient, Status: code, Msg: "media upload returned no id"}
	}
	if code == http.StatusAccepted {
		if err := c.awaitMedia(ctx, ep, att.ID); err != nil {
			return "", fmt.Errorf("upload %s to %s: %w", filename, ep.host, err)
		}
	}
	return att.ID, nil
}

func writeUpload(mw *multipart.Writer, filename, ctype string, r io.Reader, description string) error {
	if description != "" {
		if err := mw.WriteField("description", description); err != nil {
			return err
		}
	}
	h := textproto.MIMEHeader{}
	h.Set("Content-Disposition", mime.FormatMediaType("form-data", map[string]string{"name": "file", "filename": filepath.Base(filename)}))
	h.Set("Content-Type", ctype)
	part, err := mw.CreatePart(h)
	if err != nil {
		return err
	}
	if _, err := io.Copy(part, r); err != nil {
		return fmt.Errorf("read media: %w", err)
	}
	return mw.Close()
}

// awaitMedia polls an attachment until the instance has processed it:
// 206 means still processing, 200 means ready.
func (c *Client) awaitMedia(ctx context.Context, ep endpoint, id string) error {
	every := c.MediaPollInterval
	if every <= 0 {
		every = time.Second
	}
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return fmt.Errorf("media %s still processing: %w", id, ctx.Err())
		case <-t.C:
		}
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, ep.base+"/api/v1/media/"+url.PathEscape(id), nil)
		if err != nil {
			return err
		}
		code, err := c.send(req, ep, nil)
		if err != nil {
			return err
		}
		if code == http.StatusOK {
			return nil
		}
	}
}
