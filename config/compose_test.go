package config

// No Docker engine is available where these tests run, so docker-compose.yml
// and the Dockerfile are checked statically: the services exist, the cmo
// containers only set variables the binary reads (Vars) and agree with each
// other, the start order is sound, and the addresses they use point at the
// services and ports that actually serve them.

import (
	"bytes"
	"encoding/base64"
	"fmt"
	"net"
	"net/url"
	"os"
	"regexp"
	"slices"
	"sort"
	"strconv"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
	"gopkg.in/yaml.v3"
)

const (
	composePath    = "../docker-compose.yml"
	dockerfilePath = "../Dockerfile"

	// The temporal service's frontend port.
	temporalFrontendPort = "7233"
)

// The services docker-compose.yml must define.
var composeServices = []string{"postgres", "temporal", "temporal-ui", "cmo-migrate", "cmo-server", "cmo-worker"}

// cmo subcommand each cmo-* service runs.
var cmoCommands = map[string]string{
	"cmo-migrate": "migrate",
	"cmo-server":  "server",
	"cmo-worker":  "worker",
}

// The variables both server and worker need; they must have the same values.
var sharedServerWorkerVars = []string{EnvDatabaseURL, EnvTemporalAddress, EnvTemporalNamespace, EnvSecretKey}

// composeHostEnv is the shell environment `docker compose up` is assumed to
// run with when the file is interpolated: the documented usage sets only
// CMO_SECRET_KEY.
var composeHostEnv = map[string]string{
	EnvSecretKey: base64.StdEncoding.EncodeToString(bytes.Repeat([]byte{42}, 32)),
}

// The subset of the Compose specification the checks look at. Fields that
// Compose accepts in several shapes are left as any and normalised below.
type composeFile struct {
	Services map[string]composeService `yaml:"services"`
	Volumes  map[string]any            `yaml:"volumes"`
}

type composeService struct {
	Image       string              `yaml:"image"`
	Build       any                 `yaml:"build"`       // "ctx" or {context: ctx, dockerfile: ...}
	Command     any                 `yaml:"command"`     // "a b" or [a, b]
	Environment any                 `yaml:"environment"` // {K: V} or ["K=V"]
	Ports       []any               `yaml:"ports"`       // "[ip:]host:container[/proto]" or {target: n, published: m}
	DependsOn   any                 `yaml:"depends_on"`  // [svc] or {svc: {condition: c}}
	Healthcheck *composeHealthcheck `yaml:"healthcheck"`
	Restart     string              `yaml:"restart"`
	Volumes     []any               `yaml:"volumes"`
}

type composeHealthcheck struct {
	Test    any  `yaml:"test"` // "shell command" or [CMD, ...] / [CMD-SHELL, "..."] / [NONE]
	Disable bool `yaml:"disable"`
}

func loadCompose(t *testing.T) composeFile {
	t.Helper()
	data, err := os.ReadFile(composePath)
	require.NoError(t, err, "read %s", composePath)
	var f composeFile
	require.NoError(t, yaml.Unmarshal(data, &f), "parse %s", composePath)
	require.NotEmpty(t, f.Services, "%s defines no services", composePath)
	return f
}

// service returns the named service, failing the test if it is missing.
func (f composeFile) service(t *testing.T, name string) composeService {
	t.Helper()
	s, ok := f.Services[name]
	require.True(t, ok, "%s has no service %q (it has %v)", composePath, name, sortedKeys(f.Services))
	return s
}

// cmoServices names the services that run the cmo image.
func (f composeFile) cmoServices() []string {
	var names []string
	for name := range f.Services {
		if strings.HasPrefix(name, "cmo-") {
			names = append(names, name)
		}
	}
	sort.Strings(names)
	return names
}

// environment returns a service's environment as written (before
// interpolation). A variable passed through from the host without a value
// ("- NAME" or "NAME:") is returned as "${NAME}", which is what it means.
func environment(raw any) (map[string]string, error) {
	env := map[string]string{}
	switch v := raw.(type) {
	case nil:
	case map[string]any:
		for k, val := range v {
			switch val := val.(type) {
			case nil:
				env[k] = "${" + k + "}"
			case string, bool, int, float64:
				env[k] = fmt.Sprint(val)
			default:
				return nil, fmt.Errorf("environment %s: value %v is not a scalar", k, val)
			}
		}
	case []any:
		for _, item := range v {
			s, ok := item.(string)
			if !ok {
				return nil, fmt.Errorf("environment entry %v is not a string", item)
			}
			k, val, hasValue := strings.Cut(s, "=")
			if !hasValue {
				val = "${" + k + "}"
			}
			if _, dup := env[k]; dup {
				return nil, fmt.Errorf("environment sets %s twice", k)
			}
			env[k] = val
		}
	default:
		return nil, fmt.Errorf("environment is a %T, want a map or a list", raw)
	}
	return env, nil
}

