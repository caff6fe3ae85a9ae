package evals

import (
	"errors"
	"fmt"
	"io"
	"regexp"
	"strconv"
	"strings"
	"time"

	"gopkg.in/yaml.v3"

	"github.com/cityagent/cityagent/access"
)

// parser is the node walker: it reads YAML nodes into typed values and
// records every problem with its line, column and field path.
type parser struct {
	file     string
	problems []Problem
}

func (p *parser) fail(n *yaml.Node, field, format string, args ...any) {
	pr := Problem{File: p.file, Field: field, Message: fmt.Sprintf(format, args...)}
	if n != nil {
		pr.Line, pr.Column = n.Line, n.Column
	}
	p.problems = append(p.problems, pr)
}

func (p *parser) failErr(n *yaml.Node, field string, err error) {
	p.fail(n, field, "%s", strings.TrimPrefix(err.Error(), "evals: "))
}

var yamlLineRE = regexp.MustCompile(`line (\d+)`)

func (p *parser) syntax(err error) {
	pr := Problem{File: p.file, Message: strings.TrimPrefix(err.Error(), "yaml: ")}
	if m := yamlLineRE.FindStringSubmatch(err.Error()); m != nil {
		pr.Line, _ = strconv.Atoi(m[1])
	}
	if errors.Is(err, io.EOF) {
		pr.Message = "the file is empty"
	}
	p.problems = append(p.problems, pr)
}

func (p *parser) err() error {
	if len(p.problems) == 0 {
		return nil
	}
	return &SuiteError{Problems: p.problems}
}

type nodeMap struct {
	keys   []string
	values map[string]*yaml.Node
}

func (m *nodeMap) get(k string) *yaml.Node {
	if m == nil {
		return nil
	}
	return m.values[k]
}

// mapping checks that n is a mapping whose keys are all known and unique.
func (p *parser) mapping(n *yaml.Node, field string, known ...string) *nodeMap {
	if n.Kind != yaml.MappingNode {
		p.fail(n, orRoot(field), "must be a mapping")
		return nil
	}
	m := &nodeMap{values: map[string]*yaml.Node{}}
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, v := n.Content[i], n.Content[i+1]
		f := join(field, k.Value)
		if !contains(known, k.Value) {
			p.fail(k, f, "unknown field (known: %s)", strings.Join(known, ", "))
			continue
		}
		if _, dup := m.values[k.Value]; dup {
			p.fail(k, f, "is given twice")
			continue
		}
		m.keys = append(m.keys, k.Value)
		m.values[k.Value] = v
	}
	return m
}

func (p *parser) str(n *yaml.Node, field string) string {
	if n == nil {
		return ""
	}
	if n.Kind != yaml.ScalarNode || n.Tag == "!!null" {
		p.fail(n, field, "must be a string")
		return ""
	}
	return n.Value
}

func (p *parser) name(n *yaml.Node, field string) string {
	s := strings.TrimSpace(p.str(n, field))
	if n != nil && s == "" && n.Kind == yaml.ScalarNode {
		p.fail(n, field, "must not be empty")
	}
	return s
}

func (p *parser) names(n *yaml.Node, field string) []string {
	out := p.strList(n, field)
	for i, s := range out {
		if strings.TrimSpace(s) == "" {
			p.fail(n.Content[i], fmt.Sprintf("%s[%d]", field, i), "must not be empty")
		}
	}
	return out
}

// strList reads a list of strings; a single string is a list of one.
func (p *parser) strList(n *yaml.Node, field string) []string {
	if n == nil {
		return nil
	}
	if n.Kind == yaml.ScalarNode && n.Tag != "!!null" {
		return []string{n.Value}
	}
	if n.Kind != yaml.SequenceNode {
		p.fail(n, field, "must be a list of strings")
		return nil
	}
	out := make([]string, 0, len(n.Content))
	for i, c := range n.Content {
		if c.Kind != yaml.ScalarNode || c.Tag == "!!null" {
			p.fail(c, fmt.Sprintf("%s[%d]", field, i), "must be a string")
			continue
		}
		out = append(out, c.Value)
	}
	return out
}

func (p *parser) boolean(n *yaml.Node, field string) bool {
	var b bool
	if n.Kind != yaml.ScalarNode || n.Decode(&b) != nil {
		p.fail(n, field, "must be true or false")
	}
	return b
}

func (p *parser) positiveInt(n *yaml.Node, field string) int {
	if n == nil {
		return 0
	}
	v, err := strconv.Atoi(n.Value)
	if n.Kind != yaml.ScalarNode || err != nil || v <= 0 {
		p.fail(n, field, "must be a positive whole number")
		return 0
	}
	return v
}

func (p *parser) duration(n *yaml.Node, field string) time.Duration {
	if n == nil {
		return 0
	}
	d, err := time.ParseDuration(n.Value)
	if n.Kind != yaml.ScalarNode || err != nil || d <= 0 {
		p.fail(n, field, "must be a positive duration such as 30s")
		return 0
	}
	return d
}

func (p *parser) role(n *yaml.Node, field string, def access.Role) access.Role {
	if n == nil {
		return def
	}
	r, err := access.ParseRole(p.str(n, field))
	if err != nil {
		p.fail(n, field, "unknown role %q (known: %s)", n.Value, joinRoles())
		return def
	}
	return r
}

func (p *parser) clearance(n *yaml.Node, field string, def access.Clearance) access.Clearance {
	if n == nil {
		return def
	}
	c, err := access.ParseClearance(p.str(n, field))
	if err != nil || n.Value == "" {
		p.fail(n, field, "unknown clearance %q (known: public, internal, sensitive, restricted)", n.Value)
		return def
	}
	return c
}

func joinRoles() string {
	s := make([]string, len(access.Roles))
	for i, r := range access.Roles {
		s[i] = string(r)
	}
	return strings.Join(s, ", ")
}

func join(field, key string) string {
	if field == "" {
		return key
	}
	return field + "." + key
}

func orRoot(field string) string {
	if field == "" {
		return "(document)"
	}
	return field
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

func mergeStrings(a, b []string) []string {
	var out []string
	seen := map[string]bool{}
	for _, s := range append(append([]string{}, a...), b...) {
		if !seen[s] {
			seen[s] = true
			out = append(out, s)
		}
	}
	return out
}

func mergeRequirements(a, b []Requirement) []Requirement {
	var out []Requirement
	seen := map[Requirement]bool{}
	for _, r := range append(append([]Requirement{}, a...), b...) {
		if !seen[r] {
			seen[r] = true
			out = append(out, r)
		}
	}
	return out
}

func nonEmpty(ss []string) []string {
	out := ss[:0:0]
	for _, s := range ss {
		if strings.TrimSpace(s) != "" {
			out = append(out, s)
		}
	}
	return out
}
