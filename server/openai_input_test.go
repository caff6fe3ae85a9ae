package server

import (
	"encoding/json"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/cityagent/cityagent/access"
	"github.com/cityagent/cityagent/llm"
	"github.com/cityagent/cityagent/llm/scripted"
)

// TestOpenAIRefusesWhatItCannotHonour: a field the route would drop is a
// 400 in OpenAI's envelope naming it, as docs/api.md says; the fields the
// official clients and common UIs send are accepted.
func TestOpenAIRefusesWhatItCannotHonour(t *testing.T) {
	t.Parallel()
	env := newOAIEnv(t, nil, 5*time.Second)
	user := `"messages":[{"role":"user","content":"Is Zhongshan Road congested?"}]`
	for name, tc := range map[string]struct{ body, param, says string }{
		"unknown field":         {`{"model":"traffic","foo_bar":1,` + user + `}`, "foo_bar", "not a field"},
		"session_id":            {`{"model":"traffic","session_id":"ses_x",` + user + `}`, "session_id", "messages you send select the session"},
		"unknown message field": {`{"model":"traffic","messages":[{"role":"user","content":"hi","foo":1}]}`, "messages[0].foo", "not a message field"},
		"n above 1":             {`{"model":"traffic","n":2,` + user + `}`, "n", "must be 1"},
		"json response":         {`{"model":"traffic","response_format":{"type":"json_object"},` + user + `}`, "response_format", `type must be "text"`},
		"image beside text": {`{"model":"traffic","messages":[{"role":"user","content":[{"type":"text","text":"what is this?"},` +
			`{"type":"image_url","image_url":{"url":"https://example.org/a.png"}}]}]}`, "messages[0].content", `"image_url"`},
		"image only": {`{"model":"traffic","messages":[{"role":"user","content":[{"type":"image_url","image_url":{"url":"https://example.org/a.png"}}]}]}`,
			"messages[0].content", "only text parts"},
		"blank question":    {`{"model":"traffic","messages":[{"role":"user","content":"  "}]}`, "messages[0].content", "must not be empty"},
		"question too long": {`{"model":"traffic","messages":[{"role":"user","content":"` + strings.Repeat("x", 200_000) + `"}]}`, "messages[0].content", "at most 8000 characters"},
		"system over limit": {`{"model":"traffic","messages":[{"role":"system","content":"` + strings.Repeat("s", 4001) + `"},{"role":"user","content":"hi"}]}`, "instructions", "at most 4000 characters of system messages, not 4001"},
		// Only what was sent counts, not the separators that join it.
		"system 2001 + 2001": {`{"model":"traffic","messages":[{"role":"system","content":"` + strings.Repeat("a", 2001) + `"},{"role":"system","content":"` +
			strings.Repeat("b", 2001) + `"},{"role":"user","content":"hi"}]}`, "instructions", "at most 4000 characters of system messages, not 4002"},
		"ends with an agent": {`{"model":"traffic","messages":[{"role":"user","content":"hi"},{"role":"assistant","content":"yes"},{"role":"system","content":"x"}]}`, "messages", "must end with a user message"},
	} {
		t.Run(name, func(t *testing.T) {
			resp, b := env.post(t, access.RoleOperator, tc.body)
			var got struct{ Error oaiError }
			if err := json.Unmarshal(b, &got); err != nil || resp.StatusCode != 400 {
				t.Fatalf("%d %s", resp.StatusCode, b)
			}
			if deref(got.Error.Param) != tc.param || !strings.Contains(got.Error.Message, tc.says) || got.Error.Type != "invalid_request_error" {
				t.Fatalf("error %s, want param %s saying %q", b, tc.param, tc.says)
			}
		})
	}
	// What clients send beside the conversation is accepted and ignored.
	accepted := map[string]string{
		"sampling and bookkeeping": `{"model":"traffic","temperature":0.2,"top_p":1,"max_tokens":100,"max_completion_tokens":100,` +
			`"presence_penalty":0,"frequency_penalty":0,"stop":["\n\n"],"seed":1,"user":"u1","n":1,"response_format":{"type":"text"},` +
			`"parallel_tool_calls":true,"metadata":{"app":"x"},"store":false,"logprobs":false,"stream":false,` + user + `}`,
		"message name":       `{"model":"traffic","messages":[{"role":"user","name":"ana","content":"Is Zhongshan Road congested?"}]}`,
		"text parts":         `{"model":"traffic","messages":[{"role":"user","content":[{"type":"text","text":"Is Zhongshan "},{"type":"text","text":"Road congested?"}]}]}`,
		"echoed assistant":   `{"model":"traffic","messages":[{"role":"user","content":"hi"},{"role":"assistant","content":"Hello.","refusal":null,"annotations":[]},{"role":"user","content":"Is Zhongshan Road congested?"}]}`,
		"system 2000 + 2000": `{"model":"traffic","messages":[{"role":"system","content":"` + strings.Repeat("a", 1999) + `."},{"role":"developer","content":"` + strings.Repeat("b", 1999) + `."},` + user[len(`"messages":[`):] + `}`,
	}
	for name, body := range accepted {
		t.Run(name, func(t *testing.T) {
			if resp, b := env.post(t, access.RoleOperator, body); resp.StatusCode != 200 {
				t.Fatalf("%d %s", resp.StatusCode, b)
			}
		})
	}
}

