package server

import (
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/mail"
	"net/url"
	"regexp"
	"slices"
	"strconv"
	"strings"

	"github.com/labstack/echo/v4"

	"github.com/cmo-dev/cmo/notify"
	"github.com/cmo-dev/cmo/platforms/webhook"
	"github.com/cmo-dev/cmo/store"
)

// RouteRequest says where a brand's notification target is delivered. The
// fields used depend on the kind; secrets (url, routing_key, secret) are
// sealed at rest and never returned.
type RouteRequest struct {
	// Kind is slack, email, pagerduty or webhook; it defaults to the
	// target's prefix, and role: targets must give it.
	Kind string `json:"kind"`
	// URL is the Slack incoming-webhook URL or the webhook endpoint.
	URL string `json:"url"`
	// Addresses are an e-mail route's recipients.
	Addresses []string `json:"addresses"`
	// RoutingKey is the PagerDuty service integration key.
	RoutingKey string `json:"routing_key"`
	// Secret is the webhook signing secret, whsec_<base64>.
	Secret string `json:"secret"`
}

// targetPattern is a notification target: a known prefix and a name.
var targetPattern = regexp.MustCompile(`^(slack|email|pagerduty|webhook|role):[A-Za-z0-9][A-Za-z0-9._-]{0,99}$`)

// maxAddresses bounds an e-mail route's recipients; a larger audience
// belongs on a mailing list.
const maxAddresses = 50

var routingKeyPattern = regexp.MustCompile(`^[A-Za-z0-9_-]{8,128}$`)

// target reads the :target path parameter. Targets hold a colon, which
// clients may send as is or escaped (%3A); both name the same route.
func target(c echo.Context) (string, error) {
	t, err := url.PathUnescape(c.Param("target"))
	if err != nil || !targetPattern.MatchString(t) {
		return "", invalidField("target", "targets are KIND:NAME with KIND one of slack, email, pagerduty, webhook, role and NAME 1-100 letters, digits, '.', '-' or '_', got %q", c.Param("target"))
	}
	return t, nil
}

func (s *Server) putRoute(c echo.Context) error {
	b, err := s.brandOr404(c)
	if err != nil {
		return err
	}
	t, err := target(c)
	if err != nil {
		return err
	}
	var req RouteRequest
	if err := decodeJSON(c, &req); err != nil {
		return err
	}
	r, secrets, err := routeFromRequest(b.ID, t, req)
	if err != nil {
		return err
	}
	ctx := c.Request().Context()
	created, err := s.d.Store.UpsertNotificationRoute(ctx, r, secrets)
	if err != nil {
		return err
	}
	r, err = s.d.Store.NotificationRoute(ctx, b.ID, t)
	if err != nil {
		return err
	}
	status := http.StatusOK
	if created {
		status = http.StatusCreated
	}
	return c.JSON(status, r)
}

