// Package actions is cityagent's governance layer: the action types an agent
// may propose (YAML data, shipped embedded and extensible by a directory),
// proposals with their evidence, the approval policy (the approver role or
// higher, never the proposer, never once expired), exactly-once execution
// through executors, and recovery of approvals that a stopped process never
// executed. Every step is written to the audit chain (package audit).
package actions

import (
	"bytes"
	"embed"
	"encoding/json"
	"errors"
	"fmt"
	"regexp"
	"strings"
	"time"

	"github.com/google/jsonschema-go/jsonschema"
	"gopkg.in/yaml.v3"

	"github.com/cityagent/cityagent/access"
	"github.com/cityagent/cityagent/internal/usererr"
	"github.com/cityagent/cityagent/internal/yamldir"
)

// Risk is how much harm a wrong execution of an action can do.
type Risk string

// Risk levels.
const (
	RiskLow    Risk = "low"
	RiskMedium Risk = "medium"
	RiskHigh   Risk = "high"
)

// Type is an action type: what an agent may propose and how it is executed.
type Type struct {
	Name        string           `yaml:"name" json:"name"` // domain.verb, e.g. traffic.retime_signal
	Title       string           `yaml:"title" json:"title"`
	TitleZh     string           `yaml:"title_zh" json:"title_zh"`
	Description string           `yaml:"description" json:"description"` // shown to models as the proposal tool's description
	Risk        Risk             `yaml:"risk" json:"risk"`
	Approver    access.Role      `yaml:"approver" json:"approver"` // the role (or higher) that may decide
	Expiry      time.Duration    `yaml:"expiry" json:"expiry"`     // how long a proposal waits for a decision
	Clearance   access.Clearance `yaml:"clearance" json:"clearance"`
	Executor    string           `yaml:"executor" json:"executor"` // a key of the executors the service is built with
	Parameters  map[string]any   `yaml:"parameters" json:"parameters"`

	// Origin says where the type was loaded from.
	Origin string `yaml:"-" json:"origin"`
}

// ToolName is the name of the tool a model calls to propose the action:
// "propose_" and the name with dots as underscores.
func (t Type) ToolName() string { return ToolName(t.Name) }

// ToolName turns an action name into its proposal tool's name.
func ToolName(action string) string { return "propose_" + strings.ReplaceAll(action, ".", "_") }

// ErrInvalidType wraps every action type validation failure.
var ErrInvalidType = errors.New("actions: invalid action type")

var typeNameRE = regexp.MustCompile(`^[a-z][a-z0-9_]{0,30}\.[a-z][a-z0-9_]{0,40}$`)

// ParseType decodes and validates one YAML action type.
func ParseType(data []byte, origin string) (Type, error) {
	var t Type
	dec := yaml.NewDecoder(bytes.NewReader(data))
	dec.KnownFields(true)
	if err := dec.Decode(&t); err != nil {
		return Type{}, fmt.Errorf("%w: %s: %v", ErrInvalidType, origin, err)
	}
	t.Origin = origin
	if err := t.validate(); err != nil {
		return Type{}, fmt.Errorf("%w: %s: %v", ErrInvalidType, origin, err)
	}
	return t, nil
}

func (t *Type) validate() error {
	var problems []string
	if !typeNameRE.MatchString(t.Name) {
		problems = append(problems, fmt.Sprintf("name %q must be domain.verb in lower case (%s)", t.Name, typeNameRE))
	}
	if strings.TrimSpace(t.Description) == "" {
		problems = append(problems, "description is required: models read it to decide when to propose")
	}
	switch t.Risk {
	case RiskLow, RiskMedium, RiskHigh:
	default:
		problems = append(problems, fmt.Sprintf("risk %q must be low, medium or high", t.Risk))
	}
	if r, err := access.ParseRole(string(t.Approver)); err != nil || r != t.Approver {
		problems = append(problems, fmt.Sprintf("approver %q must be a role", t.Approver))
	} else if r == access.RoleHotline || r == access.RoleDeveloper {
		problems = append(problems, fmt.Sprintf("approver %q cannot decide proposals (use supervisor or admin)", r))
	}
	if t.Expiry <= 0 {
		problems = append(problems, "expiry must be a positive duration such as 4h")
	}
	c, err := access.ParseClearance(string(t.Clearance))
	if err != nil {
		problems = append(problems, err.Error())
	}
	t.Clearance = c
	if strings.TrimSpace(t.Executor) == "" {
		problems = append(problems, "executor is required")
	}
	if _, err := compileSchema(t.Parameters); err != nil {
		problems = append(problems, "parameters: "+err.Error())
	}
	if len(problems) > 0 {
		return errors.New(strings.Join(problems, "; "))
	}
	return nil
}

// compileSchema checks that params is an object schema the validator
// accepts and returns it resolved.
func compileSchema(params map[string]any) (*jsonschema.Resolved, error) {
	if params == nil {
		return nil, errors.New("a JSON Schema object is required")
	}
	if typ, _ := params["type"].(string); typ != "object" {
		return nil, errors.New(`type must be "object"`)
	}
	raw, err := json.Marshal(params)
	if err != nil {
		return nil, err
	}
	var s jsonschema.Schema
	if err := json.Unmarshal(raw, &s); err != nil {
		return nil, err
	}
	return s.Resolve(nil)
}

//go:embed types/*.yaml
var builtin embed.FS

// Catalog holds the action types of an installation, by name.
type Catalog = yamldir.Catalog[Type]

// ErrUnknownAction is returned for an action name the catalog does not hold.
var ErrUnknownAction = usererr.New("actions", "unknown action")

// LoadCatalog returns the built-in action types, with every *.yaml in dir
// (if not empty) added or overriding a built-in of the same name.
func LoadCatalog(dir string) (*Catalog, error) { return typeKind(dir).Load() }

// NewCatalog builds a catalog from types already parsed (tests).
func NewCatalog(types ...Type) (*Catalog, error) { return typeKind("").New(types...) }

func typeKind(dir string) yamldir.Kind[Type] {
	return yamldir.Kind[Type]{
		Set:     yamldir.Set{Prefix: "actions", What: "action", Invalid: ErrInvalidType, Builtin: builtin, Root: "types", Dir: dir},
		Parse:   ParseType,
		Check:   (*Type).validate,
		Name:    func(t Type) string { return t.Name },
		Unknown: ErrUnknownAction,
	}
}
