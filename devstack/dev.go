package devstack

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"

	"github.com/jackc/pgx/v5/pgxpool"
	"go.temporal.io/sdk/client"
	sdkworker "go.temporal.io/sdk/worker"

	"github.com/cmo-dev/cmo/activities"
	"github.com/cmo-dev/cmo/config"
	"github.com/cmo-dev/cmo/devstack/pgcluster"
	"github.com/cmo-dev/cmo/notify"
	"github.com/cmo-dev/cmo/platforms/all"
	"github.com/cmo-dev/cmo/playbooks"
	"github.com/cmo-dev/cmo/sealbox"
	"github.com/cmo-dev/cmo/server"
	"github.com/cmo-dev/cmo/store"
	"github.com/cmo-dev/cmo/tclient"
	"github.com/cmo-dev/cmo/telemetry"
	"github.com/cmo-dev/cmo/worker"
	"github.com/cmo-dev/cmo/workflows"
)

// Options configures a dev stack.
type Options struct {
	// DataDir keeps Temporal's SQLite file, the PostgreSQL cluster and the
	// secret key between runs.
	DataDir string
	// DatabaseURL, when set, is used instead of a local cluster.
	DatabaseURL string
	// HTTPAddr is the API's listen address; port 0 picks one.
	HTTPAddr string
	// TemporalPort and UIPort: 0 picks free ports; UIPort -1 runs no UI.
	TemporalPort int
	UIPort       int
	Namespace    string
	TaskQueue    string
	// DurablePostgres keeps fsync on (cmo dev); tests turn it off.
	DurablePostgres bool
	// SecretKey seals channel credentials; nil reads (or makes) the data
	// directory's secret.key.
	SecretKey []byte
	// Checker is the content quality gate; nil fails check steps.
	Checker activities.ContentChecker
	// Notifiers deliver notifications; nil gets Slack, PagerDuty and
	// webhook senders with their defaults and no e-mail.
	Notifiers notify.Senders
	// Playbooks to serve; nil loads the shipped library.
	Playbooks *playbooks.Library
	// Metrics is where the API, the worker and the Temporal client count;
	// the API serves it on GET /metrics. Nil makes one in a registry of
	// the stack's own, with the Go runtime's and the process's metrics.
	Metrics *telemetry.Metrics
	// Monitor holds the brand monitors' settings (tick, spacing of the
	// windows sent to open crises); zero values take the defaults.
	Monitor workflows.MonitorInput
	Log     *slog.Logger
	// RateLimit and RateBurst are the API's per-key limit (server.Deps);
	// zero takes the defaults.
	RateLimit float64
	RateBurst int
}

// Stack is a running dev stack.
type Stack struct {
	Temporal    *Temporal
	Postgres    *pgcluster.Cluster // nil with an external DatabaseURL
	DatabaseURL string
	Pool        *pgxpool.Pool
	Store       *store.Store
	Client      client.Client
	APIURL      string
	// APIKey is an admin key for every brand, kept in the data directory
	// (APIKeyFile).
	APIKey    string
	Namespace string
	TaskQueue string

	worker  sdkworker.Worker
	http    *http.Server
	httpErr chan error
	log     *slog.Logger
	closers []func()
}

