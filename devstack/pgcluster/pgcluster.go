// Package pgcluster runs a private PostgreSQL cluster with the machine's own
// initdb and postgres binaries, so that `cmo dev` and the tests need neither
// Docker nor a shared server. It depends only on the standard library and pgx
// so that tests can use it without pulling in the rest of the dev stack.
//
// The package is Linux-only: it relies on the parent-death signal and /proc
// to keep postgres from outliving the process that started it.
package pgcluster

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net"
	"net/url"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/jackc/pgx/v5"
)

// Defaults for Options, matching the names cmo uses everywhere else.
const (
	DefaultDatabase = "cmo"
	DefaultUser     = "cmo"
)

// Shutdown grace periods. Fast shutdown only has to abort transactions and
// write a checkpoint, so a postgres that has not exited after stopTimeout is
// stuck; immediate shutdown (SIGQUIT) skips the checkpoint and is followed by
// crash recovery at the next start, which is still better than hanging.
const (
	stopTimeout = 10 * time.Second
	quitTimeout = 5 * time.Second
)

// Options describes the cluster to start.
type Options struct {
	// Dir is the cluster's data directory. A missing or empty directory is
	// initialised with initdb; one that already holds a cluster is reused,
	// which is what makes `cmo dev` keep its data between runs.
	Dir string
	// Port is the TCP port on 127.0.0.1. Zero picks a free port at every
	// start, so callers must pass URL() on rather than remember a port.
	Port int
	// Database is created after start when missing. Default "cmo".
	Database string
	// User is the superuser created by initdb. Default "cmo". Authentication
	// is "trust": the server only listens on 127.0.0.1 and holds dev data.
	User string
	// Durable keeps fsync and full-page writes on. Tests leave it false:
	// they throw the data away, and syncing dominates their run time.
	Durable bool
	// Log receives postgres' own log. Nil discards it; the last lines are
	// kept either way so that a failed start can say why.
	Log io.Writer
}

// Cluster is a running postgres server. Stop it when done; if the process
// that started it dies first, the kernel asks postgres to shut down.
type Cluster struct {
	dir  string
	port int
	user string
	db   string
	cmd  *exec.Cmd
	log  *tail

	exited  chan struct{}
	waitErr error // written before exited is closed

	stopOnce sync.Once
	stopErr  error
}

// errPortInUse marks a start that failed only because another process
// holds the port, which is worth retrying with a new port.
var errPortInUse = errors.New("port already in use")

// Start initialises o.Dir when needed, starts postgres on it, waits until it
// accepts connections and creates o.Database. ctx bounds the whole start; it
// does not stop the server once Start has returned.
func Start(ctx context.Context, o Options) (*Cluster, error) {
	if o.Dir == "" {
		return nil, errors.New("start postgres: no data directory given")
	}
	if o.Database == "" {
		o.Database = DefaultDatabase
	}
	if o.User == "" {
		o.User = DefaultUser
	}
	bin, err := BinDir()
	if err != nil {
		return nil, fmt.Errorf("start postgres: %w", err)
	}
	acct, err := serverAccount()
	if err != nil {
		return nil, fmt.Errorf("start postgres: %w", err)
	}
	dir, initialised, err := prepareDir(o.Dir, acct)
	if err != nil {
		return nil, fmt.Errorf("start postgres: %w", err)
	}
	if !initialised {
		if err := initdb(ctx, bin, dir, o.User, o.Durable, acct); err != nil {
			return nil, fmt.Errorf("start postgres: %w", err)
		}
	}
	if err := checkLock(dir); err != nil {
		return nil, fmt.Errorf("start postgres: %w", err)
	}

	for attempt := 1; ; attempt++ {
		if err := ctx.Err(); err != nil {
			return nil, fmt.Errorf("start postgres: %w", err)
		}
		port := o.Port
		if port == 0 {
			if port, err = FreePort(); err != nil {
				return nil, fmt.Errorf("start postgres: %w", err)
			}
		}
		c := &Cluster{dir: dir, port: port, user: o.User, db: o.Database}
		err = c.launch(ctx, bin, o.Durable, o.Log, acct)
		// FreePort makes a collision unlikely but cannot rule out another
		// process binding the port between our check and postgres' bind.
		if errors.Is(err, errPortInUse) && o.Port == 0 && attempt < 5 {
			continue
		}
		if err != nil {
			return nil, fmt.Errorf("start postgres on %s: %w", dir, err)
		}
		if err := c.ensureDatabase(ctx); err != nil {
			_ = c.Stop()
			return nil, fmt.Errorf("start postgres on %s: %w", dir, err)
		}
		return c, nil
	}
}

