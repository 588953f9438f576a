package cli

import (
	"fmt"
	"net"
	"path/filepath"
	"strconv"
	"time"

	"github.com/spf13/cobra"

	"github.com/cmo-dev/cmo/activities"
	"github.com/cmo-dev/cmo/config"
	"github.com/cmo-dev/cmo/contentcheck"
	"github.com/cmo-dev/cmo/devstack"
	"github.com/cmo-dev/cmo/playbooks"
	"github.com/cmo-dev/cmo/telemetry"
	"github.com/cmo-dev/cmo/workflows"
)

func newDevCmd() *cobra.Command {
	var (
		dataDir      string
		httpAddr     string
		temporalPort int
		uiPort       int
		logLevel     string
		logFormat    string
		playbooksDir string
	)
	cmd := &cobra.Command{
		Use:   "dev",
		Short: "Run the whole stack on this machine: Temporal + UI, PostgreSQL, worker, API, sandbox",
		Long: `dev starts, in one process, a real Temporal server (SQLite under the data
directory) with its Web UI, a local PostgreSQL cluster (unless DATABASE_URL
is set), the worker, the HTTP API and a sandbox social network seeded with a
demo brand and two channels. Data survives restarts: campaigns that were
running resume. Ctrl-C stops everything.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			cfg, err := config.FromEnv()
			if err != nil {
				return err
			}
			if !cmd.Flags().Changed("data-dir") {
				dataDir = cfg.DataDir
			}
			if !cmd.Flags().Changed("log-level") && cfg.LogLevel != "" {
				logLevel = cfg.LogLevel
			}
			if !cmd.Flags().Changed("log-format") {
				logFormat = cfg.LogFormat
			}
			log := logger(cmd.ErrOrStderr(), logLevel, logFormat)
			if !cmd.Flags().Changed("playbooks") {
				playbooksDir = cfg.PlaybooksDir
			}
			lib, err := playbooks.Load(playbooksDir)
			if err != nil {
				return err
			}
			start := time.Now()
			fmt.Fprintf(cmd.ErrOrStderr(), "cmo dev: starting in %s …\n", dataDir)
			stack, err := devstack.Start(cmd.Context(), devstack.Options{
				DataDir: dataDir, DatabaseURL: cfg.DatabaseURL, HTTPAddr: httpAddr, Metrics: telemetry.New(telemetry.NewRegistry()),
				TemporalPort: temporalPort, UIPort: uiPort, Namespace: cfg.TemporalNamespace,
				TaskQueue: cfg.TaskQueue, DurablePostgres: true, SecretKey: cfg.SecretKey, Log: log, Playbooks: lib,
				Checker: activities.Gate{C: contentcheck.New("")}, Monitor: workflows.MonitorInput{Interval: cfg.MonitorInterval},
				Notifiers: notifiers(cfg), RateLimit: cfg.RateLimit, RateBurst: cfg.RateBurst,
			})
			if err != nil {
				return fmt.Errorf("cmo dev: %w", err)
			}
			defer func() {
				fmt.Fprintln(cmd.ErrOrStderr(), "cmo dev: stopping …")
				stack.Close()
				fmt.Fprintln(cmd.ErrOrStderr(), "cmo dev: stopped")
			}()
			out := cmd.OutOrStdout()
			fmt.Fprintf(out, "cmo dev is ready (%.1fs)\n", time.Since(start).Seconds())
			fmt.Fprintf(out, "  API           %s\n", stack.APIURL)
			fmt.Fprintf(out, "  Metrics       %s/metrics (Prometheus)\n", stack.APIURL)
			if u := stack.Temporal.UIURL(); u != "" {
				fmt.Fprintf(out, "  Temporal UI   %s\n", u)
			}
			fmt.Fprintf(out, "  Temporal      %s (namespace %s)\n", stack.Temporal.Address(), stack.Namespace)
			fmt.Fprintf(out, "  PostgreSQL    %s\n", stack.DatabaseURL)
			fmt.Fprintf(out, "  Sandbox       %s/sandbox (posts: %s/v1/sandbox/posts)\n", stack.APIURL, stack.APIURL)
			keyFile := filepath.Join(dataDir, devstack.APIKeyFile)
			fmt.Fprintf(out, "  Admin key     in %s (for every brand; the cmo commands read it from there)\n", keyFile)
			fmt.Fprintf(out, "Try: curl -s -H \"Authorization: Bearer $(cat %s)\" %s/v1/playbooks\n", keyFile, stack.APIURL)
			select {
			case <-cmd.Context().Done():
			case err := <-stack.HTTPErr():
				return fmt.Errorf("api server stopped: %w", err)
			}
			return nil
		},
	}
	f := cmd.Flags()
	f.StringVar(&dataDir, "data-dir", config.DefaultDataDir, "where Temporal, PostgreSQL and the secret key keep their data ($"+config.EnvDataDir+")")
	f.StringVar(&httpAddr, "http-addr", net.JoinHostPort("127.0.0.1", strconv.Itoa(8080)), "API listen address (port 0 picks a free one)")
	f.IntVar(&temporalPort, "temporal-port", 7233, "Temporal frontend port (0 picks a free one)")
	f.IntVar(&uiPort, "ui-port", 8233, "Temporal Web UI port (0 picks a free one, -1 runs no UI)")
	f.StringVar(&logLevel, "log-level", "info", "debug, info, warn or error ($"+config.EnvLogLevel+")")
	f.StringVar(&logFormat, "log-format", "json", "json or text ($"+config.EnvLogFormat+")")
	f.StringVar(&playbooksDir, "playbooks", "", "directory of extra playbooks (*.yaml) ($"+config.EnvPlaybooksDir+")")
	return cmd
}
