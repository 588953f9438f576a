package playbooks

import (
	"fmt"
	"math"
	"reflect"
	"strconv"
	"strings"
	"time"

	"gopkg.in/yaml.v3"
)

// decoder turns a YAML node tree into the playbook structs by reflection,
// keeping every node's position. yaml.v3's own decoder reports unknown
// fields by line only and stops at the first; this one reports line and
// column with the field path, and keeps going.
type decoder struct {
	c *collector
	// open holds the collections being decoded, so that an alias to one of
	// its own ancestors, which would expand forever, is refused.
	open map[*yaml.Node]bool
	// aliased counts the nodes decoded through aliases: a few nested aliases
	// can stand for billions of nodes, and playbooks are validated for
	// whoever posts one to the API.
	aliased, aliasDepth int
}

// maxAliasedNodes is far more than any playbook needs to share through
// anchors and aliases, and small enough to validate in milliseconds.
const maxAliasedNodes = 10000

var (
	posType      = reflect.TypeOf(Pos{})
	durationType = reflect.TypeOf(Duration(0))
	nodeType     = reflect.TypeOf(yaml.Node{})
	exprType     = reflect.TypeOf(Expr{})
)

func nodePos(n *yaml.Node) Pos { return Pos{Line: n.Line, Col: n.Column} }

func join(path, field string) string {
	if path == "" {
		return field
	}
	return path + "." + field
}

func (d *decoder) decode(n *yaml.Node, v reflect.Value, path string) {
	if n.Kind == yaml.DocumentNode && len(n.Content) == 1 {
		n = n.Content[0]
	}
	if n.Kind == yaml.AliasNode {
		if d.open[n.Alias] {
			d.c.add(nodePos(n), path, "alias *%s is used inside its own anchor", n.Value)
			return
		}
		if d.aliased > maxAliasedNodes {
			return
		}
		d.aliasDepth++
		defer func() { d.aliasDepth-- }()
		n = n.Alias
	}
	if d.aliasDepth > 0 {
		d.aliased++
		if d.aliased > maxAliasedNodes {
			d.c.add(nodePos(n), path, "aliases expand to more than %d values", maxAliasedNodes)
			return
		}
	}
	if n.Kind == yaml.MappingNode || n.Kind == yaml.SequenceNode {
		if d.open == nil {
			d.open = map[*yaml.Node]bool{}
		}
		d.open[n] = true
		defer delete(d.open, n)
	}
	if v.Type() == nodeType {
		v.Set(reflect.ValueOf(*n))
		return
	}
	if v.Type() == exprType {
		if n.Kind != yaml.ScalarNode {
			d.c.add(nodePos(n), path, "want an expression (a string), got %s", describe(n))
			return
		}
		v.Set(reflect.ValueOf(decodeExpr(n)))
		return
	}
	switch v.Kind() {
	case reflect.Pointer:
		// A section written with no body ("report:") is the section with
		// its defaults, as "report: {}" is; other fields left empty are unset.
		if n.Tag == "!!null" {
			if v.Type().Elem().Kind() == reflect.Struct {
				p := reflect.New(v.Type().Elem())
				if f, ok := v.Type().Elem().FieldByName("Pos"); ok && f.Type == posType {
					p.Elem().FieldByIndex(f.Index).Set(reflect.ValueOf(nodePos(n)))
				}
				v.Set(p)
			}
			return
		}
		p := reflect.New(v.Type().Elem())
		d.decode(n, p.Elem(), path)
		v.Set(p)
	case reflect.Struct:
		d.decodeStruct(n, v, path)
	case reflect.Slice:
		if n.Kind != yaml.SequenceNode {
			if n.Tag == "!!null" {
				return
			}
			d.c.add(nodePos(n), path, "want a list, got %s", describe(n))
			return
		}
		s := reflect.MakeSlice(v.Type(), len(n.Content), len(n.Content))
		for i, item := range n.Content {
			d.decode(item, s.Index(i), fmt.Sprintf("%s[%d]", path, i))
		}
		v.Set(s)
	case reflect.Map:
		if n.Kind != yaml.MappingNode {
			if n.Tag == "!!null" {
				return
			}
			d.c.add(nodePos(n), path, "want a mapping, got %s", describe(n))
			return
		}
		m := reflect.MakeMapWithSize(v.Type(), len(n.Content)/2)
		seen := map[string]bool{}
		for i := 0; i+1 < len(n.Content); i += 2 {
			k, val := n.Content[i], n.Content[i+1]
			if seen[k.Value] {
				d.c.add(nodePos(k), join(path, k.Value), "given twice")
				continue
			}
			seen[k.Value] = true
			elem := reflect.New(v.Type().Elem()).Elem()
			d.decode(val, elem, join(path, k.Value))
			m.SetMapIndex(reflect.ValueOf(k.Value).Convert(v.Type().Key()), elem)
		}
		v.Set(m)
	case reflect.Interface:
		var x any
		if err := n.Decode(&x); err != nil {
			d.c.add(nodePos(n), path, "%v", err)
			return
		}
		if x != nil {
			v.Set(reflect.ValueOf(x))
		}
	default:
		d.decodeScalar(n, v, path)
	}
}

