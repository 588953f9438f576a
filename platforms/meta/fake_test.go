package meta_test

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/url"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/cmo-dev/cmo/platforms/meta"
)

// fakeGraph behaves like the Graph API endpoints the connectors use, as
// Meta documents them: versioned paths, form-encoded POST parameters,
// {"id":...} answers, {"error":{message,type,code,error_subcode,
// fbtrace_id}} bodies with HTTP 400 whatever the cause, a Page feed, and
// Instagram's container → media_publish flow with its publishing limit.
type fakeGraph struct {
	t   *testing.T
	srv *httptest.Server

	mu      sync.Mutex
	tokens  map[string]bool
	pageID  string
	igID    string
	objects map[string]*object
	order   []string // creation order of posts and media
	seq     int
	calls   []string
	lastReq struct {
		auth  string
		form  url.Values
		query url.Values
	}
	quotaUsage      int
	inProgressPolls int    // polls answered IN_PROGRESS before FINISHED
	containerStatus string // overrides FINISHED, e.g. "ERROR"
	insightsError   bool   // /insights answers "invalid metric"

	fault       func(w http.ResponseWriter, r *http.Request) bool
	afterCreate func(r *http.Request) // after a post or media is stored, before answering
}

type object struct {
	kind                    string // fbpost, comment, container, media
	id, text, parent, image string
	at                      time.Time
	polls                   int
	likes, comments, shares int64
	views, clicks           int64
	media                   []string // Facebook attached_media fbids; Instagram carousel children
	mediaType               string   // Instagram container media_type (IMAGE when not given)
	carouselItem            bool
	published               bool // Facebook photo: published on its own
}

func newFakeGraph(t *testing.T) *fakeGraph {
	f := &fakeGraph{
		t: t, tokens: map[string]bool{"page-token": true, "ig-token": true},
		pageID: "104000000000001", igID: "17841405822304914",
		objects: map[string]*object{},
	}
	v := "/" + meta.GraphVersion
	mux := http.NewServeMux()
	mux.HandleFunc("POST "+v+"/{id}/feed", f.auth(f.createFeedPost))
	mux.HandleFunc("POST "+v+"/{id}/photos", f.auth(f.createPhoto))
	mux.HandleFunc("GET "+v+"/{id}/feed", f.auth(f.feed))
	mux.HandleFunc("POST "+v+"/{id}/comments", f.auth(f.createComment))
	mux.HandleFunc("GET "+v+"/{id}/insights", f.auth(f.insights))
	mux.HandleFunc("GET "+v+"/{id}/content_publishing_limit", f.auth(f.publishingLimit))
	mux.HandleFunc("POST "+v+"/{id}/media", f.auth(f.createContainer))
	mux.HandleFunc("GET "+v+"/{id}/media", f.auth(f.media))
	mux.HandleFunc("POST "+v+"/{id}/media_publish", f.auth(f.publishContainer))
	mux.HandleFunc("GET "+v+"/{id}", f.auth(f.get))
	mux.HandleFunc("DELETE "+v+"/{id}", f.auth(f.delete))
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
	w.Header().Set("Content-Type", "application/json; charset=UTF-8")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}

// graphError answers the way the Graph does: HTTP 400 (unless told
// otherwise) and the code in the body.
func graphError(w http.ResponseWriter, status int, typ string, code, subcode int, msg string) {
	e := map[string]any{"message": msg, "type": typ, "code": code, "fbtrace_id": "AWy9dXk2hF1"}
	if subcode != 0 {
		e["error_subcode"] = subcode
	}
	writeJSON(w, status, map[string]any{"error": e})
}

