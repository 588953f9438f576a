package x_test

import (
	"encoding/json"
	"fmt"
	"html"
	"io"
	"net/http"
	"net/http/httptest"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/cmo-dev/cmo/platforms/x"
)

// fakeX behaves like the parts of X API v2 the connector uses, as the
// documentation describes them: snowflake ids, 201 with {"data":{id,text}}
// on create, problem bodies on errors, text served back with links
// shortened to t.co and &<> escaped, single-use refresh tokens.
type fakeX struct {
	t   *testing.T
	srv *httptest.Server

	mu           sync.Mutex
	userID       string
	username     string
	followers    int64
	clientID     string
	clientSecret string
	access       map[string]bool // valid access tokens
	refresh      map[string]bool // unspent refresh tokens
	posts        []*fakeTweet    // oldest first
	seq          int64
	calls        []string // "METHOD /path"
	tokenCalls   int
	lastBody     map[string]any
	lastAuth     string
	media        map[string]*fakeMedia // uploaded, by media id

	// fault answers a request in place of the fake when it returns true.
	fault func(w http.ResponseWriter, r *http.Request) bool
	// afterCreate runs once a post is stored, before X answers: the
	// platform has accepted the post but the answer is slow to come.
	afterCreate func(r *http.Request)
}

// fakeMedia is an uploaded file.
type fakeMedia struct {
	id, category, contentType, alt string
	data                           []byte
}

type fakeTweet struct {
	mediaIDs                 []string
	id, text, replyTo        string
	at                       time.Time
	likes, retweets, replies int64
	quotes, impressions      int64
}

func newFakeX(t *testing.T) *fakeX {
	f := &fakeX{
		t: t, userID: "2244994945", username: "brand", followers: 583423,
		clientID: "app-client-id", clientSecret: "app-client-secret",
		access:  map[string]bool{"at-1": true},
		refresh: map[string]bool{"rt-1": true},
		media:   map[string]*fakeMedia{},
	}
	mux := http.NewServeMux()
	mux.HandleFunc("POST /2/tweets", f.auth(f.create))
	mux.HandleFunc("POST /2/media/upload", f.auth(f.upload))
	mux.HandleFunc("POST /2/media/metadata", f.auth(f.metadata))
	mux.HandleFunc("GET /2/tweets/{id}", f.auth(f.lookup))
	mux.HandleFunc("DELETE /2/tweets/{id}", f.auth(f.delete))
	mux.HandleFunc("GET /2/users/me", f.auth(f.me))
	mux.HandleFunc("GET /2/users/{id}/tweets", f.auth(f.timeline))
	mux.HandleFunc("POST /2/oauth2/token", f.token)
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
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}

func writeProblem(w http.ResponseWriter, status int, title, detail, typ string, errs ...map[string]any) {
	body := map[string]any{"title": title, "detail": detail, "type": typ, "status": status}
	if len(errs) > 0 {
		body["errors"] = errs
	}
	writeJSON(w, status, body)
}

func (f *fakeX) auth(next http.HandlerFunc) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		token, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
		f.mu.Lock()
		f.lastAuth = token
		valid := ok && f.access[token]
		f.mu.Unlock()
		if !valid {
			writeProblem(w, http.StatusUnauthorized, "Unauthorized", "Unauthorized", "about:blank")
			return
		}
		next(w, r)
	}
}

