package server

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"strconv"
	"sync"
	"time"

	"github.com/labstack/echo/v4"

	"github.com/cmo-dev/cmo/listening"
	"github.com/cmo-dev/cmo/store"
	"github.com/cmo-dev/cmo/workflows"
)

// Ingestion limits. A request holds at most MaxMentionsBody bytes and
// MaxMentionsPerRequest mentions; bigger imports are split by the client
// (cmo mentions import does).
const (
	MaxMentionsBody       = 32 << 20
	MaxMentionsPerRequest = 100_000
	// mentionChunk is how many mentions one transaction writes.
	mentionChunk = 10_000
	// retryAfterSeconds is what a 503 asks clients to wait.
	retryAfterSeconds = 5
)

// postMentions ingests a JSON array, NDJSON or CSV of mentions. It answers
// only once every mention is durable; a mention already stored is counted
// as a duplicate, so a client that did not get an answer can send the
// same request again.
func (s *Server) postMentions(c echo.Context) error {
	body, err := s.readBody(c, MaxMentionsBody)
	if err != nil {
		return err
	}
	return s.ingest(c, body, c.QueryParam("brand"), "")
}

// postMentionHook ingests a signed delivery from a registered source. The
// signature is checked on the raw body before anything is parsed or
// written; every rejection is 401 and says why.
func (s *Server) postMentionHook(c echo.Context) error {
	body, err := s.readBody(c, MaxMentionsBody)
	if err != nil {
		return err
	}
	source := c.Param("source")
	brand, secret, err := s.d.Store.MentionSourceSecret(c.Request().Context(), source)
	if errors.Is(err, store.ErrNotFound) {
		return unauthorized("unknown mention source %q", source)
	}
	if err != nil {
		return s.storeError(err)
	}
	h := c.Request().Header
	if err := listening.Verify(secret, h.Get(listening.HeaderTimestamp), h.Get(listening.HeaderSignature), body, s.d.Now()); err != nil {
		return unauthorized("%v", err)
	}
	return s.ingest(c, body, brand, brand)
}

func (s *Server) readBody(c echo.Context, limit int64) ([]byte, error) {
	body, err := io.ReadAll(http.MaxBytesReader(c.Response(), c.Request().Body, limit))
	if err != nil {
		return nil, bodyProblem(err)
	}
	return body, nil
}