// routeFromRequest validates a route for target and splits it into what
// is shown and what is sealed. Problems name the field and never repeat a
// secret's value.
func routeFromRequest(brandID, t string, req RouteRequest) (store.NotificationRoute, map[string]string, error) {
	kind := notify.Kind(req.Kind)
	implied, hasKind := notify.KindOf(t)
	var names []string
	for _, k := range notify.Kinds {
		names = append(names, string(k))
	}
	kinds := strings.Join(names, ", ")
	switch {
	case req.Kind == "" && !hasKind:
		return store.NotificationRoute{}, nil, invalidField("kind", "%s targets need a kind, one of %s", strings.Split(t, ":")[0], kinds)
	case req.Kind == "":
		kind = implied
	case !slices.Contains(notify.Kinds, kind):
		return store.NotificationRoute{}, nil, invalidField("kind", "kind must be one of %s, got %q", kinds, req.Kind)
	case hasKind && kind != implied:
		return store.NotificationRoute{}, nil, invalidField("kind", "target %s is delivered by %s, not %s", t, implied, kind)
	}
	// A field another kind uses is a mistake worth pointing at, not
	// something to drop silently.
	used := map[notify.Kind][]string{
		notify.Slack: {"url"}, notify.Email: {"addresses"}, notify.PagerDuty: {"routing_key"}, notify.Webhook: {"url", "secret"},
	}[kind]
	for _, f := range []struct {
		name string
		set  bool
	}{{"url", req.URL != ""}, {"addresses", req.Addresses != nil}, {"routing_key", req.RoutingKey != ""}, {"secret", req.Secret != ""}} {
		if f.set && !slices.Contains(used, f.name) {
			return store.NotificationRoute{}, nil, invalidField(f.name, "%s routes do not take %s; they take %s", kind, f.name, strings.Join(used, " and "))
		}
	}

	r := store.NotificationRoute{BrandID: brandID, Target: t, Kind: string(kind)}
	secrets := map[string]string{}
	switch kind {
	case notify.Slack:
		if err := checkURL("url", req.URL, "the Slack incoming-webhook URL"); err != nil {
			return r, nil, err
		}
		secrets["url"] = req.URL
	case notify.Webhook:
		if err := checkURL("url", req.URL, "the endpoint's URL"); err != nil {
			return r, nil, err
		}
		if req.Secret == "" {
			return r, nil, invalidField("secret", "secret is required: the signing secret, whsec_ followed by a base64 key")
		}
		if err := webhook.CheckSecret(req.Secret); err != nil {
			return r, nil, invalidField("secret", "secret must be whsec_ followed by a base64 key")
		}
		secrets["url"], secrets["secret"] = req.URL, req.Secret
	case notify.PagerDuty:
		if req.RoutingKey == "" {
			return r, nil, invalidField("routing_key", "routing_key is required: the integration key of a PagerDuty service's Events API v2 integration")
		}
		if !routingKeyPattern.MatchString(req.RoutingKey) {
			return r, nil, invalidField("routing_key", "routing_key must be 8-128 letters, digits, '-' or '_'")
		}
		secrets["routing_key"] = req.RoutingKey
	case notify.Email:
		if len(req.Addresses) == 0 {
			return r, nil, invalidField("addresses", "addresses is required: at least one recipient")
		}
		if len(req.Addresses) > maxAddresses {
			return r, nil, invalidField("addresses", "at most %d addresses; use a mailing list for more", maxAddresses)
		}
		for i, a := range req.Addresses {
			if _, err := mail.ParseAddress(a); err != nil {
				return r, nil, invalidField(fmt.Sprintf("addresses[%d]", i), "%q is not an address like press@example.com or \"Press <press@example.com>\"", a)
			}
			r.Config.Addresses = append(r.Config.Addresses, strings.TrimSpace(a))
		}
	}
	return r, secrets, nil
}

// checkURL accepts https URLs, and http ones to this machine (a local
// relay or a test receiver): elsewhere, plain http would expose the
// credential the URL carries.
func checkURL(field, raw, what string) error {
	if raw == "" {
		return invalidField(field, "%s is required: %s", field, what)
	}
	u, err := url.Parse(raw)
	if err != nil || u.Host == "" || u.User != nil {
		return invalidField(field, "%s must be an absolute https URL (%s)", field, what)
	}
	host := u.Hostname()
	ip := net.ParseIP(host)
	local := host == "localhost" || (ip != nil && ip.IsLoopback())
	if u.Scheme != "https" && (u.Scheme != "http" || !local) {
		return invalidField(field, "%s must use https (plain http only to localhost)", field)
	}
	return nil
}

func (s *Server) listRoutes(c echo.Context) error {
	b, err := s.brandOr404(c)
	if err != nil {
		return err
	}
	routes, err := s.d.Store.NotificationRoutes(c.Request().Context(), b.ID)
	if err != nil {
		return err
	}
	return c.JSON(http.StatusOK, map[string]any{"routes": routes})
}

func (s *Server) deleteRoute(c echo.Context) error {
	b, err := s.brandOr404(c)
	if err != nil {
		return err
	}
	t, err := target(c)
	if err != nil {
		return err
	}
	if err := s.d.Store.DeleteNotificationRoute(c.Request().Context(), b.ID, t); errors.Is(err, store.ErrNotFound) {
		return notFound("target", "brand %s has no route for %s", b.ID, t)
	} else if err != nil {
		return err
	}
	return c.NoContent(http.StatusNoContent)
}

var deliveryStates = []string{store.DeliveryPending, store.DeliverySent, store.DeliveryFailed, store.DeliveryUnrouted}

// listNotifications is the brand's outbox, newest first, with each
// notification's delivery state.
func (s *Server) listNotifications(c echo.Context) error {
	b, err := s.brandOr404(c)
	if err != nil {
		return err
	}
	status := c.QueryParam("status")
	if status != "" && !slices.Contains(deliveryStates, status) {
		return invalidField("status", "status must be one of %s, got %q", strings.Join(deliveryStates, ", "), status)
	}
	limit := 100
	if v := c.QueryParam("limit"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 || n > 1000 {
			return invalidField("limit", "limit must be an integer from 1 to 1000, got %q", v)
		}
		limit = n
	}
	ds, err := s.d.Store.Deliveries(c.Request().Context(), b.ID, status, limit)
	if err != nil {
		return err
	}
	return c.JSON(http.StatusOK, map[string]any{"notifications": ds})
}