func (f *fakeGraph) auth(next http.HandlerFunc) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		token, _ := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
		if r.Method == http.MethodPost {
			if err := r.ParseForm(); err != nil || r.Header.Get("Content-Type") != "application/x-www-form-urlencoded" {
				graphError(w, http.StatusBadRequest, "OAuthException", 100, 0, "(#100) Invalid parameter")
				return
			}
		}
		f.mu.Lock()
		f.lastReq.auth, f.lastReq.form, f.lastReq.query = token, r.PostForm, r.URL.Query()
		valid := f.tokens[token]
		f.mu.Unlock()
		if r.URL.Query().Has("access_token") {
			f.t.Errorf("the token must not travel in the URL")
		}
		if !valid {
			graphError(w, http.StatusBadRequest, "OAuthException", 190, 463,
				"Error validating access token: Session has expired on Tuesday, 09-Jun-26 10:00:00 PDT. The current time is Tuesday, 09-Jun-26 11:00:00 PDT.")
			return
		}
		next(w, r)
	}
}

func (f *fakeGraph) newID(prefix string) string {
	f.seq++
	return fmt.Sprintf("%s%d", prefix, 1000+f.seq)
}

func (f *fakeGraph) createFeedPost(w http.ResponseWriter, r *http.Request) {
	if r.PathValue("id") != f.pageID {
		graphError(w, http.StatusBadRequest, "GraphMethodException", 100, 33,
			"Unsupported post request. Object with ID '"+r.PathValue("id")+"' does not exist, cannot be loaded due to missing permissions, or does not support this operation.")
		return
	}
	msg := r.PostForm.Get("message")
	f.mu.Lock()
	var attached []string
	for i := 0; r.PostForm.Has(fmt.Sprintf("attached_media[%d]", i)); i++ {
		var am struct {
			MediaFBID string `json:"media_fbid"`
		}
		err := json.Unmarshal([]byte(r.PostForm.Get(fmt.Sprintf("attached_media[%d]", i))), &am)
		if o, ok := f.objects[am.MediaFBID]; err != nil || !ok || o.kind != "photo" || o.published {
			f.mu.Unlock()
			graphError(w, http.StatusBadRequest, "OAuthException", 100, 0, "(#100) param attached_media must be an unpublished photo")
			return
		}
		attached = append(attached, am.MediaFBID)
	}
	if strings.TrimSpace(msg) == "" && len(attached) == 0 {
		f.mu.Unlock()
		graphError(w, http.StatusBadRequest, "OAuthException", 100, 0, "(#100) Missing message or attachment")
		return
	}
	for _, id := range f.order {
		if o := f.objects[id]; o.kind == "fbpost" && msg != "" && o.text == msg {
			f.mu.Unlock()
			graphError(w, http.StatusBadRequest, "OAuthException", 506, 1455006, "Duplicate status message")
			return
		}
	}
	id := f.pageID + "_" + f.newID("12200")
	f.objects[id] = &object{kind: "fbpost", id: id, text: msg, media: attached, at: time.Now().UTC().Truncate(time.Second)}
	f.order = append(f.order, id)
	after := f.afterCreate
	f.mu.Unlock()
	if after != nil {
		after(r)
	}
	writeJSON(w, http.StatusOK, map[string]string{"id": id})
}

