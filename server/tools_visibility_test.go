package server

import (
	"context"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/cityagent/cityagent/access"
	"github.com/cityagent/cityagent/agents"
	"github.com/cityagent/cityagent/store"
	"github.com/cityagent/cityagent/tools"
	"github.com/cityagent/cityagent/tools/openapi"
)

// listedTools is GET /v1/tools for key: the names, and the whole body.
func listedTools(t *testing.T, base, key string) (map[string]bool, string) {
	t.Helper()
	resp, b := apiCall(t, "GET", base+"/v1/tools?detail=true", key, "")
	var out struct{ Tools []struct{ Name string } }
	if resp.StatusCode != 200 || json.Unmarshal(b, &out) != nil {
		t.Fatalf("GET /v1/tools: %d %s", resp.StatusCode, b)
	}
	names := map[string]bool{}
	for _, tl := range out.Tools {
		names[tl.Name] = true
	}
	return names, string(b)
}

// sameAsMissing fails unless the answers for a hidden and a missing tool
// are the same but for the name.
func sameAsMissing(t *testing.T, what string, hiddenStatus, missingStatus int, hidden, missing []byte, hiddenName, missingName string) {
	t.Helper()
	strip := func(b []byte, name string) string {
		var p Problem
		_ = json.Unmarshal(b, &p)
		return strings.ReplaceAll(p.Detail, name, "NAME") + "|" + p.Title
	}
	if hiddenStatus != missingStatus || strip(hidden, hiddenName) != strip(missing, missingName) {
		t.Fatalf("%s: hidden %d %s, missing %d %s: they must look alike", what, hiddenStatus, hidden, missingStatus, missing)
	}
}

// TestToolListFollowsClearance: GET /v1/tools (from the registry) shows a
// key only the tools its clearance covers, as MCP's tools/list does, and
// invoking a hidden tool is answered as invoking a missing one.
func TestToolListFollowsClearance(t *testing.T) {
	t.Parallel()
	env := newMCPEnv(t)
	names, body := listedTools(t, env.base, env.keys["developer/internal"])
	if !names["lookup"] || names["secret_lookup"] || strings.Contains(body, "restricted road data") {
		t.Fatalf("an internal key's list: %s", body)
	}
	if names, body := listedTools(t, env.base, env.keys["developer/restricted"]); !names["secret_lookup"] {
		t.Fatalf("a restricted key's list: %s", body)
	}
	args := `{"arguments":{"road":"Renmin"}}`
	h, hb := apiCall(t, "POST", env.base+"/v1/tools/secret_lookup/invoke", env.keys["developer/internal"], args)
	m, mb := apiCall(t, "POST", env.base+"/v1/tools/no_such_lookup/invoke", env.keys["developer/internal"], args)
	sameAsMissing(t, "invoke", h.StatusCode, m.StatusCode, hb, mb, "secret_lookup", "no_such_lookup")
	if h.StatusCode != 404 {
		t.Fatalf("invoking a hidden tool: %d %s", h.StatusCode, hb)
	}
}

