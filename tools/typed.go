package tools

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"strings"

	"github.com/google/jsonschema-go/jsonschema"
)

// SchemaTuner is implemented by argument structs that add to the schema
// generated from their fields: enums, patterns, ranges and defaults the Go
// type cannot express. The same struct then decodes what the schema allows.
type SchemaTuner interface {
	TuneSchema(s *jsonschema.Schema)
}

// Typed is a tool whose arguments decode strictly into In and whose JSON Schema
// is generated from In, so the schema the model sees and the decoder cannot drift.
type Typed[In any] struct {
	spec     Spec
	resolved *jsonschema.Resolved
	fn       func(ctx context.Context, in In) (Result, error)
}

var _ Tool = (*Typed[struct{}])(nil)

// NewTyped builds a typed tool. spec.Parameters is filled from In.
func NewTyped[In any](spec Spec, fn func(ctx context.Context, in In) (Result, error)) (*Typed[In], error) {
	s, err := jsonschema.For[In](nil)
	if err != nil {
		return nil, fmt.Errorf("tools: %s: schema: %w", spec.Name, err)
	}
	var zero In
	if t, ok := any(&zero).(SchemaTuner); ok {
		t.TuneSchema(s)
	}
	rs, err := s.Resolve(nil)
	if err != nil {
		return nil, fmt.Errorf("tools: %s: resolve schema: %w", spec.Name, err)
	}
	raw, err := json.Marshal(s)
	if err != nil {
		return nil, fmt.Errorf("tools: %s: marshal schema: %w", spec.Name, err)
	}
	spec.Parameters = raw
	return &Typed[In]{spec: spec, resolved: rs, fn: fn}, nil
}

// MustTyped is NewTyped for tools built from constant code; it panics on a
// schema error, which is a programming mistake.
func MustTyped[In any](spec Spec, fn func(ctx context.Context, in In) (Result, error)) *Typed[In] {
	t, err := NewTyped(spec, fn)
	if err != nil {
		panic(err)
	}
	return t
}

// Spec implements Tool.
func (t *Typed[In]) Spec() Spec { return t.spec }

// Call validates args against the schema, decodes them strictly and runs the tool.
func (t *Typed[In]) Call(ctx context.Context, args json.RawMessage) (Result, error) {
	in, err := DecodeArgs[In](t.spec.Name, t.resolved, args)
	if err != nil {
		return Result{}, err
	}
	return t.fn(ctx, in)
}

// DecodeArgs validates raw against rs (with defaults applied) and decodes it
// into In, rejecting unknown fields.
func DecodeArgs[In any](tool string, rs *jsonschema.Resolved, raw json.RawMessage) (In, error) {
	var in In
	if len(bytes.TrimSpace(raw)) == 0 || string(bytes.TrimSpace(raw)) == "null" {
		raw = json.RawMessage("{}")
	}
	var generic map[string]any
	if err := json.Unmarshal(raw, &generic); err != nil {
		return in, &ArgsError{Tool: tool, Reason: "arguments must be a JSON object"}
	}
	if err := rs.ApplyDefaults(&generic); err != nil {
		return in, &ArgsError{Tool: tool, Reason: err.Error()}
	}
	if err := rs.Validate(generic); err != nil {
		return in, &ArgsError{Tool: tool, Reason: shortSchemaError(err)}
	}
	withDefaults, _ := json.Marshal(generic)
	dec := json.NewDecoder(bytes.NewReader(withDefaults))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&in); err != nil {
		return in, &ArgsError{Tool: tool, Reason: err.Error()}
	}
	return in, nil
}

func shortSchemaError(err error) string {
	s := err.Error()
	s = strings.TrimPrefix(s, "validating root: ")
	if len(s) > 300 {
		s = s[:300] + "…"
	}
	return s
}

// JSONResult marshals v as a Result's content.
func JSONResult(v any, c Citation) (Result, error) {
	raw, err := json.Marshal(v)
	if err != nil {
		return Result{}, fmt.Errorf("tools: marshal result: %w", err)
	}
	return Result{Content: raw, Citation: c}, nil
}
