package server

import (
	"context"
	"encoding/json"
	"net/http"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/cityagent/cityagent/access"
	"github.com/cityagent/cityagent/actions"
	"github.com/cityagent/cityagent/hotline"
	"github.com/cityagent/cityagent/internal/pgtest"
	"github.com/cityagent/cityagent/store"
)

// testDepartment is the department of the test keys of role department.
func testDepartment(r access.Role) string {
	if r == access.RoleDepartment {
		return "water"
	}
	return ""
}

// testClock is the hotline's clock in the lifecycle tests: deadlines and
// supervision follow it, so overdue needs no waiting.
type testClock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *testClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *testClock) Add(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

// lifecycleEnv is a server with the real hotline (rules triage), the action
// service dispatching through governed proposals, keys issued through
// POST /v1/keys, on a real listener over db.
type lifecycleEnv struct {
	base  string
	db    *store.DB
	svc   *hotline.Service
	clock *testClock
	keys  map[string]string // by name: admin, hotline, supervisor, water, power
}

// newLifecycleEnv builds the env; pauseRule names a deadline rule that, in
// this env, lets the clock pause ("" keeps the shipped rules).
func newLifecycleEnv(t *testing.T, db *store.DB, pauseRule string) *lifecycleEnv {
	t.Helper()
	t.Cleanup(func() { db.Close() })
	tax := hotline.DefaultTaxonomy()
	for i := range tax.Deadlines {
		if tax.Deadlines[i].Name == pauseRule {
			tax.Deadlines[i].PauseForCitizen = true
		}
	}
	acat, err := actions.LoadCatalog("")
	if err != nil {
		t.Fatal(err)
	}
	asvc, err := actions.NewService(actions.Config{Catalog: acat, Store: db, Executors: map[string]actions.Executor{"store.dispatch": actions.NewStoreDispatch(db)}})
	if err != nil {
		t.Fatal(err)
	}
	clock := &testClock{t: time.Now().UTC().Truncate(time.Second)}
	svc, err := hotline.NewService(hotline.Config{Taxonomy: tax, Store: db, Now: clock.Now, Dispatcher: hotline.GovernedDispatcher{Gov: asvc}})
	if err != nil {
		t.Fatal(err)
	}
	srv := New(Deps{Keys: db, Proposals: asvc, AuditLog: db, Audit: db, Hotline: svc}, Options{BodyLimit: 64 << 10})
	e := &lifecycleEnv{base: "http://" + serveLoopback(t, srv), db: db, svc: svc, clock: clock, keys: map[string]string{}}
	_, admin, err := IssueKey(t.Context(), db, KeyRequest{Name: "admin", Role: "admin", Clearance: "restricted"}, "test", time.Now())
	if err != nil {
		t.Fatal(err)
	}
	e.keys["admin"] = admin
	for _, k := range []struct{ name, body string }{
		{"hotline", `{"name":"12345 centre","role":"hotline","clearance":"public"}`},
		{"supervisor", `{"name":"supervisor","role":"supervisor","clearance":"internal"}`},
		{"water", `{"name":"water desk","role":"department","clearance":"public","department":"water"}`},
		{"power", `{"name":"power desk","role":"department","clearance":"public","department":"power"}`},
	} {
		code, out := e.do(t, "POST", "/v1/keys", "admin", k.body)
		if code != 201 || out["key"] == "" {
			t.Fatalf("create key %s: %d %v", k.name, code, out)
		}
		e.keys[k.name] = out["key"].(string)
	}
	return e
}

// do sends a JSON request with the named key and decodes the JSON answer.
func (e *lifecycleEnv) do(t *testing.T, method, path, key, body string) (int, map[string]any) {
	t.Helper()
	req, _ := http.NewRequest(method, e.base+path, strings.NewReader(body))
	req.Header.Set("Authorization", "Bearer "+e.keys[key])
	if body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, b, err := roundTrip(http.DefaultClient, req)
	if err != nil {
		t.Fatal(err)
	}
	var out map[string]any
	if len(b) > 0 && json.Unmarshal(b, &out) != nil {
		t.Fatalf("%s %s: not JSON: %s", method, path, b)
	}
	if resp.StatusCode >= 400 && resp.Header.Get("Content-Type") != "application/problem+json" {
		t.Errorf("%s %s: %d with Content-Type %q", method, path, resp.StatusCode, resp.Header.Get("Content-Type"))
	}
	return resp.StatusCode, out
}

// act takes an action and wants status want; it returns the ticket.
func (e *lifecycleEnv) act(t *testing.T, key, id, action, body string, want int) map[string]any {
	t.Helper()
	code, out := e.do(t, "POST", "/v1/hotline/tickets/"+id+"/"+action, key, body)
	if code != want {
		t.Fatalf("%s %s by %s: %d %v (want %d)", action, id, key, code, out, want)
	}
	if tk, ok := out["ticket"].(map[string]any); ok {
		return tk
	}
	return out
}

const waterOutage = `{"text":"我们小区从今天早上就停水了，到现在还没来水","channel":"phone","location":{"address":"幸福里小区5栋"}}`

// dispatched files a water outage and approves its dispatch proposal as
// the supervisor: the ticket is dispatched to the water department.
func (e *lifecycleEnv) dispatched(t *testing.T) string {
	t.Helper()
	code, tk := e.do(t, "POST", "/v1/hotline/tickets", "hotline", waterOutage)
	if code != 201 || tk["department"] != "water" || tk["status"] != hotline.StatusPendingApproval {
		t.Fatalf("create: %d %v", code, tk)
	}
	id := tk["ticket_id"].(string)
	prop := tk["dispatch"].(map[string]any)["proposal_id"].(string)
	if code, p := e.do(t, "POST", "/v1/proposals/"+prop+"/approve", "supervisor", `{"comment":"派单"}`); code != 200 || p["status"] != actions.StatusExecuted {
		t.Fatalf("approve: %d %v", code, p)
	}
	return id
}

// open311IDs lists the service_request_ids of Open311 requests.json with
// the given status, as the hotline key sees them.
func (e *lifecycleEnv) open311IDs(t *testing.T, status string) []string {
	t.Helper()
	req, _ := http.NewRequest("GET", e.base+"/open311/v2/requests.json?status="+status+"&api_key="+e.keys["hotline"], nil)
	resp, b, err := roundTrip(http.DefaultClient, req)
	if err != nil || resp.StatusCode != 200 {
		t.Fatalf("open311 requests: %v %s", err, b)
	}
	var list []struct {
		ID string `json:"service_request_id"`
	}
	if err := json.Unmarshal(b, &list); err != nil {
		t.Fatalf("open311 requests: %v %s", err, b)
	}
	ids := make([]string, len(list))
	for i, r := range list {
		ids[i] = r.ID
	}
	return ids
}

func lifecycleOf(tk map[string]any) map[string]any {
	lc, _ := tk["lifecycle"].(map[string]any)
	return lc
}

// statusesOf lists the transitions of a ticket as from→to.
func (e *lifecycleEnv) statusesOf(t *testing.T, id string) []string {
	t.Helper()
	code, out := e.do(t, "GET", "/v1/hotline/tickets/"+id+"/transitions", "supervisor", "")
	if code != 200 {
		t.Fatalf("transitions: %d %v", code, out)
	}
	var s []string
	for i, tr := range out["transitions"].([]any) {
		m := tr.(map[string]any)
		if int(m["seq"].(float64)) != i+1 || m["actor"] == "" || m["at"] == "" {
			t.Errorf("transition %d = %v", i, m)
		}
		s = append(s, m["from"].(string)+"→"+m["to"].(string))
	}
	return s
}

func queueIDs(out map[string]any) []string {
	var ids []string
	for _, x := range out["tickets"].([]any) {
		ids = append(ids, x.(map[string]any)["ticket_id"].(string))
	}
	return ids
}

// TestTicketLifecycle takes tickets through every path of the lifecycle
// over the HTTP API with real keys, on SQLite and PostgreSQL, and verifies
// the audit chain at the end.
func TestTicketLifecycle(t *testing.T) {
	t.Parallel()
	pgURL := postgresURL(t)
	backends := map[string]func(t *testing.T) *store.DB{
		"sqlite": func(t *testing.T) *store.DB { return openStore(t, "", storeDir(t)) },
		"postgres": func(t *testing.T) *store.DB {
			return openStore(t, pgtest.NewDatabase(t, pgURL), "")
		},
	}
	for name, open := range backends {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			e := newLifecycleEnv(t, open(t), "utilities")
			t.Run("satisfied", e.testSatisfied)
			t.Run("returned and re-dispatched", e.testReturned)
			t.Run("overdue and escalated", e.testOverdue)
			t.Run("unsatisfied and reopened", e.testReopened)
			t.Run("merged duplicate", e.testMerged)
			t.Run("illegal transitions", e.testIllegal)
			t.Run("department scoping", e.testScoping)
			t.Run("clock pauses", e.testPause)
			t.Run("concurrent accepts", e.testConcurrent)
			code, rep := e.do(t, "GET", "/v1/audit/verify", "admin", "")
			if code != 200 || rep["ok"] != true {
				t.Fatalf("audit verify: %d %v", code, rep)
			}
			code, recs := e.do(t, "GET", "/v1/audit?kind=hotline.ticket_transition&limit=500", "admin", "")
			if code != 200 || len(recs["records"].([]any)) < 30 {
				t.Errorf("transition audit records: %d %v", code, len(recs["records"].([]any)))
			}
		})
	}
}

