package linkedin_test

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
	"unicode"
)

// fakeLinkedIn behaves like the versioned Marketing API as documented:
// LinkedIn-Version and X-Restli-Protocol-Version required, the new post's
// URN in x-restli-id with an empty 201 body, Rest.li finder and List()
// syntax, {"status","code","message"} error bodies, and commentary in the
// little text format (cut at the first unescaped reserved character).
type fakeLinkedIn struct {
	t   *testing.T
	srv *httptest.Server

	mu           sync.Mutex
	org          string
	access       map[string]bool
	refresh      map[string]bool
	clientID     string
	clientSecret string
	posts        []*liPost // oldest first
	comments     []*liComment
	seq          int64
	calls        []string
	lastHeader   http.Header
	lastBody     map[string]any
	tokenForms   []url.Values
	stats        map[string]map[string]int64
	images       map[string]*liImage // by URN
	uploads      map[string]string   // upload path -> image URN

	fault       func(w http.ResponseWriter, r *http.Request) bool
	afterCreate func(r *http.Request)
}

type liPost struct {
	id, commentary string
	at             int64
	content        map[string]any
}

// liImage is an image registered with initializeUpload; data is set once
// its bytes are PUT to the upload URL.
type liImage struct {
	urn, owner, contentType string
	data                    []byte
	uploaded                bool
}

type liComment struct {
	urn, object, parent, actor, text string
}

func newFakeLinkedIn(t *testing.T) *fakeLinkedIn {
	f := &fakeLinkedIn{
		t: t, org: "urn:li:organization:2414183",
		access:   map[string]bool{"li-at-1": true},
		refresh:  map[string]bool{"li-rt-1": true},
		clientID: "li-client", clientSecret: "li-client-secret",
		stats:  map[string]map[string]int64{},
		images: map[string]*liImage{}, uploads: map[string]string{},
	}
	mux := http.NewServeMux()
	mux.HandleFunc("POST /rest/posts", f.auth(f.createPost))
	mux.HandleFunc("POST /rest/images", f.auth(f.initializeUpload))
	mux.HandleFunc("PUT /dms-uploads/{id}", f.putUpload)
	mux.HandleFunc("GET /rest/posts", f.auth(f.findPosts))
	mux.HandleFunc("DELETE /rest/posts/{urn}", f.auth(f.deletePost))
	mux.HandleFunc("POST /rest/socialActions/{urn}/comments", f.auth(f.createComment))
	mux.HandleFunc("DELETE /rest/socialActions/{urn}/comments/{id}", f.auth(f.deleteComment))
	mux.HandleFunc("GET /rest/socialActions/{urn}", f.auth(f.socialActions))
	mux.HandleFunc("GET /rest/organizationalEntityShareStatistics", f.auth(f.shareStatistics))
	mux.HandleFunc("GET /rest/organizations/{id}", f.auth(f.organization))
	mux.HandleFunc("GET /rest/networkSizes/{urn}", f.auth(f.networkSize))
	mux.HandleFunc("POST /oauth/v2/accessToken", f.token)
	f.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		f.mu.Lock()
		f.calls = append(f.calls, r.Method+" "+r.URL.Path)
		fault := f.fault
		f.mu.Unlock()
		if fault != nil && fault(w, r) {
			return
		}
		mux.ServeHTTP(w, r)
	}))
	t.Cleanup(f.srv.Close)
	return f
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}

func liError(w http.ResponseWriter, status int, code, msg string) {
	writeJSON(w, status, map[string]any{"status": status, "code": code, "message": msg})
}

var version = regexp.MustCompile(`^20\d{4}$`)

func (f *fakeLinkedIn) auth(next http.HandlerFunc) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		f.mu.Lock()
		f.lastHeader = r.Header.Clone()
		token, _ := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
		valid := f.access[token]
		f.mu.Unlock()
		if !valid {
			writeJSON(w, http.StatusUnauthorized, map[string]any{"status": 401, "serviceErrorCode": 65600, "code": "INVALID_ACCESS_TOKEN", "message": "Invalid access token"})
			return
		}
		if !version.MatchString(r.Header.Get("LinkedIn-Version")) {
			liError(w, http.StatusBadRequest, "VERSION_MISSING", "A version must be present. Please specify a version by adding the LinkedIn-Version header.")
			return
		}
		if r.Header.Get("X-Restli-Protocol-Version") != "2.0.0" {
			liError(w, http.StatusBadRequest, "ILLEGAL_ARGUMENT", "Rest.li protocol 2.0.0 is required")
			return
		}
		next(w, r)
	}
}

