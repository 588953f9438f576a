// Package config reads cmo's settings from the environment once, in cmd/,
// so that every other package receives its configuration explicitly.
package config

import (
	"encoding/base64"
	"fmt"
	"net"
	"net/mail"
	"net/url"
	"os"
	"strconv"
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
	EnvLogFormat         = "CMO_LOG_FORMAT"
	EnvMetricsAddr       = "CMO_METRICS_ADDR"
	EnvConnectTimeout    = "CMO_CONNECT_TIMEOUT"
	EnvPlaybooksDir      = "CMO_PLAYBOOKS_DIR"
	EnvPlatformTimeout   = "CMO_PLATFORM_TIMEOUT"
	EnvMonitorInterval   = "CMO_MONITOR_INTERVAL"
	EnvAPIURL            = "CMO_API_URL"
	EnvAPIKey            = "CMO_API_KEY"
	EnvRateLimit         = "CMO_RATE_LIMIT"
	EnvSMTPAddr          = "CMO_SMTP_ADDR"
	EnvSMTPFrom          = "CMO_SMTP_FROM"
	EnvSMTPUsername      = "CMO_SMTP_USERNAME"
	EnvSMTPPassword      = "CMO_SMTP_PASSWORD"
	EnvPagerDutyURL      = "CMO_PAGERDUTY_URL"
	EnvPublicURL         = "CMO_PUBLIC_URL"
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
	EnvLogFormat:         "json (default: one JSON object a line, for log collectors) or text (key=value, for reading)",
	EnvMetricsAddr:       "listen address of a separate Prometheus /metrics endpoint (like :9090); unset, there is none. The API serves /metrics on its own address anyway; cmo worker, which has no API, needs this to be scraped",
	EnvConnectTimeout:    "how long server and worker keep retrying to reach Temporal and PostgreSQL at start",
	EnvPlaybooksDir:      "directory of extra playbooks (*.yaml) added to the shipped ones; same name replaces",
	EnvPlatformTimeout:   "timeout of one HTTP call to a platform (default 30s); a call that times out is retried after reading the channel back",
	EnvAPIURL:            "cmo mentions import, cmo inbox: base URL of the cmo API (default http://127.0.0.1:8080)",
	EnvAPIKey:            "cmo mentions import, cmo inbox: the API key to send (default: the dev stack's, in " + EnvDataDir + "/api-key)",
	EnvRateLimit:         "API: requests a second each key may make, and how many at once, as RATE/BURST (default 50/100; 0 for no limit)",
	EnvMonitorInterval:   "how often each brand's monitor evaluates crisis detection when no mentions arrive (default 10s, 1s to 10s); new mentions wake it sooner",
	EnvSMTPAddr:          "mail server host:port for e-mail notifications (STARTTLS when offered); unset, e-mail targets stay unrouted",
	EnvSMTPFrom:          "sender of e-mail notifications, an address or \"Name <address>\" (required with " + EnvSMTPAddr + ")",
	EnvSMTPUsername:      "mail server login (AUTH PLAIN, sent only over TLS or to localhost)",
	EnvSMTPPassword:      "mail server password",
	EnvPagerDutyURL:      "PagerDuty Events API v2 endpoint (default " + DefaultPagerDutyURL + ")",
	EnvPublicURL:         "worker: the API's public base URL (https://cmo.example.com); links in campaign posts become tracked short links there (/l/CODE); unset, links go out as written",
}

