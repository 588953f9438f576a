package store

import (
	"context"
	"encoding/json"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/cmo-dev/cmo/access"
)

// APIKey is a key as listed: never its secret.
type APIKey struct {
	ID         string      `json:"id"`
	Actor      string      `json:"actor"`
	Role       access.Role `json:"role"`
	Brands     []string    `json:"brands"`
	CreatedAt  time.Time   `json:"created_at"`
	CreatedBy  string      `json:"created_by,omitempty"`
	RevokedAt  *time.Time  `json:"revoked_at,omitempty"`
	LastUsedAt *time.Time  `json:"last_used_at,omitempty"`
}

// Principal is who the key's holder acts as.
func (k APIKey) Principal() access.Principal {
	return access.Principal{KeyID: k.ID, Actor: k.Actor, Role: k.Role, Brands: k.Brands}
}

const apiKeyColumns = `id, actor, role, brands, created_at, created_by, revoked_at, last_used_at`

func scanAPIKey(r pgx.Row) (APIKey, error) {
	var k APIKey
	var role string
	err := r.Scan(&k.ID, &k.Actor, &role, &k.Brands, &k.CreatedAt, &k.CreatedBy, &k.RevokedAt, &k.LastUsedAt)
	k.Role = access.Role(role)
	return k, err
}

// CreateAPIKey makes a key for actor with role on brands and returns it
// with its secret, which is not kept.
func (s *Store) CreateAPIKey(ctx context.Context, actor string, role access.Role, brands []string, createdBy string) (APIKey, string, error) {
	if err := access.ValidBrands(brands); err != nil {
		return APIKey{}, "", err
	}
	id, secret, err := access.NewKey()
	if err != nil {
		return APIKey{}, "", err
	}
	k, err := scanAPIKey(s.pool.QueryRow(ctx, `INSERT INTO api_keys (id, key_sha256, actor, role, brands, created_by)
		VALUES ($1, $2, $3, $4, $5, $6) RETURNING `+apiKeyColumns, id, access.Hash(secret), actor, string(role), brands, createdBy))
	if err != nil {
		return APIKey{}, "", fmt.Errorf("store api key for %s: %w", actor, err)
	}
	return k, secret, nil
}

// UseAPIKey finds the live key with that secret and notes it was used;
// ErrNotFound when it is unknown or revoked.
func (s *Store) UseAPIKey(ctx context.Context, secret string) (APIKey, error) {
	k, err := scanAPIKey(s.pool.QueryRow(ctx, `UPDATE api_keys SET last_used_at = now()
		WHERE key_sha256 = $1 AND revoked_at IS NULL RETURNING `+apiKeyColumns, access.Hash(secret)))
	return k, notFound(err)
}

// APIKeyByID finds a key, revoked or not.
func (s *Store) APIKeyByID(ctx context.Context, id string) (APIKey, error) {
	k, err := scanAPIKey(s.pool.QueryRow(ctx, `SELECT `+apiKeyColumns+` FROM api_keys WHERE id = $1`, id))
	return k, notFound(err)
}

// APIKeys lists keys, revoked ones included, newest first.
func (s *Store) APIKeys(ctx context.Context) ([]APIKey, error) {
	rows, err := s.pool.Query(ctx, `SELECT `+apiKeyColumns+` FROM api_keys ORDER BY created_at DESC, id`)
	if err != nil {
		return nil, fmt.Errorf("api keys: %w", err)
	}
	return pgx.CollectRows(rows, func(r pgx.CollectableRow) (APIKey, error) { return scanAPIKey(r) })
}

// RevokeAPIKey stops a key from opening the API; revoking one twice is
// not an error. It returns the key as it now is.
func (s *Store) RevokeAPIKey(ctx context.Context, id string) (APIKey, error) {
	k, err := scanAPIKey(s.pool.QueryRow(ctx, `UPDATE api_keys SET revoked_at = coalesce(revoked_at, now())
		WHERE id = $1 RETURNING `+apiKeyColumns, id))
	if err != nil {
		return APIKey{}, fmt.Errorf("revoke api key %s: %w", id, notFound(err))
	}
	return k, nil
}