func (f *fakeX) create(w http.ResponseWriter, r *http.Request) {
	if !strings.HasPrefix(r.Header.Get("Content-Type"), "application/json") {
		writeProblem(w, http.StatusBadRequest, "Invalid Request", "Content-Type must be application/json", "https://api.twitter.com/2/problems/invalid-request")
		return
	}
	var raw map[string]any
	if err := json.NewDecoder(r.Body).Decode(&raw); err != nil {
		writeProblem(w, http.StatusBadRequest, "Invalid Request", "Malformed JSON", "https://api.twitter.com/2/problems/invalid-request")
		return
	}
	text, _ := raw["text"].(string)
	var replyTo string
	if reply, ok := raw["reply"].(map[string]any); ok {
		replyTo, _ = reply["in_reply_to_tweet_id"].(string)
	}
	var mediaIDs []string
	if m, ok := raw["media"].(map[string]any); ok {
		ids, _ := m["media_ids"].([]any)
		for _, id := range ids {
			s, _ := id.(string)
			mediaIDs = append(mediaIDs, s)
		}
	}
	f.mu.Lock()
	f.lastBody = raw
	switch {
	case len(mediaIDs) > 4 || slices.ContainsFunc(mediaIDs, func(id string) bool { return f.media[id] == nil }):
		f.mu.Unlock()
		writeProblem(w, http.StatusBadRequest, "Invalid Request", "One or more parameters to your request was invalid.",
			"https://api.twitter.com/2/problems/invalid-request", map[string]any{"message": "Your media IDs are invalid."})
		return
	case strings.TrimSpace(text) == "" && len(mediaIDs) == 0:
		f.mu.Unlock()
		writeProblem(w, http.StatusBadRequest, "Invalid Request", "One or more parameters to your request was invalid.",
			"https://api.twitter.com/2/problems/invalid-request", map[string]any{"message": "text must not be empty"})
		return
	case replyTo != "" && f.find(replyTo) == nil:
		f.mu.Unlock()
		writeProblem(w, http.StatusBadRequest, "Invalid Request", "One or more parameters to your request was invalid.",
			"https://api.twitter.com/2/problems/invalid-request",
			map[string]any{"message": fmt.Sprintf("The `reply.in_reply_to_tweet_id` query parameter value [%s] does not exist", replyTo)})
		return
	case slices.ContainsFunc(f.posts, func(p *fakeTweet) bool { return p.text == text }):
		f.mu.Unlock()
		writeProblem(w, http.StatusForbidden, "Forbidden", "You are not allowed to create a Tweet with duplicate content.", "about:blank")
		return
	}
	f.seq++
	now := time.Now()
	id := strconv.FormatInt((now.UnixMilli()-1288834974657)<<22|f.seq, 10)
	f.posts = append(f.posts, &fakeTweet{id: id, text: text, replyTo: replyTo, mediaIDs: mediaIDs, at: now.UTC().Truncate(time.Millisecond)})
	after := f.afterCreate
	f.mu.Unlock()
	if after != nil {
		after(r)
	}
	writeJSON(w, http.StatusCreated, map[string]any{"data": map[string]any{"id": id, "text": text, "edit_history_tweet_ids": []string{id}}})
}

// upload is POST /2/media/upload with a multipart body: the file in
// "media", its use in "media_category"; it answers {"data":{"id",...}}.
func (f *fakeX) upload(w http.ResponseWriter, r *http.Request) {
	if err := r.ParseMultipartForm(10 << 20); err != nil {
		writeProblem(w, http.StatusBadRequest, "Invalid Request", "expected multipart/form-data", "https://api.twitter.com/2/problems/invalid-request")
		return
	}
	file, hdr, err := r.FormFile("media")
	category := r.FormValue("media_category")
	if err != nil || !slices.Contains([]string{"tweet_image", "tweet_gif", "tweet_video"}, category) {
		writeProblem(w, http.StatusBadRequest, "Invalid Request", "One or more parameters to your request was invalid.",
			"https://api.twitter.com/2/problems/invalid-request")
		return
	}
	defer file.Close()
	data, _ := io.ReadAll(file)
	f.mu.Lock()
	defer f.mu.Unlock()
	f.seq++
	id := strconv.FormatInt((time.Now().UnixMilli()-1288834974657)<<22|f.seq, 10)
	f.media[id] = &fakeMedia{id: id, category: category, contentType: hdr.Header.Get("Content-Type"), data: data}
	writeJSON(w, http.StatusOK, map[string]any{"data": map[string]any{
		"id": id, "media_key": "3_" + id, "size": len(data), "expires_after_secs": 86400,
		"image": map[string]any{"image_type": hdr.Header.Get("Content-Type"), "w": 1, "h": 1},
	}})
}