// Start brings the whole stack up and returns when every part is ready.
// On error, whatever started is stopped again.
func Start(ctx context.Context, o Options) (s *Stack, err error) {
	if o.Log == nil {
		o.Log = slog.Default()
	}
	if o.Namespace == "" {
		o.Namespace = config.DefaultTemporalNamespace
	}
	if o.TaskQueue == "" {
		o.TaskQueue = config.DefaultTaskQueue
	}
	if o.HTTPAddr == "" {
		o.HTTPAddr = "127.0.0.1:0"
	}
	if o.Metrics == nil {
		o.Metrics = telemetry.New(telemetry.NewRegistry())
	}
	if o.DataDir == "" {
		return nil, errors.New("dev stack: no data directory")
	}
	dir, err := filepath.Abs(o.DataDir)
	if err != nil {
		return nil, err
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, fmt.Errorf("create data directory: %w", err)
	}
	s = &Stack{Namespace: o.Namespace, TaskQueue: o.TaskQueue, log: o.Log}
	started := s
	defer func() {
		if err != nil {
			started.Close()
		}
	}()

	key := o.SecretKey
	if key == nil {
		if key, err = secretKey(dir); err != nil {
			return nil, err
		}
	}
	box, err := sealbox.New(key)
	if err != nil {
		return nil, err
	}

	// PostgreSQL and Temporal start in parallel: each takes about a second.
	type pgResult struct {
		c   *pgcluster.Cluster
		err error
	}
	pgDone := make(chan pgResult, 1)
	if o.DatabaseURL == "" {
		go func() {
			logf, lerr := os.OpenFile(filepath.Join(dir, "postgres.log"), os.O_CREATE|os.O_APPEND|os.O_WRONLY, 0o644)
			if lerr != nil {
				pgDone <- pgResult{err: lerr}
				return
			}
			c, err := pgcluster.Start(ctx, pgcluster.Options{Dir: filepath.Join(dir, "postgres"), Durable: o.DurablePostgres, Log: logf})
			if err != nil {
				logf.Close()
			} else {
				go func() { <-c.Done(); logf.Close() }()
			}
			pgDone <- pgResult{c: c, err: err}
		}()
	} else {
		pgDone <- pgResult{}
	}

	s.Temporal, err = StartTemporal(ctx, TemporalOptions{
		Dir: filepath.Join(dir, "temporal"), Port: o.TemporalPort, UIPort: o.UIPort,
		Namespace: o.Namespace, SearchAttributes: workflows.SearchAttributes(), Log: o.Log,
	})
	pg := <-pgDone
	if pg.c != nil {
		s.Postgres = pg.c
		s.closers = append(s.closers, func() {
			if err := pg.c.Stop(); err != nil {
				o.Log.Warn("stop postgres", "error", err)
			}
		})
	}
	if err != nil {
		return nil, err
	}
	s.closers = append(s.closers, s.Temporal.Stop)
	if pg.err != nil {
		return nil, fmt.Errorf("start postgres: %w", pg.err)
	}
	s.DatabaseURL = o.DatabaseURL
	if s.Postgres != nil {
		s.DatabaseURL = s.Postgres.URL()
	}

	s.Pool, err = store.Connect(ctx, s.DatabaseURL)
	if err != nil {
		return nil, err
	}
	s.closers = append(s.closers, s.Pool.Close)
	if err := store.Migrate(ctx, s.Pool, o.Log); err != nil {
		return nil, err
	}
	s.Store = store.New(s.Pool, box)
	if err := s.Store.SeedDemo(ctx); err != nil {
		return nil, err
	}
	if s.APIKey, err = adminKey(ctx, s.Store, dir); err != nil {
		return nil, err
	}

	s.Client, err = tclient.Dial(ctx, client.Options{HostPort: s.Temporal.Address(), Namespace: o.Namespace,
		MetricsHandler: o.Metrics.Temporal()}, o.Log)
	if err != nil {
		return nil, err
	}
	s.closers = append(s.closers, s.Client.Close)
	// A data directory made by an older cmo may lack newer attributes.
	if err := tclient.EnsureSearchAttributes(ctx, s.Client, o.Namespace, workflows.SearchAttributes()); err != nil {
		return nil, err
	}

	lib := o.Playbooks
	if lib == nil {
		if lib, err = playbooks.Shipped(); err != nil {
			return nil, fmt.Errorf("load shipped playbooks: %w", err)
		}
	}
	ln, err := net.Listen("tcp", o.HTTPAddr)
	if err != nil {
		return nil, fmt.Errorf("api listen on %s: %w", o.HTTPAddr, err)
	}
	s.APIURL = "http://" + displayAddr(ln.Addr().String())
	registry := all.Registry(all.Options{SandboxURL: s.APIURL + "/sandbox"})
	api := server.New(server.Deps{
		Store: s.Store, Temporal: s.Client, Namespace: o.Namespace, TaskQueue: o.TaskQueue, Metrics: o.Metrics,
		Playbooks: lib, Log: o.Log, UIURL: s.Temporal.UIURL(), Platforms: registry, MonitorInterval: o.Monitor.Interval,
		RateLimit: o.RateLimit, RateBurst: o.RateBurst,
	})
	s.http = server.NewHTTPServer(api.Handler())
	s.httpErr = make(chan error, 1)
	go func() { s.httpErr <- s.http.Serve(ln) }()

	notifiers := o.Notifiers
	if notifiers == nil {
		notifiers = notify.New(notify.Options{})
	}
	acts := &activities.Activities{Store: s.Store, Platforms: registry, Checker: o.Checker, Notifiers: notifiers, Log: o.Log,
		Playbooks: lib, Crises: worker.Crises{Client: s.Client, TaskQueue: o.TaskQueue}, Campaigns: worker.Campaigns{Client: s.Client},
		Inbox: worker.Inbox{Client: s.Client, TaskQueue: o.TaskQueue}, Metrics: o.Metrics}
	// Links in campaign posts point at this API's /l/ redirector.
	acts.LinkBase = s.APIURL
	s.worker = worker.New(s.Client, o.TaskQueue, acts)
	if err := s.worker.Start(); err != nil {
		return nil, fmt.Errorf("start worker: %w", err)
	}
	s.closers = append(s.closers, s.worker.Stop)
	if err := worker.EnsureMonitors(ctx, s.Client, o.TaskQueue, s.Store, o.Monitor); err != nil {
		return nil, err
	}
	if err := worker.EnsureInboxes(ctx, s.Client, o.TaskQueue, s.Store, workflows.InboxInput{}); err != nil {
		return nil, err
	}
	return s, nil
}

