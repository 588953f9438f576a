package store

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
)

// Freeze is a crisis's hold on a brand's scheduled posts. Scope is brand,
// channels, tags or markets; only the list that goes with it matters.
type Freeze struct {
	CrisisID string   `json:"crisis_id"`
	Brand    string   `json:"brand"`
	Scope    string   `json:"scope"`
	Channels []string `json:"channels,omitempty"`
	Tags     []string `json:"tags,omitempty"`
	Markets  []string `json:"markets,omitempty"`
	// OnUnfreeze is drop or reschedule: what becomes of a post whose time
	// passed during the freeze.
	OnUnfreeze string `json:"on_unfreeze"`
	Reapprove  bool   `json:"reapprove"`
	// Actor and Reason say who froze and why: a person, or the crisis
	// playbook's rule.
	Actor      string     `json:"actor,omitempty"`
	Reason     string     `json:"reason,omitempty"`
	StartedAt  time.Time  `json:"started_at"`
	LiftedAt   *time.Time `json:"lifted_at,omitempty"`
	LiftedBy   string     `json:"lifted_by,omitempty"`
	LiftReason string     `json:"lift_reason,omitempty"`
}

// Active reports whether the freeze still holds.
func (f Freeze) Active() bool { return f.LiftedAt == nil }

const freezeCols = `crisis_id, brand_id, scope, channels, tags, markets, on_unfreeze, reapprove,
	actor, reason, started_at, lifted_at, lifted_by, lift_reason`

func scanFreeze(r pgx.Row) (Freeze, error) {
	var f Freeze
	err := r.Scan(&f.CrisisID, &f.Brand, &f.Scope, &f.Channels, &f.Tags, &f.Markets, &f.OnUnfreeze, &f.Reapprove,
		&f.Actor, &f.Reason, &f.StartedAt, &f.LiftedAt, &f.LiftedBy, &f.LiftReason)
	return f, err
}

// SetFreeze records that a crisis freezes its brand's posts and returns
// the row as stored. It is idempotent: setting a freeze that holds
// already keeps its start (and who started it), so an activity that runs
// twice does not move it; setting one that was lifted starts it again.
func (s *Store) SetFreeze(ctx context.Context, f Freeze) (Freeze, error) {
	var started *time.Time
	if !f.StartedAt.IsZero() {
		started = &f.StartedAt
	}
	if f.OnUnfreeze == "" {
		f.OnUnfreeze = "reschedule"
	}
	row := s.pool.QueryRow(ctx, `
		INSERT INTO freezes (crisis_id, brand_id, scope, channels, tags, markets, on_unfreeze, reapprove, actor, reason, started_at)
		VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, coalesce($11, now()))
		ON CONFLICT (crisis_id) DO UPDATE SET
			scope = EXCLUDED.scope, channels = EXCLUDED.channels, tags = EXCLUDED.tags, markets = EXCLUDED.markets,
			on_unfreeze = EXCLUDED.on_unfreeze, reapprove = EXCLUDED.reapprove,
			actor = CASE WHEN freezes.lifted_at IS NULL THEN freezes.actor ELSE EXCLUDED.actor END,
			reason = CASE WHEN freezes.lifted_at IS NULL THEN freezes.reason ELSE EXCLUDED.reason END,
			started_at = CASE WHEN freezes.lifted_at IS NULL THEN freezes.started_at ELSE EXCLUDED.started_at END,
			lifted_at = NULL, lifted_by = '', lift_reason = ''
		RETURNING `+freezeCols,
		f.CrisisID, f.Brand, f.Scope, orEmpty(f.Channels), orEmpty(f.Tags), orEmpty(f.Markets), f.OnUnfreeze, f.Reapprove,
		f.Actor, f.Reason, started)
	out, err := scanFreeze(row)
	var pe *pgconn.PgError
	if errors.As(err, &pe) && pe.Code == "23503" {
		return Freeze{}, fmt.Errorf("freeze %s: brand %s: %w", f.CrisisID, f.Brand, ErrNotFound)
	}
	if err != nil {
		return Freeze{}, fmt.Errorf("freeze %s: %w", f.CrisisID, err)
	}
	return out, nil
}

// LiftFreeze ends a crisis's freeze and reports whether it held until
// now. Lifting one that was lifted already, or never set, changes
// nothing: an activity may run twice, and a crisis may resolve without
// having frozen anything.
func (s *Store) LiftFreeze(ctx context.Context, crisisID, actor, reason string, at time.Time) (bool, error) {
	tag, err := s.pool.Exec(ctx, `UPDATE freezes SET lifted_at = $2, lifted_by = $3, lift_reason = $4
		WHERE crisis_id = $1 AND lifted_at IS NULL`, crisisID, at, actor, reason)
	if err != nil {
		return false, fmt.Errorf("lift freeze %s: %w", crisisID, err)
	}
	return tag.RowsAffected() == 1, nil
}

// Freeze reads a crisis's freeze, active or lifted.
func (s *Store) Freeze(ctx context.Context, crisisID string) (Freeze, error) {
	f, err := scanFreeze(s.pool.QueryRow(ctx, `SELECT `+freezeCols+` FROM freezes WHERE crisis_id = $1`, crisisID))
	if err != nil {
		return Freeze{}, fmt.Errorf("freeze %s: %w", crisisID, notFound(err))
	}
	return f, nil
}

// ActiveFreezes lists the freezes that hold on a brand, oldest first.
func (s *Store) ActiveFreezes(ctx context.Context, brand string) ([]Freeze, error) {
	rows, err := s.pool.Query(ctx, `SELECT `+freezeCols+` FROM freezes
		WHERE brand_id = $1 AND lifted_at IS NULL ORDER BY started_at, crisis_id`, brand)
	if err != nil {
		return nil, fmt.Errorf("active freezes of %s: %w", brand, err)
	}
	out, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (Freeze, error) { return scanFreeze(r) })
	if err != nil {
		return nil, fmt.Errorf("active freezes of %s: %w", brand, err)
	}
	return out, nil
}

// orEmpty stores a missing list as an empty array: the columns are NOT
// NULL, so that readers never tell NULL and {} apart.
func orEmpty(s []string) []string {
	if s == nil {
		return []string{}
	}
	return s
}
