package server

import (
	"bytes"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/labstack/echo/v4"

	"github.com/cmo-dev/cmo/access"
	"github.com/cmo-dev/cmo/ical"
	"github.com/cmo-dev/cmo/playbooks"
	"github.com/cmo-dev/cmo/store"
)

// maxCalendarSpan bounds one calendar request: a year and a bit.
const maxCalendarSpan = 400 * 24 * time.Hour

// CalendarEntryView is one post on the calendar, with its time written
// in its brand's zone.
type CalendarEntryView struct {
	store.CalendarEntry
	Local string `json:"local"`
}

// getCalendar lists the scheduled and published posts from from to to
// (default: the week before today to five weeks after), for a brand or
// every brand.
func (s *Server) getCalendar(c echo.Context) error {
	ctx := c.Request().Context()
	brand := c.QueryParam("brand")
	loc := time.UTC
	if brand != "" {
		b, err := s.d.Store.Brand(ctx, brand)
		if errors.Is(err, store.ErrNotFound) {
			return notFound("brand", "no brand %q", brand)
		} else if err != nil {
			return err
		}
		if l, err := time.LoadLocation(b.Timezone); err == nil {
			loc = l
		}
	}
	now := s.d.Now()
	today := time.Date(now.In(loc).Year(), now.In(loc).Month(), now.In(loc).Day(), 0, 0, 0, 0, loc)
	from, to, err := calendarSpan(c, loc, today.AddDate(0, 0, -7), today.AddDate(0, 0, 35))
	if err != nil {
		return err
	}
	entries, err := s.d.Store.Calendar(ctx, brand, from, to, now)
	if err != nil {
		return err
	}
	out := make([]CalendarEntryView, len(entries))
	for i, e := range entries {
		out[i] = CalendarEntryView{CalendarEntry: e, Local: e.At.Format(time.RFC3339)}
		if l, err := time.LoadLocation(e.Timezone); err == nil {
			out[i].Local = e.At.In(l).Format(time.RFC3339)
		}
	}
	return c.JSON(http.StatusOK, map[string]any{"brand": brand, "from": from, "to": to, "entries": out})
}

// calendarSpan reads from and to: RFC 3339 times, or dates (2026-05-01)
// meaning midnight in loc; to is exclusive.
func calendarSpan(c echo.Context, loc *time.Location, defFrom, defTo time.Time) (time.Time, time.Time, error) {
	parse := func(field string, def time.Time) (time.Time, error) {
		v := c.QueryParam(field)
		if v == "" {
			return def, nil
		}
		if t, err := time.Parse(time.RFC3339Nano, v); err == nil {
			return t, nil
		}
		if t, err := time.ParseInLocation("2006-01-02", v, loc); err == nil {
			return t, nil
		}
		return time.Time{}, invalidField(field, "%s must be a date (2026-05-01) or an RFC 3339 time, got %q", field, v)
	}
	from, err := parse("from", defFrom)
	if err != nil {
		return from, from, err
	}
	if c.QueryParam("from") != "" && c.QueryParam("to") == "" {
		defTo = from.Add(defTo.Sub(defFrom))
	}
	to, err := parse("to", defTo)
	if err != nil {
		return from, to, err
	}
	if !to.After(from) {
		return from, to, invalidField("to", "to must be after from")
	}
	if to.Sub(from) > maxCalendarSpan {
		return from, to, invalidField("to", "at most 400 days at a time")
	}
	return from, to, nil
}

// getCalendarFeed is the iCalendar (RFC 5545) feed a calendar application
// subscribes to. Those applications cannot send headers, so the feed is
// opened by a token in the URL, made per person and revocable; a token
// made for a brand shows only that brand.
func (s *Server) getCalendarFeed(c echo.Context) error {
	ctx := c.Request().Context()
	token := c.QueryParam("token")
	if token == "" {
		return &Problem{Type: TypeUnauthorized, Title: "Unauthorized", Status: http.StatusUnauthorized, Field: "token",
			Detail: "the feed needs ?token=; make one with POST /v1/calendar/tokens"}
	}
	tok, err := s.d.Store.CalendarTokenFor(ctx, token)
	if errors.Is(err, store.ErrNotFound) {
		return &Problem{Type: TypeUnauthorized, Title: "Unauthorized", Status: http.StatusUnauthorized, Field: "token",
			Detail: "the token is unknown or was revoked"}
	} else if err != nil {
		return err
	}
	brand := tok.BrandID
	if b := c.QueryParam("brand"); b != "" {
		if brand != "" && b != brand {
			return &Problem{Type: TypeUnauthorized, Title: "Forbidden", Status: http.StatusForbidden, Field: "brand",
				Detail: fmt.Sprintf("this token shows brand %s only", brand)}
		}
		brand = b
	}
	name := "cmo content calendar"
	if brand != "" {
		b, err := s.d.Store.Brand(ctx, brand)
		if errors.Is(err, store.ErrNotFound) {
			return notFound("brand", "no brand %q", brand)
		} else if err != nil {
			return err
		}
		name = "cmo — " + b.Name
	}
	now := s.d.Now()
	from, to, err := calendarSpan(c, time.UTC, now.AddDate(0, 0, -30), now.AddDate(0, 0, 365))
	if err != nil {
		return err
	}
	entries, err := s.d.Store.Calendar(ctx, brand, from, to, now)
	if err != nil {
		return err
	}
	cal := ical.Calendar{Name: name, Refresh: 15 * time.Minute, Stamp: now}
	for _, e := range entries {
		cal.Events = append(cal.Events, calendarEvent(e))
	}
	var b bytes.Buffer
	if err := cal.Write(&b); err != nil {
		return err
	}
	c.Response().Header().Set("Cache-Control", "private, max-age=300")
	return c.Blob(http.StatusOK, "text/calendar; charset=utf-8", b.Bytes())
}

