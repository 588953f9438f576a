package store

import (
	"context"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
)

// Ledger entry states.
const (
	LedgerPending   = "pending"
	LedgerPublished = "published"
	LedgerFailed    = "failed"
)

// LedgerEntry is one intended post and what became of it.
type LedgerEntry struct {
	Key            string     `json:"key"`
	CampaignID     string     `json:"campaign_id"`
	StepID         string     `json:"step_id"`
	ChannelID      string     `json:"channel_id"`
	ContentHash    string     `json:"content_hash"`
	Status         string     `json:"status"`
	RemoteID       string     `json:"remote_id,omitempty"`
	RemoteURL      string     `json:"remote_url,omitempty"`
	Attempts       int        `json:"attempts"`
	FirstAttemptAt time.Time  `json:"first_attempt_at"`
	LastAttemptAt  time.Time  `json:"last_attempt_at"`
	PublishedAt    *time.Time `json:"published_at,omitempty"`
	LastError      string     `json:"last_error,omitempty"`
}

const ledgerCols = `key, campaign_id, step_id, channel_id, content_hash, status,
	coalesce(remote_id, ''), coalesce(remote_url, ''), attempts, first_attempt_at,
	last_attempt_at, published_at, coalesce(last_error, '')`

func scanLedger(r pgx.Row) (LedgerEntry, error) {
	var e LedgerEntry
	err := r.Scan(&e.Key, &e.CampaignID, &e.StepID, &e.ChannelID, &e.ContentHash, &e.Status,
		&e.RemoteID, &e.RemoteURL, &e.Attempts, &e.FirstAttemptAt, &e.LastAttemptAt, &e.PublishedAt, &e.LastError)
	return e, err
}

// LedgerBegin records an attempt to publish under key, before the platform
// is called. It returns the entry as it stood before this attempt was
// counted: Attempts > 0 means an earlier attempt may have reached the
// platform, and Status published means it did.
func (s *Store) LedgerBegin(ctx context.Context, e LedgerEntry) (LedgerEntry, error) {
	row := s.pool.QueryRow(ctx, `
		WITH prev AS (
			SELECT `+ledgerCols+` FROM publish_ledger WHERE key = $1
		), ins AS (
			INSERT INTO publish_ledger (key, campaign_id, step_id, channel_id, content_hash, status, attempts)
			VALUES ($1, $2, $3, $4, $5, 'pending', 1)
			ON CONFLICT (key) DO UPDATE SET
				attempts = publish_ledger.attempts + CASE WHEN publish_ledger.status = 'published' THEN 0 ELSE 1 END,
				last_attempt_at = CASE WHEN publish_ledger.status = 'published' THEN publish_ledger.last_attempt_at ELSE now() END
		)
		SELECT * FROM prev`,
		e.Key, e.CampaignID, e.StepID, e.ChannelID, e.ContentHash)
	prev, err := scanLedger(row)
	if err == pgx.ErrNoRows {
		return LedgerEntry{Key: e.Key, CampaignID: e.CampaignID, StepID: e.StepID, ChannelID: e.ChannelID,
			ContentHash: e.ContentHash, Status: LedgerPending}, nil
	}
	if err != nil {
		return LedgerEntry{}, fmt.Errorf("ledger begin %s: %w", e.Key, err)
	}
	return prev, nil
}

// LedgerPublished records the platform's receipt for key.
func (s *Store) LedgerPublished(ctx context.Context, key, remoteID, remoteURL string, at time.Time) error {
	tag, err := s.pool.Exec(ctx, `
		UPDATE publish_ledger SET status = 'published', remote_id = $2, remote_url = $3,
			published_at = $4, last_error = NULL
		WHERE key = $1`, key, remoteID, remoteURL, at)
	if err != nil {
		return fmt.Errorf("ledger published %s: %w", key, err)
	}
	if tag.RowsAffected() != 1 {
		return fmt.Errorf("ledger published %s: %w", key, ErrNotFound)
	}
	return nil
}

// LedgerFailure notes why the last attempt failed; permanent marks the
// entry failed so it is not retried.
func (s *Store) LedgerFailure(ctx context.Context, key, msg string, permanent bool) error {
	status := LedgerPending
	if permanent {
		status = LedgerFailed
	}
	_, err := s.pool.Exec(ctx, `
		UPDATE publish_ledger SET last_error = $2, status = $3
		WHERE key = $1 AND status <> 'published'`, key, msg, status)
	if err != nil {
		return fmt.Errorf("ledger failure %s: %w", key, err)
	}
	return nil
}

// LedgerEntry reads one entry.
func (s *Store) LedgerEntry(ctx context.Context, key string) (LedgerEntry, error) {
	e, err := scanLedger(s.pool.QueryRow(ctx, `SELECT `+ledgerCols+` FROM publish_ledger WHERE key = $1`, key))
	if err != nil {
		return LedgerEntry{}, fmt.Errorf("ledger %s: %w", key, notFound(err))
	}
	return e, nil
}

// CampaignLedger lists a campaign's entries in publishing order.
func (s *Store) CampaignLedger(ctx context.Context, campaignID string) ([]LedgerEntry, error) {
	rows, err := s.pool.Query(ctx, `SELECT `+ledgerCols+` FROM publish_ledger WHERE campaign_id = $1
		ORDER BY first_attempt_at, key`, campaignID)
	if err != nil {
		return nil, fmt.Errorf("ledger of %s: %w", campaignID, err)
	}
	return pgx.CollectRows(rows, func(r pgx.CollectableRow) (LedgerEntry, error) { return scanLedger(r) })
}

// SaveReport stores (or replaces) a campaign's report.
func (s *Store) SaveReport(ctx context.Context, campaignID, brandID, playbook string, report []byte) error {
	_, err := s.pool.Exec(ctx, `
		INSERT INTO campaign_reports (campaign_id, brand_id, playbook, report) VALUES ($1, $2, $3, $4)
		ON CONFLICT (campaign_id) DO UPDATE SET report = EXCLUDED.report, updated_at = now()`,
		campaignID, brandID, playbook, report)
	if err != nil {
		return fmt.Errorf("save report of %s: %w", campaignID, err)
	}
	return nil
}

// Report reads a campaign's stored report as JSON.
func (s *Store) Report(ctx context.Context, campaignID string) ([]byte, error) {
	var raw []byte
	err := s.pool.QueryRow(ctx, `SELECT report FROM campaign_reports WHERE campaign_id = $1`, campaignID).Scan(&raw)
	if err != nil {
		return nil, fmt.Errorf("report of %s: %w", campaignID, notFound(err))
	}
	return raw, nil
}
