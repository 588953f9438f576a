package store

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
)

// DemoBrand is the brand `cmo dev` creates so a new user can launch a
// campaign at once.
const DemoBrand = "demo"

// DemoChannels are the demo brand's two sandbox channels.
var DemoChannels = []Channel{
	{ID: "ch_demo_news", BrandID: DemoBrand, Name: "sandbox-news", Platform: "sandbox", Handle: "demo_news"},
	{ID: "ch_demo_care", BrandID: DemoBrand, Name: "sandbox-care", Platform: "sandbox", Handle: "demo_care"},
}

// SeedDemo creates the demo brand and its sandbox channels and accounts if
// they are missing. It leaves existing ones untouched, so restarts keep the
// tokens they had.
func (s *Store) SeedDemo(ctx context.Context) error {
	if _, err := s.pool.Exec(ctx, `INSERT INTO brands (id, name, timezone) VALUES ($1, $2, $3)
		ON CONFLICT (id) DO NOTHING`, DemoBrand, "Demo Coffee Co.", "Europe/Madrid"); err != nil {
		return fmt.Errorf("seed demo brand: %w", err)
	}
	for i, ch := range DemoChannels {
		if _, err := s.Channel(ctx, ch.ID); err == nil {
			continue
		} else if !errors.Is(err, ErrNotFound) {
			return err
		}
		token, err := randomToken()
		if err != nil {
			return err
		}
		if err := s.UpsertSandboxAccount(ctx, ch.Handle, token, 2000+3000*i); err != nil {
			return err
		}
		if err := s.UpsertChannel(ctx, ch, map[string]string{"token": token}); err != nil {
			return err
		}
	}
	return nil
}

func randomToken() (string, error) {
	b := make([]byte, 24)
	if _, err := rand.Read(b); err != nil {
		return "", fmt.Errorf("random token: %w", err)
	}
	return hex.EncodeToString(b), nil
}
