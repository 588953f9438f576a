package bluesky

import (
	"fmt"
	"net/url"
	"strings"
)

// recordRef names a record: at://<repo>/<collection>/<rkey>, where repo is
// a DID or a handle.
type recordRef struct {
	repo, collection, rkey string
}

func (r recordRef) String() string { return "at://" + r.repo + "/" + r.collection + "/" + r.rkey }

// parsePostRef reads a post reference: the at:// URI a post is known by
// in cmo, or a bsky.app post address a person copied from the app.
func parsePostRef(s string) (recordRef, error) {
	if rest, ok := strings.CutPrefix(s, "at://"); ok {
		parts := strings.Split(rest, "/")
		if len(parts) != 3 || parts[0] == "" || parts[1] == "" || parts[2] == "" {
			return recordRef{}, fmt.Errorf("%q is not an at:// record URI", s)
		}
		return recordRef{repo: parts[0], collection: parts[1], rkey: parts[2]}, nil
	}
	u, err := url.Parse(s)
	if err == nil && (u.Host == "bsky.app" || u.Host == "www.bsky.app") {
		// /profile/<handle or did>/post/<rkey>
		parts := strings.Split(strings.Trim(u.Path, "/"), "/")
		if len(parts) == 4 && parts[0] == "profile" && parts[2] == "post" && parts[1] != "" && parts[3] != "" {
			return recordRef{repo: parts[1], collection: postCollection, rkey: parts[3]}, nil
		}
	}
	return recordRef{}, fmt.Errorf("%q is neither an at:// post URI nor a bsky.app post address", s)
}