// little stores commentary as LinkedIn does: it is cut at the first
// reserved character that is not escaped (a '#' starting a word is a
// hashtag), and hashtags come back as {hashtag|\#|word} templates.
func little(s string) (string, bool) {
	const reserved = `\|{}@[]()<>#*_~`
	rs := []rune(s)
	var b strings.Builder
	for i := 0; i < len(rs); i++ {
		r := rs[i]
		switch {
		case r == '\\' && i+1 < len(rs) && strings.ContainsRune(reserved, rs[i+1]):
			b.WriteRune(r)
			b.WriteRune(rs[i+1])
			i++
		case r == '#' && i+1 < len(rs) && (unicode.IsLetter(rs[i+1]) || unicode.IsDigit(rs[i+1])):
			j := i + 1
			for j < len(rs) && (unicode.IsLetter(rs[j]) || unicode.IsDigit(rs[j])) {
				j++
			}
			b.WriteString(`{hashtag|\#|` + string(rs[i+1:j]) + `}`)
			i = j - 1
		case strings.ContainsRune(reserved, r):
			return b.String(), true // silently truncated
		default:
			b.WriteRune(r)
		}
	}
	return b.String(), false
}

// stored is commentary as LinkedIn keeps it: links are recognised before
// little markup, and the rest of the post is lost at a truncation.
func stored(text string) string {
	var b strings.Builder
	last := 0
	for _, loc := range linkRe.FindAllStringIndex(text, -1) {
		part, cut := little(text[last:loc[0]])
		b.WriteString(part)
		if cut {
			return b.String()
		}
		b.WriteString(text[loc[0]:loc[1]])
		last = loc[1]
	}
	part, _ := little(text[last:])
	b.WriteString(part)
	return b.String()
}

var linkRe = regexp.MustCompile(`https?://[^\s]+`)

func (f *fakeLinkedIn) createPost(w http.ResponseWriter, r *http.Request) {
	var body map[string]any
	if err := json.NewDecoder(r.Body).Decode(&body); err != nil {
		liError(w, http.StatusBadRequest, "ILLEGAL_ARGUMENT", "Request body could not be converted to data map")
		return
	}
	var missing []string
	for _, field := range []string{"author", "commentary", "visibility", "distribution", "lifecycleState"} {
		if _, ok := body[field]; !ok {
			missing = append(missing, "ERROR :: /"+field+" :: field is required but not found and has no default value")
		}
	}
	if len(missing) > 0 {
		writeJSON(w, http.StatusUnprocessableEntity, map[string]any{"message": strings.Join(missing, "\n"), "status": 422})
		return
	}
	f.mu.Lock()
	f.lastBody = body
	if body["author"] != f.org {
		f.mu.Unlock()
		writeJSON(w, http.StatusForbidden, map[string]any{"status": 403, "serviceErrorCode": 100, "code": "ACCESS_DENIED",
			"message": "Not enough permissions to access: partnerApiPostsExternal.CREATE.20260501"})
		return
	}
	content, _ := body["content"].(map[string]any)
	if content != nil {
		var refs []any
		if m, ok := content["media"].(map[string]any); ok {
			refs = append(refs, m)
		}
		if mi, ok := content["multiImage"].(map[string]any); ok {
			imgs, _ := mi["images"].([]any)
			if len(imgs) < 2 || len(imgs) > 20 {
				f.mu.Unlock()
				liError(w, http.StatusUnprocessableEntity, "INVALID_CONTENT", "multiImage takes 2 to 20 images")
				return
			}
			refs = append(refs, imgs...)
		}
		for _, ref := range refs {
			m, _ := ref.(map[string]any)
			id, _ := m["id"].(string)
			if img := f.images[id]; img == nil || !img.uploaded {
				f.mu.Unlock()
				liError(w, http.StatusUnprocessableEntity, "INVALID_CONTENT", "image "+id+" is not available")
				return
			}
		}
	}
	text, _ := body["commentary"].(string)
	commentary := stored(text)
	for _, p := range f.posts {
		if p.commentary == commentary {
			f.mu.Unlock()
			liError(w, http.StatusUnprocessableEntity, "DUPLICATE_POST", "Content is a duplicate of "+p.id)
			return
		}
	}
	f.seq++
	id := "urn:li:share:" + strconv.FormatInt(7300000000000000000+f.seq, 10)
	f.posts = append(f.posts, &liPost{id: id, commentary: commentary, at: time.Now().UnixMilli(), content: content})
	after := f.afterCreate
	f.mu.Unlock()
	if after != nil {
		after(r)
	}
	w.Header().Set("x-restli-id", id)
	w.WriteHeader(http.StatusCreated)
}