func (s composeService) env(t *testing.T, name string) map[string]string {
	t.Helper()
	env, err := environment(s.Environment)
	require.NoError(t, err, "service %s", name)
	return env
}

// interpolatedEnv is the environment the container actually gets when compose
// runs with composeHostEnv.
func (s composeService) interpolatedEnv(t *testing.T, name string) map[string]string {
	t.Helper()
	out := map[string]string{}
	for k, v := range s.env(t, name) {
		val, err := interpolate(v, lookupMap(composeHostEnv))
		require.NoError(t, err, "service %s: interpolating %s=%s", name, k, v)
		out[k] = val
	}
	return out
}

var interpolation = regexp.MustCompile(`\$(?:(\$)|\{([A-Za-z_][A-Za-z0-9_]*)(?:(:?[-?+])([^}]*))?\}|([A-Za-z_][A-Za-z0-9_]*))`)

// interpolate applies Compose's variable substitution: $$, $NAME, ${NAME},
// ${NAME:-default}, ${NAME-default}, ${NAME:?error}, ${NAME?error},
// ${NAME:+alt} and ${NAME+alt} (not nested).
func interpolate(s string, lookup func(string) (string, bool)) (string, error) {
	var b strings.Builder
	last := 0
	for _, m := range interpolation.FindAllStringSubmatchIndex(s, -1) {
		b.WriteString(s[last:m[0]])
		last = m[1]
		group := func(i int) string {
			if m[2*i] < 0 {
				return ""
			}
			return s[m[2*i]:m[2*i+1]]
		}
		if m[2] >= 0 { // $$
			b.WriteString("$")
			continue
		}
		name, op, arg := group(2), group(3), group(4)
		if name == "" {
			name = group(5)
		}
		val, set := lookup(name)
		nonEmpty := set && val != ""
		switch op {
		case "":
			b.WriteString(val)
		case ":-", "-":
			if nonEmpty || (op == "-" && set) {
				b.WriteString(val)
			} else {
				b.WriteString(arg)
			}
		case ":?", "?":
			if !nonEmpty && !(op == "?" && set) {
				return "", fmt.Errorf("required variable %s is missing a value: %s", name, arg)
			}
			b.WriteString(val)
		case ":+", "+":
			if nonEmpty || (op == "+" && set) {
				b.WriteString(arg)
			}
		}
	}
	b.WriteString(s[last:])
	return b.String(), nil
}

// command returns a service's command as a list.
func (s composeService) command(t *testing.T, name string) []string {
	t.Helper()
	switch v := s.Command.(type) {
	case string:
		return strings.Fields(v)
	case []any:
		var cmd []string
		for _, a := range v {
			cmd = append(cmd, fmt.Sprint(a))
		}
		return cmd
	case nil:
		return nil
	default:
		require.Failf(t, "bad command", "service %s: command is a %T", name, v)
		return nil
	}
}

// dependsOn maps each service this one waits for to the condition it waits
// for (the short list form means service_started).
func (s composeService) dependsOn(t *testing.T, name string) map[string]string {
	t.Helper()
	deps := map[string]string{}
	switch v := s.DependsOn.(type) {
	case nil:
	case []any:
		for _, d := range v {
			deps[fmt.Sprint(d)] = "service_started"
		}
	case map[string]any:
		for dep, spec := range v {
			cond := "service_started"
			if m, ok := spec.(map[string]any); ok {
				if c, ok := m["condition"].(string); ok {
					cond = c
				}
			}
			deps[dep] = cond
		}
	default:
		require.Failf(t, "bad depends_on", "service %s: depends_on is a %T", name, v)
	}
	return deps
}

