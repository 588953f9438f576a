// Package server is cmo's HTTP API (Echo v4). Handlers stay thin: they
// validate input, talk to Temporal and the store, and return errors that
// one handler turns into problem+json.
package server

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/labstack/echo/v4"
	"github.com/labstack/echo/v4/middleware"
	"go.temporal.io/sdk/client"

	"github.com/cmo-dev/cmo/listening"
	"github.com/cmo-dev/cmo/platforms"
	"github.com/cmo-dev/cmo/platforms/sandbox"
	"github.com/cmo-dev/cmo/playbooks"
	"github.com/cmo-dev/cmo/store"
	"github.com/cmo-dev/cmo/telemetry"
)

// Deps is everything the API needs.
type Deps struct {
	Store     *store.Store
	Temporal  client.Client
	Namespace string
	TaskQueue string
	Playbooks *playbooks.Library
	// Platforms are the connectors, for testing a channel's credentials.
	Platforms platforms.Registry
	Log       *slog.Logger
	// UIURL is the Temporal Web UI's base URL, for links in answers; empty
	// when unknown.
	UIURL string
	Now   func() time.Time
	// Sentiment scores mentions that arrive without a sentiment; nil
	// means the lexicon scorer.
	Sentiment listening.Scorer
	// MonitorInterval is the tick of monitors the API starts for new
	// brands; 0 means the default.
	MonitorInterval time.Duration
	// Metrics counts requests and ingested mentions, and is what GET
	// /metrics serves; nil counts nothing.
	Metrics *telemetry.Metrics
	// RateLimit is each API key's sustained requests a second, and
	// RateBurst how many it may send at once; 0 means the defaults
	// (DefaultRateLimit, DefaultRateBurst), a negative RateLimit none.
	RateLimit float64
	RateBurst int
	// KeyTTL is how long a checked key is trusted before it is looked up
	// again (revocation through another process takes this long); 0
	// means 10 s.
	KeyTTL time.Duration
}

// Defaults of the per-key rate limit.
const (
	DefaultRateLimit = 50
	DefaultRateBurst = 100
)

// Server is the API.
type Server struct {
	d     Deps
	e     *echo.Echo
	nudge *nudger
	// inboxNudge tells brand inboxes that mentions opened items.
	inboxNudge *nudger
	keys       *keyring
	limits     *limiter
	// registered holds every "METHOD path", so a route without an access
	// rule is refused rather than let through.
	registered     map[string]bool
	campaignBrands sync.Map
}

