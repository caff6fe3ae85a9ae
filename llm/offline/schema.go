package offline

import (
	"bytes"
	"encoding/json"
	"regexp"
	"sort"
	"strings"
)

// schema is the part of a property's JSON Schema the planner reads. Each
// property is decoded on its own, so one the planner cannot read leaves the
// rest of the tool usable.
type schema struct {
	Type             json.RawMessage   `json:"type"` // a name or a list of names
	Title            string            `json:"title"`
	Description      string            `json:"description"`
	Enum             []json.RawMessage `json:"enum"`
	Const            json.RawMessage   `json:"const"`
	OneOf            []choiceSchema    `json:"oneOf"`
	AnyOf            []choiceSchema    `json:"anyOf"`
	Pattern          string            `json:"pattern"`
	Format           string            `json:"format"`
	Minimum          *float64          `json:"minimum"`
	Maximum          *float64          `json:"maximum"`
	ExclusiveMinimum json.RawMessage   `json:"exclusiveMinimum"` // a number (2019+) or a bool (draft 4)
	ExclusiveMaximum json.RawMessage   `json:"exclusiveMaximum"`
	Default          json.RawMessage   `json:"default"`
	Examples         []json.RawMessage `json:"examples"`
	// Enum descriptions have no standard keyword; these two are the common
	// extensions (VS Code's enumDescriptions, and x-enumDescriptions as a
	// list or a value → text object). Descriptions written into the
	// property's description ("dongcheng: 东城区; xicheng: 西城区") are read too.
	EnumDescriptions  []string        `json:"enumDescriptions"`
	XEnumDescriptions json.RawMessage `json:"x-enumDescriptions"`
}

// choiceSchema is one branch of a oneOf/anyOf enumeration: {const, title, description}.
type choiceSchema struct {
	Const       json.RawMessage   `json:"const"`
	Enum        []json.RawMessage `json:"enum"`
	Title       string            `json:"title"`
	Description string            `json:"description"`
}

// objectSchema is a tool's parameters object. anyOf/oneOf branches that
// only list required properties say "give at least one of these sets".
type objectSchema struct {
	Properties map[string]json.RawMessage `json:"properties"`
	Required   []string                   `json:"required"`
	AnyOf      []requiredSet              `json:"anyOf"`
	OneOf      []requiredSet              `json:"oneOf"`
}

type requiredSet struct {
	Required []string `json:"required"`
}

// property is one argument of a tool. s is nil when its schema could not be
// read; the other fields are derived from s when the tool is indexed.
type property struct {
	name     string
	s        *schema
	required bool

	choices     []choice        // enumerated values
	words       map[string]bool // terms of its name and description, with concepts
	numeric     bool            // filled from numbers in the question
	freeText    bool            // required text meant for the user's own words
	full, loose *regexp.Regexp  // its pattern as written, and as a search
	ident       *ident          // set when it is an identifier (segment_id)
	window      json.RawMessage // the usual value of a window of time (describedWindow), or nil
}

