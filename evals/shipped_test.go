package evals

import (
	"context"
	"encoding/json"
	"fmt"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/google/jsonschema-go/jsonschema"
	"gopkg.in/yaml.v3"
)

// TestShippedSuitesCoverTheAgents checks what the shipped suites promise:
// at least 60 cases over the five agents, half in Chinese, with multi-turn
// cases, refusals and cases where nothing may be proposed.
func TestShippedSuitesCoverTheAgents(t *testing.T) {
	suites, err := Shipped()
	if err != nil {
		t.Fatal(err)
	}
	total, zh, multi, refused, noProposal := 0, 0, 0, 0, 0
	agents := map[string]int{}
	for _, s := range suites {
		for _, c := range s.Cases {
			total++
			agents[c.Agent]++
			if Language(c.Input.Message) == "zh" {
				zh++
			}
			if len(c.Input.Turns) > 0 {
				multi++
			}
			if c.Expect.Refused || contains(c.Tags, "refusal") {
				refused++
			}
			if p := c.Expect.Proposals; p != nil && p.None {
				noProposal++
			}
		}
	}
	t.Logf("%d cases, %d in Chinese, %d multi-turn, %d refusals, %d expecting no proposal, by agent %v", total, zh, multi, refused, noProposal, agents)
	if total < 60 || zh*2 < total || multi < 5 || refused < 5 || noProposal < 5 {
		t.Errorf("shipped suites: %d cases (want ≥ 60), %d Chinese (want ≥ half), %d multi-turn, %d refusals, %d proposals:none (want ≥ 5 each)", total, zh, multi, refused, noProposal)
	}
	for _, a := range []string{"city", "traffic", "permits", "energy", "hotline"} {
		if agents[a] < 10 {
			t.Errorf("agent %s has %d cases, want ≥ 10", a, agents[a])
		}
	}
}

// TestSchemaAgreesWithParser validates every shipped suite against the
// published JSON Schema, and checks that documents the parser refuses are
// refused by the schema too.
func TestSchemaAgreesWithParser(t *testing.T) {
	var schema jsonschema.Schema
	if err := json.Unmarshal(SuiteSchema, &schema); err != nil {
		t.Fatal(err)
	}
	rs, err := schema.Resolve(nil)
	if err != nil {
		t.Fatal(err)
	}
	validate := func(t *testing.T, text string) error {
		t.Helper()
		var v any
		if err := yaml.Unmarshal([]byte(text), &v); err != nil {
			t.Fatal(err)
		}
		b, err := json.Marshal(jsonable(v))
		if err != nil {
			t.Fatal(err)
		}
		var inst any
		if err := json.Unmarshal(b, &inst); err != nil {
			t.Fatal(err)
		}
		return rs.Validate(inst)
	}
	names, _ := shipped.ReadDir("suites")
	for _, e := range names {
		if e.Name() == ThresholdsFile {
			continue
		}
		data, _ := shipped.ReadFile("suites/" + e.Name())
		if err := validate(t, string(data)); err != nil {
			t.Errorf("%s does not validate against the schema: %v", e.Name(), err)
		}
	}
	if err := validate(t, minimalSuite); err != nil {
		t.Errorf("the issue's minimal suite does not validate: %v", err)
	}
	for name, tc := range invalidSuites {
		t.Run(name, func(t *testing.T) {
			if _, err := ParseSuite([]byte(tc.yaml), "bad.yaml"); err == nil {
				t.Fatalf("the parser accepts it")
			}
			if err := validate(t, tc.yaml); err == nil && !tc.semantic {
				t.Errorf("the schema accepts what the parser refuses")
			}
		})
	}
}

// TestShippedSuitesStableAcrossTheDay runs the shipped suites at four times
// of the demo city's day: the CI gate must not depend on the clock, so every
// case must end the same way, with the same metrics, at night, at the
// morning peak, at noon and at the evening peak.
func TestShippedSuitesStableAcrossTheDay(t *testing.T) {
	if testing.Short() {
		t.Skip("runs the shipped suites four times")
	}
	suites, err := Shipped()
	if err != nil {
		t.Fatal(err)
	}
	times := []time.Time{
		time.Date(2026, 6, 15, 3, 0, 0, 0, cityAt),
		time.Date(2026, 6, 15, 8, 15, 0, 0, cityAt),
		time.Date(2026, 6, 17, 13, 0, 0, 0, cityAt),
		time.Date(2026, 6, 19, 18, 10, 0, 0, cityAt),
	}
	var first map[string]CaseResult
	for i, when := range times {
		r := newRig(t, at(when))
		rep, err := Run(context.Background(), NewLocal(r.runner), suites, Options{Parallel: 4})
		if err != nil {
			t.Fatal(err)
		}
		got := map[string]CaseResult{}
		for _, c := range rep.Cases {
			got[c.Key()] = c
		}
		if i == 0 {
			first = got
			continue
		}
		var diffs []string
		for k, c := range got {
			f := first[k]
			if f.Status != c.Status {
				diffs = append(diffs, k+": "+string(f.Status)+" at "+times[0].Format("15:04")+" ("+f.Reason+"), "+string(c.Status)+" at "+when.Format("15:04")+" ("+c.Reason+")")
			}
			for m, v := range c.Metrics {
				if fv, ok := f.Metrics[m]; !ok || fv != v {
					diffs = append(diffs, fmt.Sprintf("%s: %s %v at %s, %v at %s", k, m, f.Metrics[m], times[0].Format("15:04"), v, when.Format("15:04")))
				}
			}
		}
		sort.Strings(diffs)
		if len(diffs) > 0 {
			t.Errorf("cases end differently at different times of day:\n%s", strings.Join(diffs, "\n"))
		}
	}
}
