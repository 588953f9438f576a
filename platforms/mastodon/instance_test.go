package mastodon_test

import (
	"encoding/json"
	"fmt"
	"html"
	"io"
	"mime"
	"net/http"
	"net/http/httptest"
	"net/url"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/rivo/uniseg"
)

// instance is a Mastodon server as its API documentation describes it
// (docs.joinmastodon.org/methods/statuses, /methods/accounts,
// /methods/media, /entities/Error, /api/rate-limits): bearer tokens,
// form-encoded status creation honouring Idempotency-Key, statuses
// rendered to HTML, errors as {"error": "..."}.
type instance struct {
	t   *testing.T
	srv *httptest.Server

	mu       sync.Mutex
	accounts map[string]*fakeAccount // by token
	statuses []*fakeStatus           // in creation order
	byKey    map[string]string       // account id + idempotency key -> status id
	media    map[string]*fakeMedia
	nextID   int64

	// fault, when set, answers a request instead of the instance.
	fault func(w http.ResponseWriter, r *http.Request) bool
	// afterCreate runs once a status is stored, before the answer is
	// written: a slow or failing instance that did accept the post.
	afterCreate func()

	verifyCalls int
	creates     []createRequest
	uploads     []uploadRequest
	uploadData  [][]byte // the file of each upload, in order
}

type fakeAccount struct {
	ID, Username string
	Followers    int64
}

type fakeStatus struct {
	ID, AccountID, Text, InReplyTo, Visibility string
	MediaIDs                                   []string
	CreatedAt                                  time.Time
	Favourites, Reblogs, Replies               int64
}

type fakeMedia struct {
	ID, Type, Description string
	pollsLeft             int // GETs answered 206 before the media is ready
}

type createRequest struct {
	ContentType, Authorization, IdempotencyKey string
	Form                                       url.Values
}

type uploadRequest struct {
	Filename, ContentType, Description string
	Size                               int
}

const (
	aliceToken = "tok-alice-4f1d9c"
	bobToken   = "tok-bob-77e0a2"
)

func newInstance(t *testing.T) *instance {
	t.Helper()
	in := &instance{
		t: t,
		accounts: map[string]*fakeAccount{
			aliceToken: {ID: "109348746182933001", Username: "alice", Followers: 1234},
			bobToken:   {ID: "109348746182933002", Username: "bob", Followers: 7},
		},
		byKey:  map[string]string{},
		media:  map[string]*fakeMedia{},
		nextID: 111000000000000000,
	}
	mux := http.NewServeMux()
	mux.HandleFunc("POST /api/v1/statuses", in.authed(in.createStatus))
	mux.HandleFunc("GET /api/v1/statuses/{id}", in.authed(in.getStatus))
	mux.HandleFunc("DELETE /api/v1/statuses/{id}", in.authed(in.deleteStatus))
	mux.HandleFunc("GET /api/v1/accounts/verify_credentials", in.authed(in.verifyCredentials))
	mux.HandleFunc("GET /api/v1/accounts/{id}/statuses", in.authed(in.accountStatuses))
	mux.HandleFunc("POST /api/v2/media", in.authed(in.uploadMedia))
	mux.HandleFunc("GET /api/v1/media/{id}", in.authed(in.getMedia))
	in.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		in.mu.Lock()
		fault := in.fault
		in.mu.Unlock()
		if fault != nil && fault(w, r) {
			return
		}
		mux.ServeHTTP(w, r)
	}))
	t.Cleanup(in.srv.Close)
	return in
}

func (in *instance) setFault(f func(w http.ResponseWriter, r *http.Request) bool) {
	in.mu.Lock()
	defer in.mu.Unlock()
	in.fault = f
}

func (in *instance) host() string {
	u, _ := url.Parse(in.srv.URL)
	return u.Host
}

func writeJSON(w http.ResponseWriter, code int, v any) {
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.WriteHeader(code)
	_ = json.NewEncoder(w).Encode(v)
}

func writeError(w http.ResponseWriter, code int, msg string) {
	writeJSON(w, code, map[string]string{"error": msg})
}

