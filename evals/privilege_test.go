package evals

import (
	"context"
	"encoding/json"
	"errors"
	"strings"
	"testing"

	"github.com/cityagent/cityagent/access"
	"github.com/cityagent/cityagent/actions"
	"github.com/cityagent/cityagent/llm/scripted"
	"github.com/cityagent/cityagent/store"
)

func TestRunNeverActsAboveItsCaller(t *testing.T) {
	target := NewLocal(newRig(t).runner)
	suite := func(suiteLevel, input string) string {
		return "name: bound\nagent: traffic\n" + suiteLevel + "cases:\n  - id: c1\n    input:\n      message: Which road is the most congested?\n" + input +
			"    expect:\n      answer: {must_not_contain: [nothing]}\n"
	}
	dev := func(c access.Clearance) access.Principal {
		return access.Principal{KeyID: "k", Role: access.RoleDeveloper, Clearance: c}
	}
	for name, tc := range map[string]struct {
		yaml          string
		caller        access.Principal
		wantFields    []string // refused: the fields named; nil: it runs
		wantRole      access.Role
		wantClearance access.Clearance
	}{
		"defaults lowered to a public caller": {suite("", ""), dev(access.Public), nil, DefaultRole, access.Public},
		"defaults kept under a higher caller": {suite("", ""), dev(access.Restricted), nil, DefaultRole, DefaultClearance},
		"explicit within the caller":          {suite("", "      clearance: sensitive\n"), dev(access.Sensitive), nil, DefaultRole, access.Sensitive},
		"admin may act as a supervisor": {suite("", "      role: supervisor\n"),
			access.Principal{Role: access.RoleAdmin, Clearance: access.Internal}, nil, access.RoleSupervisor, DefaultClearance},
		"case asks for admin and restricted": {suite("", "      role: admin\n      clearance: restricted\n"), dev(access.Public),
			[]string{"case c1 input.role", "case c1 input.clearance"}, "", ""},
		"suite asks for restricted": {suite("clearance: restricted\n", ""), dev(access.Internal),
			[]string{"case c1 clearance (suite)"}, "", ""},
		"a side role is not below developer": {suite("role: hotline\n", ""), dev(access.Restricted),
			[]string{"case c1 role (suite)"}, "", ""},
	} {
		t.Run(name, func(t *testing.T) {
			caller := tc.caller
			pl, err := Prepare(context.Background(), target, []*Suite{mustSuite(t, tc.yaml)}, Options{Caller: &caller})
			if tc.wantFields != nil {
				var pe *PrivilegeError
				if !errors.As(err, &pe) || !errors.Is(err, ErrAboveCaller) {
					t.Fatalf("err = %v, want a PrivilegeError", err)
				}
				var got []string
				for _, p := range pe.Problems {
					got = append(got, p.Field)
					if !strings.Contains(p.Message, "the key has") {
						t.Errorf("%s: %q does not say what the key holds", p.Field, p.Message)
					}
				}
				if strings.Join(got, "|") != strings.Join(tc.wantFields, "|") {
					t.Errorf("fields = %v, want %v", got, tc.wantFields)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			in := pl.cases[0].c.Input
			if in.Role != tc.wantRole || in.Clearance != tc.wantClearance {
				t.Errorf("the case runs as %s/%s, want %s/%s", in.Role, in.Clearance, tc.wantRole, tc.wantClearance)
			}
		})
	}
	// Without a caller (the CLI, a trusted operator) the suite's word holds.
	pl, err := Prepare(context.Background(), target, []*Suite{mustSuite(t, suite("", "      role: admin\n      clearance: restricted\n"))}, Options{})
	if err != nil || pl.cases[0].c.Input.Clearance != access.Restricted {
		t.Fatalf("unbounded run: %v", err)
	}
}

func TestLocalEvalProposalsAreNotQueued(t *testing.T) {
	model := scripted.New("m",
		scripted.Call("propose_traffic_retime_signal", `{"corridor":"renmin","strategy":"more_main_green","rationale":"index 2.4"}`),
		scripted.Reply("Proposed; a supervisor decides."))
	r := newRig(t, withModel(model))
	db, err := store.Open(context.Background(), "", storeDir(t))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	cat, err := actions.LoadCatalog("")
	if err != nil {
		t.Fatal(err)
	}
	execs := map[string]actions.Executor{}
	for _, typ := range cat.List() {
		execs[typ.Executor] = actions.ExecutorFunc(func(context.Context, actions.Execution) (json.RawMessage, error) {
			t.Error("an executor ran during an eval")
			return nil, nil
		})
	}
	svc, err := actions.NewService(actions.Config{Catalog: cat, Store: db, Executors: execs})
	if err != nil {
		t.Fatal(err)
	}
	r.runner.Actions, r.runner.Audit = svc, db
	s := mustSuite(t, "name: props\nagent: traffic\ncases:\n  - id: retime\n    input: Renmin Road is jammed, retime it.\n"+
		"    expect:\n      proposals:\n        must_propose:\n          - action: traffic.retime_signal\n            arguments: {corridor: renmin}\n")
	rep, err := Run(context.Background(), NewLocal(r.runner), []*Suite{s}, Options{Parallel: 1})
	if err != nil {
		t.Fatal(err)
	}
	c := rep.Cases[0]
	if c.Status != StatusPass || len(c.Proposals) != 1 || c.Proposals[0].Status != actions.StatusEval {
		t.Fatalf("the report does not list the eval's proposal: %+v", c)
	}
	queued, err := db.ListProposals(context.Background(), store.ProposalFilter{})
	if err != nil {
		t.Fatal(err)
	}
	if len(queued) != 0 {
		t.Errorf("an eval queued %d proposals: %+v", len(queued), queued)
	}
}
