package tools

import (
	"context"
	"encoding/json"
	"fmt"

	"github.com/google/jsonschema-go/jsonschema"
)

// Tuned is a typed tool whose schema is generated from In and then tuned at
// run time with what only its source knows (district codes, id patterns,
// type names). A SchemaTuner on In can only add what is known when the code
// is compiled. Arguments are validated against the tuned schema and then
// decoded strictly into In, so the model's schema and the decoder agree.
type Tuned[In any] struct {
	spec Spec
	rs   *jsonschema.Resolved
	fn   func(context.Context, In) (Result, error)
}

var _ Tool = (*Tuned[struct{}])(nil)

// NewTuned builds a tuned tool; tune may be nil.
func NewTuned[In any](spec Spec, tune func(*jsonschema.Schema), fn func(context.Context, In) (Result, error)) (*Tuned[In], error) {
	s, err := jsonschema.For[In](nil)
	if err != nil {
		return nil, fmt.Errorf("tools: %s: schema: %w", spec.Name, err)
	}
	var zero In
	if t, ok := any(&zero).(SchemaTuner); ok {
		t.TuneSchema(s)
	}
	if tune != nil {
		tune(s)
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
	return &Tuned[In]{spec: spec, rs: rs, fn: fn}, nil
}

// MustTuned is NewTuned for tools built from constant code; a schema that
// does not resolve is a programming mistake and panics.
func MustTuned[In any](spec Spec, tune func(*jsonschema.Schema), fn func(context.Context, In) (Result, error)) *Tuned[In] {
	t, err := NewTuned(spec, tune, fn)
	if err != nil {
		panic(err)
	}
	return t
}

// Spec implements Tool.
func (t *Tuned[In]) Spec() Spec { return t.spec }

// Call validates args against the tuned schema, decodes them strictly and runs the tool.
func (t *Tuned[In]) Call(ctx context.Context, args json.RawMessage) (Result, error) {
	in, err := DecodeArgs[In](t.spec.Name, t.rs, args)
	if err != nil {
		return Result{}, err
	}
	return t.fn(ctx, in)
}
