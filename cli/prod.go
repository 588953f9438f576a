package cli

import (
	"context"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/spf13/cobra"
	"go.temporal.io/sdk/client"

	"github.com/cmo-dev/cmo/activities"
	"github.com/cmo-dev/cmo/config"
	"github.com/cmo-dev/cmo/contentcheck"
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

// connectPostgres opens a pool and waits, with back-off, until the database
// answers, so that a process started alongside PostgreSQL does not die.
func connectPostgres(ctx context.Context, cfg config.Config, log *slog.Logger) (*pgxpool.Pool, error) {
	if cfg.DatabaseURL == "" {
		return nil, fmt.Errorf("%s is not set", config.EnvDatabaseURL)
	}
	pool, err := store.Connect(ctx, cfg.DatabaseURL)
	if err != nil {
		return nil, err
	}
	ctx, cancel := context.WithTimeout(ctx, cfg.ConnectTimeout)
	defer cancel()
	delay := 200 * time.Millisecond
	for attempt := 1; ; attempt++ {
		err = pool.Ping(ctx)
		if err == nil {
			return pool, nil
		}
		if ctx.Err() != nil {
			pool.Close()
			return nil, fmt.Errorf("connect to postgres: %w", err)
		}
		log.Warn("postgres not reachable yet, retrying", "attempt", attempt, "in", delay, "error", err)
		select {
		case <-time.After(delay):
		case <-ctx.Done():
		}
		delay = min(delay*2, 10*time.Second)
	}
}

func dialTemporal(ctx context.Context, cfg config.Config, log *slog.Logger, m *telemetry.Metrics) (client.Client, error) {
	ctx, cancel := context.WithTimeout(ctx, cfg.ConnectTimeout)
	defer cancel()
	return tclient.Dial(ctx, client.Options{HostPort: cfg.TemporalAddress, Namespace: cfg.TemporalNamespace,
		MetricsHandler: m.Temporal()}, log)
}

// sandboxURL is where the sandbox platform is served: the API server's
// /sandbox unless configured.
func sandboxURL(cfg config.Config) string {
	if cfg.SandboxURL != "" {
		return cfg.SandboxURL
	}
	return "http://127.0.0.1:8080/sandbox"
}

// peers are what server and worker connect to at start.
type peers struct {
	cfg      config.Config
	log      *slog.Logger
	box      *sealbox.Box
	pool     *pgxpool.Pool
	temporal client.Client
	// metrics is the process's one registry: the API's, the worker's and
	// the Temporal SDK's metrics together.
	metrics *telemetry.Metrics
}

func (p *peers) close() {
	p.temporal.Close()
	p.pool.Close()
}

// connectPeers reads the configuration and connects to PostgreSQL and
// Temporal, waiting for both. needKey makes a missing secret key an error.
func connectPeers(cmd *cobra.Command, needKey bool) (*peers, error) {
	cfg, err := config.FromEnv()
	if err != nil {
		return nil, err
	}
	if needKey && cfg.SecretKey == nil {
		return nil, fmt.Errorf("%s is not set: the worker needs it to open channel credentials", config.EnvSecretKey)
	}
	p := &peers{cfg: cfg, log: logger(cmd.ErrOrStderr(), cfg.LogLevel, cfg.LogFormat), metrics: telemetry.New(telemetry.NewRegistry())}
	if cfg.SecretKey != nil {
		if p.box, err = sealbox.New(cfg.SecretKey); err != nil {
			return nil, err
		}
	}
	if p.pool, err = connectPostgres(cmd.Context(), cfg, p.log); err != nil {
		return nil, err
	}
	if p.temporal, err = dialTemporal(cmd.Context(), cfg, p.log, p.metrics); err != nil {
		p.pool.Close()
		return nil, err
	}
	return p, nil
}

func newMigrateCmd() *cobra.Command {
	return &cobra.Command{
		Use:   "migrate",
		Short: "Apply the database migrations to DATABASE_URL and exit",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			cfg, err := config.FromEnv()
			if err != nil {
				return err
			}
			log := logger(cmd.ErrOrStderr(), cfg.LogLevel, cfg.LogFormat)
			pool, err := connectPostgres(cmd.Context(), cfg, log)
			if err != nil {
				return err
			}
			defer pool.Close()
			if err := store.Migrate(cmd.Context(), pool, log); err != nil {
				return err
			}
			fmt.Fprintln(cmd.OutOrStdout(), "migrations applied")
			return nil
		},
	}
}

