package openapi_test

import (
	"context"
	"encoding/json"
	"errors"
	"strings"
	"testing"

	"github.com/cityagent/cityagent/tools/httptool"
	"github.com/cityagent/cityagent/tools/openapi"
)

func head(paths string) string {
	return "openapi: 3.0.3\ninfo: {title: t, version: '1'}\nservers: [{url: 'https://api.example'}]\npaths:\n" + paths
}

// Defect 2: one operation that cannot be imported is skipped with its
// reason; all_or_nothing keeps refusing the whole document.
func TestSkipsWhatCannotBeImported(t *testing.T) {
	t.Parallel()
	doc := head(`  /things:
    get:
      operationId: listThings
      responses: {'200': {description: ok}}
    post:
      operationId: addThing
      requestBody: {content: {application/xml: {schema: {type: object}}}}
      responses: {'200': {description: ok}}
  /notes:
    post:
      operationId: addNote
      requestBody: {required: true, content: {text/plain: {schema: {type: string}}}}
      responses: {'200': {description: ok}}
`)
	defs, rep, err := openapi.Import(context.Background(), []byte(doc), openapi.Options{Source: "s"})
	if err != nil {
		t.Fatal(err)
	}
	if len(defs) != 2 || len(rep.Skipped) != 1 || rep.Skipped[0].Operation != "POST /things" || !strings.Contains(rep.Skipped[0].Reason, "application/xml") {
		t.Fatalf("defs %d, skipped %+v", len(defs), rep.Skipped)
	}
	_, _, err = openapi.Import(context.Background(), []byte(doc), openapi.Options{Source: "s", AllOrNothing: true})
	if !errors.Is(err, openapi.ErrDocument) || !strings.Contains(err.Error(), "POST /things") {
		t.Fatalf("all_or_nothing: %v", err)
	}
}

// Defect 10: cosmetic violations (an empty info.version) are warnings.
func TestCosmeticViolationsWarn(t *testing.T) {
	t.Parallel()
	doc := "openapi: 3.0.3\ninfo: {title: t, version: ''}\nservers: [{url: 'https://api.example'}]\npaths:\n  /a:\n    get:\n      responses: {'200': {description: ok}}\n"
	defs, rep, err := openapi.Import(context.Background(), []byte(doc), openapi.Options{Source: "s"})
	if err != nil || len(defs) != 1 || len(rep.Warnings) == 0 || !strings.Contains(rep.Warnings[0], "version") {
		t.Fatalf("defs %v rep %+v err %v", defs, rep, err)
	}
}

// Defect 4: limits are settings, and their errors name them.
func TestLimitsNameTheirSetting(t *testing.T) {
	t.Parallel()
	doc := head("  /a:\n    get: {responses: {'200': {description: ok}}}\n  /b:\n    get: {responses: {'200': {description: ok}}}\n")
	_, _, err := openapi.Import(context.Background(), []byte(doc), openapi.Options{Source: "s", Limits: openapi.Limits{MaxOperations: 1}})
	var le *openapi.LimitError
	if !errors.As(err, &le) || le.Setting != openapi.SettingMaxOperations || !strings.Contains(err.Error(), "CITYAGENT_OPENAPI_MAX_OPERATIONS") {
		t.Fatalf("operations: %v", err)
	}
	_, _, err = openapi.Import(context.Background(), []byte(doc), openapi.Options{Source: "s", Limits: openapi.Limits{MaxDocumentBytes: 64}})
	if !errors.As(err, &le) || !strings.Contains(err.Error(), "tool_sources.openapi.max_document_bytes") {
		t.Fatalf("bytes: %v", err)
	}
	if _, err := openapi.ReadDocument(strings.NewReader(doc), openapi.Limits{MaxDocumentBytes: 64}); !errors.As(err, &le) {
		t.Fatalf("read: %v", err)
	}
	if b, err := openapi.ReadDocument(strings.NewReader(doc), openapi.Limits{}); err != nil || string(b) != doc {
		t.Fatalf("read within the limit: %v", err)
	}
}

// Defect 11: include and exclude select what becomes tools; a 1,000+
// operation document imports both ways.
func TestIncludeExclude(t *testing.T) {
	t.Parallel() // parses a large document: overlap with the other large ones
	doc := fixture(t, "github-rest-api.json.gz")
	defs, rep, err := openapi.Import(context.Background(), doc, openapi.Options{Source: "gh", BaseURL: "https://api.github.com",
		Include: []string{"tag:issues", "GET /repos/{owner}/{repo}"}, Exclude: []string{"operation:issues/*comment*", "path:*/lock"},
		Limits: openapi.Limits{MaxOperations: 100}})
	if err != nil {
		t.Fatal(err)
	}
	names := map[string]bool{}
	for _, d := range defs {
		names[d.Name] = true
		if strings.Contains(d.Name, "comment") || strings.HasSuffix(d.Endpoint, "/lock") {
			t.Errorf("excluded %s imported", d.Name)
		}
	}
	if !names["gh_issues_create"] || !names["gh_repos_get"] || names["gh_repos_delete"] || len(defs) > 60 || rep.Excluded < 1100 {
		t.Errorf("%d tools (%d excluded): %v", len(defs), rep.Excluded, names)
	}
	if _, _, err := openapi.Import(context.Background(), doc, openapi.Options{Source: "gh", Include: []string{"bogus"}}); !errors.Is(err, openapi.ErrDocument) {
		t.Errorf("a malformed selector: %v", err)
	}
}

