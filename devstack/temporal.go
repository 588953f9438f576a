// Package devstack runs cmo's whole stack in one process for `cmo dev` and
// the end-to-end tests: a real Temporal server with SQLite persistence and
// its Web UI, a local PostgreSQL cluster, the worker, the API and the
// sandbox platform. It is the only package (with the end-to-end tests) that
// links go.temporal.io/server, which is heavy to build.
package devstack

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	uiserver "github.com/temporalio/ui-server/v2/server"
	uiconfig "github.com/temporalio/ui-server/v2/server/config"
	uiopts "github.com/temporalio/ui-server/v2/server/server_options"
	enumspb "go.temporal.io/api/enums/v1"
	"go.temporal.io/server/common/cluster"
	"go.temporal.io/server/common/config"
	"go.temporal.io/server/common/dynamicconfig"
	tlog "go.temporal.io/server/common/log"
	"go.temporal.io/server/common/log/tag"
	"go.temporal.io/server/common/membership/static"
	sqliteplugin "go.temporal.io/server/common/persistence/sql/sqlplugin/sqlite"
	"go.temporal.io/server/common/primitives"
	sqliteschema "go.temporal.io/server/schema/sqlite"
	"go.temporal.io/server/temporal"

	"github.com/cmo-dev/cmo/devstack/pgcluster"
)

// TemporalOptions configures the embedded Temporal server.
type TemporalOptions struct {
	// Dir holds the SQLite file and the cluster id; empty runs in memory.
	Dir string
	// IP to bind; default 127.0.0.1.
	IP string
	// Port of the frontend (gRPC); 0 picks a free one.
	Port int
	// UIPort of the Web UI; 0 picks a free one, -1 runs no UI.
	UIPort    int
	Namespace string
	// SearchAttributes are registered on the namespace.
	SearchAttributes map[string]enumspb.IndexedValueType
	Log              *slog.Logger
}

// Temporal is a running embedded Temporal server (and UI).
type Temporal struct {
	server   temporal.Server
	ui       *uiserver.Server
	level    *slog.LevelVar
	address  string
	uiURL    string
	stopOnce chan struct{}
}

// Address is the frontend's host:port.
func (t *Temporal) Address() string { return t.address }

// UIURL is the Web UI's base URL, empty without a UI.
func (t *Temporal) UIURL() string { return t.uiURL }