// healthcheck returns the healthcheck command ([CMD, ...] or [CMD-SHELL, ...]),
// or nil when there is none.
func (s composeService) healthcheck() []string {
	if s.Healthcheck == nil || s.Healthcheck.Disable {
		return nil
	}
	switch v := s.Healthcheck.Test.(type) {
	case string:
		return []string{"CMD-SHELL", v}
	case []any:
		var cmd []string
		for _, a := range v {
			cmd = append(cmd, fmt.Sprint(a))
		}
		if len(cmd) < 2 || cmd[0] == "NONE" {
			return nil
		}
		return cmd
	}
	return nil
}

// containerPorts lists the container-side ports a service publishes.
func (s composeService) containerPorts(t *testing.T, name string) []string {
	t.Helper()
	var ports []string
	for _, p := range s.Ports {
		switch v := p.(type) {
		case string:
			v, _, _ = strings.Cut(v, "/") // drop /tcp
			parts := strings.Split(v, ":")
			ports = append(ports, parts[len(parts)-1])
		case int:
			ports = append(ports, strconv.Itoa(v))
		case map[string]any:
			ports = append(ports, fmt.Sprint(v["target"]))
		default:
			require.Failf(t, "bad ports", "service %s: port %v is a %T", name, p, p)
		}
	}
	return ports
}

// buildContext returns the build context of a service ("" when it has none).
func (s composeService) buildContext() string {
	switch v := s.Build.(type) {
	case string:
		return v
	case map[string]any:
		if c, ok := v["context"].(string); ok {
			return c
		}
		return "."
	}
	return ""
}

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}

func TestComposeServicesExist(t *testing.T) {
	f := loadCompose(t)
	for _, name := range composeServices {
		f.service(t, name)
	}
	require.ElementsMatch(t, sortedKeys(cmoCommands), f.cmoServices(),
		"the cmo-* services in %s", composePath)
	for _, name := range f.cmoServices() {
		require.Equal(t, ".", strings.TrimSuffix(f.service(t, name).buildContext(), "/"),
			"service %s must be built from the repository root (build: .), where the Dockerfile is", name)
	}
	pg := f.service(t, "postgres")
	require.NotEmpty(t, pg.Volumes, "postgres needs a volume, or its data is lost with the container")
}

func TestComposeCmoEnvironmentIsKnownToTheBinary(t *testing.T) {
	f := loadCompose(t)
	for _, name := range f.cmoServices() {
		for _, k := range sortedKeys(f.service(t, name).env(t, name)) {
			_, known := Vars[k]
			require.True(t, known,
				"service %s sets %s, which the cmo binary never reads: it is not in config.Vars (%v)",
				name, k, sortedKeys(Vars))
		}
	}

	server := f.service(t, "cmo-server").env(t, "cmo-server")
	worker := f.service(t, "cmo-worker").env(t, "cmo-worker")
	for _, k := range sharedServerWorkerVars {
		require.Contains(t, server, k, "cmo-server must set %s", k)
		require.Contains(t, worker, k, "cmo-worker must set %s", k)
		require.Equal(t, server[k], worker[k], "cmo-server and cmo-worker must agree on %s", k)
	}
	require.Equal(t, server[EnvTaskQueue], worker[EnvTaskQueue],
		"cmo-server and cmo-worker must use the same task queue (%s)", EnvTaskQueue)
	migrate := f.service(t, "cmo-migrate").env(t, "cmo-migrate")
	require.Equal(t, server[EnvDatabaseURL], migrate[EnvDatabaseURL],
		"cmo-migrate must migrate the database cmo-server uses (%s)", EnvDatabaseURL)

	// The key must come from the operator, never from the file.
	_, err := interpolate(server[EnvSecretKey], lookupMap(nil))
	require.Error(t, err,
		"%s must be required from the shell, e.g. ${%s:?set %s}, not given a value in %s",
		EnvSecretKey, EnvSecretKey, EnvSecretKey, composePath)

	// Whatever each container receives must be a configuration the binary accepts.
	for _, name := range f.cmoServices() {
		_, err := FromLookup(lookupMap(f.service(t, name).interpolatedEnv(t, name)))
		require.NoError(t, err, "service %s: the cmo binary would reject its environment", name)
	}
}

func TestComposeCmoCommands(t *testing.T) {
	f := loadCompose(t)
	for name, sub := range cmoCommands {
		require.Equal(t, []string{sub}, f.service(t, name).command(t, name),
			"service %s must run the `cmo %s` subcommand (the image's ENTRYPOINT is the cmo binary)", name, sub)
	}
	require.Equal(t, "no", f.service(t, "cmo-migrate").Restart,
		"cmo-migrate runs once and exits: restart must be \"no\" or service_completed_successfully never fires")
}