// Defaults used when a variable is unset.
const (
	DefaultTemporalAddress   = "127.0.0.1:7233"
	DefaultTemporalNamespace = "default"
	DefaultTaskQueue         = "cmo"
	DefaultHTTPAddr          = ":8080"
	DefaultDataDir           = ".cmo"
	DefaultConnectTimeout    = 5 * time.Minute
	DefaultPagerDutyURL      = "https://events.pagerduty.com/v2/enqueue"
	DefaultRateLimit         = 50
	DefaultRateBurst         = 100
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
	LogFormat         string
	MetricsAddr       string
	ConnectTimeout    time.Duration
	PlaybooksDir      string
	PlatformTimeout   time.Duration
	MonitorInterval   time.Duration
	// The mail server for e-mail notifications; SMTPAddr empty means none.
	SMTPAddr     string
	SMTPFrom     string
	SMTPUsername string
	SMTPPassword string
	PagerDutyURL string
	// PublicURL is where people reach the API's tracked links; empty
	// turns link tracking off.
	PublicURL string
	// RateLimit is each API key's sustained requests a second (negative:
	// no limit) and RateBurst how many it may send at once.
	RateLimit float64
	RateBurst int
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
		LogFormat:         get(EnvLogFormat, "json"),
		MetricsAddr:       get(EnvMetricsAddr, ""),
		ConnectTimeout:    DefaultConnectTimeout,
		PlaybooksDir:      get(EnvPlaybooksDir, ""),
		PlatformTimeout:   30 * time.Second,
		SMTPAddr:          get(EnvSMTPAddr, ""),
		SMTPFrom:          get(EnvSMTPFrom, ""),
		SMTPUsername:      get(EnvSMTPUsername, ""),
		PagerDutyURL:      get(EnvPagerDutyURL, DefaultPagerDutyURL),
		PublicURL:         strings.TrimRight(get(EnvPublicURL, ""), "/"),
	}
	if c.PublicURL != "" {
		if u, err := url.Parse(c.PublicURL); err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" || u.RawQuery != "" {
			return Config{}, fmt.Errorf("%s: %q is not an http(s) base URL like https://cmo.example.com", EnvPublicURL, c.PublicURL)
		}
	}
	// A password is taken as given: spaces may be part of it.
	if v, ok := lookup(EnvSMTPPassword); ok && strings.TrimSpace(v) != "" {
		c.SMTPPassword = v
	}
	if err := c.checkNotifiers(); err != nil {
		return Config{}, err
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
	c.RateLimit, c.RateBurst = DefaultRateLimit, DefaultRateBurst
	if v := get(EnvRateLimit, ""); v != "" {
		r, b, err := parseRate(v)
		if err != nil {
			return Config{}, fmt.Errorf("%s: %w", EnvRateLimit, err)
		}
		c.RateLimit, c.RateBurst = r, b
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
	if c.LogFormat != "json" && c.LogFormat != "text" {
		return Config{}, fmt.Errorf("%s: %q is not json or text", EnvLogFormat, c.LogFormat)
	}
	if c.MetricsAddr != "" {
		if _, port, err := net.SplitHostPort(c.MetricsAddr); err != nil || port == "" {
			return Config{}, fmt.Errorf("%s: %q is not a listen address like :9090 or 127.0.0.1:9090", EnvMetricsAddr, c.MetricsAddr)
		}
	}
	return c, nil
}

// checkNotifiers refuses notifier settings that would only fail at the
// first notification, hours later, in the middle of a crisis.
func (c Config) checkNotifiers() error {
	if c.SMTPAddr != "" {
		if host, port, err := net.SplitHostPort(c.SMTPAddr); err != nil || host == "" || port == "" {
			return fmt.Errorf("%s: %q is not host:port like smtp.example.com:587", EnvSMTPAddr, c.SMTPAddr)
		}
		if c.SMTPFrom == "" {
			return fmt.Errorf("%s: the sender address is required when %s is set", EnvSMTPFrom, EnvSMTPAddr)
		}
		if _, err := mail.ParseAddress(c.SMTPFrom); err != nil {
			return fmt.Errorf("%s: %q is not an address like cmo@example.com or \"cmo <cmo@example.com>\"", EnvSMTPFrom, c.SMTPFrom)
		}
	}
	if (c.SMTPUsername == "") != (c.SMTPPassword == "") {
		return fmt.Errorf("%s and %s go together: set both or neither", EnvSMTPUsername, EnvSMTPPassword)
	}
	if u, err := url.Parse(c.PagerDutyURL); err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" {
		return fmt.Errorf("%s: %q is not an http(s) URL", EnvPagerDutyURL, c.PagerDutyURL)
	}
	return nil
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

// parseRate reads RATE/BURST ("50/100"); a bare RATE bursts twice as
// much; "0" means no limit (-1).
func parseRate(v string) (float64, int, error) {
	rs, bs, hasBurst := strings.Cut(v, "/")
	r, err := strconv.ParseFloat(rs, 64)
	if err != nil || r < 0 {
		return 0, 0, fmt.Errorf("%q is not RATE/BURST like 50/100 (requests a second, at once)", v)
	}
	if r == 0 {
		return -1, 0, nil
	}
	b := int(2 * r)
	if hasBurst {
		if b, err = strconv.Atoi(bs); err != nil || b < 1 {
			return 0, 0, fmt.Errorf("%q is not RATE/BURST like 50/100: the burst must be a whole number from 1", v)
		}
	}
	return r, max(b, 1), nil
}