// URL returns the connection string of the cluster's database.
func (c *Cluster) URL() string { return c.URLFor(c.db) }

// URLFor returns the connection string of database db on this cluster, for
// callers that keep several databases on one server (Temporal, tests).
func (c *Cluster) URLFor(db string) string {
	u := url.URL{
		Scheme:   "postgres",
		User:     url.User(c.user),
		Host:     net.JoinHostPort("127.0.0.1", strconv.Itoa(c.port)),
		Path:     "/" + db,
		RawQuery: "sslmode=disable",
	}
	return u.String()
}

// Port returns the TCP port the server listens on.
func (c *Cluster) Port() int { return c.port }

// Dir returns the data directory as postgres sees it (absolute, with the
// parent's symbolic links resolved).
func (c *Cluster) Dir() string { return c.dir }

// Done is closed when postgres exits, so that a supervisor such as `cmo dev`
// can notice a server that died on its own.
func (c *Cluster) Done() <-chan struct{} { return c.exited }

// Stop shuts postgres down with a fast shutdown (open transactions are
// rolled back, data is checkpointed) and waits for it to exit. It may be
// called more than once and concurrently; every call returns the same
// result. Stopping a server that had already exited is an error, because
// the caller did not know it was gone.
func (c *Cluster) Stop() error {
	c.stopOnce.Do(func() { c.stopErr = c.stop() })
	return c.stopErr
}

func (c *Cluster) stop() error {
	select {
	case <-c.exited:
		return fmt.Errorf("stop postgres: it had already exited (%s)%s", exitReason(c.waitErr), c.log.lastLines())
	default:
	}
	// Only the postmaster is signalled: it shuts its backends down in order.
	_ = c.cmd.Process.Signal(syscall.SIGINT)
	select {
	case <-c.exited:
		if c.waitErr != nil {
			return fmt.Errorf("stop postgres: %w%s", c.waitErr, c.log.lastLines())
		}
		return nil
	case <-time.After(stopTimeout):
	}
	c.kill()
	return fmt.Errorf("stop postgres: no exit %s after fast shutdown, killed it%s", stopTimeout, c.log.lastLines())
}

// kill ends postgres without a checkpoint: immediate shutdown first, then
// SIGKILL to its whole process group so that no backend is left holding the
// shared memory that would block the next start.
func (c *Cluster) kill() {
	_ = c.cmd.Process.Signal(syscall.SIGQUIT)
	select {
	case <-c.exited:
		return
	case <-time.After(quitTimeout):
	}
	_ = syscall.Kill(-c.cmd.Process.Pid, syscall.SIGKILL)
	<-c.exited
}

