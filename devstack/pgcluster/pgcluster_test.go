package pgcluster

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/stretchr/testify/require"
)

// needPostgres skips on a developer machine without PostgreSQL, but fails in
// CI, where a missing binary means the tests silently stopped running.
func needPostgres(t *testing.T) {
	t.Helper()
	if _, err := BinDir(); err != nil {
		if os.Getenv("CI") == "" {
			t.Skip(err)
		}
		t.Fatal(err)
	}
}

// tempDir returns a directory the postgres OS user can reach when the tests
// run as root; t.TempDir's is 0700 under a 0700 parent.
func tempDir(t *testing.T) string {
	t.Helper()
	dir, err := os.MkdirTemp("", "cmo-pg-*")
	require.NoError(t, err)
	require.NoError(t, os.Chmod(dir, 0o755))
	t.Cleanup(func() { _ = os.RemoveAll(dir) })
	return dir
}

func start(t *testing.T, dir string) *Cluster {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	c, err := Start(ctx, Options{Dir: dir})
	require.NoError(t, err)
	t.Cleanup(func() { _ = c.Stop() })
	return c
}

func connect(t *testing.T, url string) *pgx.Conn {
	t.Helper()
	conn, err := pgx.Connect(context.Background(), url)
	require.NoError(t, err)
	t.Cleanup(func() { _ = conn.Close(context.Background()) })
	return conn
}

// requireGone checks that no process of the cluster is left: the
// postmaster and its backends all share its process group.
func requireGone(t *testing.T, c *Cluster) {
	t.Helper()
	err := syscall.Kill(-c.cmd.Process.Pid, 0)
	require.ErrorIs(t, err, syscall.ESRCH, "postgres processes still running")
	_, err = net.Dial("tcp", fmt.Sprintf("127.0.0.1:%d", c.Port()))
	require.Error(t, err, "port still accepting connections")
}

func TestRestartKeepsData(t *testing.T) {
	needPostgres(t)
	t.Parallel()
	dir := filepath.Join(tempDir(t), "data")

	c := start(t, dir)
	require.Equal(t, fmt.Sprintf("postgres://cmo@127.0.0.1:%d/cmo?sslmode=disable", c.Port()), c.URL())
	conn := connect(t, c.URL())
	_, err := conn.Exec(context.Background(), "CREATE TABLE kept (v text); INSERT INTO kept VALUES ('hello')")
	require.NoError(t, err)
	require.NoError(t, conn.Close(context.Background()))

	_, err = Start(context.Background(), Options{Dir: dir})
	require.ErrorContains(t, err, "already running")

	require.NoError(t, c.Stop())
	requireGone(t, c)
	require.NoFileExists(t, filepath.Join(dir, "postmaster.pid"))
	require.NoError(t, c.Stop(), "second Stop")

	c2 := start(t, dir)
	var v string
	require.NoError(t, connect(t, c2.URL()).QueryRow(context.Background(), "SELECT v FROM kept").Scan(&v))
	require.Equal(t, "hello", v)
	require.NoError(t, c2.Stop())
}

func TestParallelClusters(t *testing.T) {
	needPostgres(t)
	t.Parallel()
	root := tempDir(t)

	var wg sync.WaitGroup
	clusters := make([]*Cluster, 2)
	errs := make([]error, 2)
	for i := range clusters {
		wg.Go(func() {
			ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
			defer cancel()
			clusters[i], errs[i] = Start(ctx, Options{Dir: filepath.Join(root, strconv.Itoa(i)), Database: "app"})
		})
	}
	wg.Wait()
	for i, c := range clusters {
		require.NoError(t, errs[i])
		t.Cleanup(func() { _ = c.Stop() })
	}
	require.NotEqual(t, clusters[0].Port(), clusters[1].Port())

	for i, c := range clusters {
		conn := connect(t, c.URL())
		_, err := conn.Exec(context.Background(), "CREATE TABLE only_"+strconv.Itoa(i)+" ()")
		require.NoError(t, err)
	}
	for i, c := range clusters {
		var n int
		err := connect(t, c.URL()).QueryRow(context.Background(),
			"SELECT count(*) FROM pg_tables WHERE tablename LIKE 'only_%' AND tablename <> $1", "only_"+strconv.Itoa(i)).Scan(&n)
		require.NoError(t, err)
		require.Zero(t, n, "cluster %d sees the other's table", i)
	}

	// Concurrent Stops all wait for the one shutdown and agree on its result.
	for _, c := range clusters {
		var stops sync.WaitGroup
		errs := make([]error, 3)
		for i := range errs {
			stops.Go(func() { errs[i] = c.Stop() })
		}
		stops.Wait()
		require.Equal(t, []error{nil, nil, nil}, errs)
		requireGone(t, c)
	}
}