// New builds the API with every route registered.
func New(d Deps) *Server {
	if d.Now == nil {
		d.Now = time.Now
	}
	if d.Log == nil {
		d.Log = slog.Default()
	}
	if d.Sentiment == nil {
		d.Sentiment = listening.Lexicon()
	}
	if d.RateLimit == 0 {
		d.RateLimit = DefaultRateLimit
	}
	if d.RateBurst <= 0 {
		d.RateBurst = DefaultRateBurst
	}
	if d.KeyTTL <= 0 {
		d.KeyTTL = 10 * time.Second
	}
	e := echo.New()
	e.HideBanner, e.HidePort = true, true
	e.HTTPErrorHandler = errorHandler(d.Log)
	e.Use(middleware.RequestID())
	e.Use(requestLog(d.Log, d.Metrics))
	e.Use(middleware.Recover())
	s := &Server{d: d, e: e, keys: newKeyring(d.Store, d.KeyTTL), limits: newLimiter(d.RateLimit, d.RateBurst)}
	e.Use(s.guard)
	if d.Temporal != nil {
		s.nudge = newNudger(s.signalMonitor)
	}

	e.GET("/healthz", s.healthz)
	e.GET("/readyz", s.readyz)
	e.GET("/openapi.yaml", s.serveOpenAPI)
	e.GET("/metrics", echo.WrapHandler(d.Metrics.Handler()))

	v1 := e.Group("/v1")
	v1.GET("/playbooks", s.listPlaybooks)
	v1.GET("/playbooks/:name", s.getPlaybook)
	v1.POST("/playbooks/validate", s.validatePlaybook)
	v1.GET("/brands", s.listBrands)
	v1.POST("/brands", s.createBrand)
	v1.GET("/brands/:brand/channels", s.listChannels)
	v1.POST("/brands/:brand/channels", s.createChannel)
	v1.POST("/channels/:id/test", s.testChannel)
	v1.POST("/channels/:id/disable", s.setChannelStatus("disabled"))
	v1.POST("/channels/:id/enable", s.setChannelStatus("active"))
	v1.GET("/brands/:brand/routes", s.listRoutes)
	v1.PUT("/brands/:brand/routes/:target", s.putRoute)
	v1.DELETE("/brands/:brand/routes/:target", s.deleteRoute)
	v1.GET("/brands/:brand/notifications", s.listNotifications)
	v1.POST("/campaigns", s.launchCampaign)
	v1.GET("/campaigns", s.listCampaigns)
	v1.GET("/campaigns/:id", s.getCampaign)
	v1.POST("/campaigns/:id/approvals", s.approveCampaign)
	v1.GET("/campaigns/:id/report", s.getReport)
	v1.GET("/sandbox/posts", s.listSandboxPosts)
	v1.POST("/mentions", s.postMentions)
	v1.GET("/mentions", s.listMentions)
	v1.POST("/hooks/mentions/:source", s.postMentionHook)
	v1.GET("/brands/:brand/listening", s.getListening)
	v1.PUT("/brands/:brand/listening", s.putListening)
	v1.POST("/brands/:brand/sources", s.createMentionSource)
	s.registerCrisisRoutes(v1)
	v1.POST("/simulations", s.postSimulation)
	s.registerKPIRoutes(e, v1)
	s.registerInboxRoutes(v1)

	sb := http.StripPrefix("/sandbox", sandbox.NewServer(d.Store.Sandbox(), "/sandbox", d.Now))
	e.Any("/sandbox/*", echo.WrapHandler(sb))
	s.registerAccessRoutes(v1)

	s.registered = map[string]bool{}
	for _, r := range e.Routes() {
		s.registered[r.Method+" "+r.Path] = true
	}
	return s
}

// Handler returns the API as an http.Handler.
func (s *Server) Handler() http.Handler { return s.e }

// Routes lists the registered routes as "METHOD path", for tests and docs.
func (s *Server) Routes() []string {
	var out []string
	for _, r := range s.e.Routes() {
		out = append(out, r.Method+" "+r.Path)
	}
	return out
}

func (s *Server) healthz(c echo.Context) error {
	return c.JSON(http.StatusOK, map[string]string{"status": "ok"})
}

// readyz answers 200 only when both Temporal and PostgreSQL answer.
func (s *Server) readyz(c echo.Context) error {
	ctx, cancel := context.WithTimeout(c.Request().Context(), 3*time.Second)
	defer cancel()
	checks := map[string]string{"postgres": "ok", "temporal": "ok"}
	ok := true
	if err := s.d.Store.Ping(ctx); err != nil {
		checks["postgres"], ok = "unreachable", false
		s.d.Log.Warn("readyz: postgres", "error", err)
	}
	if _, err := s.d.Temporal.CheckHealth(ctx, &client.CheckHealthRequest{}); err != nil {
		checks["temporal"], ok = "unreachable", false
		s.d.Log.Warn("readyz: temporal", "error", err)
	}
	status := http.StatusOK
	if !ok {
		status = http.StatusServiceUnavailable
	}
	return c.JSON(status, checks)
}

func (s *Server) listPlaybooks(c echo.Context) error {
	type item struct {
		Name        string                      `json:"name"`
		Kind        string                      `json:"kind"`
		Title       string                      `json:"title"`
		Description string                      `json:"description,omitempty"`
		Params      map[string]*playbooks.Param `json:"params,omitempty"`
		Hash        string                      `json:"hash"`
	}
	out := []item{}
	for _, p := range s.d.Playbooks.List() {
		out = append(out, item{Name: p.Name, Kind: p.Kind, Title: p.DisplayTitle(), Description: p.Description, Params: p.Params, Hash: p.Hash})
	}
	return c.JSON(http.StatusOK, map[string]any{"playbooks": out})
}

