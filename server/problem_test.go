package server

import (
	"context"
	"errors"
	"fmt"
	"io"
	"testing"

	"github.com/cityagent/cityagent/access"
	"github.com/cityagent/cityagent/agents"
	"github.com/cityagent/cityagent/evals"
	"github.com/cityagent/cityagent/knowledge/extract"
	"github.com/cityagent/cityagent/tools"
)

// TestProblemsFromRealErrors maps errors made by the packages themselves
// (not hand-built look-alikes) and checks what a client reads: the status,
// and the public message the package gave the error, exactly as the API
// has always worded it.
func TestProblemsFromRealErrors(t *testing.T) {
	t.Parallel()
	cat, err := agents.NewCatalog(agents.Spec{Name: "traffic", Instructions: "x"})
	if err != nil {
		t.Fatal(err)
	}
	secret := tools.MustTyped(tools.Spec{Name: "plan", Description: "x", Clearance: access.Sensitive},
		func(context.Context, struct{}) (tools.Result, error) { return tools.Result{}, nil })
	reg, err := tools.NewRegistry(secret)
	if err != nil {
		t.Fatal(err)
	}
	errOf := func(_ any, err error) error { return err }
	s := New(Deps{}, Options{})
	for name, tc := range map[string]struct {
		err           error
		status        int
		detail        string
		field, fieldM string
	}{
		"unknown agent": {errOf(cat.Get("mayor")), 404, "unknown agent: mayor", "", ""},
		"unknown tool":  {errOf(reg.Get("nope")), 404, "unknown tool: nope", "", ""},
		"above clearance": {errOf(reg.Call(context.Background(), access.Public, "plan", nil)), 403,
			"above the caller's clearance: plan needs sensitive", "", ""},
		"duplicate tool": {reg.Register(secret), 409, "duplicate tool name: plan", "", ""},
		"unsupported file": {errOf(extract.Detect("notes.docx", "", nil)), 415,
			"unsupported format: \"notes.docx\" (send text, Markdown, HTML, PDF or CSV)", "", ""},
		"unknown format": {errOf(extract.ParseFormat("docx")), 415,
			`unsupported format "docx" (want text, markdown, html, pdf or csv) (send text, Markdown, HTML, PDF or CSV)`, "", ""},
		"bad gate": {errOf(evals.ParseGateFlag("answer_pass_rate", false)), 400, "invalid threshold",
			"fail_under/fail_over", `--fail-under "answer_pass_rate": want METRIC=VALUE`},
		"wrapped again": {fmt.Errorf("handler: %w", errOf(cat.Get("mayor"))), 404, "unknown agent: mayor", "", ""},
		"internal":      {fmt.Errorf("store: %w", io.ErrUnexpectedEOF), 500, "the server failed; the request id identifies it in the logs", "", ""},
	} {
		t.Run(name, func(t *testing.T) {
			if tc.err == nil {
				t.Fatal("the package returned no error")
			}
			p := s.problemFor(tc.err)
			if p.Status != tc.status || p.Detail != tc.detail {
				t.Errorf("%d %q, want %d %q (error %q)", p.Status, p.Detail, tc.status, tc.detail, tc.err)
			}
			if tc.field != "" && (len(p.Errors) != 1 || p.Errors[0] != FieldError{tc.field, tc.fieldM}) {
				t.Errorf("errors %+v, want %s: %s", p.Errors, tc.field, tc.fieldM)
			}
		})
	}
}

// TestUnknownSuiteNamesTheShippedOnes checks the field message of an
// unknown shipped suite, which lists the suites there are.
func TestUnknownSuiteNamesTheShippedOnes(t *testing.T) {
	t.Parallel()
	_, err := evals.ShippedByName("nope")
	if !errors.Is(err, evals.ErrUnknownSuite) {
		t.Fatalf("err = %v", err)
	}
	p := New(Deps{}, Options{}).problemFor(err)
	if p.Status != 400 || p.Detail != "unknown suite" || len(p.Errors) != 1 || p.Errors[0].Field != "suites" ||
		p.Errors[0].Message[:len(`"nope" (shipped: `)] != `"nope" (shipped: ` {
		t.Fatalf("%+v", p)
	}
}