// Defect 9: names that differ only after 64 characters stay distinct and
// readable; GET /v1/tool-sources/{name} lists the mapping.
func TestLongNamesStayDistinct(t *testing.T) {
	t.Parallel()
	long := "listAllTheScheduledMaintenanceWindowsForTheWaterTreatmentPlantsOfTheCity"
	doc := head("  /a:\n    get: {operationId: " + long + "North, responses: {'200': {description: ok}}}\n  /b:\n    get: {operationId: " + long + "South, responses: {'200': {description: ok}}}\n  /c:\n    get: {operationId: get-thing, responses: {'200': {description: ok}}}\n  /d:\n    get: {operationId: getThing, responses: {'200': {description: ok}}}\n")
	defs, rep, err := openapi.Import(context.Background(), []byte(doc), openapi.Options{Source: "water"})
	if err != nil {
		t.Fatal(err)
	}
	seen := map[string]string{}
	for _, m := range rep.Tools {
		if len(m.Tool) > 64 || seen[m.Tool] != "" {
			t.Errorf("%s → %q", m.Operation, m.Tool)
		}
		seen[m.Tool] = m.Operation
	}
	if len(defs) != 4 || len(seen) != 4 {
		t.Fatalf("tools %v", seen)
	}
	again, _, _ := openapi.Import(context.Background(), []byte(doc), openapi.Options{Source: "water"})
	for i := range defs {
		if again[i].Name != defs[i].Name {
			t.Errorf("names are not deterministic: %s then %s", defs[i].Name, again[i].Name)
		}
	}
}

// Defect 8: nullable beside oneOf/allOf/$ref admits null.
func TestNullableWithoutType(t *testing.T) {
	t.Parallel()
	doc := head(`  /issues/{n}:
    patch:
      operationId: update
      parameters: [{name: n, in: path, required: true, schema: {type: integer}}]
      requestBody:
        content:
          application/json:
            schema:
              type: object
              properties:
                milestone: {nullable: true, oneOf: [{type: string}, {type: integer}]}
                owner: {nullable: true, allOf: [{$ref: '#/components/schemas/User'}]}
      responses: {'200': {description: ok}}
components:
  schemas:
    User: {type: object, properties: {login: {type: string}}}
`)
	defs, err := openapi.Defs(context.Background(), []byte(doc), openapi.Options{Source: "s"})
	if err != nil {
		t.Fatal(err)
	}
	tool, err := httptool.New(defs[0], nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	for _, args := range []string{`{"n":1,"body":{"milestone":null,"owner":null}}`, `{"n":1,"body":{"milestone":3,"owner":{"login":"a"}}}`} {
		if err := tool.CheckArgs(json.RawMessage(args)); err != nil {
			t.Errorf("%s refused: %v", args, err)
		}
	}
	if err := tool.CheckArgs(json.RawMessage(`{"n":1,"body":{"milestone":true}}`)); err == nil {
		t.Error("a boolean milestone passed")
	}
}

// Defect 5: a default is the server's; a description is never a value.
func TestDefaultsAreNotSent(t *testing.T) {
	t.Parallel()
	doc := head(`  /mail/send:
    post:
      operationId: send
      parameters:
        - {name: on-behalf-of, in: header, schema: {type: string, default: "The subuser's username. This header generates the API call as if the subuser account was making the call."}}
        - {name: region, in: query, required: true, schema: {type: string, default: eu}}
      requestBody: {content: {application/json: {schema: {type: object, properties: {to: {type: string}, mode: {type: string, default: html}}}}}}
      responses: {'200': {description: ok}}
`)
	rec := newRecorder(t)
	ts, _ := importTools(t, []byte(doc), openapi.Options{Source: "sg", BaseURL: rec.srv.URL}, nil)
	if _, err := ts["sg_send"].Call(context.Background(), json.RawMessage(`{"body":{"to":"a@b.example"}}`)); err != nil {
		t.Fatal(err)
	}
	got := rec.last(t)
	if v := got.header.Values("On-Behalf-Of"); len(v) > 0 {
		t.Errorf("on-behalf-of sent as %q", v)
	}
	if got.target != "/mail/send?region=eu" || string(got.body) != `{"to":"a@b.example"}` {
		t.Errorf("sent %s %s", got.target, got.body)
	}
}

// Defect 10: a Swagger 2.0 document in YAML (with the usual unquoted
// status codes) converts too, and the report says so.
func TestSwaggerYAML(t *testing.T) {
	t.Parallel()
	doc := `swagger: "2.0"
info: {title: Parks, version: ""}
host: parks.example
basePath: /v1
schemes: [https]
paths:
  /parks/{id}/bookings:
    post:
      operationId: bookPark
      consumes: [application/x-www-form-urlencoded]
      parameters:
        - {name: id, in: path, required: true, type: integer}
        - {name: date, in: formData, required: true, type: string, format: date}
        - {name: people, in: formData, type: integer}
      responses:
        200: {description: booked}
`
	defs, rep, err := openapi.Import(context.Background(), []byte(doc), openapi.Options{Source: "parks"})
	if err != nil {
		t.Fatal(err)
	}
	if rep.ConvertedFrom != "swagger 2.0" || len(defs) != 1 || defs[0].Endpoint != "https://parks.example/v1/parks/{id}/bookings" ||
		defs[0].Body == nil || defs[0].Body.ContentType != "application/x-www-form-urlencoded" {
		t.Fatalf("report %+v defs %+v", rep, defs)
	}
}
