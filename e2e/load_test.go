package e2e

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/cmo-dev/cmo/access"
	"github.com/cmo-dev/cmo/devstack"
	"github.com/cmo-dev/cmo/playbooks"
	"github.com/cmo-dev/cmo/workflows"
)

// The load test drives the API of one embedded stack on loopback with
// three open-loop streams at fixed rates, all at once: campaign launches,
// campaign status reads and mention ingestion. It is a measurement, so it
// runs only when asked:
//
//	CMO_LOAD=60s go test ./e2e/ -run TestLoad -v
//
// and, when run, fails on any error. CMO_LOAD_REPORT names a file to
// write the Markdown table to (make bench puts it in BENCHMARKS.md).

// Rates of the streams, chosen so that two shared cores sustain them with
// headroom (the stack and this generator share the cores). A status read
// is a Temporal describe and query, the dearest of the three: at 50/s its
// p99 is already four times that at 20/s on a quiet machine.
const (
	loadLaunchRate = 5  // POST /v1/campaigns a second
	loadStatusRate = 20 // GET /v1/campaigns/{id} a second
	loadIngestRate = 10 // POST /v1/mentions a second
	loadBatch      = 100
	loadBrand      = "loadtest" // mentions go to a brand of their own
	// Every stream has a key of its own, and the per-key limit stays on
	// (its check is part of every request) at five times the fastest
	// stream: it never refuses the load, even the backlog a stall of the
	// generator of up to five seconds sends at once.
	loadKeyRate  = 5 * loadStatusRate
	loadKeyBurst = 5 * loadStatusRate
)

// loadPlaybook launches as first-campaign does (draft, two sandbox posts
// with the publish ledger, report) but without the approval, so that
// every launch runs to completion on its own.
const loadPlaybook = `apiVersion: cmo/v1
kind: Campaign
name: load-launch
title: Launch under load
params:
  product: {type: string}
steps:
  - id: draft
    content: {template: "{{.product}} is here! Try it today.", hashtags: [launch], channels: [sandbox]}
  - id: launch
    publish: {}
  - id: report
    report: {}
`

// loadStream is one open-loop stream: request i is due at start + i/rate.
type loadStream struct {
	name  string
	rate  float64
	key   string
	build func(i int) (*http.Request, error)
	// ok sees the body of each 2xx answer.
	ok   func(i int, body []byte)
	sent int // by run alone

	mu        sync.Mutex
	latencies []time.Duration
	errors    int
	statuses  map[int]int
	firstErr  string
	lastDone  time.Time
}

func (s *loadStream) record(lat time.Duration, status int, err error, body []byte) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.latencies = append(s.latencies, lat)
	if now := time.Now(); now.After(s.lastDone) {
		s.lastDone = now
	}
	if err == nil && status/100 == 2 {
		return
	}
	s.errors++
	if err == nil {
		s.statuses[status]++
		err = fmt.Errorf("%d %s", status, strings.TrimSpace(string(body)))
	}
	if s.firstErr == "" {
		s.firstErr = err.Error()
	}
}

// run sends the stream's requests from start until end. Each request is
// due at a fixed instant and goes out then in a goroutine of its own,
// however long earlier ones take, and its latency is counted from that
// instant, not from when it was actually sent: a slow answer cannot hold
// back the next requests and hide its cost (coordinated omission), and
// the generator's own lateness counts against the system too. A
// time.Ticker would drop the ticks it is late for; the instants are
// computed instead.
func (s *loadStream) run(hc *http.Client, start, end time.Time) {
	var wg sync.WaitGroup
	for i := 0; ; i++ {
		due := start.Add(time.Duration(float64(i) * float64(time.Second) / s.rate))
		if !due.Before(end) {
			break
		}
		time.Sleep(time.Until(due))
		s.sent++
		wg.Go(func() {
			req, err := s.build(i)
			if err != nil {
				s.record(time.Since(due), 0, err, nil)
				return
			}
			req.Header.Set("Authorization", "Bearer "+s.key)
			resp, err := hc.Do(req)
			if err != nil {
				s.record(time.Since(due), 0, err, nil)
				return
			}
			body, err := io.ReadAll(resp.Body)
			resp.Body.Close()
			s.record(time.Since(due), resp.StatusCode, err, body)
			if err == nil && resp.StatusCode/100 == 2 && s.ok != nil {
				s.ok(i, body)
			}
		})
	}
	wg.Wait()
}

// percentile picks from sorted samples as HdrHistogram's
// ValueAtPercentile does (the sample of rank p/100·n rounded, at least 1),
// on the exact values rather than its buckets.
func percentile(sorted []time.Duration, p float64) time.Duration {
	if len(sorted) == 0 {
		return 0
	}
	rank := int(p/100*float64(len(sorted)) + 0.5)
	return sorted[min(max(rank, 1), len(sorted))-1]
}

