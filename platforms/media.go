package platforms

import (
	"context"
	"fmt"
	"io"
	"mime"
	"net/http"
	"path"
	"strings"
)

// MaxMediaBytes bounds one fetched attachment; platforms refuse far
// smaller files than this, and a wrong URL must not fill memory.
const MaxMediaBytes = 64 << 20

// Fetched is a downloaded attachment.
type Fetched struct {
	Data     []byte
	MimeType string
	Name     string
}

// FetchMedia downloads an attachment for upload. A 4xx or an unsupported
// type is Permanent (the playbook names a bad file); 5xx and network
// errors are Transient.
func FetchMedia(ctx context.Context, hc *http.Client, m Media) (Fetched, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, m.URL, nil)
	if err != nil {
		return Fetched{}, &Error{Platform: "media", Kind: Permanent, Msg: fmt.Sprintf("bad media URL %q", m.URL)}
	}
	resp, err := hc.Do(req)
	if err != nil {
		return Fetched{}, fmt.Errorf("fetch media %s: %w", m.URL, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode/100 != 2 {
		kind := Permanent
		if resp.StatusCode >= 500 || resp.StatusCode == http.StatusTooManyRequests {
			kind = Transient
		}
		return Fetched{}, &Error{Platform: "media", Kind: kind, Status: resp.StatusCode, Msg: "fetch " + m.URL}
	}
	data, err := io.ReadAll(io.LimitReader(resp.Body, MaxMediaBytes+1))
	if err != nil {
		return Fetched{}, fmt.Errorf("fetch media %s: %w", m.URL, err)
	}
	if len(data) > MaxMediaBytes {
		return Fetched{}, &Error{Platform: "media", Kind: Permanent, Msg: fmt.Sprintf("%s is larger than %d bytes", m.URL, MaxMediaBytes)}
	}
	mt, _, _ := mime.ParseMediaType(resp.Header.Get("Content-Type"))
	if mt == "" || mt == "application/octet-stream" {
		mt = http.DetectContentType(data)
	}
	if !strings.HasPrefix(mt, "image/") && !strings.HasPrefix(mt, "video/") {
		return Fetched{}, &Error{Platform: "media", Kind: Permanent, Msg: fmt.Sprintf("%s is %s, not an image or video", m.URL, mt)}
	}
	name := path.Base(req.URL.Path)
	if name == "" || name == "/" || name == "." {
		name = "media"
	}
	return Fetched{Data: data, MimeType: mt, Name: name}, nil
}
