package store

import (
	"context"
	"crypto/hmac"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/cmo-dev/cmo/listening"
)

// Listening reads a brand's listening set-up, validated and compiled, and
// the crisis playbooks its monitor runs (nil: all of them).
func (s *Store) Listening(ctx context.Context, brand string) (*listening.Config, []string, error) {
	var raw []byte
	var playbooks []string
	err := s.pool.QueryRow(ctx, `SELECT listening, crisis_playbooks FROM brands WHERE id = $1`, brand).Scan(&raw, &playbooks)
	if err != nil {
		return nil, nil, fmt.Errorf("listening set-up of %s: %w", brand, notFound(err))
	}
	cfg := &listening.Config{}
	if err := json.Unmarshal(raw, cfg); err != nil {
		return nil, nil, fmt.Errorf("listening set-up of %s: %w", brand, err)
	}
	if err := cfg.Validate(); err != nil {
		return nil, nil, fmt.Errorf("listening set-up of %s: %w", brand, err)
	}
	return cfg, playbooks, nil
}

// SetListening replaces a brand's listening set-up; playbooks nil means
// every crisis playbook.
func (s *Store) SetListening(ctx context.Context, brand string, cfg *listening.Config, playbooks []string) error {
	if err := cfg.Validate(); err != nil {
		return err
	}
	raw, err := json.Marshal(cfg)
	if err != nil {
		return err
	}
	tag, err := s.pool.Exec(ctx, `UPDATE brands SET listening = $2, crisis_playbooks = $3 WHERE id = $1`, brand, raw, playbooks)
	if err != nil {
		return fmt.Errorf("set listening of %s: %w", brand, err)
	}
	if tag.RowsAffected() == 0 {
		return ErrNotFound
	}
	return nil
}

// Baselines reads a brand's baselines without folding.
func (s *Store) Baselines(ctx context.Context, brand string) (map[string]*listening.Baseline, error) {
	rows, err := s.pool.Query(ctx, `SELECT scope, baseline FROM listening_baselines WHERE brand_id = $1`, brand)
	if err != nil {
		return nil, fmt.Errorf("baselines of %s: %w", brand, err)
	}
	out := map[string]*listening.Baseline{}
	var scope string
	var raw []byte
	_, err = pgx.ForEachRow(rows, []any{&scope, &raw}, func() error {
		b := &listening.Baseline{}
		out[scope] = b
		return json.Unmarshal(raw, b)
	})
	if err != nil {
		return nil, fmt.Errorf("baselines of %s: %w", brand, err)
	}
	return out, nil
}

// MentionFilter selects mentions for the API.
type MentionFilter struct {
	Brand      string
	From, To   time.Time // To exclusive; zero means open
	Sentiment  string
	Topic      string
	Competitor string // "" all, "-" only the brand's own
	Before     int64  // id cursor: mentions older than this id
	Limit      int
}

// StoredMention is a mention with its row id and arrival time.
type StoredMention struct {
	ID int64 `json:"id"`
	listening.Mention
	ReceivedAt time.Time `json:"received_at"`
}

// Mentions lists mentions newest first.
func (s *Store) Mentions(ctx context.Context, f MentionFilter) ([]StoredMention, error) {
	where := []string{"brand_id = $1"}
	args := []any{f.Brand}
	add := func(cond string, v any) {
		args = append(args, v)
		where = append(where, strings.ReplaceAll(cond, "?", fmt.Sprintf("$%d", len(args))))
	}
	if !f.From.IsZero() {
		add("created_at >= ?", f.From)
	}
	if !f.To.IsZero() {
		add("created_at < ?", f.To)
	}
	if f.Sentiment != "" {
		add("sentiment_label = ?", f.Sentiment)
	}
	if f.Topic != "" {
		add("? = ANY(topics)", f.Topic)
	}
	switch f.Competitor {
	case "":
	case "-":
		where = append(where, "competitor = ''")
	default:
		add("competitor = ?", f.Competitor)
	}
	if f.Before > 0 {
		add("id < ?", f.Before)
	}
	if f.Limit <= 0 || f.Limit > 1000 {
		f.Limit = 100
	}
	args = append(args, f.Limit)
	rows, err := s.pool.Query(ctx, `SELECT id, brand_id, source, external_id, author_handle, author_followers, author_verified,
		body, lang, created_at, url, sentiment, sentiment_label, sentiment_source, topics, competitor, received_at
		FROM mentions WHERE `+strings.Join(where, " AND ")+fmt.Sprintf(" ORDER BY created_at DESC, id DESC LIMIT $%d", len(args)), args...)
	if err != nil {
		return nil, fmt.Errorf("list mentions: %w", err)
	}
	return pgx.CollectRows(rows, func(r pgx.CollectableRow) (StoredMention, error) {
		var m StoredMention
		var score float32
		m.Sentiment = &listening.Sentiment{}
		err := r.Scan(&m.ID, &m.Brand, &m.Source, &m.ExternalID, &m.Author.Handle, &m.Author.Followers, &m.Author.Verified,
			&m.Text, &m.Lang, &m.CreatedAt, &m.URL, &score, &m.Sentiment.Label, &m.Sentiment.Source, &m.Topics, &m.Competitor, &m.ReceivedAt)
		m.Sentiment.Score = float64(score)
		return m, err
	})
}

