// Package tools defines what an agent can call: the Tool interface, typed tools
// whose JSON Schema is generated from their argument struct, and the Registry
// that holds the tools of a running server.
package tools

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"sort"
	"sync"
	"time"

	"github.com/cityagent/cityagent/access"
	"github.com/cityagent/cityagent/internal/usererr"
)

// Spec describes a tool to models, to the API and to the agent loop.
type Spec struct {
	Name        string           `json:"name"`
	Description string           `json:"description"`
	Parameters  json.RawMessage  `json:"parameters"` // JSON Schema of the arguments object
	Clearance   access.Clearance `json:"clearance"`  // a caller needs at least this to call it
	Timeout     time.Duration    `json:"-"`          // 0 = the loop's default
	Source      string           `json:"source"`     // where it comes from: "democity", "http", "mcp:…"
}

// Citation says where a result came from and how fresh it is.
type Citation struct {
	Source string    `json:"source"`
	Title  string    `json:"title,omitempty"`
	AsOf   time.Time `json:"as_of"`
}

// Result is a tool's answer: JSON content and its citation.
type Result struct {
	Content  json.RawMessage `json:"content"`
	Citation Citation        `json:"citation"`
}

// Tool is something an agent can call with JSON arguments.
type Tool interface {
	Spec() Spec
	Call(ctx context.Context, args json.RawMessage) (Result, error)
}

// Errors callers branch on.
var (
	ErrUnknownTool   = usererr.New("tools", "unknown tool")
	ErrDuplicateTool = usererr.New("tools", "duplicate tool name")
	ErrInvalidArgs   = errors.New("tools: invalid arguments")
	ErrForbidden     = usererr.New("tools", "above the caller's clearance")
)

// ArgsError is returned when arguments fail the tool's schema or decoding. Its
// message is safe to show a model so that it can correct the call.
type ArgsError struct {
	Tool   string
	Reason string
}

func (e *ArgsError) Error() string {
	return fmt.Sprintf("tools: %s: invalid arguments: %s", e.Tool, e.Reason)
}

// Unwrap makes errors.Is(err, ErrInvalidArgs) hold.
func (e *ArgsError) Unwrap() error { return ErrInvalidArgs }

// Registry holds tools by name. It is a value built at start-up and changed
// only through Register/Remove; lists are sorted by name.
type Registry struct {
	mu    sync.RWMutex
	tools map[string]Tool
	watch watchers // tools/watch.go
}

// NewRegistry returns a registry holding ts; a duplicate name is an error.
func NewRegistry(ts ...Tool) (*Registry, error) {
	r := &Registry{tools: map[string]Tool{}}
	for _, t := range ts {
		if err := r.Register(t); err != nil {
			return nil, err
		}
	}
	return r, nil
}

// Register adds t, refusing a name already present.
func (r *Registry) Register(t Tool) error {
	name := t.Spec().Name
	if name == "" {
		return fmt.Errorf("tools: register: empty name")
	}
	defer r.changed()
	r.mu.Lock()
	defer r.mu.Unlock()
	if _, ok := r.tools[name]; ok {
		return usererr.Errorf("%w: %s", ErrDuplicateTool, name)
	}
	r.tools[name] = t
	return nil
}

// Remove deletes the named tool.
func (r *Registry) Remove(name string) error {
	defer r.changed()
	r.mu.Lock()
	defer r.mu.Unlock()
	if _, ok := r.tools[name]; !ok {
		return usererr.Errorf("%w: %s", ErrUnknownTool, name)
	}
	delete(r.tools, name)
	return nil
}

// Get returns the named tool.
func (r *Registry) Get(name string) (Tool, error) {
	r.mu.RLock()
	defer r.mu.RUnlock()
	t, ok := r.tools[name]
	if !ok {
		return nil, usererr.Errorf("%w: %s", ErrUnknownTool, name)
	}
	return t, nil
}

// List returns every tool sorted by name.
func (r *Registry) List() []Tool {
	r.mu.RLock()
	defer r.mu.RUnlock()
	out := make([]Tool, 0, len(r.tools))
	for _, t := range r.tools {
		out = append(out, t)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Spec().Name < out[j].Spec().Name })
	return out
}

// Call runs the named tool for a caller of clearance c, refusing tools above
// it. Argument validation is the tool's own (typed tools validate against
// their schema before decoding).
func (r *Registry) Call(ctx context.Context, c access.Clearance, name string, args json.RawMessage) (Result, error) {
	t, err := r.Get(name)
	if err != nil {
		return Result{}, err
	}
	if !c.Covers(t.Spec().Clearance) {
		return Result{}, usererr.Errorf("%w: %s needs %s", ErrForbidden, name, t.Spec().Clearance)
	}
	return t.Call(ctx, args)
}
