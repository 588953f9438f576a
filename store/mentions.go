package store

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"

	"github.com/cmo-dev/cmo/inbox"
	"github.com/cmo-dev/cmo/listening"
)

// MentionColumns are written by COPY, in this order (see MentionRow).
var MentionColumns = []string{"brand_id", "source", "external_id", "author_handle", "author_followers", "author_verified",
	"body", "lang", "created_at", "url", "sentiment", "sentiment_label", "sentiment_source", "topics", "competitor"}

// ErrUnknownBrand is returned when a mention names a brand that does not
// exist.
var ErrUnknownBrand = errors.New("unknown brand")

// IngestResult counts what a batch did.
type IngestResult struct {
	Received   int `json:"received"`
	Inserted   int `json:"inserted"`
	Duplicates int `json:"duplicates"`
	// Inbox counts the inbox items the new mentions opened.
	Inbox int `json:"inbox,omitempty"`
}

type mentionKey struct{ brand, source, id string }

// InsertMentions stores prepared mentions and adds them to their minute
// buckets in one transaction: when it returns nil, every new mention and
// its counts are durable; mentions already stored (same brand, source and
// external id) are skipped and not counted twice.
//
// The common case, a batch of new mentions, is one COPY straight into the
// table; only a batch that hits a duplicate goes through a staging table
// and INSERT … ON CONFLICT DO NOTHING.
//
// marks are the mentions that need a reply: their inbox items are opened
// in the same transaction, so a mention is never stored without its item.
func (s *Store) InsertMentions(ctx context.Context, ms []listening.Mention, marks ...inbox.Mark) (IngestResult, error) {
	res := IngestResult{Received: len(ms)}
	ms = dedupBatch(ms)
	if len(ms) == 0 {
		return res, nil
	}
	tx, err := s.pool.Begin(ctx)
	if err != nil {
		return res, fmt.Errorf("insert mentions: %w", err)
	}
	defer tx.Rollback(ctx) //nolint:errcheck // a no-op after commit
	inserted, err := copyMentions(ctx, tx, ms)
	if err != nil {
		return res, err
	}
	if err := addBuckets(ctx, tx, listening.Aggregate(inserted)); err != nil {
		return res, err
	}
	if res.Inbox, err = markInbox(ctx, tx, inserted, marks); err != nil {
		return res, err
	}
	if err := tx.Commit(ctx); err != nil {
		return res, fmt.Errorf("insert mentions: commit: %w", err)
	}
	res.Inserted = len(inserted)
	res.Duplicates = res.Received - res.Inserted
	return res, nil
}

func dedupBatch(ms []listening.Mention) []listening.Mention {
	seen := make(map[mentionKey]struct{}, len(ms))
	out := ms[:0:0]
	for _, m := range ms {
		k := mentionKey{m.Brand, m.Source, m.ExternalID}
		if _, dup := seen[k]; dup {
			continue
		}
		seen[k] = struct{}{}
		out = append(out, m)
	}
	return out
}

func mentionRows(ms []listening.Mention) pgx.CopyFromSource {
	return pgx.CopyFromSlice(len(ms), func(i int) ([]any, error) { return MentionRow(&ms[i]), nil })
}

// MentionRow is a prepared mention as the values of MentionColumns.
func MentionRow(m *listening.Mention) []any {
	score, label, source := 0.0, listening.Neutral, listening.FromLexicon
	if m.Sentiment != nil {
		score, label, source = m.Sentiment.Score, m.Sentiment.Label, m.Sentiment.Source
	}
	topics := m.Topics
	if topics == nil {
		topics = []string{}
	}
	return []any{m.Brand, m.Source, m.ExternalID, m.Author.Handle, m.Author.Followers, m.Author.Verified,
		m.Text, m.Lang, m.CreatedAt, m.URL, float32(score), label, source, topics, m.Competitor}
}

