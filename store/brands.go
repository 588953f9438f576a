package store

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/cmo-dev/cmo/platforms"
	"github.com/cmo-dev/cmo/playbooks"
)

// Brand is an organisation whose voice cmo manages.
type Brand struct {
	ID        string    `json:"id"`
	Name      string    `json:"name"`
	Timezone  string    `json:"timezone"`
	CreatedAt time.Time `json:"created_at"`
}

// Channel is one account of a brand on one platform. It never carries
// credentials: those are read only through ChannelAccount.
type Channel struct {
	ID       string `json:"id"`
	BrandID  string `json:"brand_id"`
	Name     string `json:"name"`
	Platform string `json:"platform"`
	Handle   string `json:"handle"`
	Status   string `json:"status"`
	// StatusReason says why a channel needs reconnecting or was disabled.
	StatusReason string            `json:"status_reason,omitempty"`
	Config       map[string]string `json:"config,omitempty"`
	CreatedAt    time.Time         `json:"created_at"`
}

// UpsertBrand creates or renames a brand.
func (s *Store) UpsertBrand(ctx context.Context, b Brand) error {
	if b.Timezone == "" {
		b.Timezone = "UTC"
	}
	if _, err := time.LoadLocation(b.Timezone); err != nil {
		return fmt.Errorf("brand %s: time zone %q: %w", b.ID, b.Timezone, err)
	}
	_, err := s.pool.Exec(ctx, `
		INSERT INTO brands (id, name, timezone) VALUES ($1, $2, $3)
		ON CONFLICT (id) DO UPDATE SET name = EXCLUDED.name, timezone = EXCLUDED.timezone`,
		b.ID, b.Name, b.Timezone)
	if err != nil {
		return fmt.Errorf("upsert brand %s: %w", b.ID, err)
	}
	return nil
}

// Brand reads one brand.
func (s *Store) Brand(ctx context.Context, id string) (Brand, error) {
	var b Brand
	err := s.pool.QueryRow(ctx, `SELECT id, name, timezone, created_at FROM brands WHERE id = $1`, id).
		Scan(&b.ID, &b.Name, &b.Timezone, &b.CreatedAt)
	if err != nil {
		return Brand{}, fmt.Errorf("brand %s: %w", id, notFound(err))
	}
	return b, nil
}

// Brands lists every brand.
func (s *Store) Brands(ctx context.Context) ([]Brand, error) {
	rows, err := s.pool.Query(ctx, `SELECT id, name, timezone, created_at FROM brands ORDER BY id`)
	if err != nil {
		return nil, fmt.Errorf("list brands: %w", err)
	}
	return pgx.CollectRows(rows, func(r pgx.CollectableRow) (Brand, error) {
		var b Brand
		return b, r.Scan(&b.ID, &b.Name, &b.Timezone, &b.CreatedAt)
	})
}

// UpsertChannel creates or updates a channel and seals its secrets under
// the channel's id.
func (s *Store) UpsertChannel(ctx context.Context, c Channel, secrets map[string]string) error {
	var sealed []byte
	if len(secrets) > 0 {
		if s.box == nil {
			return errors.New("store has no key to seal channel credentials")
		}
		raw, err := json.Marshal(secrets)
		if err != nil {
			return err
		}
		if sealed, err = s.box.Seal(raw, c.ID); err != nil {
			return fmt.Errorf("seal credentials of %s: %w", c.ID, err)
		}
	}
	if c.Status == "" {
		c.Status = "active"
	}
	if c.Config == nil {
		c.Config = map[string]string{}
	}
	_, err := s.pool.Exec(ctx, `
		INSERT INTO channels (id, brand_id, name, platform, handle, status, credentials, config)
		VALUES ($1, $2, $3, $4, $5, $6, $7, $8)
		ON CONFLICT (id) DO UPDATE SET name = EXCLUDED.name, platform = EXCLUDED.platform,
			handle = EXCLUDED.handle, status = EXCLUDED.status, credentials = EXCLUDED.credentials,
			config = EXCLUDED.config`,
		c.ID, c.BrandID, c.Name, c.Platform, c.Handle, c.Status, sealed, c.Config)
	if err != nil {
		return fmt.Errorf("upsert channel %s: %w", c.ID, err)
	}
	return nil
}

const channelCols = `id, brand_id, name, platform, handle, status, coalesce(status_reason, ''), config, created_at`

func scanChannel(r pgx.Row) (Channel, error) {
	var c Channel
	err := r.Scan(&c.ID, &c.BrandID, &c.Name, &c.Platform, &c.Handle, &c.Status, &c.StatusReason, &c.Config, &c.CreatedAt)
	return c, err
}