// A postgres killed outright leaves a stale postmaster.pid and needs crash
// recovery; the next Start must cope, and Stop must report rather than hang.
func TestRestartAfterCrash(t *testing.T) {
	needPostgres(t)
	t.Parallel()
	dir := filepath.Join(tempDir(t), "data")

	c := start(t, dir)
	conn := connect(t, c.URL())
	// Without Durable, a commit does not wait for its WAL to leave
	// postgres' memory, so a killed server may lose it; this session opts in.
	_, err := conn.Exec(context.Background(), "SET synchronous_commit = on")
	require.NoError(t, err)
	_, err = conn.Exec(context.Background(), "CREATE TABLE survived (); INSERT INTO survived DEFAULT VALUES")
	require.NoError(t, err)
	require.NoError(t, syscall.Kill(-c.cmd.Process.Pid, syscall.SIGKILL))
	<-c.Done()
	require.FileExists(t, filepath.Join(dir, "postmaster.pid"))
	require.ErrorContains(t, c.Stop(), "already exited")
	require.ErrorContains(t, c.Stop(), "already exited")

	c2 := start(t, dir)
	var n int
	require.NoError(t, connect(t, c2.URL()).QueryRow(context.Background(), "SELECT count(*) FROM survived").Scan(&n))
	require.Equal(t, 1, n)
}

// A lock file whose pid now belongs to some unrelated process, as after a
// container restart, must not keep the cluster from starting.
func TestStaleLockWithReusedPid(t *testing.T) {
	needPostgres(t)
	t.Parallel()
	dir := filepath.Join(tempDir(t), "data")
	c := start(t, dir)
	require.NoError(t, c.Stop())

	// Not our own pid: postgres already ignores its parent's.
	other := exec.Command("sleep", "600")
	require.NoError(t, other.Start())
	t.Cleanup(func() { _ = other.Process.Kill(); _ = other.Wait() })
	lock := fmt.Sprintf("%d\n%s\n0\n%d\n\n127.0.0.1\n0 0\nready   \n", other.Process.Pid, dir, c.Port())
	require.NoError(t, os.WriteFile(filepath.Join(dir, "postmaster.pid"), []byte(lock), 0o600))
	start(t, dir)
}

// The postgres user cannot enter a 0700 directory of root's, and Start
// must name it instead of letting initdb fail obscurely.
func TestUnreachableDir(t *testing.T) {
	needPostgres(t)
	if os.Geteuid() != 0 {
		t.Skip("only root runs postgres as another user")
	}
	t.Parallel()
	private := filepath.Join(tempDir(t), "private")
	require.NoError(t, os.Mkdir(private, 0o700))
	_, err := Start(context.Background(), Options{Dir: filepath.Join(private, "data")})
	require.ErrorContains(t, err, private)
	require.ErrorContains(t, err, "DATABASE_URL")
	require.NoDirExists(t, filepath.Join(private, "data"))
}

func TestNotADataDir(t *testing.T) {
	needPostgres(t)
	t.Parallel()
	dir := tempDir(t)
	require.NoError(t, os.WriteFile(filepath.Join(dir, "notes.txt"), nil, 0o644))
	_, err := Start(context.Background(), Options{Dir: dir})
	require.ErrorContains(t, err, "neither empty nor a PostgreSQL cluster")
}

