package openapi_test

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/cityagent/cityagent/tools/httptool"
	"github.com/cityagent/cityagent/tools/openapi"
)

// TestGitHubWire imports GitHub's REST description (1,223 operations, no
// include filter) and checks a sample of calls byte for byte: integers in
// the path (defect 1), reserved characters escaped in path segments, a
// DELETE with a body (defect 3), nullable oneOf fields (defect 8).
func TestGitHubWire(t *testing.T) {
	t.Parallel() // parses a large document: overlap with the other large ones
	rec := newRecorder(t)
	ts, rep := importTools(t, fixture(t, "github-rest-api.json.gz"), openapi.Options{Source: "github", BaseURL: rec.srv.URL,
		Headers: map[string]string{"Authorization": "Bearer ${CITYAGENT_SECRET_GH_TOKEN}"}}, map[string]string{"CITYAGENT_SECRET_GH_TOKEN": "ghp_test"})
	if len(ts) < 1000 || len(rep.Tools) != len(ts) || len(rep.Skipped) != 0 {
		t.Fatalf("%d tools, %d mapped, skipped %v", len(ts), len(rep.Tools), rep.Skipped)
	}
	auth := map[string]string{"Authorization": "Bearer ghp_test", "Accept": "application/json"}
	runWire(t, rec, ts, []wireCase{
		{tool: "github_issues_get", args: `{"owner":"octo org","repo":"hello/world","issue_number":1234567}`,
			method: "GET", target: "/repos/octo%20org/hello%2Fworld/issues/1234567", headers: auth},
		{tool: "github_issues_list_for_repo", args: `{"owner":"o","repo":"r","labels":"bug,ui","per_page":100,"state":"all","since":"2026-01-02T03:04:05Z"}`,
			method: "GET", target: "/repos/o/r/issues?labels=bug%2Cui&per_page=100&since=2026-01-02T03%3A04%3A05Z&state=all", headers: auth},
		{tool: "github_repos_delete_file", args: `{"owner":"o","repo":"r","path":"docs/read me.md","body":{"message":"rm","sha":"95b966ae1c166bd92f8ae7d1c313e738c731dfc3"}}`,
			method: "DELETE", target: "/repos/o/r/contents/docs%2Fread%20me.md", headers: auth, contentType: "application/json",
			body: `{"message":"rm","sha":"95b966ae1c166bd92f8ae7d1c313e738c731dfc3"}`},
		{tool: "github_issues_update", args: `{"owner":"o","repo":"r","issue_number":7,"body":{"milestone":null,"title":null,"state":"closed"}}`,
			method: "PATCH", target: "/repos/o/r/issues/7", headers: auth, contentType: "application/json",
			body: `{"milestone":null,"state":"closed","title":null}`},
		{tool: "github_search_code", args: `{"q":"repo:a/b foo","per_page":1.0e2}`,
			method: "GET", target: "/search/code?per_page=100&q=repo%3Aa%2Fb%20foo", headers: auth},
	})
	// The source's Authorization header is the credential: no operation
	// asks the model for it.
	for name, tool := range ts {
		if strings.Contains(strings.ToLower(string(tool.Spec().Parameters)), `"authorization"`) {
			t.Fatalf("%s shows Authorization to the model", name)
		}
	}
	checkNames(t, rep)
}

// checkNames: every tool name fits 64 characters, is unique, and is made of
// whole words of its operation id (plus, when cut, a short hash).
func checkNames(t *testing.T, rep *openapi.Report) {
	t.Helper()
	seen := map[string]bool{}
	cut := 0
	for _, m := range rep.Tools {
		if len(m.Tool) > 64 || seen[m.Tool] {
			t.Errorf("name %q (%s): too long or taken", m.Tool, m.Operation)
		}
		seen[m.Tool] = true
		words := map[string]bool{}
		id := strings.NewReplacer("/", "_", "-", "_").Replace(strings.ToLower("github_" + m.OperationID))
		for _, w := range strings.Split(id, "_") {
			words[w] = true
		}
		parts := strings.Split(m.Tool, "_")
		if last := parts[len(parts)-1]; len(last) == 6 && !words[last] {
			parts, cut = parts[:len(parts)-1], cut+1
		}
		for _, w := range parts {
			if !words[w] {
				t.Errorf("name %q of %s has a word %q not in its operation id %q", m.Tool, m.Operation, w, m.OperationID)
			}
		}
	}
	if cut == 0 {
		t.Error("no name needed a hash: the long-name path was not exercised")
	}
}

