package offline

import (
	"bytes"
	"encoding/json"
	"fmt"
	"regexp"
	"strconv"
	"strings"

	"github.com/cityagent/cityagent/llm"
)

// A question that names a tool plainly asks for it ("call get_weather with
// city Paris", `use get_weather {"city": "Paris"}`): the planner's scoring
// cannot read free-text arguments such as a city's name, so a named tool is
// called with the arguments the question gives it by name, before any
// scoring. This is how an API client's own tools (which describe nothing
// the engine knows) get called offline.

// namedPlan is plan, preceded by the calls the question asks for by name.
func namedPlan(question string, earlier, answers []string, seen []llm.DataBlock, specs []llm.ToolSpec, docs []*toolDoc) ([]llm.ToolCall, *need) {
	if calls := namedCalls(question, specs); len(calls) > 0 {
		return calls, nil
	}
	return plan(question, earlier, answers, seen, docs)
}

var askVerb = regexp.MustCompile(`(?i)\b(call|use|run|invoke)\s*$`)

// namedCalls are the calls of the tools question names, each with every
// required argument read from the question; a tool whose required
// arguments are not all there is not called.
func namedCalls(question string, specs []llm.ToolSpec) []llm.ToolCall {
	var calls []llm.ToolCall
	for _, s := range specs {
		at := nameIndex(question, s.Name)
		if at < 0 || !(identifierLike(s.Name) || askVerb.MatchString(question[:at])) {
			continue
		}
		args, ok := namedArgs(question[at+len(s.Name):], s.Parameters)
		if !ok || len(calls) == maxCalls {
			continue
		}
		calls = append(calls, llm.ToolCall{ID: fmt.Sprintf("call_%d", len(calls)+1), Name: s.Name, Arguments: args})
	}
	return calls
}

// nameIndex is where name occurs in s as a whole word, or -1.
func nameIndex(s, name string) int {
	for off := 0; ; {
		i := strings.Index(s[off:], name)
		if i < 0 || name == "" {
			return -1
		}
		i += off
		end := i + len(name)
		if (i == 0 || !identByte(s[i-1])) && (end == len(s) || !identByte(s[end])) {
			return i
		}
		off = i + 1
	}
}

func identByte(b byte) bool { return b == '_' || b == '-' || isASCIIAlnum(b) }

// identifierLike names are no ordinary word: get_weather, lookup-2.
func identifierLike(name string) bool { return strings.ContainsAny(name, "_-0123456789") }

type namedSchema struct {
	Properties map[string]struct {
		Type json.RawMessage   `json:"type"`
		Enum []json.RawMessage `json:"enum"`
	} `json:"properties"`
	Required []string `json:"required"`
}

// namedArgs reads the arguments that follow a tool's name: a JSON object,
// or "<property> <value>" pairs.
func namedArgs(rest string, params json.RawMessage) (json.RawMessage, bool) {
	var sch namedSchema
	if len(params) > 0 && json.Unmarshal(params, &sch) != nil {
		return nil, false
	}
	if t := strings.TrimLeft(rest, " :("); strings.HasPrefix(t, "{") {
		var obj map[string]any
		dec := json.NewDecoder(strings.NewReader(t))
		if dec.Decode(&obj) == nil && hasAll(obj, sch.Required) {
			b, _ := json.Marshal(obj)
			return b, true
		}
		return nil, false
	}
	obj := map[string]any{}
	for name, p := range sch.Properties {
		text, ok := valueAfter(rest, name, sch.Properties)
		if !ok {
			continue
		}
		if v, ok := typedValue(text, bytes.Trim(p.Type, `"`), p.Enum); ok {
			obj[name] = v
		}
	}
	if !hasAll(obj, sch.Required) {
		return nil, false
	}
	b, _ := json.Marshal(obj)
	return b, true
}

func hasAll(obj map[string]any, keys []string) bool {
	for _, k := range keys {
		if _, ok := obj[k]; !ok {
			return false
		}
	}
	return true
}

var valueRE = regexp.MustCompile(`^\s*(?:=|:|\bis\b|\bof\b)?\s*(?:"([^"]*)"|'([^']*)'|([^\s,;.?!)"'][^,;?!)"']*?))(?:\s+and\b|[,;?!)]|\.(?:\s|$)|$)`)

// valueAfter is the value written after the property's name in s; an
// unquoted value ends where another property's name begins.
func valueAfter[V any](s, name string, props map[string]V) (string, bool) {
	i := nameIndex(s, name)
	if i < 0 {
		return "", false
	}
	m := valueRE.FindStringSubmatch(s[i+len(name):])
	if m == nil {
		return "", false
	}
	if v := m[1] + m[2]; v != "" {
		return v, true
	}
	words := strings.Fields(m[3])
	for i, w := range words {
		if _, other := props[w]; other && i > 0 {
			words = words[:i]
			break
		}
	}
	v := strings.Join(words, " ")
	return v, v != ""
}

// typedValue converts text to the property's type, and checks its enum.
func typedValue(text string, typ []byte, enum []json.RawMessage) (any, bool) {
	var v any = text
	switch string(typ) {
	case "number", "integer":
		f, err := strconv.ParseFloat(text, 64)
		if err != nil || (string(typ) == "integer" && f != float64(int64(f))) {
			return nil, false
		}
		v = f
	case "boolean":
		b, err := strconv.ParseBool(strings.ToLower(text))
		if err != nil {
			return nil, false
		}
		v = b
	}
	if len(enum) == 0 {
		return v, true
	}
	for _, e := range enum {
		var ev any
		if json.Unmarshal(e, &ev) == nil {
			if es, ok := ev.(string); ok && strings.EqualFold(es, text) {
				return es, true
			}
			if ev == v {
				return v, true
			}
		}
	}
	return nil, false
}
