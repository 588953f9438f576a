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

	"github.com/cmo-dev/cmo/access"
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
	e.temporal, err = devstack.StartTemporal(ctx, devstack.TemporalOptions{Dir: filepath.Join(dir, "temporal"), UIPort: -1, SearchAttributes: workflows.SearchAttributes(), Log: log})
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
	_, adminKey, err := e.store.CreateAPIKey(ctx, "chaos-admin", access.Admin, []string{access.AllBrands}, "test")
	require.NoError(t, err)
	registerAPI(e.apiURL, adminKey)

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

// workerLog receives the workers' logs; CMO_CHAOS_LOG names a file for them.
var workerLog io.Writer = io.Discard

func init() {
	if p := os.Getenv("CMO_CHAOS_LOG"); p != "" {
		if f, err := os.Create(p); err == nil {
			workerLog = f
		}
	}
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
		config.EnvLogLevel+"="+envOr("CMO_CHAOS_LOG_LEVEL", "error"),
	)
	cmd.Stdout, cmd.Stderr = io.Discard, workerLog
	// Workers die with the test binary, even when it is killed on a timeout.
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
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
// must exist exactly once. CMO_CHAOS_CAMPAIGNS and CMO_CHAOS_SECONDS size it.
func TestChaosWorkersKilledWhilePublishing(t *testing.T) {
	campaigns := envInt("CMO_CHAOS_CAMPAIGNS", 50)
	// Campaigns are launched evenly over this many seconds while workers
	// die, so kills land mid-publish rather than after the work is done.
	spread := time.Duration(envInt("CMO_CHAOS_SECONDS", 8)) * time.Second
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
	}
	finished := make(chan struct{})
	go func() {
		defer close(finished)
		ctx, cancel := context.WithTimeout(context.Background(), 20*time.Minute)
		defer cancel()
		for i, id := range ids {
			time.Sleep(spread / time.Duration(campaigns)) // pacing the launches, not synchronising
			code, body := a.do("POST", "/v1/campaigns", map[string]any{
				"id": id, "brand": "demo", "playbook": "first-campaign", "author": "marta",
				"params": map[string]any{"product": "Chaos Blend " + id},
			})
			if code != 201 {
				t.Errorf("launch %d: %d %v", i, code, body)
				return
			}
			if code, body = a.do("POST", "/v1/campaigns/"+id+"/approvals", map[string]any{"decision": "approve", "actor": "jordi"}); code != 200 {
				t.Errorf("approve %d: %d %v", i, code, body)
				return
			}
		}
		for _, id := range ids {
			var res workflows.CampaignResult
			if err := e.client.GetWorkflow(ctx, workflows.CampaignWorkflowID(id), "").Get(ctx, &res); err != nil {
				t.Errorf("campaign %s: %v", id, err)
			}
		}
	}()

	// Kill a random worker every 0.2–1.5 s and start a replacement, for as
	// long as campaigns are running.
	kills := 0
	for running := true; running; {
		select {
		case <-finished:
			running = false
			continue
		case <-time.After(time.Duration(200+rand.IntN(1300)) * time.Millisecond):
		}
		mu.Lock()
		i := rand.IntN(len(workers))
		workers[i].kill()
		workers[i] = e.startWorker()
		mu.Unlock()
		kills++
	}
	t.Logf("%d campaigns, %d worker kills while publishing, %d posts accepted then answered too late", campaigns, kills, e.accepted.Load())
	require.GreaterOrEqual(t, kills, 3, "the run was too short to kill anything mid-publish")

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

func envOr(name, def string) string {
	if v := os.Getenv(name); v != "" {
		return v
	}
	return def
}
