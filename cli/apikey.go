package cli

import (
	"errors"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/cmo-dev/cmo/config"
	"github.com/cmo-dev/cmo/devstack"
)

// apiKeyFlag adds --key to a command that calls the API.
func apiKeyFlag(cmd *cobra.Command, persistent bool) *string {
	var key string
	fs := cmd.Flags()
	if persistent {
		fs = cmd.PersistentFlags()
	}
	fs.StringVar(&key, "key", "", "API key to send (default $"+config.EnvAPIKey+", else the dev stack's in $"+config.EnvDataDir+"/"+devstack.APIKeyFile+")")
	return &key
}

// resolveAPIKey picks the key a command sends: the flag, the environment,
// or the key `cmo dev` keeps in its data directory on this machine.
func resolveAPIKey(flag string) (string, error) {
	if flag != "" {
		return flag, nil
	}
	if v := strings.TrimSpace(os.Getenv(config.EnvAPIKey)); v != "" {
		return v, nil
	}
	dir := strings.TrimSpace(os.Getenv(config.EnvDataDir))
	if dir == "" {
		dir = config.DefaultDataDir
	}
	raw, err := os.ReadFile(filepath.Join(dir, devstack.APIKeyFile))
	if errors.Is(err, os.ErrNotExist) {
		return "", fmt.Errorf("no API key: pass --key, set %s, or run cmo dev here (it keeps one in %s)", config.EnvAPIKey, filepath.Join(dir, devstack.APIKeyFile))
	} else if err != nil {
		return "", fmt.Errorf("read the dev stack's API key: %w", err)
	}
	return strings.TrimSpace(string(raw)), nil
}

// keyed sends the API key with every request.
type keyed struct {
	key  string
	next http.RoundTripper
}

func (k keyed) RoundTrip(r *http.Request) (*http.Response, error) {
	r = r.Clone(r.Context())
	r.Header.Set("Authorization", "Bearer "+k.key)
	return k.next.RoundTrip(r)
}

// apiHTTP is the HTTP client of commands that call the API.
func apiHTTP(key string) *http.Client {
	return &http.Client{Timeout: 2 * time.Minute, Transport: keyed{key: key, next: http.DefaultTransport}}
}
