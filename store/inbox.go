package store

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/cmo-dev/cmo/inbox"
	"github.com/cmo-dev/cmo/listening"
)

// InboxConfig reads a brand's inbox set-up, validated.
func (s *Store) InboxConfig(ctx context.Context, brand string) (*inbox.Config, error) {
	var raw []byte
	if err := s.pool.QueryRow(ctx, `SELECT inbox FROM brands WHERE id = $1`, brand).Scan(&raw); err != nil {
		return nil, fmt.Errorf("inbox set-up of %s: %w", brand, notFound(err))
	}
	cfg := &inbox.Config{}
	if err := json.Unmarshal(raw, cfg); err != nil {
		return nil, fmt.Errorf("inbox set-up of %s: %w", brand, err)
	}
	if err := cfg.Validate(); err != nil {
		return nil, fmt.Errorf("inbox set-up of %s: %w", brand, err)
	}
	return cfg, nil
}

// SetInboxConfig replaces a brand's inbox set-up.
func (s *Store) SetInboxConfig(ctx context.Context, brand string, cfg *inbox.Config) error {
	if err := cfg.Validate(); err != nil {
		return err
	}
	raw, err := json.Marshal(cfg)
	if err != nil {
		return err
	}
	tag, err := s.pool.Exec(ctx, `UPDATE brands SET inbox = $2 WHERE id = $1`, brand, raw)
	if err != nil {
		return fmt.Errorf("set inbox of %s: %w", brand, err)
	}
	if tag.RowsAffected() == 0 {
		return ErrNotFound
	}
	return nil
}

// InboxBrands lists the brands whose inbox is enabled or that still have
// items whose workflow was never started.
func (s *Store) InboxBrands(ctx context.Context) ([]string, error) {
	rows, err := s.pool.Query(ctx, `SELECT id FROM brands WHERE (inbox->>'enabled')::boolean IS TRUE
		UNION SELECT DISTINCT brand_id FROM inbox_items WHERE started_at IS NULL ORDER BY 1`)
	if err != nil {
		return nil, fmt.Errorf("list inbox brands: %w", err)
	}
	return pgx.CollectRows(rows, pgx.RowTo[string])
}

// markInbox opens the items of the marked mentions that this transaction
// inserted (a duplicate mention already has its item, or never needed
// one) and says how many it opened.
func markInbox(ctx context.Context, tx pgx.Tx, inserted []listening.Mention, marks []inbox.Mark) (int, error) {
	if len(marks) == 0 || len(inserted) == 0 {
		return 0, nil
	}
	byKey := make(map[mentionKey]*inbox.Mark, len(marks))
	for i := range marks {
		m := &marks[i]
		byKey[mentionKey{m.Brand, m.Source, m.ExternalID}] = m
	}
	var ids, brands, sources, externals, ruleNames, kinds, priorities []string
	var within []int64
	for i := range inserted {
		m, ok := byKey[mentionKey{inserted[i].Brand, inserted[i].Source, inserted[i].ExternalID}]
		if !ok {
			continue
		}
		ids, brands, sources, externals = append(ids, m.ID()), append(brands, m.Brand), append(sources, m.Source), append(externals, m.ExternalID)
		ruleNames, kinds, priorities = append(ruleNames, m.Rule), append(kinds, m.Kind), append(priorities, m.Priority)
		within = append(within, m.ReplyWithin.Milliseconds())
	}
	if len(ids) == 0 {
		return 0, nil
	}
	tag, err := tx.Exec(ctx, `INSERT INTO inbox_items (id, brand_id, mention_id, source, rule, kind, priority, opened_at, due_at)
		SELECT u.id, m.brand_id, m.id, m.source, u.rule, u.kind, u.priority, now(), now() + u.within_ms * interval '1 millisecond'
		FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::text[], $6::text[], $7::text[], $8::bigint[])
			AS u (id, brand, source, external_id, rule, kind, priority, within_ms)
		JOIN mentions m ON m.brand_id = u.brand AND m.source = u.source AND m.external_id = u.external_id
		ORDER BY u.id
		ON CONFLICT DO NOTHING`, ids, brands, sources, externals, ruleNames, kinds, priorities, within)
	if err != nil {
		return 0, fmt.Errorf("insert mentions: open inbox items: %w", err)
	}
	return int(tag.RowsAffected()), nil
}