// TestOpenAITrailingSystemMessage: a system message after the question is
// an instruction like any other, as docs/api.md ("anywhere in messages") says.
func TestOpenAITrailingSystemMessage(t *testing.T) {
	t.Parallel()
	model := scripted.New("m", scripted.Reply("Slow.")).RepeatLast()
	env := newOAIEnv(t, map[string]llm.Model{"m": model}, 5*time.Second)
	resp, b := env.post(t, access.RoleOperator, `{"model":"traffic","messages":[{"role":"user","content":"Is Zhongshan Road congested?"},`+
		`{"role":"system","content":"Answer in one word."}]}`)
	if resp.StatusCode != 200 || !strings.Contains(string(b), "Slow.") {
		t.Fatalf("%d %s", resp.StatusCode, b)
	}
	reqs := model.Requests()
	if len(reqs) == 0 || !strings.Contains(reqs[0].Messages[0].Content, "<<<CLIENT INSTRUCTIONS>>>\nAnswer in one word.") {
		t.Fatalf("the trailing system message did not reach the prompt: %+v", reqs)
	}
	if last := reqs[0].Messages[len(reqs[0].Messages)-1]; last.Role != llm.RoleUser || !strings.Contains(last.Content, "Zhongshan") {
		t.Fatalf("the question is not the last message: %+v", last)
	}
}

// TestOpenAIClientToolNamedLikeAHiddenServerTool: a client tool may take
// the name of a registered tool above the key's clearance, exactly as it
// may take a name no tool has; the call comes back to the client. Only a
// key that can see the tool is refused its name.
func TestOpenAIClientToolNamedLikeAHiddenServerTool(t *testing.T) {
	t.Parallel()
	model := scripted.New("m", scripted.Call("secret_lookup", `{"road":"Renmin"}`)).RepeatLast()
	env := newMCPEnvWith(t, model, Options{Version: "test"})
	body := func(tool string) string {
		return `{"model":"traffic","tools":[{"type":"function","function":{"name":"` + tool + `","parameters":{"type":"object"}}}],` +
			`"messages":[{"role":"user","content":"Renmin Road?"}]}`
	}
	post := func(key, body string) (int, []byte) {
		req, _ := http.NewRequest("POST", env.base+"/v1/chat/completions", strings.NewReader(body))
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set("Authorization", "Bearer "+env.keys[key])
		resp, b, err := roundTrip(http.DefaultClient, req)
		if err != nil {
			t.Fatal(err)
		}
		return resp.StatusCode, b
	}
	status, b := post("operator/internal", body("secret_lookup"))
	var out struct {
		Choices []struct {
			FinishReason string `json:"finish_reason"`
			Message      struct {
				ToolCalls []struct {
					Function struct{ Name string } `json:"function"`
				} `json:"tool_calls"`
			} `json:"message"`
		} `json:"choices"`
	}
	if status != 200 || json.Unmarshal(b, &out) != nil || len(out.Choices) != 1 || out.Choices[0].FinishReason != "tool_calls" ||
		len(out.Choices[0].Message.ToolCalls) != 1 || out.Choices[0].Message.ToolCalls[0].Function.Name != "secret_lookup" {
		t.Fatalf("a client tool named like a hidden server tool: %d %s", status, b)
	}
	// The restricted key sees secret_lookup: its name is the server's.
	status, b = post("developer/restricted", body("secret_lookup"))
	if status != 400 || !strings.Contains(string(b), `"param":"tools[0].function.name"`) || !strings.Contains(string(b), "server tool") {
		t.Fatalf("a key that sees the tool: %d %s", status, b)
	}
	// propose_ is reserved in any case.
	status, b = post("operator/internal", body("PROPOSE_retime"))
	if status != 400 || !strings.Contains(string(b), "reserved") {
		t.Fatalf("PROPOSE_retime: %d %s", status, b)
	}
}