func openStore(t *testing.T, url, dir string) *store.DB {
	t.Helper()
	db, err := store.Open(context.Background(), url, dir)
	if err != nil {
		t.Fatal(err)
	}
	return db
}

func (e *lifecycleEnv) testSatisfied(t *testing.T) {
	id := e.dispatched(t)
	code, q := e.do(t, "GET", "/v1/hotline/queue?limit=100", "water", "")
	if code != 200 || !slices.Contains(queueIDs(q), id) {
		t.Fatalf("water queue: %d %v", code, q)
	}
	tk := e.act(t, "water", id, "accept", "", 200)
	if tk["status"] != hotline.StatusAccepted || lifecycleOf(tk)["accepted_at"] == nil {
		t.Errorf("accepted: %v", tk)
	}
	e.act(t, "water", id, "progress", `{"note":"抢修队已到场，正在更换爆裂的水管，已电话联系市民13812345678"}`, 200)
	if trs, err := e.db.TicketTransitions(t.Context(), id); err != nil || !strings.Contains(trs[len(trs)-1].Note, "138****5678") ||
		strings.Contains(trs[len(trs)-1].Note, "13812345678") {
		t.Errorf("the progress note keeps the caller's phone: %+v %v", trs, err)
	}
	if tk := e.act(t, "water", id, "reply", `{"text":"收到"}`, 400); !strings.Contains(tk["errors"].([]any)[0].(map[string]any)["message"].(string), "acknowledgement") {
		t.Errorf("an acknowledgement passed as a reply: %v", tk)
	}
	e.act(t, "water", id, "reply", `{"text":"我们会尽快"}`, 400) // states nothing done for a request for help
	tk = e.act(t, "water", id, "reply", `{"text":"经核实为小区主管道爆裂，抢修队已更换水管，17时恢复供水。"}`, 200)
	if tk["status"] != hotline.StatusReplied || tk["resolution"] == "" || lifecycleOf(tk)["replied_at"] == nil {
		t.Errorf("replied: %v", tk)
	}
	e.act(t, "water", id, "visit", `{"satisfaction":"satisfied","solved":true}`, 403) // the department does not assess itself
	e.act(t, "hotline", id, "visit", `{"satisfaction":"satisfied"}`, 400)             // solved is required
	tk = e.act(t, "hotline", id, "visit", `{"satisfaction":"satisfied","solved":true,"note":"市民表示满意"}`, 200)
	lc := lifecycleOf(tk)
	if tk["status"] != hotline.StatusClosed || lc["satisfaction"] != "satisfied" || lc["solved"] != true || lc["open311_status"] != "closed" ||
		tk["closed_at"] == nil || len(lc["next_actions"].([]any)) != 0 {
		t.Errorf("closed: %v", tk)
	}
	want := []string{"triaged→pending_approval", "pending_approval→dispatched", "dispatched→accepted", "accepted→in_progress", "in_progress→replied", "replied→closed"}
	if got := e.statusesOf(t, id); !slices.Equal(got, want) {
		t.Errorf("transitions = %v, want %v", got, want)
	}
}

