package devstack

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/cmo-dev/cmo/access"
	"github.com/cmo-dev/cmo/store"
)

// APIKeyFile holds the dev stack's admin key in its data directory, so
// the key survives restarts and the CLI finds it on the same machine.
const APIKeyFile = "api-key"

// DevActor holds the dev stack's admin key.
const DevActor = "dev-admin"

// adminKey returns the data directory's admin key, making one (for every
// brand) the first time or when the kept one no longer opens the API.
func adminKey(ctx context.Context, st *store.Store, dir string) (string, error) {
	path := filepath.Join(dir, APIKeyFile)
	raw, err := os.ReadFile(path)
	if err == nil {
		secret := strings.TrimSpace(string(raw))
		if _, err := st.UseAPIKey(ctx, secret); err == nil {
			return secret, nil
		} else if !errors.Is(err, store.ErrNotFound) {
			return "", fmt.Errorf("check dev api key: %w", err)
		}
	} else if !errors.Is(err, os.ErrNotExist) {
		return "", fmt.Errorf("read dev api key: %w", err)
	}
	_, secret, err := st.CreateAPIKey(ctx, DevActor, access.Admin, []string{access.AllBrands}, "cmo dev")
	if err != nil {
		return "", err
	}
	if err := os.WriteFile(path, []byte(secret+"\n"), 0o600); err != nil {
		return "", fmt.Errorf("keep dev api key: %w", err)
	}
	return secret, nil
}
