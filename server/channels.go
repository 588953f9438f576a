package server

import (
	"context"
	"errors"
	"net/http"
	"slices"
	"strings"
	"time"

	"github.com/labstack/echo/v4"

	"github.com/cmo-dev/cmo/platforms"
	"github.com/cmo-dev/cmo/playbooks"
	"github.com/cmo-dev/cmo/store"
)

// BrandRequest creates or updates a brand.
type BrandRequest struct {
	ID       string `json:"id"`
	Name     string `json:"name"`
	Timezone string `json:"timezone"`
}

func (s *Server) createBrand(c echo.Context) error {
	var req BrandRequest
	if err := decodeJSON(c, &req); err != nil {
		return err
	}
	if !playbooks.ValidID(req.ID) {
		return invalidField("id", "brand ids are 1-63 lower-case letters, digits, '-' or '_', got %q", req.ID)
	}
	if strings.TrimSpace(req.Name) == "" {
		return invalidField("name", "name is required")
	}
	if req.Timezone == "" {
		req.Timezone = "UTC"
	}
	if _, err := time.LoadLocation(req.Timezone); err != nil {
		return invalidField("timezone", "unknown time zone %q (use an IANA name like Europe/Madrid)", req.Timezone)
	}
	b := store.Brand{ID: req.ID, Name: req.Name, Timezone: req.Timezone}
	if err := s.d.Store.UpsertBrand(c.Request().Context(), b); err != nil {
		return err
	}
	b, err := s.d.Store.Brand(c.Request().Context(), req.ID)
	if err != nil {
		return err
	}
	s.startMonitor(c.Request().Context(), b.ID)
	return c.JSON(http.StatusCreated, b)
}

// ChannelRequest adds a channel to a brand. Credentials are sealed at rest
// and never returned.
type ChannelRequest struct {
	ID          string            `json:"id"`
	Name        string            `json:"name"`
	Platform    string            `json:"platform"`
	Handle      string            `json:"handle"`
	Config      map[string]string `json:"config"`
	Credentials map[string]string `json:"credentials"`
}

func (s *Server) brandOr404(c echo.Context) (store.Brand, error) {
	b, err := s.d.Store.Brand(c.Request().Context(), c.Param("brand"))
	if errors.Is(err, store.ErrNotFound) {
		return store.Brand{}, notFound("brand", "no brand %q", c.Param("brand"))
	}
	return b, err
}

func (s *Server) createChannel(c echo.Context) error {
	b, err := s.brandOr404(c)
	if err != nil {
		return err
	}
	var req ChannelRequest
	if err := decodeJSON(c, &req); err != nil {
		return err
	}
	if !playbooks.ValidID(req.Name) {
		return invalidField("name", "channel names are 1-63 lower-case letters, digits, '-' or '_', got %q", req.Name)
	}
	if !slices.Contains(playbooks.Platforms, req.Platform) {
		return invalidField("platform", "platform must be one of %s, got %q", strings.Join(playbooks.Platforms, ", "), req.Platform)
	}
	if playbooks.IsPlatform(req.Name) {
		return invalidField("name", "%q is a platform name; playbooks would read it as every %s channel", req.Name, req.Name)
	}
	if strings.TrimSpace(req.Handle) == "" {
		return invalidField("handle", "handle is required (the account's name on %s)", req.Platform)
	}
	if req.ID == "" {
		req.ID = "ch_" + b.ID + "_" + req.Name
	} else if !playbooks.ValidID(strings.TrimPrefix(req.ID, "ch_")) {
		return invalidField("id", "channel ids are letters, digits, '-' or '_', got %q", req.ID)
	}
	ctx := c.Request().Context()
	if existing, err := s.d.Store.Channel(ctx, req.ID); err == nil && existing.BrandID != b.ID {
		return conflict("id", "channel %q belongs to brand %s", req.ID, existing.BrandID)
	}
	ch := store.Channel{ID: req.ID, BrandID: b.ID, Name: req.Name, Platform: req.Platform, Handle: req.Handle, Config: req.Config}
	if err := s.d.Store.UpsertChannel(ctx, ch, req.Credentials); err != nil {
		if strings.Contains(err.Error(), "channels_brand_id_name_key") {
			return conflict("name", "brand %s already has a channel named %q", b.ID, req.Name)
		}
		return err
	}
	ch, err = s.d.Store.Channel(ctx, req.ID)
	if err != nil {
		return err
	}
	return c.JSON(http.StatusCreated, ch)
}

func (s *Server) listChannels(c echo.Context) error {
	b, err := s.brandOr404(c)
	if err != nil {
		return err
	}
	chs, err := s.d.Store.Channels(c.Request().Context(), b.ID)
	if err != nil {
		return err
	}
	return c.JSON(http.StatusOK, map[string]any{"channels": chs})
}

func (s *Server) channelOr404(c echo.Context) (store.Channel, error) {
	ch, err := s.d.Store.Channel(c.Request().Context(), c.Param("id"))
	if errors.Is(err, store.ErrNotFound) {
		return store.Channel{}, notFound("id", "no channel %q", c.Param("id"))
	}
	return ch, err
}

// testChannel checks a channel's credentials against its platform.
func (s *Server) testChannel(c echo.Context) error {
	ch, err := s.channelOr404(c)
	if err != nil {
		return err
	}
	conn, err := s.d.Platforms.Get(ch.Platform)
	if err != nil {
		return conflict("id", "no connector for platform %s is configured", ch.Platform)
	}
	ctx, cancel := context.WithTimeout(c.Request().Context(), 20*time.Second)
	defer cancel()
	acct, err := s.d.Store.ChannelAccount(ctx, ch)
	if err != nil {
		return err
	}
	info, err := conn.AccountInfo(ctx, acct)
	if err != nil {
		kind := platforms.KindOf(err)
		if kind == platforms.Auth {
			_ = s.d.Store.SetChannelStatus(ctx, ch.ID, "reconnect", err.Error())
		}
		return c.JSON(http.StatusOK, map[string]any{"ok": false, "channel": ch.ID, "error": err.Error(), "kind": kind.String()})
	}
	if ch.Status == "reconnect" {
		_ = s.d.Store.SetChannelStatus(ctx, ch.ID, "active", "")
	}
	return c.JSON(http.StatusOK, map[string]any{"ok": true, "channel": ch.ID, "account": info})
}

func (s *Server) setChannelStatus(status string) echo.HandlerFunc {
	return func(c echo.Context) error {
		ch, err := s.channelOr404(c)
		if err != nil {
			return err
		}
		if err := s.d.Store.SetChannelStatus(c.Request().Context(), ch.ID, status, ""); err != nil {
			return err
		}
		ch, err = s.d.Store.Channel(c.Request().Context(), ch.ID)
		if err != nil {
			return err
		}
		return c.JSON(http.StatusOK, ch)
	}
}
