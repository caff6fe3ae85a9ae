// Package monitors watches the city by itself: monitors are YAML files that
// name a tool, its arguments, a selector of one value per subject and a
// condition; a scheduler runs each monitor's ticks exactly once across
// replicas (a lease and a conditional claim in the state store); alerts fire
// when the condition has held for a while, are acknowledged by a person and
// resolve when it has cleared for a while; a monitor may ask an agent for a
// proposal, which waits in the normal approval queue.
package monitors

import (
	"bytes"
	"embed"
	"encoding/json"
	"errors"
	"fmt"
	"regexp"
	"sort"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"gopkg.in/yaml.v3"

	"github.com/cityagent/cityagent/access"
	"github.com/cityagent/cityagent/internal/yamldir"
)

// Severities of a monitor's alerts.
const (
	SeverityInfo     = "info"
	SeverityWarning  = "warning"
	SeverityCritical = "critical"
)

// Severities lists the severities, least severe first.
var Severities = []string{SeverityInfo, SeverityWarning, SeverityCritical}

// Errors callers branch on.
var (
	ErrInvalidMonitor = errors.New("monitors: invalid monitor")
	ErrUnknownMonitor = errors.New("monitors: unknown monitor")
)

// Defaults of a monitor file.
const (
	DefaultEvery   = time.Minute
	DefaultTimeout = 30 * time.Second
	MinEvery       = time.Second
	// DefaultMaxSubjects is how many subjects one tick evaluates when the
	// file does not say (max_subjects); MaxMaxSubjects bounds what it may say.
	DefaultMaxSubjects = 100
	MaxMaxSubjects     = 10000
	// MaxSubjectRunes is the longest subject stored: a longer one (read
	// from a tool's output) is cut.
	MaxSubjectRunes = 200
	// MaxFileBytes is the largest monitor file.
	MaxFileBytes = 256 << 10
)

// fieldLimits are the longest values (in characters) of a file's text fields.
var fieldLimits = []struct {
	field string
	max   int
	get   func(*Monitor) string
}{
	{"title", 200, func(m *Monitor) string { return m.Title }},
	{"title_zh", 200, func(m *Monitor) string { return m.TitleZh }},
	{"description", 4000, func(m *Monitor) string { return m.Description }},
	{"tool", 200, func(m *Monitor) string { return m.Tool }},
	{"select", 500, func(m *Monitor) string { return m.Select }},
	{"subject", 500, func(m *Monitor) string { return m.Subject }},
	{"value", 500, func(m *Monitor) string { return m.Value }},
	{"condition", 100, func(m *Monitor) string { return m.Condition }},
	{"amber", 100, func(m *Monitor) string { return m.Amber }},
	{"unit", 40, func(m *Monitor) string { return m.Unit }},
}

// maxArgumentBytes bounds the tool arguments (as JSON) and maxWhere the
// where entries of a file; maxPromptRunes bounds propose.prompt.
const (
	maxArgumentBytes = 16 << 10
	maxWhere         = 20
	maxPromptRunes   = 2000
)

// Propose asks an agent for a proposal when an alert fires.
type Propose struct {
	Agent string `yaml:"agent" json:"agent"`
	// Prompt is the question; {subject} is replaced by the alert's subject.
	Prompt string `yaml:"prompt" json:"prompt"`
}

// Monitor is one monitor file.
type Monitor struct {
	Name        string         `yaml:"name" json:"name"`
	Title       string         `yaml:"title" json:"title"`
	TitleZh     string         `yaml:"title_zh" json:"title_zh"`
	Description string         `yaml:"description,omitempty" json:"description,omitempty"`
	Tool        string         `yaml:"tool" json:"tool"`
	Arguments   map[string]any `yaml:"arguments,omitempty" json:"arguments"`
	// Select picks the elements of the tool's result, one subject each
	// ("" = the whole result is one element); Subject and Value are
	// selectors inside an element ("" subject = the monitor's name).
	Select  string `yaml:"select,omitempty" json:"select,omitempty"`
	Subject string `yaml:"subject,omitempty" json:"subject,omitempty"`
	Value   string `yaml:"value" json:"value"`
	// Where keeps only elements whose selected value reads as the given text.
	Where     map[string]string `yaml:"where,omitempty" json:"where,omitempty"`
	Condition string            `yaml:"condition" json:"condition"`
	// Amber is an optional early-warning condition for vital signs.
	Amber string `yaml:"amber,omitempty" json:"amber,omitempty"`
	Unit  string `yaml:"unit,omitempty" json:"unit,omitempty"`
	// Empty is the headline value when the tool's result has no subject
	// (e.g. 0 for a count); nil: no value.
	Empty    *float64      `yaml:"empty,omitempty" json:"empty,omitempty"`
	For      time.Duration `yaml:"for,omitempty" json:"for"`
	Clear    time.Duration `yaml:"clear,omitempty" json:"clear"`
	Every    time.Duration `yaml:"every,omitempty" json:"every"`
	Timeout  time.Duration `yaml:"timeout,omitempty" json:"timeout"`
	Severity string        `yaml:"severity" json:"severity"`
	// Clearance is the system principal's clearance when it calls the
	// tool, and the alert's: keys below it never see the alert.
	Clearance access.Clearance `yaml:"clearance,omitempty" json:"clearance"`
	Propose   *Propose         `yaml:"propose,omitempty" json:"propose,omitempty"`
	// MaxSubjects bounds the subjects one tick evaluates (default
	// DefaultMaxSubjects): subjects with an open alert or a running timer
	// first, then the worst values; the rest are counted in the tick's status.
	MaxSubjects int `yaml:"max_subjects,omitempty" json:"max_subjects"`

	args     json.RawMessage
	sel      *Path
	subj     *Path
	val      Path
	where    []whereMatch
	cond     Condition
	amber    *Condition
	Version  string `yaml:"-" json:"version"`
	fileName string
	// toolLine and agentLine are the lines of tool and propose.agent.
	toolLine, agentLine int
}

