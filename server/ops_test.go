package server_test

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/stretchr/testify/require"

	"github.com/cmo-dev/cmo/internal/pgtest"
	"github.com/cmo-dev/cmo/listening"
	"github.com/cmo-dev/cmo/sealbox"
	"github.com/cmo-dev/cmo/server"
	"github.com/cmo-dev/cmo/store"
	"github.com/cmo-dev/cmo/telemetry"
)

// logBuffer collects JSON log lines, safely from any goroutine.
type logBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *logBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

// lines decodes every line logged so far.
func (b *logBuffer) lines(t *testing.T) []map[string]any {
	t.Helper()
	b.mu.Lock()
	defer b.mu.Unlock()
	var out []map[string]any
	sc := bufio.NewScanner(bytes.NewReader(b.buf.Bytes()))
	for sc.Scan() {
		var l map[string]any
		require.NoError(t, json.Unmarshal(sc.Bytes(), &l), "every log line is JSON: %s", sc.Text())
		out = append(out, l)
	}
	return out
}

// find returns the lines whose msg is msg and whose fields include want.
func (b *logBuffer) find(t *testing.T, msg string, want map[string]any) []map[string]any {
	t.Helper()
	var out []map[string]any
next:
	for _, l := range b.lines(t) {
		if l["msg"] != msg {
			continue
		}
		for k, v := range want {
			if l[k] != v {
				continue next
			}
		}
		out = append(out, l)
	}
	return out
}