func (s *Server) getPlaybook(c echo.Context) error {
	p, ok := s.d.Playbooks.Get(c.Param("name"))
	if !ok {
		return notFound("name", "no playbook named %q", c.Param("name"))
	}
	return c.JSON(http.StatusOK, p)
}

// validatePlaybook checks a playbook sent as the body (YAML) and answers
// the same positioned errors as `cmo playbook validate`, as JSON.
func (s *Server) validatePlaybook(c echo.Context) error {
	body, err := io.ReadAll(http.MaxBytesReader(c.Response(), c.Request().Body, maxBody))
	if err != nil {
		return bodyProblem(err)
	}
	name := c.QueryParam("file")
	if name == "" {
		name = "playbook.yaml"
	}
	p, err := playbooks.Parse(name, body)
	if err != nil {
		es, ok := playbooks.AsErrors(err)
		if !ok {
			return err
		}
		return c.JSON(http.StatusUnprocessableEntity, map[string]any{
			"valid": false, "errors": es, "messages": strings.Split(es.Error(), "\n"),
		})
	}
	return c.JSON(http.StatusOK, map[string]any{"valid": true, "name": p.Name, "kind": p.Kind, "hash": p.Hash})
}

func (s *Server) listBrands(c echo.Context) error {
	ctx := c.Request().Context()
	brands, err := s.d.Store.Brands(ctx)
	if err != nil {
		return err
	}
	type item struct {
		store.Brand
		Channels []store.Channel `json:"channels"`
	}
	out := []item{}
	p, _ := principal(c)
	for _, b := range brands {
		if !p.Covers(b.ID) {
			continue
		}
		chs, err := s.d.Store.Channels(ctx, b.ID)
		if err != nil {
			return err
		}
		out = append(out, item{Brand: b, Channels: chs})
	}
	return c.JSON(http.StatusOK, map[string]any{"brands": out})
}

func (s *Server) listSandboxPosts(c echo.Context) error {
	ctx := c.Request().Context()
	limit := 100
	if v := c.QueryParam("limit"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 || n > 1000 {
			return invalidField("limit", "limit must be an integer from 1 to 1000, got %q", v)
		}
		limit = n
	}
	// at shows the numbers as they were (or will be) at a moment, the
	// way a report measured them.
	now := sandbox.MeasureTime(s.d.Now())
	if v := c.QueryParam("at"); v != "" {
		t, err := time.Parse(time.RFC3339Nano, v)
		if err != nil {
			return invalidField("at", "at must be an RFC 3339 time, got %q", v)
		}
		now = sandbox.MeasureTime(t)
	}
	handle := c.QueryParam("handle")
	sb := s.d.Store.Sandbox()
	posts, err := sb.ListPosts(ctx, handle, 0, limit)
	if err != nil {
		return err
	}
	base := c.Scheme() + "://" + c.Request().Host + "/sandbox"
	out := []sandbox.Status{}
	type account struct {
		sandbox.Account
		followers int64
	}
	accounts := map[string]account{}
	for _, p := range posts {
		acct, ok := accounts[p.Handle]
		if !ok {
			if acct.Account, err = sb.Account(ctx, p.Handle); err != nil && !errors.Is(err, sandbox.ErrNotFound) {
				return err
			}
			stamps, err := sb.PostStamps(ctx, p.Handle)
			if err != nil {
				return err
			}
			acct.followers = sandbox.FollowersAt(acct.Account, stamps, now)
			accounts[p.Handle] = acct
		}
		out = append(out, sandbox.StatusOf(p, acct.Account, acct.followers, base, now))
	}
	return c.JSON(http.StatusOK, map[string]any{"posts": out})
}