type whereMatch struct {
	path Path
	want string
}

var nameRE = regexp.MustCompile(`^[a-z][a-z0-9_-]{0,62}$`)

// fieldError is a validation failure of one field.
type fieldError struct {
	field, msg string
}

// Parse decodes and validates one monitor file. Errors read
// "origin:line: field: message".
func Parse(data []byte, origin string) (Monitor, error) {
	var m Monitor
	if len(data) > MaxFileBytes {
		return Monitor{}, fmt.Errorf("%w: %s:1: (file): is %d bytes; a monitor file is at most %d bytes", ErrInvalidMonitor, origin, len(data), MaxFileBytes)
	}
	dec := yaml.NewDecoder(bytes.NewReader(data))
	dec.KnownFields(true)
	if err := dec.Decode(&m); err != nil {
		return Monitor{}, yamlError(origin, err)
	}
	var root yaml.Node
	_ = yaml.Unmarshal(data, &root)
	if fe := m.compile(); fe != nil {
		return Monitor{}, fmt.Errorf("%w: %s:%d: %s: %s", ErrInvalidMonitor, origin, lineOf(&root, fe.field), fe.field, fe.msg)
	}
	m.fileName = origin
	m.toolLine, m.agentLine = lineOf(&root, "tool"), lineOf(&root, "propose.agent")
	return m, nil
}

// File is the file the monitor came from ("builtin:<name>.yaml" for a
// shipped one); empty for a monitor made in code.
func (m Monitor) File() string { return m.fileName }

// Shipped tells a monitor embedded in the binary.
func (m Monitor) Shipped() bool { return strings.HasPrefix(m.fileName, "builtin:") }

// FieldError is an error about the tool or propose.agent field found when
// the monitor is wired (the tool registry and the agents are known then),
// reading "file:line: field: message" like a parse error.
func (m Monitor) FieldError(field, format string, a ...any) error {
	line := m.toolLine
	if field == "propose.agent" {
		line = m.agentLine
	}
	return fmt.Errorf("%w: %s:%d: %s: %s", ErrInvalidMonitor, m.fileName, max(line, 1), field, fmt.Sprintf(format, a...))
}

var yamlLineRE = regexp.MustCompile(`line (\d+): (.*)`)
var unknownFieldRE = regexp.MustCompile(`field (\S+) not found`)

// yamlError rewrites a YAML decoding error as origin:line: field: message.
func yamlError(origin string, err error) error {
	msg := err.Error()
	if te := (*yaml.TypeError)(nil); errors.As(err, &te) && len(te.Errors) > 0 {
		msg = te.Errors[0]
	}
	sm := yamlLineRE.FindStringSubmatch(msg)
	if sm == nil {
		return fmt.Errorf("%w: %s:1: %s", ErrInvalidMonitor, origin, strings.TrimPrefix(msg, "yaml: "))
	}
	field := "(file)"
	if f := unknownFieldRE.FindStringSubmatch(sm[2]); f != nil {
		return fmt.Errorf("%w: %s:%s: %s: unknown field", ErrInvalidMonitor, origin, sm[1], f[1])
	}
	return fmt.Errorf("%w: %s:%s: %s: %s", ErrInvalidMonitor, origin, sm[1], field, sm[2])
}