// createPhoto is POST /{page-id}/photos with a url Facebook fetches: a
// published photo makes a feed post and answers {id, post_id}; with
// published=false it only stores the photo for attached_media.
func (f *fakeGraph) createPhoto(w http.ResponseWriter, r *http.Request) {
	if r.PathValue("id") != f.pageID {
		graphError(w, http.StatusBadRequest, "GraphMethodException", 100, 33, "Unsupported post request.")
		return
	}
	u := r.PostForm.Get("url")
	if !strings.HasPrefix(u, "https://") {
		graphError(w, http.StatusBadRequest, "OAuthException", 324, 2069019, "(#324) Missing or invalid image file")
		return
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	published := r.PostForm.Get("published") != "false"
	id := f.newID("5550")
	f.objects[id] = &object{kind: "photo", id: id, text: r.PostForm.Get("caption"), image: u, published: published}
	if !published {
		writeJSON(w, http.StatusOK, map[string]string{"id": id})
		return
	}
	postID := f.pageID + "_" + f.newID("12200")
	f.objects[postID] = &object{kind: "fbpost", id: postID, text: r.PostForm.Get("caption"), image: u, media: []string{id},
		at: time.Now().UTC().Truncate(time.Second)}
	f.order = append(f.order, postID)
	writeJSON(w, http.StatusOK, map[string]string{"id": id, "post_id": postID})
}

func (f *fakeGraph) feed(w http.ResponseWriter, r *http.Request) {
	f.mu.Lock()
	defer f.mu.Unlock()
	var data []map[string]any
	for i := len(f.order) - 1; i >= 0; i-- {
		o := f.objects[f.order[i]]
		if o.kind != "fbpost" {
			continue
		}
		data = append(data, map[string]any{
			"id": o.id, "message": o.text, "created_time": o.at.Format("2006-01-02T15:04:05-0700"),
			"permalink_url": "https://www.facebook.com/" + strings.Replace(o.id, "_", "/posts/", 1),
		})
	}
	writeJSON(w, http.StatusOK, map[string]any{"data": data, "paging": map[string]any{"cursors": map[string]string{"before": "a", "after": "b"}}})
}

func (f *fakeGraph) createComment(w http.ResponseWriter, r *http.Request) {
	f.mu.Lock()
	defer f.mu.Unlock()
	parent, ok := f.objects[r.PathValue("id")]
	if !ok || parent.kind == "container" {
		graphError(w, http.StatusBadRequest, "GraphMethodException", 100, 33,
			"Unsupported post request. Object with ID '"+r.PathValue("id")+"' does not exist, cannot be loaded due to missing permissions, or does not support this operation.")
		return
	}
	id := f.newID("1789000")
	if parent.kind == "fbpost" {
		id = parent.id + "_" + id
	}
	f.objects[id] = &object{kind: "comment", id: id, text: r.PostForm.Get("message"), parent: parent.id, at: time.Now().UTC()}
	parent.comments++
	writeJSON(w, http.StatusOK, map[string]string{"id": id})
}

func (f *fakeGraph) insights(w http.ResponseWriter, r *http.Request) {
	f.mu.Lock()
	defer f.mu.Unlock()
	o, ok := f.objects[r.PathValue("id")]
	if !ok {
		graphError(w, http.StatusBadRequest, "GraphMethodException", 100, 33, "Unsupported get request.")
		return
	}
	if f.insightsError {
		graphError(w, http.StatusBadRequest, "OAuthException", 100, 0, "(#100) The value must be a valid insights metric")
		return
	}
	var data []map[string]any
	for _, m := range strings.Split(r.URL.Query().Get("metric"), ",") {
		var v int64
		switch m {
		case "post_total_media_view_unique", "views":
			v = o.views
		case "post_clicks":
			v = o.clicks
		case "shares":
			v = o.shares
		default:
			graphError(w, http.StatusBadRequest, "OAuthException", 100, 0, "(#100) The value must be a valid insights metric")
			return
		}
		data = append(data, map[string]any{"name": m, "period": "lifetime", "values": []map[string]int64{{"value": v}},
			"title": m, "id": o.id + "/insights/" + m + "/lifetime"})
	}
	writeJSON(w, http.StatusOK, map[string]any{"data": data})
}

func (f *fakeGraph) publishingLimit(w http.ResponseWriter, r *http.Request) {
	f.mu.Lock()
	defer f.mu.Unlock()
	writeJSON(w, http.StatusOK, map[string]any{"data": []map[string]any{{
		"quota_usage": f.quotaUsage, "config": map[string]int{"quota_total": 50, "quota_duration": 86400},
	}}})
}

func (f *fakeGraph) createContainer(w http.ResponseWriter, r *http.Request) {
	if r.PathValue("id") != f.igID {
		graphError(w, http.StatusBadRequest, "GraphMethodException", 100, 33, "Unsupported post request.")
		return
	}
	mediaType := r.PostForm.Get("media_type")
	item := r.PostForm.Get("is_carousel_item") == "true"
	media := r.PostForm.Get("image_url")
	var children []string
	f.mu.Lock()
	defer f.mu.Unlock()
	switch mediaType {
	case "CAROUSEL":
		children = strings.Split(r.PostForm.Get("children"), ",")
		if len(children) < 2 || len(children) > 10 {
			graphError(w, http.StatusBadRequest, "OAuthException", 100, 2207050, "(#100) A carousel needs 2 to 10 children")
			return
		}
		for _, c := range children {
			if o, ok := f.objects[c]; !ok || o.kind != "container" || !o.carouselItem {
				graphError(w, http.StatusBadRequest, "OAuthException", 100, 0, "(#100) Invalid carousel child "+c)
				return
			}
		}
	case "REELS", "VIDEO":
		media = r.PostForm.Get("video_url")
		if (mediaType == "VIDEO") != item {
			graphError(w, http.StatusBadRequest, "OAuthException", 100, 0, "(#100) media_type VIDEO is only for carousel items")
			return
		}
	case "":
		mediaType = "IMAGE"
	default:
		graphError(w, http.StatusBadRequest, "OAuthException", 100, 0, "(#100) Invalid media_type")
		return
	}
	if mediaType != "CAROUSEL" && !strings.HasPrefix(media, "https://") {
		graphError(w, http.StatusBadRequest, "OAuthException", 9004, 2207052,
			"Media download has failed. The media URI doesn't meet our requirements.")
		return
	}
	id := f.newID("17889455560051")
	f.objects[id] = &object{kind: "container", id: id, text: r.PostForm.Get("caption"), image: media,
		mediaType: mediaType, carouselItem: item, media: children}
	writeJSON(w, http.StatusOK, map[string]string{"id": id})
}

func (f *fakeGraph) publishContainer(w http.ResponseWriter, r *http.Request) {
	f.mu.Lock()
	c, ok := f.objects[r.PostForm.Get("creation_id")]
	if !ok || c.kind != "container" || c.carouselItem {
		f.mu.Unlock()
		graphError(w, http.StatusBadRequest, "OAuthException", 100, 2207001, "(#100) Invalid creation_id")
		return
	}
	if f.quotaUsage >= 50 {
		f.mu.Unlock()
		graphError(w, http.StatusBadRequest, "OAuthException", 9, 2207042, "Application request limit reached")
		return
	}
	if ready := f.inProgressPolls == 0 || c.polls > f.inProgressPolls; !ready || f.containerStatus != "" {
		f.mu.Unlock()
		graphError(w, http.StatusBadRequest, "OAuthException", 9007, 2207027, "Media ID is not available")
		return
	}
	c.kind = "published-container"
	id := f.newID("17920238422030")
	f.objects[id] = &object{kind: "media", id: id, text: c.text, image: c.image, mediaType: c.mediaType, media: c.media,
		at: time.Now().UTC().Truncate(time.Second)}
	f.order = append(f.order, id)
	f.quotaUsage++
	after := f.afterCreate
	f.mu.Unlock()
	if after != nil {
		after(r)
	}
	writeJSON(w, http.StatusOK, map[string]string{"id": id})
}

func (f *fakeGraph) media(w http.ResponseWriter, r *http.Request) {
	f.mu.Lock()
	defer f.mu.Unlock()
	var data []map[string]any
	for i := len(f.order) - 1; i >= 0; i-- {
		o := f.objects[f.order[i]]
		if o.kind != "media" {
			continue
		}
		data = append(data, map[string]any{"id": o.id, "caption": o.text, "permalink": "https://www.instagram.com/p/" + o.id + "/",
			"timestamp": o.at.Format("2006-01-02T15:04:05-0700")})
	}
	writeJSON(w, http.StatusOK, map[string]any{"data": data})
}

func (f *fakeGraph) get(w http.ResponseWriter, r *http.Request) {
	f.mu.Lock()
	defer f.mu.Unlock()
	id := r.PathValue("id")
	switch id {
	case f.pageID:
		writeJSON(w, http.StatusOK, map[string]any{"id": f.pageID, "name": "Acme", "username": "acmecorp", "followers_count": 48213})
		return
	case f.igID:
		writeJSON(w, http.StatusOK, map[string]any{"id": f.igID, "username": "acme", "name": "Acme Corp", "followers_count": 9120})
		return
	}
	o, ok := f.objects[id]
	if !ok {
		graphError(w, http.StatusBadRequest, "GraphMethodException", 100, 33,
			"Unsupported get request. Object with ID '"+id+"' does not exist, cannot be loaded due to missing permissions, or does not support this operation.")
		return
	}
	switch o.kind {
	case "container":
		o.polls++
		status := "IN_PROGRESS"
		if f.containerStatus != "" {
			status = f.containerStatus
		} else if o.polls > f.inProgressPolls {
			status = "FINISHED"
		}
		body := map[string]any{"id": o.id, "status_code": status}
		if status == "ERROR" {
			body["status"] = "Error: Media upload has failed with error code 2207003"
		}
		writeJSON(w, http.StatusOK, body)
	case "media":
		writeJSON(w, http.StatusOK, map[string]any{"id": o.id, "permalink": "https://www.instagram.com/p/" + o.id + "/",
			"timestamp": o.at.Format("2006-01-02T15:04:05-0700"), "like_count": o.likes, "comments_count": o.comments})
	default:
		writeJSON(w, http.StatusOK, map[string]any{
			"id": o.id, "shares": map[string]int64{"count": o.shares},
			"reactions": map[string]any{"data": []any{}, "summary": map[string]any{"total_count": o.likes, "viewer_reaction": "NONE"}},
			"comments":  map[string]any{"data": []any{}, "summary": map[string]any{"order": "ranked", "total_count": o.comments, "can_comment": true}},
		})
	}
}

func (f *fakeGraph) delete(w http.ResponseWriter, r *http.Request) {
	f.mu.Lock()
	defer f.mu.Unlock()
	id := r.PathValue("id")
	if _, ok := f.objects[id]; !ok {
		graphError(w, http.StatusBadRequest, "GraphMethodException", 100, 33,
			"Unsupported delete request. Object with ID '"+id+"' does not exist, cannot be loaded due to missing permissions, or does not support this operation.")
		return
	}
	delete(f.objects, id)
	f.order = slices.DeleteFunc(f.order, func(s string) bool { return s == id })
	writeJSON(w, http.StatusOK, map[string]bool{"success": true})
}

func (f *fakeGraph) set(fn func()) {
	f.mu.Lock()
	defer f.mu.Unlock()
	fn()
}

func (f *fakeGraph) count(kind string) int {
	f.mu.Lock()
	defer f.mu.Unlock()
	n := 0
	for _, o := range f.objects {
		if o.kind == kind {
			n++
		}
	}
	return n
}

func (f *fakeGraph) callsTo(suffix string) int {
	f.mu.Lock()
	defer f.mu.Unlock()
	n := 0
	for _, c := range f.calls {
		if strings.HasSuffix(c, suffix) {
			n++
		}
	}
	return n
}

func (f *fakeGraph) allCalls() []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	return slices.Clone(f.calls)
}

func (f *fakeGraph) last() (auth string, form, query url.Values) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.lastReq.auth, f.lastReq.form, f.lastReq.query
}

func (f *fakeGraph) object(id string) (object, bool) {
	f.mu.Lock()
	defer f.mu.Unlock()
	o, ok := f.objects[id]
	if !ok {
		return object{}, false
	}
	return *o, true
}