// initializeUpload is POST /rest/images?action=initializeUpload with
// {"initializeUploadRequest":{"owner"}}; it answers the image URN and
// where to PUT its bytes.
func (f *fakeLinkedIn) initializeUpload(w http.ResponseWriter, r *http.Request) {
	if r.URL.Query().Get("action") != "initializeUpload" {
		liError(w, http.StatusBadRequest, "ILLEGAL_ARGUMENT", "unknown action")
		return
	}
	var body struct {
		InitializeUploadRequest struct {
			Owner string `json:"owner"`
		} `json:"initializeUploadRequest"`
	}
	if err := json.NewDecoder(r.Body).Decode(&body); err != nil || body.InitializeUploadRequest.Owner == "" {
		liError(w, http.StatusUnprocessableEntity, "ILLEGAL_ARGUMENT", "initializeUploadRequest.owner is required")
		return
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	if body.InitializeUploadRequest.Owner != f.org {
		writeJSON(w, http.StatusForbidden, map[string]any{"status": 403, "code": "ACCESS_DENIED", "message": "Not enough permissions"})
		return
	}
	f.seq++
	key := "D4E10AQ" + strconv.FormatInt(f.seq, 10)
	urn := "urn:li:image:" + key
	f.images[urn] = &liImage{urn: urn, owner: body.InitializeUploadRequest.Owner}
	f.uploads[key] = urn
	writeJSON(w, http.StatusOK, map[string]any{"value": map[string]any{
		"uploadUrlExpiresAt": time.Now().Add(time.Hour).UnixMilli(),
		"uploadUrl":          f.srv.URL + "/dms-uploads/" + key,
		"image":              urn,
	}})
}

// putUpload receives an image's bytes at its upload URL.
func (f *fakeLinkedIn) putUpload(w http.ResponseWriter, r *http.Request) {
	token, _ := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
	data, _ := io.ReadAll(r.Body)
	f.mu.Lock()
	defer f.mu.Unlock()
	if !f.access[token] {
		w.WriteHeader(http.StatusUnauthorized)
		return
	}
	urn, ok := f.uploads[r.PathValue("id")]
	if !ok {
		w.WriteHeader(http.StatusNotFound)
		return
	}
	img := f.images[urn]
	img.data, img.contentType, img.uploaded = data, r.Header.Get("Content-Type"), true
	w.WriteHeader(http.StatusCreated)
}

func (f *fakeLinkedIn) getImage(urn string) (liImage, bool) {
	f.mu.Lock()
	defer f.mu.Unlock()
	img, ok := f.images[urn]
	if !ok {
		return liImage{}, false
	}
	return *img, true
}

func (f *fakeLinkedIn) getCalls() []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	return slices.Clone(f.calls)
}

