// Package rules compiles and evaluates the expr expressions of playbooks:
// conditions (when, until, goals), crisis detection and severity. Each
// kind of expression has a typed environment, so a playbook that names a
// field that does not exist, or compares a number with a string, is
// refused when it is loaded rather than when the rule runs.
//
// Workflows evaluate these rules, so every program is compiled without the
// builtins whose result depends on the clock, the machine's time zone or
// Go's random map order.
package rules

import (
	"errors"
	"fmt"
	"reflect"
	"regexp"
	"sort"
	"strings"
	"sync"

	"github.com/expr-lang/expr"
	"github.com/expr-lang/expr/ast"
	"github.com/expr-lang/expr/file"
	"github.com/expr-lang/expr/vm"
)

// Context names the environment an expression is written against.
type Context string

// Expression contexts.
const (
	// Campaign conditions: when, repeat until, wait until, goals.
	Campaign Context = "campaign"
	// Crisis rules over the listening window: detect, severity, resolve.
	Crisis Context = "crisis"
	// Freeze rules see the crisis window and the decided severity.
	Freeze Context = "freeze"
)

// Kind is what an expression must evaluate to.
type Kind int

// Expression result kinds.
const (
	Bool Kind = iota
	Time
)

// NonDeterministic lists the expr builtins disabled in every program:
// now, date and timezone read the clock or the machine's time zone
// database; keys, values and toPairs return map entries in random order.
var NonDeterministic = []string{"now", "date", "timezone", "keys", "values", "toPairs"}

// Error is a compile error located inside the expression's source.
type Error struct {
	Line, Column int // 1-based, within the expression
	Msg          string
}

func (e *Error) Error() string { return e.Msg }

var noField = regexp.MustCompile(`^type rules\.(\w+) has no field (\w+)$`)

// friendly rewrites expr's messages that name Go types into the names a
// playbook author sees, listing the fields that do exist.
func friendly(msg string) string {
	m := noField.FindStringSubmatch(msg)
	if m == nil {
		return strings.ReplaceAll(msg, "rules.", "")
	}
	for _, t := range []reflect.Type{reflect.TypeOf(KPI{}), reflect.TypeOf(StepResult{}), reflect.TypeOf(Window{}),
		reflect.TypeOf(InboxMention{}), reflect.TypeOf(InboxAuthor{})} {
		if t.Name() != m[1] {
			continue
		}
		var names []string
		for i := 0; i < t.NumField(); i++ {
			if name := t.Field(i).Tag.Get("expr"); name != "-" {
				names = append(names, name)
			}
		}
		sort.Strings(names)
		return fmt.Sprintf("unknown field %s (known: %s)", m[2], strings.Join(names, ", "))
	}
	return fmt.Sprintf("unknown field %s", m[2])
}

// Program is a compiled expression, ready to run many times.
type Program struct {
	src     string
	context Context
	prog    *vm.Program
}

// Source returns the expression text.
func (p *Program) Source() string { return p.src }

func envFor(c Context) (any, error) {
	switch c {
	case Campaign:
		return CampaignEnv{}, nil
	case Crisis:
		return WindowEnv{}, nil
	case Freeze:
		return FreezeEnv{}, nil
	case Inbox:
		return InboxEnv{}, nil
	}
	return nil, fmt.Errorf("unknown rule context %q", c)
}

// Compile type-checks src against the context's environment and requires
// a boolean result.
func Compile(src string, c Context) (*Program, error) {
	env, err := envFor(c)
	if err != nil {
		return nil, err
	}
	opts := []expr.Option{expr.Env(env), expr.AsBool()}
	for _, b := range NonDeterministic {
		opts = append(opts, expr.DisableBuiltin(b))
	}
	prog, err := expr.Compile(src, opts...)
	if err != nil {
		var fe *file.Error
		if errors.As(err, &fe) {
			return nil, &Error{Line: fe.Line, Column: fe.Column + 1, Msg: friendly(fe.Message)}
		}
		return nil, &Error{Line: 1, Column: 1, Msg: err.Error()}
	}
	return &Program{src: src, context: c, prog: prog}, nil
}

// cache holds compiled programs by context and source. Workflows evaluate
// the same few rules on every timer tick and every replay; compiling once
// per process keeps compilation off that path. The result of a lookup
// never depends on the cache, so it is safe in workflow code.
var cache sync.Map // cacheKey → *Program

type cacheKey struct {
	c   Context
	src string
}

// Cached compiles src once per process and returns the same program after.
func Cached(src string, c Context) (*Program, error) {
	k := cacheKey{c, src}
	if p, ok := cache.Load(k); ok {
		return p.(*Program), nil
	}
	p, err := Compile(src, c)
	if err != nil {
		return nil, err
	}
	cache.Store(k, p)
	return p, nil
}

// EvalBool runs a boolean program against env, which must be the
// context's environment type.
func (p *Program) EvalBool(env any) (bool, error) {
	out, err := vm.Run(p.prog, env)
	if err != nil {
		return false, fmt.Errorf("rule %q: %w", p.src, err)
	}
	b, ok := out.(bool)
	if !ok {
		return false, fmt.Errorf("rule %q: result is %s, not bool", p.src, reflect.TypeOf(out))
	}
	return b, nil
}

// Eval compiles (once) and evaluates a boolean rule.
func Eval(src string, c Context, env any) (bool, error) {
	p, err := Cached(src, c)
	if err != nil {
		return false, fmt.Errorf("rule %q: %w", src, err)
	}
	return p.EvalBool(env)
}

// WindowReads says which kinds of window a crisis rule looks at: a rule
// that reads window.topic is about topics, one that reads
// window.competitor about competitors, any other about the brand's own
// mentions.
type WindowReads struct {
	Topic, Competitor bool
}

// Reads walks a compiled crisis rule for the window fields it names.
func (p *Program) Reads() WindowReads {
	var r WindowReads
	n := p.prog.Node()
	ast.Walk(&n, readsVisitor{&r})
	return r
}

type readsVisitor struct{ r *WindowReads }

func (v readsVisitor) Visit(n *ast.Node) {
	m, ok := (*n).(*ast.MemberNode)
	if !ok {
		return
	}
	if id, ok := m.Node.(*ast.IdentifierNode); !ok || id.Value != "window" {
		return
	}
	if s, ok := m.Property.(*ast.StringNode); ok {
		switch s.Value {
		case "topic":
			v.r.Topic = true
		case "competitor":
			v.r.Competitor = true
		}
	}
}
