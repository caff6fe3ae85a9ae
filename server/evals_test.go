package server

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/cityagent/cityagent/access"
	"github.com/cityagent/cityagent/evals"
	"github.com/cityagent/cityagent/internal/usererr"
	"github.com/cityagent/cityagent/store"
)

// fakeEvals is a hand-written EvalService.
type fakeEvals struct {
	start func(req evals.RunRequest, by string) (evals.RunStatus, error)
	get   func(id string) (evals.RunStatus, error)
}

var _ EvalService = (*fakeEvals)(nil)

func (f *fakeEvals) Start(_ context.Context, req evals.RunRequest, caller access.Principal) (evals.RunStatus, error) {
	return f.start(req, caller.KeyID)
}
func (f *fakeEvals) Get(id string, _ access.Principal) (evals.RunStatus, error) { return f.get(id) }
func (f *fakeEvals) List(access.Principal) []evals.RunStatus                    { return nil }
func (f *fakeEvals) Turn(context.Context, evals.TurnRequest, access.Principal) (evals.TurnResult, error) {
	return evals.TurnResult{}, nil
}

func startEvalServer(t *testing.T, svc EvalService) (base string, keys map[access.Role]string) {
	t.Helper()
	ctx := context.Background()
	db, err := store.Open(ctx, "", storeDir(t))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	keys = map[access.Role]string{}
	for _, r := range []access.Role{access.RoleOperator, access.RoleDeveloper, access.RoleAdmin} {
		_, secret, err := IssueKey(ctx, db, KeyRequest{Name: string(r), Role: string(r), Clearance: "internal"}, "test", time.Now())
		if err != nil {
			t.Fatal(err)
		}
		keys[r] = secret
	}
	srv := New(Deps{Keys: db, Sessions: db, Evals: svc}, Options{})
	addr := serveLoopback(t, srv)
	return "http://" + addr, keys
}

func evalCall(t *testing.T, base, key, method, path, body string) (*http.Response, string) {
	t.Helper()
	req, _ := http.NewRequest(method, base+path, strings.NewReader(body))
	req.Header.Set("Authorization", "Bearer "+key)
	if body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp, string(b)
}

func TestEvalRoutes(t *testing.T) {
	t.Parallel()
	var gotBy string
	var gotReq evals.RunRequest
	svc := &fakeEvals{
		start: func(req evals.RunRequest, by string) (evals.RunStatus, error) {
			gotReq, gotBy = req, by
			switch req.SuiteYAML {
			case "bad":
				return evals.RunStatus{}, &evals.SuiteError{Problems: []evals.Problem{{File: "suite_yaml", Line: 7, Column: 3, Field: "cases[0].expect.toolz", Message: "unknown field"}}}
			case "preflight":
				return evals.RunStatus{}, &evals.PreflightError{Problems: []evals.Problem{{File: "suite_yaml", Line: 4, Field: "case a", Message: `unknown agent "mayor"`}}}
			case "gate":
				return evals.RunStatus{}, usererr.Wrapf(evals.ErrInvalidGate, "latency_p95_ms is lower-is-better")
			case "busy":
				return evals.RunStatus{}, usererr.Errorf("%w: 16 runs are queued or running", evals.ErrBusy)
			}
			if len(req.Suites) == 1 && req.Suites[0] == "nope" {
				return evals.RunStatus{}, usererr.Wrapf(evals.ErrUnknownSuite, "%q", "nope")
			}
			return evals.RunStatus{ID: "evr_1", Status: "queued", Total: 3}, nil
		},
		get: func(id string) (evals.RunStatus, error) {
			if id != "evr_1" {
				return evals.RunStatus{}, fmt.Errorf("%w: %s", evals.ErrUnknownRun, id)
			}
			return evals.RunStatus{ID: id, Status: "running", Total: 3, Done: 1}, nil
		},
	}
	base, keys := startEvalServer(t, svc)

	resp, body := evalCall(t, base, keys[access.RoleDeveloper], "POST", "/v1/evals/runs", `{"suites":["traffic-basics"],"parallel":2,"fail_over":{"latency_p95_ms":2000}}`)
	if resp.StatusCode != 202 || resp.Header.Get("Location") != "/v1/evals/runs/evr_1" || !strings.Contains(body, `"id":"evr_1"`) {
		t.Fatalf("start: %d %s %s", resp.StatusCode, resp.Header.Get("Location"), body)
	}
	if gotBy == "" || gotReq.Parallel != 2 || gotReq.FailOver["latency_p95_ms"] != 2000 {
		t.Errorf("the service got %+v from %q", gotReq, gotBy)
	}
	resp, body = evalCall(t, base, keys[access.RoleAdmin], "GET", "/v1/evals/runs/evr_1", "")
	var st evals.RunStatus
	if resp.StatusCode != 200 || json.Unmarshal([]byte(body), &st) != nil || st.Done != 1 {
		t.Errorf("get: %d %s", resp.StatusCode, body)
	}

	for name, tc := range map[string]struct {
		role         access.Role
		method, path string
		body         string
		status       int
		want         string
	}{
		"operator may not start": {access.RoleOperator, "POST", "/v1/evals/runs", `{"suites":["all"]}`, 403, "developer"},
		"operator may not read":  {access.RoleOperator, "GET", "/v1/evals/runs/evr_1", "", 403, "developer"},
		"invalid suite":          {access.RoleDeveloper, "POST", "/v1/evals/runs", `{"suite_yaml":"bad"}`, 400, `"field":"suite_yaml:7 cases[0].expect.toolz","message":"unknown field"`},
		"preflight":              {access.RoleDeveloper, "POST", "/v1/evals/runs", `{"suite_yaml":"preflight"}`, 400, `unknown agent \"mayor\"`},
		"unknown suite":          {access.RoleDeveloper, "POST", "/v1/evals/runs", `{"suites":["nope"]}`, 400, `"field":"suites"`},
		"bad gate":               {access.RoleDeveloper, "POST", "/v1/evals/runs", `{"suite_yaml":"gate"}`, 400, "lower-is-better"},
		"unknown field":          {access.RoleDeveloper, "POST", "/v1/evals/runs", `{"suitez":["all"]}`, 400, `"field":"suitez"`},
		"wrong type":             {access.RoleDeveloper, "POST", "/v1/evals/runs", `{"suites":"all"}`, 400, `"field":"suites"`},
		"unknown run":            {access.RoleDeveloper, "GET", "/v1/evals/runs/evr_x", "", 404, "unknown eval run"},
		"busy":                   {access.RoleDeveloper, "POST", "/v1/evals/runs", `{"suite_yaml":"busy"}`, 503, "too many runs"},
	} {
		resp, body := evalCall(t, base, keys[tc.role], tc.method, tc.path, tc.body)
		if resp.StatusCode != tc.status || resp.Header.Get("Content-Type") != "application/problem+json" || !strings.Contains(body, tc.want) {
			t.Errorf("%s: %d %s %s, want %d with %s", name, resp.StatusCode, resp.Header.Get("Content-Type"), body, tc.status, tc.want)
		}
	}

	// Without an eval service the routes answer 503, not 404 or 500.
	base2, keys2 := startEvalServer(t, nil)
	if resp, body := evalCall(t, base2, keys2[access.RoleDeveloper], "POST", "/v1/evals/runs", `{"suites":["all"]}`); resp.StatusCode != 503 {
		t.Errorf("no service: %d %s", resp.StatusCode, body)
	}
}