func (e *lifecycleEnv) testReturned(t *testing.T) {
	id := e.dispatched(t)
	e.act(t, "water", id, "return", `{}`, 400) // a reason is required
	tk := e.act(t, "water", id, "return", `{"reason":"该小区由二次供水泵房物业负责，非市政供水管网"}`, 200)
	if tk["status"] != hotline.StatusReturned || lifecycleOf(tk)["returned"] != 1.0 {
		t.Errorf("returned: %v", tk)
	}
	if _, q := e.do(t, "GET", "/v1/hotline/queue?limit=100", "water", ""); slices.Contains(queueIDs(q), id) {
		t.Error("a returned ticket stays in the department's queue")
	}
	if _, q := e.do(t, "GET", "/v1/hotline/queue?limit=100&status=returned", "supervisor", ""); !slices.Contains(queueIDs(q), id) {
		t.Error("the supervisor does not see the returned ticket")
	}
	e.act(t, "water", id, "dispatch", `{"department":"power"}`, 403)     // re-dispatch is the supervisor's
	e.act(t, "supervisor", id, "dispatch", `{"department":"mars"}`, 400) // not a department
	tk = e.act(t, "supervisor", id, "dispatch", `{"department":"power","note":"二次供水泵房停电，转供电公司"}`, 200)
	if tk["status"] != hotline.StatusDispatched || tk["department"] != "power" {
		t.Errorf("re-dispatched: %v", tk)
	}
	e.act(t, "water", id, "accept", "", 404) // no longer water's: not revealed
	e.act(t, "power", id, "accept", "", 200)
	want := []string{"triaged→pending_approval", "pending_approval→dispatched", "dispatched→returned", "returned→dispatched", "dispatched→accepted"}
	if got := e.statusesOf(t, id); !slices.Equal(got, want) {
		t.Errorf("transitions = %v", got)
	}
}

