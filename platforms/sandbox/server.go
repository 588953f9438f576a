// Package sandbox is a social network that runs inside cmo: it accepts
// posts over an HTTP API shaped like Mastodon's, keeps what it received,
// and produces engagement over time. New users launch whole campaigns
// against it with no accounts anywhere, and tests publish to it through the
// same connector path as to a real platform.
package sandbox

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/cmo-dev/cmo/contentcheck"
)

// MaxChars is the sandbox's post length limit, Mastodon's default.
const MaxChars = 500

// ErrNotFound is returned by a Store for a missing account or post.
var ErrNotFound = errors.New("not found")

// Account is a sandbox user.
type Account struct {
	Handle    string
	Followers int
}

// StoredPost is a post as the sandbox keeps it.
type StoredPost struct {
	ID             int64
	Handle         string
	Text           string
	IdempotencyKey string
	InReplyTo      *int64
	CreatedAt      time.Time
}

// Store keeps the sandbox's accounts and posts.
type Store interface {
	AccountByTokenHash(ctx context.Context, tokenSHA256 string) (Account, error)
	Account(ctx context.Context, handle string) (Account, error)
	// CreatePost stores p unless the account already sent the same
	// idempotency key, in which case it returns that earlier post and false.
	CreatePost(ctx context.Context, p StoredPost) (StoredPost, bool, error)
	// ListPosts lists posts newest first, only those with an id below
	// beforeID when it is not zero (Mastodon's max_id pagination).
	ListPosts(ctx context.Context, handle string, beforeID int64, limit int) ([]StoredPost, error)
	GetPost(ctx context.Context, id int64) (StoredPost, error)
	// DeletePost removes the account's post; ErrNotFound when it has none by that id.
	DeletePost(ctx context.Context, handle string, id int64) error
	// PostStamps lists when each of the account's posts went out, for its
	// follower count.
	PostStamps(ctx context.Context, handle string) ([]PostStamp, error)
}

// HashToken is how the sandbox stores tokens: never in clear.
func HashToken(token string) string {
	sum := sha256.Sum256([]byte(token))
	return hex.EncodeToString(sum[:])
}

// Server serves the sandbox API.
type Server struct {
	store   Store
	baseURL func(r *http.Request) string
	now     func() time.Time
	mux     *http.ServeMux
}

// NewServer returns the sandbox API handler. It expects to be mounted with
// its own prefix stripped; prefix is used to build post URLs.
func NewServer(store Store, prefix string, now func() time.Time) *Server {
	s := &Server{store: store, now: now, mux: http.NewServeMux()}
	s.baseURL = func(r *http.Request) string {
		scheme := "http"
		if r.TLS != nil {
			scheme = "https"
		}
		return scheme + "://" + r.Host + prefix
	}
	s.mux.HandleFunc("POST /api/v1/statuses", s.createStatus)
	s.mux.HandleFunc("GET /api/v1/statuses/{id}", s.getStatus)
	s.mux.HandleFunc("DELETE /api/v1/statuses/{id}", s.deleteStatus)
	s.mux.HandleFunc("GET /api/v1/accounts/verify_credentials", s.verifyCredentials)
	s.mux.HandleFunc("GET /api/v1/accounts/{handle}/statuses", s.listStatuses)
	return s
}

func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) { s.mux.ServeHTTP(w, r) }

// Status is the sandbox's post representation, a subset of Mastodon's.
type Status struct {
	ID          string    `json:"id"`
	URL         string    `json:"url"`
	Content     string    `json:"content"`
	CreatedAt   time.Time `json:"created_at"`
	InReplyToID *string   `json:"in_reply_to_id"`
	Account     struct {
		Acct           string `json:"acct"`
		FollowersCount int64  `json:"followers_count"`
	} `json:"account"`
	Counts
	// MeasuredAt is the moment the numbers are for: asking for the same
	// post "as at" that moment gives the same numbers.
	MeasuredAt time.Time `json:"measured_at"`
}

// MeasureTime is the moment numbers are computed for, to the microsecond
// so that it survives a trip through PostgreSQL and still gives the same
// numbers.
func MeasureTime(t time.Time) time.Time { return t.UTC().Truncate(time.Microsecond) }

