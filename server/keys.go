package server

import (
	"errors"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/labstack/echo/v4"

	"github.com/cmo-dev/cmo/access"
	"github.com/cmo-dev/cmo/store"
)

func (s *Server) registerAccessRoutes(v1 *echo.Group) {
	v1.GET("/whoami", s.whoami)
	v1.GET("/keys", s.listKeys)
	v1.POST("/keys", s.createKey)
	v1.DELETE("/keys/:id", s.revokeKey)
	v1.GET("/audit", s.listAudit)
}

func (s *Server) whoami(c echo.Context) error {
	p, _ := principal(c)
	return c.JSON(http.StatusOK, p)
}

// within reports whether every brand of a key is one the principal
// covers, so a brand's admin manages only that brand's keys.
func within(p access.Principal, brands []string) bool {
	if p.AllBrands() {
		return true
	}
	for _, b := range brands {
		if b == access.AllBrands || !p.Covers(b) {
			return false
		}
	}
	return true
}

func (s *Server) listKeys(c echo.Context) error {
	p, _ := principal(c)
	keys, err := s.d.Store.APIKeys(c.Request().Context())
	if err != nil {
		return err
	}
	out := []store.APIKey{}
	for _, k := range keys {
		if within(p, k.Brands) {
			out = append(out, k)
		}
	}
	return c.JSON(http.StatusOK, map[string]any{"keys": out})
}

// CreateKeyRequest makes an API key.
type CreateKeyRequest struct {
	Actor  string   `json:"actor"`
	Role   string   `json:"role"`
	Brands []string `json:"brands"`
}

// CreatedKey is a new key with its secret, shown this once.
type CreatedKey struct {
	store.APIKey
	Key string `json:"key"`
}

func (s *Server) createKey(c echo.Context) error {
	ctx := c.Request().Context()
	p, _ := principal(c)
	var req CreateKeyRequest
	if err := decodeJSON(c, &req); err != nil {
		return err
	}
	req.Actor = strings.TrimSpace(req.Actor)
	if req.Actor == "" {
		return invalidField("actor", "actor is required: who holds the key (a name or e-mail)")
	}
	role, err := access.ParseRole(req.Role)
	if err != nil {
		return invalidField("role", "%v", err)
	}
	if err := access.ValidBrands(req.Brands); err != nil {
		return invalidField("brands", "%v", err)
	}
	if !within(p, req.Brands) {
		return forbidden("brands", "key %s may make keys only for brands %s", p.KeyID, strings.Join(p.Brands, ", "))
	}
	for i, b := range req.Brands {
		if b == access.AllBrands {
			continue
		}
		if _, err := s.d.Store.Brand(ctx, b); errors.Is(err, store.ErrNotFound) {
			return invalidField("brands["+strconv.Itoa(i)+"]", "no brand %q", b)
		} else if err != nil {
			return s.storeError(err)
		}
	}
	k, secret, err := s.d.Store.CreateAPIKey(ctx, req.Actor, role, req.Brands, p.Actor)
	if err != nil {
		return s.storeError(err)
	}
	audit(c, func(e *store.AuditEntry) {
		e.Subject = "key:" + k.ID
		if len(req.Brands) == 1 && req.Brands[0] != access.AllBrands {
			e.Brand = req.Brands[0]
		}
		e.Detail["key_id"], e.Detail["holder"], e.Detail["role"], e.Detail["brands"] = k.ID, k.Actor, string(k.Role), k.Brands
	})
	return c.JSON(http.StatusCreated, CreatedKey{APIKey: k, Key: secret})
}

func (s *Server) revokeKey(c echo.Context) error {
	ctx := c.Request().Context()
	p, _ := principal(c)
	id := c.Param("id")
	k, err := s.d.Store.APIKeyByID(ctx, id)
	if errors.Is(err, store.ErrNotFound) || err == nil && !within(p, k.Brands) {
		return notFound("id", "no key %q", id)
	} else if err != nil {
		return s.storeError(err)
	}
	k, err = s.d.Store.RevokeAPIKey(ctx, id)
	if err != nil {
		return s.storeError(err)
	}
	s.keys.forget(id)
	audit(c, func(e *store.AuditEntry) {
		e.Subject = "key:" + k.ID
		if len(k.Brands) == 1 && k.Brands[0] != access.AllBrands {
			e.Brand = k.Brands[0]
		}
		e.Detail["holder"], e.Detail["role"] = k.Actor, string(k.Role)
	})
	return c.JSON(http.StatusOK, k)
}

// listAudit answers the audit trail, newest first, filtered by brand,
// actor, action and time, with a cursor for the next page. A key sees
// only its brands' entries.
func (s *Server) listAudit(c echo.Context) error {
	p, _ := principal(c)
	f := store.AuditFilter{Brand: c.QueryParam("brand"), Actor: c.QueryParam("actor"), Action: c.QueryParam("action"), Limit: 100}
	if f.Brand != "" && !p.Covers(f.Brand) {
		return forbidden("brand", "key %s may not read brand %q", p.KeyID, f.Brand)
	}
	if !p.AllBrands() {
		f.Brands = p.Brands
	}
	for _, t := range []struct {
		name string
		to   *time.Time
	}{{"since", &f.Since}, {"until", &f.Until}} {
		if v := c.QueryParam(t.name); v != "" {
			at, err := time.Parse(time.RFC3339Nano, v)
			if err != nil {
				return invalidField(t.name, "%s must be an RFC 3339 time, got %q", t.name, v)
			}
			*t.to = at
		}
	}
	if v := c.QueryParam("limit"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 || n > 1000 {
			return invalidField("limit", "limit must be an integer from 1 to 1000, got %q", v)
		}
		f.Limit = n
	}
	if v := c.QueryParam("cursor"); v != "" {
		n, err := strconv.ParseInt(v, 10, 64)
		if err != nil || n < 1 {
			return invalidField("cursor", "cursor is not one this API returned: %q", v)
		}
		f.Before = n
	}
	entries, err := s.d.Store.Audit(c.Request().Context(), f)
	if err != nil {
		return s.storeError(err)
	}
	out := map[string]any{"entries": entries}
	if len(entries) == f.Limit {
		out["next_cursor"] = strconv.FormatInt(entries[len(entries)-1].ID, 10)
	}
	if entries == nil {
		out["entries"] = []store.AuditEntry{}
	}
	return c.JSON(http.StatusOK, out)
}