// launch starts the postmaster and waits until it reports itself ready.
func (c *Cluster) launch(ctx context.Context, bin string, durable bool, logw io.Writer, acct *account) error {
	args := []string{
		"-D", c.dir,
		"-p", strconv.Itoa(c.port),
		"-c", "listen_addresses=127.0.0.1",
		// No Unix socket: its default directory, /var/run/postgresql, is
		// often missing or not writable by the user running us.
		"-c", "unix_socket_directories=",
		// English messages, so that the port-in-use check below can read
		// them whatever locale an old cluster was made with.
		"-c", "lc_messages=C",
	}
	if !durable {
		args = append(args,
			"-c", "fsync=off",
			"-c", "synchronous_commit=off",
			"-c", "full_page_writes=off",
		)
	}
	c.log = &tail{}
	var out io.Writer = c.log
	if logw != nil {
		out = io.MultiWriter(c.log, lenient{logw})
	}
	c.cmd = exec.Command(filepath.Join(bin, "postgres"), args...)
	c.cmd.Dir = c.dir
	c.cmd.Stdout = out
	c.cmd.Stderr = out
	// Backends that outlive a killed postmaster keep the log pipe open; do
	// not let that block Wait forever.
	c.cmd.WaitDelay = quitTimeout
	c.cmd.SysProcAttr = &syscall.SysProcAttr{
		// Its own process group keeps a Ctrl-C on the terminal from
		// reaching postgres before we have stopped the things using it.
		Setpgid: true,
		// If we die, even by SIGKILL, postgres gets a fast shutdown instead
		// of running on as an orphan that holds the port and the data
		// directory. The kernel ties this to the starting thread, which the
		// Go runtime keeps alive unless it is locked and its goroutine exits.
		Pdeathsig: syscall.SIGINT,
	}
	acct.apply(c.cmd)
	c.exited = make(chan struct{})
	if err := c.cmd.Start(); err != nil {
		return fmt.Errorf("run postgres: %w", err)
	}
	go func() {
		c.waitErr = c.cmd.Wait()
		close(c.exited)
	}()

	if err := c.waitReady(ctx); err != nil {
		select {
		case <-c.exited:
		default:
			c.kill()
		}
		return err
	}
	return nil
}

// waitReady polls postmaster.pid, as pg_ctl does, until our postmaster
// records that it accepts connections. Probing the port instead could reach
// another server that won the port while ours was failing to bind it.
func (c *Cluster) waitReady(ctx context.Context) error {
	tick := time.NewTicker(50 * time.Millisecond)
	defer tick.Stop()
	for {
		if c.pidFileReady() {
			return nil
		}
		select {
		case <-c.exited:
			if strings.Contains(c.log.String(), "Address already in use") {
				return fmt.Errorf("port %d: %w", c.port, errPortInUse)
			}
			return fmt.Errorf("postgres exited while starting (%s)%s", exitReason(c.waitErr), c.log.lastLines())
		case <-ctx.Done():
			return fmt.Errorf("wait for postgres: %w%s", ctx.Err(), c.log.lastLines())
		case <-tick.C:
		}
	}
}

// pidFileReady reports whether postmaster.pid names our process and has
// reached the "ready" status that postgres writes once it accepts
// connections (line 8 of the file since PostgreSQL 10).
func (c *Cluster) pidFileReady() bool {
	b, err := os.ReadFile(filepath.Join(c.dir, "postmaster.pid"))
	if err != nil {
		return false
	}
	lines := strings.Split(string(b), "\n")
	return len(lines) >= 8 &&
		strings.TrimSpace(lines[0]) == strconv.Itoa(c.cmd.Process.Pid) &&
		strings.TrimSpace(lines[7]) == "ready"
}

func (c *Cluster) ensureDatabase(ctx context.Context) error {
	conn, err := pgx.Connect(ctx, c.URLFor("postgres"))
	if err != nil {
		return fmt.Errorf("connect to postgres: %w", err)
	}
	defer conn.Close(context.WithoutCancel(ctx))
	var one int
	err = conn.QueryRow(ctx, "SELECT 1 FROM pg_database WHERE datname = $1", c.db).Scan(&one)
	if err == nil {
		return nil
	}
	if !errors.Is(err, pgx.ErrNoRows) {
		return fmt.Errorf("look up database %s: %w", c.db, err)
	}
	if _, err := conn.Exec(ctx, "CREATE DATABASE "+pgx.Identifier{c.db}.Sanitize()); err != nil {
		return fmt.Errorf("create database %s: %w", c.db, err)
	}
	return nil
}

// BinDir returns the directory holding initdb and postgres. Debian keeps
// them out of PATH under /usr/lib/postgresql/VERSION/bin, so PATH is the
// last place looked.
func BinDir() (string, error) {
	if out, err := exec.Command("pg_config", "--bindir").Output(); err == nil {
		if d := strings.TrimSpace(string(out)); hasServer(d) {
			return d, nil
		}
	}
	dirs, _ := filepath.Glob("/usr/lib/postgresql/*/bin")
	sort.Slice(dirs, func(i, j int) bool { return majorOf(dirs[i]) > majorOf(dirs[j]) })
	for _, d := range dirs {
		if hasServer(d) {
			return d, nil
		}
	}
	if p, err := exec.LookPath("initdb"); err == nil {
		if d := filepath.Dir(p); hasServer(d) {
			return d, nil
		}
	}
	return "", errors.New("postgresql server binaries (initdb, postgres) not found via pg_config, /usr/lib/postgresql/*/bin or PATH: " +
		"install them (Debian: apt-get install postgresql-15) or set DATABASE_URL to an existing server")
}

