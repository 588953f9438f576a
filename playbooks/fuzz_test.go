package playbooks

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

// fuzzSeeds are shapes the shipped and invalid playbooks do not cover:
// anchors and aliases, flow style, block-scalar expressions, odd scalars.
var fuzzSeeds = []string{
	"",
	"---\n",
	"~\n",
	"[]\n",
	"apiVersion: cmo/v1\nkind: Campaign\nname: x\nsteps: [{id: a, report: }]\n",
	"apiVersion: cmo/v1\nkind: Campaign\nname: x\nsteps:\n  - id: a\n    when: |\n      kpi.likes > 1 &&\n      kpi.nope\n    wait: {for: 1d6h}\n",
	"apiVersion: cmo/v1\nkind: Campaign\nname: x\nsteps:\n  - id: a\n    when: \"kpi.likes >\\n 1\"\n    wait: {for: 1h}\n",
	"apiVersion: cmo/v1\nkind: Campaign\nname: x\nparams:\n  at: &t {type: time, default: \"2026-05-01T09:00:00Z\"}\n  again: *t\nsteps:\n  - &s {id: a, wait: {until: params.at - 1d}}\n  - *s\n",
	"apiVersion: cmo/v1\nkind: Campaign\nname: x\nsteps: &l\n  - id: a\n    steps: *l\n",
	"apiVersion: cmo/v1\nkind: Crisis\nname: c\ndetect: window.mentions > 1\nseverity: [{level: low, when: 'window.topic == \"x\"'}]\nescalation: [{notify: ['log:x'], ack_within: 1m, repeat: 1}]\nfreeze: {scope: channels, channels: [x]}\nstatement: {template: '{{.x}}', channels: [sandbox], approval: {on_timeout: fallback}, fallback: ok}\nresolve: {when: 'true', hold: 0s}\n",
	"apiVersion: cmo/v1\nkind: Campaign\nname: x\nparams: {n: {type: int, default: 9223372036854775807}, f: {type: number, default: .nan}}\nsteps: [{id: a, repeat: {until: iteration > 2, max: 3, steps: [{id: b, wait: {rule: 'true', every: 1m, timeout: 1h}}]}}]\n",
}

func FuzzParse(f *testing.F) {
	// Every shipped playbook, read from disk so a new one is a seed at once.
	entries, err := os.ReadDir(".")
	require.NoError(f, err)
	for _, e := range entries {
		if e.IsDir() || !strings.HasSuffix(e.Name(), ".yaml") {
			continue
		}
		src, err := os.ReadFile(e.Name())
		require.NoError(f, err)
		f.Add(src)
	}
	invalid, err := filepath.Glob(filepath.Join("testdata", "invalid", "*.yaml"))
	require.NoError(f, err)
	for _, path := range invalid {
		src, err := os.ReadFile(path)
		require.NoError(f, err)
		f.Add(src)
	}
	for _, s := range fuzzSeeds {
		f.Add([]byte(s))
	}

	f.Fuzz(func(t *testing.T, src []byte) {
		const file = "fuzz.yaml"
		p, err := Parse(file, src)
		if err != nil {
			require.Nil(t, p, "a playbook with errors yields no plan")
			es, ok := AsErrors(err)
			require.True(t, ok, "errors are located: %v", err)
			require.NotEmpty(t, es)
			// yaml reports some errors on the line after the last.
			lines := countLines(src)
			for _, e := range es {
				require.Equal(t, file, e.File)
				require.GreaterOrEqual(t, e.Pos.Line, 1, "error without a line: %v", e)
				require.GreaterOrEqual(t, e.Pos.Col, 1, "error without a column: %v", e)
				require.LessOrEqual(t, e.Pos.Line, lines+1, "error past the end of the file: %v", e)
			}
			for _, line := range strings.Split(err.Error(), "\n") {
				require.Regexp(t, positioned, line)
			}
			_, again := Parse(file, src)
			require.EqualError(t, again, err.Error(), "the same bytes give the same errors")
			return
		}

		out, err := json.Marshal(p)
		require.NoError(t, err, "a plan travels in workflow inputs as JSON")
		var back Plan
		require.NoError(t, json.Unmarshal(out, &back))

		p2, err := Parse(file, src)
		require.NoError(t, err, "the same bytes validate the same way")
		require.Equal(t, p.Hash, p2.Hash)
		out2, err := json.Marshal(p2)
		require.NoError(t, err)
		require.JSONEq(t, string(out), string(out2), "the same bytes give the same plan")
	})
}

// countLines counts lines as YAML does: \n, \r\n, \r, NEL, LS and PS all
// end a line.
func countLines(src []byte) int {
	src = bytes.ReplaceAll(src, []byte("\r\n"), []byte("\n"))
	n := 1
	for _, brk := range []string{"\n", "\r", "\u0085", "\u2028", "\u2029"} {
		n += bytes.Count(src, []byte(brk))
	}
	return n
}
