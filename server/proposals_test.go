package server

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/cityagent/cityagent/access"
	"github.com/cityagent/cityagent/actions"
	"github.com/cityagent/cityagent/actions/audit"
	"github.com/cityagent/cityagent/internal/usererr"
	"github.com/cityagent/cityagent/store"
)

// fakeProposals is a hand-written ProposalService: decide returns err.
type fakeProposals struct {
	err     error
	decided []string
}

var _ ProposalService = (*fakeProposals)(nil)

func (f *fakeProposals) Types() []actions.TypeInfo { return nil }

func (f *fakeProposals) List(_ context.Context, fl actions.ListFilter, _ access.Principal) ([]actions.Proposal, error) {
	out := []actions.Proposal{}
	for i := range fl.Limit {
		out = append(out, actions.Proposal{ID: fmt.Sprint("prop_", i)})
	}
	return out, nil
}

func (f *fakeProposals) Get(_ context.Context, id string, _ access.Principal) (actions.Proposal, error) {
	return actions.Proposal{ID: id}, f.err
}

func (f *fakeProposals) Approve(_ context.Context, id string, by access.Principal, comment string) (actions.Proposal, error) {
	f.decided = append(f.decided, "approve "+id+" "+by.KeyID+" "+comment)
	return actions.Proposal{ID: id, Status: actions.StatusExecuted}, f.err
}

func (f *fakeProposals) Reject(_ context.Context, id string, by access.Principal, comment string) (actions.Proposal, error) {
	f.decided = append(f.decided, "reject "+id+" "+by.KeyID+" "+comment)
	return actions.Proposal{ID: id, Status: actions.StatusRejected}, f.err
}

func governanceServer(t *testing.T, p ProposalService) (*Server, map[access.Role]string, *store.DB) {
	t.Helper()
	db, err := store.Open(t.Context(), "", storeDir(t))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	keys := map[access.Role]string{}
	for _, r := range access.Roles {
		_, secret, err := IssueKey(t.Context(), db, KeyRequest{Name: string(r), Role: string(r), Clearance: "internal", Department: testDepartment(r)}, "test", time.Now())
		if err != nil {
			t.Fatal(err)
		}
		keys[r] = secret
	}
	deps := Deps{Keys: db, Sessions: db, Proposals: p, AuditLog: db, Audit: db}
	if p == nil {
		deps.Proposals, deps.AuditLog = nil, nil
	}
	return New(deps, Options{}), keys, db
}