func (e *lifecycleEnv) testOverdue(t *testing.T) {
	id := e.dispatched(t)
	e.act(t, "water", id, "accept", "", 200)
	ctx := t.Context()
	e.clock.Add(20 * time.Hour) // 83 % of the 24 h
	r, err := e.svc.Supervise(ctx)
	if err != nil || r.Warned < 1 {
		t.Fatalf("supervise at 20h: %+v %v", r, err)
	}
	if _, q := e.do(t, "GET", "/v1/hotline/queue?limit=100&overdue=true", "supervisor", ""); slices.Contains(queueIDs(q), id) {
		t.Error("overdue before the deadline")
	}
	e.clock.Add(5 * time.Hour)
	if r, err = e.svc.Supervise(ctx); err != nil || r.Overdue < 1 {
		t.Fatalf("supervise at 25h: %+v %v", r, err)
	}
	if r, err = e.svc.Supervise(ctx); err != nil || r != (hotline.SupervisionResult{}) {
		t.Errorf("a second pass flagged again: %+v %v", r, err)
	}
	if _, q := e.do(t, "GET", "/v1/hotline/queue?limit=100&overdue=true", "supervisor", ""); !slices.Contains(queueIDs(q), id) {
		t.Error("the overdue ticket is not escalated to the supervisor's queue")
	}
	_, q := e.do(t, "GET", "/v1/hotline/queue?limit=100&overdue=true", "water", "")
	if !slices.Contains(queueIDs(q), id) {
		t.Fatal("the department does not see its overdue ticket")
	}
	for _, x := range q["tickets"].([]any) {
		if tk := x.(map[string]any); tk["ticket_id"] == id && (lifecycleOf(tk)["overdue"] != true || lifecycleOf(tk)["warned"] != true) {
			t.Errorf("overdue ticket = %v", lifecycleOf(tk))
		}
	}
	for _, kind := range []string{hotline.KindTicketWarning, hotline.KindTicketOverdue} {
		code, recs := e.do(t, "GET", "/v1/audit?kind="+kind+"&subject="+id, "admin", "")
		if code != 200 || len(recs["records"].([]any)) != 1 {
			t.Errorf("%s records: %d %v", kind, code, recs)
		}
	}
	e.clock.Add(-25 * time.Hour)
}

