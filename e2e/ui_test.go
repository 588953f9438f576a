package e2e

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"github.com/chromedp/chromedp/kb"
	"github.com/stretchr/testify/require"
	"go.temporal.io/api/workflowservice/v1"

	"github.com/cmo-dev/cmo/devstack"
	"github.com/cmo-dev/cmo/workflows"
)

// chromiumPath is where Debian's chromium package puts the browser;
// scripts/ensure-chromium.sh installs it.
const chromiumPath = "/usr/bin/chromium"

// pageText is what the page shows as text, with the iframes the UI renders
// summaries and details in (the page's own text leaves them out).
const pageText = `() => [document.body, ...Array.from(document.querySelectorAll("iframe"), f => f.contentDocument?.body)]
	.filter(Boolean).map(b => b.innerText).join("\n")`

// TestTemporalUI reads a campaign the way an auditor would: in the Temporal
// Web UI, found by its brand, with every step told by its summary.
// Screenshots of the pages it checks are kept with `go test -artifacts`.
func TestTemporalUI(t *testing.T) {
	browser := startBrowser(t)
	s := startStack(t, func(o *devstack.Options) { o.UIPort = 0 })
	a := api{t: t, base: s.APIURL}

	// Another brand's monitor fills the unfiltered list, so the brand
	// filter is seen to leave it out.
	code, body := a.do("POST", "/v1/brands", map[string]any{"id": "rival", "name": "Rival Roasters", "timezone": "Europe/Madrid"})
	require.Equal(t, 201, code, body)
	code, body = a.do("POST", "/v1/campaigns", map[string]any{
		"id": "ui-launch", "brand": "demo", "playbook": "first-campaign", "author": "marta",
		"params": map[string]any{"product": "Oat Flat White"},
	})
	require.Equal(t, 201, code, body)
	code, body = a.do("GET", "/v1/campaigns/ui-launch", nil)
	require.Equal(t, 200, code, body)
	hash := body["content"].(map[string]any)["draft"].(map[string]any)["hash"].(string)
	code, body = a.do("POST", "/v1/campaigns/ui-launch/approvals", map[string]any{"decision": "approve", "actor": "jordi", "content_hash": hash})
	require.Equal(t, 200, code, body)
	require.Equal(t, workflows.StatusCompleted, waitCampaign(t, s.Client, "ui-launch").Status)
	// The UI lists what visibility has, which lags the workflows a little.
	require.Eventually(t, func() bool {
		resp, err := s.Client.ListWorkflow(context.Background(), &workflowservice.ListWorkflowExecutionsRequest{
			Query: `WorkflowId = "campaign:ui-launch" OR WorkflowId = "monitor:rival"`})
		return err == nil && len(resp.Executions) == 2
	}, 10*time.Second, 50*time.Millisecond)

	start := time.Now()
	ui := s.Temporal.UIURL()
	act(t, browser, chromedp.Navigate(ui+"/namespaces/"+s.Namespace+"/workflows"))
	see(t, browser, "workflows", []string{"campaign:ui-launch", "monitor:rival"}, nil)

	// The query box takes a visibility query, as a person would type it.
	act(t, browser,
		chromedp.Click(chromedp.CSS(`[data-testid="toggle-manual-query"]`)),
		chromedp.SendKeys(chromedp.CSS(`[data-testid="workflow-manual-search-input"]`), `Brand="demo"`+kb.Enter))
	see(t, browser, "brand-demo", []string{`Brand = "demo"`, "campaign:ui-launch", "monitor:demo"}, []string{"monitor:rival"})

	// The campaign's page opens on its timeline, where each step is told
	// by the summary the workflow gave it.
	steps := []string{
		"approval review due in 24h0m0s",
		"freeze check launch", // a narrow timeline cuts the channels short
		"publish launch to sandbox-news (sandbox)",
		"publish launch to sandbox-care (sandbox)",
		"build report (report)",
	}
	act(t, browser, chromedp.Click(chromedp.CSS(`a[href*="/workflows/campaign%3Aui-launch/"]`)))
	see(t, browser, "timeline", steps, nil)

	// The compact event history has a row for each step, summary in full.
	act(t, browser, chromedp.Click(chromedp.ID("history-tab")), chromedp.Click(chromedp.CSS(`[data-testid="compact"]`)))
	steps[1] = "freeze check launch (sandbox-care, sandbox-news)"
	see(t, browser, "history", steps, nil)

	// The campaign's own summary and details are under User Metadata.
	act(t, browser, chromedp.Click(chromedp.ID("user-metadata-tab")))
	see(t, browser, "user-metadata", []string{"First campaign for Demo Coffee Co.", "launched by marta", "product: Oat Flat White"}, nil)
	t.Logf("the UI showed it all in %s", time.Since(start).Round(time.Millisecond))
}

