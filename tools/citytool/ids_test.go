package citytool_test

import (
	"slices"
	"testing"

	"github.com/google/jsonschema-go/jsonschema"

	"github.com/cityagent/cityagent/tools/citytool"
)

func TestToolsIDHint(t *testing.T) {
	for _, c := range []struct {
		ids  []string
		want string
	}{
		{nil, ""},
		{[]string{"S001", "S002", "S224"}, "S001–S224"},
		{[]string{"1309", "402", "1024", "88"}, "e.g. 1309, 402, 1024, …"},
		{[]string{"1", "10", "2"}, "e.g. 1, 10, 2"}, // sorted as text, yet "1–2" would mislead
		{[]string{"B7"}, "e.g. B7"},
	} {
		if got := citytool.IDHint(c.ids); got != c.want {
			t.Errorf("IDHint(%v) = %q, want %q", c.ids, got, c.want)
		}
	}
}

func TestToolsSetExamples(t *testing.T) {
	p := &jsonschema.Schema{Description: "Permit number (许可证号)."}
	citytool.SetExamples(p, []string{"100912345", "100912346", "100912347", "100912348"})
	if !slices.Equal(p.Examples, []any{"100912345", "100912346", "100912347"}) || p.Description != "Permit number (许可证号), e.g. 100912345." {
		t.Errorf("%+v", p)
	}
	citytool.SetExamples(p, nil) // a source with no permits leaves the schema alone
	if len(p.Examples) != 3 {
		t.Errorf("%+v", p)
	}
	q := &jsonschema.Schema{Description: "Road segment id, e.g. 1309."}
	citytool.SetExamples(q, []string{"1309"})
	if q.Description != "Road segment id, e.g. 1309." {
		t.Errorf("description given twice: %q", q.Description)
	}
}
