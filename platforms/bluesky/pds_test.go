package bluesky_test

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"maps"
	"net/http"
	"net/http/httptest"
	"sort"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/rivo/uniseg"

	"github.com/cmo-dev/cmo/platforms"
)

// pds is a Personal Data Server as the AT Protocol lexicons and the
// reference PDS behave (lexicons com.atproto.server.createSession,
// refreshSession, getSession, com.atproto.repo.createRecord, deleteRecord,
// listRecords, getRecord, com.atproto.identity.resolveHandle; errors
// {"error","message"}: 401 AuthMissing without a token, 400 ExpiredToken
// and InvalidToken, 400 InvalidRequest for an invalid record, 429
// RateLimitExceeded with RateLimit-* headers), with an app view beside it
// for app.bsky.feed.getPosts and app.bsky.actor.getProfile.
type pds struct {
	t       *testing.T
	srv     *httptest.Server
	appview *httptest.Server

	mu       sync.Mutex
	accounts map[string]*pdsAccount // by did
	access   map[string]string      // live access token -> did
	refresh  map[string]string      // live refresh token -> did (single use)
	expired  map[string]bool        // access tokens past their expiry
	records  map[string][]*pdsRecord
	seq      int

	fault       func(w http.ResponseWriter, r *http.Request) bool
	afterCreate func()

	calls     map[string]int // by NSID
	requests  int
	creates   []capturedCreate
	blobs     []capturedBlob
	logins    []map[string]string
	listQuery []string
}

type pdsAccount struct {
	did, handle, email, password, displayName string
	followers                                 int64
}

type pdsRecord struct {
	rkey, cid  string
	value      json.RawMessage
	likes      int64
	reposts    int64
	replies    int64
	collection string
}

type capturedBlob struct {
	ContentType string
	Data        []byte
	CID         string
}

type capturedCreate struct {
	Authorization, ContentType string
	Body                       map[string]any
}

const (
	aliceDID      = "did:plc:u5cwb2mwiv2bfq53cjufe6yn"
	alicePassword = "abcd-efgh-ijkl-mnop"
	carolDID      = "did:plc:ragtjsm2j2vknwkz3zp4oxrd"
	atprotoDID    = "did:plc:ewvi7nxzyoun6zhxrhs64oiz"
)

func newPDS(t *testing.T) *pds {
	t.Helper()
	p := &pds{
		t: t,
		accounts: map[string]*pdsAccount{
			aliceDID:   {did: aliceDID, handle: "alice.test", email: "alice@example.com", password: alicePassword, displayName: "Alice", followers: 321},
			carolDID:   {did: carolDID, handle: "carol.test", password: "zzzz-zzzz-zzzz-zzzz"},
			atprotoDID: {did: atprotoDID, handle: "atproto.com"},
		},
		access: map[string]string{}, refresh: map[string]string{}, expired: map[string]bool{},
		records: map[string][]*pdsRecord{}, calls: map[string]int{},
	}
	mux := http.NewServeMux()
	mux.HandleFunc("POST /xrpc/com.atproto.server.createSession", p.createSession)
	mux.HandleFunc("POST /xrpc/com.atproto.server.refreshSession", p.refreshSession)
	mux.HandleFunc("GET /xrpc/com.atproto.server.getSession", p.authed(p.getSession))
	mux.HandleFunc("POST /xrpc/com.atproto.repo.createRecord", p.authed(p.createRecord))
	mux.HandleFunc("POST /xrpc/com.atproto.repo.deleteRecord", p.authed(p.deleteRecord))
	mux.HandleFunc("POST /xrpc/com.atproto.repo.uploadBlob", p.authed(p.uploadBlob))
	mux.HandleFunc("GET /xrpc/com.atproto.repo.listRecords", p.listRecords)
	mux.HandleFunc("GET /xrpc/com.atproto.repo.getRecord", p.getRecord)
	mux.HandleFunc("GET /xrpc/com.atproto.identity.resolveHandle", p.resolveHandle)
	p.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		p.mu.Lock()
		p.requests++
		p.calls[strings.TrimPrefix(r.URL.Path, "/xrpc/")]++
		fault := p.fault
		p.mu.Unlock()
		if fault != nil && fault(w, r) {
			return
		}
		mux.ServeHTTP(w, r)
	}))
	t.Cleanup(p.srv.Close)

	av := http.NewServeMux()
	av.HandleFunc("GET /xrpc/app.bsky.feed.getPosts", p.getPosts)
	av.HandleFunc("GET /xrpc/app.bsky.actor.getProfile", p.getProfile)
	p.appview = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		p.mu.Lock()
		p.calls["appview:"+strings.TrimPrefix(r.URL.Path, "/xrpc/")]++
		p.mu.Unlock()
		av.ServeHTTP(w, r)
	}))
	t.Cleanup(p.appview.Close)
	return p
}

