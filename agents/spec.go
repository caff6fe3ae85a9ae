// Package agents runs the city's agents: specs loaded from YAML and
// content-hashed into versions, the catalog that holds them, and the run loop
// that turns a question into a cited answer through retrieval, tool calls and
// a model, emitting typed events and recording the session.
package agents

import (
	"bytes"
	"crypto/sha256"
	"embed"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"github.com/cityagent/cityagent/internal/yamldir"
	"regexp"
	"sort"
	"strings"
	"time"

	"gopkg.in/yaml.v3"

	"github.com/cityagent/cityagent/access"
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
	if s.Collections == nil {
		s.Collections = []string{}
	}
	if len(problems) > 0 {
		return errors.New(strings.Join(problems, "; "))
	}
	s.Version = ""
	canon, err := json.Marshal(s)
	if err != nil {
		return err
	}
	sum := sha256.Sum256(canon)
	s.Version = "v" + hex.EncodeToString(sum[:])[:12]
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
type Catalog struct {
	specs map[string]Spec
}

// ErrUnknownAgent is returned for a name the catalog does not hold.
var ErrUnknownAgent = errors.New("agents: unknown agent")

// LoadCatalog returns the five built-in agents, with every *.yaml in dir (if
// dir is not empty) added or overriding a built-in of the same name.
func LoadCatalog(dir string) (*Catalog, error) {
	c := &Catalog{specs: map[string]Spec{}}
	set := yamldir.Set{Prefix: "agents", What: "agent", Invalid: ErrInvalidSpec, Builtin: builtin, Root: "specs", Dir: dir}
	err := set.Load(func(origin string, data []byte) (string, error) {
		s, err := ParseSpec(data, origin)
		if err != nil {
			return "", err
		}
		c.specs[s.Name] = s
		return s.Name, nil
	})
	if err != nil {
		return nil, err
	}
	return c, nil
}

// NewCatalog builds a catalog from specs already parsed (tests, evals).
func NewCatalog(specs ...Spec) (*Catalog, error) {
	c := &Catalog{specs: map[string]Spec{}}
	for _, s := range specs {
		if err := s.normalise(); err != nil {
			return nil, fmt.Errorf("%w: %s: %v", ErrInvalidSpec, s.Name, err)
		}
		if _, dup := c.specs[s.Name]; dup {
			return nil, fmt.Errorf("%w: agent %q defined twice", ErrInvalidSpec, s.Name)
		}
		c.specs[s.Name] = s
	}
	return c, nil
}

// Get returns the named agent.
func (c *Catalog) Get(name string) (Spec, error) {
	s, ok := c.specs[name]
	if !ok {
		return Spec{}, fmt.Errorf("%w: %s", ErrUnknownAgent, name)
	}
	return s, nil
}

// List returns every agent sorted by name.
func (c *Catalog) List() []Spec {
	out := make([]Spec, 0, len(c.specs))
	for _, s := range c.specs {
		out = append(out, s)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out
}
