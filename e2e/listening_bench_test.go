package e2e

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"slices"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/cmo-dev/cmo/activities"
	"github.com/cmo-dev/cmo/listening"
	"github.com/cmo-dev/cmo/listening/synth"
	"github.com/cmo-dev/cmo/sentiment"
	"github.com/cmo-dev/cmo/store"
)

// listenRun tells apart the mentions of the benchmark's runs, which share
// one stack.
var listenRun atomic.Int64

const ingestRequests, ingestPerRequest = 10, 10_000

// BenchmarkListeningIngest sends the same 100,000 mentions through the
// HTTP API as NDJSON (parsing, validation, lexicon sentiment, COPY,
// buckets) and, in the same iteration, writes them with a raw pgx
// CopyFrom into the same table, and reports both rates and their ratio.
func BenchmarkListeningIngest(b *testing.B) {
	s := sharedStack(b)
	ctx := context.Background()
	if err := s.Store.UpsertBrand(ctx, store.Brand{ID: "ingest", Name: "Ingest"}); err != nil {
		b.Fatal(err)
	}
	base := synth.Generate(synth.Stream{Brand: "ingest", From: time.Now().Add(-24 * time.Hour), To: time.Now(), PerHour: synth.Daily,
		Scale: float64(ingestRequests*ingestPerRequest) / 500, Negative: 0.1, Seed: 1})
	base = base[:min(len(base), ingestRequests*ingestPerRequest)]
	lex := sentiment.New()
	score := func(text, lang string) (float64, string, string) {
		r := lex.Score(text, lang)
		return r.Score, r.Label, r.Lang
	}
	var httpTime, copyTime time.Duration
	n := 0
	for range b.N {
		b.StopTimer()
		run := listenRun.Add(1)
		bodies := make([][]byte, 0, ingestRequests)
		rows := make([]listening.Mention, len(base))
		for i := 0; i < len(base); i += ingestPerRequest {
			var buf bytes.Buffer
			enc := json.NewEncoder(&buf)
			for j := i; j < min(i+ingestPerRequest, len(base)); j++ {
				m := base[j]
				m.ExternalID = fmt.Sprintf("h%d-%d", run, j)
				if err := enc.Encode(m); err != nil {
					b.Fatal(err)
				}
				r := base[j]
				r.ExternalID = fmt.Sprintf("c%d-%d", run, j)
				if err := listening.Prepare(&r, nil, score, time.Now()); err != nil {
					b.Fatal(err)
				}
				rows[j] = r
			}
			bodies = append(bodies, buf.Bytes())
		}
		b.StartTimer()

		t0 := time.Now()
		for _, body := range bodies {
			resp, err := http.Post(s.APIURL+"/v1/mentions", "application/x-ndjson", bytes.NewReader(body))
			if err != nil {
				b.Fatal(err)
			}
			resp.Body.Close()
			if resp.StatusCode != http.StatusOK {
				b.Fatalf("ingest answered %d", resp.StatusCode)
			}
		}
		t1 := time.Now()
		for i := 0; i < len(rows); i += ingestPerRequest {
			chunk := rows[i:min(i+ingestPerRequest, len(rows))]
			_, err := s.Pool.CopyFrom(ctx, pgx.Identifier{"mentions"}, store.MentionColumns, pgx.CopyFromSlice(len(chunk), func(k int) ([]any, error) {
				return store.MentionRow(&chunk[k]), nil
			}))
			if err != nil {
				b.Fatal(err)
			}
		}
		httpTime += t1.Sub(t0)
		copyTime += time.Since(t1)
		n += len(rows)
	}
	httpRate, copyRate := float64(n)/httpTime.Seconds(), float64(n)/copyTime.Seconds()
	b.ReportMetric(httpRate, "http_mentions/s")
	b.ReportMetric(copyRate, "copy_mentions/s")
	b.ReportMetric(httpRate/copyRate, "http/copy")
}

// BenchmarkListeningDetectionLatency replays, through the HTTP API of a
// running stack, a calm stream then a negative spike starting at a known
// instant, and measures the time from the spike's first mention to the
// crisis workflow's start. Each iteration is a new brand, so each has its
// own monitor and no open crisis.
func BenchmarkListeningDetectionLatency(b *testing.B) {
	s := sharedStack(b)
	var lat []time.Duration
	for range b.N {
		brand := fmt.Sprintf("lat%d", listenRun.Add(1))
		raw, _ := json.Marshal(map[string]string{"id": brand, "name": brand})
		resp, err := http.Post(s.APIURL+"/v1/brands", "application/json", bytes.NewReader(raw))
		if err != nil {
			b.Fatal(err)
		}
		resp.Body.Close()
		for monitorState(b, s.Client, brand).Ticks == 0 {
			time.Sleep(10 * time.Millisecond)
		}
		for i := range 3 {
			postNDJSON(b, s.APIURL, mentionsAt(brand, fmt.Sprintf("calm%d", i), 5, false, time.Now()))
			time.Sleep(300 * time.Millisecond) // the stream's own pace
		}
		spikeAt := time.Now()
		done := make(chan struct{})
		go func() {
			defer close(done)
			for i := range 10 {
				postNDJSON(b, s.APIURL, mentionsAt(brand, fmt.Sprintf("spike%d", i), 8, true, time.Now()))
				time.Sleep(100 * time.Millisecond) // the spike's pace
			}
		}()
		started := waitWorkflow(b, s.Client, activities.CrisisWorkflowID(brand, "negative-spike"), 30*time.Second)
		<-done
		lat = append(lat, started.Sub(spikeAt))
	}
	slices.Sort(lat)
	pct := func(p float64) time.Duration { return lat[min(len(lat)-1, int(p*float64(len(lat))))] }
	b.ReportMetric(float64(pct(0.5).Milliseconds()), "p50_ms")
	b.ReportMetric(float64(pct(0.95).Milliseconds()), "p95_ms")
	b.ReportMetric(float64(lat[len(lat)-1].Milliseconds()), "max_ms")
	b.Logf("%d runs, latencies: %v", len(lat), lat)
}