func (p *pds) setFault(f func(w http.ResponseWriter, r *http.Request) bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.fault = f
}

func (p *pds) count(nsid string) int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.calls[nsid]
}

func writeJSON(w http.ResponseWriter, code int, v any) {
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.WriteHeader(code)
	_ = json.NewEncoder(w).Encode(v)
}

func writeError(w http.ResponseWriter, code int, name, msg string) {
	writeJSON(w, code, map[string]string{"error": name, "message": msg})
}

// issue must be called with mu held.
func (p *pds) issue(did string) map[string]any {
	p.seq++
	a := p.accounts[did]
	access, refresh := fmt.Sprintf("eyJ.access.%d", p.seq), fmt.Sprintf("eyJ.refresh.%d", p.seq)
	p.access[access], p.refresh[refresh] = did, did
	return map[string]any{"accessJwt": access, "refreshJwt": refresh, "handle": a.handle, "did": did,
		"email": a.email, "emailConfirmed": true, "active": true}
}

func (p *pds) createSession(w http.ResponseWriter, r *http.Request) {
	var in map[string]string
	if err := json.NewDecoder(r.Body).Decode(&in); err != nil || in["identifier"] == "" || in["password"] == "" {
		writeError(w, http.StatusBadRequest, "InvalidRequest", "Input must have the property \"identifier\"")
		return
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	p.logins = append(p.logins, in)
	for _, a := range p.accounts {
		if (a.handle == in["identifier"] || a.email == in["identifier"] || a.did == in["identifier"]) && a.password != "" && a.password == in["password"] {
			writeJSON(w, http.StatusOK, p.issue(a.did))
			return
		}
	}
	writeError(w, http.StatusUnauthorized, "AuthenticationRequired", "Invalid identifier or password")
}

func (p *pds) refreshSession(w http.ResponseWriter, r *http.Request) {
	tok, _ := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
	p.mu.Lock()
	defer p.mu.Unlock()
	did, ok := p.refresh[tok]
	if !ok {
		writeError(w, http.StatusBadRequest, "ExpiredToken", "Token has expired")
		return
	}
	// Refresh tokens are single use: the old one is revoked.
	delete(p.refresh, tok)
	writeJSON(w, http.StatusOK, p.issue(did))
}

// expireSessions makes every access token expired, as an hour passing would.
func (p *pds) expireSessions() {
	p.mu.Lock()
	defer p.mu.Unlock()
	for tok := range p.access {
		p.expired[tok] = true
	}
}

// revokeRefreshTokens makes every refresh token unusable.
func (p *pds) revokeRefreshTokens() {
	p.mu.Lock()
	defer p.mu.Unlock()
	clear(p.refresh)
}

func (p *pds) authed(h func(w http.ResponseWriter, r *http.Request, did string)) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		tok, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
		if !ok || tok == "" {
			writeError(w, http.StatusUnauthorized, "AuthMissing", "Authentication Required")
			return
		}
		p.mu.Lock()
		did, live := p.access[tok]
		expired := p.expired[tok]
		p.mu.Unlock()
		switch {
		case !live:
			writeError(w, http.StatusBadRequest, "InvalidToken", "Token could not be verified")
		case expired:
			writeError(w, http.StatusBadRequest, "ExpiredToken", "Token has expired")
		default:
			h(w, r, did)
		}
	}
}

func (p *pds) getSession(w http.ResponseWriter, _ *http.Request, did string) {
	p.mu.Lock()
	a := p.accounts[did]
	p.mu.Unlock()
	writeJSON(w, http.StatusOK, map[string]any{"handle": a.handle, "did": did, "email": a.email, "emailConfirmed": true, "active": true})
}

// rkeys sort in creation order, as TIDs do.
func (p *pds) nextRKey() string {
	p.seq++
	return fmt.Sprintf("3l%011d", p.seq)
}

func cidOf(raw []byte) string {
	sum := sha256.Sum256(raw)
	return "bafyrei" + hex.EncodeToString(sum[:])[:52]
}

