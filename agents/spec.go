// Package agents runs the city's agents: specs loaded from YAML and
// content-hashed into versions, the catalog that holds them, and the run loop
// that turns a question into a cited answer through retrieval, tool calls and
// a model, emitting typed events and recording the session.
package agents

import (
	"bytes"
	"embed"
	"errors"
	"fmt"
	"path"
	"regexp"
	"sort"
	"strings"
	"time"

	"gopkg.in/yaml.v3"

	"github.com/cityagent/cityagent/access"
	"github.com/cityagent/cityagent/internal/usererr"
	"github.com/cityagent/cityagent/internal/yamldir"
	"github.com/cityagent/cityagent/tools"
)

// Spec is an agent as written in its YAML file.
type Spec struct {
	Name         string        `yaml:"name" json:"name"`
	Description  string        `yaml:"description" json:"description"`
	Instructions string        `yaml:"instructions" json:"instructions"`
	Model        string        `yaml:"model,omitempty" json:"model,omitempty"` // a configured model's name; empty = the default
	Tools        []string      `yaml:"tools" json:"tools"`
	Collections  []string      `yaml:"collections" json:"collections"`
	Actions      []string      `yaml:"actions,omitempty" json:"actions,omitempty"`
	Roles        []access.Role `yaml:"roles,omitempty" json:"roles"` // who may chat; a role here admits every role that Allows it
	Budgets      Budgets       `yaml:"budgets" json:"budgets"`
	Retrieval    Retrieval     `yaml:"retrieval" json:"retrieval"`

	// OptionalTools are tools the agent uses when the configured sources
	// provide them (incidents, inspections, demand response): one that is
	// missing is noted once at start-up, never on an answer.
	OptionalTools []string `yaml:"optional_tools,omitempty" json:"optional_tools,omitempty"`

	// Version is derived: "v" + the first 12 hex digits of the SHA-256 of the
	// spec's canonical JSON. Any change to the spec changes it.
	Version string `yaml:"-" json:"version"`
}

// Budgets bound one turn.
type Budgets struct {
	MaxSteps     int           `yaml:"max_steps" json:"max_steps"`           // model calls per turn
	MaxToolCalls int           `yaml:"max_tool_calls" json:"max_tool_calls"` // tool calls per turn
	Timeout      time.Duration `yaml:"timeout" json:"timeout"`               // wall clock per turn
	MaxTokens    int           `yaml:"max_tokens" json:"max_tokens"`         // prompt + completion tokens per turn
	ToolTimeout  time.Duration `yaml:"tool_timeout" json:"tool_timeout"`     // per tool call
}

// Retrieval configures what a turn retrieves.
type Retrieval struct {
	K int `yaml:"k" json:"k"`
}

// Defaults applied to a spec that leaves budgets unset.
var defaultBudgets = Budgets{MaxSteps: 4, MaxToolCalls: 6, Timeout: 30 * time.Second, MaxTokens: 16000, ToolTimeout: 10 * time.Second}

var nameRE = regexp.MustCompile(`^[a-z][a-z0-9_-]{0,62}$`)

// ErrInvalidSpec wraps every spec validation failure.
var ErrInvalidSpec = errors.New("agents: invalid spec")

// ParseSpec decodes and validates one YAML spec, filling defaults and the version.
func ParseSpec(data []byte, origin string) (Spec, error) {
	var s Spec
	dec := yaml.NewDecoder(bytes.NewReader(data))
	dec.KnownFields(true)
	if err := dec.Decode(&s); err != nil {
		return Spec{}, fmt.Errorf("%w: %s: %v", ErrInvalidSpec, origin, err)
	}
	if err := s.normalise(); err != nil {
		return Spec{}, fmt.Errorf("%w: %s: %v", ErrInvalidSpec, origin, err)
	}
	return s, nil
}

