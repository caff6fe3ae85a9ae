package server

import (
	"slices"
	"testing"

	"github.com/cityagent/cityagent/hotline"
)

// TestCloseThroughLifecycle: the older POST …/close follows the transition
// table. A department's open work is not closed (409 with the statuses
// allowed next); a replied ticket closes without a return visit, keeping
// the department's reply, with the transition recorded; a finished ticket
// is 409; department keys do not close.
func TestCloseThroughLifecycle(t *testing.T) {
	t.Parallel()
	e := newLifecycleEnv(t, openStore(t, "", storeDir(t)), "")
	id := e.dispatched(t)
	const resolution = `{"resolution":"已电话答复市民"}`
	code, p := e.do(t, "POST", "/v1/hotline/tickets/"+id+"/close", "hotline", resolution)
	allowed, _ := p["allowed_next"].([]any)
	if code != 409 || !slices.Contains(allowed, any(hotline.StatusAccepted)) || slices.Contains(allowed, any(hotline.StatusClosed)) {
		t.Errorf("close a dispatched ticket: %d %v", code, p)
	}
	e.act(t, "water", id, "accept", "", 200)
	e.act(t, "hotline", id, "close", resolution, 409)
	e.act(t, "water", id, "close", resolution, 403) // not a department's action
	const reply = "经核实为小区主管道爆裂，抢修队已更换水管，17时恢复供水。"
	e.act(t, "water", id, "reply", `{"text":"`+reply+`"}`, 200)
	e.act(t, "hotline", id, "close", `{"resolution":""}`, 400)
	tk := e.act(t, "hotline", id, "close", `{"resolution":"市民电话无人接听，按规则办结"}`, 200)
	if tk["status"] != hotline.StatusClosed || tk["resolution"] != reply || tk["closed_at"] == nil || lifecycleOf(tk)["open311_status"] != "closed" {
		t.Errorf("closed: %v", tk)
	}
	want := []string{"triaged→pending_approval", "pending_approval→dispatched", "dispatched→accepted", "accepted→replied", "replied→closed"}
	if got := e.statusesOf(t, id); !slices.Equal(got, want) {
		t.Errorf("transitions = %v, want %v", got, want)
	}
	code, p = e.do(t, "POST", "/v1/hotline/tickets/"+id+"/close", "hotline", resolution)
	if code != 409 || p["allowed_next"] != nil && len(p["allowed_next"].([]any)) != 0 {
		t.Errorf("close a closed ticket: %d %v", code, p)
	}
	code, rep := e.do(t, "GET", "/v1/audit/verify", "admin", "")
	if code != 200 || rep["ok"] != true {
		t.Fatalf("audit verify: %d %v", code, rep)
	}
	code, recs := e.do(t, "GET", "/v1/audit?kind=hotline.ticket_close&limit=10", "admin", "")
	if code != 200 || len(recs["records"].([]any)) != 1 {
		t.Errorf("close audit records: %d %v", code, recs)
	}
}
