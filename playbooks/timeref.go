package playbooks

import (
	"fmt"
	"regexp"
	"strings"
	"time"
)

// TimeRef is a time as a playbook writes it: absolute with an offset,
// local to the brand's time zone, or relative to a time parameter.
type TimeRef struct {
	Abs    time.Time
	Local  string // "2006-01-02 15:04" in the brand's zone
	Param  string
	Offset time.Duration
}

var (
	// A parameter name's '-' parts start with a letter, so "event_at-1d"
	// reads as event_at minus one day.
	paramTime = regexp.MustCompile(`^params\.([a-z0-9][a-z0-9_]*(?:-[a-z][a-z0-9_]*)*)\s*(?:([+-])\s*(\S+))?$`)
	localForm = []string{"2006-01-02 15:04", "2006-01-02T15:04", "2006-01-02 15:04:05", "2006-01-02T15:04:05"}
)

// ParseTimeRef reads a time reference.
func ParseTimeRef(s string) (TimeRef, error) {
	s = strings.TrimSpace(s)
	if m := paramTime.FindStringSubmatch(s); m != nil {
		r := TimeRef{Param: m[1]}
		if m[2] != "" {
			d, err := ParseDuration(m[3])
			if err != nil {
				return TimeRef{}, err
			}
			r.Offset = d.D()
			if m[2] == "-" {
				r.Offset = -r.Offset
			}
		}
		return r, nil
	}
	if t, err := time.Parse(time.RFC3339, s); err == nil {
		return TimeRef{Abs: t}, nil
	}
	for _, f := range localForm {
		if _, err := time.Parse(f, s); err == nil {
			return TimeRef{Local: s}, nil
		}
	}
	return TimeRef{}, fmt.Errorf("want a time: RFC 3339 (2026-05-01T09:00:00+02:00), local to the brand (2026-05-01 09:00) or params.NAME [+|- DURATION], got %q", s)
}

// Resolve gives the instant, with params normalised by BindParams and loc
// the brand's zone. ok is false when the reference names an optional
// parameter that was not given.
func (r TimeRef) Resolve(params map[string]any, loc *time.Location) (t time.Time, ok bool, err error) {
	switch {
	case r.Param != "":
		if _, set := params[r.Param]; !set {
			return time.Time{}, false, nil
		}
		t, err := TimeParam(params, r.Param)
		if err != nil {
			return time.Time{}, false, err
		}
		return t.Add(r.Offset), true, nil
	case r.Local != "":
		for _, f := range localForm {
			if t, err := time.ParseInLocation(f, r.Local, loc); err == nil {
				return t, true, nil
			}
		}
		return time.Time{}, false, fmt.Errorf("bad local time %q", r.Local)
	}
	return r.Abs, true, nil
}

// ResolveTimes computes, at launch, the instant of every publish.at and
// wait.until in the plan, keyed by step id. Doing it here, once, keeps time
// zone databases out of workflow code. Steps whose time names an omitted
// optional parameter have no entry: they run at once.
func (p *Plan) ResolveTimes(params map[string]any, loc *time.Location) (map[string]time.Time, error) {
	out := map[string]time.Time{}
	var firstErr error
	p.Walk(func(s *Step) {
		var src string
		switch {
		case s.Publish != nil && s.Publish.At != "":
			src = s.Publish.At
		case s.Wait != nil && s.Wait.Until != "":
			src = s.Wait.Until
		default:
			return
		}
		ref, err := ParseTimeRef(src)
		if err == nil {
			var t time.Time
			var ok bool
			if t, ok, err = ref.Resolve(params, loc); ok {
				out[s.ID] = t
			}
		}
		if err != nil && firstErr == nil {
			firstErr = fmt.Errorf("step %s: %w", s.ID, err)
		}
	})
	return out, firstErr
}
