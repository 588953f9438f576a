package e2e

import (
	"context"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"go.temporal.io/sdk/client"
	sdkworker "go.temporal.io/sdk/worker"

	"github.com/cmo-dev/cmo/activities"
	"github.com/cmo-dev/cmo/platforms/all"
	"github.com/cmo-dev/cmo/playbooks"
	"github.com/cmo-dev/cmo/store"
	"github.com/cmo-dev/cmo/worker"
	"github.com/cmo-dev/cmo/workflows"
)

// TestRateLimitIsHonoured: the platform answers 429 with a reset time;
// no request may reach it again before that time.
func TestRateLimitIsHonoured(t *testing.T) {
	s := startStack(t)
	target, err := url.Parse(s.APIURL)
	require.NoError(t, err)
	rp := httputil.NewSingleHostReverseProxy(target)

	var mu sync.Mutex
	var reset time.Time
	var after []time.Time // arrival of every request after the 429s began
	limited := 0
	proxy := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		now := time.Now()
		if !reset.IsZero() {
			after = append(after, now)
		}
		if r.Method == http.MethodPost && limited < 2 && (reset.IsZero() || now.Before(reset)) {
			if reset.IsZero() {
				reset = now.Add(3 * time.Second)
			}
			limited++
			mu.Unlock()
			w.Header().Set("X-RateLimit-Limit", "300")
			w.Header().Set("X-RateLimit-Remaining", "0")
			w.Header().Set("X-RateLimit-Reset", reset.UTC().Format(time.RFC3339Nano))
			w.WriteHeader(http.StatusTooManyRequests)
			w.Write([]byte(`{"error":"Too many requests"}`))
			return
		}
		mu.Unlock()
		rp.ServeHTTP(w, r)
	}))
	defer proxy.Close()

	const queue = "ratelimit"
	w := sdkworker.New(s.Client, queue, sdkworker.Options{})
	worker.Register(w, &activities.Activities{Store: s.Store, Platforms: all.Registry(all.Options{SandboxURL: proxy.URL + "/sandbox"})})
	require.NoError(t, w.Start())
	defer w.Stop()

	lib, err := playbooks.Shipped()
	require.NoError(t, err)
	plan, _ := lib.Get("first-campaign")
	ch := store.DemoChannels[0]
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	run, err := s.Client.ExecuteWorkflow(ctx, client.StartWorkflowOptions{ID: "campaign:ratelimited", TaskQueue: queue},
		workflows.CampaignWorkflow, workflows.CampaignInput{CampaignID: "ratelimited", Brand: "demo", Plan: plan,
			Params:  map[string]any{"product": "Patient Pour-over"},
			Targets: map[string][]playbooks.Target{"sandbox": {{ID: ch.ID, Name: ch.Name, Platform: ch.Platform}}}})
	require.NoError(t, err)
	h, err := s.Client.UpdateWorkflow(ctx, client.UpdateWorkflowOptions{WorkflowID: run.GetID(), UpdateName: workflows.UpdateApproval,
		WaitForStage: client.WorkflowUpdateStageCompleted, Args: []any{workflows.ApprovalRequest{Decision: "approve", Actor: "jordi"}}})
	require.NoError(t, err)
	require.NoError(t, h.Get(ctx, nil))
	var res workflows.CampaignResult
	require.NoError(t, run.Get(ctx, &res))
	require.Equal(t, workflows.StatusCompleted, res.Status)

	mu.Lock()
	defer mu.Unlock()
	require.Equal(t, 1, limited, "one 429, then nothing until the reset")
	require.NotEmpty(t, after)
	for _, at := range after[1:] {
		require.False(t, at.Before(reset), "a request came %s before the announced reset", reset.Sub(at))
	}
	require.Len(t, sandboxPosts(t, api{t: t, base: s.APIURL}, "Patient Pour-over")["demo_news"], 1)
}