// HTTPErr reports the API server's failure, if it stops on its own.
func (s *Stack) HTTPErr() <-chan error { return s.httpErr }

// Close stops everything: first the API (no new requests; those in flight
// finish, for up to server.DrainTimeout), then the rest in reverse order
// of start: worker (waiting for its activities), clients, Temporal,
// PostgreSQL. It is safe to call more than once.
func (s *Stack) Close() {
	if s.http != nil {
		sctx, cancel := context.WithTimeout(context.Background(), server.DrainTimeout)
		if err := s.http.Shutdown(sctx); err != nil {
			s.log.Warn("api: drain requests in flight", "error", err)
			_ = s.http.Close()
		}
		cancel()
		s.http = nil
	}
	for i := len(s.closers) - 1; i >= 0; i-- {
		s.closers[i]()
	}
	s.closers = nil
}

func displayAddr(addr string) string {
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		return addr
	}
	if host == "" || host == "0.0.0.0" || host == "::" {
		host = "127.0.0.1"
	}
	return net.JoinHostPort(host, port)
}

// secretKey reads the data directory's key for sealing credentials, or
// makes one on first start.
func secretKey(dir string) ([]byte, error) {
	path := filepath.Join(dir, "secret.key")
	if b, err := os.ReadFile(path); err == nil {
		return config.DecodeKey(strings.TrimSpace(string(b)))
	} else if !errors.Is(err, os.ErrNotExist) {
		return nil, fmt.Errorf("read secret key: %w", err)
	}
	key := make([]byte, 32)
	if _, err := rand.Read(key); err != nil {
		return nil, err
	}
	if err := os.WriteFile(path, []byte(base64.StdEncoding.EncodeToString(key)+"\n"), 0o600); err != nil {
		return nil, fmt.Errorf("write secret key: %w", err)
	}
	return key, nil
}