// TestPetstoreSwagger2Wire: a Swagger 2.0 document converts (defect 10),
// and its form, multipart and apiKey operations send what it says
// (defects 2 and 6), with integers past 2^53 intact (defect 1).
func TestPetstoreSwagger2Wire(t *testing.T) {
	t.Parallel()
	rec := newRecorder(t)
	ts, rep := importTools(t, fixture(t, "petstore-swagger2.json"), openapi.Options{Source: "pet", BaseURL: rec.srv.URL + "/v2",
		Security: map[string]httptool.Auth{"api_key": {Secret: "${CITYAGENT_SECRET_PET_KEY}"}}}, map[string]string{"CITYAGENT_SECRET_PET_KEY": "special-key"})
	if rep.ConvertedFrom != "swagger 2.0" || len(rep.Skipped) != 0 || len(ts) != 20 {
		t.Fatalf("report %+v, %d tools", rep, len(ts))
	}
	if p := string(ts["pet_delete_pet"].Spec().Parameters); strings.Contains(p, "api_key") {
		t.Errorf("the api_key header is a secret but the model sees it: %s", p)
	}
	key, none := map[string]string{"api_key": "special-key"}, map[string]string{"api_key": ""}
	runWire(t, rec, ts, []wireCase{
		{tool: "pet_update_pet_with_form", args: `{"petId":12,"body":{"name":"Rex the 2nd & co","status":"sold"}}`,
			method: "POST", target: "/v2/pet/12", headers: none, contentType: "application/x-www-form-urlencoded",
			body: "name=Rex+the+2nd+%26+co&status=sold"},
		{tool: "pet_upload_file", args: `{"petId":12,"body":{"additionalMetadata":"front view","file":"aGVsbG8gcGV0"}}`,
			method: "POST", target: "/v2/pet/12/uploadImage", contentType: "multipart/form-data",
			parts: map[string]string{"additionalMetadata": "front view", "file;file;application/octet-stream": "hello pet"}},
		{tool: "pet_find_pets_by_status", args: `{"status":["available","sold"]}`,
			method: "GET", target: "/v2/pet/findByStatus?status=available&status=sold", headers: none},
		// getPetById requires the api_key scheme; deletePet declares its header.
		{tool: "pet_get_pet_by_id", args: `{"petId":1.0}`, method: "GET", target: "/v2/pet/1", headers: key},
		{tool: "pet_delete_pet", args: `{"petId":9007199254740993}`,
			method: "DELETE", target: "/v2/pet/9007199254740993", headers: key},
		{tool: "pet_login_user", args: `{"username":"ana maría","password":"p@ss/w?rd"}`,
			method: "GET", target: "/v2/user/login?password=p%40ss%2Fw%3Frd&username=ana%20mar%C3%ADa"},
	})
}