func (p *pds) createRecord(w http.ResponseWriter, r *http.Request, did string) {
	var in struct {
		Repo       string          `json:"repo"`
		Collection string          `json:"collection"`
		Record     json.RawMessage `json:"record"`
	}
	var raw map[string]any
	dec := json.NewDecoder(r.Body)
	var body json.RawMessage
	if err := dec.Decode(&body); err != nil || json.Unmarshal(body, &in) != nil {
		writeError(w, http.StatusBadRequest, "InvalidRequest", "Request body is not valid JSON")
		return
	}
	_ = json.Unmarshal(body, &raw)
	p.mu.Lock()
	p.creates = append(p.creates, capturedCreate{Authorization: r.Header.Get("Authorization"), ContentType: r.Header.Get("Content-Type"), Body: raw})
	p.mu.Unlock()
	if in.Repo != did && in.Repo != p.accounts[did].handle {
		writeError(w, http.StatusBadRequest, "InvalidRequest", "Invalid repo")
		return
	}
	if msg := p.validateEmbed(in.Record); msg != "" {
		writeError(w, http.StatusBadRequest, "InvalidRequest", msg)
		return
	}
	if msg := validatePost(in.Collection, in.Record); msg != "" {
		writeError(w, http.StatusBadRequest, "InvalidRequest", msg)
		return
	}
	p.mu.Lock()
	rec := &pdsRecord{rkey: p.nextRKey(), cid: cidOf(in.Record), value: in.Record, collection: in.Collection}
	p.records[did] = append(p.records[did], rec)
	after := p.afterCreate
	p.mu.Unlock()
	if after != nil {
		after()
	}
	writeJSON(w, http.StatusOK, map[string]any{
		"uri": "at://" + did + "/" + in.Collection + "/" + rec.rkey, "cid": rec.cid,
		"commit": map[string]string{"cid": cidOf([]byte(rec.rkey)), "rev": rec.rkey}, "validationStatus": "valid",
	})
}

// validatePost checks what the app.bsky.feed.post lexicon requires.
func validatePost(collection string, raw json.RawMessage) string {
	var rec struct {
		Type      string `json:"$type"`
		Text      string `json:"text"`
		CreatedAt string `json:"createdAt"`
		Facets    []struct {
			Index struct {
				ByteStart *int `json:"byteStart"`
				ByteEnd   *int `json:"byteEnd"`
			} `json:"index"`
			Features []map[string]any `json:"features"`
		} `json:"facets"`
		Reply *struct {
			Root, Parent struct{ URI, CID string }
		} `json:"reply"`
	}
	if err := json.Unmarshal(raw, &rec); err != nil {
		return "Invalid app.bsky.feed.post record: " + err.Error()
	}
	switch {
	case collection != "app.bsky.feed.post" || rec.Type != collection:
		return "Invalid record $type"
	case rec.CreatedAt == "":
		return "Invalid app.bsky.feed.post record: Record must have the property \"createdAt\""
	}
	if _, err := time.Parse(time.RFC3339Nano, rec.CreatedAt); err != nil {
		return "Invalid app.bsky.feed.post record: Record/createdAt must be an valid atproto datetime"
	}
	if n := uniseg.GraphemeClusterCount(rec.Text); n > 300 {
		return fmt.Sprintf("grapheme too big (maximum 300, got %d)", n)
	}
	for i, f := range rec.Facets {
		s, e := f.Index.ByteStart, f.Index.ByteEnd
		if s == nil || e == nil || *s < 0 || *e > len(rec.Text) || *s >= *e || len(f.Features) == 0 {
			return fmt.Sprintf("Invalid app.bsky.feed.post record: Record/facets/%d/index is invalid", i)
		}
	}
	if rec.Reply != nil && (rec.Reply.Root.URI == "" || rec.Reply.Root.CID == "" || rec.Reply.Parent.URI == "" || rec.Reply.Parent.CID == "") {
		return "Invalid app.bsky.feed.post record: Record/reply must have uri and cid for root and parent"
	}
	return ""
}

// uploadBlob stores the request body as a blob of the Content-Type it was
// sent with (lexicon com.atproto.repo.uploadBlob: input */*, output
// {blob}).
func (p *pds) uploadBlob(w http.ResponseWriter, r *http.Request, _ string) {
	ctype := r.Header.Get("Content-Type")
	data, err := io.ReadAll(r.Body)
	if err != nil || ctype == "" || len(data) == 0 {
		writeError(w, http.StatusBadRequest, "InvalidRequest", "Request has no blob")
		return
	}
	cid := "bafkrei" + cidOf(data)[7:]
	p.mu.Lock()
	p.blobs = append(p.blobs, capturedBlob{ContentType: ctype, Data: data, CID: cid})
	p.mu.Unlock()
	writeJSON(w, http.StatusOK, map[string]any{"blob": map[string]any{
		"$type": "blob", "ref": map[string]string{"$link": cid}, "mimeType": ctype, "size": len(data),
	}})
}

