package telemetry_test

import (
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/stretchr/testify/require"
	"go.temporal.io/sdk/activity"
	"go.temporal.io/sdk/testsuite"
	"go.temporal.io/sdk/workflow"

	"github.com/cmo-dev/cmo/telemetry"
)

// scrape answers what Prometheus would read from the handler.
func scrape(t *testing.T, m *telemetry.Metrics) string {
	t.Helper()
	rec := httptest.NewRecorder()
	m.Handler().ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/metrics", nil))
	require.Equal(t, http.StatusOK, rec.Code)
	body, err := io.ReadAll(rec.Body)
	require.NoError(t, err)
	return string(body)
}

func TestAppMetrics(t *testing.T) {
	reg := prometheus.NewRegistry()
	m := telemetry.New(reg)
	m.HTTPRequest("GET", "/v1/campaigns/:id", 200, 30*time.Millisecond)
	m.HTTPRequest("GET", "/v1/campaigns/:id", 200, 3*time.Second)
	m.HTTPRequest("POST", "/v1/mentions", 503, time.Millisecond)
	m.MentionsReceived(5)
	m.MentionsStored(3, 1)
	m.PostPublished("sandbox")
	m.PostFailed("mastodon", "rate-limited")
	m.CrisisDetected(1500 * time.Millisecond)
	m.CrisisDetected(-time.Second) // a mention stamped ahead of us

	out := scrape(t, m)
	for _, want := range []string{
		`cmo_http_requests_total{code="200",method="GET",route="/v1/campaigns/:id"} 2`,
		`cmo_http_requests_total{code="503",method="POST",route="/v1/mentions"} 1`,
		`cmo_http_request_duration_seconds_bucket{method="GET",route="/v1/campaigns/:id",le="0.05"} 1`,
		`cmo_http_request_duration_seconds_count{method="GET",route="/v1/campaigns/:id"} 2`,
		"cmo_mentions_received_total 5",
		"cmo_mentions_stored_total 3",
		"cmo_mentions_duplicates_total 1",
		`cmo_posts_published_total{platform="sandbox"} 1`,
		`cmo_posts_failed_total{kind="rate-limited",platform="mastodon"} 1`,
		`cmo_crisis_detection_latency_seconds_bucket{le="0.1"} 1`,
		`cmo_crisis_detection_latency_seconds_bucket{le="2"} 2`,
		"cmo_crisis_detection_latency_seconds_count 2",
	} {
		require.Contains(t, out, want)
	}
}

func TestNilMetricsRecordNothing(t *testing.T) {
	var m *telemetry.Metrics
	m.HTTPRequest("GET", "/", 200, time.Second)
	m.MentionsReceived(1)
	m.MentionsStored(1, 0)
	m.PostPublished("x")
	m.PostFailed("x", "auth")
	m.CrisisDetected(time.Second)
	require.Nil(t, m.Temporal())
	require.NotContains(t, scrape(t, m), "cmo_")
}

// The SDK emits one name with different tag sets and tag keys Prometheus
// would refuse; every series must still be served, and the scrape must
// not fail.
func TestSDKHandlerDifferingTagSets(t *testing.T) {
	reg := prometheus.NewRegistry()
	m := telemetry.New(reg)
	h := m.Temporal()
	h.WithTags(map[string]string{"namespace": "default", "operation": "StartWorkflowExecution"}).Counter("temporal_request").Inc(2)
	h.WithTags(map[string]string{"namespace": "default"}).Counter("temporal_request").Inc(1)
	h.WithTags(map[string]string{"namespace": "default"}).WithTags(map[string]string{"namespace": "other"}).Counter("temporal_request").Inc(1)
	h.WithTags(map[string]string{"worker-type": "ActivityWorker", "le": "x", "__name__": "y", "1st": "z"}).Gauge("temporal.worker.slots").Update(7)
	h.WithTags(map[string]string{"activity_type": "Publish"}).Timer("temporal_activity_execution_latency").Record(300 * time.Millisecond)
	h.Counter("temporal_request").Inc(-5) // dropped, never a panic
	// One name used as two kinds stays two families.
	h.Gauge("temporal_request_total").Update(1)

	_, err := reg.Gather()
	require.NoError(t, err)
	out := scrape(t, m)
	for _, want := range []string{
		`temporal_request_total{namespace="default",operation="StartWorkflowExecution"} 2`,
		`temporal_request_total{namespace="default"} 1`,
		`temporal_request_total{namespace="other"} 1`,
		`temporal_request_total 0`,
		`temporal_worker_slots{_1st="z",tag_le="x",tag_name__="y",worker_type="ActivityWorker"} 7`,
		`temporal_activity_execution_latency_seconds_bucket{activity_type="Publish",le="0.5"} 1`,
		`temporal_activity_execution_latency_seconds_sum{activity_type="Publish"} 0.3`,
		`temporal_request_total_gauge 1`,
	} {
		require.Contains(t, out, want)
	}
	// The same series is reused, not made again.
	h.WithTags(map[string]string{"operation": "StartWorkflowExecution", "namespace": "default"}).Counter("temporal_request").Inc(1)
	require.Contains(t, scrape(t, m), `temporal_request_total{namespace="default",operation="StartWorkflowExecution"} 3`)
}

// The SDK itself, running a workflow and a (local) activity, reports
// through the handler.
func TestSDKHandlerInTestEnvironment(t *testing.T) {
	reg := prometheus.NewRegistry()
	m := telemetry.New(reg)
	var s testsuite.WorkflowTestSuite
	s.SetMetricsHandler(m.Temporal())
	env := s.NewTestWorkflowEnvironment()
	greet := func(_ context.Context, name string) (string, error) { return "hello " + name, nil }
	hello := func(ctx workflow.Context) (string, error) {
		ctx = workflow.WithLocalActivityOptions(ctx, workflow.LocalActivityOptions{StartToCloseTimeout: time.Minute})
		var out string
		err := workflow.ExecuteLocalActivity(ctx, "Greet", "cmo").Get(ctx, &out)
		return out, err
	}
	env.RegisterWorkflowWithOptions(hello, workflow.RegisterOptions{Name: "Hello"})
	env.RegisterActivityWithOptions(greet, activity.RegisterOptions{Name: "Greet"})
	env.ExecuteWorkflow("Hello")
	require.True(t, env.IsWorkflowCompleted())
	require.NoError(t, env.GetWorkflowError())

	out := scrape(t, m)
	require.Contains(t, out, `activity_type="Greet"`)
	require.Contains(t, out, "temporal_local_activity_execution_latency_seconds_bucket{")
	n, err := testutil.GatherAndCount(reg, "temporal_local_activity_execution_latency_seconds")
	require.NoError(t, err)
	require.Equal(t, 1, n)
}
