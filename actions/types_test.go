package actions

import (
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/cityagent/cityagent/access"
)

func TestBuiltinCatalog(t *testing.T) {
	c, err := LoadCatalog("")
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, typ := range c.List() {
		names = append(names, typ.Name)
		if typ.TitleZh == "" || !strings.ContainsFunc(typ.Description, func(r rune) bool { return r >= 0x4e00 && r <= 0x9fff }) {
			t.Errorf("%s: needs a Chinese title and description", typ.Name)
		}
	}
	want := []string{"energy.demand_response_event", "hotline.dispatch_ticket", "permits.flag_for_review", "permits.schedule_inspection",
		"traffic.dispatch_crew", "traffic.retime_signal"}
	if !slices.Equal(names, want) {
		t.Fatalf("built-in actions %v, want %v", names, want)
	}
	if got := ToolName("traffic.retime_signal"); got != "propose_traffic_retime_signal" {
		t.Errorf("ToolName = %s", got)
	}
	if _, err := c.Get("traffic.nope"); !errors.Is(err, ErrUnknownAction) {
		t.Errorf("Get(unknown) = %v", err)
	}
}

const validType = `name: parks.close_gate
description: Close a park gate. 关闭公园大门。
risk: low
approver: supervisor
expiry: 1h
clearance: public
executor: parks.gates
parameters: {type: object, properties: {gate: {type: string}}, required: [gate]}
`

func TestCatalogDirectory(t *testing.T) {
	dir := t.TempDir()
	override := strings.Replace(strings.Replace(validType, "parks.close_gate", "traffic.retime_signal", 1), "risk: low", "risk: high", 1)
	for name, body := range map[string]string{"gate.yaml": validType, "retime.yml": override, "notes.txt": "ignored"} {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	c, err := LoadCatalog(dir)
	if err != nil {
		t.Fatal(err)
	}
	if g, err := c.Get("parks.close_gate"); err != nil || g.Approver != access.RoleSupervisor || !strings.HasPrefix(g.Origin, dir) {
		t.Errorf("added type: %+v %v", g, err)
	}
	if r, _ := c.Get("traffic.retime_signal"); r.Risk != RiskHigh {
		t.Errorf("override not applied: risk %s", r.Risk)
	}
	if len(c.List()) != 7 {
		t.Errorf("%d types, want 6 built-in + 1", len(c.List()))
	}
	if _, err := LoadCatalog(filepath.Join(dir, "missing")); err == nil {
		t.Error("a missing directory was accepted")
	}
	dup := t.TempDir()
	for _, n := range []string{"a.yaml", "b.yaml"} {
		os.WriteFile(filepath.Join(dup, n), []byte(validType), 0o644)
	}
	if _, err := LoadCatalog(dup); !errors.Is(err, ErrInvalidType) {
		t.Errorf("a type defined twice: %v", err)
	}
}

func TestParseTypeRefuses(t *testing.T) {
	cases := map[string][2]string{
		"bad name":         {"name: parks.close_gate", "name: CloseGate"},
		"no description":   {"description: Close a park gate. 关闭公园大门。", "description: ''"},
		"unknown risk":     {"risk: low", "risk: extreme"},
		"hotline approver": {"approver: supervisor", "approver: hotline"},
		"unknown approver": {"approver: supervisor", "approver: mayor"},
		"no expiry":        {"expiry: 1h", "expiry: 0s"},
		"bad clearance":    {"clearance: public", "clearance: secret"},
		"no executor":      {"executor: parks.gates", "executor: ''"},
		"array parameters": {"parameters: {type: object,", "parameters: {type: array,"},
		"unknown field":    {"risk: low", "risk: low\ncolour: green"},
		"broken schema":    {"required: [gate]", "required: 5"},
		"no parameters":    {"parameters: {type: object, properties: {gate: {type: string}}, required: [gate]}", ""},
	}
	for name, c := range cases {
		src := strings.Replace(validType, c[0], c[1], 1)
		if src == validType {
			t.Fatalf("%s: replacement did not apply", name)
		}
		if _, err := ParseType([]byte(src), name); !errors.Is(err, ErrInvalidType) {
			t.Errorf("%s: err %v, want ErrInvalidType", name, err)
		}
	}
	if _, err := ParseType([]byte(validType), "ok"); err != nil {
		t.Fatal(err)
	}
}