// readParams decodes a tool's parameters into its properties, sorted by
// name, and the alternative sets of required properties, if any. ok is false
// when the parameters are not a readable JSON object, or when a required
// property is missing or unreadable: such a tool cannot be called.
func readParams(raw json.RawMessage) (props []property, alts [][]string, ok bool) {
	raw = bytes.TrimSpace(raw)
	if len(raw) == 0 || string(raw) == "null" {
		return nil, nil, true
	}
	var obj objectSchema
	if err := json.Unmarshal(raw, &obj); err != nil {
		return nil, nil, false
	}
	for _, set := range append(obj.AnyOf, obj.OneOf...) {
		if len(set.Required) > 0 {
			alts = append(alts, set.Required)
		}
	}
	req := map[string]bool{}
	for _, r := range obj.Required {
		req[r] = true
	}
	ok = true
	for r := range req {
		if _, found := obj.Properties[r]; !found {
			ok = false
		}
	}
	names := make([]string, 0, len(obj.Properties))
	for n := range obj.Properties {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, n := range names {
		p := property{name: n, required: req[n]}
		var s schema
		if err := json.Unmarshal(obj.Properties[n], &s); err == nil {
			p.s = &s
		} else if p.required {
			ok = false
		}
		props = append(props, p)
	}
	return props, alts, ok
}

// types lists the property's JSON types, "null" left out. When the schema
// names none, they are inferred from the keywords it uses.
func (s *schema) types() []string {
	var out []string
	var one string
	var many []string
	switch {
	case json.Unmarshal(s.Type, &one) == nil && one != "":
		many = []string{one}
	case json.Unmarshal(s.Type, &many) == nil:
	}
	for _, t := range many {
		if t != "null" {
			out = append(out, t)
		}
	}
	if len(out) > 0 {
		return out
	}
	switch {
	case s.Pattern != "" || s.Format != "":
		return []string{"string"}
	case s.Minimum != nil || s.Maximum != nil:
		return []string{"number"}
	}
	var d any
	if present(s.Default) && json.Unmarshal(s.Default, &d) == nil {
		switch d.(type) {
		case string:
			return []string{"string"}
		case float64:
			return []string{"number"}
		case bool:
			return []string{"boolean"}
		}
	}
	return nil
}

func (s *schema) is(typ string) bool {
	for _, t := range s.types() {
		if t == typ {
			return true
		}
	}
	return false
}

// present reports whether a keyword holding raw JSON was given (and not null).
func present(raw json.RawMessage) bool {
	raw = bytes.TrimSpace(raw)
	return len(raw) > 0 && string(raw) != "null"
}

// choice is one allowed value of an enumerated property, with the terms
// that name it: its own words and those of its description.
type choice struct {
	value    json.RawMessage
	text     string // the value as text, for reading descriptions
	desc     string
	terms    map[string]bool
	termList []string  // terms, sorted: scores are summed in this order
	idf      []float64 // the weight of each of termList among the property's values
}

// choices lists the property's enumerated values with their descriptions.
func (s *schema) choices() []choice {
	var out []choice
	for i, raw := range s.Enum {
		if !present(raw) {
			continue
		}
		c := choice{value: raw, text: valueText(raw)}
		if i < len(s.EnumDescriptions) {
			c.desc = s.EnumDescriptions[i]
		}
		out = append(out, c)
	}
	if present(s.XEnumDescriptions) {
		var list []string
		var byValue map[string]string
		switch {
		case json.Unmarshal(s.XEnumDescriptions, &list) == nil:
			for i := range out {
				if i < len(list) {
					out[i].desc += " " + list[i]
				}
			}
		case json.Unmarshal(s.XEnumDescriptions, &byValue) == nil:
			for i := range out {
				out[i].desc += " " + byValue[out[i].text]
			}
		}
	}
	for _, branches := range [][]choiceSchema{s.OneOf, s.AnyOf} {
		for _, b := range branches {
			v := b.Const
			if !present(v) && len(b.Enum) == 1 {
				v = b.Enum[0]
			}
			if !present(v) {
				continue
			}
			out = append(out, choice{value: v, text: valueText(v), desc: b.Title + " " + b.Description})
		}
	}
	texts := make([]string, len(out))
	for i, c := range out {
		texts[i] = c.text
	}
	for i, d := range describedValues(s.Description, texts) {
		out[i].desc += " " + d
	}
	return out
}

// valueText is a JSON value as plain text: strings unquoted, the rest as written.
func valueText(raw json.RawMessage) string {
	var s string
	if json.Unmarshal(raw, &s) == nil {
		return s
	}
	return string(bytes.TrimSpace(raw))
}

// describedValues reads enum descriptions written into a property's
// description, as in "dongcheng: 东城区 Dongcheng; xicheng: 西城区 Xicheng" or
// "high (over 80%), low (under 20%)": the text after each value, up to the
// next value or separator, describes it.
func describedValues(desc string, values []string) map[int]string {
	if desc == "" || len(values) == 0 {
		return nil
	}
	type hit struct{ i, start, end int }
	var hits []hit
	for i, v := range values {
		if len(v) < 2 {
			continue
		}
		if at := indexWord(desc, v); at >= 0 {
			hits = append(hits, hit{i, at, at + len(v)})
		}
	}
	sort.Slice(hits, func(a, b int) bool { return hits[a].start < hits[b].start })
	out := map[int]string{}
	for k, h := range hits {
		end := len(desc)
		if k+1 < len(hits) && hits[k+1].start >= h.end {
			end = hits[k+1].start
		}
		seg := desc[h.end:end]
		if cut := strings.IndexAny(seg, ";,|\n；，、。"); cut >= 0 {
			// A separator right after the value ("a, b") means it has no description.
			seg = seg[:cut]
		}
		out[h.i] = seg
	}
	return out
}

// indexWord finds v in s as a whole word (not inside a longer ASCII word),
// preferring an exact-case match. Case folding is ASCII-only so byte offsets
// stay valid.
func indexWord(s, v string) int {
	for _, fold := range []bool{false, true} {
		hay, needle := s, v
		if fold {
			hay, needle = asciiLower(s), asciiLower(v)
		}
		for from := 0; from <= len(hay)-len(needle); {
			at := strings.Index(hay[from:], needle)
			if at < 0 {
				break
			}
			at += from
			if wordBoundary(hay, at, at+len(needle)) {
				return at
			}
			from = at + 1
		}
	}
	return -1
}

func wordBoundary(s string, start, end int) bool {
	return (start == 0 || !isASCIIAlnum(s[start-1])) && (end >= len(s) || !isASCIIAlnum(s[end]))
}

func isASCIIAlnum(b byte) bool {
	return b >= 'a' && b <= 'z' || b >= 'A' && b <= 'Z' || b >= '0' && b <= '9' || b == '_'
}

func asciiLower(s string) string {
	b := []byte(s)
	for i, c := range b {
		if c >= 'A' && c <= 'Z' {
			b[i] = c + ('a' - 'A')
		}
	}
	return string(b)
}
