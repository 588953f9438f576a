package store

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
)

// ErrCurrency is returned when money in one currency is added to a
// campaign that counts in another: the sums and the ROI would mean
// nothing.
var ErrCurrency = errors.New("currency differs from the campaign's")

// Cost sources.
const (
	CostFromPlaybook = "playbook"
	CostFromAPI      = "api"
)

// Cost is money spent on a campaign, such as an ad budget.
type Cost struct {
	CampaignID string `json:"campaign_id"`
	// Key makes the entry idempotent: the same key records once.
	Key      string    `json:"key"`
	Amount   float64   `json:"amount"`
	Currency string    `json:"currency,omitempty"`
	Note     string    `json:"note,omitempty"`
	Source   string    `json:"source"`
	At       time.Time `json:"at"`
}

// Conversion is a sale or sign-up attributed to a campaign, with its value.
type Conversion struct {
	CampaignID string    `json:"campaign_id"`
	ExternalID string    `json:"id"`
	Value      float64   `json:"value"`
	Currency   string    `json:"currency,omitempty"`
	ChannelID  string    `json:"channel_id,omitempty"`
	At         time.Time `json:"at"`
}

// checkCurrency refuses a currency other than the one the campaign's
// costs and conversions already use. An entry without a currency is in
// the campaign's, whatever it is.
func checkCurrency(ctx context.Context, tx pgx.Tx, campaignID, currency string) error {
	if currency == "" {
		return nil
	}
	// Entries of one campaign are added one at a time; the lock keeps two
	// concurrent ones from each seeing no currency yet.
	if _, err := tx.Exec(ctx, `SELECT pg_advisory_xact_lock(hashtextextended('campaign-money:' || $1, 0))`, campaignID); err != nil {
		return err
	}
	var other string
	err := tx.QueryRow(ctx, `
		SELECT currency FROM campaign_costs WHERE campaign_id = $1 AND currency NOT IN ('', $2)
		UNION ALL
		SELECT currency FROM conversions WHERE campaign_id = $1 AND currency NOT IN ('', $2)
		LIMIT 1`, campaignID, currency).Scan(&other)
	if errors.Is(err, pgx.ErrNoRows) {
		return nil
	} else if err != nil {
		return err
	}
	return fmt.Errorf("%s is counted in %s, not %s: %w", campaignID, other, currency, ErrCurrency)
}

// AddCost records a cost once by its key and returns it as stored;
// created is false when the key was recorded before. The same key with
// another amount is ErrExists.
func (s *Store) AddCost(ctx context.Context, c Cost) (stored Cost, created bool, err error) {
	err = pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		if err := checkCurrency(ctx, tx, c.CampaignID, c.Currency); err != nil {
			return err
		}
		tag, err := tx.Exec(ctx, `INSERT INTO campaign_costs (campaign_id, key, amount, currency, note, source, at)
			VALUES ($1, $2, round($3::numeric, 2), $4, $5, $6, $7) ON CONFLICT DO NOTHING`,
			c.CampaignID, c.Key, c.Amount, c.Currency, c.Note, c.Source, c.At)
		if err != nil {
			return err
		}
		created = tag.RowsAffected() == 1
		return tx.QueryRow(ctx, `SELECT campaign_id, key, amount::float8, currency, note, source, at
			FROM campaign_costs WHERE campaign_id = $1 AND key = $2`, c.CampaignID, c.Key).
			Scan(&stored.CampaignID, &stored.Key, &stored.Amount, &stored.Currency, &stored.Note, &stored.Source, &stored.At)
	})
	if err != nil {
		return Cost{}, false, fmt.Errorf("add cost %s to %s: %w", c.Key, c.CampaignID, err)
	}
	if !created && (!sameMoney(stored.Amount, c.Amount) || stored.Currency != c.Currency) {
		return stored, false, fmt.Errorf("cost %s of %s was recorded as %.2f %s: %w", c.Key, c.CampaignID, stored.Amount, stored.Currency, ErrExists)
	}
	return stored, created, nil
}