// majorOf reads the version out of /usr/lib/postgresql/VERSION/bin so that
// 15 sorts after 9.6.
func majorOf(binDir string) float64 {
	v, err := strconv.ParseFloat(filepath.Base(filepath.Dir(binDir)), 64)
	if err != nil {
		return -1
	}
	return v
}

func hasServer(dir string) bool {
	for _, name := range []string{"initdb", "postgres"} {
		fi, err := os.Stat(filepath.Join(dir, name))
		if err != nil || !fi.Mode().IsRegular() || fi.Mode().Perm()&0o111 == 0 {
			return false
		}
	}
	return true
}

// FreePort returns a TCP port on 127.0.0.1 that the kernel will not hand
// out to another bind(":0") for a while, so that concurrent callers (tests
// running in parallel, several servers in `cmo dev`) do not all get the same
// port as they could with a plain listen-and-close. The port is left in
// TIME_WAIT, which blocks automatic port choice but not a bind with
// SO_REUSEADDR, which both postgres and Go listeners use.
//
// The sockets are kept out of any child process forked meanwhile (initdb,
// postgres, ...): a child holds copies of our descriptors until it execs,
// and a listener copied that way would keep the port bound for a moment
// after we have closed it.
func FreePort() (int, error) {
	syscall.ForkLock.RLock()
	defer syscall.ForkLock.RUnlock()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, fmt.Errorf("find free port: %w", err)
	}
	defer ln.Close()
	client, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		return 0, fmt.Errorf("find free port: %w", err)
	}
	defer client.Close()
	server, err := ln.Accept()
	if err != nil {
		return 0, fmt.Errorf("find free port: %w", err)
	}
	// The side that closes first ends in TIME_WAIT; it must be the accepted
	// connection, whose local port is the one we return.
	if err := server.Close(); err != nil {
		return 0, fmt.Errorf("find free port: %w", err)
	}
	// Read the FIN before closing the client, so the two closes are not
	// simultaneous (which would leave both ends in TIME_WAIT on the client's
	// port rather than on ours).
	_ = client.SetReadDeadline(time.Now().Add(time.Second))
	_, _ = io.Copy(io.Discard, client)
	return ln.Addr().(*net.TCPAddr).Port, nil
}

// account is the OS user that initdb and postgres run as when we are root,
// because both refuse to run as root. A nil *account means "as ourselves".
type account struct {
	name   string
	uid    uint32
	gid    uint32
	groups []uint32
}

func serverAccount() (*account, error) {
	if os.Geteuid() != 0 {
		return nil, nil
	}
	u, err := user.Lookup("postgres")
	if err != nil {
		return nil, fmt.Errorf("running as root, postgres must run as the postgres OS user, which the Debian package postgresql-15 creates: %w", err)
	}
	a := &account{name: u.Username}
	uid, err := strconv.ParseUint(u.Uid, 10, 32)
	if err != nil {
		return nil, fmt.Errorf("uid of user postgres: %w", err)
	}
	gid, err := strconv.ParseUint(u.Gid, 10, 32)
	if err != nil {
		return nil, fmt.Errorf("gid of user postgres: %w", err)
	}
	a.uid, a.gid = uint32(uid), uint32(gid)
	// Supplementary groups as a login would have them, so the permission
	// check in reachable matches what the kernel will decide.
	ids, _ := u.GroupIds()
	for _, s := range ids {
		if g, err := strconv.ParseUint(s, 10, 32); err == nil {
			a.groups = append(a.groups, uint32(g))
		}
	}
	return a, nil
}

