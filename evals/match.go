package evals

import (
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"reflect"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"unicode"

	"golang.org/x/text/unicode/norm"
	"gopkg.in/yaml.v3"
)

// Matcher checks one argument value of a tool call or proposal.
//
// In YAML a matcher is written as
//
//	district: binjiang           # exact (numbers compare as numbers)
//	district: {exact: binjiang}  # the same, for values that look like matchers
//	road: {regex: "^ren"}        # a Go regular expression over a string value
//	limit: {range: [1, 10]}      # a number in [min, max]; or {min: 1}, {max: 10}
//	types: {subset: [crash]}     # an array holding these, or an object holding these keys
//	district: {absent: true}     # the argument is not given
//	window: {hours: {min: 1}}    # a nested object: each key matched recursively
type Matcher struct {
	Kind     string             `json:"kind"` // exact, regex, range, subset, absent, object
	Value    any                `json:"value,omitempty"`
	Pattern  string             `json:"pattern,omitempty"`
	Min      *float64           `json:"min,omitempty"`
	Max      *float64           `json:"max,omitempty"`
	Absent   bool               `json:"absent,omitempty"`
	Fields   map[string]Matcher `json:"fields,omitempty"`
	compiled *regexp.Regexp
}

var matcherKeys = []string{"exact", "regex", "range", "min", "max", "subset", "absent"}

func parseMatcher(n *yaml.Node) (Matcher, error) {
	switch n.Kind {
	case yaml.ScalarNode, yaml.SequenceNode:
		v, err := plain(n)
		return Matcher{Kind: "exact", Value: v}, err
	case yaml.AliasNode:
		return parseMatcher(n.Alias)
	case yaml.MappingNode:
	default:
		return Matcher{}, errors.New("is not a matcher")
	}
	keys := map[string]*yaml.Node{}
	special := 0
	for i := 0; i+1 < len(n.Content); i += 2 {
		keys[n.Content[i].Value] = n.Content[i+1]
		if contains(matcherKeys, n.Content[i].Value) {
			special++
		}
	}
	if special == 0 {
		// A nested object: every key is matched recursively.
		m := Matcher{Kind: "object", Fields: map[string]Matcher{}}
		for k, v := range keys {
			sub, err := parseMatcher(v)
			if err != nil {
				return Matcher{}, fmt.Errorf("%s: %w", k, err)
			}
			m.Fields[k] = sub
		}
		return m, nil
	}
	if special != len(keys) {
		return Matcher{}, fmt.Errorf("mixes matcher keys (%s) with other keys; wrap a literal object in an exact: matcher", strings.Join(matcherKeys, ", "))
	}
	_, hasMin := keys["min"]
	_, hasMax := keys["max"]
	if len(keys) > 1 && !(len(keys) == 2 && hasMin && hasMax) {
		return Matcher{}, errors.New("takes one matcher (only min and max combine)")
	}
	switch {
	case keys["exact"] != nil:
		v, err := plain(keys["exact"])
		return Matcher{Kind: "exact", Value: v}, err
	case keys["regex"] != nil:
		pat := keys["regex"].Value
		re, err := regexp.Compile(pat)
		if err != nil || keys["regex"].Kind != yaml.ScalarNode {
			return Matcher{}, fmt.Errorf("regex: not a valid regular expression: %v", err)
		}
		return Matcher{Kind: "regex", Pattern: pat, compiled: re}, nil
	case keys["range"] != nil:
		r := keys["range"]
		if r.Kind != yaml.SequenceNode || len(r.Content) != 2 {
			return Matcher{}, errors.New("range: must be [min, max]")
		}
		lo, err1 := number(r.Content[0])
		hi, err2 := number(r.Content[1])
		if err := errors.Join(err1, err2); err != nil {
			return Matcher{}, fmt.Errorf("range: %w", err)
		}
		if lo > hi {
			return Matcher{}, errors.New("range: min is above max")
		}
		return Matcher{Kind: "range", Min: &lo, Max: &hi}, nil
	case hasMin || hasMax:
		m := Matcher{Kind: "range"}
		if hasMin {
			lo, err := number(keys["min"])
			if err != nil {
				return Matcher{}, fmt.Errorf("min: %w", err)
			}
			m.Min = &lo
		}
		if hasMax {
			hi, err := number(keys["max"])
			if err != nil {
				return Matcher{}, fmt.Errorf("max: %w", err)
			}
			m.Max = &hi
		}
		if m.Min != nil && m.Max != nil && *m.Min > *m.Max {
			return Matcher{}, errors.New("min is above max")
		}
		return m, nil
	case keys["subset"] != nil:
		s := keys["subset"]
		if s.Kind != yaml.SequenceNode && s.Kind != yaml.MappingNode {
			return Matcher{}, errors.New("subset: must be a list or a mapping")
		}
		v, err := plain(s)
		return Matcher{Kind: "subset", Value: v}, err
	case keys["absent"] != nil:
		var b bool
		if err := keys["absent"].Decode(&b); err != nil {
			return Matcher{}, errors.New("absent: must be true or false")
		}
		return Matcher{Kind: "absent", Absent: b}, nil
	}
	return Matcher{}, errors.New("is not a matcher")
}

