package playbooks

import (
	"encoding/json"
	"fmt"
	"regexp"
	"strconv"
	"strings"
)

// CostStep records money the campaign spent (an ad budget, a boost), so
// that its cost, cost per click and ROI count it. Amount is a number or
// params.NAME of a number parameter; Currency an ISO 4217 code.
type CostStep struct {
	Pos      Pos    `yaml:"-" json:"-"`
	Amount   string `yaml:"amount" json:"amount"`
	Currency string `yaml:"currency" json:"currency,omitempty"`
	Note     string `yaml:"note" json:"note,omitempty"`
}

var (
	paramRef     = regexp.MustCompile(`^params\.([a-z0-9][a-z0-9_-]*)$`)
	currencyCode = regexp.MustCompile(`^[A-Z]{3}$`)
)

// ValidCurrency reports whether s is written as an ISO 4217 code ("EUR").
func ValidCurrency(s string) bool { return currencyCode.MatchString(s) }

// Value is the amount spent, with the launch's parameters.
func (c *CostStep) Value(params map[string]any) (float64, error) {
	src := strings.TrimSpace(c.Amount)
	if m := paramRef.FindStringSubmatch(src); m != nil {
		var f float64
		switch v := params[m[1]].(type) {
		case float64:
			f = v
		case int64:
			f = float64(v)
		case int:
			f = float64(v)
		case json.Number:
			x, err := v.Float64()
			if err != nil {
				return 0, fmt.Errorf("parameter %s: %w", m[1], err)
			}
			f = x
		case nil:
			return 0, fmt.Errorf("parameter %s is not set", m[1])
		default:
			return 0, fmt.Errorf("parameter %s is %T, not a number", m[1], v)
		}
		if f < 0 {
			return 0, fmt.Errorf("parameter %s is %v: a cost cannot be negative", m[1], f)
		}
		return f, nil
	}
	f, err := strconv.ParseFloat(src, 64)
	if err != nil {
		return 0, fmt.Errorf("amount %q is not a number", c.Amount)
	}
	return f, nil
}

func (v *validator) cost(field string, c *CostStep) {
	src := strings.TrimSpace(c.Amount)
	at := v.at(field+".amount", c.Pos)
	switch m := paramRef.FindStringSubmatch(src); {
	case v.c.has(field + ".amount"):
	case src == "":
		v.c.add(at, field+".amount", "cost needs an amount: a number or params.NAME")
	case m != nil:
		p, ok := v.p.Params[m[1]]
		if !ok {
			v.c.add(at, field+".amount", "no parameter %q", m[1])
		} else if p.Type != "number" && p.Type != "int" {
			v.c.add(at, field+".amount", "parameter %q is a %s, not a number", m[1], p.Type)
		}
	default:
		f, err := strconv.ParseFloat(src, 64)
		if err != nil {
			v.c.add(at, field+".amount", "want a number or params.NAME, got %q", c.Amount)
		} else if f < 0 {
			v.c.add(at, field+".amount", "a cost cannot be negative, got %s", src)
		}
	}
	if c.Currency != "" && !ValidCurrency(c.Currency) {
		v.c.add(v.at(field+".currency", c.Pos), field+".currency", "want an ISO 4217 code such as EUR, got %q", c.Currency)
	}
}
