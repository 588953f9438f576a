package store

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
)

// AcquireLease takes the named lease for holder until ttl from now, if it
// is free, expired, or already the holder's. It reports whether holder
// has it.
func (s *Store) AcquireLease(ctx context.Context, name, holder string, ttl time.Duration) (bool, error) {
	var got string
	err := s.pool.QueryRow(ctx, `
		INSERT INTO publish_leases (name, holder, expires_at) VALUES ($1, $2, now() + $3::interval)
		ON CONFLICT (name) DO UPDATE SET holder = EXCLUDED.holder, expires_at = EXCLUDED.expires_at
			WHERE publish_leases.expires_at < now() OR publish_leases.holder = EXCLUDED.holder
		RETURNING holder`, name, holder, ttl.String()).Scan(&got)
	if errors.Is(err, pgx.ErrNoRows) {
		return false, nil
	}
	if err != nil {
		return false, fmt.Errorf("acquire lease %s: %w", name, err)
	}
	return got == holder, nil
}

// RenewLeases extends every lease holder has, while it is still working.
func (s *Store) RenewLeases(ctx context.Context, holder string, ttl time.Duration) error {
	_, err := s.pool.Exec(ctx, `UPDATE publish_leases SET expires_at = now() + $2::interval WHERE holder = $1`, holder, ttl.String())
	if err != nil {
		return fmt.Errorf("renew leases of %s: %w", holder, err)
	}
	return nil
}

// ReleaseLeases frees every lease holder has.
func (s *Store) ReleaseLeases(ctx context.Context, holder string) error {
	_, err := s.pool.Exec(ctx, `DELETE FROM publish_leases WHERE holder = $1`, holder)
	if err != nil {
		return fmt.Errorf("release leases of %s: %w", holder, err)
	}
	return nil
}
