package offline

import (
	"encoding/json"
	"strings"

	"github.com/cityagent/cityagent/llm"
)

// A source's entities often have names the schema does not list ("City
// Hall", "市政厅", a street). When an earlier tool result of the
// conversation gave an entity's identifier beside its name, a question
// naming the entity is read as naming the identifier. The result only maps
// a name the user wrote to an id: it never chooses a tool, and, like an
// earlier answer, never fills an action's arguments.

const (
	// maxSeen is how many earlier tool results are read for names.
	maxSeen = 8
	// maxSeenBody bounds the size of a result read for names.
	maxSeenBody = 1 << 18
	// minNameRunes is the shortest name matched: shorter ones ("A", "东区")
	// would be found inside unrelated words.
	minNameRunes = 3
)

// earlierResults are the tool results in msgs, latest first, up to maxSeen.
func earlierResults(msgs []llm.Message) []llm.DataBlock {
	var out []llm.DataBlock
	for i := len(msgs) - 1; i >= 0 && len(out) < maxSeen; i-- {
		if m := msgs[i]; m.Role == llm.RoleTool {
			for _, b := range parseData(m.Content) {
				if b.Kind == "tool" && len(out) < maxSeen {
					out = append(out, b)
				}
			}
		}
	}
	return out
}

// seenIDs maps identifier keys (building_id) to the value an earlier result
// gives the entity question names; the latest result and the longest name win.
func seenIDs(question string, seen []llm.DataBlock) map[string]string {
	if len(seen) == 0 {
		return nil
	}
	lower := asciiLower(question)
	out := map[string]string{}
	longest := map[string]int{}
	for _, b := range seen {
		if len(b.Body) > maxSeenBody {
			continue
		}
		var v any
		if json.Unmarshal([]byte(b.Body), &v) != nil {
			continue
		}
		found := map[string]string{}
		walkNamed(v, "", func(obj map[string]any, parent string) {
			n := namedIn(lower, obj)
			if n == 0 {
				return
			}
			for k, val := range obj {
				s, ok := val.(string)
				key := idKey(k, parent)
				if !ok || key == "" || s == "" {
					continue
				}
				if _, done := out[key]; done {
					continue
				}
				if n > longest[key] || n == longest[key] && found[key] == "" {
					found[key], longest[key] = s, n
				}
			}
		})
		for k, s := range found {
			out[k] = s
		}
	}
	return out
}

// walkNamed calls f on every object inside v with the key that holds it
// (for the objects of a list, the list's key).
func walkNamed(v any, parent string, f func(map[string]any, string)) {
	switch x := v.(type) {
	case map[string]any:
		f(x, parent)
		for k, c := range x {
			walkNamed(c, k, f)
		}
	case []any:
		for _, c := range x {
			walkNamed(c, parent, f)
		}
	}
}

// namedIn is the length of the longest name of obj that question (in ASCII
// lower case) holds, or 0.
func namedIn(question string, obj map[string]any) int {
	best := 0
	for k, val := range obj {
		s, ok := val.(string)
		if !ok || !nameKey(k) {
			continue
		}
		s = strings.TrimSpace(s)
		if n := len([]rune(s)); n >= minNameRunes && n > best && holdsName(question, asciiLower(s)) {
			best = n
		}
	}
	return best
}

// holdsName reports whether question holds name: as whole words when it
// starts and ends in ASCII letters or digits, else anywhere (市政厅).
func holdsName(question, name string) bool {
	if isASCIIAlnum(name[0]) || isASCIIAlnum(name[len(name)-1]) {
		return indexWord(question, name) >= 0
	}
	return strings.Contains(question, name)
}

// nameKey reports whether a result field holds a name: name, name_en,
// name_zh, road_name, title, label, address.
func nameKey(k string) bool {
	k = strings.ToLower(k)
	switch {
	case k == "name" || k == "title" || k == "label":
		return true
	case strings.HasPrefix(k, "name_") || strings.HasSuffix(k, "_name") || strings.HasPrefix(k, "address"):
		return true
	}
	return false
}

// idKey is the property an identifier field fills: building_id for
// building_id, and for an "id" inside "buildings" too; "" for other fields.
func idKey(k, parent string) string {
	k = strings.ToLower(k)
	if strings.HasSuffix(k, "_id") {
		return k
	}
	if k == "id" && parent != "" {
		return singular(strings.ToLower(parent)) + "_id"
	}
	return ""
}

// seenSource is a source of the identifiers earlier results give the
// entities question names; ok is false when there are none.
func seenSource(question string, seen []llm.DataBlock) (source, bool) {
	ids := seenIDs(question, seen)
	if len(ids) == 0 {
		return source{}, false
	}
	only := make(map[string]bool, len(ids))
	for k := range ids {
		only[k] = true
	}
	return source{ids: ids, only: only, answer: true}, true
}
