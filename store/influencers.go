package store

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/cmo-dev/cmo/listening"
)

// InfluencerFormula says how opinion leaders are ranked, for the API.
const InfluencerFormula = "score = reach × engagement × relevance; reach = log10(1 + followers); " +
	"engagement = log2(1 + mentions in the window); relevance = (mentions on one of the brand's topics + 1) / (mentions + 1) " +
	"when the brand tracks topics, else 1"

// Influencer is an author ranked as an opinion leader of a scope (the
// brand, or a competitor) over a window.
type Influencer struct {
	Handle    string `json:"handle"`
	Followers int64  `json:"followers"`
	Verified  bool   `json:"verified"`
	// Mentions counts the author's mentions of the scope in the window;
	// OnTopic those on one of the brand's topics.
	Mentions  int64     `json:"mentions"`
	OnTopic   int64     `json:"on_topic"`
	Positive  int64     `json:"positive"`
	Negative  int64     `json:"negative"`
	Sentiment float64   `json:"sentiment"`
	LastAt    time.Time `json:"last_mention_at"`
	// The factors of Score (InfluencerFormula).
	Reach      float64 `json:"reach"`
	Engagement float64 `json:"engagement"`
	Relevance  float64 `json:"relevance"`
	Score      float64 `json:"score"`
}

// Influencers ranks the authors of a scope's mentions in [from, to):
// the brand's own (competitor "") or a competitor's. topics says whether
// the brand tracks topics, which makes relevance count.
func (s *Store) Influencers(ctx context.Context, brand, competitor string, from, to time.Time, topics bool, limit int) ([]Influencer, error) {
	return s.influencers(ctx, brand, competitor, "", from, to, topics, limit)
}

// Influencer reads one author's standing in a scope, ErrNotFound when
// they did not write about it in the window.
func (s *Store) Influencer(ctx context.Context, brand, competitor, handle string, from, to time.Time, topics bool) (Influencer, error) {
	out, err := s.influencers(ctx, brand, competitor, handle, from, to, topics, 1)
	if err != nil {
		return Influencer{}, err
	}
	if len(out) == 0 {
		return Influencer{}, fmt.Errorf("influencer %s of %s: %w", handle, brand, ErrNotFound)
	}
	return out[0], nil
}

func (s *Store) influencers(ctx context.Context, brand, competitor, handle string, from, to time.Time, topics bool, limit int) ([]Influencer, error) {
	rows, err := s.pool.Query(ctx, `
		WITH a AS (
			SELECT author_handle AS h, max(author_followers) AS f, bool_or(author_verified) AS v, count(*) AS n,
				count(*) FILTER (WHERE cardinality(topics) > 0) AS t,
				count(*) FILTER (WHERE sentiment_label = 'positive') AS pos,
				count(*) FILTER (WHERE sentiment_label = 'negative') AS neg,
				avg(sentiment)::float8 AS s, max(created_at) AS last
			FROM mentions
			WHERE brand_id = $1 AND competitor = $2 AND created_at >= $3 AND created_at < $4 AND author_handle <> ''
				AND ($7 = '' OR author_handle = $7)
			GROUP BY author_handle
		), scored AS (
			SELECT *, log(1 + f::float8) AS reach, ln(1 + n::float8) / ln(2) AS engagement,
				CASE WHEN $5 THEN (t + 1)::float8 / (n + 1) ELSE 1 END AS relevance
			FROM a
		)
		SELECT h, f, v, n, t, pos, neg, s, last, reach, engagement, relevance, reach * engagement * relevance AS score
		FROM scored ORDER BY score DESC, f DESC, h LIMIT $6`, brand, competitor, from, to, topics, limit, handle)
	if err != nil {
		return nil, fmt.Errorf("influencers of %s: %w", brand, err)
	}
	return pgx.CollectRows(rows, func(r pgx.CollectableRow) (Influencer, error) {
		var in Influencer
		err := r.Scan(&in.Handle, &in.Followers, &in.Verified, &in.Mentions, &in.OnTopic, &in.Positive, &in.Negative, &in.Sentiment,
			&in.LastAt, &in.Reach, &in.Engagement, &in.Relevance, &in.Score)
		in.LastAt = in.LastAt.UTC()
		in.Reach, in.Engagement, in.Relevance, in.Score = round3(in.Reach), round3(in.Engagement), round3(in.Relevance), round3(in.Score)
		in.Sentiment = round3(in.Sentiment)
		return in, err
	})
}

func round3(v float64) float64 {
	if v < 0 {
		return -round3(-v)
	}
	return float64(int64(v*1000+0.5)) / 1000
}

// AuthorMentions lists an author's latest mentions of a brand (and of its
// competitors), newest first: what an opinion leader has been saying.
func (s *Store) AuthorMentions(ctx context.Context, brand, handle string, since time.Time, limit int) ([]StoredMention, error) {
	rows, err := s.pool.Query(ctx, `SELECT id, brand_id, source, external_id, author_handle, author_followers, author_verified,
		body, lang, created_at, url, sentiment, sentiment_label, sentiment_source, topics, competitor, received_at
		FROM mentions WHERE brand_id = $1 AND author_handle = $2 AND created_at >= $3
		ORDER BY created_at DESC, id DESC LIMIT $4`, brand, strings.TrimSpace(handle), since, limit)
	if err != nil {
		return nil, fmt.Errorf("mentions by %s: %w", handle, err)
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