func (a *account) apply(cmd *exec.Cmd) {
	if a == nil {
		return
	}
	if cmd.SysProcAttr == nil {
		cmd.SysProcAttr = &syscall.SysProcAttr{}
	}
	cmd.SysProcAttr.Credential = &syscall.Credential{Uid: a.uid, Gid: a.gid, Groups: a.groups}
}

// reachable fails when a directory from dir up to / cannot be searched by
// the account, the usual case being a data directory under root's 0700
// home. postgres would fail too, but with a message that does not say which
// directory is at fault.
func (a *account) reachable(dir string) error {
	for d := dir; ; d = filepath.Dir(d) {
		fi, err := os.Stat(d)
		if err != nil {
			return err
		}
		st, ok := fi.Sys().(*syscall.Stat_t)
		if ok && !a.canSearch(st) {
			return fmt.Errorf("user %s cannot enter %s (mode %04o, owner uid %d), so postgres cannot reach its data directory: "+
				"choose a data directory outside it, or set DATABASE_URL to an existing server", a.name, d, fi.Mode().Perm(), st.Uid)
		}
		if d == filepath.Dir(d) {
			return nil
		}
	}
}

// canSearch applies the kernel's rule: only the owner bits count for the
// owner, only the group bits for group members, the other bits otherwise.
func (a *account) canSearch(st *syscall.Stat_t) bool {
	mode := st.Mode
	if st.Uid == a.uid {
		return mode&0o100 != 0
	}
	if st.Gid == a.gid {
		return mode&0o010 != 0
	}
	for _, g := range a.groups {
		if st.Gid == g {
			return mode&0o010 != 0
		}
	}
	return mode&0o001 != 0
}

// prepareDir makes dir usable as a data directory and reports whether it
// already holds a cluster. The returned path has its parent's symbolic
// links resolved, so it matches what postgres reports as its directory.
func prepareDir(dir string, acct *account) (string, bool, error) {
	abs, err := filepath.Abs(dir)
	if err != nil {
		return "", false, fmt.Errorf("data directory %s: %w", dir, err)
	}
	parent := filepath.Dir(abs)
	if err := os.MkdirAll(parent, 0o755); err != nil {
		return "", false, fmt.Errorf("data directory: %w", err)
	}
	if parent, err = filepath.EvalSymlinks(parent); err != nil {
		return "", false, fmt.Errorf("data directory: %w", err)
	}
	abs = filepath.Join(parent, filepath.Base(abs))
	if acct != nil {
		if err := acct.reachable(parent); err != nil {
			return "", false, err
		}
	}

	_, err = os.Stat(filepath.Join(abs, "PG_VERSION"))
	if err == nil {
		return abs, true, nil
	}
	if !errors.Is(err, fs.ErrNotExist) {
		return "", false, fmt.Errorf("data directory: %w", err)
	}
	entries, err := os.ReadDir(abs)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		if err := os.Mkdir(abs, 0o700); err != nil {
			return "", false, fmt.Errorf("data directory: %w", err)
		}
	case err != nil:
		return "", false, fmt.Errorf("data directory: %w", err)
	case len(entries) > 0:
		return "", false, fmt.Errorf("data directory %s is neither empty nor a PostgreSQL cluster", abs)
	}
	// postgres refuses a data directory that others can read.
	if err := os.Chmod(abs, 0o700); err != nil {
		return "", false, fmt.Errorf("data directory: %w", err)
	}
	if acct != nil {
		err := filepath.WalkDir(abs, func(p string, _ fs.DirEntry, err error) error {
			if err != nil {
				return err
			}
			return os.Lchown(p, int(acct.uid), int(acct.gid))
		})
		if err != nil {
			return "", false, fmt.Errorf("hand data directory to user %s: %w", acct.name, err)
		}
	}
	return abs, false, nil
}

