package store

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
)

// NotificationRoute says how a brand's notification target is delivered.
// It never carries the route's secrets: those are read only through
// NotificationRouteSecrets, by the activity that sends.
type NotificationRoute struct {
	BrandID string `json:"brand_id"`
	Target  string `json:"target"`
	// Kind is slack, email, pagerduty or webhook.
	Kind      string      `json:"kind"`
	Config    RouteConfig `json:"config"`
	CreatedAt time.Time   `json:"created_at"`
	UpdatedAt time.Time   `json:"updated_at"`
}

// RouteConfig is a route's non-secret settings.
type RouteConfig struct {
	// Addresses are an e-mail route's recipients.
	Addresses []string `json:"addresses,omitempty"`
}

// routeLabel binds a route's sealed secret to its row, so a value copied
// to another brand's or target's row does not open.
func routeLabel(brandID, target string) string { return "route:" + brandID + "/" + target }

// UpsertNotificationRoute creates or replaces a route and seals its
// secrets (a Slack webhook URL, a PagerDuty routing key, a webhook's URL
// and signing secret). It reports whether the route is new.
func (s *Store) UpsertNotificationRoute(ctx context.Context, r NotificationRoute, secrets map[string]string) (bool, error) {
	var sealed []byte
	if len(secrets) > 0 {
		if s.box == nil {
			return false, errors.New("store has no key to seal route secrets")
		}
		raw, err := json.Marshal(secrets)
		if err != nil {
			return false, err
		}
		if sealed, err = s.box.Seal(raw, routeLabel(r.BrandID, r.Target)); err != nil {
			return false, fmt.Errorf("seal secrets of route %s/%s: %w", r.BrandID, r.Target, err)
		}
	}
	var created bool
	err := s.pool.QueryRow(ctx, `
		INSERT INTO notification_routes (brand_id, target, kind, config, secret)
		VALUES ($1, $2, $3, $4, $5)
		ON CONFLICT (brand_id, target) DO UPDATE SET kind = EXCLUDED.kind, config = EXCLUDED.config,
			secret = EXCLUDED.secret, updated_at = now()
		RETURNING created_at = updated_at`,
		r.BrandID, r.Target, r.Kind, r.Config, sealed).Scan(&created)
	if err != nil {
		return false, fmt.Errorf("upsert route %s/%s: %w", r.BrandID, r.Target, err)
	}
	return created, nil
}

const routeCols = `brand_id, target, kind, config, created_at, updated_at`

func scanRoute(r pgx.Row) (NotificationRoute, error) {
	var nr NotificationRoute
	err := r.Scan(&nr.BrandID, &nr.Target, &nr.Kind, &nr.Config, &nr.CreatedAt, &nr.UpdatedAt)
	return nr, err
}

// NotificationRoutes lists a brand's routes, without secrets.
func (s *Store) NotificationRoutes(ctx context.Context, brandID string) ([]NotificationRoute, error) {
	rows, err := s.pool.Query(ctx, `SELECT `+routeCols+` FROM notification_routes WHERE brand_id = $1 ORDER BY target`, brandID)
	if err != nil {
		return nil, fmt.Errorf("list routes of %s: %w", brandID, err)
	}
	return pgx.CollectRows(rows, func(r pgx.CollectableRow) (NotificationRoute, error) { return scanRoute(r) })
}

// NotificationRoute reads one route, without secrets; ErrNotFound when the
// brand has none for the target.
func (s *Store) NotificationRoute(ctx context.Context, brandID, target string) (NotificationRoute, error) {
	r, err := scanRoute(s.pool.QueryRow(ctx, `SELECT `+routeCols+` FROM notification_routes WHERE brand_id = $1 AND target = $2`, brandID, target))
	if err != nil {
		return NotificationRoute{}, fmt.Errorf("route %s/%s: %w", brandID, target, notFound(err))
	}
	return r, nil
}

// NotificationRouteSecrets opens a route's sealed secrets. Only the Notify
// activity calls it, right before sending.
func (s *Store) NotificationRouteSecrets(ctx context.Context, brandID, target string) (map[string]string, error) {
	var sealed []byte
	err := s.pool.QueryRow(ctx, `SELECT secret FROM notification_routes WHERE brand_id = $1 AND target = $2`, brandID, target).Scan(&sealed)
	if err != nil {
		return nil, fmt.Errorf("secrets of route %s/%s: %w", brandID, target, notFound(err))
	}
	if len(sealed) == 0 {
		return map[string]string{}, nil
	}
	if s.box == nil {
		return nil, errors.New("store has no key to open route secrets")
	}
	raw, err := s.box.Open(sealed, routeLabel(brandID, target))
	if err != nil {
		return nil, fmt.Errorf("secrets of route %s/%s: %w", brandID, target, err)
	}
	out := map[string]string{}
	if err := json.Unmarshal(raw, &out); err != nil {
		return nil, fmt.Errorf("secrets of route %s/%s: %w", brandID, target, err)
	}
	return out, nil
}

// DeleteNotificationRoute removes a route; ErrNotFound when there is none.
// Later notifications to the target are recorded as unrouted.
func (s *Store) DeleteNotificationRoute(ctx context.Context, brandID, target string) error {
	tag, err := s.pool.Exec(ctx, `DELETE FROM notification_routes WHERE brand_id = $1 AND target = $2`, brandID, target)
	if err != nil {
		return fmt.Errorf("delete route %s/%s: %w", brandID, target, err)
	}
	if tag.RowsAffected() != 1 {
		return fmt.Errorf("delete route %s/%s: %w", brandID, target, ErrNotFound)
	}
	return nil
}