// metadata is POST /2/media/metadata: {"id", "metadata":{"alt_text":{"text"}}}.
func (f *fakeX) metadata(w http.ResponseWriter, r *http.Request) {
	var body struct {
		ID       string `json:"id"`
		Metadata struct {
			AltText struct {
				Text string `json:"text"`
			} `json:"alt_text"`
		} `json:"metadata"`
	}
	if err := json.NewDecoder(r.Body).Decode(&body); err != nil {
		writeProblem(w, http.StatusBadRequest, "Invalid Request", "Malformed JSON", "https://api.twitter.com/2/problems/invalid-request")
		return
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	m := f.media[body.ID]
	if m == nil {
		writeProblem(w, http.StatusBadRequest, "Invalid Request", "media not found", "https://api.twitter.com/2/problems/invalid-request")
		return
	}
	m.alt = body.Metadata.AltText.Text
	writeJSON(w, http.StatusOK, map[string]any{"data": map[string]any{"id": m.id, "associated_metadata": map[string]any{"alt_text": map[string]string{"text": m.alt}}}})
}

func (f *fakeX) getMedia(id string) (fakeMedia, bool) {
	f.mu.Lock()
	defer f.mu.Unlock()
	m, ok := f.media[id]
	if !ok {
		return fakeMedia{}, false
	}
	return *m, true
}

func (f *fakeX) find(id string) *fakeTweet {
	for _, p := range f.posts {
		if p.id == id {
			return p
		}
	}
	return nil
}

func (f *fakeX) lookup(w http.ResponseWriter, r *http.Request) {
	f.mu.Lock()
	defer f.mu.Unlock()
	p := f.find(r.PathValue("id"))
	if p == nil {
		// X answers lookups of missing posts with 200 and an errors array.
		writeJSON(w, http.StatusOK, map[string]any{"errors": []map[string]any{{
			"value": r.PathValue("id"), "detail": "Could not find tweet with id: [" + r.PathValue("id") + "].",
			"title": "Not Found Error", "resource_type": "tweet", "parameter": "id",
			"type": "https://api.twitter.com/2/problems/resource-not-found",
		}}})
		return
	}
	data := map[string]any{"id": p.id, "text": p.text, "edit_history_tweet_ids": []string{p.id}}
	if strings.Contains(r.URL.Query().Get("tweet.fields"), "public_metrics") {
		data["public_metrics"] = map[string]int64{
			"retweet_count": p.retweets, "reply_count": p.replies, "like_count": p.likes,
			"quote_count": p.quotes, "bookmark_count": 3, "impression_count": p.impressions,
		}
	}
	writeJSON(w, http.StatusOK, map[string]any{"data": data})
}

func (f *fakeX) delete(w http.ResponseWriter, r *http.Request) {
	f.mu.Lock()
	defer f.mu.Unlock()
	i := slices.IndexFunc(f.posts, func(p *fakeTweet) bool { return p.id == r.PathValue("id") })
	if i < 0 {
		writeProblem(w, http.StatusNotFound, "Not Found Error", "Could not find tweet with id: ["+r.PathValue("id")+"].",
			"https://api.twitter.com/2/problems/resource-not-found")
		return
	}
	f.posts = slices.Delete(f.posts, i, i+1)
	writeJSON(w, http.StatusOK, map[string]any{"data": map[string]bool{"deleted": true}})
}

func (f *fakeX) me(w http.ResponseWriter, r *http.Request) {
	data := map[string]any{"id": f.userID, "name": "Brand Inc.", "username": f.username}
	if strings.Contains(r.URL.Query().Get("user.fields"), "public_metrics") {
		data["public_metrics"] = map[string]int64{"followers_count": f.followers, "following_count": 12, "tweet_count": 14052, "listed_count": 16}
	}
	writeJSON(w, http.StatusOK, map[string]any{"data": data})
}

var tcoLink = regexp.MustCompile(`https?://[^\s]+`)

// render is a post's text as X serves it back.
func render(text string) (string, []map[string]any) {
	var urls []map[string]any
	n := 0
	out := tcoLink.ReplaceAllStringFunc(text, func(u string) string {
		n++
		short := fmt.Sprintf("https://t.co/abc%04d", n)
		urls = append(urls, map[string]any{"url": short, "expanded_url": u, "display_url": strings.TrimPrefix(u, "https://")})
		return short
	})
	return html.EscapeString(out), urls
}

func (f *fakeX) timeline(w http.ResponseWriter, r *http.Request) {
	if r.PathValue("id") != f.userID {
		writeProblem(w, http.StatusNotFound, "Not Found Error", "Could not find user", "https://api.twitter.com/2/problems/resource-not-found")
		return
	}
	n, err := strconv.Atoi(r.URL.Query().Get("max_results"))
	if r.URL.Query().Has("max_results") && (err != nil || n < 5 || n > 100) {
		writeProblem(w, http.StatusBadRequest, "Invalid Request", "One or more parameters to your request was invalid.",
			"https://api.twitter.com/2/problems/invalid-request", map[string]any{"message": "The `max_results` query parameter value is not between 5 and 100"})
		return
	}
	if n == 0 {
		n = 10
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	var data []map[string]any
	for i := len(f.posts) - 1; i >= 0 && len(data) < n; i-- {
		p := f.posts[i]
		text, urls := render(p.text)
		d := map[string]any{"id": p.id, "text": text, "edit_history_tweet_ids": []string{p.id}}
		fields := r.URL.Query().Get("tweet.fields")
		if strings.Contains(fields, "created_at") {
			d["created_at"] = p.at.Format("2006-01-02T15:04:05.000Z")
		}
		if strings.Contains(fields, "entities") && len(urls) > 0 {
			d["entities"] = map[string]any{"urls": urls}
		}
		data = append(data, d)
	}
	if len(data) == 0 {
		writeJSON(w, http.StatusOK, map[string]any{"meta": map[string]int{"result_count": 0}})
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"data": data, "meta": map[string]any{"result_count": len(data), "newest_id": data[0]["id"]}})
}

func (f *fakeX) token(w http.ResponseWriter, r *http.Request) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.tokenCalls++
	if err := r.ParseForm(); err != nil || r.Header.Get("Content-Type") != "application/x-www-form-urlencoded" {
		writeJSON(w, http.StatusBadRequest, map[string]string{"error": "invalid_request", "error_description": "Missing required parameter"})
		return
	}
	if f.clientSecret != "" {
		id, secret, ok := r.BasicAuth()
		if !ok || id != f.clientID || secret != f.clientSecret {
			writeJSON(w, http.StatusUnauthorized, map[string]string{"error": "unauthorized_client", "error_description": "Missing valid authorization header"})
			return
		}
	}
	rt := r.PostForm.Get("refresh_token")
	if r.PostForm.Get("grant_type") != "refresh_token" || r.PostForm.Get("client_id") != f.clientID || !f.refresh[rt] {
		writeJSON(w, http.StatusBadRequest, map[string]string{"error": "invalid_request", "error_description": "Value passed for the token was invalid."})
		return
	}
	delete(f.refresh, rt) // single use
	access := fmt.Sprintf("at-%d", f.tokenCalls+1)
	next := fmt.Sprintf("rt-%d", f.tokenCalls+1)
	f.access[access] = true
	f.refresh[next] = true
	writeJSON(w, http.StatusOK, map[string]any{
		"token_type": "bearer", "expires_in": 7200, "access_token": access,
		"scope": "tweet.read tweet.write users.read offline.access", "refresh_token": next,
	})
}

func (f *fakeX) expireAccess(token string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	delete(f.access, token)
}

func (f *fakeX) callCount(prefix string) int {
	f.mu.Lock()
	defer f.mu.Unlock()
	n := 0
	for _, c := range f.calls {
		if strings.HasPrefix(c, prefix) {
			n++
		}
	}
	return n
}

func (f *fakeX) client(timeout time.Duration) *x.Client {
	return x.New(&http.Client{Timeout: timeout}, f.clientID, f.clientSecret)
}

// Getters read the fake's state under its lock: handlers may still be
// running when a test looks.

func (f *fakeX) getPosts() []fakeTweet {
	f.mu.Lock()
	defer f.mu.Unlock()
	out := make([]fakeTweet, len(f.posts))
	for i, p := range f.posts {
		out[i] = *p
	}
	return out
}

func (f *fakeX) getLastAuth() string {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.lastAuth
}

func (f *fakeX) getLastBody() map[string]any {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.lastBody
}

func (f *fakeX) getTokenCalls() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.tokenCalls
}

func (f *fakeX) set(fn func()) {
	f.mu.Lock()
	defer f.mu.Unlock()
	fn()
}
