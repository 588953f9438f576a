package store

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
)

// Calendar entry statuses. Scheduled posts become published or failed as
// the publish ledger records them; one whose time passed without either
// (held by a freeze, dropped, its campaign stopped) is missed.
const (
	CalendarScheduled  = "scheduled"
	CalendarPublishing = "publishing"
	CalendarPublished  = "published"
	CalendarFailed     = "failed"
	CalendarMissed     = "missed"
)

// CalendarEntry is one post on the content calendar.
type CalendarEntry struct {
	CampaignID string `json:"campaign_id"`
	StepID     string `json:"step_id"`
	ChannelID  string `json:"channel_id"`
	Channel    string `json:"channel"`
	Platform   string `json:"platform"`
	BrandID    string `json:"brand"`
	Playbook   string `json:"playbook,omitempty"`
	Title      string `json:"title,omitempty"`
	// At is when the post is (or was) due; Timezone is the brand's, the
	// zone the playbook's times were written in.
	At          time.Time  `json:"at"`
	Timezone    string     `json:"timezone"`
	Text        string     `json:"text,omitempty"`
	Status      string     `json:"status"`
	PublishedAt *time.Time `json:"published_at,omitempty"`
	PostURL     string     `json:"post_url,omitempty"`
}

// UpsertCalendarEntries records scheduled posts; a post scheduled again
// (its time moved) keeps one entry with the new time.
func (s *Store) UpsertCalendarEntries(ctx context.Context, es []CalendarEntry) error {
	if len(es) == 0 {
		return nil
	}
	b := &pgx.Batch{}
	for _, e := range es {
		b.Queue(`INSERT INTO calendar_entries (campaign_id, step_id, channel_id, brand_id, playbook, title, at, timezone, text)
			VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)
			ON CONFLICT (campaign_id, step_id, channel_id) DO UPDATE SET
				at = EXCLUDED.at, timezone = EXCLUDED.timezone, text = EXCLUDED.text, title = EXCLUDED.title, updated_at = now()`,
			e.CampaignID, e.StepID, e.ChannelID, e.BrandID, e.Playbook, e.Title, e.At, e.Timezone, e.Text)
	}
	if err := s.pool.SendBatch(ctx, b).Close(); err != nil {
		return fmt.Errorf("record calendar entries: %w", err)
	}
	return nil
}

// Calendar lists the posts due from (inclusive) to to (exclusive) for the
// brand, or for every brand when brand is empty, oldest first: the
// scheduled posts with what became of them, and posts the ledger shows
// published that were never scheduled (campaigns older than the
// calendar), at their publication time.
func (s *Store) Calendar(ctx context.Context, brand string, from, to, now time.Time) ([]CalendarEntry, error) {
	rows, err := s.pool.Query(ctx, `
		SELECT e.campaign_id, e.step_id, e.channel_id, c.name, c.platform, e.brand_id, e.playbook, e.title,
			e.at, e.timezone, e.text, coalesce(l.status, ''), l.published_at, coalesce(l.remote_url, '')
		FROM calendar_entries e
		JOIN channels c ON c.id = e.channel_id
		LEFT JOIN publish_ledger l ON l.key = e.campaign_id || '/' || e.step_id || '/' || e.channel_id
		WHERE ($1 = '' OR e.brand_id = $1) AND e.at >= $2 AND e.at < $3
		UNION ALL
		SELECT l.campaign_id, l.step_id, l.channel_id, c.name, c.platform, c.brand_id, '', '',
			l.published_at, b.timezone, '', l.status, l.published_at, coalesce(l.remote_url, '')
		FROM publish_ledger l
		JOIN channels c ON c.id = l.channel_id
		JOIN brands b ON b.id = c.brand_id
		WHERE l.status = 'published' AND ($1 = '' OR c.brand_id = $1) AND l.published_at >= $2 AND l.published_at < $3
			AND NOT EXISTS (SELECT 1 FROM calendar_entries e
				WHERE e.campaign_id = l.campaign_id AND e.step_id = l.step_id AND e.channel_id = l.channel_id)
		ORDER BY 9, 1, 2, 4`, brand, from, to)
	if err != nil {
		return nil, fmt.Errorf("calendar of %q: %w", brand, err)
	}
	return pgx.CollectRows(rows, func(r pgx.CollectableRow) (CalendarEntry, error) {
		var e CalendarEntry
		var ledger string
		err := r.Scan(&e.CampaignID, &e.StepID, &e.ChannelID, &e.Channel, &e.Platform, &e.BrandID, &e.Playbook, &e.Title,
			&e.At, &e.Timezone, &e.Text, &ledger, &e.PublishedAt, &e.PostURL)
		switch {
		case ledger == LedgerPublished:
			e.Status = CalendarPublished
		case ledger == LedgerFailed:
			e.Status = CalendarFailed
		case ledger == LedgerPending:
			e.Status = CalendarPublishing
		case e.At.After(now):
			e.Status = CalendarScheduled
		default:
			e.Status = CalendarMissed
		}
		return e, err
	})
}