func newServerCmd() *cobra.Command {
	return &cobra.Command{
		Use:   "server",
		Short: "Run the HTTP API (and the sandbox platform) against Temporal and PostgreSQL",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			ctx := cmd.Context()
			p, err := connectPeers(cmd, false)
			if err != nil {
				return err
			}
			defer p.close()
			cfg, log, pool, c, box := p.cfg, p.log, p.pool, p.temporal, p.box
			lib, err := playbooks.Load(cfg.PlaybooksDir)
			if err != nil {
				return fmt.Errorf("load playbooks: %w", err)
			}
			api := server.New(server.Deps{Metrics: p.metrics, Store: store.New(pool, box), Temporal: c, Namespace: cfg.TemporalNamespace,
				TaskQueue: cfg.TaskQueue, Playbooks: lib, Log: log, Platforms: all.Registry(all.Options{SandboxURL: sandboxURL(cfg)}),
				MonitorInterval: cfg.MonitorInterval, RateLimit: cfg.RateLimit, RateBurst: cfg.RateBurst})
			ln, err := net.Listen("tcp", cfg.HTTPAddr)
			if err != nil {
				return fmt.Errorf("listen on %s: %w", cfg.HTTPAddr, err)
			}
			_, metricsDone, err := serveMetrics(ctx, cfg.MetricsAddr, p.metrics, log)
			if err != nil {
				ln.Close()
				return err
			}
			defer metricsDone()
			log.Info("cmo server listening", "addr", ln.Addr().String(), "temporal", cfg.TemporalAddress)
			// On SIGINT or SIGTERM: stop accepting, let requests in flight
			// finish, then (deferred) close Temporal and PostgreSQL.
			return server.Serve(ctx, server.NewHTTPServer(api.Handler()), ln, server.DrainTimeout)
		},
	}
}

func newWorkerCmd() *cobra.Command {
	return &cobra.Command{
		Use:   "worker",
		Short: "Run the Temporal worker that executes campaign and crisis workflows",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			ctx := cmd.Context()
			p, err := connectPeers(cmd, true)
			if err != nil {
				return err
			}
			defer p.close()
			cfg, log, pool, c, box := p.cfg, p.log, p.pool, p.temporal, p.box
			if err := tclient.EnsureSearchAttributes(ctx, c, cfg.TemporalNamespace, workflows.SearchAttributes()); err != nil {
				return err
			}
			lib, err := playbooks.Load(cfg.PlaybooksDir)
			if err != nil {
				return fmt.Errorf("load playbooks: %w", err)
			}
			acts := &activities.Activities{
				Store:     store.New(pool, box),
				Platforms: all.Registry(all.Options{SandboxURL: sandboxURL(cfg), HTTP: &http.Client{Timeout: cfg.PlatformTimeout}}),
				Checker:   activities.Gate{C: contentcheck.New("")},
				Notifiers: notifiers(cfg),
				Log:       log,
				Playbooks: lib,
				Crises:    worker.Crises{Client: c, TaskQueue: cfg.TaskQueue},
				Campaigns: worker.Campaigns{Client: c},
				Inbox:     worker.Inbox{Client: c, TaskQueue: cfg.TaskQueue},
			}
			acts.LinkBase = cfg.PublicURL
			acts.Metrics = p.metrics
			w := worker.New(c, cfg.TaskQueue, acts)
			if err := w.Start(); err != nil {
				return fmt.Errorf("start worker: %w", err)
			}
			if err := worker.EnsureMonitors(ctx, c, cfg.TaskQueue, acts.Store, workflows.MonitorInput{Interval: cfg.MonitorInterval}); err != nil {
				w.Stop()
				return err
			}
			if err := worker.EnsureInboxes(ctx, c, cfg.TaskQueue, acts.Store, workflows.InboxInput{}); err != nil {
				w.Stop()
				return err
			}
			_, metricsDone, err := serveMetrics(ctx, cfg.MetricsAddr, p.metrics, log)
			if err != nil {
				w.Stop()
				return err
			}
			defer metricsDone()
			log.Info("cmo worker running", "task_queue", cfg.TaskQueue, "temporal", cfg.TemporalAddress)
			<-ctx.Done()
			// Stop polling and wait for the activities in flight (up to
			// worker.StopTimeout); then (deferred) close Temporal and
			// PostgreSQL.
			w.Stop()
			return nil
		},
	}
}
