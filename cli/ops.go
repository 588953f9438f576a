package cli

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"time"

	"github.com/cmo-dev/cmo/server"
	"github.com/cmo-dev/cmo/telemetry"
)

// logger logs at level (debug, info, warn, error) as JSON, one object a
// line for log collectors, or as text (key=value) for people reading a
// terminal.
func logger(w io.Writer, level, format string) *slog.Logger {
	var l slog.Level
	_ = l.UnmarshalText([]byte(level))
	opts := &slog.HandlerOptions{Level: l}
	if format == "text" {
		return slog.New(slog.NewTextHandler(w, opts))
	}
	return slog.New(slog.NewJSONHandler(w, opts))
}

// newLogger logs at level in the default format, JSON.
func newLogger(w io.Writer, level string) *slog.Logger { return logger(w, level, "json") }

// metricsDrain is how long the metrics listener waits for a scrape in
// flight when the process stops.
const metricsDrain = 5 * time.Second

// serveMetrics serves GET /metrics on addr until ctx ends; an empty addr
// serves nothing. The listener is opened before it returns, so a taken
// port fails the command at start; bound is the address it took. done
// waits until it has stopped.
func serveMetrics(ctx context.Context, addr string, m *telemetry.Metrics, log *slog.Logger) (bound string, done func(), err error) {
	if addr == "" {
		return "", func() {}, nil
	}
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return "", nil, fmt.Errorf("metrics listen on %s: %w", addr, err)
	}
	mux := http.NewServeMux()
	mux.Handle("GET /metrics", m.Handler())
	stopped := make(chan struct{})
	go func() {
		defer close(stopped)
		if err := server.Serve(ctx, server.NewHTTPServer(mux), ln, metricsDrain); err != nil {
			log.Error("metrics listener stopped", "addr", addr, "error", err)
		}
	}()
	log.Info("metrics listening", "addr", ln.Addr().String(), "path", "/metrics")
	return ln.Addr().String(), func() { <-stopped }, nil
}
