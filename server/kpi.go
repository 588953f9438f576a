package server

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"math"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"time"

	"github.com/labstack/echo/v4"

	"github.com/cmo-dev/cmo/playbooks"
	"github.com/cmo-dev/cmo/store"
	"github.com/cmo-dev/cmo/workflows"
)

// registerKPIRoutes adds tracked links, costs and conversions, and the
// content calendar. The short links live at the root (/l/{code}): they
// are public, short, and outlive API versions.
func (s *Server) registerKPIRoutes(e *echo.Echo, v1 *echo.Group) {
	e.GET("/l/:code", s.followLink)
	v1.GET("/campaigns/:id/links", s.listLinks)
	v1.GET("/campaigns/:id/costs", s.listCosts)
	v1.POST("/campaigns/:id/costs", s.addCost)
	v1.POST("/campaigns/:id/conversions", s.addConversion)
	v1.GET("/calendar", s.getCalendar)
	v1.GET("/calendar.ics", s.getCalendarFeed)
	v1.GET("/calendar/tokens", s.listCalendarTokens)
	v1.POST("/calendar/tokens", s.createCalendarToken)
	v1.DELETE("/calendar/tokens/:id", s.revokeCalendarToken)
}

// botAgent matches crawlers, link-preview fetchers (every Mastodon server
// that shows a post fetches its links) and scripts: their visits are kept
// but are not people clicking.
var botAgent = regexp.MustCompile(`(?i)bot\b|bot/|crawler|spider|preview|facebookexternalhit|whatsapp|mastodon/|pleroma|misskey|akkoma|cardyb|bluesky|embedly|iframely|curl/|wget/|python-requests|go-http-client|headless`)

// followLink answers a tracked link: it counts the click with its channel
// and referrer and sends the visitor on to the destination with its UTM
// parameters.
func (s *Server) followLink(c echo.Context) error {
	ctx := c.Request().Context()
	code := c.Param("code")
	l, err := s.d.Store.TrackedLink(ctx, code)
	if errors.Is(err, store.ErrNotFound) {
		return notFound("code", "no link %q", code)
	} else if err != nil {
		return err
	}
	ua := c.Request().UserAgent()
	ref := c.Request().Referer()
	click := store.Click{At: s.d.Now().UTC(), Referrer: truncate(ref, 1024), Bot: ua == "" || botAgent.MatchString(ua)}
	if u, err := url.Parse(ref); err == nil {
		click.ReferrerHost = strings.ToLower(strings.TrimPrefix(u.Hostname(), "www."))
	}
	if err := s.d.Store.RecordClick(ctx, l, click); err != nil {
		// The visitor still gets where they were going; the count is
		// worth less than their trip.
		s.d.Log.Warn("count click", "code", code, "error", err)
	}
	// Each click must reach us to be counted: no caching.
	c.Response().Header().Set("Cache-Control", "no-store")
	c.Response().Header().Set("Referrer-Policy", "no-referrer-when-downgrade")
	return c.Redirect(http.StatusFound, l.Destination)
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n]
}

// campaignKnown answers 404 for a campaign Temporal has never heard of,
// so that money is not recorded against a typo.
func (s *Server) campaignKnown(ctx context.Context, id string) error {
	if !playbooks.ValidID(id) {
		return notFound("id", "no campaign %q", id)
	}
	if s.d.Temporal == nil {
		return nil
	}
	if _, err := s.d.Temporal.DescribeWorkflowExecution(ctx, workflows.CampaignWorkflowID(id), ""); err != nil {
		return s.workflowErr(err, id)
	}
	return nil
}

func (s *Server) listLinks(c echo.Context) error {
	links, err := s.d.Store.CampaignLinks(c.Request().Context(), c.Param("id"))
	if err != nil {
		return err
	}
	if links == nil {
		links = []store.LinkStats{}
	}
	out := make([]map[string]any, len(links))
	for i, l := range links {
		out[i] = map[string]any{"code": l.Code, "url": "/l/" + l.Code, "channel_id": l.ChannelID, "target": l.Target,
			"destination": l.Destination, "clicks": l.Clicks, "bots": l.Bots, "created_at": l.CreatedAt}
	}
	return c.JSON(http.StatusOK, map[string]any{"links": out})
}

// CostRequest is the body of POST /v1/campaigns/{id}/costs.
type CostRequest struct {
	// Key makes the entry idempotent: sending it again records nothing
	// more. One is made up when absent.
	Key      string   `json:"key"`
	Amount   *float64 `json:"amount"`
	Currency string   `json:"currency"`
	Note     string   `json:"note"`
	At       string   `json:"at"`
}

