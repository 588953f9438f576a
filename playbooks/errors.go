package playbooks

import (
	"errors"
	"fmt"
	"sort"
	"strings"
)

// Pos is a place in a playbook file. Every decoded object records where it
// was written so that validation errors can point at it.
type Pos struct {
	Line int `json:"line,omitempty"`
	Col  int `json:"col,omitempty"`
}

// Error is one problem found in a playbook, located precisely enough for an
// editor to jump to it: "file.yaml:12:5: steps[1].approval.within: ...".
type Error struct {
	File  string `json:"file"`
	Pos   Pos    `json:"pos"`
	Field string `json:"field"`
	Msg   string `json:"message"`
}

func (e *Error) Error() string {
	var b strings.Builder
	b.WriteString(e.File)
	if e.Pos.Line > 0 {
		fmt.Fprintf(&b, ":%d:%d", e.Pos.Line, e.Pos.Col)
	}
	b.WriteString(": ")
	if e.Field != "" {
		b.WriteString(e.Field)
		b.WriteString(": ")
	}
	b.WriteString(e.Msg)
	return b.String()
}

// Errors is every problem found in one load, in file order. A playbook is
// reported whole rather than one error at a time, so an author fixes it in
// one pass.
type Errors []*Error

func (es Errors) Error() string {
	msgs := make([]string, len(es))
	for i, e := range es {
		msgs[i] = e.Error()
	}
	return strings.Join(msgs, "\n")
}

func (es Errors) sorted() Errors {
	sort.SliceStable(es, func(i, j int) bool {
		if es[i].File != es[j].File {
			return es[i].File < es[j].File
		}
		if es[i].Pos.Line != es[j].Pos.Line {
			return es[i].Pos.Line < es[j].Pos.Line
		}
		return es[i].Pos.Col < es[j].Pos.Col
	})
	return es
}

// AsErrors returns the located errors inside err, if any.
func AsErrors(err error) (Errors, bool) {
	var es Errors
	if errors.As(err, &es) {
		return es, true
	}
	var e *Error
	if errors.As(err, &e) {
		return Errors{e}, true
	}
	return nil, false
}

// collector gathers errors for one file.
type collector struct {
	file string
	errs Errors
}

func (c *collector) add(pos Pos, field, format string, args ...any) {
	c.errs = append(c.errs, &Error{File: c.file, Pos: pos, Field: field, Msg: fmt.Sprintf(format, args...)})
}

// has reports whether a problem was already recorded for field, so that a
// value that failed to decode is not reported again as a zero value.
func (c *collector) has(field string) bool {
	for _, e := range c.errs {
		if e.Field == field {
			return true
		}
	}
	return false
}

func (c *collector) err() error {
	if len(c.errs) == 0 {
		return nil
	}
	return c.errs.sorted()
}
