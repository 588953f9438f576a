package e2e

import (
	"bytes"
	"context"
	"encoding/base64"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"go.temporal.io/sdk/client"

	"github.com/cmo-dev/cmo/config"
	"github.com/cmo-dev/cmo/devstack"
	"github.com/cmo-dev/cmo/devstack/pgcluster"
	"github.com/cmo-dev/cmo/platforms/all"
	"github.com/cmo-dev/cmo/playbooks"
	"github.com/cmo-dev/cmo/sealbox"
	"github.com/cmo-dev/cmo/server"
	"github.com/cmo-dev/cmo/store"
	"github.com/cmo-dev/cmo/tclient"
	"github.com/cmo-dev/cmo/workflows"
)

// chaosEnv is the production topology on one machine: an embedded Temporal
// server, a PostgreSQL cluster and the API (serving the sandbox) in this
// process, and `cmo worker` processes that the test kills at will.
type chaosEnv struct {
	t        *testing.T
	temporal *devstack.Temporal
	pg       *pgcluster.Cluster
	store    *store.Store
	client   client.Client
	apiURL   string
	proxyURL string
	key      string
	accepted atomic.Int64 // posts the sandbox accepted, then answered too late
}

func newChaosEnv(t *testing.T, lateRatio float64) *chaosEnv {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	dir := dataDir(t)
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	e := &chaosEnv{t: t}
	var err error
	e.pg, err = pgcluster.Start(ctx, pgcluster.Options{Dir: filepath.Join(dir, "pg")})
	require.NoError(t, err)
	t.Cleanup(func() { e.pg.Stop() })
	e.temporal, err = devstack.StartTemporal(ctx, devstack.TemporalOptions{UIPort: -1, SearchAttributes: workflows.SearchAttributes(), Log: log})
	require.NoError(t, err)
	t.Cleanup(e.temporal.Stop)

	pool, err := store.Connect(ctx, e.pg.URL())
	require.NoError(t, err)
	t.Cleanup(pool.Close)
	require.NoError(t, store.Migrate(ctx, pool, nil))
	keyBytes := bytes.Repeat([]byte{9}, 32)
	e.key = base64.StdEncoding.EncodeToString(keyBytes)
	box, err := sealbox.New(keyBytes)
	require.NoError(t, err)
	e.store = store.New(pool, box)
	require.NoError(t, e.store.SeedDemo(ctx))
	e.client, err = tclient.Dial(ctx, client.Options{HostPort: e.temporal.Address()}, nil)
	require.NoError(t, err)
	t.Cleanup(e.client.Close)
	lib, err := playbooks.Shipped()
	require.NoError(t, err)

	api := httptest.NewServer(server.New(server.Deps{
		Store: e.store, Temporal: e.client, Namespace: "default", TaskQueue: config.DefaultTaskQueue,
		Playbooks: lib, Log: log, Platforms: all.Registry(all.Options{}),
	}).Handler())
	t.Cleanup(api.Close)
	e.apiURL = api.URL

	// The platform as workers see it: the sandbox behind a proxy that drops
	// idempotency keys (as most networks have none) and, for some posts,
	// accepts them and then answers only after the client gave up.
	target, _ := url.Parse(api.URL)
	rp := httputil.NewSingleHostReverseProxy(target)
	proxy := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		r.Header.Del("Idempotency-Key")
		if r.Method == http.MethodPost && strings.HasSuffix(r.URL.Path, "/statuses") && rand.Float64() < lateRatio {
			rec := httptest.NewRecorder()
			rp.ServeHTTP(rec, r)
			if rec.Code == http.StatusOK {
				e.accepted.Add(1)
			}
			select {
			case <-time.After(1500 * time.Millisecond):
			case <-r.Context().Done():
			}
			w.WriteHeader(http.StatusGatewayTimeout)
			return
		}
		rp.ServeHTTP(w, r)
	}))
	t.Cleanup(proxy.Close)
	e.proxyURL = proxy.URL + "/sandbox"
	return e
}

// workerProc is a `cmo worker` child process.
type workerProc struct {
	cmd  *exec.Cmd
	done chan struct{}
}

