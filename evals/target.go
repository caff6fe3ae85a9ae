package evals

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"sort"
	"strings"

	"github.com/cityagent/cityagent/access"
	"github.com/cityagent/cityagent/agents"
)

// Target is what an eval runs against: the agent loop in this process, or a
// cityagent server over HTTP.
type Target interface {
	// Inventory lists the agents, tools and models the target has, for the
	// checks made before a run starts.
	Inventory(ctx context.Context) (Inventory, error)
	// Chat runs one turn. A caller the agent does not admit gets an error
	// wrapping ErrRefused.
	Chat(ctx context.Context, req ChatRequest) (agents.ChatResult, error)
}

// ChatRequest is one turn an eval sends.
type ChatRequest struct {
	Agent     string
	SessionID string // empty: a new session
	Message   string
	Model     string // a configured model to run on instead of the agent's; empty: the agent's
	Role      access.Role
	Clearance access.Clearance

	// Where the case set Role and Clearance; empty: the defaults (see Input).
	roleField, clearanceField string
}

// Inventory is what a target offers.
type Inventory struct {
	Target       string               // "in-process" or the remote base URL
	Agents       map[string]AgentInfo // by name
	Tools        map[string]bool      // registered tools
	Models       []string             // configured model names; nil when the target does not say (remote)
	DefaultModel string
}

// AgentInfo is one agent of a target, as a report records it.
type AgentInfo struct {
	Name    string   `json:"name"`
	Version string   `json:"version"`
	Model   string   `json:"model"`
	Tools   []string `json:"tools"`
	Actions []string `json:"actions,omitempty"`
}

func (inv Inventory) agentNames() string {
	names := make([]string, 0, len(inv.Agents))
	for n := range inv.Agents {
		names = append(names, n)
	}
	sort.Strings(names)
	return strings.Join(names, ", ")
}

// ErrRefused is wrapped by Chat when the target refuses the caller.
var ErrRefused = errors.New("evals: refused")

// Local runs turns on an agents.Runner in this process: the same loop, tools,
// knowledge base and models the server uses.
type Local struct {
	Runner *agents.Runner
	// KeyID owns the sessions an eval creates; default "eval".
	KeyID string
}

var _ Target = (*Local)(nil)

// NewLocal returns a target running on r.
func NewLocal(r *agents.Runner) *Local { return &Local{Runner: r, KeyID: "eval"} }

// Inventory lists the runner's agents, registered tools and models.
func (l *Local) Inventory(context.Context) (Inventory, error) {
	r := l.Runner
	inv := Inventory{Target: "in-process", Agents: map[string]AgentInfo{}, Tools: map[string]bool{}}
	for n := range r.Models.ByName {
		inv.Models = append(inv.Models, n)
	}
	sort.Strings(inv.Models)
	inv.DefaultModel = modelName(r.Models, "")
	for _, s := range r.Catalog.List() {
		inv.Agents[s.Name] = AgentInfo{Name: s.Name, Version: s.Version, Model: modelName(r.Models, s.Model), Tools: s.Tools, Actions: s.Actions}
	}
	if r.Tools != nil {
		for _, t := range r.Tools.List() {
			inv.Tools[t.Spec().Name] = true
		}
	}
	return inv, nil
}

func modelName(m agents.Models, specModel string) string {
	if chain := m.Chain(specModel); len(chain) > 0 {
		return chain[0].Name()
	}
	return ""
}

// Chat runs one turn on the runner as an eval principal with the request's
// role and clearance. Its proposals are checked and reported with status
// "eval" but never enter the approval queue.
func (l *Local) Chat(ctx context.Context, req ChatRequest) (agents.ChatResult, error) {
	cp := *l.Runner
	r := &cp
	if r.Actions != nil {
		r.Actions = evalProposer{inner: r.Actions}
	}
	if req.Model != "" {
		models, err := overrideModel(r.Models, req.Model)
		if err != nil {
			return agents.ChatResult{}, err
		}
		r.Models = models
	}
	key := l.KeyID
	if key == "" {
		key = "eval"
	}
	res, err := r.Run(ctx, agents.Turn{Agent: req.Agent, SessionID: req.SessionID, Message: req.Message,
		Principal: access.Principal{KeyID: key, Name: "eval", Role: req.Role, Clearance: req.Clearance}}, nil)
	if errors.Is(err, agents.ErrForbidden) {
		return res, fmt.Errorf("%w: %v", ErrRefused, err)
	}
	return res, err
}

// ErrUnknownModel is returned for a model name that is not configured.
var ErrUnknownModel = errors.New("evals: unknown model")

// overrideModel makes name the model of every agent, with the offline
// engine still the last resort.
func overrideModel(m agents.Models, name string) (agents.Models, error) {
	pick, ok := m.ByName[name]
	if !ok {
		return m, fmt.Errorf("%w: %q", ErrUnknownModel, name)
	}
	by := maps.Clone(m.ByName)
	for k := range by {
		by[k] = pick
	}
	return agents.Models{ByName: by, Default: name, Offline: m.Offline}, nil
}