// A port chosen by the caller is not swapped for another one: the caller
// asked for it, so the failure is reported, with postgres' reason.
func TestPortTaken(t *testing.T) {
	needPostgres(t)
	t.Parallel()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	defer ln.Close()
	port := ln.Addr().(*net.TCPAddr).Port

	var log bytes.Buffer
	_, err = Start(context.Background(), Options{Dir: filepath.Join(tempDir(t), "data"), Port: port, Log: &log})
	require.ErrorIs(t, err, errPortInUse)
	require.Contains(t, log.String(), "Address already in use")
}

const helperEnv = "PGCLUSTER_HELPER_DIR"

// TestHelperProcess is not a test: TestParentDeath runs the test binary
// with it to get a process that starts a cluster and can then be killed.
func TestHelperProcess(t *testing.T) {
	dir := os.Getenv(helperEnv)
	if dir == "" {
		return
	}
	c, err := Start(context.Background(), Options{Dir: dir})
	if err != nil {
		fmt.Println("ERR", err)
		os.Exit(1)
	}
	fmt.Println("PID", c.cmd.Process.Pid)
	select {}
}

// If the process that started postgres is killed without a chance to stop
// it, the parent-death signal must still shut postgres down.
func TestParentDeath(t *testing.T) {
	needPostgres(t)
	t.Parallel()
	dir := filepath.Join(tempDir(t), "data")

	helper := exec.Command(os.Args[0], "-test.run=^TestHelperProcess$", "-test.count=1")
	helper.Env = append(os.Environ(), helperEnv+"="+dir)
	helper.Stderr = os.Stderr
	out, err := helper.StdoutPipe()
	require.NoError(t, err)
	require.NoError(t, helper.Start())
	t.Cleanup(func() { _ = helper.Process.Kill(); _ = helper.Wait() })

	var pid int
	sc := bufio.NewScanner(out)
	for sc.Scan() {
		if p, ok := strings.CutPrefix(sc.Text(), "PID "); ok {
			pid, err = strconv.Atoi(p)
			require.NoError(t, err)
			break
		}
		require.False(t, strings.HasPrefix(sc.Text(), "ERR"), sc.Text())
	}
	require.NotZero(t, pid, "helper did not start postgres")
	require.FileExists(t, filepath.Join(dir, "postmaster.pid"))

	require.NoError(t, helper.Process.Kill())
	_ = helper.Wait()

	// postgres removes its lock file as the last step of a clean shutdown.
	// Its process may linger as a zombie if nothing reaps orphans here, so
	// the lock file is the condition to wait for.
	deadline := time.Now().Add(30 * time.Second)
	for {
		_, err := os.Stat(filepath.Join(dir, "postmaster.pid"))
		if errors.Is(err, os.ErrNotExist) {
			break
		}
		require.True(t, time.Now().Before(deadline), "postgres (pid %d) still running after its parent died", pid)
		time.Sleep(50 * time.Millisecond)
	}
}

func TestFreePort(t *testing.T) {
	t.Parallel()
	// Processes forked meanwhile, as when a cluster starts beside us, must
	// not carry the probing sockets away and keep the port bound.
	stop := make(chan struct{})
	var forks sync.WaitGroup
	defer forks.Wait()
	defer close(stop)
	forks.Go(func() {
		for {
			select {
			case <-stop:
				return
			default:
				_ = exec.Command("true").Run()
			}
		}
	})

	seen := map[int]bool{}
	for range 200 {
		p, err := FreePort()
		require.NoError(t, err)
		require.False(t, seen[p], "port %d handed out twice", p)
		seen[p] = true
		// The port is in TIME_WAIT, which must not stop a real server.
		ln, err := net.Listen("tcp", fmt.Sprintf("127.0.0.1:%d", p))
		require.NoError(t, err)
		require.NoError(t, ln.Close())
	}
}

func TestBinDir(t *testing.T) {
	needPostgres(t)
	dir, err := BinDir()
	require.NoError(t, err)
	require.FileExists(t, filepath.Join(dir, "initdb"))
	require.FileExists(t, filepath.Join(dir, "postgres"))
}
