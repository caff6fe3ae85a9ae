package server

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/modelcontextprotocol/go-sdk/mcp"

	"github.com/cityagent/cityagent/access"
	"github.com/cityagent/cityagent/tools"
)

const initializeBody = `{"jsonrpc":"2.0","id":1,"method":"initialize","params":{"protocolVersion":"2025-11-25","capabilities":{},"clientInfo":{"name":"raw","version":"1"}}}`

func mcpPost(t *testing.T, url, key, sessionID, body string) (*http.Response, string) {
	t.Helper()
	req, _ := http.NewRequest("POST", url, strings.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Accept", "application/json, text/event-stream")
	if key != "" {
		req.Header.Set("Authorization", key)
	}
	if sessionID != "" {
		req.Header.Set("Mcp-Session-Id", sessionID)
		req.Header.Set("Mcp-Protocol-Version", "2025-11-25")
	}
	resp, b, err := roundTrip(http.DefaultClient, req)
	if err != nil {
		t.Fatal(err)
	}
	return resp, string(b)
}

func TestMCPAuth(t *testing.T) {
	t.Parallel()
	env := newMCPEnv(t)
	cases := map[string]struct{ header, detail string }{
		"no key":      {"", "send an API key"},
		"not bearer":  {"Basic abc", "must be Bearer"},
		"unknown key": {"Bearer ca_nope", "unknown API key"},
	}
	for name, c := range cases {
		t.Run(name, func(t *testing.T) {
			resp, body := mcpPost(t, env.url, c.header, "", initializeBody)
			var p Problem
			if resp.StatusCode != 401 || resp.Header.Get("Content-Type") != "application/problem+json" ||
				json.Unmarshal([]byte(body), &p) != nil || !strings.Contains(p.Detail, c.detail) || resp.Header.Get("WWW-Authenticate") == "" {
				t.Fatalf("%d %s %s", resp.StatusCode, resp.Header.Get("Content-Type"), body)
			}
		})
	}
	// A session belongs to the key that opened it.
	resp, _ := mcpPost(t, env.url, "Bearer "+env.keys["operator/internal"], "", initializeBody)
	sid := resp.Header.Get("Mcp-Session-Id")
	if resp.StatusCode != 200 || sid == "" {
		t.Fatalf("initialize: %d, session %q", resp.StatusCode, sid)
	}
	list := `{"jsonrpc":"2.0","id":2,"method":"tools/list"}`
	if resp, body := mcpPost(t, env.url, "Bearer "+env.keys["developer/restricted"], sid, list); resp.StatusCode != 403 {
		t.Fatalf("another key on the session: %d %s", resp.StatusCode, body)
	}
	if resp, body := mcpPost(t, env.url, "", sid, list); resp.StatusCode != 401 {
		t.Fatalf("no key on the session: %d %s", resp.StatusCode, body)
	}
	if resp, body := mcpPost(t, env.url, "Bearer "+env.keys["operator/internal"], sid, list); resp.StatusCode != 200 || !strings.Contains(body, "ask_traffic") {
		t.Fatalf("the owner: %d %s", resp.StatusCode, body)
	}
	// A key revoked mid-session is refused on its next request.
	if err := env.db.RevokeKey(t.Context(), env.keyIDs["operator/internal"], time.Now()); err != nil {
		t.Fatal(err)
	}
	if resp, body := mcpPost(t, env.url, "Bearer "+env.keys["operator/internal"], sid, list); resp.StatusCode != 401 || !strings.Contains(body, "revoked") {
		t.Fatalf("a revoked key: %d %s", resp.StatusCode, body)
	}
}

// demoDocuments are a public document and the restricted one of the demo
// city, as {collection, id}.
func demoDocuments(t *testing.T, env *mcpEnv) (open, closed [2]string) {
	t.Helper()
	cols, err := env.kb.Collections(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range cols {
		docs, err := env.kb.Documents(t.Context(), c.Name)
		if err != nil {
			t.Fatal(err)
		}
		for _, d := range docs {
			switch {
			case d.Clearance == access.Public && open[0] == "":
				open = [2]string{c.Name, d.ID}
			case d.Clearance == access.Restricted:
				closed = [2]string{c.Name, d.ID}
			}
		}
	}
	if open[0] == "" || closed[0] == "" {
		t.Fatalf("the demo city lacks a public or a restricted document: %v %v", open, closed)
	}
	return open, closed
}

func TestMCPResourcesFollowClearance(t *testing.T) {
	t.Parallel()
	env := newMCPEnv(t)
	open, closed := demoDocuments(t, env)
	cs := env.connect(t, env.keys["operator/internal"], "2025-11-25", nil)
	list, err := cs.ListResources(t.Context(), nil)
	if err != nil {
		t.Fatal(err)
	}
	uris := map[string]bool{}
	for _, r := range list.Resources {
		uris[r.URI] = true
	}
	if !uris[collectionURI(open[0])] || !uris[documentURI(open[0], open[1])] {
		t.Fatalf("resources lack %v: %v", open, uris)
	}
	res, err := cs.ReadResource(t.Context(), &mcp.ReadResourceParams{URI: documentURI(open[0], open[1])})
	if err != nil {
		t.Fatal(err)
	}
	var d struct{ ID, Title, Collection string }
	if err := json.Unmarshal([]byte(res.Contents[0].Text), &d); err != nil || d.ID != open[1] || d.Title == "" {
		t.Fatalf("document %s (%v)", res.Contents[0].Text, err)
	}
	col, err := cs.ReadResource(t.Context(), &mcp.ReadResourceParams{URI: collectionURI(closed[0])})
	if err != nil || !strings.Contains(col.Contents[0].Text, `"uri"`) {
		t.Fatalf("collection: %v", err)
	}
	for _, uri := range []string{documentURI(open[0], "no-such-doc"), "cityagent://collections/nope", "cityagent://other"} {
		if _, err := cs.ReadResource(t.Context(), &mcp.ReadResourceParams{URI: uri}); err == nil {
			t.Fatalf("%s was readable", uri)
		}
	}
	if uris[documentURI(closed[0], closed[1])] || strings.Contains(col.Contents[0].Text, closed[1]) {
		t.Fatalf("%v above the key's clearance is listed", closed)
	}
	if _, err := cs.ReadResource(t.Context(), &mcp.ReadResourceParams{URI: documentURI(closed[0], closed[1])}); err == nil || !strings.Contains(err.Error(), "not found") {
		t.Fatalf("reading %v above the key's clearance: %v", closed, err)
	}
	// A restricted key reads it.
	dev := env.connect(t, env.keys["developer/restricted"], "", nil)
	if r, err := dev.ReadResource(t.Context(), &mcp.ReadResourceParams{URI: documentURI(closed[0], closed[1])}); err != nil || !strings.Contains(r.Contents[0].Text, closed[1]) {
		t.Fatalf("restricted key reading %v: %v", closed, err)
	}
	// A hotline key reads no knowledge over MCP, as over HTTP.
	hot := env.connect(t, env.keys["hotline/internal"], "2025-11-25", nil)
	if l, err := hot.ListResources(t.Context(), nil); err != nil || len(l.Resources) != 0 {
		t.Fatalf("hotline resources: %v %v", l, err)
	}
}

func TestMCPToolListChanged(t *testing.T) {
	t.Parallel()
	env := newMCPEnv(t)
	for _, v := range mcpVersions {
		t.Run("version="+v, func(t *testing.T) {
			changed := make(chan struct{}, 8)
			cs := env.connect(t, env.keys["developer/internal"], v, &mcp.ClientOptions{
				ToolListChangedHandler: func(context.Context, *mcp.ToolListChangedRequest) { changed <- struct{}{} }})
			toolNames(t, cs) // the session is live before the change
			busTool := func(name string) tools.Tool {
				return tools.MustTyped(tools.Spec{Name: name, Description: "bus arrivals", Clearance: access.Internal},
					func(context.Context, roadArgs) (tools.Result, error) {
						return tools.JSONResult(map[string]any{}, tools.Citation{})
					})
			}
			// The notification travels on a stream the client opens in the
			// background after initialize (GET, or subscriptions/listen);
			// a change made before it is attached is not seen, so register
			// under new names until one is.
			name := ""
			for i := 0; name == ""; i++ {
				n := fmt.Sprintf("bus_eta_%d", i)
				if err := env.reg.Register(busTool(n)); err != nil {
					t.Fatal(err)
				}
				select {
				case <-changed:
					name = n
				case <-time.After(200 * time.Millisecond):
				case <-t.Context().Done():
					t.Fatal("no list_changed after register")
				}
			}
			if got := toolNames(t, cs); !slices.Contains(got, name) {
				t.Fatalf("after register: %v", got)
			}
			for len(changed) > 0 { // what came before the removal does not count
				<-changed
			}
			if err := env.reg.Remove(name); err != nil {
				t.Fatal(err)
			}
			select {
			case <-changed:
			case <-t.Context().Done():
				t.Fatal("no list_changed after remove")
			}
			if got := toolNames(t, cs); slices.Contains(got, name) {
				t.Fatalf("after remove: %v", got)
			}
		})
	}
}

// One keep-alive connection that alternates between the HTTP API and /mcp
// (a client's connection pool does this) is served right every time.
func TestMCPSharesConnectionsWithTheAPI(t *testing.T) {
	t.Parallel()
	env := newMCPEnv(t)
	conn, err := net.Dial("tcp", strings.TrimPrefix(env.base, "http://"))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	br := bufio.NewReader(conn)
	key := env.keys["operator/internal"]
	send := func(method, path, body string) (*http.Response, string) {
		t.Helper()
		req, _ := http.NewRequest(method, env.base+path, strings.NewReader(body))
		req.Header.Set("Authorization", "Bearer "+key)
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set("Accept", "application/json, text/event-stream")
		if err := req.Write(conn); err != nil {
			t.Fatal(err)
		}
		resp, err := http.ReadResponse(br, req)
		if err != nil {
			t.Fatalf("%s %s: %v", method, path, err)
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		return resp, string(b)
	}
	for i := range 3 {
		if resp, body := send("GET", "/v1/agents", ""); resp.StatusCode != 200 || !strings.Contains(body, `"traffic"`) {
			t.Fatalf("round %d /v1/agents: %d %s", i, resp.StatusCode, body)
		}
		resp, body := send("POST", "/mcp", initializeBody)
		if resp.StatusCode != 200 || !strings.Contains(body, `"serverInfo"`) {
			t.Fatalf("round %d /mcp: %d %s", i, resp.StatusCode, body)
		}
		if resp, body := send("GET", "/healthz", ""); resp.StatusCode != 200 || !strings.Contains(body, `"ok"`) {
			t.Fatalf("round %d /healthz: %d %s", i, resp.StatusCode, body)
		}
	}
	// Paths the two servers read differently end in a 404, not a loop.
	for _, path := range []string{"//mcp", "/mcp/", "/MCP", "/mcp/../mcp"} {
		if resp, body := send("POST", path, initializeBody); resp.StatusCode != 404 {
			t.Fatalf("%s: %d %s", path, resp.StatusCode, body)
		}
	}
	// Pipelined: two requests written at once, the second for the other side.
	host := strings.TrimPrefix(env.base, "http://")
	pipelined := fmt.Sprintf("POST /mcp HTTP/1.1\r\nHost: %s\r\nAuthorization: Bearer %s\r\nContent-Type: application/json\r\n"+
		"Accept: application/json, text/event-stream\r\nContent-Length: %d\r\n\r\n%sGET /healthz HTTP/1.1\r\nHost: %s\r\n\r\n", host, key, len(initializeBody), initializeBody, host)
	if _, err := io.WriteString(conn, pipelined); err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{`"serverInfo"`, `"ok"`} {
		resp, err := http.ReadResponse(br, nil)
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != 200 || !strings.Contains(string(b), want) {
			t.Fatalf("pipelined: %d %s, want %s", resp.StatusCode, b, want)
		}
	}
}

// Shutdown ends open MCP sessions and their GET streams.
func TestMCPShutdownEndsStreams(t *testing.T) {
	t.Parallel()
	env := newMCPEnv(t)
	key := "Bearer " + env.keys["operator/internal"]
	resp, _ := mcpPost(t, env.url, key, "", initializeBody)
	sid := resp.Header.Get("Mcp-Session-Id")
	mcpPost(t, env.url, key, sid, `{"jsonrpc":"2.0","method":"notifications/initialized"}`)
	req, _ := http.NewRequest("GET", env.url, nil)
	req.Header.Set("Authorization", key)
	req.Header.Set("Accept", "text/event-stream")
	req.Header.Set("Mcp-Session-Id", sid)
	req.Header.Set("Mcp-Protocol-Version", "2025-11-25")
	stream, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer stream.Body.Close()
	if stream.StatusCode != 200 || !strings.HasPrefix(stream.Header.Get("Content-Type"), "text/event-stream") {
		t.Fatalf("GET stream: %d %s", stream.StatusCode, stream.Header.Get("Content-Type"))
	}
	ended := make(chan error, 1)
	go func() { _, err := io.Copy(io.Discard, stream.Body); ended <- err }()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := env.srv.Shutdown(ctx); err != nil {
		t.Fatal(err)
	}
	select {
	case <-ended:
	case <-t.Context().Done():
		t.Fatal("the GET stream outlived Shutdown")
	}
	if _, err := http.Post(env.url, "application/json", strings.NewReader(initializeBody)); err == nil {
		t.Fatal("/mcp still accepts connections after Shutdown")
	}
}
