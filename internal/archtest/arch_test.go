// Package archtest checks the dependency rules of the code base: the heavy
// Temporal server stays in devstack and the end-to-end tests, and workflow
// code touches no I/O.
package archtest

import (
	"bufio"
	"bytes"
	"os/exec"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

const module = "github.com/cmo-dev/cmo"

type pkg struct {
	path    string
	imports []string // direct imports, tests included
}

func listPackages(t *testing.T) []pkg {
	t.Helper()
	cmd := exec.Command("go", "list", "-f", `{{.ImportPath}}|{{join .Imports " "}} {{join .TestImports " "}} {{join .XTestImports " "}}`, module+"/...")
	cmd.Dir = "../.."
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	require.NoError(t, err, stderr.String())
	var pkgs []pkg
	sc := bufio.NewScanner(bytes.NewReader(out))
	for sc.Scan() {
		path, imports, _ := strings.Cut(sc.Text(), "|")
		pkgs = append(pkgs, pkg{path: path, imports: strings.Fields(imports)})
	}
	require.NotEmpty(t, pkgs)
	return pkgs
}

func TestTemporalServerOnlyInDevstackAndE2E(t *testing.T) {
	allowed := map[string]bool{module + "/devstack": true, module + "/e2e": true}
	found := false
	for _, p := range listPackages(t) {
		for _, imp := range p.imports {
			if imp == "go.temporal.io/server" || strings.HasPrefix(imp, "go.temporal.io/server/") {
				found = found || allowed[p.path]
				require.True(t, allowed[p.path], "%s imports %s; only devstack and e2e may", p.path, imp)
			}
		}
	}
	require.True(t, found, "devstack is expected to embed the Temporal server")
}

func TestWorkflowsTouchNoIO(t *testing.T) {
	banned := []string{"os", "net", "net/http", "github.com/jackc/pgx", "github.com/labstack/echo", "math/rand", "io/ioutil"}
	for _, p := range listPackages(t) {
		if p.path != module+"/workflows" {
			continue
		}
		for _, imp := range p.imports {
			for _, b := range banned {
				require.False(t, imp == b || strings.HasPrefix(imp, b+"/"), "workflows imports %s", imp)
			}
		}
		return
	}
	t.Fatal("package workflows not found")
}

func TestPlaybooksDoNotImportTemporal(t *testing.T) {
	for _, p := range listPackages(t) {
		if p.path != module+"/playbooks" {
			continue
		}
		for _, imp := range p.imports {
			require.False(t, strings.HasPrefix(imp, "go.temporal.io/"), "playbooks imports %s", imp)
		}
		return
	}
	t.Fatal("package playbooks not found")
}