func (in *instance) authed(h func(w http.ResponseWriter, r *http.Request, a *fakeAccount)) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		tok, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
		in.mu.Lock()
		a := in.accounts[tok]
		in.mu.Unlock()
		if !ok || a == nil {
			writeError(w, http.StatusUnauthorized, "The access token is invalid")
			return
		}
		h(w, r, a)
	}
}

func (in *instance) createStatus(w http.ResponseWriter, r *http.Request, a *fakeAccount) {
	if err := r.ParseForm(); err != nil {
		writeError(w, http.StatusBadRequest, err.Error())
		return
	}
	key := r.Header.Get("Idempotency-Key")
	in.mu.Lock()
	in.creates = append(in.creates, createRequest{
		ContentType: r.Header.Get("Content-Type"), Authorization: r.Header.Get("Authorization"),
		IdempotencyKey: key, Form: r.PostForm,
	})
	if key != "" {
		if id, ok := in.byKey[a.ID+"\x00"+key]; ok {
			st := in.find(id)
			in.mu.Unlock()
			writeJSON(w, http.StatusOK, in.render(st))
			return
		}
	}
	text := strings.TrimSpace(r.PostForm.Get("status"))
	mediaIDs := r.PostForm["media_ids[]"]
	switch {
	case text == "" && len(mediaIDs) == 0:
		in.mu.Unlock()
		writeError(w, http.StatusUnprocessableEntity, "Validation failed: Text can't be blank")
		return
	case uniseg.GraphemeClusterCount(text) > 500:
		in.mu.Unlock()
		writeError(w, http.StatusUnprocessableEntity, "Validation failed: Text character limit of 500 exceeded")
		return
	}
	if id := r.PostForm.Get("in_reply_to_id"); id != "" && in.find(id) == nil {
		in.mu.Unlock()
		writeError(w, http.StatusNotFound, "Record not found")
		return
	}
	for _, id := range mediaIDs {
		if in.media[id] == nil {
			in.mu.Unlock()
			writeError(w, http.StatusUnprocessableEntity, "Validation failed: Media attachments are invalid")
			return
		}
	}
	in.nextID++
	st := &fakeStatus{
		ID: strconv.FormatInt(in.nextID, 10), AccountID: a.ID, Text: text,
		InReplyTo: r.PostForm.Get("in_reply_to_id"), Visibility: r.PostForm.Get("visibility"),
		MediaIDs: mediaIDs, CreatedAt: time.Now().UTC().Truncate(time.Millisecond),
	}
	in.statuses = append(in.statuses, st)
	if key != "" {
		in.byKey[a.ID+"\x00"+key] = st.ID
	}
	after := in.afterCreate
	in.mu.Unlock()
	if after != nil {
		after()
	}
	writeJSON(w, http.StatusOK, in.render(st))
}

func (in *instance) getStatus(w http.ResponseWriter, r *http.Request, _ *fakeAccount) {
	in.mu.Lock()
	st := in.find(r.PathValue("id"))
	in.mu.Unlock()
	if st == nil {
		writeError(w, http.StatusNotFound, "Record not found")
		return
	}
	writeJSON(w, http.StatusOK, in.render(st))
}

func (in *instance) deleteStatus(w http.ResponseWriter, r *http.Request, a *fakeAccount) {
	in.mu.Lock()
	defer in.mu.Unlock()
	for i, st := range in.statuses {
		if st.ID == r.PathValue("id") && st.AccountID == a.ID {
			in.statuses = append(in.statuses[:i], in.statuses[i+1:]...)
			// The documented delete response carries the source text.
			out := in.render(st)
			delete(out, "content")
			out["text"] = st.Text
			writeJSON(w, http.StatusOK, out)
			return
		}
	}
	writeError(w, http.StatusNotFound, "Record not found")
}

func (in *instance) verifyCredentials(w http.ResponseWriter, _ *http.Request, a *fakeAccount) {
	in.mu.Lock()
	in.verifyCalls++
	in.mu.Unlock()
	writeJSON(w, http.StatusOK, in.renderAccount(a))
}

