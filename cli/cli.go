// Package cli is the cmo command line. It lives outside package main so
// that the end-to-end tests can run the very same commands in a child
// process of the test binary.
package cli

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"

	"github.com/spf13/cobra"

	"github.com/cmo-dev/cmo/config"
)

// Version is set at build time with -ldflags "-X github.com/cmo-dev/cmo/cli.Version=...".
var Version = "dev"

// Main runs the cmo command line with args and returns the exit code.
func Main(args []string) int {
	root := newRoot(os.Stdout, os.Stderr)
	root.SetArgs(args)
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := root.ExecuteContext(ctx); err != nil {
		var ec exitCode
		if errors.As(err, &ec) {
			return int(ec)
		}
		fmt.Fprintln(os.Stderr, "cmo:", err)
		return 1
	}
	return 0
}

// exitCode ends the command with a code after it printed its own message.
type exitCode int

func (e exitCode) Error() string { return fmt.Sprintf("exit %d", int(e)) }

func newRoot(stdout, stderr io.Writer) *cobra.Command {
	root := &cobra.Command{
		Use:   "cmo",
		Short: "Campaign and crisis orchestrator for community managers",
		Long: `cmo runs a brand's campaigns and crisis procedures as durable workflows:
playbooks written in YAML, published on every network, approved by people,
audited in the Temporal Web UI.

Start everything on this machine with "cmo dev". In production, run
"cmo migrate" once, then "cmo server" and "cmo worker" against a Temporal
cluster and PostgreSQL; every setting comes from the environment:
` + envHelp(),
		SilenceUsage:  true,
		SilenceErrors: true,
		Version:       Version,
	}
	root.SetOut(stdout)
	root.SetErr(stderr)
	root.AddCommand(newDevCmd(), newServerCmd(), newWorkerCmd(), newMigrateCmd(), newPlaybookCmd(), newMentionsCmd(), newInboxCmd(), newSimulateCmd(), newKeysCmd())
	return root
}

func envHelp() string {
	var s string
	for _, name := range []string{
		config.EnvDatabaseURL, config.EnvTemporalAddress, config.EnvTemporalNamespace, config.EnvTaskQueue,
		config.EnvHTTPAddr, config.EnvSecretKey, config.EnvSandboxURL, config.EnvDataDir, config.EnvLogLevel, config.EnvConnectTimeout, config.EnvPlaybooksDir, config.EnvPlatformTimeout, config.EnvMonitorInterval, config.EnvAPIURL, config.EnvAPIKey, config.EnvRateLimit,
		config.EnvSMTPAddr, config.EnvSMTPFrom, config.EnvSMTPUsername, config.EnvSMTPPassword, config.EnvPagerDutyURL,
		config.EnvLogFormat, config.EnvMetricsAddr,
	} {
		s += fmt.Sprintf("  %-20s %s\n", name, config.Vars[name])
	}
	return s
}