func (e *lifecycleEnv) testReopened(t *testing.T) {
	id := e.dispatched(t)
	e.act(t, "water", id, "accept", "", 200)
	e.act(t, "water", id, "reply", `{"text":"已安排人员检修，已恢复供水。"}`, 200)
	e.act(t, "hotline", id, "visit", `{"satisfaction":"unsatisfied","solved":false}`, 400) // the reason is required
	tk := e.act(t, "hotline", id, "visit", `{"satisfaction":"unsatisfied","solved":false,"note":"水压仍然很低，高层用不上水"}`, 200)
	if tk["status"] != hotline.StatusReopened || lifecycleOf(tk)["reopened"] != 1.0 || lifecycleOf(tk)["satisfaction"] != "unsatisfied" {
		t.Errorf("reopened: %v", tk)
	}
	if _, q := e.do(t, "GET", "/v1/hotline/queue?limit=100&status=reopened", "water", ""); !slices.Contains(queueIDs(q), id) {
		t.Error("the reopened ticket is not back in the department's queue")
	}
	e.act(t, "water", id, "reply", `{"text":"已调整加压泵站运行参数，高层水压已恢复正常。"}`, 200)
	tk = e.act(t, "hotline", id, "visit", `{"satisfaction":"basically_satisfied","solved":true}`, 200)
	if tk["status"] != hotline.StatusClosed || lifecycleOf(tk)["satisfaction"] != "basically_satisfied" {
		t.Errorf("closed: %v", tk)
	}
	got := e.statusesOf(t, id)
	if !slices.Contains(got, "replied→reopened") || !slices.Contains(got, "reopened→replied") || got[len(got)-1] != "replied→closed" {
		t.Errorf("transitions = %v", got)
	}
}

func (e *lifecycleEnv) testMerged(t *testing.T) {
	first, dup := e.dispatched(t), e.dispatched(t)
	e.act(t, "water", dup, "merge", `{"into":"`+dup+`"}`, 400)
	e.act(t, "water", dup, "merge", `{"into":"tkt_nosuchticket"}`, 400)
	tk := e.act(t, "water", dup, "merge", `{"into":"`+first+`","note":"同一小区同一停水事件"}`, 200)
	if tk["status"] != hotline.StatusMerged || lifecycleOf(tk)["merged_into"] != first || lifecycleOf(tk)["open311_status"] != "closed" {
		t.Errorf("merged: %v", tk)
	}
	e.act(t, "water", first, "merge", `{"into":"`+dup+`"}`, 400) // not into a finished ticket
	// Open311: a merged ticket is finished, so it filters as closed.
	for st, want := range map[string]bool{"closed": true, "open": false} {
		if got := slices.Contains(e.open311IDs(t, st), dup); got != want {
			t.Errorf("Open311 status=%s lists the merged ticket: %v, want %v", st, got, want)
		}
	}
	if !slices.Contains(e.open311IDs(t, "open"), first) {
		t.Error("Open311 status=open leaves out the open ticket")
	}
	out := e.act(t, "water", dup, "accept", "", 409)
	if next, ok := out["allowed_next"]; ok && len(next.([]any)) > 0 {
		t.Errorf("a merged ticket has next statuses: %v", out)
	}
}

func (e *lifecycleEnv) testIllegal(t *testing.T) {
	id := e.dispatched(t)
	out := e.act(t, "water", id, "reply", `{"text":"已修复。"}`, 409)
	next := out["allowed_next"].([]any)
	if !slices.Contains(next, any(hotline.StatusAccepted)) || !slices.Contains(next, any(hotline.StatusReturned)) || slices.Contains(next, any(hotline.StatusReplied)) {
		t.Errorf("409 for reply before accept = %v", out)
	}
	e.act(t, "water", id, "accept", "", 200)
	out = e.act(t, "water", id, "accept", "", 409)
	if want := []any{"in_progress", "merged", "replied", "returned"}; !slices.Equal(out["allowed_next"].([]any), want) || !strings.Contains(out["detail"].(string), "progress") {
		t.Errorf("409 for a second accept = %v", out)
	}
	e.act(t, "hotline", id, "visit", `{"satisfaction":"satisfied","solved":true}`, 409)
	e.act(t, "water", id, "progress", `{"note":"x","extra":1}`, 400) // unknown field
}

