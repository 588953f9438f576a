package telemetry

import (
	"maps"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"go.temporal.io/sdk/client"
)

// The Temporal SDK names a metric and adds tags as it goes, and one name is
// emitted with different tag sets: temporal_request carries operation,
// namespace and task_queue from the client, and more tags (workflow_type,
// worker_type, …) when the worker makes the same request. Prometheus's
// registry wants one fixed label set per metric name, and refuses a second
// vector of a name with other label names, so "a vector per (name, label
// names)" cannot be registered. Instead one unchecked collector (its
// Describe sends nothing) owns every SDK series: each (name, tag set) is a
// counter, gauge or histogram of its own with the tags as constant labels,
// and Collect sends them all. The exposition format lets series of one
// family carry different labels; at gather time the registry still checks
// that no two series of a family collide and that a family keeps one type
// and one help text.
//
// Names follow Prometheus's conventions: counters end in _total, timers
// become histograms in seconds ending in _seconds, so temporal_request
// is served as temporal_request_total and temporal_request_latency as
// temporal_request_latency_seconds.

// sdkBuckets span a poll answered at once to a workflow that ran for
// minutes (schedule-to-start, end-to-end latencies).
var sdkBuckets = []float64{0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300, 600}

type sdkKind int

const (
	sdkCounter sdkKind = iota
	sdkGauge
	sdkTimer
)

func (k sdkKind) String() string {
	return [...]string{"counter", "gauge", "timer"}[k]
}

// sdkCollector holds every series the SDK has emitted.
type sdkCollector struct {
	mu     sync.RWMutex
	series map[string]prometheus.Metric // by kind, name and tags
	kinds  map[string]sdkKind           // family name → the kind that took it
}

func newSDKCollector() *sdkCollector {
	return &sdkCollector{series: map[string]prometheus.Metric{}, kinds: map[string]sdkKind{}}
}

// Describe sends nothing: that makes the collector unchecked, which is
// what lets one name carry different label sets (see above).
func (c *sdkCollector) Describe(chan<- *prometheus.Desc) {}

// Collect sends every series.
func (c *sdkCollector) Collect(ch chan<- prometheus.Metric) {
	c.mu.RLock()
	ms := slices.Collect(maps.Values(c.series))
	c.mu.RUnlock()
	for _, m := range ms {
		ch <- m
	}
}

// get returns the series of kind for name and the handler's tags, making
// it on first use.
func (c *sdkCollector) get(kind sdkKind, name string, h sdkHandler) prometheus.Metric {
	key := kind.String() + "\xff" + name + "\xff" + h.key
	c.mu.RLock()
	m, ok := c.series[key]
	c.mu.RUnlock()
	if ok {
		return m
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if m, ok := c.series[key]; ok {
		return m
	}
	family := familyName(kind, name)
	if k, taken := c.kinds[family]; taken && k != kind {
		// The SDK used one name for two kinds: keep both, apart.
		family += "_" + kind.String()
	}
	c.kinds[family] = kind
	help := "Temporal SDK metric " + sanitizeName(name) + " (https://docs.temporal.io/references/sdk-metrics)."
	switch kind {
	case sdkCounter:
		m = prometheus.NewCounter(prometheus.CounterOpts{Name: family, Help: help, ConstLabels: h.tags})
	case sdkGauge:
		m = prometheus.NewGauge(prometheus.GaugeOpts{Name: family, Help: help, ConstLabels: h.tags})
	default:
		m = prometheus.NewHistogram(prometheus.HistogramOpts{Name: family, Help: help, ConstLabels: h.tags, Buckets: sdkBuckets})
	}
	c.series[key] = m
	return m
}

// sdkHandler is client.MetricsHandler with a set of tags.
type sdkHandler struct {
	c    *sdkCollector
	tags prometheus.Labels // sanitized names
	key  string            // tags, canonically encoded
}

// WithTags returns a handler with tags added to (or replacing) the
// handler's own.
func (h sdkHandler) WithTags(tags map[string]string) client.MetricsHandler {
	merged := make(prometheus.Labels, len(h.tags)+len(tags))
	maps.Copy(merged, h.tags)
	// Sorted, so that two tags that sanitize alike resolve the same way
	// every time.
	for _, k := range slices.Sorted(maps.Keys(tags)) {
		merged[labelName(k)] = strings.ToValidUTF8(tags[k], "\uFFFD")
	}
	var b strings.Builder
	for _, k := range slices.Sorted(maps.Keys(merged)) {
		// Label names hold no '=' and valid UTF-8 holds no 0xff byte, so
		// the encoding is unambiguous.
		b.WriteString(k)
		b.WriteByte('=')
		b.WriteString(merged[k])
		b.WriteByte(0xff)
	}
	return sdkHandler{c: h.c, tags: merged, key: b.String()}
}

// Counter returns the counter name with the handler's tags.
func (h sdkHandler) Counter(name string) client.MetricsCounter {
	return sdkCounterOf{h.c.get(sdkCounter, name, h).(prometheus.Counter)}
}

// Gauge returns the gauge name with the handler's tags.
func (h sdkHandler) Gauge(name string) client.MetricsGauge {
	return sdkGaugeOf{h.c.get(sdkGauge, name, h).(prometheus.Gauge)}
}

// Timer returns the timer name with the handler's tags, a histogram in
// seconds.
func (h sdkHandler) Timer(name string) client.MetricsTimer {
	return sdkTimerOf{h.c.get(sdkTimer, name, h).(prometheus.Histogram)}
}

type sdkCounterOf struct{ c prometheus.Counter }

// Inc adds d; a Prometheus counter panics on a negative value, which the
// SDK never means to send, so one is dropped rather than crash a worker.
func (c sdkCounterOf) Inc(d int64) {
	if d > 0 {
		c.c.Add(float64(d))
	}
}

type sdkGaugeOf struct{ g prometheus.Gauge }

func (g sdkGaugeOf) Update(v float64) { g.g.Set(v) }

type sdkTimerOf struct{ h prometheus.Histogram }

func (t sdkTimerOf) Record(d time.Duration) { t.h.Observe(d.Seconds()) }

// familyName is the Prometheus name of an SDK metric of kind.
func familyName(kind sdkKind, name string) string {
	n := sanitizeName(name)
	switch {
	case kind == sdkCounter && !strings.HasSuffix(n, "_total"):
		n += "_total"
	case kind == sdkTimer && !strings.HasSuffix(n, "_seconds"):
		n += "_seconds"
	}
	return n
}

// sanitizeName makes name a valid metric name: [a-zA-Z_:][a-zA-Z0-9_:]*.
func sanitizeName(name string) string {
	return sanitize(name, true)
}

// labelName makes a tag key a valid label name ([a-zA-Z_][a-zA-Z0-9_]*)
// that is none of the reserved ones: "__…" belongs to Prometheus and "le"
// to histograms, and tags go on timers too.
func labelName(key string) string {
	n := sanitize(key, false)
	if strings.HasPrefix(n, "__") || n == "le" {
		n = "tag_" + strings.TrimLeft(n, "_")
	}
	return n
}

func sanitize(s string, colons bool) string {
	var b strings.Builder
	for i, r := range s {
		switch {
		case r >= 'a' && r <= 'z', r >= 'A' && r <= 'Z', r == '_', colons && r == ':':
			b.WriteRune(r)
		case r >= '0' && r <= '9':
			if i == 0 {
				b.WriteByte('_')
			}
			b.WriteRune(r)
		default:
			b.WriteByte('_')
		}
	}
	if b.Len() == 0 {
		return "_"
	}
	return b.String()
}
