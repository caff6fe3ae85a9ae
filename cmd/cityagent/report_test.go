package main

import (
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/cityagent/cityagent/access"
	"github.com/cityagent/cityagent/actions/audit"
	"github.com/cityagent/cityagent/store"
)

// seedReportStore writes three chat turns and one alert into the store of
// data, as a server would have, and closes it.
func seedReportStore(t *testing.T, data string) {
	t.Helper()
	db, err := store.Open(t.Context(), "", data)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	at := time.Date(2026, 11, 3, 9, 0, 0, 0, time.UTC)
	turn := func(agent string, ms int64, cites int, degraded bool) audit.Entry {
		return audit.Entry{Kind: audit.KindChatTurn, Subject: "s", At: at, Payload: map[string]any{"agent": agent, "model": "offline", "degraded": degraded,
			"duration_ms": ms, "citations": cites, "tool_calls": 1, "tool_errors": 0, "answer_sha256": "x"}}
	}
	_, err = db.AppendAudit(t.Context(), turn("traffic", 1500, 1, false), turn("traffic", 250, 0, true), turn("energy", 75, 2, false),
		audit.Entry{Kind: "alert.fire", Subject: "al1", At: at, Payload: map[string]any{"monitor": "corridor-congestion"}},
		audit.Entry{Kind: "alert.acknowledge", Subject: "al1", At: at.Add(2 * time.Minute), Payload: map[string]any{"monitor": "corridor-congestion"}},
		audit.Entry{Kind: "alert.resolve", Subject: "al1", At: at.Add(90 * time.Minute), Payload: map[string]any{"monitor": "corridor-congestion"}})
	if err != nil {
		t.Fatal(err)
	}
	err = db.CreateProposal(t.Context(), store.Proposal{ID: "p1", Action: "traffic.retime_signal", Arguments: json.RawMessage(`{}`), Risk: "low",
		ApproverRole: access.RoleSupervisor, Clearance: access.Internal, Agent: "traffic", CreatedAt: at, ExpiresAt: at.Add(30 * 24 * time.Hour)})
	if err != nil {
		t.Fatal(err)
	}
}

// rowOf returns the fields of the first line of out that starts with name.
func rowOf(out, name string) []string {
	for line := range strings.Lines(out) {
		if f := strings.Fields(line); len(f) > 0 && f[0] == name {
			return f
		}
	}
	return nil
}

func TestReportCommand(t *testing.T) {
	t.Parallel()
	data := t.TempDir()
	seedReportStore(t, data)
	args := []string{"report", "--data", data, "--from", "2026-11-02", "--to", "2026-11-08"}

	out, err := cityagentCLI(t, args...)
	if err != nil {
		t.Fatalf("%v: %s", err, out)
	}
	for name, want := range map[string]string{
		// agent turns answered failed cited cites_unknown cited_share degraded … p50 p95 …
		"traffic":                   "traffic 2 2 0 1 0 50.0% 1 0 50.0% 250ms 1.5s 0 2 0 0 0.0%",
		"energy":                    "energy 1 1 0 1 0 100.0% 0 0 0.0% 75ms 75ms 0 1 0 0 0.0%",
		"corridor-congestion":       "corridor-congestion 1 1 1 0 2m0s 1h30m0s 1h30m0s",
		"traffic.retime_signal":     "traffic.retime_signal proposed 1",
		"2026-11-02T00:00:00+08:00": "2026-11-02T00:00:00+08:00 2026-11-09T00:00:00+08:00",
	} {
		got := strings.Join(rowOf(out, name), " ")
		if !strings.HasPrefix(got, want) {
			t.Errorf("row %q = %q, want %q\n%s", name, got, want, out)
		}
	}
	for _, section := range []string{"== range", "== agents", "== proposals", "== governance", "== hotline", "== tickets_by_type", "== tickets_by_department", "== monitors"} {
		if !strings.Contains(out, section+"\n") {
			t.Errorf("no section %q in\n%s", section, out)
		}
	}

	out, err = cityagentCLI(t, append(args, "--format", "json")...)
	if err != nil {
		t.Fatal(err)
	}
	var rep struct {
		TimeZone string `json:"time_zone"`
		Agents   []struct {
			Agent        string `json:"agent"`
			LatencyP95MS int64  `json:"latency_p95_ms"`
		} `json:"agents"`
	}
	if err := json.Unmarshal([]byte(out), &rep); err != nil || rep.TimeZone != "Asia/Shanghai" || len(rep.Agents) != 2 || rep.Agents[1].LatencyP95MS != 1500 {
		t.Errorf("json %v: %s", err, out)
	}

	out, err = cityagentCLI(t, append(args, "--format", "csv")...)
	if err != nil || !strings.Contains(out, "\nagents,traffic,2,2,0,1,0,0.5000,1,0,0.5000,250,1500,0,2,0,0,0.0000\n") {
		t.Errorf("csv %v:\n%s", err, out)
	}

	for _, bad := range [][]string{{"--format", "xml"}, {"--from", "yesterday"}, {"--from", "2026-11-09"}} {
		if out, err := cityagentCLI(t, append(args, bad...)...); err == nil {
			t.Errorf("%v: no error:\n%s", bad, out)
		}
	}
}
