package main

import (
	"bufio"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/cityagent/cityagent/agents"
	"github.com/cityagent/cityagent/config"
	"github.com/cityagent/cityagent/llm"
	"github.com/cityagent/cityagent/llm/openaitest"
	"github.com/cityagent/cityagent/llm/scripted"
)

// toolsCaller is a scripted model that does what the operator writes:
// "CALL name {json}" makes it call that tool, and once the tool has
// answered it replies with the tool's result (or error) verbatim. It stands
// in for a real model that would pick a registered tool on its own.
func toolsCaller() llm.Model {
	return scripted.New("scripted-caller", scripted.Func(func(req llm.Request) (llm.Response, error) {
		q := -1
		for i, m := range req.Messages {
			if m.Role == llm.RoleUser && strings.HasPrefix(m.Content, "CALL ") {
				q = i
			}
		}
		if q < 0 {
			return llm.Response{Content: "nothing to call"}, nil
		}
		var results []string
		for _, m := range req.Messages[q+1:] {
			if m.Role != llm.RoleTool {
				continue
			}
			for _, b := range llm.ParseData(m.Content) {
				results = append(results, m.Name+" answered: "+b.Body)
			}
		}
		if len(results) > 0 {
			return llm.Response{Content: strings.Join(results, "\n")}, nil
		}
		name, args, _ := strings.Cut(strings.TrimPrefix(req.Messages[q].Content, "CALL "), " ")
		if args == "" {
			args = "{}"
		}
		return llm.Response{ToolCalls: []llm.ToolCall{{ID: "call_1", Name: name, Arguments: json.RawMessage(args)}}}, nil
	})).RepeatLast()
}

func toolsRepoRoot(t *testing.T) string {
	t.Helper()
	root, err := filepath.Abs(filepath.Join("..", ".."))
	if err != nil {
		t.Fatal(err)
	}
	return root
}

// toolsEverythingHTTP starts server-everything's streamable HTTP transport
// (testenv/mcp/http.mjs) on a free loopback port; stop kills it.
func toolsEverythingHTTP(t *testing.T, node string) (url string, stop func()) {
	t.Helper()
	wrapper := filepath.Join(toolsRepoRoot(t), "testenv", "mcp", "http.mjs")
	cmd := exec.Command(node, wrapper)
	cmd.Dir = filepath.Dir(wrapper)
	cmd.Env = []string{"PATH=" + os.Getenv("PATH"), "HOME=" + os.Getenv("HOME"), "PORT=0"}
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	stopped := false
	stop = func() {
		if !stopped {
			stopped = true
			_ = cmd.Process.Kill()
			_ = cmd.Wait()
		}
	}
	t.Cleanup(stop)
	port := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(out)
		for sc.Scan() {
			if p, ok := strings.CutPrefix(sc.Text(), "LISTENING "); ok {
				port <- p
			}
		}
	}()
	select {
	case p := <-port:
		return "http://127.0.0.1:" + p + "/mcp", stop
	case <-time.After(20 * time.Second):
		t.Fatal("server-everything (HTTP) did not start")
	}
	return "", stop
}

const devtoolsAgent = `name: devtools
description: Calls developer-registered tools. 调用开发者注册的工具。
instructions: Call the tool the operator names with the arguments given, then report its result.
tools: [air_quality, bus_get_arrivals, everything_get_sum, everythinghttp_echo, slow_tool]
collections: []
roles: [operator]
budgets: {max_steps: 3, max_tool_calls: 3, timeout: 20s, max_tokens: 16000, tool_timeout: 5s}
`

// busOpenAPI is the document the test imports; {base} is the API's URL.
const busOpenAPI = `openapi: 3.0.3
info: {title: City Bus API, version: "1"}
servers: [{url: "{base}"}]
paths:
  /stops/{stopId}/arrivals:
    get:
      operationId: getArrivals
      summary: Next bus arrivals at a stop 公交到站
      parameters:
        - {name: stopId, in: path, required: true, schema: {type: string}}
      responses: {"200": {description: ok}}
`