func (s *Spec) normalise() error {
	var problems []string
	if !nameRE.MatchString(s.Name) {
		problems = append(problems, fmt.Sprintf("name %q must match %s", s.Name, nameRE))
	}
	if strings.TrimSpace(s.Instructions) == "" {
		problems = append(problems, "instructions are required")
	}
	if len(s.Roles) == 0 {
		s.Roles = []access.Role{access.RoleOperator}
	}
	for _, r := range s.Roles {
		if _, err := access.ParseRole(string(r)); err != nil {
			problems = append(problems, "roles: "+err.Error())
		}
	}
	b := &s.Budgets
	if b.MaxSteps == 0 {
		b.MaxSteps = defaultBudgets.MaxSteps
	}
	if b.MaxToolCalls == 0 {
		b.MaxToolCalls = defaultBudgets.MaxToolCalls
	}
	if b.Timeout == 0 {
		b.Timeout = defaultBudgets.Timeout
	}
	if b.MaxTokens == 0 {
		b.MaxTokens = defaultBudgets.MaxTokens
	}
	if b.ToolTimeout == 0 {
		b.ToolTimeout = defaultBudgets.ToolTimeout
	}
	if b.MaxSteps < 1 || b.MaxToolCalls < 0 || b.Timeout < 0 || b.MaxTokens < 0 || b.ToolTimeout < 0 {
		problems = append(problems, "budgets must be positive")
	}
	if s.Retrieval.K == 0 {
		s.Retrieval.K = 4
	}
	if s.Retrieval.K < 0 || s.Retrieval.K > 50 {
		problems = append(problems, "retrieval.k must be between 1 and 50")
	}
	if s.Tools == nil {
		s.Tools = []string{}
	}
	for _, n := range s.OptionalTools {
		for _, r := range s.Tools {
			if r == n {
				problems = append(problems, fmt.Sprintf("tool %s is listed both in tools and in optional_tools", n))
			}
		}
	}
	if s.Collections == nil {
		s.Collections = []string{}
	}
	if len(problems) > 0 {
		return errors.New(strings.Join(problems, "; "))
	}
	s.Version = ""
	v, err := yamldir.ContentVersion(s)
	if err != nil {
		return err
	}
	s.Version = v
	return nil
}

// AdmitsRole reports whether a caller with role r may chat with the agent.
func (s Spec) AdmitsRole(r access.Role) bool {
	for _, need := range s.Roles {
		if r.Allows(need) {
			return true
		}
	}
	return false
}

//go:embed specs/*.yaml
var builtin embed.FS

// Catalog holds the agents a server runs, by name.
type Catalog = yamldir.Catalog[Spec]

// ErrUnknownAgent is returned for a name the catalog does not hold.
var ErrUnknownAgent = usererr.New("agents", "unknown agent")

// LoadCatalog returns the five built-in agents, with every *.yaml in dir (if
// dir is not empty) added or overriding a built-in of the same name.
func LoadCatalog(dir string) (*Catalog, error) { return specKind(dir).Load() }

// NewCatalog builds a catalog from specs already parsed (tests, evals).
func NewCatalog(specs ...Spec) (*Catalog, error) { return specKind("").New(specs...) }

func specKind(dir string) yamldir.Kind[Spec] {
	return yamldir.Kind[Spec]{
		Set:     yamldir.Set{Prefix: "agents", What: "agent", Invalid: ErrInvalidSpec, Builtin: builtin, Root: "specs", Dir: dir},
		Parse:   ParseSpec,
		Check:   (*Spec).normalise,
		Name:    func(s Spec) string { return s.Name },
		Unknown: ErrUnknownAgent,
	}
}

// ToolNames lists every tool the spec names: its tools, then its optional
// tools, each entry once. An entry may be a pattern that names a source's
// tools without listing hundreds by hand: a glob over tool names
// ("github_issues_*", "github_*_get") or "source:NAME" for every tool an
// imported source added. A pattern expands, in sorted order, to the
// registered tools it matches (none when registered is empty); a plain
// name stays as written, registered or not.
func (s Spec) ToolNames(registered ...tools.Tool) []string {
	var out []string
	seen := map[string]bool{}
	add := func(n string) {
		if !seen[n] {
			seen[n] = true
			out = append(out, n)
		}
	}
	for _, entry := range append(append([]string{}, s.Tools...), s.OptionalTools...) {
		if !IsToolPattern(entry) {
			add(entry)
			continue
		}
		var matched []string
		for _, t := range registered {
			if sp := t.Spec(); toolMatches(entry, sp.Name, sp.Source) {
				matched = append(matched, sp.Name)
			}
		}
		sort.Strings(matched)
		for _, n := range matched {
			add(n)
		}
	}
	return out
}

// IsToolPattern reports whether a tools entry is a pattern, not a name.
func IsToolPattern(entry string) bool {
	return strings.HasPrefix(entry, "source:") || strings.ContainsAny(entry, "*?[")
}

// toolMatches reports whether a tool (name, and source as its spec gives
// it: "openapi:github", "mcp:files") fits a pattern.
func toolMatches(pattern, name, source string) bool {
	if src, ok := strings.CutPrefix(pattern, "source:"); ok {
		_, tail, _ := strings.Cut(source, ":")
		return src != "" && (source == src || tail == src)
	}
	ok, err := path.Match(pattern, name)
	return err == nil && ok
}

// MissingTools reports the tools the spec names that has does not know:
// required ones are a misconfiguration, optional ones an ability the
// configured sources lack. Patterns are not names and are not reported.
func (s Spec) MissingTools(has func(string) bool) (required, optional []string) {
	for _, n := range s.Tools {
		if !IsToolPattern(n) && !has(n) {
			required = append(required, n)
		}
	}
	for _, n := range s.OptionalTools {
		if !IsToolPattern(n) && !has(n) {
			optional = append(optional, n)
		}
	}
	return required, optional
}