func (d *decoder) decodeStruct(n *yaml.Node, v reflect.Value, path string) {
	t := v.Type()
	if f, ok := t.FieldByName("Pos"); ok && f.Type == posType {
		v.FieldByIndex(f.Index).Set(reflect.ValueOf(nodePos(n)))
	}
	if n.Kind != yaml.MappingNode {
		d.c.add(nodePos(n), path, "want a mapping, got %s", describe(n))
		return
	}
	fields := map[string]int{}
	var names []string
	for i := 0; i < t.NumField(); i++ {
		tag := t.Field(i).Tag.Get("yaml")
		name := strings.Split(tag, ",")[0]
		if name == "" || name == "-" {
			continue
		}
		fields[name] = i
		names = append(names, name)
	}
	seen := map[string]bool{}
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, val := n.Content[i], n.Content[i+1]
		idx, ok := fields[k.Value]
		if !ok {
			d.c.add(nodePos(k), join(path, k.Value), "unknown field (known: %s)", strings.Join(names, ", "))
			continue
		}
		if seen[k.Value] {
			d.c.add(nodePos(k), join(path, k.Value), "field given twice")
			continue
		}
		seen[k.Value] = true
		d.decode(val, v.Field(idx), join(path, k.Value))
	}
}

func (d *decoder) decodeScalar(n *yaml.Node, v reflect.Value, path string) {
	if n.Kind != yaml.ScalarNode {
		d.c.add(nodePos(n), path, "want a %s, got %s", kindName(v), describe(n))
		return
	}
	if v.Type() == durationType {
		dur, err := ParseDuration(n.Value)
		if err != nil {
			d.c.add(nodePos(n), path, "%v", err)
			return
		}
		v.SetInt(int64(dur))
		return
	}
	switch v.Kind() {
	case reflect.String:
		if n.Tag == "!!null" {
			return
		}
		v.SetString(n.Value)
	case reflect.Bool:
		b, err := strconv.ParseBool(n.Value)
		if err != nil || n.Tag != "!!bool" {
			d.c.add(nodePos(n), path, "want true or false, got %q", n.Value)
			return
		}
		v.SetBool(b)
	case reflect.Int, reflect.Int64, reflect.Int32:
		i, err := strconv.ParseInt(n.Value, 10, 64)
		if err != nil {
			d.c.add(nodePos(n), path, "want an integer, got %q", n.Value)
			return
		}
		v.SetInt(i)
	case reflect.Float64:
		f, err := strconv.ParseFloat(n.Value, 64)
		if err != nil {
			d.c.add(nodePos(n), path, "want a number, got %q", n.Value)
			return
		}
		v.SetFloat(f)
	default:
		d.c.add(nodePos(n), path, "cannot decode into %s", v.Type())
	}
}

func kindName(v reflect.Value) string {
	switch v.Kind() {
	case reflect.String:
		return "string"
	case reflect.Bool:
		return "boolean"
	case reflect.Int, reflect.Int64, reflect.Int32:
		return "integer"
	case reflect.Float64:
		return "number"
	}
	return v.Type().String()
}

func describe(n *yaml.Node) string {
	switch n.Kind {
	case yaml.MappingNode:
		return "a mapping"
	case yaml.SequenceNode:
		return "a list"
	case yaml.ScalarNode:
		if n.Tag == "!!null" {
			return "nothing"
		}
		return fmt.Sprintf("%q", n.Value)
	}
	return "something else"
}

// Duration is a time.Duration written in playbooks as "90s", "30m", "24h"
// or with days, "2d" or "1d12h", which community managers use more than hours.
type Duration time.Duration

// ParseDuration accepts Go durations plus a leading day count ("2d", "1d6h").
func ParseDuration(s string) (Duration, error) {
	in := strings.TrimSpace(s)
	s = in
	var days int64
	if i := strings.IndexByte(s, 'd'); i > 0 {
		n, err := strconv.ParseInt(s[:i], 10, 64)
		if err == nil {
			days = n
			s = s[i+1:]
		}
	}
	var d time.Duration
	if s != "" {
		var err error
		d, err = time.ParseDuration(s)
		if err != nil {
			return 0, fmt.Errorf("%q is not a duration (examples: 90s, 30m, 24h, 2d)", in)
		}
	}
	// Days are multiplied in int64 nanoseconds: refuse what would wrap
	// around rather than accept a wrong duration.
	const maxDays = int64(math.MaxInt64 / int64(24*time.Hour))
	total := time.Duration(days)*24*time.Hour + d
	if days > maxDays || days < -maxDays || (days > 0 && d > 0 && total < 0) || (days < 0 && d < 0 && total > 0) {
		return 0, fmt.Errorf("duration %q is too long", in)
	}
	if total < 0 {
		return 0, fmt.Errorf("duration %q is negative", in)
	}
	return Duration(total), nil
}

// D returns the value as a time.Duration.
func (d Duration) D() time.Duration { return time.Duration(d) }

func (d Duration) String() string { return time.Duration(d).String() }
