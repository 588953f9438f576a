package playbooks

import (
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

// Every file in testdata/invalid has exactly one problem and says, on its
// first line, which error Parse must report for it:
//
//	# want: FILE:LINE:COL: FIELD: MESSAGE
//
// Position and field are compared exactly, the message as a substring. An
// error without a field (YAML syntax, an empty file) leaves FIELD out.
//
// Of the structural problems a program can have, the playbook language can
// only express one kind of unreachable step: a step whose when is the
// literal false (when-false.yaml). Steps form a tree — sequences, parallel
// branches, repeat bodies and else branches — with no goto or jump to a step
// id, so a cycle cannot be written and there is no control flow to lose a
// step in. A YAML alias that points back into its own anchor is the nearest
// thing to a cycle, and it is refused as such (alias-cycle.yaml).

// minInvalidFiles keeps the corpus from shrinking by accident.
const minInvalidFiles = 40

var wantLine = regexp.MustCompile(`^# want: (\S+:\d+:\d+): (?:([^\s:]+): )?(.+)$`)

// positioned is the shape of every error line: file:line:col: ...
var positioned = regexp.MustCompile(`^[^:]+:\d+:\d+: `)

type invalidCase struct {
	name string
	src  []byte
	// prefix is "FILE:LINE:COL: FIELD: " and msg a substring of the rest.
	prefix, msg string
}

func invalidCases(t *testing.T) []invalidCase {
	t.Helper()
	paths, err := filepath.Glob(filepath.Join("testdata", "invalid", "*.yaml"))
	require.NoError(t, err)
	var cases []invalidCase
	for _, path := range paths {
		src, err := os.ReadFile(path)
		require.NoError(t, err)
		name := filepath.Base(path)
		first, _, _ := strings.Cut(string(src), "\n")
		m := wantLine.FindStringSubmatch(first)
		require.NotNil(t, m, "%s: the first line must be '# want: FILE:LINE:COL: FIELD: MESSAGE'", name)
		require.True(t, strings.HasPrefix(m[1], name+":"), "%s: the want line names another file: %s", name, m[1])
		prefix := m[1] + ": "
		if m[2] != "" {
			prefix += m[2] + ": "
		}
		cases = append(cases, invalidCase{name: name, src: src, prefix: prefix, msg: m[3]})
	}
	return cases
}

func TestInvalidPlaybooks(t *testing.T) {
	cases := invalidCases(t)
	require.GreaterOrEqual(t, len(cases), minInvalidFiles, "testdata/invalid has too few playbooks")
	for _, tc := range cases {
		t.Run(strings.TrimSuffix(tc.name, ".yaml"), func(t *testing.T) {
			p, err := Parse(tc.name, tc.src)
			require.Error(t, err)
			require.Nil(t, p)
			lines := strings.Split(err.Error(), "\n")
			for _, line := range lines {
				if rest, ok := strings.CutPrefix(line, tc.prefix); ok && strings.Contains(rest, tc.msg) {
					return
				}
			}
			t.Errorf("no error line starts with %q and contains %q; got:\n%s", tc.prefix, tc.msg, err)
		})
	}
}

func TestInvalidPlaybookErrorsArePositioned(t *testing.T) {
	for _, tc := range invalidCases(t) {
		_, err := Parse(tc.name, tc.src)
		require.Error(t, err, tc.name)
		for _, line := range strings.Split(err.Error(), "\n") {
			require.Regexp(t, positioned, line, "%s: every error line is file:line:col", tc.name)
		}
	}
}