// lineOf finds the line of a dotted field ("propose.agent") in the file;
// 1 when it is missing.
func lineOf(root *yaml.Node, field string) int {
	n := root
	if n.Kind == yaml.DocumentNode && len(n.Content) > 0 {
		n = n.Content[0]
	}
	line := 1
	for _, part := range strings.Split(field, ".") {
		if n == nil || n.Kind != yaml.MappingNode {
			break
		}
		var next *yaml.Node
		for i := 0; i+1 < len(n.Content); i += 2 {
			if n.Content[i].Value == part {
				line, next = n.Content[i].Line, n.Content[i+1]
				break
			}
		}
		if next == nil {
			break
		}
		n = next
	}
	return line
}

// compile validates m, fills defaults and builds its selectors.
func (m *Monitor) compile() *fieldError {
	bad := func(field, format string, a ...any) *fieldError { return &fieldError{field, fmt.Sprintf(format, a...)} }
	if !nameRE.MatchString(m.Name) {
		return bad("name", "%q must match %s", m.Name, nameRE)
	}
	if strings.TrimSpace(m.Title) == "" {
		return bad("title", "is required")
	}
	if strings.TrimSpace(m.TitleZh) == "" {
		return bad("title_zh", "is required")
	}
	if strings.TrimSpace(m.Tool) == "" {
		return bad("tool", "is required")
	}
	for _, l := range fieldLimits {
		if n := utf8.RuneCountInString(l.get(m)); n > l.max {
			return bad(l.field, "is %d characters; at most %d", n, l.max)
		}
	}
	if len(m.Where) > maxWhere {
		return bad("where", "has %d entries; at most %d", len(m.Where), maxWhere)
	}
	switch {
	case m.MaxSubjects == 0:
		m.MaxSubjects = DefaultMaxSubjects
	case m.MaxSubjects < 0 || m.MaxSubjects > MaxMaxSubjects:
		return bad("max_subjects", "must be between 1 and %d", MaxMaxSubjects)
	}
	if m.Arguments == nil {
		m.Arguments = map[string]any{}
	}
	args, err := json.Marshal(m.Arguments)
	if err != nil {
		return bad("arguments", "cannot be JSON: %v", err)
	}
	if len(args) > maxArgumentBytes {
		return bad("arguments", "are %d bytes as JSON; at most %d", len(args), maxArgumentBytes)
	}
	m.args = args
	if m.Select != "" {
		p, err := ParsePath(m.Select)
		if err != nil {
			return bad("select", "%v", err)
		}
		m.sel = &p
	}
	if m.Subject != "" {
		p, err := ParsePath(m.Subject)
		if err != nil {
			return bad("subject", "%v", err)
		}
		m.subj = &p
	}
	if m.Value == "" {
		return bad("value", "is required (a selector such as $.congestion_index)")
	}
	if m.val, err = ParsePath(m.Value); err != nil {
		return bad("value", "%v", err)
	}
	m.where = nil
	for _, k := range sortedKeys(m.Where) {
		p, err := ParsePath(k)
		if err != nil {
			return bad("where", "%v", err)
		}
		m.where = append(m.where, whereMatch{p, m.Where[k]})
	}
	if m.cond, err = ParseCondition(m.Condition); err != nil {
		return bad("condition", "%v", err)
	}
	m.amber = nil
	if m.Amber != "" {
		c, err := ParseCondition(m.Amber)
		if err != nil {
			return bad("amber", "%v", err)
		}
		m.amber = &c
	}
	if m.Every == 0 {
		m.Every = DefaultEvery
	}
	if m.Timeout == 0 {
		m.Timeout = min(DefaultTimeout, m.Every)
	}
	switch {
	case m.Every < MinEvery:
		return bad("every", "must be at least %s", MinEvery)
	case m.For < 0:
		return bad("for", "must not be negative")
	case m.Clear < 0:
		return bad("clear", "must not be negative")
	case m.Timeout < 0 || m.Timeout > m.Every:
		return bad("timeout", "must be positive and at most every (%s)", m.Every)
	}
	if !contains(Severities, m.Severity) {
		return bad("severity", "%q must be one of %s", m.Severity, strings.Join(Severities, ", "))
	}
	if m.Clearance == "" {
		m.Clearance = access.Internal
	}
	if _, err := access.ParseClearance(string(m.Clearance)); err != nil {
		return bad("clearance", "%v", err)
	}
	if p := m.Propose; p != nil {
		if strings.TrimSpace(p.Agent) == "" {
			return bad("propose.agent", "is required")
		}
		if strings.TrimSpace(p.Prompt) == "" {
			return bad("propose.prompt", "is required")
		}
		if n := utf8.RuneCountInString(p.Prompt); n > maxPromptRunes {
			return bad("propose.prompt", "is %d characters; at most %d", n, maxPromptRunes)
		}
		if len(p.Agent) > 100 {
			return bad("propose.agent", "is %d characters; at most 100", len(p.Agent))
		}
	}
	v, err := yamldir.ContentVersion(m)
	if err != nil {
		return bad("name", "%v", err)
	}
	m.Version = v
	return nil
}