func call(t *testing.T, s *Server, method, path, key, body string) (int, string) {
	t.Helper()
	req := httptest.NewRequest(method, path, strings.NewReader(body))
	req.Header.Set("Authorization", "Bearer "+key)
	if body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := s.App().Test(req, 5000)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

func TestProposalErrorsMapToStatuses(t *testing.T) {
	t.Parallel()
	cases := map[string]struct {
		err  error
		want int
	}{
		"ok":           {nil, 200},
		"not found":    {usererr.Errorf("%w: no proposal prop_x", actions.ErrNotFound), 404},
		"role":         {usererr.Errorf("%w: role operator may not decide proposals", actions.ErrForbidden), 403},
		"proposer":     {usererr.Errorf("%w: made on behalf of this key", actions.ErrSelfDecision), 403},
		"decided":      {usererr.Errorf("%w: the proposal is executed", actions.ErrDecided), 409},
		"expired":      {usererr.Errorf("%w at 2026-11-23T10:00:00Z", actions.ErrExpired), 410},
		"bad argument": {&actions.ArgsError{Action: "a.b", Reason: "x is required"}, 400},
		"store broke":  {fmt.Errorf("actions: %w", io.ErrUnexpectedEOF), 500},
	}
	for name, c := range cases {
		f := &fakeProposals{err: c.err}
		s, keys, _ := governanceServer(t, f)
		for _, verb := range []string{"approve", "reject"} {
			code, body := call(t, s, "POST", "/v1/proposals/prop_1/"+verb, keys[access.RoleSupervisor], `{"comment":"同意"}`)
			if code != c.want || (code >= 400 && !strings.Contains(body, `"status":`)) {
				t.Errorf("%s %s: %d %s, want %d", name, verb, code, body, c.want)
			}
			if c.want == 500 && strings.Contains(body, "unexpected EOF") {
				t.Errorf("%s: the cause leaked to the client: %s", name, body)
			}
		}
		if len(f.decided) != 2 || !strings.HasPrefix(f.decided[0], "approve prop_1 key_") || !strings.HasPrefix(f.decided[1], "reject prop_1 key_") || !strings.HasSuffix(f.decided[0], " 同意") {
			t.Errorf("%s: service saw %q", name, f.decided)
		}
	}
}

func TestGovernanceRoutes(t *testing.T) {
	t.Parallel()
	f := &fakeProposals{}
	s, keys, db := governanceServer(t, f)
	if err := db.Audit(t.Context(), audit.Entry{Actor: "x", Kind: audit.KindChatTurn, Subject: "s"}, audit.Entry{Actor: "y", Kind: audit.KindToolCall, Subject: "t"}); err != nil {
		t.Fatal(err)
	}
	cases := map[string]struct {
		method, path string
		role         access.Role
		body         string
		want         int
		contains     string
	}{
		"list":                   {"GET", "/v1/proposals?limit=2", access.RoleOperator, "", 200, `"next_before":"prop_1"`},
		"list by hotline":        {"GET", "/v1/proposals", access.RoleHotline, "", 403, ""},
		"list bad status":        {"GET", "/v1/proposals?status=done", access.RoleOperator, "", 400, `"field":"status"`},
		"list bad limit":         {"GET", "/v1/proposals?limit=500", access.RoleOperator, "", 400, `"field":"limit"`},
		"get":                    {"GET", "/v1/proposals/prop_9", access.RoleDeveloper, "", 200, `"id":"prop_9"`},
		"decide without body":    {"POST", "/v1/proposals/prop_9/approve", access.RoleSupervisor, "", 200, `"status":"executed"`},
		"decide unknown field":   {"POST", "/v1/proposals/prop_9/approve", access.RoleSupervisor, `{"coment":"x"}`, 400, `"field":"coment"`},
		"decide long comment":    {"POST", "/v1/proposals/prop_9/reject", access.RoleSupervisor, `{"comment":"` + strings.Repeat("长", 1001) + `"}`, 400, `"field":"comment"`},
		"audit by developer":     {"GET", "/v1/audit?limit=1", access.RoleDeveloper, "", 200, `"next_before":"`},
		"audit ascending":        {"GET", "/v1/audit?after=0&limit=1", access.RoleAdmin, "", 200, `"next_after":"1"`},
		"audit kind":             {"GET", "/v1/audit?kind=tool.", access.RoleAdmin, "", 200, `"kind":"tool.call"`},
		"audit both cursors":     {"GET", "/v1/audit?after=1&before=2", access.RoleAdmin, "", 400, `"field":"after"`},
		"audit bad limit":        {"GET", "/v1/audit?limit=0", access.RoleAdmin, "", 400, `"field":"limit"`},
		"audit by supervisor":    {"GET", "/v1/audit", access.RoleSupervisor, "", 403, ""},
		"audit by operator":      {"GET", "/v1/audit/verify", access.RoleOperator, "", 403, ""},
		"verify":                 {"GET", "/v1/audit/verify", access.RoleDeveloper, "", 200, `"ok":true`},
		"verify with bad anchor": {"GET", "/v1/audit/verify?anchor=1:zz", access.RoleDeveloper, "", 400, `"field":"anchor"`},
		"actions":                {"GET", "/v1/actions", access.RoleOperator, "", 200, `"actions"`},
	}
	for name, c := range cases {
		code, body := call(t, s, c.method, c.path, keys[c.role], c.body)
		if code != c.want || !strings.Contains(body, c.contains) {
			t.Errorf("%s: %d %s, want %d with %s", name, code, body, c.want, c.contains)
		}
	}
	var rep audit.Report
	_, body := call(t, s, "GET", "/v1/audit/verify", keys[access.RoleAdmin], "")
	if err := json.Unmarshal([]byte(body), &rep); err != nil || !rep.OK || rep.Records < 2 {
		t.Errorf("verify report: %s", body)
	}

	// A server without governance answers 503, not 404 or 500.
	off, offKeys, _ := governanceServer(t, nil)
	for _, p := range []string{"/v1/proposals", "/v1/audit", "/v1/audit/verify", "/v1/actions"} {
		if code, _ := call(t, off, "GET", p, offKeys[access.RoleAdmin], ""); code != 503 {
			t.Errorf("GET %s without governance: %d, want 503", p, code)
		}
	}
}

func TestKeyChangesAreAudited(t *testing.T) {
	t.Parallel()
	s, keys, db := governanceServer(t, &fakeProposals{})
	code, body := call(t, s, "POST", "/v1/keys", keys[access.RoleAdmin], `{"name":"desk","role":"operator","clearance":"public"}`)
	if code != 201 {
		t.Fatalf("create key: %d %s", code, body)
	}
	var k struct{ ID, Key string }
	_ = json.Unmarshal([]byte(body), &k)
	if code, _ := call(t, s, "DELETE", "/v1/keys/"+k.ID, keys[access.RoleAdmin], ""); code != 204 {
		t.Fatalf("revoke: %d", code)
	}
	recs, err := db.ListAudit(t.Context(), store.AuditFilter{Subject: k.ID, Ascending: true})
	if err != nil || len(recs) != 2 || recs[0].Kind != audit.KindKeyCreate || recs[1].Kind != audit.KindKeyRevoke {
		t.Fatalf("key audit records: %+v %v", recs, err)
	}
	if strings.Contains(string(recs[0].Payload), k.Key) || strings.Contains(string(recs[0].Payload), access.HashKey(k.Key)) {
		t.Errorf("the key's secret or hash is in the audit log: %s", recs[0].Payload)
	}
}