// initdb creates a cluster in the empty directory dir. C.UTF-8 gives
// byte-order sorting, which is stable across glibc upgrades, while keeping
// upper() and lower() working beyond ASCII; plain C is the fallback for
// systems without that locale.
func initdb(ctx context.Context, bin, dir, superuser string, durable bool, acct *account) error {
	var out []byte
	var err error
	for _, locale := range []string{"C.UTF-8", "C"} {
		args := []string{"-D", dir, "-U", superuser, "--auth=trust", "--encoding=UTF8", "--locale=" + locale}
		if !durable {
			args = append(args, "--no-sync")
		}
		cmd := exec.CommandContext(ctx, filepath.Join(bin, "initdb"), args...)
		// The inherited working directory may be one the postgres user
		// cannot enter.
		cmd.Dir = dir
		// Messages in English for the locale check below.
		cmd.Env = append(os.Environ(), "LC_ALL=C")
		acct.apply(cmd)
		out, err = cmd.CombinedOutput()
		if err == nil {
			return nil
		}
		if !bytes.Contains(out, []byte("invalid locale")) {
			break
		}
	}
	return fmt.Errorf("initdb %s: %w\n%s", dir, err, bytes.TrimSpace(out))
}

// checkLock refuses to start a second postmaster on dir. It also removes a
// lock file left by a crashed run whose pid now belongs to an unrelated
// process (common after a container restart, where pids start over):
// postgres itself would take that process for a live postmaster and refuse
// to start. A lock file whose pid is gone is left to postgres, which
// removes it.
func checkLock(dir string) error {
	lock := filepath.Join(dir, "postmaster.pid")
	b, err := os.ReadFile(lock)
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("read lock file: %w", err)
	}
	first, _, _ := strings.Cut(string(b), "\n")
	pid, err := strconv.Atoi(strings.TrimSpace(first))
	if err != nil || pid <= 0 {
		return nil // postgres reports a malformed lock file itself
	}
	if err := syscall.Kill(pid, 0); errors.Is(err, syscall.ESRCH) {
		return nil
	}
	if postmasterOf(pid, dir) {
		return fmt.Errorf("postgres (pid %d) is already running on %s", pid, dir)
	}
	if err := os.Remove(lock); err != nil {
		return fmt.Errorf("remove stale lock file: %w", err)
	}
	return nil
}

// postmasterOf reports whether process pid may be a postgres serving dir.
// The postmaster's working directory is its data directory; when that
// cannot be read, any process named postgres is assumed to be it, erring
// on the side of not starting a second server on the same files.
func postmasterOf(pid int, dir string) bool {
	if cwd, err := os.Readlink(fmt.Sprintf("/proc/%d/cwd", pid)); err == nil {
		real, err := filepath.EvalSymlinks(dir)
		if err != nil {
			real = dir
		}
		return cwd == real
	}
	comm, err := os.ReadFile(fmt.Sprintf("/proc/%d/comm", pid))
	if err != nil {
		return true
	}
	name := strings.TrimSpace(string(comm))
	return name == "postgres" || name == "postmaster"
}

func exitReason(err error) string {
	if err == nil {
		return "exit status 0"
	}
	return err.Error()
}

// tail keeps the end of postgres' log in memory for error messages.
type tail struct {
	mu  sync.Mutex
	buf []byte
}

const tailBytes = 16 << 10

func (t *tail) Write(p []byte) (int, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.buf = append(t.buf, p...)
	if over := len(t.buf) - tailBytes; over > 0 {
		t.buf = append(t.buf[:0], t.buf[over:]...)
	}
	return len(p), nil
}

func (t *tail) String() string {
	t.mu.Lock()
	defer t.mu.Unlock()
	return string(t.buf)
}

// lastLines formats the last lines of the log for appending to an error.
func (t *tail) lastLines() string {
	var lines []string
	sc := bufio.NewScanner(strings.NewReader(t.String()))
	for sc.Scan() {
		lines = append(lines, sc.Text())
	}
	if len(lines) == 0 {
		return ""
	}
	if len(lines) > 20 {
		lines = lines[len(lines)-20:]
	}
	return "\npostgres log:\n" + strings.Join(lines, "\n")
}

// lenient hides the caller's log writer's errors: io.MultiWriter would stop
// at the first one, the pipe from postgres would fill up, and postgres
// would block writing its log.
type lenient struct{ w io.Writer }

func (l lenient) Write(p []byte) (int, error) {
	_, _ = l.w.Write(p)
	return len(p), nil
}
