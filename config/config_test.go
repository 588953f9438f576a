package config

import (
	"bytes"
	"encoding/base64"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// lookupMap adapts a map to FromLookup's lookup function.
func lookupMap(env map[string]string) func(string) (string, bool) {
	return func(name string) (string, bool) {
		v, ok := env[name]
		return v, ok
	}
}

func TestFromLookupDefaults(t *testing.T) {
	c, err := FromLookup(lookupMap(nil))
	require.NoError(t, err)
	require.Equal(t, Config{
		TemporalAddress:   DefaultTemporalAddress,
		TemporalNamespace: DefaultTemporalNamespace,
		TaskQueue:         DefaultTaskQueue,
		HTTPAddr:          DefaultHTTPAddr,
		DataDir:           DefaultDataDir,
		LogLevel:          "info",
		LogFormat:         "json",
		ConnectTimeout:    DefaultConnectTimeout,
		PlatformTimeout:   30 * time.Second,
		MonitorInterval:   10 * time.Second,
		PagerDutyURL:      DefaultPagerDutyURL,
		RateLimit:         DefaultRateLimit,
		RateBurst:         DefaultRateBurst,
	}, c)

	// Blank values count as unset.
	c, err = FromLookup(lookupMap(map[string]string{EnvTemporalAddress: "  ", EnvLogLevel: "", EnvConnectTimeout: " "}))
	require.NoError(t, err)
	require.Equal(t, DefaultTemporalAddress, c.TemporalAddress)
	require.Equal(t, "info", c.LogLevel)
	require.Equal(t, DefaultConnectTimeout, c.ConnectTimeout)
}

func TestFromLookupOverrides(t *testing.T) {
	key := bytes.Repeat([]byte{7}, 32)
	c, err := FromLookup(lookupMap(map[string]string{
		EnvDatabaseURL:       "postgres://cmo:cmo@db:5432/cmo",
		EnvTemporalAddress:   " temporal:7233 ",
		EnvTemporalNamespace: "cmo",
		EnvTaskQueue:         "q",
		EnvHTTPAddr:          ":9090",
		EnvSecretKey:         base64.StdEncoding.EncodeToString(key),
		EnvSandboxURL:        "http://cmo-server:8080/sandbox/",
		EnvDataDir:           "/data",
		EnvLogLevel:          "debug",
		EnvLogFormat:         "text",
		EnvMetricsAddr:       ":9090",
		EnvConnectTimeout:    "90s",
		EnvMonitorInterval:   "2s",
		EnvPublicURL:         "https://cmo.example.com/",
		EnvRateLimit:         "5/20",
	}))
	require.NoError(t, err)
	require.Equal(t, Config{
		DatabaseURL:       "postgres://cmo:cmo@db:5432/cmo",
		TemporalAddress:   "temporal:7233",
		TemporalNamespace: "cmo",
		TaskQueue:         "q",
		HTTPAddr:          ":9090",
		SecretKey:         key,
		SandboxURL:        "http://cmo-server:8080/sandbox",
		DataDir:           "/data",
		LogLevel:          "debug",
		LogFormat:         "text",
		MetricsAddr:       ":9090",
		ConnectTimeout:    90 * time.Second,
		PlatformTimeout:   30 * time.Second,
		MonitorInterval:   2 * time.Second,
		PagerDutyURL:      DefaultPagerDutyURL,
		PublicURL:         "https://cmo.example.com",
		RateLimit:         5,
		RateBurst:         20,
	}, c)

	// A bare rate bursts twice as much; 0 turns the limit off.
	c, err = FromLookup(lookupMap(map[string]string{EnvRateLimit: "10"}))
	require.NoError(t, err)
	require.Equal(t, []any{10.0, 20}, []any{c.RateLimit, c.RateBurst})
	c, err = FromLookup(lookupMap(map[string]string{EnvRateLimit: "0"}))
	require.NoError(t, err)
	require.Negative(t, c.RateLimit)

	// The URL-safe alphabet, unpadded, is accepted too.
	c, err = FromLookup(lookupMap(map[string]string{EnvSecretKey: base64.RawURLEncoding.EncodeToString(bytes.Repeat([]byte{0xfb}, 32))}))
	require.NoError(t, err)
	require.Len(t, c.SecretKey, 32)
}

func TestFromLookupErrorsNameTheVariable(t *testing.T) {
	for _, tc := range []struct {
		name    string
		env     map[string]string
		varName string
		detail  string
	}{
		{"timeout not a duration", map[string]string{EnvConnectTimeout: "soon"}, EnvConnectTimeout, `"soon"`},
		{"timeout without unit", map[string]string{EnvConnectTimeout: "90"}, EnvConnectTimeout, `"90"`},
		{"timeout negative", map[string]string{EnvConnectTimeout: "-5s"}, EnvConnectTimeout, "positive"},
		{"timeout zero", map[string]string{EnvConnectTimeout: "0s"}, EnvConnectTimeout, "positive"},
		{"monitor interval too long", map[string]string{EnvMonitorInterval: "1m"}, EnvMonitorInterval, "between 1s and 10s"},
		{"monitor interval too short", map[string]string{EnvMonitorInterval: "100ms"}, EnvMonitorInterval, "between 1s and 10s"},
		{"rate limit not a number", map[string]string{EnvRateLimit: "lots"}, EnvRateLimit, "RATE/BURST"},
		{"rate limit burst", map[string]string{EnvRateLimit: "5/0"}, EnvRateLimit, "burst"},
		{"platform timeout bad", map[string]string{EnvPlatformTimeout: "fast"}, EnvPlatformTimeout, `"fast"`},
		{"key too short", map[string]string{EnvSecretKey: base64.StdEncoding.EncodeToString(make([]byte, 16))}, EnvSecretKey, "16 bytes, want 32"},
		{"key too long", map[string]string{EnvSecretKey: base64.StdEncoding.EncodeToString(make([]byte, 33))}, EnvSecretKey, "33 bytes, want 32"},
		{"key not base64", map[string]string{EnvSecretKey: "not base64!"}, EnvSecretKey, "not base64"},
		{"log level unknown", map[string]string{EnvLogLevel: "verbose"}, EnvLogLevel, `"verbose"`},
		{"log level wrong case", map[string]string{EnvLogLevel: "INFO"}, EnvLogLevel, `"INFO"`},
		{"log format unknown", map[string]string{EnvLogFormat: "logfmt"}, EnvLogFormat, `"logfmt"`},
		{"metrics address without port", map[string]string{EnvMetricsAddr: "localhost"}, EnvMetricsAddr, `"localhost"`},
		{"public URL without scheme", map[string]string{EnvPublicURL: "cmo.example.com"}, EnvPublicURL, "base URL"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := FromLookup(lookupMap(tc.env))
			require.Error(t, err)
			require.Contains(t, err.Error(), tc.varName, "the error must say which variable is wrong")
			require.Contains(t, err.Error(), tc.detail)
		})
	}
}
