package monitors

import (
	"encoding/json"
	"fmt"
	"math"
	"strconv"
	"strings"
)

// Path is a small JSONPath subset: "$" then any of ".name", "[*]" and "[n]"
// (a negative n counts from the end). "[*]" fans out over an array's
// elements (or an object's values, in key order).
type Path struct {
	src   string
	steps []step
}

type step struct {
	field string // ".field"
	index int    // "[n]"
	all   bool   // "[*]"
	isIdx bool
}

// ParsePath parses a selector such as "$.segments[*].congestion_index".
func ParsePath(s string) (Path, error) {
	p := Path{src: s}
	rest, ok := strings.CutPrefix(strings.TrimSpace(s), "$")
	if !ok {
		return Path{}, fmt.Errorf("selector %q must start with $", s)
	}
	for rest != "" {
		switch rest[0] {
		case '.':
			rest = rest[1:]
			n := strings.IndexAny(rest, ".[")
			if n < 0 {
				n = len(rest)
			}
			name := rest[:n]
			if name == "" {
				return Path{}, fmt.Errorf("selector %q: empty field name", s)
			}
			p.steps = append(p.steps, step{field: name})
			rest = rest[n:]
		case '[':
			end := strings.IndexByte(rest, ']')
			if end < 0 {
				return Path{}, fmt.Errorf("selector %q: [ without ]", s)
			}
			in := strings.TrimSpace(rest[1:end])
			if in == "*" {
				p.steps = append(p.steps, step{all: true})
			} else {
				n, err := strconv.Atoi(in)
				if err != nil {
					return Path{}, fmt.Errorf("selector %q: [%s] is not * or an integer", s, in)
				}
				p.steps = append(p.steps, step{index: n, isIdx: true})
			}
			rest = rest[end+1:]
		default:
			return Path{}, fmt.Errorf("selector %q: unexpected %q", s, rest[:1])
		}
	}
	return p, nil
}

// String is the selector as written.
func (p Path) String() string { return p.src }

// Eval returns every value the path reaches in doc (decoded JSON); nothing
// when a step finds no field or index.
func (p Path) Eval(doc any) []any {
	cur := []any{doc}
	for _, st := range p.steps {
		var next []any
		for _, v := range cur {
			next = append(next, st.apply(v)...)
		}
		cur = next
	}
	return cur
}

func (st step) apply(v any) []any {
	switch {
	case st.field != "":
		if m, ok := v.(map[string]any); ok {
			if x, ok := m[st.field]; ok {
				return []any{x}
			}
		}
	case st.all:
		switch x := v.(type) {
		case []any:
			return x
		case map[string]any:
			keys := sortedKeys(x)
			out := make([]any, len(keys))
			for i, k := range keys {
				out[i] = x[k]
			}
			return out
		}
	case st.isIdx:
		if a, ok := v.([]any); ok {
			i := st.index
			if i < 0 {
				i += len(a)
			}
			if i >= 0 && i < len(a) {
				return []any{a[i]}
			}
		}
	}
	return nil
}

// number reads a selected value as a number: a JSON number, a numeric
// string, a boolean (1 or 0), or an array or object (its length).
func number(v any) (float64, bool) {
	switch x := v.(type) {
	case float64:
		return x, !math.IsNaN(x) && !math.IsInf(x, 0)
	case json.Number:
		f, err := x.Float64()
		return f, err == nil
	case string:
		f, err := strconv.ParseFloat(strings.TrimSpace(x), 64)
		return f, err == nil && !math.IsNaN(f) && !math.IsInf(f, 0)
	case bool:
		if x {
			return 1, true
		}
		return 0, true
	case []any:
		return float64(len(x)), true
	case map[string]any:
		return float64(len(x)), true
	}
	return 0, false
}

// text reads a selected value as a subject or a where-match string.
func text(v any) (string, bool) {
	switch x := v.(type) {
	case string:
		return x, true
	case float64:
		return strconv.FormatFloat(x, 'f', -1, 64), true
	case bool:
		return strconv.FormatBool(x), true
	}
	return "", false
}

// Condition is a comparison with a number: "> 2.0", "<= 10", "== 0".
type Condition struct {
	Op        string
	Threshold float64
}

var conditionOps = []string{">=", "<=", "==", "!=", ">", "<"}

// ParseCondition parses "<op> <number>" with op one of > >= < <= == !=.
func ParseCondition(s string) (Condition, error) {
	t := strings.TrimSpace(s)
	for _, op := range conditionOps {
		if rest, ok := strings.CutPrefix(t, op); ok {
			f, err := strconv.ParseFloat(strings.TrimSpace(rest), 64)
			if err != nil || math.IsNaN(f) || math.IsInf(f, 0) {
				return Condition{}, fmt.Errorf("%q: %q is not a number", s, strings.TrimSpace(rest))
			}
			return Condition{Op: op, Threshold: f}, nil
		}
	}
	return Condition{}, fmt.Errorf("%q: want \"<op> <number>\" with op one of > >= < <= == !=, e.g. \"> 2.0\"", s)
}

// Holds reports whether v meets the condition.
func (c Condition) Holds(v float64) bool {
	switch c.Op {
	case ">":
		return v > c.Threshold
	case ">=":
		return v >= c.Threshold
	case "<":
		return v < c.Threshold
	case "<=":
		return v <= c.Threshold
	case "==":
		return v == c.Threshold
	case "!=":
		return v != c.Threshold
	}
	return false
}

// worse reports whether a is further into the condition's direction than b:
// higher for > and >=, lower for < and <=; for == and != a later value wins.
func (c Condition) worse(a, b float64) bool {
	switch c.Op {
	case ">", ">=":
		return a > b
	case "<", "<=":
		return a < b
	}
	return true
}

// String is the condition as "<op> <number>".
func (c Condition) String() string {
	return c.Op + " " + strconv.FormatFloat(c.Threshold, 'f', -1, 64)
}
