package evals

import (
	"context"
	"encoding/json"
	"strings"
	"testing"

	"github.com/cityagent/cityagent/llm"
)

// TestReportMasksPersonalData: a case about a caller's phone and ID number
// is checked on the real answer, and the report shows both masked.
func TestReportMasksPersonalData(t *testing.T) {
	echo := &modelFunc{name: "echo", f: func(ctx context.Context, req llm.Request) (llm.Response, error) {
		return llm.Response{Content: "已记录：" + lastUser(req)}, nil
	}}
	r := newRig(t, withModel(echo))
	s := mustSuite(t, `name: pd
agent: traffic
cases:
  - id: caller
    input: "我的电话13912345678，身份证310115198511110519"
    expect: {answer: {must_contain: ["13912345678"]}}
`)
	rep, err := Run(context.Background(), NewLocal(r.runner), []*Suite{s}, Options{})
	if err != nil {
		t.Fatal(err)
	}
	c := rep.Cases[0]
	if c.Status != StatusPass {
		t.Fatalf("the check did not see the answer as given: %+v", c)
	}
	b, _ := json.Marshal(rep)
	var md strings.Builder
	if err := rep.WriteMarkdown(&md); err != nil {
		t.Fatal(err)
	}
	for _, leak := range []string{"13912345678", "310115198511110519"} {
		if strings.Contains(string(b), leak) || strings.Contains(md.String(), leak) {
			i := strings.Index(string(b), leak)
			t.Errorf("the report holds %s: %s", leak, string(b)[max(0, i-200):min(len(b), i+50)])
		}
	}
	if !strings.Contains(c.Answer, "139****5678") || !strings.Contains(c.Message, "3101**********0519") {
		t.Errorf("masked answer %q, message %q", c.Answer, c.Message)
	}
}