// copyMentions writes ms and returns those that were new.
func copyMentions(ctx context.Context, tx pgx.Tx, ms []listening.Mention) ([]listening.Mention, error) {
	sp, err := tx.Begin(ctx)
	if err != nil {
		return nil, fmt.Errorf("insert mentions: %w", err)
	}
	_, err = sp.CopyFrom(ctx, pgx.Identifier{"mentions"}, MentionColumns, mentionRows(ms))
	if err == nil {
		return ms, sp.Commit(ctx)
	}
	if rbErr := sp.Rollback(ctx); rbErr != nil {
		return nil, fmt.Errorf("insert mentions: %w", rbErr)
	}
	if isForeignKeyViolation(err) {
		return nil, fmt.Errorf("insert mentions: %w", ErrUnknownBrand)
	}
	if !isUniqueViolation(err) {
		return nil, fmt.Errorf("insert mentions: copy: %w", err)
	}
	// Some are duplicates: stage them and keep only the new ones.
	if _, err := tx.Exec(ctx, `CREATE TEMP TABLE IF NOT EXISTS mention_stage
		(LIKE mentions INCLUDING DEFAULTS) ON COMMIT DELETE ROWS`); err != nil {
		return nil, fmt.Errorf("insert mentions: stage: %w", err)
	}
	if _, err := tx.CopyFrom(ctx, pgx.Identifier{"mention_stage"}, MentionColumns, mentionRows(ms)); err != nil {
		return nil, fmt.Errorf("insert mentions: stage copy: %w", err)
	}
	rows, err := tx.Query(ctx, `INSERT INTO mentions (`+columnList()+`)
		SELECT `+columnList()+` FROM mention_stage ON CONFLICT (brand_id, source, external_id) DO NOTHING
		RETURNING brand_id, source, external_id`)
	if err != nil {
		return nil, fmt.Errorf("insert mentions: merge: %w", err)
	}
	fresh := map[mentionKey]bool{}
	var k mentionKey
	_, err = pgx.ForEachRow(rows, []any{&k.brand, &k.source, &k.id}, func() error { fresh[k] = true; return nil })
	if err != nil {
		if isForeignKeyViolation(err) {
			return nil, fmt.Errorf("insert mentions: %w", ErrUnknownBrand)
		}
		return nil, fmt.Errorf("insert mentions: merge: %w", err)
	}
	out := ms[:0:0]
	for _, m := range ms {
		if fresh[mentionKey{m.Brand, m.Source, m.ExternalID}] {
			out = append(out, m)
		}
	}
	return out, nil
}

func columnList() string {
	s := ""
	for i, c := range MentionColumns {
		if i > 0 {
			s += ", "
		}
		s += c
	}
	return s
}

// addBuckets adds counts to the minute buckets and registers new scopes
// for the baseline, in one round trip. bs is sorted (listening.Aggregate),
// so concurrent writers lock rows in the same order.
func addBuckets(ctx context.Context, tx pgx.Tx, bs []listening.Bucket) error {
	if len(bs) == 0 {
		return nil
	}
	n := len(bs)
	brand, scope, minute := make([]string, n), make([]string, n), make([]time.Time, n)
	mentions, negative, positive := make([]int64, n), make([]int64, n), make([]int64, n)
	reach, maxReach, verified := make([]int64, n), make([]int64, n), make([]int64, n)
	last := make([]time.Time, n)
	for i, b := range bs {
		brand[i], scope[i], minute[i], last[i] = b.Brand, b.Scope, b.Minute, b.Last
		mentions[i], negative[i], positive[i] = b.Mentions, b.Negative, b.Positive
		reach[i], maxReach[i], verified[i] = b.Reach, b.MaxReach, b.Verified
	}
	batch := &pgx.Batch{}
	batch.Queue(`INSERT INTO mention_buckets AS b (brand_id, scope, minute, mentions, negative, positive, reach, max_reach, verified, last_at)
		SELECT * FROM unnest($1::text[], $2::text[], $3::timestamptz[], $4::bigint[], $5::bigint[], $6::bigint[], $7::bigint[], $8::bigint[], $9::bigint[], $10::timestamptz[])
		ON CONFLICT (brand_id, minute, scope) DO UPDATE SET
			mentions = b.mentions + excluded.mentions, negative = b.negative + excluded.negative,
			positive = b.positive + excluded.positive, reach = b.reach + excluded.reach,
			max_reach = greatest(b.max_reach, excluded.max_reach), verified = b.verified + excluded.verified,
			last_at = greatest(b.last_at, excluded.last_at)`,
		brand, scope, minute, mentions, negative, positive, reach, maxReach, verified, last)
	batch.Queue(`INSERT INTO listening_baselines AS l (brand_id, scope, first_minute)
		SELECT brand_id, scope, min(minute) FROM unnest($1::text[], $2::text[], $3::timestamptz[]) AS u (brand_id, scope, minute)
		GROUP BY brand_id, scope ORDER BY brand_id, scope
		ON CONFLICT (brand_id, scope) DO UPDATE SET first_minute = excluded.first_minute
		WHERE l.through IS NULL AND excluded.first_minute < l.first_minute`, brand, scope, minute)
	if err := tx.SendBatch(ctx, batch).Close(); err != nil {
		return fmt.Errorf("insert mentions: buckets: %w", err)
	}
	return nil
}

func isForeignKeyViolation(err error) bool {
	var pe *pgconn.PgError
	return errors.As(err, &pe) && pe.Code == "23503"
}

// IsUnavailable reports whether err means the database could not be
// reached or is shutting down — worth a retry later — rather than a bad
// request or a bug.
func IsUnavailable(err error) bool {
	if err == nil {
		return false
	}
	var pe *pgconn.PgError
	if errors.As(err, &pe) {
		switch {
		case len(pe.Code) == 5 && pe.Code[:2] == "08", // connection exception
			pe.Code == "57P01", pe.Code == "57P02", pe.Code == "57P03", // shutting down, cannot connect now
			pe.Code == "53300": // too many connections
			return true
		}
		return false
	}
	var ce *pgconn.ConnectError
	var ne net.Error
	return errors.As(err, &ce) || errors.As(err, &ne) || errors.Is(err, io.ErrUnexpectedEOF) || errors.Is(err, io.EOF) ||
		pgconn.SafeToRetry(err) || pgconn.Timeout(err)
}