// TopAuthor is an author ranked by reach within a window.
type TopAuthor struct {
	Handle    string `json:"handle"`
	Followers int64  `json:"followers"`
	Verified  bool   `json:"verified"`
	Mentions  int64  `json:"mentions"`
	Negative  int64  `json:"negative"`
}

// TopAuthors ranks the authors of a scope's mentions in [from, to) by
// followers, then by how often they wrote.
func (s *Store) TopAuthors(ctx context.Context, brand, scope string, from, to time.Time, limit int) ([]TopAuthor, error) {
	cond := "competitor = ''"
	arg := ""
	topic, competitor := listening.ScopeName(scope)
	switch {
	case topic != "":
		cond, arg = "competitor = '' AND $5 = ANY(topics)", topic
	case competitor != "":
		cond, arg = "competitor = $5", competitor
	default:
		cond = "competitor = '' AND $5 = ''"
	}
	rows, err := s.pool.Query(ctx, `SELECT author_handle, max(author_followers), bool_or(author_verified), count(*),
			count(*) FILTER (WHERE sentiment_label = 'negative')
		FROM mentions WHERE brand_id = $1 AND created_at >= $2 AND created_at < $3 AND author_handle <> '' AND `+cond+`
		GROUP BY author_handle ORDER BY 2 DESC, 4 DESC, 1 LIMIT $4`, brand, from, to, limit, arg)
	if err != nil {
		return nil, fmt.Errorf("top authors of %s: %w", brand, err)
	}
	return pgx.CollectRows(rows, func(r pgx.CollectableRow) (TopAuthor, error) {
		var a TopAuthor
		return a, r.Scan(&a.Handle, &a.Followers, &a.Verified, &a.Mentions, &a.Negative)
	})
}

// MentionSource is a webhook producer of mentions for one brand.
type MentionSource struct {
	Name      string    `json:"name"`
	Brand     string    `json:"brand"`
	CreatedAt time.Time `json:"created_at"`
}

// CreateMentionSource registers a webhook source and returns its signing
// secret, which is stored sealed and never shown again.
func (s *Store) CreateMentionSource(ctx context.Context, name, brand string) (string, error) {
	buf := make([]byte, 32)
	if _, err := rand.Read(buf); err != nil {
		return "", err
	}
	secret := "whsec_" + hex.EncodeToString(buf)
	sealed, err := s.box.Seal([]byte(secret), "source:"+name)
	if err != nil {
		return "", fmt.Errorf("seal source secret: %w", err)
	}
	_, err = s.pool.Exec(ctx, `INSERT INTO mention_sources (name, brand_id, secret) VALUES ($1, $2, $3)`, name, brand, sealed)
	switch {
	case isUniqueViolation(err):
		return "", fmt.Errorf("mention source %s: %w", name, ErrExists)
	case isForeignKeyViolation(err):
		return "", ErrUnknownBrand
	case err != nil:
		return "", fmt.Errorf("create mention source %s: %w", name, err)
	}
	return secret, nil
}

// MentionSourceSecret reads a source's brand and signing secret.
func (s *Store) MentionSourceSecret(ctx context.Context, name string) (brand string, secret []byte, err error) {
	var sealed []byte
	if err := s.pool.QueryRow(ctx, `SELECT brand_id, secret FROM mention_sources WHERE name = $1`, name).Scan(&brand, &sealed); err != nil {
		return "", nil, fmt.Errorf("mention source %s: %w", name, notFound(err))
	}
	secret, err = s.box.Open(sealed, "source:"+name)
	if err != nil {
		return "", nil, fmt.Errorf("open source secret: %w", err)
	}
	return brand, secret, nil
}

// SameSecret compares secrets in constant time.
func SameSecret(a, b []byte) bool { return hmac.Equal(a, b) }

// Crisis is a crisis as PostgreSQL knows it: enough to find its workflow.
type Crisis struct {
	ID         string    `json:"id"`
	Brand      string    `json:"brand"`
	Playbook   string    `json:"playbook"`
	Scope      string    `json:"scope"`
	WorkflowID string    `json:"workflow_id"`
	RunID      string    `json:"run_id"`
	OpenedAt   time.Time `json:"opened_at"`
}