// plain decodes a node into JSON-shaped Go values (numbers as float64).
func plain(n *yaml.Node) (any, error) {
	var v any
	if err := n.Decode(&v); err != nil {
		return nil, err
	}
	b, err := json.Marshal(jsonable(v))
	if err != nil {
		return nil, err
	}
	var out any
	return out, json.Unmarshal(b, &out)
}

// jsonable turns yaml's map[string]any / map[any]any trees into JSON-encodable ones.
func jsonable(v any) any {
	switch x := v.(type) {
	case map[string]any:
		out := make(map[string]any, len(x))
		for k, e := range x {
			out[k] = jsonable(e)
		}
		return out
	case map[any]any:
		out := make(map[string]any, len(x))
		for k, e := range x {
			out[fmt.Sprint(k)] = jsonable(e)
		}
		return out
	case []any:
		out := make([]any, len(x))
		for i, e := range x {
			out[i] = jsonable(e)
		}
		return out
	}
	return v
}

func number(n *yaml.Node) (float64, error) {
	f, err := strconv.ParseFloat(n.Value, 64)
	if n.Kind != yaml.ScalarNode || err != nil {
		return 0, fmt.Errorf("%q is not a number", n.Value)
	}
	return f, nil
}

// Match reports whether v (present says whether the argument was given at
// all) satisfies m, and why not.
func (m Matcher) Match(v any, present bool) (bool, string) {
	if m.Kind == "absent" {
		if m.Absent == !present {
			return true, ""
		}
		if m.Absent {
			return false, fmt.Sprintf("is %s, want it absent", show(v))
		}
		return false, "is absent, want it given"
	}
	if !present {
		return false, "is absent"
	}
	switch m.Kind {
	case "exact":
		if equalJSON(v, m.Value) {
			return true, ""
		}
		return false, fmt.Sprintf("is %s, want %s", show(v), show(m.Value))
	case "regex":
		s, ok := v.(string)
		if !ok {
			return false, fmt.Sprintf("is %s, want a string matching /%s/", show(v), m.Pattern)
		}
		re := m.compiled
		if re == nil {
			re = regexp.MustCompile(m.Pattern)
		}
		if re.MatchString(s) {
			return true, ""
		}
		return false, fmt.Sprintf("is %s, want /%s/", show(v), m.Pattern)
	case "range":
		f, ok := toNumber(v)
		if !ok {
			return false, fmt.Sprintf("is %s, want a number", show(v))
		}
		if (m.Min != nil && f < *m.Min) || (m.Max != nil && f > *m.Max) {
			return false, fmt.Sprintf("is %s, want %s", show(v), m.rangeText())
		}
		return true, ""
	case "subset":
		return subset(v, m.Value)
	case "object":
		obj, ok := v.(map[string]any)
		if !ok {
			return false, fmt.Sprintf("is %s, want an object", show(v))
		}
		return matchFields(obj, m.Fields)
	}
	return false, "unknown matcher " + m.Kind
}

func (m Matcher) rangeText() string {
	switch {
	case m.Min != nil && m.Max != nil:
		return fmt.Sprintf("in [%g, %g]", *m.Min, *m.Max)
	case m.Min != nil:
		return fmt.Sprintf(">= %g", *m.Min)
	case m.Max != nil:
		return fmt.Sprintf("<= %g", *m.Max)
	}
	return "any number"
}