// StartTemporal starts the server and returns when its services are up.
func StartTemporal(ctx context.Context, o TemporalOptions) (*Temporal, error) {
	if o.IP == "" {
		o.IP = "127.0.0.1"
	}
	if o.Namespace == "" {
		o.Namespace = "default"
	}
	if o.Log == nil {
		o.Log = slog.Default()
	}
	if o.Dir != "" {
		if err := os.MkdirAll(o.Dir, 0o755); err != nil {
			return nil, fmt.Errorf("create temporal dir: %w", err)
		}
	}
	port, err := pickPort(o.IP, o.Port, "Temporal")
	if err != nil {
		return nil, err
	}
	ports := map[string]int{"frontend": port}
	for _, svc := range []string{"frontend-http", "history", "matching", "worker"} {
		if ports[svc], err = pgcluster.FreePort(); err != nil {
			return nil, err
		}
	}
	clusterID, err := clusterID(o.Dir)
	if err != nil {
		return nil, err
	}
	sqlConf, err := sqliteConfig(o.Dir, o.Namespace, o.SearchAttributes)
	if err != nil {
		return nil, err
	}
	host := func(p int) string { return net.JoinHostPort(o.IP, strconv.Itoa(p)) }
	conf := &config.Config{}
	conf.Global.Membership.MaxJoinDuration = 30 * time.Second
	conf.Global.Membership.BroadcastAddress = o.IP
	conf.Persistence.DefaultStore = "sqlite"
	conf.Persistence.VisibilityStore = "sqlite"
	conf.Persistence.NumHistoryShards = 1
	conf.Persistence.DataStores = map[string]config.DataStore{"sqlite": {SQL: sqlConf}}
	conf.ClusterMetadata = &cluster.Config{
		EnableGlobalNamespace:    false,
		FailoverVersionIncrement: 10,
		MasterClusterName:        "active",
		CurrentClusterName:       "active",
		ClusterInformation: map[string]cluster.ClusterInformation{"active": {
			Enabled: true, InitialFailoverVersion: 1, RPCAddress: host(port),
			HTTPAddress: host(ports["frontend-http"]), ClusterID: clusterID,
		}},
	}
	conf.DCRedirectionPolicy.Policy = "noop"
	svc := func(grpc, http int) config.Service {
		var s config.Service
		s.RPC.GRPCPort, s.RPC.BindOnIP, s.RPC.HTTPPort = grpc, o.IP, http
		return s
	}
	conf.Services = map[string]config.Service{
		"frontend": svc(port, ports["frontend-http"]),
		"history":  svc(ports["history"], 0),
		"matching": svc(ports["matching"], 0),
		"worker":   svc(ports["worker"], 0),
	}
	conf.Archival.History.State = "disabled"
	conf.Archival.Visibility.State = "disabled"
	conf.NamespaceDefaults.Archival.History.State = "disabled"
	conf.NamespaceDefaults.Archival.Visibility.State = "disabled"
	conf.PublicClient.HostPort = host(port)

	level := &slog.LevelVar{}
	level.Set(slog.LevelWarn)
	logger := serverLogger{log: o.Log.With("component", "temporal"), level: level}
	dyn := dynamicconfig.StaticClient{
		// The default internal poll rates add ~70 ms to every workflow
		// task on an idle server; raising them makes a laptop feel instant.
		dynamicconfig.MakeKey("history.transferProcessorMaxPollRPS"):     1000,
		dynamicconfig.MakeKey("history.visibilityProcessorMaxPollRPS"):   1000,
		dynamicconfig.MakeKey("history.timerProcessorMaxPollRPS"):        1000,
		dynamicconfig.FrontendMaxNamespaceVisibilityRPSPerInstance.Key(): 100,
		dynamicconfig.HistoryCacheHostLevelMaxSize.Key():                 8096,
	}
	srv, err := temporal.NewServer(
		temporal.WithConfig(conf),
		temporal.ForServices(temporal.DefaultServices),
		temporal.WithStaticHosts(map[primitives.ServiceName]static.Hosts{
			primitives.FrontendService: static.SingleLocalHost(host(port)),
			primitives.HistoryService:  static.SingleLocalHost(host(ports["history"])),
			primitives.MatchingService: static.SingleLocalHost(host(ports["matching"])),
			primitives.WorkerService:   static.SingleLocalHost(host(ports["worker"])),
		}),
		temporal.WithLogger(logger),
		temporal.WithDynamicConfigClient(dyn),
	)
	if err != nil {
		return nil, fmt.Errorf("configure temporal: %w", err)
	}
	if err := srv.Start(); err != nil {
		return nil, fmt.Errorf("start temporal: %w", err)
	}
	t := &Temporal{server: srv, level: level, address: host(port), stopOnce: make(chan struct{}, 1)}
	t.stopOnce <- struct{}{}

	if o.UIPort >= 0 {
		uiPort, err := pickPort(o.IP, o.UIPort, "Temporal UI")
		if err != nil {
			t.Stop()
			return nil, err
		}
		t.ui = uiserver.NewServer(uiopts.WithConfigProvider(&uiconfig.Config{
			Host: o.IP, Port: uiPort, TemporalGRPCAddress: host(port), EnableUI: true,
			CORS: uiconfig.CORS{CookieInsecure: true}, HideLogs: true, DisableNewsFetch: true,
			DefaultNamespace: o.Namespace,
		}))
		uiErr := make(chan error, 1)
		go func() { uiErr <- t.ui.Start() }()
		if err := waitListening(ctx, host(uiPort), uiErr); err != nil {
			t.Stop()
			return nil, fmt.Errorf("start temporal ui: %w", err)
		}
		t.uiURL = "http://" + host(uiPort)
	}
	return t, nil
}

// Stop stops the UI and the server. It quiets the server's logs first: a
// stopping server warns about every connection it closes.
func (t *Temporal) Stop() {
	select {
	case <-t.stopOnce:
	default:
		return
	}
	t.level.Set(slog.LevelError + 4)
	if t.ui != nil {
		t.ui.Stop()
	}
	t.server.Stop()
}

func pickPort(ip string, port int, what string) (int, error) {
	if port == 0 {
		return pgcluster.FreePort()
	}
	l, err := net.Listen("tcp", net.JoinHostPort(ip, strconv.Itoa(port)))
	if err != nil {
		return 0, fmt.Errorf("%s port %d is taken (is another cmo dev or Temporal running?): %w", what, port, err)
	}
	l.Close()
	return port, nil
}