// AuditEntry is one recorded decision or change.
type AuditEntry struct {
	ID         int64          `json:"id"`
	At         time.Time      `json:"at"`
	Brand      string         `json:"brand,omitempty"`
	Actor      string         `json:"actor"`
	KeyID      string         `json:"key_id,omitempty"`
	Role       string         `json:"role,omitempty"`
	Action     string         `json:"action"`
	Subject    string         `json:"subject,omitempty"`
	WorkflowID string         `json:"workflow_id,omitempty"`
	Detail     map[string]any `json:"detail,omitempty"`
	RequestID  string         `json:"request_id,omitempty"`
}

// RecordAudit appends an entry; At, when zero, is the database's now.
func (s *Store) RecordAudit(ctx context.Context, e AuditEntry) (AuditEntry, error) {
	detail := e.Detail
	if detail == nil {
		detail = map[string]any{}
	}
	raw, err := json.Marshal(detail)
	if err != nil {
		return AuditEntry{}, fmt.Errorf("audit detail: %w", err)
	}
	var at any
	if !e.At.IsZero() {
		at = e.At
	}
	err = s.pool.QueryRow(ctx, `INSERT INTO audit_log (at, brand_id, actor, key_id, role, action, subject, workflow_id, detail, request_id)
		VALUES (coalesce($1, now()), $2, $3, $4, $5, $6, $7, $8, $9, $10) RETURNING id, at`,
		at, e.Brand, e.Actor, e.KeyID, e.Role, e.Action, e.Subject, e.WorkflowID, raw, e.RequestID).Scan(&e.ID, &e.At)
	if err != nil {
		return AuditEntry{}, fmt.Errorf("record audit %s by %s: %w", e.Action, e.Actor, err)
	}
	e.Detail = detail
	return e, nil
}

// AuditFilter selects audit entries. Brands, when not nil, limits the
// answer to those brands (and Brand must be one of them).
type AuditFilter struct {
	Brand  string
	Brands []string
	Actor  string
	Action string
	Since  time.Time
	Until  time.Time
	// Before is a cursor: only entries with a smaller id.
	Before int64
	Limit  int
}

// Audit lists entries newest first.
func (s *Store) Audit(ctx context.Context, f AuditFilter) ([]AuditEntry, error) {
	q := `SELECT id, at, brand_id, actor, key_id, role, action, subject, workflow_id, detail, request_id FROM audit_log WHERE true`
	var args []any
	arg := func(v any) string { args = append(args, v); return fmt.Sprintf("$%d", len(args)) }
	if f.Brand != "" {
		q += " AND brand_id = " + arg(f.Brand)
	}
	if f.Brands != nil {
		q += " AND brand_id = ANY(" + arg(f.Brands) + ")"
	}
	if f.Actor != "" {
		q += " AND actor = " + arg(f.Actor)
	}
	if f.Action != "" {
		q += " AND action = " + arg(f.Action)
	}
	if !f.Since.IsZero() {
		q += " AND at >= " + arg(f.Since)
	}
	if !f.Until.IsZero() {
		q += " AND at < " + arg(f.Until)
	}
	if f.Before > 0 {
		q += " AND id < " + arg(f.Before)
	}
	limit := f.Limit
	if limit <= 0 {
		limit = 100
	}
	q += " ORDER BY id DESC LIMIT " + arg(limit)
	rows, err := s.pool.Query(ctx, q, args...)
	if err != nil {
		return nil, fmt.Errorf("audit: %w", err)
	}
	return pgx.CollectRows(rows, func(r pgx.CollectableRow) (AuditEntry, error) {
		var e AuditEntry
		var raw []byte
		err := r.Scan(&e.ID, &e.At, &e.Brand, &e.Actor, &e.KeyID, &e.Role, &e.Action, &e.Subject, &e.WorkflowID, &raw, &e.RequestID)
		if err == nil && len(raw) > 0 {
			err = json.Unmarshal(raw, &e.Detail)
		}
		return e, err
	})
}