func millis(d time.Duration) string {
	return fmt.Sprintf("%.1f ms", float64(d)/float64(time.Millisecond))
}

func TestLoad(t *testing.T) {
	spec := os.Getenv("CMO_LOAD")
	if spec == "" {
		t.Skip("a measurement: CMO_LOAD=60s runs it")
	}
	dur, err := time.ParseDuration(spec)
	require.NoError(t, err, "CMO_LOAD is a duration such as 60s")

	dir := t.TempDir()
	require.NoError(t, os.WriteFile(filepath.Join(dir, "load-launch.yaml"), []byte(loadPlaybook), 0o644))
	lib, err := playbooks.Load(dir)
	require.NoError(t, err)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	log := slog.New(slog.NewTextHandler(testWriter{t}, &slog.HandlerOptions{Level: slog.LevelWarn}))
	s, err := devstack.Start(ctx, devstack.Options{DataDir: dataDir(t), UIPort: -1, Log: log, Playbooks: lib,
		RateLimit: loadKeyRate, RateBurst: loadKeyBurst})
	require.NoError(t, err)
	registerAPI(s.APIURL, s.APIKey)
	t.Cleanup(s.Close)

	// The mentions' brand is made through the API, so it has its monitor
	// running as a real brand does.
	code, body := api{t: t, base: s.APIURL}.do("POST", "/v1/brands", map[string]any{"id": loadBrand, "name": "Load test"})
	require.Equal(t, 201, code, body)
	key := func(actor string, role access.Role, brand string) string {
		_, secret, err := s.Store.CreateAPIKey(ctx, actor, role, []string{brand}, "load")
		require.NoError(t, err)
		return secret
	}

	// One client for all streams, with enough idle connections that the
	// streams reuse them rather than opening one per request.
	hc := &http.Client{Timeout: 30 * time.Second, Transport: &http.Transport{MaxIdleConns: 512, MaxIdleConnsPerHost: 512}}
	run := time.Now().UnixNano()

	var launchedMu sync.Mutex
	var launched []string
	launch := &loadStream{name: "launch: POST /v1/campaigns", rate: loadLaunchRate, key: key("load-marketer", access.Marketer, "demo"),
		build: func(i int) (*http.Request, error) {
			raw, _ := json.Marshal(map[string]any{"id": fmt.Sprintf("load-%d", i), "brand": "demo", "playbook": "load-launch",
				"params": map[string]any{"product": fmt.Sprintf("Load Blend %d-%d", run, i)}})
			req, err := http.NewRequest("POST", s.APIURL+"/v1/campaigns", bytes.NewReader(raw))
			if err == nil {
				req.Header.Set("Content-Type", "application/json")
			}
			return req, err
		},
		ok: func(i int, _ []byte) {
			launchedMu.Lock()
			defer launchedMu.Unlock()
			launched = append(launched, fmt.Sprintf("load-%d", i))
		},
	}

	// Status reads pick among the campaigns launched so far, running and
	// finished alike; a few launched before the clock starts give the
	// first reads something to read.
	const seeded = 5
	var seeds []string
	for i := range seeded {
		id := fmt.Sprintf("load-seed-%d", i)
		code, body := api{t: t, base: s.APIURL}.doAs(launch.key, "POST", "/v1/campaigns", map[string]any{
			"id": id, "brand": "demo", "playbook": "load-launch", "params": map[string]any{"product": "Seed " + id}})
		require.Equal(t, 201, code, body)
		seeds = append(seeds, id)
	}
	launched = append(launched, seeds...)
	pick := rand.New(rand.NewPCG(1, 2))
	status := &loadStream{name: "status: GET /v1/campaigns/{id}", rate: loadStatusRate, key: key("load-viewer", access.Viewer, "demo"),
		build: func(int) (*http.Request, error) {
			launchedMu.Lock()
			id := launched[pick.IntN(len(launched))]
			launchedMu.Unlock()
			return http.NewRequest("GET", s.APIURL+"/v1/campaigns/"+id, nil)
		},
	}

	// Bodies are made before the clock starts, so the latency is the
	// API's: calm mentions, which open no crisis.
	bodies := make([][]byte, int(dur.Seconds()*loadIngestRate)+1)
	for i := range bodies {
		var buf bytes.Buffer
		enc := json.NewEncoder(&buf)
		for _, m := range mentionsAt(loadBrand, fmt.Sprintf("load%d-%d", run, i), loadBatch, false, time.Now()) {
			require.NoError(t, enc.Encode(m))
		}
		bodies[i] = buf.Bytes()
	}
	ingest := &loadStream{name: fmt.Sprintf("ingestion: POST /v1/mentions, %d mentions each", loadBatch), rate: loadIngestRate,
		key: key("load-listener", access.Marketer, loadBrand),
		build: func(i int) (*http.Request, error) {
			req, err := http.NewRequest("POST", s.APIURL+"/v1/mentions", bytes.NewReader(bodies[i%len(bodies)]))
			if err == nil {
				req.Header.Set("Content-Type", "application/x-ndjson")
			}
			return req, err
		},
	}

	streams := []*loadStream{launch, status, ingest}
	start := time.Now().Add(100 * time.Millisecond)
	end := start.Add(dur)
	var wg sync.WaitGroup
	for _, st := range streams {
		st.statuses = map[int]int{}
		wg.Go(func() { st.run(hc, start, end) })
	}
	wg.Wait()

	// The launches are accepted by the API, then run by the worker: every
	// campaign must still complete, and how long it took under load is
	// part of the picture.
	var took []time.Duration
	var unfinished []string
	wctx, wcancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer wcancel()
	for _, id := range launched {
		var res workflows.CampaignResult
		wid := workflows.CampaignWorkflowID(id)
		if err := s.Client.GetWorkflow(wctx, wid, "").Get(wctx, &res); err != nil || res.Status != workflows.StatusCompleted || len(res.Posts) != 2 {
			unfinished = append(unfinished, fmt.Sprintf("%s: %s, %d posts, %v", id, res.Status, len(res.Posts), err))
			continue
		}
		d, err := s.Client.DescribeWorkflowExecution(wctx, wid, "")
		require.NoError(t, err)
		info := d.GetWorkflowExecutionInfo()
		took = append(took, info.GetCloseTime().AsTime().Sub(info.GetStartTime().AsTime()))
	}
	slices.Sort(took)

	var md strings.Builder
	fmt.Fprintf(&md, "%g s of three open-loop streams at once, each at a fixed rate on a key of\n"+
		"its own (the per-key limit on, at %d requests/s with a burst of %d, never\n"+
		"reached). Latency runs from each request's scheduled instant to the end of\n"+
		"its answer, so a stall counts against every request it holds up; the\n"+
		"achieved rate is answers over the time from the first scheduled instant\n"+
		"to the last answer.\n\n", dur.Seconds(), loadKeyRate, loadKeyBurst)
	md.WriteString("| stream | target rate | sent | errors | p50 | p90 | p99 | max | achieved rate |\n")
	md.WriteString("| --- | --- | --- | --- | --- | --- | --- | --- | --- |\n")
	for _, st := range streams {
		slices.Sort(st.latencies)
		elapsed := st.lastDone.Sub(start)
		fmt.Fprintf(&md, "| %s | %g/s | %d | %d | %s | %s | %s | %s | %.2f/s |\n", st.name, st.rate, st.sent, st.errors,
			millis(percentile(st.latencies, 50)), millis(percentile(st.latencies, 90)), millis(percentile(st.latencies, 99)),
			millis(percentile(st.latencies, 100)), float64(len(st.latencies))/elapsed.Seconds())
	}
	for _, st := range streams {
		if st.errors > 0 {
			fmt.Fprintf(&md, "\n**%s: %d errors** (statuses %v), the first: %s\n", st.name, st.errors, st.statuses, st.firstErr)
			t.Errorf("%s: %d errors (statuses %v), the first: %s", st.name, st.errors, st.statuses, st.firstErr)
		}
	}
	fmt.Fprintf(&md, "\nCampaigns launched, %d of them before the clock: %d; completed with their\n"+
		"2 sandbox posts: %d. Launch to completion: p50 %s, p99 %s, max %s.\n",
		seeded, len(launched), len(took), millis(percentile(took, 50)), millis(percentile(took, 99)), millis(percentile(took, 100)))
	if len(unfinished) > 0 {
		fmt.Fprintf(&md, "\n**%d campaigns did not complete**, the first: %s\n", len(unfinished), unfinished[0])
		t.Errorf("%d campaigns did not complete, the first: %s", len(unfinished), unfinished[0])
	}
	t.Log("\n" + md.String())
	// Written failed or not: a run with errors is reported as such.
	if out := os.Getenv("CMO_LOAD_REPORT"); out != "" {
		require.NoError(t, os.WriteFile(out, []byte(md.String()), 0o644))
	}
}

func TestPercentileAsHdrHistogram(t *testing.T) {
	var samples []time.Duration
	for i := 1; i <= 100; i++ {
		samples = append(samples, time.Duration(i))
	}
	require.Equal(t, time.Duration(50), percentile(samples, 50))
	require.Equal(t, time.Duration(99), percentile(samples, 99))
	require.Equal(t, time.Duration(100), percentile(samples, 100))
	require.Equal(t, time.Duration(1), percentile(samples, 0))
	// Rounded rank: 99 % of 10 samples is rank 10, the largest.
	require.Equal(t, time.Duration(10), percentile(samples[:10], 99))
	require.Equal(t, time.Duration(0), percentile(nil, 50))
}