// InboxItem is an item as the store projects it, with its mention.
type InboxItem struct {
	ID              string     `json:"id"`
	Brand           string     `json:"brand"`
	Source          string     `json:"source"`
	Rule            string     `json:"rule"`
	Kind            string     `json:"kind"`
	Priority        string     `json:"priority"`
	Status          string     `json:"status"`
	OpenedAt        time.Time  `json:"opened_at"`
	DueAt           time.Time  `json:"due_at"`
	StartedAt       *time.Time `json:"started_at,omitempty"`
	Assignee        string     `json:"assignee,omitempty"`
	RemindedAt      *time.Time `json:"reminded_at,omitempty"`
	OverdueAt       *time.Time `json:"overdue_at,omitempty"`
	FirstResponseAt *time.Time `json:"first_response_at,omitempty"`
	Replies         int        `json:"replies"`
	ReplyChannelID  string     `json:"reply_channel_id,omitempty"`
	ReplyPostID     string     `json:"reply_post_id,omitempty"`
	ReplyURL        string     `json:"reply_url,omitempty"`
	ClosedAt        *time.Time `json:"closed_at,omitempty"`
	ClosedBy        string     `json:"closed_by,omitempty"`
	CloseReason     string     `json:"close_reason,omitempty"`
	// FirstResponseSeconds and ResolutionSeconds are the item's KPIs:
	// from opening to the first published reply, and to closing.
	FirstResponseSeconds *float64      `json:"first_response_seconds,omitempty"`
	ResolutionSeconds    *float64      `json:"resolution_seconds,omitempty"`
	Mention              StoredMention `json:"mention"`
}

const inboxCols = `i.id, i.brand_id, i.source, i.rule, i.kind, i.priority, i.status, i.opened_at, i.due_at, i.started_at, i.assignee,
	i.reminded_at, i.overdue_at, i.first_response_at, i.replies, i.reply_channel_id, i.reply_post_id, i.reply_url,
	i.closed_at, i.closed_by, i.close_reason,
	m.id, m.brand_id, m.source, m.external_id, m.author_handle, m.author_followers, m.author_verified,
	m.body, m.lang, m.created_at, m.url, m.sentiment, m.sentiment_label, m.sentiment_source, m.topics, m.competitor, m.received_at`

func scanInboxItem(r pgx.Row) (InboxItem, error) {
	var it InboxItem
	var score float32
	m := &it.Mention
	m.Sentiment = &listening.Sentiment{}
	err := r.Scan(&it.ID, &it.Brand, &it.Source, &it.Rule, &it.Kind, &it.Priority, &it.Status, &it.OpenedAt, &it.DueAt, &it.StartedAt,
		&it.Assignee, &it.RemindedAt, &it.OverdueAt, &it.FirstResponseAt, &it.Replies, &it.ReplyChannelID, &it.ReplyPostID, &it.ReplyURL,
		&it.ClosedAt, &it.ClosedBy, &it.CloseReason,
		&m.ID, &m.Brand, &m.Source, &m.ExternalID, &m.Author.Handle, &m.Author.Followers, &m.Author.Verified,
		&m.Text, &m.Lang, &m.CreatedAt, &m.URL, &score, &m.Sentiment.Label, &m.Sentiment.Source, &m.Topics, &m.Competitor, &m.ReceivedAt)
	if err != nil {
		return InboxItem{}, fmt.Errorf("read inbox item: %w", notFound(err))
	}
	m.Sentiment.Score = float64(score)
	if it.FirstResponseAt != nil {
		v := it.FirstResponseAt.Sub(it.OpenedAt).Seconds()
		it.FirstResponseSeconds = &v
	}
	if it.ClosedAt != nil {
		v := it.ClosedAt.Sub(it.OpenedAt).Seconds()
		it.ResolutionSeconds = &v
	}
	return it, nil
}

// InboxItem reads one item.
func (s *Store) InboxItem(ctx context.Context, id string) (InboxItem, error) {
	return scanInboxItem(s.pool.QueryRow(ctx, `SELECT `+inboxCols+` FROM inbox_items i JOIN mentions m ON m.id = i.mention_id
		WHERE i.id = $1`, id))
}

// InboxFilter selects items for the API.
type InboxFilter struct {
	Brand string
	// Status is one of InboxStatuses, "active" (not closed) or "" (all).
	Status   string
	Assignee string
	Kind     string
	Priority string
	Limit    int
	Offset   int
}

