package openapi_test

import (
	"context"
	"encoding/json"
	"errors"
	"slices"
	"strings"
	"testing"

	"github.com/cityagent/cityagent/tools/httptool"
	"github.com/cityagent/cityagent/tools/openapi"
	"github.com/cityagent/cityagent/tools/outbound"
)

// An operation whose tool name the server reserves (list_proposals,
// propose_*, ask_*) is skipped with that reason.
func TestReservedOperationNamesSkipped(t *testing.T) {
	t.Parallel()
	doc := head(`  /proposals:
    get: {operationId: proposals, responses: {'200': {description: ok}}}
  /meters:
    get: {operationId: meters, responses: {'200': {description: ok}}}
`)
	defs, rep, err := openapi.Import(context.Background(), []byte(doc), openapi.Options{Source: "list"})
	if err != nil {
		t.Fatal(err)
	}
	if len(defs) != 1 || defs[0].Name != "list_meters" || len(rep.Skipped) != 1 || !strings.Contains(rep.Skipped[0].Reason, "reserved") {
		t.Fatalf("defs %v skipped %+v", len(defs), rep.Skipped)
	}
}

// A source header the guard refuses is a 400 naming the field, not every
// operation skipped without a reason.
func TestRefusedSourceHeaderNamesTheField(t *testing.T) {
	t.Parallel()
	doc := head("  /a:\n    get: {responses: {'200': {description: ok}}}\n")
	for header, value := range map[string]string{"Host": "${CITYAGENT_SECRET_X}", "X-Key": "literal-secret-value",
		"X-Db": "${CITYAGENT_DATABASE_URL}"} {
		_, _, err := openapi.Import(context.Background(), []byte(doc), openapi.Options{Source: "s", Headers: map[string]string{header: value}})
		var ve *httptool.ValidationError
		if !errors.As(err, &ve) || len(ve.Problems) != 1 || ve.Problems[0].Field != "headers."+header {
			t.Errorf("%s: %v", header, err)
		}
	}
}

// When nothing can be imported, the error says why each operation was not.
func TestNothingImportedSaysWhy(t *testing.T) {
	t.Parallel()
	doc := head("  /a:\n    post:\n      requestBody: {content: {application/xml: {schema: {type: object}}}}\n      responses: {'200': {description: ok}}\n")
	_, _, err := openapi.Import(context.Background(), []byte(doc), openapi.Options{Source: "s"})
	if !errors.Is(err, openapi.ErrDocument) || !strings.Contains(err.Error(), "POST /a: request body types application/xml") {
		t.Fatalf("%v", err)
	}
}

// A $ref loop that never reaches a schema is reported as one.
func TestRefLoopReported(t *testing.T) {
	t.Parallel()
	doc := head(`  /a:
    post:
      requestBody: {content: {application/json: {schema: {$ref: '#/components/schemas/A'}}}}
      responses: {'200': {description: ok}}
  /b:
    get: {responses: {'200': {description: ok}}}
components:
  schemas:
    A: {$ref: '#/components/schemas/B'}
    B: {$ref: '#/components/schemas/A'}
`)
	_, rep, err := openapi.Import(context.Background(), []byte(doc), openapi.Options{Source: "s"})
	if err != nil {
		t.Fatal(err)
	}
	if len(rep.Skipped) != 1 || rep.Skipped[0].Reason != "schema $ref loop: A → B → A never reaches a schema" {
		t.Fatalf("skipped %+v", rep.Skipped)
	}
}

// OpenAPI 3.1 marks a file in multipart by contentMediaType, as 3.0 does
// by format: binary; both become file parts.
func TestContentMediaTypeIsAFile(t *testing.T) {
	t.Parallel()
	doc := `openapi: 3.1.0
info: {title: t, version: '1'}
servers: [{url: 'https://api.example'}]
paths:
  /upload:
    post:
      operationId: upload
      requestBody:
        content:
          multipart/form-data:
            schema:
              type: object
              properties:
                note: {type: string}
                scan: {type: string, contentMediaType: image/png}
                legacy: {type: string, format: binary}
      responses: {'200': {description: ok}}
`
	defs, _, err := openapi.Import(context.Background(), []byte(doc), openapi.Options{Source: "s"})
	if err != nil {
		t.Fatal(err)
	}
	if b := defs[0].Body; b == nil || !slices.Equal(b.Files, []string{"legacy", "scan"}) {
		t.Fatalf("body %+v", defs[0].Body)
	}
}

// An operation that needs a security scheme without a secret is
// unavailable, as a tool whose named secret is unset is: it is never
// sent unauthenticated.
func TestUnconfiguredSchemeUnavailable(t *testing.T) {
	t.Parallel()
	rec := newRecorder(t)
	doc := "openapi: 3.0.3\ninfo: {title: t, version: '1'}\nservers: [{url: '" + rec.srv.URL + "'}]\n" +
		"security: [{key: []}]\npaths:\n  /a:\n    get: {operationId: a, responses: {'200': {description: ok}}}\n" +
		"  /open:\n    get: {operationId: open, security: [], responses: {'200': {description: ok}}}\n" +
		"components:\n  securitySchemes:\n    key: {type: apiKey, in: header, name: X-Key}\n"
	defs, rep, err := openapi.Import(context.Background(), []byte(doc), openapi.Options{Source: "s"})
	if err != nil {
		t.Fatal(err)
	}
	if len(rep.Warnings) == 0 || !strings.Contains(strings.Join(rep.Warnings, " "), "unavailable") {
		t.Errorf("warnings %v", rep.Warnings)
	}
	guard, _ := outbound.New(outbound.Config{Allow: []string{"127.0.0.1"}})
	for _, d := range defs {
		tool, err := httptool.New(d, guard, nil)
		if err != nil {
			t.Fatal(err)
		}
		_, callErr := tool.Call(context.Background(), json.RawMessage(`{}`))
		checkErr := tool.Check(context.Background())
		switch d.Name {
		case "s_a":
			if !errors.Is(checkErr, httptool.ErrSecret) || !errors.Is(callErr, httptool.ErrSecret) || !strings.Contains(checkErr.Error(), "security.key") {
				t.Errorf("s_a: check %v, call %v", checkErr, callErr)
			}
		case "s_open":
			if checkErr != nil || callErr != nil {
				t.Errorf("s_open: check %v, call %v", checkErr, callErr)
			}
		}
	}
	rec.mu.Lock()
	defer rec.mu.Unlock()
	if len(rec.got) != 1 || rec.got[0].target != "/open" {
		t.Errorf("requests %+v", rec.got)
	}
}
