package openapi

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"regexp"
	"slices"
	"strings"

	"github.com/cityagent/cityagent/internal/usererr"
)

// maxName is the longest tool name (the limit models put on function names).
const maxName = 64

var (
	nonWord  = regexp.MustCompile(`[^a-z0-9]+`)
	camelize = regexp.MustCompile(`([a-z0-9])([A-Z])`)
)

// snake turns an operation id or "get /path" into lower-case words joined by _.
func snake(s string) string {
	s = camelize.ReplaceAllString(s, "${1}_${2}")
	return strings.Trim(nonWord.ReplaceAllString(strings.ToLower(s), "_"), "_")
}

// namer gives each operation a unique tool name of at most 64 characters,
// deterministically for a given document.
type namer struct {
	source string
	seen   map[string]bool
}

func newNamer(source string) *namer { return &namer{source: snake(source), seen: map[string]bool{}} }

func (n *namer) name(o op) string {
	id := o.op.OperationID
	if id == "" {
		id = strings.ToLower(o.method) + "_" + o.path
	}
	full := snake(id)
	if n.source != "" {
		full = n.source + "_" + full
	}
	if full == "" || full[0] < 'a' || full[0] > 'z' {
		full = "op_" + full
	}
	name := shorten(full, o.label())
	if n.seen[name] {
		name = withHash(full, o.label())
	}
	n.seen[name] = true
	return name
}

// shorten keeps a name within maxName: first it drops words repeated
// from earlier in the name (github_repos_get_repos_… → github_repos_get_…),
// then it cuts at a word boundary and adds a short hash of what it calls.
func shorten(full, key string) string {
	if len(full) <= maxName {
		return full
	}
	words := strings.Split(full, "_")
	var kept []string
	for i, w := range words {
		if i > 0 && slices.Contains(kept, w) {
			continue
		}
		kept = append(kept, w)
	}
	if s := strings.Join(kept, "_"); len(s) <= maxName {
		return s
	}
	return withHash(strings.Join(kept, "_"), key)
}

// withHash cuts name at a word boundary and appends _ and six hex digits
// of the hash of key, so two operations never share a name.
func withHash(name, key string) string {
	sum := sha256.Sum256([]byte(key))
	suffix := "_" + hex.EncodeToString(sum[:])[:6]
	room := maxName - len(suffix)
	if len(name) > room {
		cut := strings.LastIndexByte(name[:room+1], '_')
		if cut < room/2 {
			cut = room
		}
		name = strings.TrimRight(name[:cut], "_")
	}
	return name + suffix
}

// selector chooses operations by tag, path, operationId or method and path.
type selector struct{ include, exclude []rule }

type rule struct{ kind, pattern string }

func newSelector(include, exclude []string) (*selector, error) {
	s := &selector{}
	for _, e := range []struct {
		field string
		in    []string
		out   *[]rule
	}{{"include", include, &s.include}, {"exclude", exclude, &s.exclude}} {
		for _, raw := range e.in {
			r, err := parseRule(raw)
			if err != nil {
				return nil, usererr.Errorf("%w: %s: %v", ErrDocument, e.field, err)
			}
			*e.out = append(*e.out, r)
		}
	}
	return s, nil
}

func parseRule(raw string) (rule, error) {
	raw = strings.TrimSpace(raw)
	if k, p, ok := strings.Cut(raw, ":"); ok && (k == "tag" || k == "path" || k == "operation") && p != "" {
		return rule{k, p}, nil
	}
	if m, p, ok := strings.Cut(raw, " "); ok && slices.Contains(methods, strings.ToUpper(m)) && strings.HasPrefix(p, "/") {
		return rule{strings.ToUpper(m), p}, nil
	}
	return rule{}, fmt.Errorf("%q: want tag:NAME, path:GLOB, operation:GLOB or \"METHOD GLOB\"", raw)
}

func (s *selector) match(o op) bool {
	in := len(s.include) == 0
	for _, r := range s.include {
		in = in || r.match(o)
	}
	for _, r := range s.exclude {
		in = in && !r.match(o)
	}
	return in
}

func (r rule) match(o op) bool {
	switch r.kind {
	case "tag":
		for _, t := range o.op.Tags {
			if glob(r.pattern, t) {
				return true
			}
		}
		return false
	case "path":
		return glob(r.pattern, o.path)
	case "operation":
		return glob(r.pattern, o.op.OperationID)
	}
	return r.kind == o.method && glob(r.pattern, o.path)
}

// glob matches s against pattern, where * matches any run of characters
// (slashes too) and ? one character; linear backtracking on the last *.
func glob(pattern, s string) bool {
	p, i, star, mark := 0, 0, -1, 0
	for i < len(s) {
		switch {
		case p < len(pattern) && (pattern[p] == '?' || pattern[p] == s[i]):
			p, i = p+1, i+1
		case p < len(pattern) && pattern[p] == '*':
			star, mark = p, i
			p++
		case star >= 0:
			mark++
			p, i = star+1, mark
		default:
			return false
		}
	}
	for p < len(pattern) && pattern[p] == '*' {
		p++
	}
	return p == len(pattern)
}