// TestPetstoreOpenAPI3Wire: OpenAPI 3's styles as a real document uses
// them: form not exploded, pipeDelimited, deepObject, a header parameter,
// and an octet-stream body.
func TestPetstoreOpenAPI3Wire(t *testing.T) {
	t.Parallel()
	rec := newRecorder(t)
	ts, rep := importTools(t, fixture(t, "petstore-openapi3.json"), openapi.Options{Source: "pet", BaseURL: rec.srv.URL + "/v2"}, nil)
	if len(rep.Skipped) != 0 || len(ts) != 25 {
		t.Fatalf("report %+v, %d tools", rep, len(ts))
	}
	runWire(t, rec, ts, []wireCase{
		{tool: "pet_find_pets_by_ids", args: `{"ids":[1,2,30000000000]}`, method: "GET", target: "/v2/pet/findByIds?ids=1,2,30000000000"},
		{tool: "pet_find_pets_by_kind", args: `{"kind":["dog","cat"]}`, method: "GET", target: "/v2/pet/findByKind?kind=dog%7Ccat"},
		{tool: "pet_find_pets", args: `{"status":["available","pending"],"tags":["a b"],"kind":["turtle","cat"]}`,
			method: "GET", target: "/v2/pets/?kind=turtle%7Ccat&status=available&status=pending&tags=a%20b"},
		{tool: "pet_filter_pets", args: `{"deepFilter":{"strings":["x","y z"]}}`, method: "GET", target: "/v2/pet/filter?deepFilter%5Bstrings%5D=x&deepFilter%5Bstrings%5D=y%20z"},
		{tool: "pet_add_pet", args: `{"x-environment":"demo","body":{"name":"Rex","photoUrls":["u"]}}`, method: "POST", target: "/v2/pet",
			headers: map[string]string{"X-Environment": "demo"}, contentType: "application/json", body: `{"name":"Rex","photoUrls":["u"]}`},
		{tool: "pet_upload_file", args: `{"petId":3,"body":"AAEC/w=="}`, method: "POST", target: "/v2/pet/3/uploadImage",
			contentType: "application/octet-stream", body: "\x00\x01\x02\xff"},
	})
}

// TestBlockfrostWire: a YAML vendor API without operationIds (names come
// from method and path), an apiKey header from a secret, and query
// defaults left to the server (defect 5).
func TestBlockfrostWire(t *testing.T) {
	t.Parallel() // parses a large document: overlap with the other large ones
	rec := newRecorder(t)
	ts, rep := importTools(t, fixture(t, "blockfrost-openapi.yaml.gz"), openapi.Options{Source: "bf", BaseURL: rec.srv.URL + "/api/v0",
		Security: map[string]httptool.Auth{"project_id": {Secret: "${CITYAGENT_SECRET_BLOCKFROST}"}}}, map[string]string{"CITYAGENT_SECRET_BLOCKFROST": "mainnetABC"})
	if len(ts) < 100 {
		t.Fatalf("%d tools, skipped %v", len(ts), rep.Skipped)
	}
	for _, s := range rep.Skipped {
		if !strings.Contains(s.Reason, "application/cbor") {
			t.Errorf("skipped %s: %s", s.Operation, s.Reason)
		}
	}
	var schema map[string]any
	_ = json.Unmarshal(ts["bf_get_accounts_stake_address_rewards"].Spec().Parameters, &schema)
	if req, _ := schema["required"].([]any); len(req) != 1 {
		t.Errorf("required %v: defaulted query parameters must stay optional", schema["required"])
	}
	key := map[string]string{"project_id": "mainnetABC"}
	runWire(t, rec, ts, []wireCase{
		{tool: "bf_get_accounts_stake_address_rewards", args: `{"stake_address":"stake1u9ylzsgxaa6xctf4juup682ar3juj85n8tx3hthnljg47zqgk4hha","count":5,"order":"desc"}`,
			method: "GET", target: "/api/v0/accounts/stake1u9ylzsgxaa6xctf4juup682ar3juj85n8tx3hthnljg47zqgk4hha/rewards?count=5&order=desc", headers: key},
		{tool: "bf_get_blocks_hash_or_number", args: `{"hash_or_number":"4873401"}`, method: "GET", target: "/api/v0/blocks/4873401", headers: key},
		{tool: "bf_ipfs_add", args: `{"body":{"file":"aXBmcyBmaWxl"}}`, method: "POST", target: "/api/v0/ipfs/add", headers: key,
			contentType: "multipart/form-data", parts: map[string]string{"file;file;application/octet-stream": "ipfs file"}},
	})
}