func TestComposeStartOrder(t *testing.T) {
	f := loadCompose(t)
	want := map[string]map[string]string{
		"temporal":    {"postgres": "service_healthy"},
		"temporal-ui": {"temporal": "service_healthy"},
		"cmo-migrate": {"postgres": "service_healthy"},
		"cmo-server":  {"temporal": "service_healthy", "cmo-migrate": "service_completed_successfully"},
		"cmo-worker":  {"temporal": "service_healthy", "cmo-migrate": "service_completed_successfully"},
	}
	for _, name := range sortedKeys(want) {
		deps := f.service(t, name).dependsOn(t, name)
		for _, dep := range sortedKeys(want[name]) {
			require.Contains(t, deps, dep, "service %s must depend on %s", name, dep)
			require.Equal(t, want[name][dep], deps[dep],
				"service %s must wait for %s with condition %s", name, dep, want[name][dep])
		}
	}

	for _, name := range sortedKeys(f.Services) {
		for dep, cond := range f.service(t, name).dependsOn(t, name) {
			target, ok := f.Services[dep]
			require.True(t, ok, "service %s depends on %s, which %s does not define", name, dep, composePath)
			if cond == "service_healthy" {
				require.NotNil(t, target.healthcheck(),
					"service %s waits for %s to be service_healthy, but %s has no healthcheck, so it never becomes healthy",
					name, dep, dep)
			}
		}
	}
}

// httpAddrPort is the port a cmo service listens on.
func httpAddrPort(t *testing.T, env map[string]string) string {
	t.Helper()
	addr := env[EnvHTTPAddr]
	if addr == "" {
		addr = DefaultHTTPAddr
	}
	_, port, err := net.SplitHostPort(addr)
	require.NoError(t, err, "%s=%q", EnvHTTPAddr, addr)
	return port
}

func TestComposeServerPort(t *testing.T) {
	f := loadCompose(t)
	server := f.service(t, "cmo-server")
	port := httpAddrPort(t, server.interpolatedEnv(t, "cmo-server"))
	require.Contains(t, server.containerPorts(t, "cmo-server"), port,
		"cmo-server listens on port %s (%s) but publishes container ports %v",
		port, EnvHTTPAddr, server.containerPorts(t, "cmo-server"))

	hc := server.healthcheck()
	require.NotNil(t, hc, "cmo-server needs a healthcheck")
	require.Contains(t, strings.Join(hc[1:], " "), ":"+port+"/readyz",
		"cmo-server's healthcheck must request /readyz on its listen port %s", port)

	// The healthcheck runs inside the cmo image: its program must be installed there.
	tool := hc[1]
	if hc[0] == "CMD-SHELL" {
		tool = strings.Fields(hc[1])[0]
	}
	dockerfile, err := os.ReadFile(dockerfilePath)
	require.NoError(t, err)
	require.Regexp(t, `(apt-get install|apk add|dnf install|yum install)[^\n]*\b`+regexp.QuoteMeta(tool)+`\b`, string(dockerfile),
		"cmo-server's healthcheck runs %q, which %s does not install", tool, dockerfilePath)
}

