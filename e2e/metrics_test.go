package e2e

import (
	"io"
	"net/http"
	"testing"

	"github.com/stretchr/testify/require"
)

// scrapeMetrics reads GET /metrics as Prometheus does, without a key.
func scrapeMetrics(t *testing.T, apiURL string) string {
	t.Helper()
	resp, err := http.Get(apiURL + "/metrics")
	require.NoError(t, err)
	defer resp.Body.Close()
	require.Equal(t, http.StatusOK, resp.StatusCode)
	b, err := io.ReadAll(resp.Body)
	require.NoError(t, err)
	return string(b)
}

// TestMetricsEndpoint scrapes a running stack: the Temporal client's
// requests made while the stack started (the monitors it started among
// them) are there, from a real Temporal server, and the API counts the
// scrape itself under its route.
func TestMetricsEndpoint(t *testing.T) {
	s := startStack(t)
	out := scrapeMetrics(t, s.APIURL)
	require.Regexp(t, `temporal_request_total\{[^}]*operation="StartWorkflowExecution"[^}]*\} [1-9]`, out)
	require.Contains(t, out, "temporal_request_latency_seconds_bucket{")
	require.Contains(t, out, "go_goroutines ")
	require.Regexp(t, `cmo_http_requests_total\{code="200",method="GET",route="/metrics"\} 1\n`, scrapeMetrics(t, s.APIURL))
}