func (e *lifecycleEnv) testScoping(t *testing.T) {
	id := e.dispatched(t)
	e.act(t, "power", id, "accept", "", 404)
	e.act(t, "power", id, "return", `{"reason":"不是我们的"}`, 404)
	if code, _ := e.do(t, "GET", "/v1/hotline/tickets/"+id+"/transitions", "power", ""); code != 404 {
		t.Errorf("another department's history: %d", code)
	}
	if _, q := e.do(t, "GET", "/v1/hotline/queue?limit=100", "power", ""); slices.Contains(queueIDs(q), id) {
		t.Error("the power department sees a water ticket")
	}
	if code, _ := e.do(t, "GET", "/v1/hotline/queue?limit=100&department=water", "power", ""); code != 403 {
		t.Errorf("a department key reading another queue: %d", code)
	}
	e.act(t, "hotline", id, "accept", "", 403) // a hotline key cannot act as a department
	if out := e.act(t, "hotline", id, "dispatch", `{"department":"power"}`, 403); !strings.Contains(out["detail"].(string), "supervisor-only") || strings.Contains(out["detail"].(string), "department role") {
		t.Errorf("dispatch by a hotline key: %v", out)
	}
	for _, r := range []struct{ method, path, body string }{
		{"POST", "/v1/hotline/tickets", waterOutage},
		{"GET", "/v1/hotline/tickets/" + id, ""},
		{"GET", "/v1/hotline/tickets", ""},
		{"GET", "/v1/proposals", ""},
		{"GET", "/v1/keys", ""},
	} {
		if code, _ := e.do(t, r.method, r.path, "water", r.body); code != 403 {
			t.Errorf("department key on %s %s: %d", r.method, r.path, code)
		}
	}
	for _, body := range []string{
		`{"name":"x","role":"department","clearance":"public"}`,
		`{"name":"x","role":"department","clearance":"public","department":"mars"}`,
		`{"name":"x","role":"operator","clearance":"public","department":"water"}`,
	} {
		if code, out := e.do(t, "POST", "/v1/keys", "admin", body); code != 400 || out["errors"].([]any)[0].(map[string]any)["field"] != "department" {
			t.Errorf("key %s: %d %v", body, code, out)
		}
	}
	if code, out := e.do(t, "GET", "/v1/hotline/queue?limit=100&department=water&status=dispatched", "supervisor", ""); code != 200 || !slices.Contains(queueIDs(out), id) {
		t.Errorf("supervisor queue: %d %v", code, out)
	}
	if code, _ := e.do(t, "GET", "/v1/hotline/queue?limit=100&status=bogus", "supervisor", ""); code != 400 {
		t.Errorf("bad status filter: %d", code)
	}
}

func (e *lifecycleEnv) testPause(t *testing.T) {
	id := e.dispatched(t)
	tk := e.act(t, "water", id, "accept", "", 200)
	deadline, _ := time.Parse(time.RFC3339, tk["deadline"].(string))
	e.act(t, "water", id, "accept", `{"note":"x","waiting_for_citizen":true}`, 400) // unknown field of accept
	tk = e.act(t, "water", id, "progress", `{"note":"需入户查看水表，已约市民，等待市民在家","waiting_for_citizen":true}`, 200)
	if lifecycleOf(tk)["clock_paused_since"] == nil {
		t.Fatalf("not paused: %v", tk)
	}
	e.act(t, "water", id, "progress", `{"note":"again","waiting_for_citizen":true}`, 400) // paused already
	e.clock.Add(30 * time.Hour)                                                           // past the original deadline, paused
	if _, err := e.svc.Supervise(t.Context()); err != nil || e.flagged(t, id) {
		t.Errorf("a paused ticket was flagged: %v", err)
	}
	tk = e.act(t, "water", id, "progress", `{"note":"市民已在家，入户检修中"}`, 200)
	moved, _ := time.Parse(time.RFC3339, tk["deadline"].(string))
	if lc := lifecycleOf(tk); lc["clock_paused_since"] != nil || lc["paused_seconds"] != 30*3600.0 || !moved.Equal(deadline.Add(30*time.Hour)) {
		t.Errorf("resumed: deadline %s → %s, %v", deadline, moved, lc)
	}
	_, h := e.do(t, "GET", "/v1/hotline/tickets/"+id+"/transitions", "water", "")
	trs := h["transitions"].([]any)
	if note := trs[len(trs)-1].(map[string]any)["note"].(string); !strings.Contains(note, "clock resumed after 30h0m0s") {
		t.Errorf("resume note = %q", note)
	}
	e.clock.Add(-30 * time.Hour)
}

