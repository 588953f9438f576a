// Package telemetry defines cmo's Prometheus metrics: the API's requests,
// mention ingestion, publishing, crisis detection latency, and the Temporal
// SDK's own metrics. Every metric lives in a registry the caller passes in,
// so tests and several stacks in one process never share counters.
package telemetry

import (
	"net/http"
	"strconv"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"go.temporal.io/sdk/client"
)

// Metric names, for dashboards and alerts to refer to.
const (
	HTTPRequests      = "cmo_http_requests_total"
	HTTPDuration      = "cmo_http_request_duration_seconds"
	MentionsReceived  = "cmo_mentions_received_total"
	MentionsStored    = "cmo_mentions_stored_total"
	MentionsDuplicate = "cmo_mentions_duplicates_total"
	PostsPublished    = "cmo_posts_published_total"
	PostsFailed       = "cmo_posts_failed_total"
	DetectionLatency  = "cmo_crisis_detection_latency_seconds"
)

// detectionBuckets cover a monitor that sees a spike within its tick (1 s
// to 10 s, sooner when nudged) up to one that is minutes late: anything in
// the last buckets means detection is not keeping up.
var detectionBuckets = []float64{0.1, 0.25, 0.5, 1, 2, 3, 5, 7.5, 10, 15, 20, 30, 45, 60, 120, 300}

// Metrics records what cmo does. A nil *Metrics records nothing, so code
// that runs without metrics (tests, cmo simulate) needs no checks.
type Metrics struct {
	reg *prometheus.Registry

	httpRequests *prometheus.CounterVec
	httpDuration *prometheus.HistogramVec

	mentionsReceived  prometheus.Counter
	mentionsStored    prometheus.Counter
	mentionsDuplicate prometheus.Counter

	postsPublished *prometheus.CounterVec
	postsFailed    *prometheus.CounterVec

	detection prometheus.Histogram

	temporal *sdkCollector
}

// New registers cmo's metrics in reg.
func New(reg *prometheus.Registry) *Metrics {
	m := &Metrics{
		reg: reg,
		httpRequests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: HTTPRequests,
			Help: "API requests answered, by method, route pattern (never the raw URL) and status code.",
		}, []string{"method", "route", "code"}),
		httpDuration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name: HTTPDuration,
			Help: "Time the API took to answer, by method and route pattern.",
			// From a cached read to a 30 s backtest or a 32 MiB import.
			Buckets: []float64{0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60},
		}, []string{"method", "route"}),
		mentionsReceived: prometheus.NewCounter(prometheus.CounterOpts{
			Name: MentionsReceived,
			Help: "Mentions in ingestion requests that passed validation; received minus stored minus duplicates were refused by the database (the client was told to retry).",
		}),
		mentionsStored: prometheus.NewCounter(prometheus.CounterOpts{
			Name: MentionsStored,
			Help: "Mentions written for the first time.",
		}),
		mentionsDuplicate: prometheus.NewCounter(prometheus.CounterOpts{
			Name: MentionsDuplicate,
			Help: "Mentions skipped because the same brand, source and external id was stored already.",
		}),
		postsPublished: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: PostsPublished,
			Help: "Posts that went live, by platform: posted, or found live by reading the channel back after an attempt that never recorded its outcome.",
		}, []string{"platform"}),
		postsFailed: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: PostsFailed,
			Help: "Publish attempts the platform (or its limits) refused, by platform and kind (transient, rate-limited, auth, permanent); transient and rate-limited ones are retried.",
		}, []string{"platform", "kind"}),
		detection: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name:    DetectionLatency,
			Help:    "Seconds from the newest mention of the window that triggered a crisis to the start of the crisis workflow.",
			Buckets: detectionBuckets,
		}),
		temporal: newSDKCollector(),
	}
	reg.MustRegister(m.httpRequests, m.httpDuration, m.mentionsReceived, m.mentionsStored, m.mentionsDuplicate,
		m.postsPublished, m.postsFailed, m.detection, m.temporal)
	return m
}

// NewRegistry is the registry the binary uses: cmo's metrics plus the Go
// runtime's and the process's (memory, goroutines, open files, CPU).
func NewRegistry() *prometheus.Registry {
	reg := prometheus.NewRegistry()
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	return reg
}

// Handler serves the registry in the Prometheus text format. A metric that
// fails to gather is left out instead of failing the whole scrape.
func (m *Metrics) Handler() http.Handler {
	reg := prometheus.NewRegistry()
	if m != nil {
		reg = m.reg
	}
	return promhttp.HandlerFor(reg, promhttp.HandlerOpts{ErrorHandling: promhttp.ContinueOnError})
}

// Temporal is the handler to set as client.Options.MetricsHandler: the
// SDK's client and worker metrics land in the same registry. Nil when m
// is, which the SDK takes as "no metrics".
func (m *Metrics) Temporal() client.MetricsHandler {
	if m == nil {
		return nil
	}
	return sdkHandler{c: m.temporal}
}

// HTTPRequest records one answered API request. route is the pattern the
// router matched ("/v1/campaigns/:id"), which keeps the number of series
// bounded whatever URLs clients send.
func (m *Metrics) HTTPRequest(method, route string, status int, took time.Duration) {
	if m == nil {
		return
	}
	m.httpRequests.WithLabelValues(method, route, strconv.Itoa(status)).Inc()
	m.httpDuration.WithLabelValues(method, route).Observe(took.Seconds())
}

// MentionsReceived counts mentions of a valid request, before they are
// stored.
func (m *Metrics) MentionsReceived(n int) {
	if m == nil {
		return
	}
	m.mentionsReceived.Add(float64(n))
}

// MentionsStored counts what one committed batch did.
func (m *Metrics) MentionsStored(inserted, duplicates int) {
	if m == nil {
		return
	}
	m.mentionsStored.Add(float64(inserted))
	m.mentionsDuplicate.Add(float64(duplicates))
}

// PostPublished counts a post that went live on platform.
func (m *Metrics) PostPublished(platform string) {
	if m == nil {
		return
	}
	m.postsPublished.WithLabelValues(platform).Inc()
}

// PostFailed counts a publish attempt refused on platform; kind says
// whether it is retried (transient, rate-limited) or not (auth, permanent).
func (m *Metrics) PostFailed(platform, kind string) {
	if m == nil {
		return
	}
	m.postsFailed.WithLabelValues(platform, kind).Inc()
}

// CrisisDetected records how long after its newest evidence a crisis
// workflow started. A negative latency (a mention stamped ahead of our
// clock) counts as zero.
func (m *Metrics) CrisisDetected(latency time.Duration) {
	if m == nil {
		return
	}
	m.detection.Observe(max(latency, 0).Seconds())
}
