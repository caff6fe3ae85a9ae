package main

import (
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/cityagent/cityagent/config"
)

// TestServeHotline checks the hotline's wiring in the real serve path: the
// triage tool registered, tickets triaged on the built-in hotline agent,
// dispatch proposed through the action service (auto-approved for low-risk
// categories when configured, else decided by a supervisor), audited, and
// the Open311 facade and a replaced taxonomy served.
func TestServeHotline(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	tax := filepath.Join(t.TempDir(), "city.yaml")
	data, err := os.ReadFile("../../hotline/taxonomy.yaml")
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(tax, []byte(strings.Replace(string(data), "version: democity-2026.1", "version: test-city-7", 1)), 0o600); err != nil {
		t.Fatal(err)
	}
	in := startServe(t, dir, func(c *config.Config) {
		c.Hotline.AutoApprove = true
		c.Hotline.Taxonomy = tax
	})
	hk := in.newKey(t, "hotline", "public")
	sup := in.newKey(t, "supervisor", "internal")

	code, body := in.call(t, "GET", "/v1/hotline/taxonomy", hk, "")
	if code != 200 || !strings.Contains(string(body), `"version":"test-city-7"`) {
		t.Fatalf("taxonomy: %d %.200s", code, body)
	}
	code, body = in.call(t, "GET", "/v1/tools", in.admin, "")
	if code != 200 || !strings.Contains(string(body), `"hotline_triage"`) {
		t.Errorf("the triage tool is not registered: %d", code)
	}

	type ticket struct {
		ID, Status, Category, Department string
		Degraded                         bool
		Dispatch                         struct {
			ProposalID   string `json:"proposal_id"`
			AutoApproved bool   `json:"auto_approved"`
		}
	}
	post := func(text string) ticket {
		t.Helper()
		code, body := in.call(t, "POST", "/v1/hotline/tickets", hk, `{"text":"`+text+`","channel":"phone"}`)
		var tk ticket
		if err := json.Unmarshal(body, &tk); err != nil || code != 201 || tk.Degraded {
			t.Fatalf("post: %d %s", code, body)
		}
		return tk
	}
	light := post("光明路的路灯坏了好几天了")
	if light.Status != "dispatched" || !light.Dispatch.AutoApproved || light.Department != "urban_management" {
		t.Errorf("low-risk ticket: %+v", light)
	}
	water := post("小区停水一整天了，什么时候来水？")
	if water.Status != "pending_approval" || water.Dispatch.AutoApproved || water.Dispatch.ProposalID == "" {
		t.Fatalf("ticket that needs a decision: %+v", water)
	}
	if code, body := in.call(t, "POST", "/v1/proposals/"+water.Dispatch.ProposalID+"/approve", hk, `{"comment":"self"}`); code != 403 {
		t.Errorf("the hotline key decided a proposal: %d %s", code, body)
	}
	if code, body := in.call(t, "POST", "/v1/proposals/"+water.Dispatch.ProposalID+"/approve", sup, `{"comment":"派水务集团"}`); code != 200 {
		t.Fatalf("approve: %d %s", code, body)
	}
	code, body = in.call(t, "GET", "/v1/hotline/tickets/"+water.ID, hk, "")
	if code != 200 || !strings.Contains(string(body), `"status":"dispatched"`) {
		t.Errorf("ticket after the approval: %d %.300s", code, body)
	}
	code, body = in.call(t, "GET", "/v1/audit?kind=hotline.", in.admin, "")
	if code != 200 || strings.Count(string(body), `"kind":"hotline.ticket_create"`) != 2 {
		t.Errorf("ticket audit: %d %.300s", code, body)
	}
	code, body = in.call(t, "GET", "/open311/v2/services.json", "", "")
	if code != 200 || !strings.Contains(string(body), `"service_code":"030101"`) {
		t.Errorf("open311 services: %d", code)
	}
}

// A taxonomy that does not validate stops the start, naming the problem.
func TestBuildRefusesABadTaxonomy(t *testing.T) {
	t.Parallel()
	cfg := config.Default()
	cfg.DataDir = t.TempDir()
	cfg.Hotline.Taxonomy = filepath.Join(t.TempDir(), "bad.yaml")
	if err := os.WriteFile(cfg.Hotline.Taxonomy, []byte("version: x\ntypes: []\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	inst, err := build(context.Background(), cfg, slog.New(slog.NewTextHandler(io.Discard, nil)))
	if err == nil {
		inst.Close()
		t.Fatal("build succeeded with an invalid taxonomy")
	}
	if !strings.Contains(err.Error(), "taxonomy") {
		t.Errorf("error %v does not name the taxonomy", err)
	}
}