func (e *chaosEnv) startWorker() *workerProc {
	cmd := exec.Command(os.Args[0], "worker")
	cmd.Env = append(os.Environ(), runCLIEnv+"=1",
		config.EnvDatabaseURL+"="+e.pg.URL(),
		config.EnvTemporalAddress+"="+e.temporal.Address(),
		config.EnvSecretKey+"="+e.key,
		config.EnvSandboxURL+"="+e.proxyURL,
		config.EnvPlatformTimeout+"=1s",
		config.EnvLogLevel+"=error",
	)
	cmd.Stdout, cmd.Stderr = io.Discard, io.Discard
	require.NoError(e.t, cmd.Start())
	w := &workerProc{cmd: cmd, done: make(chan struct{})}
	go func() { cmd.Wait(); close(w.done) }()
	return w
}

func (w *workerProc) kill() {
	w.cmd.Process.Signal(syscall.SIGKILL)
	<-w.done
}

// TestChaosWorkersKilledWhilePublishing launches campaigns whose posts go
// through a platform that sometimes times out after accepting, while
// worker processes are SIGKILLed at random moments. Every intended post
// must exist exactly once. CMO_CHAOS_CAMPAIGNS and CMO_CHAOS_KILLS size it.
func TestChaosWorkersKilledWhilePublishing(t *testing.T) {
	campaigns := envInt("CMO_CHAOS_CAMPAIGNS", 50)
	minKills := envInt("CMO_CHAOS_KILLS", 10)
	e := newChaosEnv(t, 0.2)
	a := api{t: t, base: e.apiURL}

	var mu sync.Mutex
	workers := []*workerProc{e.startWorker(), e.startWorker()}
	t.Cleanup(func() {
		mu.Lock()
		defer mu.Unlock()
		for _, w := range workers {
			w.kill()
		}
	})

	runID := strconv.FormatInt(time.Now().UnixNano()%1e6, 36)
	ids := make([]string, campaigns)
	for i := range ids {
		ids[i] = fmt.Sprintf("chaos-%s-%d", runID, i)
		code, body := a.do("POST", "/v1/campaigns", map[string]any{
			"id": ids[i], "brand": "demo", "playbook": "first-campaign", "author": "marta",
			"params": map[string]any{"product": "Chaos Blend " + ids[i]},
		})
		require.Equal(t, 201, code, body)
		code, body = a.do("POST", "/v1/campaigns/"+ids[i]+"/approvals", map[string]any{"decision": "approve", "actor": "jordi"})
		require.Equal(t, 200, code, body)
	}

	// Kill a random worker every 0.2–1.5 s and start a replacement, until
	// every campaign has finished and enough kills happened.
	finished := make(chan struct{})
	var kills atomic.Int64
	go func() {
		defer close(finished)
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
		defer cancel()
		for _, id := range ids {
			var res workflows.CampaignResult
			if err := e.client.GetWorkflow(ctx, workflows.CampaignWorkflowID(id), "").Get(ctx, &res); err != nil {
				t.Errorf("campaign %s: %v", id, err)
			}
		}
	}()
	done := false
	for !done || kills.Load() < int64(minKills) {
		select {
		case <-finished:
			done = true
		case <-time.After(time.Duration(200+rand.IntN(1300)) * time.Millisecond):
		}
		if done && kills.Load() >= int64(minKills) {
			break
		}
		mu.Lock()
		i := rand.IntN(len(workers))
		workers[i].kill()
		workers[i] = e.startWorker()
		mu.Unlock()
		kills.Add(1)
	}
	<-finished
	t.Logf("%d campaigns, %d worker kills, %d posts accepted then answered too late", campaigns, kills.Load(), e.accepted.Load())

	// Exactly once: each campaign's text on each channel, once.
	ctx := context.Background()
	for _, handle := range []string{"demo_news", "demo_care"} {
		posts, err := e.store.Sandbox().ListPosts(ctx, handle, 0, 100000)
		require.NoError(t, err)
		count := map[string]int{}
		for _, p := range posts {
			count[p.Text]++
		}
		for _, id := range ids {
			text := "Chaos Blend " + id + " is here! Try it today.\n\n#launch"
			require.Equal(t, 1, count[text], "campaign %s on @%s", id, handle)
		}
	}
	for _, id := range ids {
		var res workflows.CampaignResult
		require.NoError(t, e.client.GetWorkflow(ctx, workflows.CampaignWorkflowID(id), "").Get(ctx, &res))
		require.Equal(t, workflows.StatusCompleted, res.Status, id)
	}
	requireNoSecretsAnywhere(t, e.client, e.store)
	if e.accepted.Load() == 0 {
		t.Log("no post was accepted-then-late in this run; the read-back path was not exercised")
	}
}

func envInt(name string, def int) int {
	if v, err := strconv.Atoi(os.Getenv(name)); err == nil && v > 0 {
		return v
	}
	return def
}