// Buckets reads a brand's minute buckets in [from, to), every scope.
func (s *Store) Buckets(ctx context.Context, brand string, from, to time.Time) ([]listening.Bucket, error) {
	rows, err := s.pool.Query(ctx, `SELECT brand_id, scope, minute, mentions, negative, positive, reach, max_reach, verified,
			coalesce(last_at, minute)
		FROM mention_buckets WHERE brand_id = $1 AND minute >= $2 AND minute < $3 ORDER BY minute, scope`, brand, from, to)
	if err != nil {
		return nil, fmt.Errorf("read buckets of %s: %w", brand, err)
	}
	return pgx.CollectRows(rows, func(r pgx.CollectableRow) (listening.Bucket, error) {
		var b listening.Bucket
		err := r.Scan(&b.Brand, &b.Scope, &b.Minute, &b.Mentions, &b.Negative, &b.Positive, &b.Reach, &b.MaxReach, &b.Verified, &b.Last)
		b.Minute, b.Last = b.Minute.UTC(), b.Last.UTC()
		return b, err
	})
}

// FoldBaselines folds every completed hour up to now into the brand's
// per-scope baselines and returns them. Each hour is read once: the next
// call starts where this one stopped. Hours with no mentions fold as zero,
// so a quiet night lowers the night's baseline.
func (s *Store) FoldBaselines(ctx context.Context, brand string, loc *time.Location, now time.Time) (map[string]*listening.Baseline, error) {
	tx, err := s.pool.Begin(ctx)
	if err != nil {
		return nil, fmt.Errorf("fold baselines of %s: %w", brand, err)
	}
	defer tx.Rollback(ctx) //nolint:errcheck // a no-op after commit
	rows, err := tx.Query(ctx, `SELECT scope, baseline, first_minute FROM listening_baselines
		WHERE brand_id = $1 ORDER BY scope FOR UPDATE`, brand)
	if err != nil {
		return nil, fmt.Errorf("fold baselines of %s: %w", brand, err)
	}
	type row struct {
		scope string
		b     *listening.Baseline
		from  time.Time
	}
	var all []row
	var raw []byte
	var first time.Time
	var scope string
	_, err = pgx.ForEachRow(rows, []any{&scope, &raw, &first}, func() error {
		b := &listening.Baseline{}
		if err := json.Unmarshal(raw, b); err != nil {
			return fmt.Errorf("baseline %s: %w", scope, err)
		}
		all = append(all, row{scope, b, b.FoldFrom(first, now)})
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("fold baselines of %s: %w", brand, err)
	}
	to := now.UTC().Truncate(time.Hour)
	out := make(map[string]*listening.Baseline, len(all))
	from := to
	for _, r := range all {
		out[r.scope] = r.b
		if r.from.Before(from) {
			from = r.from
		}
	}
	if !from.Before(to) {
		return out, tx.Commit(ctx)
	}
	counts := map[string]map[time.Time]float64{}
	rows, err = tx.Query(ctx, `SELECT scope, date_trunc('hour', minute), sum(mentions) FROM mention_buckets
		WHERE brand_id = $1 AND minute >= $2 AND minute < $3 GROUP BY 1, 2`, brand, from, to)
	if err != nil {
		return nil, fmt.Errorf("fold baselines of %s: hourly counts: %w", brand, err)
	}
	var hour time.Time
	var n float64
	if _, err = pgx.ForEachRow(rows, []any{&scope, &hour, &n}, func() error {
		if counts[scope] == nil {
			counts[scope] = map[time.Time]float64{}
		}
		counts[scope][hour.UTC()] = n
		return nil
	}); err != nil {
		return nil, fmt.Errorf("fold baselines of %s: hourly counts: %w", brand, err)
	}
	batch := &pgx.Batch{}
	for _, r := range all {
		if !r.from.Before(to) {
			continue
		}
		for h := r.from; h.Before(to); h = h.Add(time.Hour) {
			r.b.Fold(h, counts[r.scope][h], loc)
		}
		js, err := json.Marshal(r.b)
		if err != nil {
			return nil, err
		}
		batch.Queue(`UPDATE listening_baselines SET baseline = $3, through = $4, updated_at = now() WHERE brand_id = $1 AND scope = $2`,
			brand, r.scope, js, r.b.Through)
	}
	if err := tx.SendBatch(ctx, batch).Close(); err != nil {
		return nil, fmt.Errorf("fold baselines of %s: save: %w", brand, err)
	}
	return out, tx.Commit(ctx)
}
