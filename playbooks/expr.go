package playbooks

import (
	"encoding/json"
	"fmt"
	"strings"

	"gopkg.in/yaml.v3"

	"github.com/cmo-dev/cmo/rules"
)

// Expr is an expression written in a playbook, with where it was written
// so that a compile error can point inside it. In a Plan's JSON it is a
// plain string.
type Expr struct {
	Src string
	Pos Pos
	// quoted is 1 when the YAML scalar was quoted on its line, so columns
	// inside the expression shift by the quote.
	quoted int
	block  bool
}

// MarshalJSON writes the source only.
func (e Expr) MarshalJSON() ([]byte, error) { return json.Marshal(e.Src) }

// UnmarshalJSON reads the source only.
func (e *Expr) UnmarshalJSON(b []byte) error { return json.Unmarshal(b, &e.Src) }

// IsZero reports an absent expression.
func (e Expr) IsZero() bool { return strings.TrimSpace(e.Src) == "" }

func (e Expr) String() string { return e.Src }

func decodeExpr(n *yaml.Node) Expr {
	e := Expr{Src: n.Value, Pos: nodePos(n)}
	switch n.Style {
	case yaml.DoubleQuotedStyle, yaml.SingleQuotedStyle:
		e.quoted = 1
	case yaml.LiteralStyle, yaml.FoldedStyle:
		e.block = true
	}
	return e
}

// compileExpr type-checks e in context c and reports a located error.
func compileExpr(col *collector, field string, e Expr, c rules.Context) {
	if e.IsZero() {
		return
	}
	if strings.TrimSpace(e.Src) == "false" {
		// Only a step's when guards a step; elsewhere (goals, until, detect)
		// a rule that never holds is as wrong, for its own reason.
		what := "it can never hold"
		if strings.HasPrefix(field, "steps") && strings.HasSuffix(field, "].when") {
			what = "the step can never run"
		}
		col.add(e.Pos, field, "condition is always false: %s", what)
		return
	}
	if _, err := rules.Compile(e.Src, c); err != nil {
		pos := e.Pos
		if re, ok := err.(*rules.Error); ok {
			switch {
			case e.block:
				pos = Pos{Line: e.Pos.Line + re.Line, Col: re.Column}
			case re.Line == 1:
				pos = Pos{Line: e.Pos.Line, Col: e.Pos.Col + e.quoted + re.Column - 1}
			}
			// A plain or quoted scalar whose value has line breaks was
			// folded or unescaped: its lines are not the file's, so the
			// error stays at the start of the expression.
		}
		col.add(pos, field, "expression %q: %v", e.Src, errText(err))
	}
}

func errText(err error) string {
	s := err.Error()
	if i := strings.Index(s, "\n"); i >= 0 {
		s = s[:i]
	}
	return s
}

var _ fmt.Stringer = Expr{}