func (in *instance) accountStatuses(w http.ResponseWriter, r *http.Request, _ *fakeAccount) {
	q := r.URL.Query()
	limit := 20
	if n, err := strconv.Atoi(q.Get("limit")); err == nil && n > 0 {
		limit = min(n, 40)
	}
	maxID, _ := strconv.ParseInt(q.Get("max_id"), 10, 64)
	in.mu.Lock()
	defer in.mu.Unlock()
	owner := r.PathValue("id")
	found := false
	for _, a := range in.accounts {
		found = found || a.ID == owner
	}
	if !found {
		writeError(w, http.StatusNotFound, "Record not found")
		return
	}
	out := []map[string]any{}
	for i := len(in.statuses) - 1; i >= 0 && len(out) < limit; i-- {
		st := in.statuses[i]
		id, _ := strconv.ParseInt(st.ID, 10, 64)
		if st.AccountID != owner || (maxID != 0 && id >= maxID) {
			continue
		}
		out = append(out, in.render(st))
	}
	writeJSON(w, http.StatusOK, out)
}

func (in *instance) uploadMedia(w http.ResponseWriter, r *http.Request, _ *fakeAccount) {
	if err := r.ParseMultipartForm(8 << 20); err != nil {
		writeError(w, http.StatusUnprocessableEntity, "Validation failed: File content type is invalid, File is invalid")
		return
	}
	f, fh, err := r.FormFile("file")
	if err != nil || fh.Header.Get("Content-Type") == "" {
		writeError(w, http.StatusUnprocessableEntity, "Validation failed: File content type is invalid, File is invalid")
		return
	}
	body, _ := io.ReadAll(f)
	ctype := fh.Header.Get("Content-Type")
	in.mu.Lock()
	in.uploads = append(in.uploads, uploadRequest{Filename: fh.Filename, ContentType: ctype, Description: r.FormValue("description"), Size: len(body)})
	in.uploadData = append(in.uploadData, body)
	in.nextID++
	m := &fakeMedia{ID: strconv.FormatInt(in.nextID, 10), Type: strings.Split(ctype, "/")[0], Description: r.FormValue("description")}
	code := http.StatusOK
	if m.Type == "video" {
		// Large media is processed in the background.
		m.pollsLeft = 2
		code = http.StatusAccepted
	}
	in.media[m.ID] = m
	in.mu.Unlock()
	writeJSON(w, code, map[string]any{"id": m.ID, "type": m.Type, "url": nil, "description": m.Description})
}

func (in *instance) getMedia(w http.ResponseWriter, r *http.Request, _ *fakeAccount) {
	in.mu.Lock()
	defer in.mu.Unlock()
	m := in.media[r.PathValue("id")]
	if m == nil {
		writeError(w, http.StatusNotFound, "Record not found")
		return
	}
	if m.pollsLeft > 0 {
		m.pollsLeft--
		w.WriteHeader(http.StatusPartialContent)
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"id": m.ID, "type": m.Type, "url": in.srv.URL + "/media/" + m.ID})
}

// find must be called with mu held.
func (in *instance) find(id string) *fakeStatus {
	for _, st := range in.statuses {
		if st.ID == id {
			return st
		}
	}
	return nil
}

func (in *instance) stored() []fakeStatus {
	in.mu.Lock()
	defer in.mu.Unlock()
	out := make([]fakeStatus, len(in.statuses))
	for i, st := range in.statuses {
		out[i] = *st
	}
	return out
}

func (in *instance) accountByID(id string) *fakeAccount {
	for _, a := range in.accounts {
		if a.ID == id {
			return a
		}
	}
	return nil
}

func (in *instance) renderAccount(a *fakeAccount) map[string]any {
	return map[string]any{
		"id": a.ID, "username": a.Username, "acct": a.Username, "display_name": strings.ToUpper(a.Username[:1]) + a.Username[1:],
		"url": in.srv.URL + "/@" + a.Username, "followers_count": a.Followers, "following_count": 3, "statuses_count": 42,
		"created_at": "2022-11-10T00:00:00.000Z",
	}
}