// InboxItems lists a brand's items: those still open soonest due first,
// then the closed ones, most recently closed first.
func (s *Store) InboxItems(ctx context.Context, f InboxFilter) ([]InboxItem, error) {
	where := []string{"i.brand_id = $1"}
	args := []any{f.Brand}
	add := func(cond string, v any) {
		args = append(args, v)
		where = append(where, strings.ReplaceAll(cond, "?", fmt.Sprintf("$%d", len(args))))
	}
	switch f.Status {
	case "":
	case "active":
		where = append(where, "i.closed_at IS NULL")
	default:
		add("i.status = ?", f.Status)
	}
	if f.Assignee != "" {
		add("i.assignee = ?", f.Assignee)
	}
	if f.Kind != "" {
		add("i.kind = ?", f.Kind)
	}
	if f.Priority != "" {
		add("i.priority = ?", f.Priority)
	}
	if f.Limit <= 0 || f.Limit > 500 {
		f.Limit = 100
	}
	args = append(args, f.Limit, max(f.Offset, 0))
	rows, err := s.pool.Query(ctx, `SELECT `+inboxCols+` FROM inbox_items i JOIN mentions m ON m.id = i.mention_id
		WHERE `+strings.Join(where, " AND ")+fmt.Sprintf(` ORDER BY i.closed_at IS NOT NULL, CASE WHEN i.closed_at IS NULL THEN i.due_at END,
		i.closed_at DESC, i.id LIMIT $%d OFFSET $%d`, len(args)-1, len(args)), args...)
	if err != nil {
		return nil, fmt.Errorf("list inbox of %s: %w", f.Brand, err)
	}
	return pgx.CollectRows(rows, func(r pgx.CollectableRow) (InboxItem, error) { return scanInboxItem(r) })
}

// UnstartedInboxItems lists a brand's items whose workflow has not been
// started yet, oldest first.
func (s *Store) UnstartedInboxItems(ctx context.Context, brand string, limit int) ([]InboxItem, error) {
	rows, err := s.pool.Query(ctx, `SELECT `+inboxCols+` FROM inbox_items i JOIN mentions m ON m.id = i.mention_id
		WHERE i.brand_id = $1 AND i.started_at IS NULL ORDER BY i.opened_at, i.id LIMIT $2`, brand, limit)
	if err != nil {
		return nil, fmt.Errorf("unstarted inbox items of %s: %w", brand, err)
	}
	return pgx.CollectRows(rows, func(r pgx.CollectableRow) (InboxItem, error) { return scanInboxItem(r) })
}

// MarkInboxStarted records that an item's workflow runs; the sweep leaves
// it alone after.
func (s *Store) MarkInboxStarted(ctx context.Context, id string, at time.Time) error {
	if _, err := s.pool.Exec(ctx, `UPDATE inbox_items SET started_at = $2 WHERE id = $1 AND started_at IS NULL`, id, at); err != nil {
		return fmt.Errorf("mark inbox item %s started: %w", id, err)
	}
	return nil
}

// RecordInboxItem writes an item's state unless a newer one is written.
func (s *Store) RecordInboxItem(ctx context.Context, u inbox.Update) error {
	_, err := s.pool.Exec(ctx, `UPDATE inbox_items SET seq = $2, status = $3, assignee = $4, reminded_at = $5, overdue_at = $6,
		first_response_at = $7, replies = $8, reply_channel_id = $9, reply_post_id = $10, reply_url = $11, closed_at = $12,
		closed_by = $13, close_reason = $14, updated_at = now(), started_at = coalesce(started_at, now())
		WHERE id = $1 AND seq < $2`, u.ID, u.Seq, u.Status, u.Assignee, u.RemindedAt, u.OverdueAt, u.FirstResponseAt, u.Replies,
		u.ReplyChannelID, u.ReplyPostID, u.ReplyURL, u.ClosedAt, u.ClosedBy, u.CloseReason)
	if err != nil {
		return fmt.Errorf("record inbox item %s: %w", u.ID, err)
	}
	return nil
}

