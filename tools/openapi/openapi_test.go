package openapi_test

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"testing"

	"github.com/cityagent/cityagent/tools/httptool"
	"github.com/cityagent/cityagent/tools/openapi"
	"github.com/cityagent/cityagent/tools/outbound"
)

// busAPI is an OpenAPI 3 document in YAML, as a transit agency might publish.
const busAPI = `openapi: 3.0.3
info: {title: City Bus API, version: "1.2"}
servers:
  - url: "{base}/v1"
    variables:
      base: {default: "http://placeholder"}
paths:
  /stops/{stopId}/arrivals:
    parameters:
      - {name: stopId, in: path, required: true, schema: {type: string, pattern: "^[0-9]{4}$"}, description: Stop number}
    get:
      operationId: getArrivals
      summary: Next arrivals at a stop
      description: Real-time bus arrivals 实时公交到站.
      parameters:
        - {name: line, in: query, schema: {type: string}, description: Only this line}
        - {name: limit, in: query, schema: {type: integer, minimum: 1, maximum: 10, default: 3}}
      responses:
        "200": {description: ok}
  /reports:
    post:
      operationId: createReport
      summary: Report a problem at a stop
      requestBody:
        required: true
        content:
          application/json:
            schema: {$ref: "#/components/schemas/Report"}
      responses:
        "201": {description: created}
components:
  schemas:
    Report:
      type: object
      required: [stopId, text]
      properties:
        id: {type: string, readOnly: true}
        stopId: {type: string}
        text: {type: string, maxLength: 500}
        severity: {type: string, enum: [low, high], nullable: true}
`

func TestImportAndCall(t *testing.T) {
	t.Parallel()
	var got []string
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		got = append(got, r.Method+" "+r.URL.String())
		w.Header().Set("Content-Type", "application/json")
		if r.Method == http.MethodPost {
			var body map[string]any
			_ = json.NewDecoder(r.Body).Decode(&body)
			_ = json.NewEncoder(w).Encode(map[string]any{"id": "R1", "text": body["text"]})
			return
		}
		_, _ = w.Write([]byte(`{"arrivals":[{"line":"5","minutes":4}]}`))
	}))
	defer srv.Close()
	defs, err := openapi.Defs(context.Background(), []byte(strings.Replace(busAPI, "http://placeholder", srv.URL, 1)), openapi.Options{Source: "bus"})
	if err != nil {
		t.Fatal(err)
	}
	if len(defs) != 2 || defs[0].Name != "bus_create_report" || defs[1].Name != "bus_get_arrivals" {
		t.Fatalf("defs %+v", defs)
	}
	arr := defs[1]
	if arr.Endpoint != srv.URL+"/v1/stops/{stopId}/arrivals" || arr.Method != "GET" || arr.Params["line"].In != "query" || arr.Params["stopId"].In != "path" ||
		!strings.Contains(arr.Description, "实时公交到站") || arr.Source != "openapi:bus" {
		t.Errorf("arrivals %+v", arr)
	}
	var schema struct {
		Properties map[string]map[string]any
		Required   []string
	}
	_ = json.Unmarshal(arr.Parameters, &schema)
	if !slices.Equal(schema.Required, []string{"stopId"}) || schema.Properties["limit"]["maximum"] != 10.0 || schema.Properties["stopId"]["pattern"] != "^[0-9]{4}$" {
		t.Errorf("arrivals schema %s", arr.Parameters)
	}
	_ = json.Unmarshal(defs[0].Parameters, &schema)
	body := schema.Properties["body"]
	if props, _ := body["properties"].(map[string]any); props["id"] != nil || props["severity"] == nil || !slices.Equal(schema.Required, []string{"body"}) {
		t.Errorf("report schema %s", defs[0].Parameters)
	}

	guard, _ := outbound.New(outbound.Config{Allow: []string{"127.0.0.1"}})
	tool, err := httptool.New(arr, guard, nil)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := tool.Call(context.Background(), json.RawMessage(`{"stopId":"1203","line":"5"}`)); err != nil {
		t.Fatal(err)
	}
	create, err := httptool.New(defs[0], guard, nil)
	if err != nil {
		t.Fatal(err)
	}
	res, err := create.Call(context.Background(), json.RawMessage(`{"body":{"stopId":"1203","text":"站牌损坏","severity":null}}`))
	if err != nil || !strings.Contains(string(res.Content), "站牌损坏") {
		t.Fatalf("POST: %s %v", res.Content, err)
	}
	// limit's default (3) is the server's to apply: it is not sent.
	if want := []string{"GET /v1/stops/1203/arrivals?line=5", "POST /v1/reports"}; !slices.Equal(got, want) {
		t.Errorf("requests %v, want %v", got, want)
	}
	if _, err := create.Call(context.Background(), json.RawMessage(`{"body":{"text":"no stop"}}`)); err == nil {
		t.Error("a body without its required field was sent")
	}
}

func TestBrokenDocuments(t *testing.T) {
	t.Parallel()
	for name, doc := range map[string]string{
		"not a document":  `{"hello": "world"`,
		"swagger 2":       `{"swagger":"2.0","info":{"title":"x","version":"1"},"paths":{}}`,
		"invalid":         "openapi: 3.0.3\ninfo: {title: x}\npaths: {}\n",
		"no operations":   "openapi: 3.0.3\ninfo: {title: x, version: '1'}\nservers: [{url: 'https://x'}]\npaths: {}\n",
		"no server":       "openapi: 3.0.3\ninfo: {title: x, version: '1'}\npaths:\n  /a:\n    get:\n      responses: {'200': {description: ok}}\n",
		"remote ref":      "openapi: 3.0.3\ninfo: {title: x, version: '1'}\nservers: [{url: 'https://x'}]\npaths:\n  /a:\n    get:\n      parameters: [{$ref: 'https://evil.example/p.yaml'}]\n      responses: {'200': {description: ok}}\n",
		"xml body":        "openapi: 3.0.3\ninfo: {title: x, version: '1'}\nservers: [{url: 'https://x'}]\npaths:\n  /a:\n    post:\n      requestBody: {content: {application/xml: {schema: {type: object}}}}\n      responses: {'200': {description: ok}}\n",
		"relative server": "openapi: 3.0.3\ninfo: {title: x, version: '1'}\nservers: [{url: '/api'}]\npaths:\n  /a:\n    get:\n      responses: {'200': {description: ok}}\n",
	} {
		if _, err := openapi.Defs(context.Background(), []byte(doc), openapi.Options{Source: "x"}); !errors.Is(err, openapi.ErrDocument) {
			t.Errorf("%s: %v, want ErrDocument", name, err)
		}
	}
	// A relative server URL resolves against where the document came from.
	doc := "openapi: 3.0.3\ninfo: {title: x, version: '1'}\nservers: [{url: '/api'}]\npaths:\n  /a:\n    get:\n      operationId: list-things\n      responses: {'200': {description: ok}}\n"
	defs, err := openapi.Defs(context.Background(), []byte(doc), openapi.Options{Source: "x", DocURL: "https://data.example/openapi.yaml"})
	if err != nil || defs[0].Endpoint != "https://data.example/api/a" || defs[0].Name != "x_list_things" {
		t.Errorf("relative server: %+v %v", defs, err)
	}
}