// startBrowser starts headless Chromium for the test, with a profile of
// its own, and returns the context of its first tab.
func startBrowser(t *testing.T) context.Context {
	t.Helper()
	if _, err := os.Stat(chromiumPath); err != nil {
		if testing.Short() {
			t.Skipf("no Chromium at %s", chromiumPath)
		}
		t.Fatalf("no Chromium at %s: run scripts/ensure-chromium.sh (scripts/test.sh does)", chromiumPath)
	}
	alloc, cancelAlloc := chromedp.NewExecAllocator(context.Background(),
		chromedp.ExecPath(chromiumPath),
		chromedp.Headless, chromedp.DisableGPU, chromedp.NoFirstRun,
		// Chromium refuses to run as root with its sandbox.
		chromedp.NoSandbox,
		// Without these it keeps calling home, and on a closed network each
		// call is a refused connection in the logs.
		chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true),
		chromedp.Flag("disable-quic", true),
		chromedp.UserDataDir(t.TempDir()),
		// Wide enough for the event history's summaries.
		chromedp.WindowSize(1920, 1400),
	)
	ctx, cancel := chromedp.NewContext(alloc)
	t.Cleanup(func() { cancel(); cancelAlloc() })
	// Start it now: a browser that cannot start fails the test here.
	require.NoError(t, chromedp.Do(ctx), "start %s", chromiumPath)
	return ctx
}

// act runs the actions, each wait in them bounded.
func act(t *testing.T, ctx context.Context, actions ...chromedp.Action[chromedp.Void]) {
	t.Helper()
	ctx, cancel := context.WithTimeout(ctx, 15*time.Second)
	defer cancel()
	require.NoError(t, chromedp.Do(ctx, actions...))
}

// see waits until the page shows every want and none of unwanted, and saves
// a screenshot of it as name.png, whether it did or not.
func see(t *testing.T, ctx context.Context, name string, want, unwanted []string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	// The lists go into the source: chromedp leaves out an argument that is
	// an empty array, and the page would get undefined.
	lists, err := json.Marshal([][]string{append([]string{}, want...), append([]string{}, unwanted...)})
	require.NoError(t, err)
	_, err = chromedp.Run(ctx, chromedp.Poll[bool](
		`(([want, unwanted], text) => want.every(w => text.includes(w)) && !unwanted.some(u => text.includes(u)))(`+
			string(lists)+`, (`+pageText+`)())`,
		chromedp.WithPollingInterval(100*time.Millisecond),
		chromedp.WithPollingTimeout(15*time.Second),
	))
	shot, serr := chromedp.Run(ctx, chromedp.FullScreenshot(100))
	require.NoError(t, serr)
	path := filepath.Join(t.ArtifactDir(), name+".png")
	require.NoError(t, os.WriteFile(path, shot, 0o644))
	t.Logf("screenshot: %s", path)
	if err == nil {
		return
	}
	text, _ := chromedp.Run(ctx, chromedp.Evaluate[string]("("+pageText+")()"))
	var missing, present []string
	for _, w := range want {
		if !strings.Contains(text, w) {
			missing = append(missing, w)
		}
	}
	for _, u := range unwanted {
		if strings.Contains(text, u) {
			present = append(present, u)
		}
	}
	loc, _ := chromedp.Run(ctx, chromedp.Location())
	t.Fatalf("%s (%s): %v; missing %q, shown though unwanted %q; the page reads:\n%s", name, loc, err, missing, present, text)
}
