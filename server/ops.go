package server

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"time"

	"github.com/labstack/echo/v4"

	"github.com/cmo-dev/cmo/telemetry"
)

// Limits of the API's http.Server.
//
// ReadHeaderTimeout keeps slow-header clients from holding connections.
// ReadTimeout covers the whole request, body included: a 32 MiB mentions
// import (MaxMentionsBody) arrives within it at 2.2 Mbit/s. WriteTimeout
// runs from the end of the headers to the end of the answer, so it covers
// the body, the handler (a backtest through POST /v1/simulations takes
// about 30 s on a quiet machine, an import of 100,000 mentions a few) and
// the answer, with room for a loaded machine.
const (
	ReadHeaderTimeout = 10 * time.Second
	ReadTimeout       = 2 * time.Minute
	WriteTimeout      = 3 * time.Minute
	IdleTimeout       = 2 * time.Minute
	// DrainTimeout is how long a shutdown waits for requests in flight
	// before it cuts them off.
	DrainTimeout = 30 * time.Second
)

// NewHTTPServer is the http.Server the API runs in, with the limits above.
func NewHTTPServer(h http.Handler) *http.Server {
	return &http.Server{Handler: h, ReadHeaderTimeout: ReadHeaderTimeout, ReadTimeout: ReadTimeout,
		WriteTimeout: WriteTimeout, IdleTimeout: IdleTimeout}
}

// Serve serves srv on ln until ctx ends, then shuts down gracefully: it
// stops accepting, lets requests in flight finish for up to drain, and
// closes whatever is still open after that. It returns nil after a clean
// shutdown, and the error when serving fails or the drain runs out.
func Serve(ctx context.Context, srv *http.Server, ln net.Listener, drain time.Duration) error {
	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(ln) }()
	select {
	case err := <-errc:
		return fmt.Errorf("http server: %w", err)
	case <-ctx.Done():
	}
	sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), drain)
	defer cancel()
	if err := srv.Shutdown(sctx); err != nil {
		_ = srv.Close()
		return fmt.Errorf("http server: drain requests in flight: %w", err)
	}
	if err := <-errc; !errors.Is(err, http.ErrServerClosed) {
		return fmt.Errorf("http server: %w", err)
	}
	return nil
}

// quietRoutes are probes and scrapes, which arrive every few seconds and
// would drown the request log; they are logged at Debug.
var quietRoutes = map[string]bool{"/healthz": true, "/readyz": true, "/metrics": true}

// requestLog logs every answer and counts it in the metrics. It runs
// outside every middleware but the request id's, so that refusals (a
// missing key, a panic recovered) are logged and counted too. The route
// is the pattern the router matched, so metrics stay bounded; the path is
// logged without its query, which may hold a token (calendar feeds).
func requestLog(log *slog.Logger, m *telemetry.Metrics) echo.MiddlewareFunc {
	return func(next echo.HandlerFunc) echo.HandlerFunc {
		return func(c echo.Context) error {
			start := time.Now()
			if err := next(c); err != nil {
				c.Error(err)
			}
			took := time.Since(start)
			req, res := c.Request(), c.Response()
			route := c.Path()
			if route == "" {
				route = "unmatched"
			}
			m.HTTPRequest(req.Method, route, res.Status, took)
			level := slog.LevelInfo
			if quietRoutes[route] {
				level = slog.LevelDebug
			}
			log.LogAttrs(req.Context(), level, "request",
				slog.String("request_id", res.Header().Get(echo.HeaderXRequestID)),
				slog.String("method", req.Method), slog.String("route", route), slog.String("path", req.URL.Path),
				slog.Int("status", res.Status), slog.Duration("duration", took))
			return nil
		}
	}
}