func waitListening(ctx context.Context, addr string, failed <-chan error) error {
	tick := time.NewTicker(20 * time.Millisecond)
	defer tick.Stop()
	deadline := time.After(30 * time.Second)
	for {
		if c, err := net.DialTimeout("tcp", addr, 200*time.Millisecond); err == nil {
			c.Close()
			return nil
		}
		select {
		case err := <-failed:
			return err
		case <-ctx.Done():
			return ctx.Err()
		case <-deadline:
			return fmt.Errorf("%s did not start listening within 30s", addr)
		case <-tick.C:
		}
	}
}

// clusterID returns the cluster's UUID, the same for every start on one
// data directory (Temporal refuses a changed one).
func clusterID(dir string) (string, error) {
	if dir == "" {
		return newUUID(), nil
	}
	path := filepath.Join(dir, "temporal-cluster-id")
	if b, err := os.ReadFile(path); err == nil {
		return strings.TrimSpace(string(b)), nil
	} else if !errors.Is(err, os.ErrNotExist) {
		return "", fmt.Errorf("read cluster id: %w", err)
	}
	id := newUUID()
	if err := os.WriteFile(path, []byte(id+"\n"), 0o644); err != nil {
		return "", fmt.Errorf("write cluster id: %w", err)
	}
	return id, nil
}

func newUUID() string {
	var b [16]byte
	_, _ = rand.Read(b[:])
	b[6] = b[6]&0x0f | 0x40
	b[8] = b[8]&0x3f | 0x80
	return fmt.Sprintf("%x-%x-%x-%x-%x", b[0:4], b[4:6], b[6:8], b[8:10], b[10:])
}

func sqliteConfig(dir, namespace string, attrs map[string]enumspb.IndexedValueType) (*config.SQL, error) {
	conf := &config.SQL{PluginName: sqliteplugin.PluginName}
	if dir == "" {
		conf.ConnectAttributes = map[string]string{"mode": "memory", "cache": "shared"}
		conf.DatabaseName = "cmo-" + newUUID()
	} else {
		if err := os.MkdirAll(dir, 0o755); err != nil {
			return nil, fmt.Errorf("create temporal dir: %w", err)
		}
		// WAL with synchronous=NORMAL: durable across process crashes and
		// three times the throughput of the defaults.
		conf.ConnectAttributes = map[string]string{"mode": "rwc", "journal_mode": "wal", "synchronous": "1"}
		conf.DatabaseName = filepath.Join(dir, "temporal.db")
		if _, err := os.Stat(conf.DatabaseName); errors.Is(err, os.ErrNotExist) {
			if err := sqliteschema.SetupSchema(conf); err != nil {
				return nil, fmt.Errorf("create temporal schema: %w", err)
			}
		}
	}
	// An in-memory database gets its schema from the sqlite plugin itself.
	ns, err := sqliteschema.NewNamespaceConfig("active", namespace, false, attrs)
	if err != nil {
		return nil, fmt.Errorf("namespace %s: %w", namespace, err)
	}
	if err := sqliteschema.CreateNamespaces(conf, ns); err != nil {
		return nil, fmt.Errorf("create namespace %s: %w", namespace, err)
	}
	return conf, nil
}

// serverLogger sends the Temporal server's logs to slog, at a level that
// can be raised while stopping.
type serverLogger struct {
	log   *slog.Logger
	level *slog.LevelVar
}

var _ tlog.Logger = serverLogger{}

func (l serverLogger) Debug(msg string, tags ...tag.Tag)  { l.emit(slog.LevelDebug, msg, tags) }
func (l serverLogger) Info(msg string, tags ...tag.Tag)   { l.emit(slog.LevelInfo, msg, tags) }
func (l serverLogger) Warn(msg string, tags ...tag.Tag)   { l.emit(slog.LevelWarn, msg, tags) }
func (l serverLogger) Error(msg string, tags ...tag.Tag)  { l.emit(slog.LevelError, msg, tags) }
func (l serverLogger) DPanic(msg string, tags ...tag.Tag) { l.emit(slog.LevelError, msg, tags) }
func (l serverLogger) Panic(msg string, tags ...tag.Tag)  { l.emit(slog.LevelError, msg, tags) }
func (l serverLogger) Fatal(msg string, tags ...tag.Tag)  { l.emit(slog.LevelError, msg, tags) }

func (l serverLogger) emit(level slog.Level, msg string, tags []tag.Tag) {
	if level < l.level.Level() {
		return
	}
	attrs := make([]slog.Attr, len(tags))
	for i, t := range tags {
		attrs[i] = slog.Any(t.Key(), t.Value())
	}
	l.log.LogAttrs(context.Background(), level, msg, attrs...)
}