// render is a Status entity; must be called with mu held or on a copy.
func (in *instance) render(st *fakeStatus) map[string]any {
	a := in.accountByID(st.AccountID)
	content, mentions := in.toHTML(st.Text)
	var reply any
	if st.InReplyTo != "" {
		reply = st.InReplyTo
	}
	media := []map[string]any{}
	for _, id := range st.MediaIDs {
		media = append(media, map[string]any{"id": id, "type": in.media[id].Type, "description": in.media[id].Description})
	}
	vis := st.Visibility
	if vis == "" {
		vis = "public"
	}
	return map[string]any{
		"id": st.ID, "created_at": st.CreatedAt.Format("2006-01-02T15:04:05.000Z"),
		"in_reply_to_id": reply, "sensitive": false, "spoiler_text": "", "visibility": vis, "language": "en",
		"uri":           in.srv.URL + "/users/" + a.Username + "/statuses/" + st.ID,
		"url":           in.srv.URL + "/@" + a.Username + "/" + st.ID,
		"replies_count": st.Replies, "reblogs_count": st.Reblogs, "favourites_count": st.Favourites,
		"content": content, "reblog": nil, "account": in.renderAccount(a),
		"media_attachments": media, "mentions": mentions, "tags": []any{}, "emojis": []any{}, "card": nil, "poll": nil,
	}
}

var entityRE = regexp.MustCompile(`https?://[^\s<>"]+|@[A-Za-z0-9_]+(?:@[A-Za-z0-9.-]*[A-Za-z0-9])?|#[\p{L}\p{N}_]+`)

// toHTML renders status text the way Mastodon's formatter does: escaped
// text, paragraphs, <br />, links shortened with invisible/ellipsis spans,
// h-card mentions showing only the username, hashtag links.
func (in *instance) toHTML(text string) (string, []map[string]any) {
	var mentions []map[string]any
	var b strings.Builder
	for _, para := range strings.Split(text, "\n\n") {
		b.WriteString("<p>")
		for i, line := range strings.Split(para, "\n") {
			if i > 0 {
				b.WriteString("<br />")
			}
			last := 0
			for _, loc := range entityRE.FindAllStringIndex(line, -1) {
				b.WriteString(html.EscapeString(line[last:loc[0]]))
				tok := line[loc[0]:loc[1]]
				switch tok[0] {
				case '@':
					user, domain, _ := strings.Cut(tok[1:], "@")
					acct, href := user, in.srv.URL+"/@"+user
					if domain != "" && domain != in.host() {
						acct, href = user+"@"+domain, "https://"+domain+"/@"+user
					}
					mentions = append(mentions, map[string]any{"id": "1", "username": user, "acct": acct, "url": href})
					fmt.Fprintf(&b, `<span class="h-card" translate="no"><a href="%s" class="u-url mention">@<span>%s</span></a></span>`, html.EscapeString(href), html.EscapeString(user))
				case '#':
					fmt.Fprintf(&b, `<a href="%s/tags/%s" class="mention hashtag" rel="tag">#<span>%s</span></a>`, in.srv.URL, url.PathEscape(tok[1:]), html.EscapeString(tok[1:]))
				default:
					scheme, rest, _ := strings.Cut(tok, "://")
					visible, hidden, class := rest, "", ""
					if len(rest) > 30 {
						visible, hidden, class = rest[:30], rest[30:], "ellipsis"
					}
					fmt.Fprintf(&b, `<a href="%s" target="_blank" rel="nofollow noopener" translate="no"><span class="invisible">%s://</span><span class="%s">%s</span><span class="invisible">%s</span></a>`,
						html.EscapeString(tok), scheme, class, html.EscapeString(visible), html.EscapeString(hidden))
				}
				last = loc[1]
			}
			b.WriteString(html.EscapeString(line[last:]))
		}
		b.WriteString("</p>")
	}
	if mentions == nil {
		mentions = []map[string]any{}
	}
	return b.String(), mentions
}

// mediaType is the part's declared type, for assertions.
func mediaType(v string) string {
	t, _, _ := mime.ParseMediaType(v)
	return t
}

func sortedKeys(v url.Values) []string {
	keys := make([]string, 0, len(v))
	for k := range v {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}