// StatusOf renders a stored post with its engagement at now; followers is
// the account's follower count then (FollowersAt).
func StatusOf(p StoredPost, acct Account, followers int64, base string, now time.Time) Status {
	st := Status{
		ID:         strconv.FormatInt(p.ID, 10),
		URL:        fmt.Sprintf("%s/@%s/%d", base, p.Handle, p.ID),
		Content:    p.Text,
		CreatedAt:  p.CreatedAt.UTC(),
		Counts:     Engagement(p.ID, acct.Followers, now.Sub(p.CreatedAt)),
		MeasuredAt: now,
	}
	if p.InReplyTo != nil {
		id := strconv.FormatInt(*p.InReplyTo, 10)
		st.InReplyToID = &id
	}
	st.Account.Acct = p.Handle
	st.Account.FollowersCount = followers
	return st
}

// followers is the account's follower count at now.
func (s *Server) followers(ctx context.Context, acct Account, now time.Time) (int64, error) {
	stamps, err := s.store.PostStamps(ctx, acct.Handle)
	if err != nil {
		return 0, err
	}
	return FollowersAt(acct, stamps, now), nil
}

// measureNow is the moment a request measures numbers at.
func (s *Server) measureNow() time.Time { return MeasureTime(s.now()) }

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}

// writeError answers the way Mastodon does: {"error": "..."}.
func writeError(w http.ResponseWriter, status int, msg string) {
	writeJSON(w, status, map[string]string{"error": msg})
}

func (s *Server) auth(r *http.Request) (Account, bool, error) {
	h := r.Header.Get("Authorization")
	token, ok := strings.CutPrefix(h, "Bearer ")
	if !ok || token == "" {
		return Account{}, false, nil
	}
	acct, err := s.store.AccountByTokenHash(r.Context(), HashToken(token))
	if errors.Is(err, ErrNotFound) {
		return Account{}, false, nil
	}
	return acct, err == nil, err
}

// authed answers 401 (or 503) itself when the request carries no valid
// token, as Mastodon does, and reports whether the handler may go on.
func (s *Server) authed(w http.ResponseWriter, r *http.Request) (Account, bool) {
	acct, ok, err := s.auth(r)
	if err != nil {
		writeError(w, http.StatusServiceUnavailable, "temporarily unavailable")
		return Account{}, false
	}
	if !ok {
		writeError(w, http.StatusUnauthorized, "The access token is invalid")
		return Account{}, false
	}
	return acct, true
}

type createRequest struct {
	Status      string `json:"status"`
	InReplyToID string `json:"in_reply_to_id"`
}

func (s *Server) createStatus(w http.ResponseWriter, r *http.Request) {
	acct, ok := s.authed(w, r)
	if !ok {
		return
	}
	var req createRequest
	ct := r.Header.Get("Content-Type")
	if strings.HasPrefix(ct, "application/json") {
		if err := json.NewDecoder(http.MaxBytesReader(w, r.Body, 64<<10)).Decode(&req); err != nil {
			writeError(w, http.StatusBadRequest, "Malformed JSON body")
			return
		}
	} else {
		if err := r.ParseForm(); err != nil {
			writeError(w, http.StatusBadRequest, "Malformed form body")
			return
		}
		req.Status, req.InReplyToID = r.PostForm.Get("status"), r.PostForm.Get("in_reply_to_id")
	}
	if strings.TrimSpace(req.Status) == "" {
		writeError(w, http.StatusUnprocessableEntity, "Validation failed: Text can't be blank")
		return
	}
	if n := contentcheck.Length(Platform, req.Status); n > MaxChars {
		writeError(w, http.StatusUnprocessableEntity, fmt.Sprintf("Validation failed: Text character limit of %d exceeded", MaxChars))
		return
	}
	p := StoredPost{Handle: acct.Handle, Text: req.Status, IdempotencyKey: r.Header.Get("Idempotency-Key"), CreatedAt: s.now()}
	if req.InReplyToID != "" {
		id, err := strconv.ParseInt(req.InReplyToID, 10, 64)
		if err != nil {
			writeError(w, http.StatusNotFound, "Record not found")
			return
		}
		if _, err := s.store.GetPost(r.Context(), id); err != nil {
			writeError(w, http.StatusNotFound, "Record not found")
			return
		}
		p.InReplyTo = &id
	}
	stored, _, err := s.store.CreatePost(r.Context(), p)
	if err != nil {
		writeError(w, http.StatusServiceUnavailable, "temporarily unavailable")
		return
	}
	now := s.measureNow()
	followers, err := s.followers(r.Context(), acct, now)
	if err != nil {
		writeError(w, http.StatusServiceUnavailable, "temporarily unavailable")
		return
	}
	writeJSON(w, http.StatusOK, StatusOf(stored, acct, followers, s.baseURL(r), now))
}