// ingest parses and validates every mention first, so that a bad one
// rejects the request before anything is written, then stores them.
// onlyBrand, when set, is the one brand the mentions may name.
func (s *Server) ingest(c echo.Context, body []byte, defaultBrand, onlyBrand string) error {
	ctx := c.Request().Context()
	now := s.d.Now()
	configs := map[string]*listening.Config{}
	key, keyed := principal(c)
	var ms []listening.Mention
	prepare := func(m listening.Mention, _ int) error {
		if len(ms) >= MaxMentionsPerRequest {
			return fmt.Errorf("more than %d mentions in one request; split it", MaxMentionsPerRequest)
		}
		if m.Brand == "" {
			m.Brand = defaultBrand
		}
		if onlyBrand != "" && m.Brand != onlyBrand {
			return &listening.FieldError{Field: "brand", Message: fmt.Sprintf("this source delivers for brand %q only", onlyBrand)}
		}
		if keyed && m.Brand != "" && !key.Covers(m.Brand) {
			return &deniedBrand{key: key.KeyID, brand: m.Brand}
		}
		cfg, ok := configs[m.Brand]
		if !ok && m.Brand != "" {
			var err error
			cfg, _, err = s.d.Store.Listening(ctx, m.Brand)
			if errors.Is(err, store.ErrNotFound) {
				return &listening.FieldError{Field: "brand", Message: fmt.Sprintf("no brand %q", m.Brand)}
			}
			if err != nil {
				return &infraError{err}
			}
			configs[m.Brand] = cfg
		}
		if err := listening.Prepare(&m, cfg, s.d.Sentiment, now); err != nil {
			return err
		}
		ms = append(ms, m)
		return nil
	}
	var err error
	if isCSV(c.Request().Header.Get(echo.HeaderContentType)) {
		err = listening.DecodeCSV(bytes.NewReader(body), prepare)
	} else {
		err = listening.DecodeJSON(bytes.NewReader(body), prepare)
	}
	if err != nil {
		var infra *infraError
		var ie *listening.ItemError
		var denied *deniedBrand
		switch {
		case errors.As(err, &infra):
			return s.storeError(infra.err)
		case errors.As(err, &denied):
			// The whole request is refused, as for any bad mention.
			p := forbidden("brand", "%v", denied)
			if errors.As(err, &ie) {
				p.Detail = ie.Error() // says which line
			}
			return p
		case errors.As(err, &ie):
			return itemProblem(ie)
		}
		return s.storeError(err)
	}
	marks, err := s.inboxMarks(ctx, ms, configs, now)
	if err != nil {
		return s.storeError(err)
	}
	total := store.IngestResult{}
	s.d.Metrics.MentionsReceived(len(ms))
	for i := 0; i < len(ms); i += mentionChunk {
		res, err := s.d.Store.InsertMentions(ctx, ms[i:min(i+mentionChunk, len(ms))], marks...)
		if err != nil {
			return s.storeError(err)
		}
		// Counted per committed chunk: what a failed request stored
		// before it failed is stored all the same.
		s.d.Metrics.MentionsStored(res.Inserted, res.Duplicates)
		total.Received += res.Received
		total.Inserted += res.Inserted
		total.Duplicates += res.Duplicates
		total.Inbox += res.Inbox
	}
	s.inboxOpened(marks, total.Inbox)
	if total.Inserted > 0 {
		for brand := range configs {
			s.nudge.poke(brand)
		}
	}
	return c.JSON(http.StatusOK, total)
}

// infraError marks a failure of ours (the database) while reading a
// request, so that it is not answered as the client's mistake.
type infraError struct{ err error }

func (e *infraError) Error() string { return e.err.Error() }

func isCSV(contentType string) bool {
	mt, _, _ := mime.ParseMediaType(contentType)
	return mt == "text/csv"
}

func itemProblem(ie *listening.ItemError) *Problem {
	field := ie.Field
	where := fmt.Sprintf("mentions[%d]", ie.Index)
	if ie.Line > 0 {
		where = fmt.Sprintf("line %d", ie.Line)
	}
	if field == "" {
		field = "body"
		return &Problem{Type: TypeInvalidBody, Title: "Invalid body", Status: http.StatusBadRequest, Field: field,
			Detail: ie.Error(), Errors: []FieldProblem{{Field: where, Message: ie.Msg}}}
	}
	p := invalidField(where+"."+field, "%s", ie.Error())
	return p
}

// storeError answers 503 with Retry-After when the database cannot be
// reached: the client keeps the mentions and sends them again.
func (s *Server) storeError(err error) error {
	if store.IsUnavailable(err) || errors.Is(err, context.DeadlineExceeded) {
		s.d.Log.Warn("database unavailable", "error", err)
		p := unavailable("the database is unavailable; nothing from this request was acknowledged, send it again")
		p.RetryAfter = retryAfterSeconds
		return p
	}
	if errors.Is(err, store.ErrUnknownBrand) {
		return invalidField("brand", "a mention names a brand that does not exist")
	}
	return err
}

func unauthorized(format string, args ...any) *Problem {
	return &Problem{Type: TypeUnauthorized, Title: "Unauthorized", Status: http.StatusUnauthorized, Detail: fmt.Sprintf(format, args...)}
}

