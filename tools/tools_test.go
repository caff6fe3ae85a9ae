package tools

import (
	"context"
	"encoding/json"
	"errors"
	"testing"

	"github.com/cityagent/cityagent/access"
	"github.com/google/jsonschema-go/jsonschema"
)

type echoArgs struct {
	District string `json:"district" jsonschema:"district code"`
	Limit    int    `json:"limit,omitempty" jsonschema:"how many rows"`
}

func (echoArgs) TuneSchema(s *jsonschema.Schema) {
	s.Properties["district"].Enum = []any{"north", "south"}
	s.Properties["limit"].Default = json.RawMessage("5")
}

func newEcho(t *testing.T) Tool {
	t.Helper()
	tool, err := NewTyped(Spec{Name: "echo", Clearance: access.Internal}, func(_ context.Context, in echoArgs) (Result, error) {
		return JSONResult(in, Citation{Source: "test"})
	})
	if err != nil {
		t.Fatal(err)
	}
	return tool
}

func TestTypedValidatesAndDecodes(t *testing.T) {
	tool := newEcho(t)
	cases := map[string]struct {
		args    string
		want    string
		wantErr bool
	}{
		"default applied":  {`{"district":"north"}`, `{"district":"north","limit":5}`, false},
		"explicit limit":   {`{"district":"south","limit":2}`, `{"district":"south","limit":2}`, false},
		"enum violated":    {`{"district":"east"}`, "", true},
		"missing required": {`{}`, "", true},
		"unknown field":    {`{"district":"north","x":1}`, "", true},
		"wrong type":       {`{"district":"north","limit":"many"}`, "", true},
		"not an object":    {`[1]`, "", true},
	}
	for name, tc := range cases {
		res, err := tool.Call(context.Background(), json.RawMessage(tc.args))
		if tc.wantErr {
			if !errors.Is(err, ErrInvalidArgs) {
				t.Errorf("%s: err = %v, want ErrInvalidArgs", name, err)
			}
			continue
		}
		if err != nil || string(res.Content) != tc.want {
			t.Errorf("%s: got %s, %v; want %s", name, res.Content, err, tc.want)
		}
	}
}

func TestRegistry(t *testing.T) {
	r, err := NewRegistry(newEcho(t))
	if err != nil {
		t.Fatal(err)
	}
	if err := r.Register(newEcho(t)); !errors.Is(err, ErrDuplicateTool) {
		t.Fatalf("duplicate: %v", err)
	}
	if _, err := r.Call(context.Background(), access.Public, "echo", json.RawMessage(`{"district":"north"}`)); !errors.Is(err, ErrForbidden) {
		t.Fatalf("clearance: %v", err)
	}
	if _, err := r.Call(context.Background(), access.Internal, "nope", nil); !errors.Is(err, ErrUnknownTool) {
		t.Fatalf("unknown: %v", err)
	}
	var schema map[string]any
	_ = json.Unmarshal(r.List()[0].Spec().Parameters, &schema)
	if schema["type"] != "object" {
		t.Fatalf("schema: %v", schema)
	}
}