func (s *Server) getStatus(w http.ResponseWriter, r *http.Request) {
	id, err := strconv.ParseInt(r.PathValue("id"), 10, 64)
	if err != nil {
		writeError(w, http.StatusNotFound, "Record not found")
		return
	}
	p, err := s.store.GetPost(r.Context(), id)
	if errors.Is(err, ErrNotFound) {
		writeError(w, http.StatusNotFound, "Record not found")
		return
	} else if err != nil {
		writeError(w, http.StatusServiceUnavailable, "temporarily unavailable")
		return
	}
	acct, err := s.store.Account(r.Context(), p.Handle)
	if err != nil {
		writeError(w, http.StatusServiceUnavailable, "temporarily unavailable")
		return
	}
	now := s.measureNow()
	followers, err := s.followers(r.Context(), acct, now)
	if err != nil {
		writeError(w, http.StatusServiceUnavailable, "temporarily unavailable")
		return
	}
	writeJSON(w, http.StatusOK, StatusOf(p, acct, followers, s.baseURL(r), now))
}

func (s *Server) listStatuses(w http.ResponseWriter, r *http.Request) {
	acct, err := s.store.Account(r.Context(), r.PathValue("handle"))
	if errors.Is(err, ErrNotFound) {
		writeError(w, http.StatusNotFound, "Record not found")
		return
	} else if err != nil {
		writeError(w, http.StatusServiceUnavailable, "temporarily unavailable")
		return
	}
	limit := 20
	if v := r.URL.Query().Get("limit"); v != "" {
		if n, err := strconv.Atoi(v); err == nil && n > 0 {
			limit = min(n, 40)
		}
	}
	var maxID int64
	if v := r.URL.Query().Get("max_id"); v != "" {
		if maxID, err = strconv.ParseInt(v, 10, 64); err != nil {
			writeError(w, http.StatusUnprocessableEntity, "max_id is not a status id")
			return
		}
	}
	posts, err := s.store.ListPosts(r.Context(), acct.Handle, maxID, limit)
	if err != nil {
		writeError(w, http.StatusServiceUnavailable, "temporarily unavailable")
		return
	}
	now := s.measureNow()
	followers, err := s.followers(r.Context(), acct, now)
	if err != nil {
		writeError(w, http.StatusServiceUnavailable, "temporarily unavailable")
		return
	}
	out := make([]Status, len(posts))
	for i, p := range posts {
		out[i] = StatusOf(p, acct, followers, s.baseURL(r), now)
	}
	writeJSON(w, http.StatusOK, out)
}

func (s *Server) deleteStatus(w http.ResponseWriter, r *http.Request) {
	acct, ok := s.authed(w, r)
	if !ok {
		return
	}
	id, err := strconv.ParseInt(r.PathValue("id"), 10, 64)
	if err != nil {
		writeError(w, http.StatusNotFound, "Record not found")
		return
	}
	if err := s.store.DeletePost(r.Context(), acct.Handle, id); errors.Is(err, ErrNotFound) {
		writeError(w, http.StatusNotFound, "Record not found")
		return
	} else if err != nil {
		writeError(w, http.StatusServiceUnavailable, "temporarily unavailable")
		return
	}
	writeJSON(w, http.StatusOK, map[string]string{"id": r.PathValue("id")})
}

func (s *Server) verifyCredentials(w http.ResponseWriter, r *http.Request) {
	acct, ok := s.authed(w, r)
	if !ok {
		return
	}
	now := s.measureNow()
	followers, err := s.followers(r.Context(), acct, now)
	if err != nil {
		writeError(w, http.StatusServiceUnavailable, "temporarily unavailable")
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"id": acct.Handle, "acct": acct.Handle, "username": acct.Handle,
		"followers_count": followers, "measured_at": now})
}