// flagged reports whether the ticket was found overdue.
func (e *lifecycleEnv) flagged(t *testing.T, id string) bool {
	st, err := e.db.GetTicket(t.Context(), id)
	if err != nil {
		t.Fatal(err)
	}
	return st.Lifecycle.OverdueAt != nil || st.Lifecycle.WarnedAt != nil
}

func (e *lifecycleEnv) testConcurrent(t *testing.T) {
	id := e.dispatched(t)
	e.do(t, "GET", "/v1/hotline/queue?limit=100", "water", "") // follow the approval first
	const n = 6
	codes := make(chan int, n)
	var wg sync.WaitGroup
	for range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			req, _ := http.NewRequest("POST", e.base+"/v1/hotline/tickets/"+id+"/accept", nil)
			req.Header.Set("Authorization", "Bearer "+e.keys["water"])
			resp, _, err := roundTrip(http.DefaultClient, req)
			if err != nil {
				t.Error(err)
				return
			}
			codes <- resp.StatusCode
		}()
	}
	wg.Wait()
	close(codes)
	var won, lost int
	for c := range codes {
		switch c {
		case 200:
			won++
		case 409:
			lost++
		default:
			t.Errorf("concurrent accept: %d", c)
		}
	}
	if won != 1 || lost != n-1 {
		t.Errorf("concurrent accepts: %d won, %d lost", won, lost)
	}
	if got := e.statusesOf(t, id); len(got) != 3 {
		t.Errorf("transitions = %v", got)
	}
}

// TestTicketPauseNeedsTheRule: the shipped utilities rule does not let the
// clock of a water outage pause.
func TestTicketPauseNeedsTheRule(t *testing.T) {
	t.Parallel()
	e := newLifecycleEnv(t, openStore(t, "", storeDir(t)), "")
	id := e.dispatched(t)
	e.act(t, "water", id, "accept", "", 200)
	out := e.act(t, "water", id, "progress", `{"note":"等待市民","waiting_for_citizen":true}`, 400)
	if fe := out["errors"].([]any)[0].(map[string]any); fe["field"] != "waiting_for_citizen" || !strings.Contains(fe["message"].(string), "utilities") {
		t.Errorf("pause refused with %v", out)
	}
}

// FuzzTicketLifecycleRoute sends fuzzed bodies to the lifecycle actions:
// never a 5xx, always a problem.
func FuzzTicketLifecycleRoute(f *testing.F) {
	var routes []fuzzRoute
	for _, a := range []string{"accept", "return", "progress", "reply", "visit", "merge", "dispatch"} {
		routes = append(routes, fuzzRoute{"POST", "/v1/hotline/tickets/tkt_nope/" + a, access.RoleSupervisor, false},
			fuzzRoute{"POST", "/v1/hotline/tickets/tkt_nope/" + a, access.RoleDepartment, false})
	}
	routes = append(routes, fuzzRoute{"GET", "/v1/hotline/queue?status=%00&overdue=maybe&limit=0", access.RoleDepartment, false},
		fuzzRoute{"POST", "/v1/hotline/tickets/%00/accept", access.RoleSupervisor, false})
	fuzzRoutes(f, routes, []string{``, `{}`, `{"note":"x"}`, `{"reason":""}`, `{"text":"已修复。"}`, `{"satisfaction":"meh","solved":"yes"}`,
		`{"into":"tkt_nope"}`, `{"department":"water","note":"\u202e"}`, `{"waiting_for_citizen":1}`, `{"note":"a","extra":true}`})
}