// opsAPI is an API with metrics in a registry of the test's own and a
// JSON log at Debug.
func opsAPI(t *testing.T, s *store.Store) (http.Handler, *logBuffer) {
	t.Helper()
	logs := &logBuffer{}
	log := slog.New(slog.NewJSONHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	api := server.New(server.Deps{Store: s, Log: log, Metrics: telemetry.New(prometheus.NewRegistry()), Now: func() time.Time { return clock }})
	return api.Handler(), logs
}

// serveOne serves one request in the test's goroutine: when it returns, the
// request has been logged and counted.
func serveOne(h http.Handler, method, target string, body []byte, header map[string]string) *httptest.ResponseRecorder {
	req := httptest.NewRequest(method, target, bytes.NewReader(body))
	for k, v := range header {
		req.Header.Set(k, v)
	}
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	return rec
}

func scrape(t *testing.T, h http.Handler) string {
	t.Helper()
	rec := serveOne(h, http.MethodGet, "/metrics", nil, nil)
	require.Equal(t, http.StatusOK, rec.Code)
	require.Contains(t, rec.Header().Get("Content-Type"), "text/plain")
	return rec.Body.String()
}

func TestRequestsAreCountedByRouteAndLoggedAsJSON(t *testing.T) {
	h, logs := opsAPI(t, testStore(t))
	for _, code := range []string{"k7xq2m9abc", "another1"} {
		rec := serveOne(h, http.MethodGet, "/l/"+code+"?utm_source=x", nil, nil)
		require.Equal(t, http.StatusNotFound, rec.Code)
	}
	rec := serveOne(h, http.MethodGet, "/healthz", nil, map[string]string{"X-Request-Id": "probe-1"})
	require.Equal(t, http.StatusOK, rec.Code)

	out := scrape(t, h)
	require.Contains(t, out, `cmo_http_requests_total{code="404",method="GET",route="/l/:code"} 2`,
		"one series for the route pattern, whatever the codes asked for")
	require.NotContains(t, out, "k7xq2m9abc")
	require.Contains(t, out, `cmo_http_requests_total{code="200",method="GET",route="/healthz"} 1`)
	require.Contains(t, out, `cmo_http_request_duration_seconds_count{method="GET",route="/l/:code"} 2`)

	got := logs.find(t, "request", map[string]any{"route": "/l/:code", "path": "/l/k7xq2m9abc"})
	require.Len(t, got, 1)
	l := got[0]
	require.Equal(t, "INFO", l["level"])
	require.Equal(t, "GET", l["method"])
	require.EqualValues(t, 404, l["status"])
	require.NotEmpty(t, l["request_id"])
	require.Contains(t, l, "duration")
	// Probes are logged too, below Info, with the id the caller sent.
	probe := logs.find(t, "request", map[string]any{"route": "/healthz"})
	require.Len(t, probe, 1)
	require.Equal(t, "DEBUG", probe[0]["level"])
	require.Equal(t, "probe-1", probe[0]["request_id"])
}

// A 500 says only "quote the request id"; the log line with the cause
// must carry the same id, or the operator cannot find it.
func TestErrorLogCarriesTheRequestID(t *testing.T) {
	pool, _ := pgtest.NewDB(t, migrate)
	box, err := sealbox.New(bytes.Repeat([]byte{3}, 32))
	require.NoError(t, err)
	h, logs := opsAPI(t, store.New(pool, box))
	pool.Close() // every query fails from here on

	rec := serveOne(h, http.MethodGet, "/l/k7xq2m9abc", nil, nil)
	require.Equal(t, http.StatusInternalServerError, rec.Code)
	id := rec.Header().Get("X-Request-Id")
	require.NotEmpty(t, id)
	var p server.Problem
	require.NoError(t, json.Unmarshal(rec.Body.Bytes(), &p))
	require.Equal(t, id, p.RequestID)

	failed := logs.find(t, "request failed", map[string]any{"request_id": id})
	require.Len(t, failed, 1, "the cause is logged with the request id")
	require.Equal(t, "ERROR", failed[0]["level"])
	require.Len(t, logs.find(t, "request", map[string]any{"request_id": id, "status": float64(500)}), 1)
	require.Contains(t, scrape(t, h), `cmo_http_requests_total{code="500",method="GET",route="/l/:code"} 1`)
}

// The ingestion counters move with what a request stored: new mentions,
// then the same again as duplicates. The signed hook is used because it
// is the way in that needs no API key.
func TestIngestionCounters(t *testing.T) {
	s := testStore(t)
	seedBrand(t, s, "acme")
	secret, err := s.CreateMentionSource(context.Background(), "provider", "acme")
	require.NoError(t, err)
	h, _ := opsAPI(t, s)

	body := ndjson("", "m1", "m2", "m3")
	signed := map[string]string{
		"Content-Type":            "application/x-ndjson",
		listening.HeaderTimestamp: strconv.FormatInt(clock.Unix(), 10),
		listening.HeaderSignature: listening.Sign([]byte(secret), clock, body),
	}
	rec := serveOne(h, http.MethodPost, "/v1/hooks/mentions/provider", body, signed)
	require.Equal(t, http.StatusOK, rec.Code, rec.Body.String())
	out := scrape(t, h)
	require.Contains(t, out, "cmo_mentions_received_total 3\n")
	require.Contains(t, out, "cmo_mentions_stored_total 3\n")
	require.Contains(t, out, "cmo_mentions_duplicates_total 0\n")

	rec = serveOne(h, http.MethodPost, "/v1/hooks/mentions/provider", body, signed)
	require.Equal(t, http.StatusOK, rec.Code, rec.Body.String())
	out = scrape(t, h)
	require.Contains(t, out, "cmo_mentions_received_total 6\n")
	require.Contains(t, out, "cmo_mentions_stored_total 3\n")
	require.Contains(t, out, "cmo_mentions_duplicates_total 3\n")
	require.Contains(t, out, `cmo_http_requests_total{code="200",method="POST",route="/v1/hooks/mentions/:source"} 2`)
}

// A request in flight when shutdown begins is answered; a new connection
// after it is refused; Serve returns nil.
func TestServeDrainsRequestsInFlight(t *testing.T) {
	entered, release := make(chan struct{}), make(chan struct{})
	srv := server.NewHTTPServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		close(entered)
		<-release
		_, _ = io.WriteString(w, "done")
	}))
	require.Equal(t, server.ReadHeaderTimeout, srv.ReadHeaderTimeout)
	require.NotZero(t, srv.ReadTimeout)
	require.NotZero(t, srv.WriteTimeout)
	require.NotZero(t, srv.IdleTimeout)
	shuttingDown := make(chan struct{})
	srv.RegisterOnShutdown(func() { close(shuttingDown) })
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	ctx, stop := context.WithCancel(context.Background())
	served := make(chan error, 1)
	go func() { served <- server.Serve(ctx, srv, ln, time.Minute) }()

	type result struct {
		body string
		err  error
	}
	answered := make(chan result, 1)
	go func() {
		resp, err := http.Get("http://" + ln.Addr().String() + "/slow")
		if err != nil {
			answered <- result{err: err}
			return
		}
		defer resp.Body.Close()
		b, err := io.ReadAll(resp.Body)
		answered <- result{string(b), err}
	}()
	<-entered
	stop()
	<-shuttingDown
	// The listener is closed before the shutdown hooks run.
	_, err = net.Dial("tcp", ln.Addr().String())
	require.Error(t, err, "no new connections once shutdown began")
	close(release)
	r := <-answered
	require.NoError(t, r.err)
	require.Equal(t, "done", r.body)
	require.NoError(t, <-served)
}

// A request that outlasts the drain is cut off, and Serve says so.
func TestServeReportsADrainThatRunsOut(t *testing.T) {
	entered, release := make(chan struct{}), make(chan struct{})
	defer close(release)
	srv := server.NewHTTPServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		close(entered)
		<-release
	}))
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	ctx, stop := context.WithCancel(context.Background())
	served := make(chan error, 1)
	go func() { served <- server.Serve(ctx, srv, ln, 0) }()
	go func() {
		if resp, err := http.Get("http://" + ln.Addr().String() + "/stuck"); err == nil {
			resp.Body.Close()
		}
	}()
	<-entered
	stop()
	err = <-served
	require.Error(t, err)
	require.True(t, errors.Is(err, context.DeadlineExceeded), err)
	require.True(t, strings.Contains(err.Error(), "drain"), err)
}
