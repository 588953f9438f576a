package store

import (
	"context"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/cmo-dev/cmo/platforms"
)

// PostSample is one post's numbers at one measurement of its campaign.
type PostSample struct {
	CampaignID string
	StepID     string
	ChannelID  string
	PostID     string
	// BatchAt names the measurement round every post of the campaign was
	// read in; Metrics.At is when the platform measured this one.
	BatchAt time.Time
	Metrics platforms.Metrics
}

// FollowerSample is a channel's follower count at one measurement of a
// campaign.
type FollowerSample struct {
	CampaignID string
	ChannelID  string
	BatchAt    time.Time
	At         time.Time
	Followers  int64
}

// RecordSamples stores one measurement round of a campaign in one
// transaction, so that a round is in the time series whole or not at
// all. A round recorded again (a retried activity) changes nothing.
func (s *Store) RecordSamples(ctx context.Context, posts []PostSample, followers []FollowerSample) error {
	if len(posts) == 0 && len(followers) == 0 {
		return nil
	}
	b := &pgx.Batch{}
	for _, p := range posts {
		m := p.Metrics
		b.Queue(`INSERT INTO post_metrics (campaign_id, step_id, channel_id, post_id, batch_at, at,
				impressions, reach, likes, reposts, replies, clicks)
			VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12)
			ON CONFLICT DO NOTHING`,
			p.CampaignID, p.StepID, p.ChannelID, p.PostID, p.BatchAt, m.At, m.Impressions, m.Reach, m.Likes, m.Reposts, m.Replies, m.Clicks)
	}
	for _, f := range followers {
		b.Queue(`INSERT INTO follower_samples (campaign_id, channel_id, batch_at, at, followers)
			VALUES ($1, $2, $3, $4, $5) ON CONFLICT DO NOTHING`, f.CampaignID, f.ChannelID, f.BatchAt, f.At, f.Followers)
	}
	err := pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error { return tx.SendBatch(ctx, b).Close() })
	if err != nil {
		return fmt.Errorf("record metric samples: %w", err)
	}
	return nil
}

// FollowerRange is a channel's first and latest follower count measured
// for a campaign.
type FollowerRange struct {
	ChannelID string
	First     int64
	FirstAt   time.Time
	Last      int64
	LastAt    time.Time
}

// FollowerRanges returns, per channel of the campaign, the first follower
// count measured and the latest measured at or before until.
func (s *Store) FollowerRanges(ctx context.Context, campaignID string, until time.Time) ([]FollowerRange, error) {
	rows, err := s.pool.Query(ctx, `
		SELECT DISTINCT ON (channel_id) channel_id,
			first_value(followers) OVER w, first_value(at) OVER w,
			last_value(followers) OVER w, last_value(at) OVER w
		FROM follower_samples
		WHERE campaign_id = $1 AND batch_at <= $2
		WINDOW w AS (PARTITION BY channel_id ORDER BY batch_at ROWS BETWEEN UNBOUNDED PRECEDING AND UNBOUNDED FOLLOWING)
		ORDER BY channel_id`, campaignID, until)
	if err != nil {
		return nil, fmt.Errorf("follower ranges of %s: %w", campaignID, err)
	}
	return pgx.CollectRows(rows, func(r pgx.CollectableRow) (FollowerRange, error) {
		var f FollowerRange
		err := r.Scan(&f.ChannelID, &f.First, &f.FirstAt, &f.Last, &f.LastAt)
		return f, err
	})
}

// SampledChannels lists the channels whose followers were measured for
// the campaign, so a report measures them again even before anything was
// published to them.
func (s *Store) SampledChannels(ctx context.Context, campaignID string) ([]string, error) {
	rows, err := s.pool.Query(ctx, `SELECT DISTINCT channel_id FROM follower_samples WHERE campaign_id = $1 ORDER BY 1`, campaignID)
	if err != nil {
		return nil, fmt.Errorf("sampled channels of %s: %w", campaignID, err)
	}
	return pgx.CollectRows(rows, pgx.RowTo[string])
}

// MetricTotal is a campaign's posts added up at one measurement round.
type MetricTotal struct {
	BatchAt     time.Time
	Posts       int
	Impressions int64
	Reach       int64
	Likes       int64
	Reposts     int64
	Replies     int64
	Clicks      int64
}

// MetricTotals returns the campaign's totals at every measurement round,
// oldest first: the time series the report charts.
func (s *Store) MetricTotals(ctx context.Context, campaignID string) ([]MetricTotal, error) {
	rows, err := s.pool.Query(ctx, `
		SELECT batch_at, count(*), sum(impressions), sum(CASE WHEN reach > 0 THEN reach ELSE impressions END),
			sum(likes), sum(reposts), sum(replies), sum(clicks)
		FROM post_metrics WHERE campaign_id = $1
		GROUP BY batch_at ORDER BY batch_at`, campaignID)
	if err != nil {
		return nil, fmt.Errorf("metric totals of %s: %w", campaignID, err)
	}
	return pgx.CollectRows(rows, func(r pgx.CollectableRow) (MetricTotal, error) {
		var m MetricTotal
		err := r.Scan(&m.BatchAt, &m.Posts, &m.Impressions, &m.Reach, &m.Likes, &m.Reposts, &m.Replies, &m.Clicks)
		return m, err
	})
}

// FollowerTotal is the campaign's channels' followers added up at one
// measurement round.
type FollowerTotal struct {
	BatchAt   time.Time
	Followers int64
}

// FollowerTotals returns the channels' total followers at every
// measurement round, oldest first.
func (s *Store) FollowerTotals(ctx context.Context, campaignID string) ([]FollowerTotal, error) {
	rows, err := s.pool.Query(ctx, `
		SELECT batch_at, sum(followers) FROM follower_samples WHERE campaign_id = $1
		GROUP BY batch_at ORDER BY batch_at`, campaignID)
	if err != nil {
		return nil, fmt.Errorf("follower totals of %s: %w", campaignID, err)
	}
	return pgx.CollectRows(rows, func(r pgx.CollectableRow) (FollowerTotal, error) {
		var f FollowerTotal
		err := r.Scan(&f.BatchAt, &f.Followers)
		return f, err
	})
}
