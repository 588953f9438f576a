package playbooks

import (
	"bytes"
	"encoding/json"
	"fmt"
	"math"
	"reflect"
	"strings"
	"time"
)

// Parameter types.
var ParamTypes = []string{"string", "int", "number", "bool", "duration", "time", "list", "enum"}

func reflectValue(p *Plan) reflect.Value { return reflect.ValueOf(p).Elem() }

func validateParam(c *collector, field, name string, p *Param) {
	if !idPattern.MatchString(name) {
		c.add(p.Pos, field, "parameter names are lower-case letters, digits, '-' or '_'")
	}
	known := false
	for _, t := range ParamTypes {
		known = known || t == p.Type
	}
	if !known {
		c.add(p.Pos, field+".type", "must be one of %s, got %q", strings.Join(ParamTypes, ", "), p.Type)
		return
	}
	if p.Type == "enum" && len(p.Values) == 0 {
		c.add(p.Pos, field+".values", "an enum needs its values")
	}
	if p.Type != "enum" && len(p.Values) > 0 {
		c.add(p.Pos, field+".values", "only enum parameters take values")
	}
	if p.Default != nil {
		raw, _ := json.Marshal(p.Default)
		norm, err := p.bind(raw)
		if err != nil {
			c.add(p.Pos, field+".default", "%v", err)
		} else {
			p.Default = norm
		}
	}
}

// FieldError is a launch input problem, named by its JSON field path
// (params.launch_at), for the API to return as a 4xx.
type FieldError struct {
	Field string `json:"field"`
	Msg   string `json:"message"`
}

func (e *FieldError) Error() string { return e.Field + ": " + e.Msg }

// FieldErrors is every launch input problem at once.
type FieldErrors []*FieldError

func (es FieldErrors) Error() string {
	parts := make([]string, len(es))
	for i, e := range es {
		parts[i] = e.Error()
	}
	return strings.Join(parts, "; ")
}

// BindParams checks launch parameters against the plan's declarations and
// returns them normalised (int64, float64, bool, RFC 3339 strings for
// times, Go duration strings, []string for lists) with defaults filled in.
// The normalised map is what the workflow receives.
func (p *Plan) BindParams(raw map[string]json.RawMessage) (map[string]any, error) {
	var errs FieldErrors
	out := map[string]any{}
	for _, name := range sortedKeys(raw) {
		if _, ok := p.Params[name]; !ok {
			errs = append(errs, &FieldError{Field: "params." + name, Msg: fmt.Sprintf("playbook %s has no parameter %q (it has: %s)", p.Name, name, strings.Join(sortedKeys(p.Params), ", "))})
		}
	}
	for _, name := range sortedKeys(p.Params) {
		prm := p.Params[name]
		v, given := raw[name]
		if !given || bytes.Equal(bytes.TrimSpace(v), []byte("null")) {
			if prm.Default != nil {
				out[name] = prm.Default
			} else if prm.IsRequired() {
				errs = append(errs, &FieldError{Field: "params." + name, Msg: fmt.Sprintf("required %s parameter is missing", prm.Type)})
			}
			continue
		}
		norm, err := prm.bind(v)
		if err != nil {
			errs = append(errs, &FieldError{Field: "params." + name, Msg: err.Error()})
			continue
		}
		out[name] = norm
	}
	if len(errs) > 0 {
		return nil, errs
	}
	return out, nil
}

func (p *Param) bind(raw json.RawMessage) (any, error) {
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.UseNumber()
	var v any
	if err := dec.Decode(&v); err != nil {
		return nil, fmt.Errorf("not valid JSON: %v", err)
	}
	switch p.Type {
	case "string":
		s, ok := v.(string)
		if !ok {
			return nil, fmt.Errorf("want a string, got %s", jsonKind(v))
		}
		return s, nil
	case "enum":
		s, ok := v.(string)
		if !ok {
			return nil, fmt.Errorf("want one of %s, got %s", strings.Join(p.Values, ", "), jsonKind(v))
		}
		for _, allowed := range p.Values {
			if s == allowed {
				return s, nil
			}
		}
		return nil, fmt.Errorf("want one of %s, got %q", strings.Join(p.Values, ", "), s)
	case "int":
		n, ok := v.(json.Number)
		if !ok {
			return nil, fmt.Errorf("want an integer, got %s", jsonKind(v))
		}
		i, err := n.Int64()
		if err != nil {
			return nil, fmt.Errorf("want an integer, got %s", n)
		}
		return i, nil
	case "number":
		n, ok := v.(json.Number)
		if !ok {
			return nil, fmt.Errorf("want a number, got %s", jsonKind(v))
		}
		f, err := n.Float64()
		if err != nil || math.IsInf(f, 0) {
			return nil, fmt.Errorf("want a finite number, got %s", n)
		}
		return f, nil
	case "bool":
		b, ok := v.(bool)
		if !ok {
			return nil, fmt.Errorf("want true or false, got %s", jsonKind(v))
		}
		return b, nil
	case "duration":
		s, ok := v.(string)
		if !ok {
			return nil, fmt.Errorf("want a duration string like \"90m\" or \"2d\", got %s", jsonKind(v))
		}
		d, err := ParseDuration(s)
		if err != nil {
			return nil, err
		}
		return d.D().String(), nil
	case "time":
		s, ok := v.(string)
		if !ok {
			return nil, fmt.Errorf("want an RFC 3339 time string like \"2026-05-01T09:00:00+02:00\", got %s", jsonKind(v))
		}
		t, err := time.Parse(time.RFC3339, s)
		if err != nil {
			return nil, fmt.Errorf("want an RFC 3339 time like \"2026-05-01T09:00:00+02:00\", got %q", s)
		}
		return t.Format(time.RFC3339Nano), nil
	case "list":
		items, ok := v.([]any)
		if !ok {
			return nil, fmt.Errorf("want a list of strings, got %s", jsonKind(v))
		}
		out := make([]string, len(items))
		for i, it := range items {
			s, ok := it.(string)
			if !ok {
				return nil, fmt.Errorf("item %d: want a string, got %s", i, jsonKind(it))
			}
			out[i] = s
		}
		return out, nil
	}
	return nil, fmt.Errorf("unknown parameter type %q", p.Type)
}

func jsonKind(v any) string {
	switch v.(type) {
	case nil:
		return "null"
	case string:
		return "a string"
	case json.Number:
		return "a number"
	case bool:
		return "a boolean"
	case []any:
		return "a list"
	case map[string]any:
		return "an object"
	}
	return fmt.Sprintf("%T", v)
}

// TimeParam reads a normalised time parameter.
func TimeParam(params map[string]any, name string) (time.Time, error) {
	s, ok := params[name].(string)
	if !ok {
		return time.Time{}, fmt.Errorf("parameter %q is not set", name)
	}
	return time.Parse(time.RFC3339Nano, s)
}
