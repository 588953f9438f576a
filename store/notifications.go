package store

import (
	"context"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
)

// Notification is a message a playbook sent to a target.
type Notification struct {
	ID         int64     `json:"id"`
	BrandID    string    `json:"brand_id"`
	CampaignID string    `json:"campaign_id,omitempty"`
	StepID     string    `json:"step_id,omitempty"`
	Target     string    `json:"target"`
	Message    string    `json:"message"`
	CreatedAt  time.Time `json:"created_at"`
}

// AddNotification records a notification once per dedup key and reports
// whether it was new.
func (s *Store) AddNotification(ctx context.Context, dedupKey string, n Notification) (bool, error) {
	tag, err := s.pool.Exec(ctx, `
		INSERT INTO notifications (dedup_key, brand_id, campaign_id, step_id, target, message)
		VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT (dedup_key) DO NOTHING`,
		dedupKey, n.BrandID, n.CampaignID, n.StepID, n.Target, n.Message)
	if err != nil {
		return false, fmt.Errorf("add notification: %w", err)
	}
	return tag.RowsAffected() == 1, nil
}

// Notifications lists a brand's latest notifications.
func (s *Store) Notifications(ctx context.Context, brandID string, limit int) ([]Notification, error) {
	rows, err := s.pool.Query(ctx, `SELECT id, brand_id, coalesce(campaign_id, ''), coalesce(step_id, ''), target, message, created_at
		FROM notifications WHERE brand_id = $1 ORDER BY id DESC LIMIT $2`, brandID, limit)
	if err != nil {
		return nil, fmt.Errorf("list notifications: %w", err)
	}
	return pgx.CollectRows(rows, func(r pgx.CollectableRow) (Notification, error) {
		var n Notification
		return n, r.Scan(&n.ID, &n.BrandID, &n.CampaignID, &n.StepID, &n.Target, &n.Message, &n.CreatedAt)
	})
}