// matchFields checks every matcher against an arguments object; keys the
// matchers do not name are not constrained.
func matchFields(obj map[string]any, fields map[string]Matcher) (bool, string) {
	keys := make([]string, 0, len(fields))
	for k := range fields {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		v, present := obj[k]
		if ok, why := fields[k].Match(v, present); !ok {
			return false, k + " " + why
		}
	}
	return true, ""
}

func subset(v, want any) (bool, string) {
	switch w := want.(type) {
	case []any:
		arr, ok := v.([]any)
		if !ok {
			return false, fmt.Sprintf("is %s, want an array holding %s", show(v), show(want))
		}
		for _, x := range w {
			found := false
			for _, y := range arr {
				if equalJSON(x, y) {
					found = true
					break
				}
			}
			if !found {
				return false, fmt.Sprintf("is %s, lacks %s", show(v), show(x))
			}
		}
		return true, ""
	case map[string]any:
		obj, ok := v.(map[string]any)
		if !ok {
			return false, fmt.Sprintf("is %s, want an object holding %s", show(v), show(want))
		}
		for k, x := range w {
			if y, ok := obj[k]; !ok || !equalJSON(x, y) {
				return false, fmt.Sprintf("%s is %s, want %s", k, show(obj[k]), show(x))
			}
		}
		return true, ""
	}
	return false, "subset needs a list or a mapping"
}

func toNumber(v any) (float64, bool) {
	switch x := v.(type) {
	case float64:
		return x, true
	case json.Number:
		f, err := x.Float64()
		return f, err == nil
	case string:
		f, err := strconv.ParseFloat(strings.TrimSpace(x), 64)
		return f, err == nil && !math.IsNaN(f)
	}
	return 0, false
}

func equalJSON(a, b any) bool {
	fa, aNum := a.(float64)
	fb, bNum := b.(float64)
	if aNum && bNum {
		return fa == fb
	}
	return reflect.DeepEqual(normJSON(a), normJSON(b))
}

func normJSON(v any) any {
	b, err := json.Marshal(v)
	if err != nil {
		return v
	}
	var out any
	if json.Unmarshal(b, &out) != nil {
		return v
	}
	return out
}

func show(v any) string {
	b, err := json.Marshal(v)
	if err != nil {
		return fmt.Sprint(v)
	}
	s := string(b)
	if len(s) > 80 {
		s = s[:80] + "…"
	}
	return s
}

// ---- answer text ---------------------------------------------------------------

// Normalize is how answer checks compare text: Unicode NFKC (full-width
// letters, digits and punctuation become their ASCII forms, so "１２" is
// "12"), lower case, thousands separators between digits dropped ("6,850"
// and "6，850" are "6850"), and runs of white space made one space.
func Normalize(s string) string {
	s = strings.ToLower(norm.NFKC.String(s))
	r := []rune(s)
	var b strings.Builder
	b.Grow(len(s))
	space := false
	for i := 0; i < len(r); i++ {
		c := r[i]
		if c == ',' && i > 0 && isDigit(r[i-1]) && thousandsGroup(r, i+1) {
			continue
		}
		if unicode.IsSpace(c) {
			if !space && b.Len() > 0 {
				b.WriteByte(' ')
			}
			space = true
			continue
		}
		space = false
		b.WriteRune(c)
	}
	return strings.TrimRight(b.String(), " ")
}

func isDigit(r rune) bool { return r >= '0' && r <= '9' }

// thousandsGroup reports whether r[i:] starts with exactly three digits.
func thousandsGroup(r []rune, i int) bool {
	if i+3 > len(r) {
		return false
	}
	for j := i; j < i+3; j++ {
		if !isDigit(r[j]) {
			return false
		}
	}
	return i+3 == len(r) || !isDigit(r[i+3])
}

// Contains reports whether needle occurs in text after Normalize.
func Contains(text, needle string) bool {
	return strings.Contains(Normalize(text), Normalize(needle))
}

// Language is "zh" when at least a fifth of s's letters are Han characters,
// else "en".
func Language(s string) string {
	han, letters := 0, 0
	for _, r := range s {
		switch {
		case unicode.Is(unicode.Han, r):
			han++
			letters++
		case unicode.IsLetter(r):
			letters++
		}
	}
	if letters > 0 && han*5 >= letters {
		return "zh"
	}
	return "en"
}
