package monitors_test

import (
	"encoding/json"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/cityagent/cityagent/monitors"
)

func TestPathEval(t *testing.T) {
	var doc any
	if err := json.Unmarshal([]byte(`{"a":{"b":[{"c":1},{"c":2},{"d":3}]},"m":{"y":2,"x":1},"s":"t"}`), &doc); err != nil {
		t.Fatal(err)
	}
	cases := map[string]struct {
		path string
		want []any
	}{
		"root":           {"$", []any{doc}},
		"field":          {"$.s", []any{"t"}},
		"nested":         {"$.a.b[0].c", []any{1.0}},
		"negative index": {"$.a.b[-1].d", []any{3.0}},
		"fan out":        {"$.a.b[*].c", []any{1.0, 2.0}},
		"object values":  {"$.m[*]", []any{1.0, 2.0}}, // key order: x, y
		"missing field":  {"$.nope", nil},
		"index past end": {"$.a.b[9]", nil},
		"index a map":    {"$.m[0]", nil},
	}
	for name, c := range cases {
		t.Run(name, func(t *testing.T) {
			p, err := monitors.ParsePath(c.path)
			if err != nil {
				t.Fatal(err)
			}
			if got := p.Eval(doc); !reflect.DeepEqual(got, c.want) {
				t.Errorf("%s = %#v, want %#v", c.path, got, c.want)
			}
		})
	}
}

func TestPathErrors(t *testing.T) {
	for _, bad := range []string{"a.b", "$.", "$..a", "$[x]", "$[1", "$a", "$.a[]"} {
		if _, err := monitors.ParsePath(bad); err == nil {
			t.Errorf("ParsePath(%q) accepted", bad)
		}
	}
}

func TestConditions(t *testing.T) {
	cases := []struct {
		cond string
		v    float64
		want bool
	}{
		{"> 2.0", 2.0, false}, {"> 2.0", 2.01, true}, {">= 2", 2, true}, {"< 5", 4.9, true}, {"<= 5", 5.1, false},
		{"== 0", 0, true}, {"!= 0", 0, false}, {"!=0", 1, true}, {">-1.5", -1, true},
	}
	for _, c := range cases {
		cond, err := monitors.ParseCondition(c.cond)
		if err != nil {
			t.Fatalf("%q: %v", c.cond, err)
		}
		if got := cond.Holds(c.v); got != c.want {
			t.Errorf("%q holds for %v = %v, want %v", c.cond, c.v, got, c.want)
		}
	}
	for _, bad := range []string{"", "2", "> two", "=> 1", "> NaN", "~ 3", "> 1 2"} {
		if _, err := monitors.ParseCondition(bad); err == nil {
			t.Errorf("ParseCondition(%q) accepted", bad)
		}
	}
}

func TestObserveWhereAndWorstPerSubject(t *testing.T) {
	m, err := monitors.Parse([]byte(`name: roads
title: t
title_zh: t
tool: x
select: "$.segments[*]"
subject: "$.road"
value: "$.ci"
where: {"$.kind": live}
condition: "> 2"
severity: info
`), "test.yaml")
	if err != nil {
		t.Fatal(err)
	}
	content := json.RawMessage(`{"segments":[
		{"road":"ring","ci":1.5,"kind":"live"},{"road":"ring","ci":3.5,"kind":"live"},{"road":"ring","ci":9,"kind":"stale"},
		{"road":"xinhua","ci":"2.5","kind":"live"},{"road":"","ci":4,"kind":"live"},{"road":"oak","ci":"n/a","kind":"live"}]}`)
	obs, skipped, err := m.Observe(content)
	if err != nil {
		t.Fatal(err)
	}
	want := []monitors.Observation{{Subject: "ring", Value: 3.5}, {Subject: "xinhua", Value: 2.5}}
	if !reflect.DeepEqual(obs, want) || skipped != 2 {
		t.Errorf("observe = %+v (skipped %d), want %+v (skipped 2)", obs, skipped, want)
	}
}

func TestShippedMonitors(t *testing.T) {
	cat, err := monitors.LoadCatalog("")
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, m := range cat.List() {
		names = append(names, m.Name+":"+m.Tool)
	}
	want := []string{"corridor-congestion:traffic_congestion", "district-load:energy_peak_load", "hotline-overdue:hotline_overdue",
		"meter-missing:energy_anomalies", "permits-over-limit:permits_processing_times"}
	if !reflect.DeepEqual(names, want) {
		t.Errorf("shipped %v, want %v", names, want)
	}
}

func TestMonitorsDirOverridesAndAdds(t *testing.T) {
	dir := t.TempDir()
	write := func(name, body string) {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(body), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	write("load.yaml", "name: district-load\ntitle: Load\ntitle_zh: 负荷\ntool: energy_peak_load\nselect: \"$.districts[*]\"\nsubject: \"$.district\"\nvalue: \"$.loading_pct\"\ncondition: \"> 75\"\nseverity: warning\n")
	write("extra.yml", "name: network\ntitle: Network index\ntitle_zh: 路网指数\ntool: traffic_congestion\nvalue: \"$.network_index\"\ncondition: \">= 1.8\"\nseverity: info\nclearance: public\n")
	cat, err := monitors.LoadCatalog(dir)
	if err != nil {
		t.Fatal(err)
	}
	load, err := cat.Get("district-load")
	if err != nil || load.Cond().String() != "> 75" || load.Severity != "warning" {
		t.Errorf("override: %+v %v", load, err)
	}
	if _, err := cat.Get("network"); err != nil || len(cat.List()) != 6 {
		t.Errorf("added monitor: %v, %d monitors", err, len(cat.List()))
	}
}

func TestInvalidFilesNameFileLineField(t *testing.T) {
	base := "name: bad\ntitle: Bad\ntitle_zh: 坏\ntool: x\nvalue: \"$.v\"\ncondition: \"> 1\"\nseverity: warning\n"
	cases := map[string]struct {
		body string
		want string
	}{
		"condition":      {strings.Replace(base, `"> 1"`, `"about 1"`, 1), "bad.yaml:6: condition:"},
		"severity":       {strings.Replace(base, "warning", "loud", 1), "bad.yaml:7: severity:"},
		"selector":       {strings.Replace(base, `"$.v"`, `"v"`, 1), "bad.yaml:5: value:"},
		"unknown field":  {base + "colour: red\n", "bad.yaml:8: colour: unknown field"},
		"bad duration":   {base + "for: soon\n", "bad.yaml:8:"},
		"missing title":  {strings.Replace(base, "title: Bad\n", "", 1), "bad.yaml:1: title: is required"},
		"propose prompt": {base + "propose:\n  agent: traffic\n", "bad.yaml:8: propose.prompt: is required"},
		"negative clear": {base + "clear: -1m\n", "bad.yaml:8: clear:"},
	}
	for name, c := range cases {
		t.Run(name, func(t *testing.T) {
			dir := t.TempDir()
			if err := os.WriteFile(filepath.Join(dir, "bad.yaml"), []byte(c.body), 0o600); err != nil {
				t.Fatal(err)
			}
			_, err := monitors.LoadCatalog(dir)
			if err == nil || !strings.Contains(err.Error(), filepath.Join(dir, c.want)) {
				t.Fatalf("error %v, want it to contain %q", err, filepath.Join(dir, c.want))
			}
		})
	}
}