// RecordCrisis records the crisis a workflow run is handling and returns
// the recorded one: when the run was already recorded (the crisis was open
// and received new evidence), that earlier record.
func (s *Store) RecordCrisis(ctx context.Context, c Crisis) (Crisis, error) {
	_, err := s.pool.Exec(ctx, `INSERT INTO crises (id, brand_id, playbook, scope, workflow_id, run_id, opened_at)
		VALUES ($1, $2, $3, $4, $5, $6, $7) ON CONFLICT DO NOTHING`, c.ID, c.Brand, c.Playbook, c.Scope, c.WorkflowID, c.RunID, c.OpenedAt)
	if err != nil {
		return Crisis{}, fmt.Errorf("record crisis %s: %w", c.ID, err)
	}
	return scanCrisis(s.pool.QueryRow(ctx, `SELECT id, brand_id, playbook, scope, workflow_id, run_id, opened_at FROM crises WHERE run_id = $1`, c.RunID))
}

// CrisisByID reads one crisis.
func (s *Store) CrisisByID(ctx context.Context, id string) (Crisis, error) {
	return scanCrisis(s.pool.QueryRow(ctx, `SELECT id, brand_id, playbook, scope, workflow_id, run_id, opened_at FROM crises WHERE id = $1`, id))
}

// Crises lists a brand's crises, newest first ("" for every brand).
func (s *Store) Crises(ctx context.Context, brand string, limit int) ([]Crisis, error) {
	rows, err := s.pool.Query(ctx, `SELECT id, brand_id, playbook, scope, workflow_id, run_id, opened_at FROM crises
		WHERE $1 = '' OR brand_id = $1 ORDER BY opened_at DESC LIMIT $2`, brand, limit)
	if err != nil {
		return nil, fmt.Errorf("list crises: %w", err)
	}
	return pgx.CollectRows(rows, func(r pgx.CollectableRow) (Crisis, error) { return scanCrisis(r) })
}

func scanCrisis(r pgx.Row) (Crisis, error) {
	var c Crisis
	if err := r.Scan(&c.ID, &c.Brand, &c.Playbook, &c.Scope, &c.WorkflowID, &c.RunID, &c.OpenedAt); err != nil {
		return Crisis{}, fmt.Errorf("read crisis: %w", notFound(err))
	}
	return c, nil
}

// CrisisDeliveries lists the notifications a crisis sent, oldest first,
// with their delivery state.
func (s *Store) CrisisDeliveries(ctx context.Context, crisisID string) ([]Delivery, error) {
	rows, err := s.pool.Query(ctx, `SELECT `+deliveryCols+` FROM notifications WHERE campaign_id = $1 ORDER BY created_at, id`, crisisID)
	if err != nil {
		return nil, fmt.Errorf("deliveries of %s: %w", crisisID, err)
	}
	return pgx.CollectRows(rows, func(r pgx.CollectableRow) (Delivery, error) { return scanDelivery(r) })
}

// SeriesPoint is one step of a scope's mention counts over time.
type SeriesPoint struct {
	At       time.Time `json:"at"`
	Mentions int64     `json:"mentions"`
	Negative int64     `json:"negative"`
	Reach    int64     `json:"reach"`
	MaxReach int64     `json:"max_reach"`
}

// Series sums a scope's minute buckets into steps over [from, to), for
// charts and post-mortems. Steps with no mentions are left out.
func (s *Store) Series(ctx context.Context, brand, scope string, from, to time.Time, step time.Duration) ([]SeriesPoint, error) {
	rows, err := s.pool.Query(ctx, `SELECT date_bin($5::interval, minute, $3::timestamptz) AS at, sum(mentions), sum(negative), sum(reach), max(max_reach)
		FROM mention_buckets WHERE brand_id = $1 AND scope = $2 AND minute >= $3 AND minute < $4
		GROUP BY 1 ORDER BY 1`, brand, scope, from, to, step)
	if err != nil {
		return nil, fmt.Errorf("series of %s %s: %w", brand, scope, err)
	}
	return pgx.CollectRows(rows, func(r pgx.CollectableRow) (SeriesPoint, error) {
		var p SeriesPoint
		err := r.Scan(&p.At, &p.Mentions, &p.Negative, &p.Reach, &p.MaxReach)
		p.At = p.At.UTC()
		return p, err
	})
}

// MentionSourceNames lists the webhook sources of mentions.
func (s *Store) MentionSourceNames(ctx context.Context) ([]string, error) {
	rows, err := s.pool.Query(ctx, `SELECT name FROM mention_sources ORDER BY name`)
	if err != nil {
		return nil, fmt.Errorf("list mention sources: %w", err)
	}
	return pgx.CollectRows(rows, pgx.RowTo[string])
}