// CareStats are customer-care KPIs over a set of items. Times are in
// seconds; they are absent when no item has one yet.
type CareStats struct {
	// Channel is the source the mentions came from; empty for the total.
	Channel   string `json:"channel,omitempty"`
	Items     int64  `json:"items"`
	Responded int64  `json:"responded"`
	// FirstResponse* run from an item's opening to its first published reply.
	FirstResponseAvg *float64 `json:"first_response_avg_seconds,omitempty"`
	FirstResponseP50 *float64 `json:"first_response_p50_seconds,omitempty"`
	FirstResponseP90 *float64 `json:"first_response_p90_seconds,omitempty"`
	// Resolved items are closed; Resolution* run from opening to closing.
	Resolved      int64    `json:"resolved"`
	ResolutionAvg *float64 `json:"resolution_avg_seconds,omitempty"`
	ResolutionP50 *float64 `json:"resolution_p50_seconds,omitempty"`
	// Breached counts items answered after their deadline or not answered
	// and past it; OnTime is the share of answered items answered in time.
	Breached int64    `json:"breached"`
	OnTime   *float64 `json:"on_time_ratio,omitempty"`
	// Overdue counts the items open right now, unanswered and past their
	// deadline, whenever they were opened.
	Overdue int64 `json:"overdue"`
}

// CareKPIs are a brand's customer-care KPIs for the items opened in
// [From, To), in total and per channel.
type CareKPIs struct {
	From     time.Time   `json:"from"`
	To       time.Time   `json:"to"`
	Total    CareStats   `json:"total"`
	Channels []CareStats `json:"channels"`
}

// CareKPIs computes a brand's customer-care KPIs for the items opened in
// [from, to); overdue counts are as of now.
func (s *Store) CareKPIs(ctx context.Context, brand string, from, to, now time.Time) (CareKPIs, error) {
	out := CareKPIs{From: from.UTC(), To: to.UTC(), Channels: []CareStats{}}
	rows, err := s.pool.Query(ctx, `
		WITH w AS (
			SELECT source, opened_at, due_at, first_response_at, closed_at,
				extract(epoch FROM first_response_at - opened_at)::float8 AS frt,
				extract(epoch FROM closed_at - opened_at)::float8 AS rt
			FROM inbox_items WHERE brand_id = $1 AND opened_at >= $2 AND opened_at < $3
		)
		SELECT coalesce(source, ''), grouping(source) = 1, count(*), count(first_response_at),
			avg(frt), percentile_cont(0.5) WITHIN GROUP (ORDER BY frt), percentile_cont(0.9) WITHIN GROUP (ORDER BY frt),
			count(closed_at), avg(rt), percentile_cont(0.5) WITHIN GROUP (ORDER BY rt),
			count(*) FILTER (WHERE first_response_at > due_at OR (first_response_at IS NULL AND due_at < $4)),
			count(*) FILTER (WHERE first_response_at <= due_at)
		FROM w GROUP BY GROUPING SETS ((source), ()) ORDER BY 2, 1`, brand, from, to, now)
	if err != nil {
		return out, fmt.Errorf("care KPIs of %s: %w", brand, err)
	}
	var st CareStats
	var total bool
	var onTime int64
	_, err = pgx.ForEachRow(rows, []any{&st.Channel, &total, &st.Items, &st.Responded, &st.FirstResponseAvg, &st.FirstResponseP50,
		&st.FirstResponseP90, &st.Resolved, &st.ResolutionAvg, &st.ResolutionP50, &st.Breached, &onTime}, func() error {
		c := st
		if c.Responded > 0 {
			r := float64(onTime) / float64(c.Responded)
			c.OnTime = &r
		}
		if total {
			c.Channel = ""
			out.Total = c
		} else {
			out.Channels = append(out.Channels, c)
		}
		st = CareStats{}
		return nil
	})
	if err != nil {
		return out, fmt.Errorf("care KPIs of %s: %w", brand, err)
	}
	rows, err = s.pool.Query(ctx, `SELECT source, count(*) FROM inbox_items
		WHERE brand_id = $1 AND closed_at IS NULL AND first_response_at IS NULL AND due_at < $2 GROUP BY source`, brand, now)
	if err != nil {
		return out, fmt.Errorf("overdue items of %s: %w", brand, err)
	}
	var source string
	var n int64
	_, err = pgx.ForEachRow(rows, []any{&source, &n}, func() error {
		out.Total.Overdue += n
		for i := range out.Channels {
			if out.Channels[i].Channel == source {
				out.Channels[i].Overdue = n
				return nil
			}
		}
		out.Channels = append(out.Channels, CareStats{Channel: source, Overdue: n})
		return nil
	})
	if err != nil {
		return out, fmt.Errorf("overdue items of %s: %w", brand, err)
	}
	return out, nil
}