func (s *Server) addCost(c echo.Context) error {
	ctx := c.Request().Context()
	id := c.Param("id")
	var req CostRequest
	if err := decodeJSON(c, &req); err != nil {
		return err
	}
	amount, err := money("amount", req.Amount)
	if err != nil {
		return err
	}
	if req.Key == "" {
		b := make([]byte, 8)
		_, _ = rand.Read(b)
		req.Key = "api-" + hex.EncodeToString(b)
	} else if len(req.Key) > 200 {
		return invalidField("key", "key is at most 200 characters")
	}
	if err := checkMoneyFields(req.Currency, req.Note); err != nil {
		return err
	}
	at, err := s.when("at", req.At)
	if err != nil {
		return err
	}
	if err := s.campaignKnown(ctx, id); err != nil {
		return err
	}
	cost, created, err := s.d.Store.AddCost(ctx, store.Cost{CampaignID: id, Key: req.Key, Amount: amount, Currency: req.Currency,
		Note: req.Note, Source: store.CostFromAPI, At: at})
	if err := moneyErr(err, "key"); err != nil {
		return err
	}
	status := http.StatusOK
	if created {
		status = http.StatusCreated
	}
	return c.JSON(status, cost)
}

func (s *Server) listCosts(c echo.Context) error {
	costs, err := s.d.Store.Costs(c.Request().Context(), c.Param("id"))
	if err != nil {
		return err
	}
	if costs == nil {
		costs = []store.Cost{}
	}
	return c.JSON(http.StatusOK, map[string]any{"costs": costs})
}

// ConversionRequest is the body of POST /v1/campaigns/{id}/conversions:
// a sale or sign-up the shop or CRM attributes to the campaign.
type ConversionRequest struct {
	// ID is the conversion's id in the system that reports it (an order
	// number); a conversion is recorded once by it.
	ID       string   `json:"id"`
	Value    *float64 `json:"value"`
	Currency string   `json:"currency"`
	Channel  string   `json:"channel_id"`
	At       string   `json:"at"`
}

func (s *Server) addConversion(c echo.Context) error {
	ctx := c.Request().Context()
	id := c.Param("id")
	var req ConversionRequest
	if err := decodeJSON(c, &req); err != nil {
		return err
	}
	if strings.TrimSpace(req.ID) == "" {
		return invalidField("id", "id is required: the conversion's id where it happened (an order number), so that it counts once")
	}
	if len(req.ID) > 200 {
		return invalidField("id", "id is at most 200 characters")
	}
	value, err := money("value", req.Value)
	if err != nil {
		return err
	}
	if err := checkMoneyFields(req.Currency, ""); err != nil {
		return err
	}
	at, err := s.when("at", req.At)
	if err != nil {
		return err
	}
	if err := s.campaignKnown(ctx, id); err != nil {
		return err
	}
	conv, created, err := s.d.Store.AddConversion(ctx, store.Conversion{CampaignID: id, ExternalID: req.ID, Value: value,
		Currency: req.Currency, ChannelID: req.Channel, At: at})
	if err := moneyErr(err, "id"); err != nil {
		return err
	}
	status := http.StatusOK
	if created {
		status = http.StatusCreated
	}
	return c.JSON(status, conv)
}

// money checks an amount: present, finite, not negative, and below a
// trillion (numeric(14,2) holds less).
func money(field string, v *float64) (float64, error) {
	switch {
	case v == nil:
		return 0, invalidField(field, "%s is required", field)
	case math.IsNaN(*v) || math.IsInf(*v, 0) || *v < 0:
		return 0, invalidField(field, "%s must be a number of 0 or more, got %v", field, *v)
	case *v >= 1e11:
		return 0, invalidField(field, "%s must be under 100,000,000,000, got %v", field, *v)
	}
	return *v, nil
}

func checkMoneyFields(currency, note string) error {
	if currency != "" && !playbooks.ValidCurrency(currency) {
		return invalidField("currency", "currency is an ISO 4217 code such as EUR, got %q", currency)
	}
	if len(note) > 500 {
		return invalidField("note", "note is at most 500 characters")
	}
	return nil
}

// when reads an optional RFC 3339 time, now when empty; a time more than
// five minutes ahead is refused: money is counted when it was spent.
func (s *Server) when(field, v string) (time.Time, error) {
	now := s.d.Now().UTC()
	if v == "" {
		return now, nil
	}
	t, err := time.Parse(time.RFC3339Nano, v)
	if err != nil {
		return time.Time{}, invalidField(field, "%s must be an RFC 3339 time like 2026-05-01T09:00:00+02:00, got %q", field, v)
	}
	if t.After(now.Add(5 * time.Minute)) {
		return time.Time{}, invalidField(field, "%s is in the future: record it when it happens", field)
	}
	return t.UTC(), nil
}

func moneyErr(err error, keyField string) error {
	switch {
	case err == nil:
		return nil
	case errors.Is(err, store.ErrCurrency):
		return invalidField("currency", "%v", err)
	case errors.Is(err, store.ErrExists):
		return conflict(keyField, "%v", err)
	}
	return err
}