// TestDeveloperToolListFollowsClearance: with developer tools, the list
// and the tool sources leave out a registered tool above the key's
// clearance, its description and its endpoint included.
func TestDeveloperToolListFollowsClearance(t *testing.T) {
	t.Parallel()
	doc := []byte(`{"openapi":"3.0.0","info":{"title":"t","version":"1"},"servers":[{"url":"http://127.0.0.1:1"}],"paths":{` +
		`"/open":{"get":{"operationId":"open_data","responses":{"200":{"description":"ok"}}}}}}`)
	env, _ := sourceEnv(t, openapi.Limits{}, nil)
	dev := env.keys["developer"]
	for _, def := range []string{
		`{"name":"public_api","description":"open data","endpoint":"http://127.0.0.1:1/open","clearance":"public"}`,
		`{"name":"secret_api","description":"sealed payroll data","endpoint":"http://127.0.0.1:1/payroll-internal","clearance":"restricted"}`,
	} {
		if resp, b := apiCall(t, "POST", env.base+"/v1/tools", dev, def); resp.StatusCode != 201 {
			t.Fatalf("register: %d %s", resp.StatusCode, b)
		}
	}
	src, _ := json.Marshal(map[string]any{"name": "mixed", "kind": "openapi", "document": json.RawMessage(doc), "clearance": "restricted"})
	if resp, b := apiCall(t, "POST", env.base+"/v1/tool-sources", dev, string(src)); resp.StatusCode != 201 {
		t.Fatalf("add source: %d %s", resp.StatusCode, b)
	}
	names, body := listedTools(t, env.base, env.keys["operator"])
	if !names["public_api"] || names["secret_api"] || strings.Contains(body, "payroll") {
		t.Fatalf("an internal key's list: %s", body)
	}
	restricted, err := issueTestKey(t, env, "developer", "restricted")
	if err != nil {
		t.Fatal(err)
	}
	if names, body := listedTools(t, env.base, restricted); !names["secret_api"] {
		t.Fatalf("a restricted key's list: %s", body)
	}
	_, b := apiCall(t, "GET", env.base+"/v1/tool-sources/mixed", env.keys["operator"], "")
	if a := decodeSource(t, b); len(a.Tools) != 0 || (a.Import != nil && len(a.Import.Tools) != 0) {
		t.Fatalf("an internal key sees the restricted source's tools: %s", b)
	}
	if _, b = apiCall(t, "GET", env.base+"/v1/tool-sources/mixed", restricted, ""); len(decodeSource(t, b).Tools) == 0 {
		t.Fatalf("a restricted key does not see the source's tools: %s", b)
	}
}

// issueTestKey issues a key of role and clearance on env's store.
func issueTestKey(t *testing.T, env *testEnv, role, clearance string) (string, error) {
	t.Helper()
	return issueTestKeyOn(t, env.db, role, clearance)
}

func issueTestKeyOn(t *testing.T, db *store.DB, role, clearance string) (string, error) {
	t.Helper()
	_, secret, err := IssueKey(t.Context(), db, KeyRequest{Name: role + "/" + clearance, Role: role, Clearance: clearance}, "test", time.Now())
	return secret, err
}

// TestAgentViewHidesToolsAboveClearance: GET /v1/agents/{agent} shows a
// listed tool above the key's clearance as it shows a listed tool that is
// not registered: by name, unavailable, without description or clearance.
func TestAgentViewHidesToolsAboveClearance(t *testing.T) {
	t.Parallel()
	db, err := store.Open(t.Context(), "", storeDir(t))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	secret := tools.MustTyped(tools.Spec{Name: "secret_lookup", Description: "sealed payroll data", Clearance: access.Restricted},
		func(context.Context, roadArgs) (tools.Result, error) { return tools.Result{}, nil })
	reg, _ := tools.NewRegistry(secret)
	cat, err := agents.NewCatalog(agents.Spec{Name: "traffic", Instructions: "x", Tools: []string{"secret_lookup", "ghost_lookup"}})
	if err != nil {
		t.Fatal(err)
	}
	srv := New(Deps{Catalog: cat, Runner: &agents.Runner{Catalog: cat, Tools: reg, Sessions: db}, Tools: reg, Keys: db, Sessions: db}, Options{})
	base := "http://" + serveLoopback(t, srv)
	view := func(clearance string) map[string]string {
		key, err := issueTestKeyOn(t, db, "operator", clearance)
		if err != nil {
			t.Fatal(err)
		}
		resp, b := apiCall(t, "GET", base+"/v1/agents/traffic", key, "")
		var v struct{ Tools []json.RawMessage }
		if resp.StatusCode != 200 || json.Unmarshal(b, &v) != nil || len(v.Tools) != 2 {
			t.Fatalf("%d %s", resp.StatusCode, b)
		}
		return map[string]string{"secret": string(v.Tools[0]), "ghost": string(v.Tools[1])}
	}
	internal := view("internal")
	if strings.ReplaceAll(internal["secret"], "secret_lookup", "NAME") != strings.ReplaceAll(internal["ghost"], "ghost_lookup", "NAME") {
		t.Fatalf("hidden %s, missing %s: they must look alike", internal["secret"], internal["ghost"])
	}
	if restricted := view("restricted"); !strings.Contains(restricted["secret"], "sealed payroll data") {
		t.Fatalf("a restricted key's view: %s", restricted["secret"])
	}
}