// listMentions answers GET /v1/mentions?brand=&from=&to=&sentiment=&topic=&competitor=&before=&limit=.
func (s *Server) listMentions(c echo.Context) error {
	f := store.MentionFilter{Brand: c.QueryParam("brand"), Sentiment: c.QueryParam("sentiment"), Topic: c.QueryParam("topic"),
		Competitor: c.QueryParam("competitor")}
	if f.Brand == "" {
		return invalidField("brand", "brand is required")
	}
	if _, err := s.brandOr404ByID(c, f.Brand); err != nil {
		return err
	}
	var err error
	if f.From, err = timeParam(c, "from"); err != nil {
		return err
	}
	if f.To, err = timeParam(c, "to"); err != nil {
		return err
	}
	switch f.Sentiment {
	case "", listening.Negative, listening.Neutral, listening.Positive:
	default:
		return invalidField("sentiment", "sentiment is negative, neutral or positive, got %q", f.Sentiment)
	}
	if v := c.QueryParam("before"); v != "" {
		if f.Before, err = strconv.ParseInt(v, 10, 64); err != nil || f.Before <= 0 {
			return invalidField("before", "before is the next cursor of an earlier page, got %q", v)
		}
	}
	f.Limit = 100
	if v := c.QueryParam("limit"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 || n > 1000 {
			return invalidField("limit", "limit must be an integer from 1 to 1000, got %q", v)
		}
		f.Limit = n
	}
	ms, err := s.d.Store.Mentions(c.Request().Context(), f)
	if err != nil {
		return s.storeError(err)
	}
	out := map[string]any{"mentions": ms}
	if len(ms) == f.Limit {
		out["next"] = strconv.FormatInt(ms[len(ms)-1].ID, 10)
	}
	return c.JSON(http.StatusOK, out)
}

func timeParam(c echo.Context, name string) (time.Time, error) {
	v := c.QueryParam(name)
	if v == "" {
		return time.Time{}, nil
	}
	t, err := time.Parse(time.RFC3339, v)
	if err != nil {
		return time.Time{}, invalidField(name, "%s must be an RFC 3339 time like 2026-11-25T10:00:00Z, got %q", name, v)
	}
	return t, nil
}

func (s *Server) brandOr404ByID(c echo.Context, id string) (store.Brand, error) {
	b, err := s.d.Store.Brand(c.Request().Context(), id)
	if errors.Is(err, store.ErrNotFound) {
		return b, notFound("brand", "no brand %q", id)
	}
	return b, err
}

// nudger tells brand monitors that mentions arrived, at most once a
// second per brand, with a trailing nudge so the last burst is looked at
// too. Signals are best effort: the monitor's own tick is the guarantee.
type nudger struct {
	signal func(brand string)
	mu     sync.Mutex
	last   map[string]time.Time
	queued map[string]bool
}

const nudgeGap = time.Second

func newNudger(signal func(string)) *nudger {
	return &nudger{signal: signal, last: map[string]time.Time{}, queued: map[string]bool{}}
}

func (n *nudger) poke(brand string) {
	if n == nil || n.signal == nil {
		return
	}
	n.mu.Lock()
	defer n.mu.Unlock()
	if n.queued[brand] {
		return
	}
	wait := nudgeGap - time.Since(n.last[brand])
	if wait <= 0 {
		n.last[brand] = time.Now()
		go n.signal(brand)
		return
	}
	n.queued[brand] = true
	time.AfterFunc(wait, func() {
		n.mu.Lock()
		n.queued[brand] = false
		n.last[brand] = time.Now()
		n.mu.Unlock()
		n.signal(brand)
	})
}

func (s *Server) signalMonitor(brand string) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := s.d.Temporal.SignalWorkflow(ctx, workflows.MonitorWorkflowID(brand), "", workflows.SignalMentions, nil); err != nil {
		s.d.Log.Debug("nudge monitor", "brand", brand, "error", err)
	}
}

// deniedBrand is a mention of a brand the request's key does not cover.
type deniedBrand struct{ key, brand string }

func (d *deniedBrand) Error() string {
	return fmt.Sprintf("key %s may not add mentions of brand %q", d.key, d.brand)
}
