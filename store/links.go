package store

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
)

// TrackedLink is a short link cmo serves in place of a link in a post.
type TrackedLink struct {
	Code       string `json:"code"`
	CampaignID string `json:"campaign_id"`
	BrandID    string `json:"brand"`
	ChannelID  string `json:"channel_id"`
	// Target is the link as written in the content; Destination is where
	// the short link sends people: the target with UTM parameters.
	Target      string    `json:"target"`
	Destination string    `json:"destination"`
	CreatedAt   time.Time `json:"created_at"`
}

const linkCols = `code, campaign_id, brand_id, channel_id, target, destination, created_at`

func scanLink(r pgx.Row) (TrackedLink, error) {
	var l TrackedLink
	err := r.Scan(&l.Code, &l.CampaignID, &l.BrandID, &l.ChannelID, &l.Target, &l.Destination, &l.CreatedAt)
	return l, err
}

// EnsureTrackedLink stores the link unless the campaign already has one
// for the same channel and target, and returns the stored one: a retried
// publish gets the link, and the text, of the first attempt. A code taken
// by another link is ErrExists.
func (s *Store) EnsureTrackedLink(ctx context.Context, l TrackedLink) (TrackedLink, error) {
	_, err := s.pool.Exec(ctx, `INSERT INTO tracked_links (code, campaign_id, brand_id, channel_id, target, destination)
		VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT DO NOTHING`,
		l.Code, l.CampaignID, l.BrandID, l.ChannelID, l.Target, l.Destination)
	if err != nil {
		return TrackedLink{}, fmt.Errorf("store tracked link %s: %w", l.Code, err)
	}
	got, err := scanLink(s.pool.QueryRow(ctx, `SELECT `+linkCols+` FROM tracked_links
		WHERE campaign_id = $1 AND channel_id = $2 AND target = $3`, l.CampaignID, l.ChannelID, l.Target))
	if errors.Is(err, pgx.ErrNoRows) {
		return TrackedLink{}, fmt.Errorf("tracked link code %s is taken by another link: %w", l.Code, ErrExists)
	} else if err != nil {
		return TrackedLink{}, fmt.Errorf("read tracked link %s: %w", l.Code, err)
	}
	return got, nil
}

// TrackedLink reads a short link by its code.
func (s *Store) TrackedLink(ctx context.Context, code string) (TrackedLink, error) {
	l, err := scanLink(s.pool.QueryRow(ctx, `SELECT `+linkCols+` FROM tracked_links WHERE code = $1`, code))
	return l, notFound(err)
}

// Click is one visit of a short link.
type Click struct {
	At           time.Time
	Referrer     string
	ReferrerHost string
	// Bot marks crawlers and link-preview fetchers: kept, not counted.
	Bot bool
}

// RecordClick counts a click on the link, with its channel and referrer.
func (s *Store) RecordClick(ctx context.Context, l TrackedLink, c Click) error {
	_, err := s.pool.Exec(ctx, `INSERT INTO link_clicks (code, campaign_id, channel_id, at, referrer, referrer_host, bot)
		VALUES ($1, $2, $3, $4, $5, $6, $7)`, l.Code, l.CampaignID, l.ChannelID, c.At, c.Referrer, c.ReferrerHost, c.Bot)
	if err != nil {
		return fmt.Errorf("record click on %s: %w", l.Code, err)
	}
	return nil
}

// ClickStats are a campaign's tracked clicks by people up to a moment.
type ClickStats struct {
	Total     int64
	ByChannel map[string]int64
	// Referrers are hosts with their clicks, most first; "direct" when no
	// referrer was sent.
	Referrers []HostClicks
}

// HostClicks counts the clicks that came from one referring site.
type HostClicks struct {
	Host   string
	Clicks int64
}

// CampaignClicks counts the campaign's clicks by people at or before
// until, in total, by channel and by referring site.
func (s *Store) CampaignClicks(ctx context.Context, campaignID string, until time.Time) (ClickStats, error) {
	st := ClickStats{ByChannel: map[string]int64{}}
	rows, err := s.pool.Query(ctx, `SELECT channel_id, count(*) FROM link_clicks
		WHERE campaign_id = $1 AND NOT bot AND at <= $2 GROUP BY channel_id`, campaignID, until)
	if err != nil {
		return st, fmt.Errorf("clicks of %s: %w", campaignID, err)
	}
	for rows.Next() {
		var ch string
		var n int64
		if err := rows.Scan(&ch, &n); err != nil {
			rows.Close()
			return st, err
		}
		st.ByChannel[ch] = n
		st.Total += n
	}
	if err := rows.Err(); err != nil {
		return st, fmt.Errorf("clicks of %s: %w", campaignID, err)
	}
	rows, err = s.pool.Query(ctx, `SELECT CASE WHEN referrer_host = '' THEN 'direct' ELSE referrer_host END, count(*)
		FROM link_clicks WHERE campaign_id = $1 AND NOT bot AND at <= $2
		GROUP BY 1 ORDER BY 2 DESC, 1 LIMIT 20`, campaignID, until)
	if err != nil {
		return st, fmt.Errorf("referrers of %s: %w", campaignID, err)
	}
	st.Referrers, err = pgx.CollectRows(rows, func(r pgx.CollectableRow) (HostClicks, error) {
		var h HostClicks
		err := r.Scan(&h.Host, &h.Clicks)
		return h, err
	})
	return st, err
}

// ClickBucket is how many clicks by people a campaign had in one minute.
type ClickBucket struct {
	Minute time.Time
	Clicks int64
}

// ClicksByMinute returns the campaign's clicks by people per minute,
// oldest first, for the clicks-over-time chart.
func (s *Store) ClicksByMinute(ctx context.Context, campaignID string) ([]ClickBucket, error) {
	rows, err := s.pool.Query(ctx, `SELECT date_trunc('minute', at), count(*) FROM link_clicks
		WHERE campaign_id = $1 AND NOT bot GROUP BY 1 ORDER BY 1`, campaignID)
	if err != nil {
		return nil, fmt.Errorf("clicks over time of %s: %w", campaignID, err)
	}
	return pgx.CollectRows(rows, func(r pgx.CollectableRow) (ClickBucket, error) {
		var b ClickBucket
		err := r.Scan(&b.Minute, &b.Clicks)
		return b, err
	})
}

// LinkStats is a tracked link with its clicks.
type LinkStats struct {
	TrackedLink
	Clicks int64 `json:"clicks"`
	// Bots are visits by crawlers and preview fetchers, not counted.
	Bots int64 `json:"bots"`
}

// CampaignLinks lists the campaign's tracked links with their clicks.
func (s *Store) CampaignLinks(ctx context.Context, campaignID string) ([]LinkStats, error) {
	rows, err := s.pool.Query(ctx, `
		SELECT l.code, l.campaign_id, l.brand_id, l.channel_id, l.target, l.destination, l.created_at,
			count(c.id) FILTER (WHERE NOT c.bot), count(c.id) FILTER (WHERE c.bot)
		FROM tracked_links l LEFT JOIN link_clicks c ON c.code = l.code
		WHERE l.campaign_id = $1
		GROUP BY l.code ORDER BY l.channel_id, l.target`, campaignID)
	if err != nil {
		return nil, fmt.Errorf("links of %s: %w", campaignID, err)
	}
	return pgx.CollectRows(rows, func(r pgx.CollectableRow) (LinkStats, error) {
		var l LinkStats
		err := r.Scan(&l.Code, &l.CampaignID, &l.BrandID, &l.ChannelID, &l.Target, &l.Destination, &l.CreatedAt, &l.Clicks, &l.Bots)
		return l, err
	})
}
