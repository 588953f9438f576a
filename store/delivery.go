package store

import (
	"context"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
)

// Delivery states of a notification.
const (
	// DeliveryPending: not delivered yet; LastError says why the last
	// attempt failed, if one did, and the next attempt tries again.
	DeliveryPending = "pending"
	DeliverySent    = "sent"
	// DeliveryFailed: the receiver refused it in a way no retry fixes.
	DeliveryFailed = "failed"
	// DeliveryUnrouted: the brand has no route (or no notifier) for the
	// target; a later attempt looks again.
	DeliveryUnrouted = "unrouted"
)

// Delivery is an outbox row with its delivery state.
type Delivery struct {
	Notification
	Status        string     `json:"status"`
	Attempts      int        `json:"attempts"`
	LastError     string     `json:"last_error,omitempty"`
	LastAttemptAt *time.Time `json:"last_attempt_at,omitempty"`
	SentAt        *time.Time `json:"sent_at,omitempty"`
}

const deliveryCols = `id, brand_id, coalesce(campaign_id, ''), coalesce(step_id, ''), target, message, created_at,
	status, attempts, coalesce(last_error, ''), last_attempt_at, sent_at`

func scanDelivery(r pgx.Row) (Delivery, error) {
	var d Delivery
	err := r.Scan(&d.ID, &d.BrandID, &d.CampaignID, &d.StepID, &d.Target, &d.Message, &d.CreatedAt,
		&d.Status, &d.Attempts, &d.LastError, &d.LastAttemptAt, &d.SentAt)
	return d, err
}

// NotificationDelivery reads the outbox row under dedupKey.
func (s *Store) NotificationDelivery(ctx context.Context, dedupKey string) (Delivery, error) {
	d, err := scanDelivery(s.pool.QueryRow(ctx, `SELECT `+deliveryCols+` FROM notifications WHERE dedup_key = $1`, dedupKey))
	if err != nil {
		return Delivery{}, fmt.Errorf("notification %s: %w", dedupKey, notFound(err))
	}
	return d, nil
}

// RecordDelivery stores the outcome of a delivery attempt: sent, pending
// (a failure worth retrying), failed or unrouted, with the error. Sending
// and failing count as attempts; finding no route does not, nothing was
// sent. A row already sent stays sent: a late, slower attempt must not
// undo it.
func (s *Store) RecordDelivery(ctx context.Context, dedupKey, status, lastError string) error {
	tag, err := s.pool.Exec(ctx, `
		UPDATE notifications SET status = $2, last_error = nullif($3, ''),
			attempts = attempts + CASE WHEN $2 = 'unrouted' THEN 0 ELSE 1 END,
			last_attempt_at = CASE WHEN $2 = 'unrouted' THEN last_attempt_at ELSE now() END,
			sent_at = CASE WHEN $2 = 'sent' THEN now() ELSE sent_at END
		WHERE dedup_key = $1 AND status <> 'sent'`, dedupKey, status, lastError)
	if err != nil {
		return fmt.Errorf("record delivery of %s: %w", dedupKey, err)
	}
	if tag.RowsAffected() == 0 {
		if _, err := s.NotificationDelivery(ctx, dedupKey); err != nil {
			return fmt.Errorf("record delivery: %w", err)
		}
	}
	return nil
}

// Deliveries lists a brand's latest notifications with their delivery
// state, newest first; status, when set, keeps only that state.
func (s *Store) Deliveries(ctx context.Context, brandID, status string, limit int) ([]Delivery, error) {
	rows, err := s.pool.Query(ctx, `SELECT `+deliveryCols+` FROM notifications
		WHERE brand_id = $1 AND ($2 = '' OR status = $2) ORDER BY id DESC LIMIT $3`, brandID, status, limit)
	if err != nil {
		return nil, fmt.Errorf("list notifications of %s: %w", brandID, err)
	}
	return pgx.CollectRows(rows, func(r pgx.CollectableRow) (Delivery, error) { return scanDelivery(r) })
}