// Costs lists the campaign's costs, oldest first.
func (s *Store) Costs(ctx context.Context, campaignID string) ([]Cost, error) {
	rows, err := s.pool.Query(ctx, `SELECT campaign_id, key, amount::float8, currency, note, source, at
		FROM campaign_costs WHERE campaign_id = $1 ORDER BY at, key`, campaignID)
	if err != nil {
		return nil, fmt.Errorf("costs of %s: %w", campaignID, err)
	}
	return pgx.CollectRows(rows, func(r pgx.CollectableRow) (Cost, error) {
		var c Cost
		err := r.Scan(&c.CampaignID, &c.Key, &c.Amount, &c.Currency, &c.Note, &c.Source, &c.At)
		return c, err
	})
}

// AddConversion records a conversion once by its external id; created is
// false when it was recorded before. The same id with another value is
// ErrExists.
func (s *Store) AddConversion(ctx context.Context, c Conversion) (stored Conversion, created bool, err error) {
	err = pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		if err := checkCurrency(ctx, tx, c.CampaignID, c.Currency); err != nil {
			return err
		}
		tag, err := tx.Exec(ctx, `INSERT INTO conversions (campaign_id, external_id, value, currency, channel_id, at)
			VALUES ($1, $2, round($3::numeric, 2), $4, $5, $6) ON CONFLICT DO NOTHING`,
			c.CampaignID, c.ExternalID, c.Value, c.Currency, c.ChannelID, c.At)
		if err != nil {
			return err
		}
		created = tag.RowsAffected() == 1
		return tx.QueryRow(ctx, `SELECT campaign_id, external_id, value::float8, currency, channel_id, at
			FROM conversions WHERE campaign_id = $1 AND external_id = $2`, c.CampaignID, c.ExternalID).
			Scan(&stored.CampaignID, &stored.ExternalID, &stored.Value, &stored.Currency, &stored.ChannelID, &stored.At)
	})
	if err != nil {
		return Conversion{}, false, fmt.Errorf("add conversion %s to %s: %w", c.ExternalID, c.CampaignID, err)
	}
	if !created && (!sameMoney(stored.Value, c.Value) || stored.Currency != c.Currency) {
		return stored, false, fmt.Errorf("conversion %s of %s was recorded as %.2f %s: %w", c.ExternalID, c.CampaignID, stored.Value, stored.Currency, ErrExists)
	}
	return stored, created, nil
}

// Money is what a campaign cost and earned up to a moment.
type Money struct {
	Cost        float64
	Conversions int64
	Revenue     float64
	// Currency is the one currency its entries name, if any does.
	Currency string
}

// CampaignMoney adds up the campaign's costs and conversions dated at or
// before until.
func (s *Store) CampaignMoney(ctx context.Context, campaignID string, until time.Time) (Money, error) {
	var m Money
	err := s.pool.QueryRow(ctx, `
		SELECT
			(SELECT coalesce(sum(amount), 0)::float8 FROM campaign_costs WHERE campaign_id = $1 AND at <= $2),
			(SELECT count(*) FROM conversions WHERE campaign_id = $1 AND at <= $2),
			(SELECT coalesce(sum(value), 0)::float8 FROM conversions WHERE campaign_id = $1 AND at <= $2),
			coalesce((SELECT currency FROM campaign_costs WHERE campaign_id = $1 AND currency <> ''
				UNION ALL SELECT currency FROM conversions WHERE campaign_id = $1 AND currency <> '' LIMIT 1), '')`,
		campaignID, until).Scan(&m.Cost, &m.Conversions, &m.Revenue, &m.Currency)
	if err != nil {
		return Money{}, fmt.Errorf("money of %s: %w", campaignID, err)
	}
	return m, nil
}

// sameMoney compares amounts to the cent, as they are stored.
func sameMoney(a, b float64) bool {
	d := a - b
	return d < 0.005 && d > -0.005
}
