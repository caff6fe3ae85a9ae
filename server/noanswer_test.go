package server

import (
	"strings"
	"testing"
	"time"

	"github.com/cityagent/cityagent/agents"
	"github.com/cityagent/cityagent/llm"
)

// TestNoModelAnswersIs503: when every model, the offline fallback included,
// is cut off by the turn's timeout, nothing the client sent was wrong: each
// chat form answers 503 with Retry-After (a stream: an error event with
// status 503), never 500, and the message says to retry.
func TestNoModelAnswersIs503(t *testing.T) {
	t.Parallel()
	hang := turnModel{hang: true}
	env := newTurnEnvOn(t, agents.Models{ByName: map[string]llm.Model{"m": hang}, Default: "m", Offline: hang}, 300*time.Millisecond, nil, Options{})
	for name, tc := range map[string]struct{ path, body string }{
		"chat":          {"/v1/agents/traffic/chat", `{"message":"Is Zhongshan Road congested?"}`},
		"chat stream":   {"/v1/agents/traffic/chat", `{"message":"Is Zhongshan Road congested?","stream":true}`},
		"openai":        {"/v1/chat/completions", `{"model":"traffic","messages":[{"role":"user","content":"q"}]}`},
		"openai stream": {"/v1/chat/completions", `{"model":"traffic","stream":true,"messages":[{"role":"user","content":"q"}]}`},
	} {
		t.Run(name, func(t *testing.T) {
			resp, b := env.post(t, tc.path, tc.body)
			if !strings.Contains(tc.body, `"stream":true`) {
				if resp.StatusCode != 503 || resp.Header.Get("Retry-After") == "" || resp.Header.Get("Content-Type") != errorContentType(tc.path) {
					t.Fatalf("%d Retry-After=%q %s", resp.StatusCode, resp.Header.Get("Retry-After"), b)
				}
				if !strings.Contains(string(b), "retry") {
					t.Errorf("the problem does not say to retry: %s", b)
				}
				return
			}
			// A stream has already answered 200; its end says why: the
			// native error event carries the status, OpenAI's error chunk
			// its code.
			unavailable := `"status":503`
			if strings.HasPrefix(tc.path, "/v1/chat/") {
				unavailable = `"code":"service_unavailable"`
			}
			if resp.StatusCode != 200 || !strings.Contains(string(b), unavailable) || !strings.Contains(string(b), "retry") {
				t.Fatalf("%d %s", resp.StatusCode, b)
			}
		})
	}
}