// validateEmbed checks an app.bsky.embed.images embed: 1 to 4 images,
// each with an alt and a blob this PDS holds.
func (p *pds) validateEmbed(raw json.RawMessage) string {
	var rec struct {
		Embed *struct {
			Type   string `json:"$type"`
			Images []struct {
				Alt   *string `json:"alt"`
				Image struct {
					Type string `json:"$type"`
					Ref  struct {
						Link string `json:"$link"`
					} `json:"ref"`
					MimeType string `json:"mimeType"`
					Size     int    `json:"size"`
				} `json:"image"`
			} `json:"images"`
		} `json:"embed"`
	}
	if json.Unmarshal(raw, &rec) != nil || rec.Embed == nil {
		return ""
	}
	e := rec.Embed
	if e.Type != "app.bsky.embed.images" {
		return "Invalid app.bsky.feed.post record: Record/embed $type is not supported here"
	}
	if len(e.Images) == 0 || len(e.Images) > 4 {
		return "Invalid app.bsky.feed.post record: Record/embed/images must not be longer than 4 elements"
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	for i, img := range e.Images {
		if img.Alt == nil {
			return fmt.Sprintf("Invalid app.bsky.feed.post record: Record/embed/images/%d must have the property \"alt\"", i)
		}
		found := false
		for _, b := range p.blobs {
			found = found || (b.CID == img.Image.Ref.Link && b.ContentType == img.Image.MimeType && len(b.Data) == img.Image.Size)
		}
		if img.Image.Type != "blob" || !found {
			return fmt.Sprintf("Could not find blob: %s", img.Image.Ref.Link)
		}
	}
	return ""
}

func (p *pds) deleteRecord(w http.ResponseWriter, r *http.Request, did string) {
	var in struct{ Repo, Collection, RKey string }
	if err := json.NewDecoder(r.Body).Decode(&in); err != nil || in.Collection == "" || in.RKey == "" {
		writeError(w, http.StatusBadRequest, "InvalidRequest", "Input must have the properties \"collection\" and \"rkey\"")
		return
	}
	if in.Repo != did {
		writeError(w, http.StatusBadRequest, "InvalidRequest", "Invalid repo")
		return
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	recs := p.records[did]
	for i, rec := range recs {
		if rec.rkey == in.RKey && rec.collection == in.Collection {
			p.records[did] = append(recs[:i], recs[i+1:]...)
			break
		}
	}
	// Deleting a record that does not exist succeeds: "ensure it doesn't exist".
	writeJSON(w, http.StatusOK, map[string]any{"commit": map[string]string{"cid": cidOf([]byte(in.RKey)), "rev": in.RKey}})
}

// repoDID must be called with mu held.
func (p *pds) repoDID(repo string) string {
	for _, a := range p.accounts {
		if a.did == repo || a.handle == repo {
			return a.did
		}
	}
	return ""
}

func (p *pds) listRecords(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	limit := 50
	if v := q.Get("limit"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 || n > 100 {
			writeError(w, http.StatusBadRequest, "InvalidRequest", "limit can not be greater than 100")
			return
		}
		limit = n
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	p.listQuery = append(p.listQuery, r.URL.RawQuery)
	did := p.repoDID(q.Get("repo"))
	if did == "" {
		writeError(w, http.StatusBadRequest, "InvalidRequest", "Could not find repo: "+q.Get("repo"))
		return
	}
	var recs []*pdsRecord
	for _, rec := range p.records[did] {
		if rec.collection == q.Get("collection") {
			recs = append(recs, rec)
		}
	}
	// Newest first unless reverse=true.
	sort.Slice(recs, func(i, j int) bool { return recs[i].rkey > recs[j].rkey })
	if q.Get("reverse") == "true" {
		sort.Slice(recs, func(i, j int) bool { return recs[i].rkey < recs[j].rkey })
	}
	out := []map[string]any{}
	cursor := q.Get("cursor")
	for _, rec := range recs {
		if cursor != "" && rec.rkey >= cursor {
			continue
		}
		if len(out) == limit {
			break
		}
		out = append(out, map[string]any{"uri": "at://" + did + "/" + rec.collection + "/" + rec.rkey, "cid": rec.cid, "value": rec.value})
	}
	resp := map[string]any{"records": out}
	if len(out) == limit {
		resp["cursor"] = strings.TrimPrefix(out[len(out)-1]["uri"].(string), "at://"+did+"/"+q.Get("collection")+"/")
	}
	writeJSON(w, http.StatusOK, resp)
}

func (p *pds) getRecord(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	p.mu.Lock()
	defer p.mu.Unlock()
	did := p.repoDID(q.Get("repo"))
	for _, rec := range p.records[did] {
		if rec.rkey == q.Get("rkey") && rec.collection == q.Get("collection") {
			writeJSON(w, http.StatusOK, map[string]any{"uri": "at://" + did + "/" + rec.collection + "/" + rec.rkey, "cid": rec.cid, "value": rec.value})
			return
		}
	}
	writeError(w, http.StatusBadRequest, "RecordNotFound", "Could not locate record: at://"+q.Get("repo")+"/"+q.Get("collection")+"/"+q.Get("rkey"))
}

func (p *pds) resolveHandle(w http.ResponseWriter, r *http.Request) {
	p.mu.Lock()
	defer p.mu.Unlock()
	h := r.URL.Query().Get("handle")
	for _, a := range p.accounts {
		if a.handle == h {
			writeJSON(w, http.StatusOK, map[string]string{"did": a.did})
			return
		}
	}
	writeError(w, http.StatusBadRequest, "InvalidRequest", "Unable to resolve handle")
}

func (p *pds) getPosts(w http.ResponseWriter, r *http.Request) {
	p.mu.Lock()
	defer p.mu.Unlock()
	posts := []map[string]any{}
	for _, uri := range r.URL.Query()["uris"] {
		for did, recs := range p.records {
			for _, rec := range recs {
				if "at://"+did+"/"+rec.collection+"/"+rec.rkey == uri {
					a := p.accounts[did]
					posts = append(posts, map[string]any{
						"uri": uri, "cid": rec.cid, "record": rec.value, "indexedAt": time.Now().UTC().Format(time.RFC3339),
						"author":    map[string]any{"did": did, "handle": a.handle},
						"likeCount": rec.likes, "repostCount": rec.reposts, "replyCount": rec.replies, "quoteCount": 0,
					})
				}
			}
		}
	}
	writeJSON(w, http.StatusOK, map[string]any{"posts": posts})
}

func (p *pds) getProfile(w http.ResponseWriter, r *http.Request) {
	p.mu.Lock()
	defer p.mu.Unlock()
	did := p.repoDID(r.URL.Query().Get("actor"))
	if did == "" {
		writeError(w, http.StatusBadRequest, "InvalidRequest", "Profile not found")
		return
	}
	a := p.accounts[did]
	writeJSON(w, http.StatusOK, map[string]any{"did": did, "handle": a.handle, "displayName": a.displayName,
		"followersCount": a.followers, "followsCount": 10, "postsCount": len(p.records[did])})
}

// seed stores a record directly, as another client would have.
func (p *pds) seed(did string, value map[string]any) (uri, cid string) {
	raw, _ := json.Marshal(value)
	p.mu.Lock()
	defer p.mu.Unlock()
	rec := &pdsRecord{rkey: p.nextRKey(), cid: cidOf(raw), value: raw, collection: "app.bsky.feed.post"}
	p.records[did] = append(p.records[did], rec)
	return "at://" + did + "/app.bsky.feed.post/" + rec.rkey, rec.cid
}

type storedPost struct {
	URI  string
	Text string
	Raw  map[string]any
}

func (p *pds) posts(did string) []storedPost {
	p.mu.Lock()
	defer p.mu.Unlock()
	var out []storedPost
	for _, rec := range p.records[did] {
		var v map[string]any
		_ = json.Unmarshal(rec.value, &v)
		text, _ := v["text"].(string)
		out = append(out, storedPost{URI: "at://" + did + "/" + rec.collection + "/" + rec.rkey, Text: text, Raw: v})
	}
	return out
}

// vault stands for the channel's sealed secrets in the database: each
// call gets a fresh Account built from it, and SaveSecrets replaces it.
type vault struct {
	mu      sync.Mutex
	secrets map[string]string
	saves   int
}

func newVault(secrets map[string]string) *vault { return &vault{secrets: secrets} }

func (v *vault) get() map[string]string {
	v.mu.Lock()
	defer v.mu.Unlock()
	return maps.Clone(v.secrets)
}

func (v *vault) save(_ context.Context, s map[string]string) error {
	v.mu.Lock()
	defer v.mu.Unlock()
	v.secrets = maps.Clone(s)
	v.saves++
	return nil
}

func (p *pds) account(v *vault) platforms.Account {
	return platforms.Account{
		ChannelID: "ch-bsky", Platform: "bluesky", Handle: "alice.test",
		Secrets: v.get(), SaveSecrets: v.save,
		Config: map[string]string{"service": p.srv.URL},
	}
}
