package server

import (
	"context"
	"encoding/json"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/cityagent/cityagent/access"
)

// One key holds at most MaxStreamsPerKey event streams; one more is a 429
// problem with Retry-After, other keys are not affected, and a stream that
// ends frees its place.
func TestEventFeedStreamsPerKeyAreBounded(t *testing.T) {
	t.Parallel()
	env := newEventEnvOpts(t, Options{HeartbeatInterval: 100 * time.Millisecond, MaxStreamsPerKey: 2})
	ctx1, cancel1 := context.WithCancel(t.Context())
	r1, _ := env.open(t, ctx1, access.RoleOperator)
	defer r1.Body.Close()
	r2, _ := env.open(t, t.Context(), access.RoleOperator)
	defer r2.Body.Close()

	third := func() *http.Response {
		req, _ := http.NewRequestWithContext(t.Context(), "GET", env.base+"/v1/events", nil)
		req.Header.Set("Authorization", "Bearer "+env.keys[access.RoleOperator])
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		return resp
	}
	resp := third()
	var p struct {
		Status int    `json:"status"`
		Detail string `json:"detail"`
	}
	err := json.NewDecoder(resp.Body).Decode(&p)
	resp.Body.Close()
	if resp.StatusCode != http.StatusTooManyRequests || !strings.HasPrefix(resp.Header.Get("Content-Type"), "application/problem+json") ||
		resp.Header.Get("Retry-After") == "" || err != nil || p.Status != 429 || !strings.Contains(p.Detail, "server.max_streams_per_key") {
		t.Fatalf("third stream of one key: %d %q Retry-After %q, %+v (%v)", resp.StatusCode, resp.Header.Get("Content-Type"), resp.Header.Get("Retry-After"), p, err)
	}

	other, _ := env.open(t, t.Context(), access.RoleHotline) // another key is not counted against it
	defer other.Body.Close()
	if n := openStreams(env.srv); n != 3 {
		t.Fatalf("open streams = %v, want 3", n)
	}

	cancel1() // the first stream's client leaves: its place is free again
	deadline := time.Now().Add(30 * time.Second)
	for openStreams(env.srv) != 2 {
		if time.Now().After(deadline) {
			t.Fatal("the first stream's writer still runs after its client left")
		}
		time.Sleep(20 * time.Millisecond)
	}
	r3, _ := env.open(t, t.Context(), access.RoleOperator)
	r3.Body.Close()
}