// calendarEvent is a post as an event: fifteen minutes at its time in its
// brand's zone, titled with its channel and first line.
func calendarEvent(e store.CalendarEntry) ical.Event {
	first := strings.TrimSpace(strings.SplitN(e.Text, "\n", 2)[0])
	if first == "" {
		first = e.CampaignID
	}
	if r := []rune(first); len(r) > 80 {
		first = string(r[:79]) + "…"
	}
	status := ical.Confirmed
	switch e.Status {
	case store.CalendarMissed, store.CalendarFailed:
		status = ical.Cancelled
	}
	var d strings.Builder
	if e.Text != "" {
		d.WriteString(e.Text + "\n\n")
	}
	campaign := e.CampaignID
	if e.Title != "" {
		campaign += " (" + e.Title + ")"
	}
	fmt.Fprintf(&d, "Campaign: %s\nStep: %s\nChannel: %s (%s)\nStatus: %s", campaign, e.StepID, e.Channel, e.Platform, e.Status)
	if e.PostURL != "" {
		d.WriteString("\nPost: " + e.PostURL)
	}
	return ical.Event{
		UID:   e.CampaignID + "/" + e.StepID + "/" + e.ChannelID + "@cmo",
		Start: e.At, Zone: e.Timezone, Duration: 15 * time.Minute,
		Summary: "[" + e.Channel + "] " + first, Description: d.String(), URL: e.PostURL,
		Categories: nonEmpty(e.Platform, e.Playbook), Status: status,
	}
}

func nonEmpty(ss ...string) []string {
	var out []string
	for _, s := range ss {
		if s != "" {
			out = append(out, s)
		}
	}
	return out
}

// CalendarTokenRequest is the body of POST /v1/calendar/tokens.
type CalendarTokenRequest struct {
	User  string `json:"user"`
	Brand string `json:"brand"`
}

func (s *Server) createCalendarToken(c echo.Context) error {
	ctx := c.Request().Context()
	var req CalendarTokenRequest
	if err := decodeJSON(c, &req); err != nil {
		return err
	}
	if strings.TrimSpace(req.User) == "" || len(req.User) > 200 {
		return invalidField("user", "user is required (whose feed it is), at most 200 characters")
	}
	// A feed of every brand (no brand) needs a key for every brand; a key
	// for one brand makes feeds of that brand.
	if p, ok := principal(c); ok && req.Brand == "" && len(p.Brands) == 1 && !p.AllBrands() {
		req.Brand = p.Brands[0]
	}
	scopeOf := req.Brand
	if scopeOf == "" {
		scopeOf = access.AllBrands
	}
	if err := s.allowBrand(c, "brand", scopeOf); err != nil {
		return err
	}
	if req.Brand != "" {
		if !playbooks.ValidID(req.Brand) {
			return invalidField("brand", "no brand %q", req.Brand)
		}
		if _, err := s.d.Store.Brand(ctx, req.Brand); errors.Is(err, store.ErrNotFound) {
			return invalidField("brand", "no brand %q", req.Brand)
		} else if err != nil {
			return err
		}
	}
	tok, secret, err := s.d.Store.CreateCalendarToken(ctx, req.User, req.Brand)
	if err != nil {
		return err
	}
	audit(c, func(e *store.AuditEntry) {
		e.Brand, e.Subject = tok.BrandID, "calendar-token:"+tok.ID
		e.Detail["user"] = tok.User
	})
	feed := "/v1/calendar.ics?token=" + url.QueryEscape(secret)
	return c.JSON(http.StatusCreated, map[string]any{
		"id": tok.ID, "user": tok.User, "brand": tok.BrandID, "created_at": tok.CreatedAt,
		// Shown once: only its hash is kept.
		"token": secret, "feed": feed,
	})
}

func (s *Server) listCalendarTokens(c echo.Context) error {
	all, err := s.d.Store.CalendarTokens(c.Request().Context())
	if err != nil {
		return err
	}
	// ?brand= (filled in for a key of one brand) shows that brand's
	// tokens; only a key for every brand sees them all.
	brand := c.QueryParam("brand")
	toks := []store.CalendarToken{}
	for _, t := range all {
		if brand == "" || t.BrandID == brand {
			toks = append(toks, t)
		}
	}
	return c.JSON(http.StatusOK, map[string]any{"tokens": toks})
}

func (s *Server) revokeCalendarToken(c echo.Context) error {
	err := s.d.Store.RevokeCalendarToken(c.Request().Context(), c.Param("id"))
	if errors.Is(err, store.ErrNotFound) {
		return notFound("id", "no calendar token %q", c.Param("id"))
	} else if err != nil {
		return err
	}
	return c.NoContent(http.StatusNoContent)
}