func (f *fakeLinkedIn) findPosts(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	if q.Get("q") != "author" || r.Header.Get("X-RestLi-Method") != "FINDER" {
		liError(w, http.StatusBadRequest, "ILLEGAL_ARGUMENT", "unsupported finder")
		return
	}
	if q.Get("author") != f.org {
		liError(w, http.StatusForbidden, "ACCESS_DENIED", "Not enough permissions to access: partnerApiPostsExternal.FINDER-author")
		return
	}
	count, err := strconv.Atoi(q.Get("count"))
	if err != nil || count < 1 || count > 100 {
		liError(w, http.StatusBadRequest, "ILLEGAL_ARGUMENT", "count must be between 1 and 100")
		return
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	elements := []map[string]any{}
	for i := len(f.posts) - 1; i >= 0 && len(elements) < count; i-- {
		p := f.posts[i]
		elements = append(elements, map[string]any{
			"isReshareDisabledByAuthor": false, "createdAt": p.at, "lifecycleState": "PUBLISHED", "lastModifiedAt": p.at,
			"visibility": "PUBLIC", "publishedAt": p.at, "author": f.org, "id": p.id, "commentary": p.commentary,
			"distribution": map[string]any{"feedDistribution": "MAIN_FEED", "thirdPartyDistributionChannels": []any{}},
		})
	}
	writeJSON(w, http.StatusOK, map[string]any{"paging": map[string]any{"start": 0, "count": count, "links": []any{}, "total": len(f.posts)}, "elements": elements})
}

func (f *fakeLinkedIn) deletePost(w http.ResponseWriter, r *http.Request) {
	if r.Header.Get("X-RestLi-Method") != "DELETE" {
		liError(w, http.StatusBadRequest, "ILLEGAL_ARGUMENT", "X-RestLi-Method DELETE required")
		return
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	i := slices.IndexFunc(f.posts, func(p *liPost) bool { return p.id == r.PathValue("urn") })
	if i < 0 {
		liError(w, http.StatusNotFound, "NOT_FOUND", "Post not found")
		return
	}
	f.posts = slices.Delete(f.posts, i, i+1)
	w.WriteHeader(http.StatusNoContent)
}

func (f *fakeLinkedIn) createComment(w http.ResponseWriter, r *http.Request) {
	var body struct {
		Actor         string `json:"actor"`
		Object        string `json:"object"`
		ParentComment string `json:"parentComment"`
		Message       struct {
			Text string `json:"text"`
		} `json:"message"`
	}
	if err := json.NewDecoder(r.Body).Decode(&body); err != nil || body.Actor == "" || body.Object == "" || body.Message.Text == "" {
		writeJSON(w, http.StatusUnprocessableEntity, map[string]any{"message": "ERROR :: /message :: field is required but not found and has no default value", "status": 422})
		return
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	target := r.PathValue("urn")
	if body.ParentComment == "" && target != body.Object || body.ParentComment != "" && target != body.ParentComment {
		liError(w, http.StatusBadRequest, "ILLEGAL_ARGUMENT", "object does not match the path")
		return
	}
	f.seq++
	id := strconv.FormatInt(6636062862760562688+f.seq, 10)
	urn := "urn:li:comment:(" + body.Object + "," + id + ")"
	f.comments = append(f.comments, &liComment{urn: urn, object: body.Object, parent: body.ParentComment, actor: body.Actor, text: body.Message.Text})
	writeJSON(w, http.StatusCreated, map[string]any{
		"actor": body.Actor, "id": id, "$URN": urn, "object": body.Object,
		"message": map[string]any{"text": body.Message.Text, "attributes": []any{}},
		"created": map[string]any{"actor": body.Actor, "time": time.Now().UnixMilli()},
	})
}

func (f *fakeLinkedIn) deleteComment(w http.ResponseWriter, r *http.Request) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if r.URL.Query().Get("actor") != f.org {
		liError(w, http.StatusForbidden, "ACCESS_DENIED", "actor required")
		return
	}
	urn := "urn:li:comment:(" + r.PathValue("urn") + "," + r.PathValue("id") + ")"
	i := slices.IndexFunc(f.comments, func(c *liComment) bool { return c.urn == urn })
	if i < 0 {
		liError(w, http.StatusNotFound, "NOT_FOUND", "Comment not found")
		return
	}
	f.comments = slices.Delete(f.comments, i, i+1)
	w.WriteHeader(http.StatusNoContent)
}

func (f *fakeLinkedIn) socialActions(w http.ResponseWriter, r *http.Request) {
	writeJSON(w, http.StatusOK, map[string]any{
		"target":          r.PathValue("urn"),
		"likesSummary":    map[string]any{"selectedLikes": []any{}, "aggregatedTotalLikes": 7, "likedByCurrentUser": false, "totalLikes": 7},
		"commentsSummary": map[string]any{"selectedComments": []any{}, "totalFirstLevelComments": 2, "commentsState": "OPEN", "aggregatedTotalComments": 3},
	})
}

var listParam = regexp.MustCompile(`^List\((.+)\)$`)

func (f *fakeLinkedIn) shareStatistics(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	m := listParam.FindStringSubmatch(q.Get("shares"))
	if q.Get("q") != "organizationalEntity" || q.Get("organizationalEntity") != f.org || m == nil {
		liError(w, http.StatusBadRequest, "ILLEGAL_ARGUMENT", "Invalid query parameters: "+r.URL.RawQuery)
		return
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	elements := []map[string]any{}
	if s, ok := f.stats[m[1]]; ok {
		elements = append(elements, map[string]any{"totalShareStatistics": map[string]any{
			"uniqueImpressionsCount": s["unique"], "shareCount": s["shares"], "engagement": 0.0123,
			"clickCount": s["clicks"], "likeCount": s["likes"], "impressionCount": s["impressions"], "commentCount": s["comments"],
		}, "share": m[1], "organizationalEntity": f.org})
	}
	writeJSON(w, http.StatusOK, map[string]any{"paging": map[string]any{"start": 0, "count": 10, "links": []any{}}, "elements": elements})
}

func (f *fakeLinkedIn) organization(w http.ResponseWriter, r *http.Request) {
	if "urn:li:organization:"+r.PathValue("id") != f.org {
		liError(w, http.StatusNotFound, "NOT_FOUND", "Organization not found")
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"vanityName": "acme", "localizedName": "Acme Corp", "id": 2414183})
}

func (f *fakeLinkedIn) networkSize(w http.ResponseWriter, r *http.Request) {
	if r.PathValue("urn") != f.org || r.URL.Query().Get("edgeType") != "COMPANY_FOLLOWED_BY_MEMBER" {
		liError(w, http.StatusBadRequest, "ILLEGAL_ARGUMENT", "bad network size request")
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"firstDegreeSize": 12345})
}

func (f *fakeLinkedIn) token(w http.ResponseWriter, r *http.Request) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if err := r.ParseForm(); err != nil {
		writeJSON(w, http.StatusBadRequest, map[string]string{"error": "invalid_request", "error_description": "bad form"})
		return
	}
	f.tokenForms = append(f.tokenForms, r.PostForm)
	form := r.PostForm
	if form.Get("grant_type") != "refresh_token" || form.Get("client_id") != f.clientID || form.Get("client_secret") != f.clientSecret {
		writeJSON(w, http.StatusUnauthorized, map[string]string{"error": "invalid_client", "error_description": "Client authentication failed"})
		return
	}
	if !f.refresh[form.Get("refresh_token")] {
		writeJSON(w, http.StatusBadRequest, map[string]string{"error": "invalid_request",
			"error_description": "The provided authorization grant or refresh token is invalid, expired or revoked"})
		return
	}
	access := fmt.Sprintf("li-at-%d", len(f.tokenForms)+1)
	f.access[access] = true
	// LinkedIn's refresh tokens keep their original lifetime and are
	// returned unchanged.
	writeJSON(w, http.StatusOK, map[string]any{"access_token": access, "expires_in": 5184000,
		"refresh_token": form.Get("refresh_token"), "refresh_token_expires_in": 31449600})
}

func (f *fakeLinkedIn) getPosts() []liPost {
	f.mu.Lock()
	defer f.mu.Unlock()
	out := make([]liPost, len(f.posts))
	for i, p := range f.posts {
		out[i] = *p
	}
	return out
}

func (f *fakeLinkedIn) getComments() []liComment {
	f.mu.Lock()
	defer f.mu.Unlock()
	out := make([]liComment, len(f.comments))
	for i, c := range f.comments {
		out[i] = *c
	}
	return out
}

func (f *fakeLinkedIn) getLastHeader() http.Header {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.lastHeader
}

func (f *fakeLinkedIn) getLastBody() map[string]any {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.lastBody
}

func (f *fakeLinkedIn) getTokenForms() []url.Values {
	f.mu.Lock()
	defer f.mu.Unlock()
	return slices.Clone(f.tokenForms)
}

func (f *fakeLinkedIn) callCount() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return len(f.calls)
}

func (f *fakeLinkedIn) set(fn func()) {
	f.mu.Lock()
	defer f.mu.Unlock()
	fn()
}
