// Package config reads cmo's settings from the environment once, in cmd/,
// so that every other package receives its configuration explicitly.
package config

import (
	"encoding/base64"
	"fmt"
	"os"
	"strings"
	"time"
)

// Environment variable names. They are listed in one place because the
// binary, the README and docker-compose.yml must agree on them; a test reads
// docker-compose.yml and checks it only names variables from Vars.
const (
	EnvDatabaseURL       = "DATABASE_URL"
	EnvTemporalAddress   = "TEMPORAL_ADDRESS"
	EnvTemporalNamespace = "TEMPORAL_NAMESPACE"
	EnvTaskQueue         = "CMO_TASK_QUEUE"
	EnvHTTPAddr          = "CMO_HTTP_ADDR"
	EnvSecretKey         = "CMO_SECRET_KEY"
	EnvSandboxURL        = "CMO_SANDBOX_URL"
	EnvDataDir           = "CMO_DATA_DIR"
	EnvLogLevel          = "CMO_LOG_LEVEL"
	EnvConnectTimeout    = "CMO_CONNECT_TIMEOUT"
	EnvPlaybooksDir      = "CMO_PLAYBOOKS_DIR"
	EnvPlatformTimeout   = "CMO_PLATFORM_TIMEOUT"
	EnvMonitorInterval   = "CMO_MONITOR_INTERVAL"
)

// Vars lists every environment variable the binary reads, with what it is for.
var Vars = map[string]string{
	EnvDatabaseURL:       "PostgreSQL connection string (postgres://user:pass@host:5432/db); cmo dev starts a local cluster when unset",
	EnvTemporalAddress:   "Temporal frontend host:port",
	EnvTemporalNamespace: "Temporal namespace",
	EnvTaskQueue:         "Temporal task queue shared by server and worker",
	EnvHTTPAddr:          "listen address of the HTTP API",
	EnvSecretKey:         "base64 of 32 random bytes; encrypts channel credentials at rest",
	EnvSandboxURL:        "base URL of the sandbox platform the worker publishes to (the API server serves it under /sandbox)",
	EnvDataDir:           "cmo dev: directory for the embedded Temporal, PostgreSQL and keys",
	EnvLogLevel:          "debug, info, warn or error",
	EnvConnectTimeout:    "how long server and worker keep retrying to reach Temporal and PostgreSQL at start",
	EnvPlaybooksDir:      "directory of extra playbooks (*.yaml) added to the shipped ones; same name replaces",
	EnvPlatformTimeout:   "timeout of one HTTP call to a platform (default 30s); a call that times out is retried after reading the channel back",
	EnvMonitorInterval:   "how often each brand's monitor evaluates crisis detection when no mentions arrive (default 10s, 1s to 10s); new mentions wake it sooner",
}

// Defaults used when a variable is unset.
const (
	DefaultTemporalAddress   = "127.0.0.1:7233"
	DefaultTemporalNamespace = "default"
	DefaultTaskQueue         = "cmo"
	DefaultHTTPAddr          = ":8080"
	DefaultDataDir           = ".cmo"
	DefaultConnectTimeout    = 5 * time.Minute
)

// Config is everything server and worker need to reach their peers.
type Config struct {
	DatabaseURL       string
	TemporalAddress   string
	TemporalNamespace string
	TaskQueue         string
	HTTPAddr          string
	SecretKey         []byte
	SandboxURL        string
	DataDir           string
	LogLevel          string
	ConnectTimeout    time.Duration
	PlaybooksDir      string
	PlatformTimeout   time.Duration
	MonitorInterval   time.Duration
}

// FromEnv reads Config from the process environment.
func FromEnv() (Config, error) {
	return FromLookup(os.LookupEnv)
}

// FromLookup reads Config through lookup, so tests need not touch the
// process environment.
func FromLookup(lookup func(string) (string, bool)) (Config, error) {
	get := func(name, def string) string {
		if v, ok := lookup(name); ok && strings.TrimSpace(v) != "" {
			return strings.TrimSpace(v)
		}
		return def
	}
	c := Config{
		DatabaseURL:       get(EnvDatabaseURL, ""),
		TemporalAddress:   get(EnvTemporalAddress, DefaultTemporalAddress),
		TemporalNamespace: get(EnvTemporalNamespace, DefaultTemporalNamespace),
		TaskQueue:         get(EnvTaskQueue, DefaultTaskQueue),
		HTTPAddr:          get(EnvHTTPAddr, DefaultHTTPAddr),
		SandboxURL:        strings.TrimRight(get(EnvSandboxURL, ""), "/"),
		DataDir:           get(EnvDataDir, DefaultDataDir),
		LogLevel:          get(EnvLogLevel, "info"),
		ConnectTimeout:    DefaultConnectTimeout,
		PlaybooksDir:      get(EnvPlaybooksDir, ""),
		PlatformTimeout:   30 * time.Second,
	}
	if v := get(EnvPlatformTimeout, ""); v != "" {
		d, err := time.ParseDuration(v)
		if err != nil || d <= 0 {
			return Config{}, fmt.Errorf("%s: %q is not a positive duration like 10s", EnvPlatformTimeout, v)
		}
		c.PlatformTimeout = d
	}
	c.MonitorInterval = 10 * time.Second
	if v := get(EnvMonitorInterval, ""); v != "" {
		d, err := time.ParseDuration(v)
		if err != nil || d < time.Second || d > 10*time.Second {
			return Config{}, fmt.Errorf("%s: %q is not a duration between 1s and 10s", EnvMonitorInterval, v)
		}
		c.MonitorInterval = d
	}
	if v := get(EnvConnectTimeout, ""); v != "" {
		d, err := time.ParseDuration(v)
		if err != nil || d <= 0 {
			return Config{}, fmt.Errorf("%s: %q is not a positive duration like 90s or 5m", EnvConnectTimeout, v)
		}
		c.ConnectTimeout = d
	}
	if v := get(EnvSecretKey, ""); v != "" {
		key, err := DecodeKey(v)
		if err != nil {
			return Config{}, fmt.Errorf("%s: %w", EnvSecretKey, err)
		}
		c.SecretKey = key
	}
	switch c.LogLevel {
	case "debug", "info", "warn", "error":
	default:
		return Config{}, fmt.Errorf("%s: %q is not one of debug, info, warn, error", EnvLogLevel, c.LogLevel)
	}
	return c, nil
}

// DecodeKey parses a base64 (standard or URL alphabet) 32-byte key.
func DecodeKey(s string) ([]byte, error) {
	for _, enc := range []*base64.Encoding{base64.StdEncoding, base64.URLEncoding, base64.RawStdEncoding, base64.RawURLEncoding} {
		if key, err := enc.DecodeString(s); err == nil {
			if len(key) != 32 {
				return nil, fmt.Errorf("key is %d bytes, want 32 (generate one with: head -c32 /dev/urandom | base64)", len(key))
			}
			return key, nil
		}
	}
	return nil, fmt.Errorf("key is not base64 (generate one with: head -c32 /dev/urandom | base64)")
}