func TestComposeAddressesNameTheirServices(t *testing.T) {
	f := loadCompose(t)
	temporal := f.service(t, "temporal")
	require.True(t, strings.HasPrefix(temporal.Image, "temporalio/"), "temporal runs image %q", temporal.Image)

	for _, name := range []string{"cmo-server", "cmo-worker", "temporal-ui"} {
		addr := f.service(t, name).interpolatedEnv(t, name)[EnvTemporalAddress]
		host, port, err := net.SplitHostPort(addr)
		require.NoError(t, err, "service %s: %s=%q is not host:port", name, EnvTemporalAddress, addr)
		require.Equal(t, "temporal", host, "service %s: %s=%q must name the temporal service", name, EnvTemporalAddress, addr)
		require.Equal(t, temporalFrontendPort, port, "service %s: %s=%q must use the frontend port", name, EnvTemporalAddress, addr)
	}

	// cmo's database lives on the postgres service, with its credentials.
	pg := f.service(t, "postgres").interpolatedEnv(t, "postgres")
	for _, name := range f.cmoServices() {
		raw := f.service(t, name).interpolatedEnv(t, name)[EnvDatabaseURL]
		if raw == "" {
			continue // only migrate/server/worker need it; checked above
		}
		u, err := url.Parse(raw)
		require.NoError(t, err, "service %s: %s", name, EnvDatabaseURL)
		require.Equal(t, "postgres", u.Hostname(), "service %s: %s must name the postgres service", name, EnvDatabaseURL)
		require.Contains(t, []string{"", "5432"}, u.Port(), "service %s: %s port", name, EnvDatabaseURL)
		pass, _ := u.User.Password()
		require.Equal(t, pg["POSTGRES_USER"], u.User.Username(), "service %s: %s user must be postgres's POSTGRES_USER", name, EnvDatabaseURL)
		require.Equal(t, pg["POSTGRES_PASSWORD"], pass, "service %s: %s password must be postgres's POSTGRES_PASSWORD", name, EnvDatabaseURL)
		db := strings.TrimPrefix(u.Path, "/")
		require.Equal(t, pg["POSTGRES_DB"], db, "service %s: %s must use the database postgres creates (POSTGRES_DB)", name, EnvDatabaseURL)
		require.False(t, slices.Contains([]string{"temporal", "temporal_visibility"}, db),
			"service %s: %s must not share Temporal's databases", name, EnvDatabaseURL)
	}

	// The worker publishes to the sandbox platform cmo-server serves.
	sandbox := f.service(t, "cmo-worker").interpolatedEnv(t, "cmo-worker")[EnvSandboxURL]
	require.NotEmpty(t, sandbox, "cmo-worker must set %s", EnvSandboxURL)
	u, err := url.Parse(sandbox)
	require.NoError(t, err, "%s", EnvSandboxURL)
	require.Equal(t, "cmo-server", u.Hostname(), "cmo-worker: %s=%q must name the cmo-server service", EnvSandboxURL, sandbox)
	require.Equal(t, httpAddrPort(t, f.service(t, "cmo-server").interpolatedEnv(t, "cmo-server")), u.Port(),
		"cmo-worker: %s=%q must use cmo-server's listen port (%s)", EnvSandboxURL, sandbox, EnvHTTPAddr)
	require.Equal(t, "/sandbox", strings.TrimRight(u.Path, "/"), "cmo-worker: %s path", EnvSandboxURL)
}

func TestDockerfileBuildsCmo(t *testing.T) {
	data, err := os.ReadFile(dockerfilePath)
	require.NoError(t, err)
	dockerfile := string(data)
	require.Regexp(t, `go build [^\n]*\./cmd/cmo\b`, dockerfile, "%s must build ./cmd/cmo", dockerfilePath)
	// compose's `command: ["server"]` is appended to ENTRYPOINT.
	require.Regexp(t, `(?m)^ENTRYPOINT \["[^"]*/cmo"\]`, dockerfile,
		"%s: ENTRYPOINT must be the cmo binary, so compose commands are its subcommands", dockerfilePath)
	require.Regexp(t, `(?m)^USER `, dockerfile, "%s must not run as root", dockerfilePath)
}

func TestInterpolate(t *testing.T) {
	lookup := lookupMap(map[string]string{"SET": "v", "EMPTY": ""})
	for in, want := range map[string]string{
		"a$$b":            "a$b",
		"${SET}-$SET":     "v-v",
		"${UNSET}":        "",
		"${UNSET:-d}":     "d",
		"${EMPTY:-d}":     "d",
		"${EMPTY-d}":      "",
		"${SET:?m}":       "v",
		"${SET:+alt}":     "alt",
		"${UNSET:+alt}":   "",
		"x${SET:-d}y$$(z": "xvy$(z",
	} {
		got, err := interpolate(in, lookup)
		require.NoError(t, err, in)
		require.Equal(t, want, got, in)
	}
	for _, in := range []string{"${UNSET:?m}", "${EMPTY:?m}", "${UNSET?m}"} {
		_, err := interpolate(in, lookup)
		require.Error(t, err, in)
	}
}

func TestEnvironmentForms(t *testing.T) {
	var svc struct {
		Map  composeService `yaml:"map"`
		List composeService `yaml:"list"`
	}
	require.NoError(t, yaml.Unmarshal([]byte(`
map:
  environment:
    A: "1"
    B: 2
    C:
list:
  environment:
    - A=1
    - B=2
    - C
`), &svc))
	want := map[string]string{"A": "1", "B": "2", "C": "${C}"}
	require.Equal(t, want, svc.Map.env(t, "map"))
	require.Equal(t, want, svc.List.env(t, "list"))
}
