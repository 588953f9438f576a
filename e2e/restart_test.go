package e2e

import (
	"bufio"
	"encoding/base64"
	"encoding/json"
	"io"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"go.temporal.io/sdk/client"

	"github.com/cmo-dev/cmo/workflows"
)

// devProcess is `cmo dev` running in a child process.
type devProcess struct {
	cmd      *exec.Cmd
	api      string
	temporal string
	ui       string
	exited   chan error
}

// startDev runs `cmo dev` on dir and returns once it prints its addresses.
func startDev(t *testing.T, dir string) *devProcess {
	t.Helper()
	cmd := exec.Command(os.Args[0], "dev", "--data-dir", dir, "--http-addr", "127.0.0.1:0",
		"--temporal-port", "0", "--ui-port", "0", "--log-level", "warn")
	cmd.Env = append(os.Environ(), runCLIEnv+"=1")
	stdout, err := cmd.StdoutPipe()
	require.NoError(t, err)
	cmd.Stderr = testWriter{t}
	// cmo dev dies with the test binary, even when it is killed on a timeout;
	// its own postgres follows through its parent-death signal.
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	require.NoError(t, cmd.Start())
	p := &devProcess{cmd: cmd, exited: make(chan error, 1)}
	ready := make(chan struct{})
	go func() {
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			line := sc.Text()
			t.Log("cmo dev: " + line)
			fields := strings.Fields(line)
			switch {
			case strings.HasPrefix(line, "  API "):
				p.api = fields[1]
			case strings.HasPrefix(line, "  Temporal UI "):
				p.ui = fields[2]
			case strings.HasPrefix(line, "  Temporal "):
				p.temporal = fields[1]
			case strings.HasPrefix(line, "Try:"):
				close(ready)
			}
		}
		io.Copy(io.Discard, stdout)
	}()
	go func() { p.exited <- cmd.Wait() }()
	select {
	case <-ready:
	case err := <-p.exited:
		t.Fatalf("cmo dev exited before it was ready: %v", err)
	case <-time.After(2 * time.Minute):
		cmd.Process.Kill()
		t.Fatal("cmo dev not ready within 2 minutes")
	}
	require.NoError(t, registerDataDir(p.api, dir))
	t.Cleanup(func() {
		if cmd.ProcessState == nil {
			cmd.Process.Signal(syscall.SIGTERM)
			<-p.exited
		}
	})
	return p
}

// stop sends SIGTERM and waits for a clean exit.
func (p *devProcess) stop(t *testing.T) {
	t.Helper()
	require.NoError(t, p.cmd.Process.Signal(syscall.SIGTERM))
	select {
	case err := <-p.exited:
		require.NoError(t, err, "cmo dev exits 0 on SIGTERM")
	case <-time.After(time.Minute):
		p.cmd.Process.Kill()
		t.Fatal("cmo dev did not stop within a minute of SIGTERM")
	}
}

func TestDevSurvivesSIGTERMMidCampaign(t *testing.T) {
	dir := dataDir(t)
	dev := startDev(t, dir)
	a := api{t: t, base: dev.api}
	code, body := a.do("GET", "/readyz", nil)
	require.Equal(t, 200, code, body)

	launchAt := time.Now().Add(3 * time.Second).UTC().Format(time.RFC3339Nano)
	code, body = a.do("POST", "/v1/campaigns", map[string]any{
		"id": "restart", "brand": "demo", "playbook": "first-campaign", "author": "marta",
		"params": map[string]any{"product": "Restart Roast", "launch_at": launchAt},
	})
	require.Equal(t, 201, code, body)
	code, body = a.do("POST", "/v1/campaigns/restart/approvals", map[string]any{"decision": "approve", "actor": "jordi"})
	require.Equal(t, 200, code, body)
	require.Eventually(t, func() bool {
		_, body := a.do("GET", "/v1/campaigns/restart", nil)
		return body["status"] == workflows.StatusScheduled
	}, 30*time.Second, 20*time.Millisecond)

	// Stop in the middle: approved, waiting for its launch time.
	dev.stop(t)
	_, err := os.Stat(filepath.Join(dir, "postgres", "postmaster.pid"))
	require.True(t, os.IsNotExist(err), "postgres stopped with cmo dev (no postmaster.pid left): %v", err)

	dev2 := startDev(t, dir)
	c, err := client.Dial(client.Options{HostPort: dev2.temporal})
	require.NoError(t, err)
	defer c.Close()
	res := waitCampaign(t, c, "restart")
	require.Equal(t, workflows.StatusCompleted, res.Status)

	a2 := api{t: t, base: dev2.api}
	posts := sandboxPosts(t, a2, "Restart Roast")
	require.Len(t, posts["demo_news"], 1, "%v", posts)
	require.Len(t, posts["demo_care"], 1, "%v", posts)

	// The Temporal Web UI lists the campaign with its search attributes.
	q := url.QueryEscape(`Brand="demo" AND Playbook="first-campaign"`)
	require.Eventually(t, func() bool {
		resp, err := http.Get(dev2.ui + "/api/v1/namespaces/default/workflows?query=" + q)
		if err != nil {
			return false
		}
		defer resp.Body.Close()
		var out struct {
			Executions []struct {
				Execution struct {
					WorkflowID string `json:"workflowId"`
				} `json:"execution"`
				SearchAttributes struct {
					IndexedFields map[string]struct {
						Data string `json:"data"`
					} `json:"indexedFields"`
				} `json:"searchAttributes"`
			} `json:"executions"`
		}
		if resp.StatusCode != 200 || json.NewDecoder(resp.Body).Decode(&out) != nil {
			return false
		}
		for _, ex := range out.Executions {
			if ex.Execution.WorkflowID != "campaign:restart" {
				continue
			}
			brand, _ := base64.StdEncoding.DecodeString(ex.SearchAttributes.IndexedFields["Brand"].Data)
			pb, _ := base64.StdEncoding.DecodeString(ex.SearchAttributes.IndexedFields["Playbook"].Data)
			return string(brand) == `"demo"` && string(pb) == `"first-campaign"`
		}
		return false
	}, 30*time.Second, 100*time.Millisecond)

	dev2.stop(t)
}