// SaveChannelSecrets replaces a channel's sealed credentials, for a
// connector that renewed a token.
func (s *Store) SaveChannelSecrets(ctx context.Context, id string, secrets map[string]string) error {
	if s.box == nil {
		return errors.New("store has no key to seal channel credentials")
	}
	raw, err := json.Marshal(secrets)
	if err != nil {
		return err
	}
	sealed, err := s.box.Seal(raw, id)
	if err != nil {
		return fmt.Errorf("seal credentials of %s: %w", id, err)
	}
	tag, err := s.pool.Exec(ctx, `UPDATE channels SET credentials = $2 WHERE id = $1`, id, sealed)
	if err != nil {
		return fmt.Errorf("save credentials of %s: %w", id, err)
	}
	if tag.RowsAffected() != 1 {
		return fmt.Errorf("save credentials of %s: %w", id, ErrNotFound)
	}
	return nil
}

// SetChannelStatus marks a channel active, disabled or needing reconnection, with why.
func (s *Store) SetChannelStatus(ctx context.Context, id, status, reason string) error {
	tag, err := s.pool.Exec(ctx, `UPDATE channels SET status = $2, status_reason = nullif($3, '') WHERE id = $1`, id, status, reason)
	if err != nil {
		return fmt.Errorf("set status of channel %s: %w", id, err)
	}
	if tag.RowsAffected() != 1 {
		return fmt.Errorf("set status of channel %s: %w", id, ErrNotFound)
	}
	return nil
}

// Channels lists a brand's channels.
func (s *Store) Channels(ctx context.Context, brandID string) ([]Channel, error) {
	rows, err := s.pool.Query(ctx, `SELECT `+channelCols+` FROM channels WHERE brand_id = $1 ORDER BY name`, brandID)
	if err != nil {
		return nil, fmt.Errorf("list channels of %s: %w", brandID, err)
	}
	return pgx.CollectRows(rows, func(r pgx.CollectableRow) (Channel, error) { return scanChannel(r) })
}

// Channel reads one channel.
func (s *Store) Channel(ctx context.Context, id string) (Channel, error) {
	c, err := scanChannel(s.pool.QueryRow(ctx, `SELECT `+channelCols+` FROM channels WHERE id = $1`, id))
	if err != nil {
		return Channel{}, fmt.Errorf("channel %s: %w", id, notFound(err))
	}
	return c, nil
}

// ChannelSecrets opens a channel's sealed credentials. Only activities call
// it, right before talking to the platform.
// ChannelAccount is a channel as its connector needs it: identity,
// settings, opened credentials, and a way to store renewed tokens. Only
// activities and the channel test call it, right before a platform call.
func (s *Store) ChannelAccount(ctx context.Context, ch Channel) (platforms.Account, error) {
	secrets, err := s.ChannelSecrets(ctx, ch.ID)
	if err != nil {
		return platforms.Account{}, err
	}
	return platforms.Account{
		ChannelID: ch.ID, Platform: ch.Platform, Handle: ch.Handle, Secrets: secrets, Config: ch.Config,
		SaveSecrets: func(ctx context.Context, sec map[string]string) error { return s.SaveChannelSecrets(ctx, ch.ID, sec) },
	}, nil
}

func (s *Store) ChannelSecrets(ctx context.Context, id string) (map[string]string, error) {
	var sealed []byte
	if err := s.pool.QueryRow(ctx, `SELECT credentials FROM channels WHERE id = $1`, id).Scan(&sealed); err != nil {
		return nil, fmt.Errorf("credentials of %s: %w", id, notFound(err))
	}
	if len(sealed) == 0 {
		return map[string]string{}, nil
	}
	if s.box == nil {
		return nil, errors.New("store has no key to open channel credentials")
	}
	raw, err := s.box.Open(sealed, id)
	if err != nil {
		return nil, fmt.Errorf("credentials of %s: %w", id, err)
	}
	out := map[string]string{}
	if err := json.Unmarshal(raw, &out); err != nil {
		return nil, fmt.Errorf("credentials of %s: %w", id, err)
	}
	return out, nil
}

// ResolveTargets maps channel references (a channel's name or a platform)
// to the brand's active channels, and lists the references that match
// none.
func (s *Store) ResolveTargets(ctx context.Context, brand string, refs []string) (map[string][]playbooks.Target, []string, error) {
	chs, err := s.Channels(ctx, brand)
	if err != nil {
		return nil, nil, err
	}
	out := map[string][]playbooks.Target{}
	var missing []string
	for _, ref := range refs {
		for _, ch := range chs {
			if ch.Status == "active" && (ch.Name == ref || (playbooks.IsPlatform(ref) && ch.Platform == ref)) {
				out[ref] = append(out[ref], playbooks.Target{ID: ch.ID, Name: ch.Name, Platform: ch.Platform})
			}
		}
		if len(out[ref]) == 0 {
			missing = append(missing, ref)
		}
	}
	return out, missing, nil
}

// BrandIDs lists every brand's id.
func (s *Store) BrandIDs(ctx context.Context) ([]string, error) {
	rows, err := s.pool.Query(ctx, `SELECT id FROM brands ORDER BY id`)
	if err != nil {
		return nil, fmt.Errorf("list brand ids: %w", err)
	}
	return pgx.CollectRows(rows, pgx.RowTo[string])
}
