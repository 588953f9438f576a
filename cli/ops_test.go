package cli

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/stretchr/testify/require"

	"github.com/cmo-dev/cmo/telemetry"
)

func TestLoggerFormats(t *testing.T) {
	var buf bytes.Buffer
	logger(&buf, "info", "json").Info("request", "route", "/v1/campaigns/:id", "status", 200)
	logger(&buf, "info", "json").Debug("hidden below info")
	var line map[string]any
	require.NoError(t, json.Unmarshal(buf.Bytes(), &line), buf.String())
	require.Equal(t, "INFO", line["level"])
	require.Equal(t, "/v1/campaigns/:id", line["route"])

	buf.Reset()
	logger(&buf, "debug", "text").Debug("request", "status", 200)
	require.True(t, strings.HasPrefix(buf.String(), "time="), buf.String())
	require.Contains(t, buf.String(), "level=DEBUG msg=request status=200")
}

// The worker's metrics listener serves the registry until the command's
// context ends, then stops.
func TestServeMetrics(t *testing.T) {
	m := telemetry.New(prometheus.NewRegistry())
	m.PostPublished("sandbox")
	ctx, stop := context.WithCancel(context.Background())
	defer stop()
	addr, done, err := serveMetrics(ctx, "127.0.0.1:0", m, logger(io.Discard, "info", "json"))
	require.NoError(t, err)

	resp, err := http.Get("http://" + addr + "/metrics")
	require.NoError(t, err)
	body, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	require.NoError(t, err)
	require.Equal(t, http.StatusOK, resp.StatusCode)
	require.Contains(t, string(body), `cmo_posts_published_total{platform="sandbox"} 1`)

	_, _, err = serveMetrics(ctx, addr, m, logger(io.Discard, "info", "json"))
	require.Error(t, err, "a taken port fails at start")

	stop()
	done()
	_, err = net.Dial("tcp", addr)
	require.Error(t, err, "stopped with the command")

	addr, done, err = serveMetrics(ctx, "", m, nil)
	require.NoError(t, err)
	require.Empty(t, addr)
	done()
}
