package agents

import (
	"context"
	"encoding/json"
	"testing"

	"github.com/cityagent/cityagent/actions/audit"
	"github.com/cityagent/cityagent/llm/scripted"
	"github.com/cityagent/cityagent/store"
)

// TestTurnRecordCarriesReportFigures: the chat.turn record holds what the
// operations report (package reports) reads: duration, citations given and
// tool calls that failed or were refused.
func TestTurnRecordCarriesReportFigures(t *testing.T) {
	model := scripted.New("m",
		scripted.Call("road_lookup", `{"road":"renmin"}`).
			Call("propose_traffic_retime_signal", `{"corridor":"renmin","strategy":"sideways"}`).
			Call("propose_energy_demand_response_event", `{"district":"gaoxin","event_type":"emergency"}`),
		scripted.Reply("Renmin is slow."))
	r, db := proposeRig(t, model, "traffic.retime_signal")
	res, err := r.Run(context.Background(), Turn{Agent: "traffic", Message: "How is Renmin Road?", Principal: operator}, nil)
	if err != nil {
		t.Fatal(err)
	}
	recs, err := db.ListAudit(context.Background(), store.AuditFilter{Kind: audit.KindChatTurn})
	if err != nil || len(recs) != 1 {
		t.Fatalf("chat.turn records %d, %v", len(recs), err)
	}
	var p struct {
		DurationMS *int64 `json:"duration_ms"`
		Citations  *int   `json:"citations"`
		ToolCalls  int    `json:"tool_calls"`
		ToolErrors *int   `json:"tool_errors"`
	}
	if err := json.Unmarshal(recs[0].Payload, &p); err != nil {
		t.Fatal(err)
	}
	// One call failed its arguments, one named an action the agent may not propose.
	if p.DurationMS == nil || *p.DurationMS < 0 || p.Citations == nil || *p.Citations != len(res.Citations) || len(res.Citations) == 0 ||
		p.ToolCalls != 3 || p.ToolErrors == nil || *p.ToolErrors != 2 {
		t.Errorf("chat.turn payload %s (result has %d citations)", recs[0].Payload, len(res.Citations))
	}
}