// TestDeveloperToolsEndToEnd registers an HTTP tool, imports an OpenAPI
// document and connects a real MCP server (stdio and streamable HTTP)
// through the API, has an agent call each in chat, restarts the server and
// does it again, and checks that a hanging tool is cut at its timeout with
// the answer saying so, and that a server that is down shows unavailable.
func TestDeveloperToolsEndToEnd(t *testing.T) {
	t.Parallel()
	root := toolsRepoRoot(t)
	script := filepath.Join(root, "testenv", "mcp", "node_modules", "@modelcontextprotocol", "server-everything", "dist", "index.js")
	if _, err := os.Stat(script); err != nil {
		t.Fatalf("server-everything is not installed (scripts/test-deps.sh installs testenv/mcp): %v", err)
	}
	node, err := exec.LookPath("node")
	if err != nil {
		t.Fatal(err)
	}
	mcpURL, stopMCP := toolsEverythingHTTP(t, node)

	api := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		switch {
		case r.URL.Path == "/aqi":
			if r.Header.Get("X-Api-Key") != "aqi-secret" {
				w.WriteHeader(http.StatusUnauthorized)
				return
			}
			fmt.Fprintf(w, `{"district":%q,"aqi":42,"level":"good 优"}`, r.URL.Query().Get("district"))
		case strings.HasPrefix(r.URL.Path, "/stops/"):
			fmt.Fprintf(w, `{"stop":%q,"next_minutes":[4,12]}`, strings.Split(r.URL.Path, "/")[2])
		case r.URL.Path == "/hang":
			select {
			case <-time.After(10 * time.Second):
			case <-r.Context().Done():
			}
		}
	}))
	defer api.Close()

	model := openaitest.New(toolsCaller())
	modelURL := model.Start(t)
	agentsDir := t.TempDir()
	if err := os.WriteFile(filepath.Join(agentsDir, "devtools.yaml"), []byte(devtoolsAgent), 0o600); err != nil {
		t.Fatal(err)
	}
	// The server reads secrets from the process environment. t.Setenv
	// would keep this test from running in parallel; a name no other test
	// uses does the same.
	const secretVar = "CITYAGENT_SECRET_DEVTOOLS_E2E_AQI"
	os.Setenv(secretVar, "aqi-secret")
	t.Cleanup(func() { os.Unsetenv(secretVar) })
	tweak := func(c *config.Config) {
		c.AgentsDir = agentsDir
		c.LLM.Provider, c.LLM.BaseURL, c.LLM.Model, c.LLM.MaxRetries = "openai", modelURL, "scripted-caller", 0
		c.Outbound.Allow = []string{"127.0.0.1"}
		c.Outbound.Commands = []string{node + " " + script}
	}
	data := t.TempDir()
	in := startServe(t, data, tweak)
	dev := in.newKey(t, "developer", "internal")
	op := in.newKey(t, "operator", "internal")

	register := []struct{ path, body string }{
		{"/v1/tools", fmt.Sprintf(`{"name":"air_quality","description":"Air quality index of a district 空气质量","parameters":{"type":"object","properties":{"district":{"type":"string"}},"required":["district"]},"endpoint":%q,"headers":{"X-Api-Key":"${CITYAGENT_SECRET_DEVTOOLS_E2E_AQI}"},"timeout_ms":3000,"clearance":"internal"}`, api.URL+"/aqi")},
		{"/v1/tools", fmt.Sprintf(`{"name":"slow_tool","description":"An endpoint that hangs","endpoint":%q,"timeout_ms":300}`, api.URL+"/hang")},
		{"/v1/tool-sources", fmt.Sprintf(`{"name":"bus","kind":"openapi","document":%q}`, strings.Replace(busOpenAPI, "{base}", api.URL, 1))},
		{"/v1/tool-sources", fmt.Sprintf(`{"name":"everything","kind":"mcp","command":[%q,%q,"stdio"],"tools":["get-sum","echo"]}`, node, script)},
		{"/v1/tool-sources", fmt.Sprintf(`{"name":"everythinghttp","kind":"mcp","url":%q,"tools":["echo"]}`, mcpURL)},
	}
	for _, r := range register {
		if code, body := in.call(t, "POST", r.path, dev, r.body); code != 201 {
			t.Fatalf("POST %s: %d %s", r.path, code, body)
		}
	}

	// Mistakes get problems naming them; operators may not register.
	for name, tc := range map[string]struct {
		key, path, body string
		want            int
		says            string
	}{
		"operator":       {op, "/v1/tools", `{"name":"x_tool","description":"d","endpoint":"http://127.0.0.1:1/"}`, 403, "developer"},
		"bad schema":     {dev, "/v1/tools", `{"name":"x_tool","description":"d","endpoint":"http://127.0.0.1:1/","parameters":{"type":"string"}}`, 400, "parameters"},
		"duplicate":      {dev, "/v1/tools", fmt.Sprintf(`{"name":"air_quality","description":"d","endpoint":%q}`, api.URL), 409, "air_quality"},
		"literal secret": {dev, "/v1/tools", `{"name":"y_tool","description":"d","endpoint":"http://127.0.0.1:1/","headers":{"Authorization":"Bearer abc"}}`, 400, "headers.Authorization"},
		"broken openapi": {dev, "/v1/tool-sources", `{"name":"broken","kind":"openapi","document":"openapi: 3.0.3\ninfo: {}\n"}`, 422, "invalid document"},
		"mcp down":       {dev, "/v1/tool-sources", `{"name":"down","kind":"mcp","url":"http://127.0.0.1:1/mcp","timeout_ms":2000}`, 422, "unreachable"},
		"mcp command":    {dev, "/v1/tool-sources", `{"name":"shell","kind":"mcp","command":["/bin/sh","-c","id"]}`, 403, "outbound.commands"},
		"metadata url":   {dev, "/v1/tool-sources", `{"name":"meta","kind":"openapi","url":"http://169.254.169.254/openapi.json"}`, 422, "not allowed"},
		"unknown field":  {dev, "/v1/tools", `{"name":"z_tool","description":"d","endpoint":"http://x/","secret":"abc"}`, 400, "secret"},
	} {
		code, body := in.call(t, "POST", tc.path, tc.key, tc.body)
		if code != tc.want || !strings.Contains(string(body), tc.says) || !strings.Contains(string(body), `"status":`) {
			t.Errorf("%s: %d %s, want %d problem naming %q", name, code, body, tc.want, tc.says)
		}
	}

	chat := func(in *instance, msg string) agents.ChatResult {
		t.Helper()
		b, _ := json.Marshal(map[string]string{"message": msg})
		code, body := in.call(t, "POST", "/v1/agents/devtools/chat", op, string(b))
		if code != 200 {
			t.Fatalf("chat %q: %d %s", msg, code, body)
		}
		var res agents.ChatResult
		_ = json.Unmarshal(body, &res)
		return res
	}
	callsEach := func(in *instance) {
		t.Helper()
		for _, tc := range []struct{ msg, tool, want string }{
			{`CALL air_quality {"district":"nanhu"}`, "air_quality", `"aqi":42`},
			{`CALL bus_get_arrivals {"stopId":"1203"}`, "bus_get_arrivals", `"next_minutes":[4,12]`},
			{`CALL everything_get_sum {"a":17,"b":25}`, "everything_get_sum", "The sum of 17 and 25 is 42"},
			{`CALL everythinghttp_echo {"message":"绿波"}`, "everythinghttp_echo", "Echo: 绿波"},
		} {
			res := chat(in, tc.msg)
			if len(res.ToolCalls) != 1 || !res.ToolCalls[0].OK || res.ToolCalls[0].Name != tc.tool || !strings.Contains(res.Answer, tc.want) {
				t.Errorf("%s: calls %+v, answer %q", tc.msg, res.ToolCalls, res.Answer)
			}
		}
		slow := chat(in, "CALL slow_tool {}")
		if len(slow.ToolCalls) != 1 || slow.ToolCalls[0].OK || !strings.Contains(slow.ToolCalls[0].Error, "timed out") ||
			!strings.Contains(slow.Answer, "timed out") || slow.ToolCalls[0].DurationMS > 3000 {
			t.Errorf("hanging tool: %+v, answer %q", slow.ToolCalls, slow.Answer)
		}
	}
	callsEach(in)

	// Direct invocation, and the list any key may read.
	code, body := in.call(t, "POST", "/v1/tools/air_quality/invoke", dev, `{"arguments":{"district":"gaoxin"}}`)
	if code != 200 || !strings.Contains(string(body), `"ok":true`) || !strings.Contains(string(body), `"district":"gaoxin"`) {
		t.Errorf("invoke: %d %s", code, body)
	}
	if code, body := in.call(t, "POST", "/v1/tools/air_quality/invoke", dev, `{"arguments":{}}`); code != 400 {
		t.Errorf("invoke with bad arguments: %d %s", code, body)
	}

	// Survive a restart: the registered tools and sources come back.
	in.stop()
	in2 := startServe(t, data, tweak)
	waitAvailable := func(in *instance, names ...string) map[string]bool {
		t.Helper()
		deadline := time.Now().Add(20 * time.Second)
		for {
			_, body := in.call(t, "GET", "/v1/tools", op, "")
			var list struct {
				Tools []struct {
					Name      string `json:"name"`
					Kind      string `json:"kind"`
					Available bool   `json:"available"`
				} `json:"tools"`
			}
			_ = json.Unmarshal(body, &list)
			avail := map[string]bool{}
			for _, tl := range list.Tools {
				avail[tl.Name] = tl.Available
			}
			all := true
			for _, n := range names {
				all = all && avail[n]
			}
			if all || time.Now().After(deadline) {
				return avail
			}
			time.Sleep(100 * time.Millisecond)
		}
	}
	avail := waitAvailable(in2, "air_quality", "bus_get_arrivals", "everything_get_sum", "everythinghttp_echo", "traffic_congestion")
	for _, n := range []string{"air_quality", "bus_get_arrivals", "everything_get_sum", "everythinghttp_echo", "slow_tool", "permits_search", "energy_peak_load"} {
		if _, ok := avail[n]; !ok {
			t.Errorf("%s missing from GET /v1/tools after restart: %v", n, avail)
		}
	}
	callsEach(in2)

	// A source that goes down marks its tools unavailable.
	stopMCP()
	deadline := time.Now().Add(20 * time.Second)
	for {
		_, body := in2.call(t, "GET", "/v1/tools", op, "")
		if strings.Contains(string(body), `"name":"everythinghttp_echo"`) {
			var list struct {
				Tools []struct {
					Name      string
					Available bool
					Status    string
				}
			}
			_ = json.Unmarshal(body, &list)
			down := false
			for _, tl := range list.Tools {
				if tl.Name == "everythinghttp_echo" && !tl.Available && tl.Status != "" {
					down = true
				}
			}
			if down {
				break
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("the tool of a stopped MCP server still shows available: %s", body)
		}
		time.Sleep(100 * time.Millisecond)
	}

	// Deleting needs the developer role.
	if code, _ := in2.call(t, "DELETE", "/v1/tools/air_quality", op, ""); code != 403 {
		t.Errorf("operator delete: %d", code)
	}
	if code, _ := in2.call(t, "DELETE", "/v1/tools/air_quality", dev, ""); code != 204 {
		t.Errorf("developer delete: %d", code)
	}
	if code, _ := in2.call(t, "DELETE", "/v1/tools/traffic_congestion", dev, ""); code != 409 {
		t.Errorf("delete a built-in: %d", code)
	}
	if code, _ := in2.call(t, "DELETE", "/v1/tool-sources/everythinghttp", dev, ""); code != 204 {
		t.Errorf("delete a source: %d", code)
	}
}