// CalendarToken is who a calendar feed token belongs to; the token itself
// is shown once, when made.
type CalendarToken struct {
	ID        string     `json:"id"`
	User      string     `json:"user"`
	BrandID   string     `json:"brand,omitempty"`
	CreatedAt time.Time  `json:"created_at"`
	RevokedAt *time.Time `json:"revoked_at,omitempty"`
}

// CreateCalendarToken makes a feed token for a person, for one brand or
// (brand empty) all of them, and returns it with the secret token.
func (s *Store) CreateCalendarToken(ctx context.Context, user, brand string) (CalendarToken, string, error) {
	raw := make([]byte, 32)
	if _, err := rand.Read(raw); err != nil {
		return CalendarToken{}, "", fmt.Errorf("calendar token: %w", err)
	}
	token := "cal_" + base64.RawURLEncoding.EncodeToString(raw)
	id := make([]byte, 6)
	if _, err := rand.Read(id); err != nil {
		return CalendarToken{}, "", fmt.Errorf("calendar token id: %w", err)
	}
	t := CalendarToken{ID: "calt_" + hex.EncodeToString(id), User: user, BrandID: brand}
	var b any
	if brand != "" {
		b = brand
	}
	err := s.pool.QueryRow(ctx, `INSERT INTO calendar_tokens (id, token_sha256, user_name, brand_id) VALUES ($1, $2, $3, $4)
		RETURNING created_at`, t.ID, hashToken(token), user, b).Scan(&t.CreatedAt)
	if err != nil {
		return CalendarToken{}, "", fmt.Errorf("store calendar token for %s: %w", user, err)
	}
	return t, token, nil
}

// CalendarTokenFor finds the live token; ErrNotFound when it is unknown or
// revoked.
func (s *Store) CalendarTokenFor(ctx context.Context, token string) (CalendarToken, error) {
	var t CalendarToken
	err := s.pool.QueryRow(ctx, `SELECT id, user_name, coalesce(brand_id, ''), created_at FROM calendar_tokens
		WHERE token_sha256 = $1 AND revoked_at IS NULL`, hashToken(token)).Scan(&t.ID, &t.User, &t.BrandID, &t.CreatedAt)
	return t, notFound(err)
}

// CalendarTokens lists the tokens made, revoked ones included, newest first.
func (s *Store) CalendarTokens(ctx context.Context) ([]CalendarToken, error) {
	rows, err := s.pool.Query(ctx, `SELECT id, user_name, coalesce(brand_id, ''), created_at, revoked_at
		FROM calendar_tokens ORDER BY created_at DESC, id`)
	if err != nil {
		return nil, fmt.Errorf("calendar tokens: %w", err)
	}
	return pgx.CollectRows(rows, func(r pgx.CollectableRow) (CalendarToken, error) {
		var t CalendarToken
		err := r.Scan(&t.ID, &t.User, &t.BrandID, &t.CreatedAt, &t.RevokedAt)
		return t, err
	})
}

// RevokeCalendarToken stops a token from opening the feed; revoking one
// twice is not an error.
func (s *Store) RevokeCalendarToken(ctx context.Context, id string) error {
	tag, err := s.pool.Exec(ctx, `UPDATE calendar_tokens SET revoked_at = coalesce(revoked_at, now()) WHERE id = $1`, id)
	if err != nil {
		return fmt.Errorf("revoke calendar token %s: %w", id, err)
	}
	if tag.RowsAffected() == 0 {
		return ErrNotFound
	}
	return nil
}

func hashToken(token string) string {
	sum := sha256.Sum256([]byte(token))
	return hex.EncodeToString(sum[:])
}