// Args are the tool arguments as JSON.
func (m Monitor) Args() json.RawMessage { return m.args }

// Cond is the alert condition.
func (m Monitor) Cond() Condition { return m.cond }

// Observation is the value of one subject at one tick.
type Observation struct {
	Subject string
	Value   float64
}

// Observe reads a tool result: one value per subject, the worst value when
// several elements name the same subject. Elements without a number (or
// a subject) are skipped and counted.
func (m Monitor) Observe(content json.RawMessage) (obs []Observation, skipped int, err error) {
	var doc any
	if err := json.Unmarshal(content, &doc); err != nil {
		return nil, 0, fmt.Errorf("monitors: %s: tool result is not JSON: %w", m.Name, err)
	}
	elems := []any{doc}
	if m.sel != nil {
		elems = m.sel.Eval(doc)
	}
	byName := map[string]int{}
	for _, e := range elems {
		if !m.matches(e) {
			continue
		}
		subject := m.Name
		if m.subj != nil {
			s, found := first(m.subj.Eval(e))
			var ok bool
			if subject, ok = text(s); !found || !ok || strings.TrimSpace(subject) == "" {
				skipped++
				continue
			}
			if subject = cleanSubject(subject); subject == "" {
				skipped++
				continue
			}
		}
		raw, ok := first(m.val.Eval(e))
		v, isNum := number(raw)
		if !ok || !isNum {
			skipped++
			continue
		}
		if i, seen := byName[subject]; seen {
			if m.cond.worse(v, obs[i].Value) {
				obs[i].Value = v
			}
			continue
		}
		byName[subject] = len(obs)
		obs = append(obs, Observation{subject, v})
	}
	sort.Slice(obs, func(i, j int) bool { return obs[i].Subject < obs[j].Subject })
	return obs, skipped, nil
}

// cleanSubject is a subject as it is stored: control characters (line
// breaks, tabs…) become spaces, runs of spaces one, and it is cut to
// MaxSubjectRunes characters. A subject comes from a tool's output, so it is
// bounded before it reaches the store, the logs or a prompt.
func cleanSubject(s string) string {
	s = strings.Join(strings.FieldsFunc(s, func(r rune) bool { return unicode.IsSpace(r) || unicode.IsControl(r) }), " ")
	if r := []rune(s); len(r) > MaxSubjectRunes {
		s = string(r[:MaxSubjectRunes])
	}
	return s
}

func (m Monitor) matches(e any) bool {
	for _, w := range m.where {
		v, ok := first(w.path.Eval(e))
		s, isText := text(v)
		if !ok || !isText || s != w.want {
			return false
		}
	}
	return true
}

func first(vs []any) (any, bool) {
	if len(vs) == 0 {
		return nil, false
	}
	return vs[0], true
}

// headline is the worst value of a tick's observations.
func (m Monitor) headline(obs []Observation) *float64 {
	if len(obs) == 0 {
		return m.Empty
	}
	v := obs[0].Value
	for _, o := range obs[1:] {
		if m.cond.worse(o.Value, v) {
			v = o.Value
		}
	}
	return &v
}

//go:embed builtin/*.yaml
var builtin embed.FS

// Catalog holds monitors by name.
type Catalog = yamldir.Catalog[Monitor]

// LoadCatalog returns the shipped monitors, with every *.yaml in dir (if
// not empty) adding monitors or overriding shipped ones by name.
func LoadCatalog(dir string) (*Catalog, error) { return kind(dir).Load() }

// NewCatalog builds a catalog from monitors made in code.
func NewCatalog(ms ...Monitor) (*Catalog, error) { return kind("").New(ms...) }

func kind(dir string) yamldir.Kind[Monitor] {
	return yamldir.Kind[Monitor]{
		Set:   yamldir.Set{Prefix: "monitors", What: "monitor", Invalid: ErrInvalidMonitor, Builtin: builtin, Root: "builtin", Dir: dir},
		Parse: Parse,
		Check: func(m *Monitor) error {
			if fe := m.compile(); fe != nil {
				return errors.New(fe.field + ": " + fe.msg)
			}
			return nil
		},
		Name:    func(m Monitor) string { return m.Name },
		Unknown: ErrUnknownMonitor,
	}
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

func sortedKeys[V any](m map[string]V) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}
