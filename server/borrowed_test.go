package server

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/cityagent/cityagent/knowledge"
	"github.com/cityagent/cityagent/knowledge/embedded"
	"github.com/cityagent/cityagent/store"
)

// TestBorrowedStringsDoNotOutliveRequests drives mixed traffic over one
// keep-alive connection — document writes interleaved with long unknown
// paths and other methods, so that fasthttp reuses its request buffers — and
// then checks byte for byte what outlived the requests: the collection name
// each stored document carries (in memory, after compaction and after a
// reopen from disk) and the method labels of /metrics. Fiber's strings point
// into those reused buffers; the server copies them once (Immutable).
func TestBorrowedStringsDoNotOutliveRequests(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	db, err := store.Open(ctx, "", storeDir(t))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	dir := t.TempDir()
	ks, err := embedded.Open(dir, embedded.WithCompactMinBytes(4<<10))
	if err != nil {
		t.Fatal(err)
	}
	kb := knowledge.NewBase(ks, knowledge.NewHashedEmbedder(0))
	_, secret, err := IssueKey(ctx, db, KeyRequest{Name: "writer", Role: "developer", Clearance: "internal"}, "test", time.Now())
	if err != nil {
		t.Fatal(err)
	}
	srv := New(Deps{Keys: db, Sessions: db, Knowledge: kb, Log: slog.New(slog.NewTextHandler(io.Discard, nil))}, Options{})
	addr := serveLoopback(t, srv)
	base := "http://" + addr

	// One connection, so every request lands in the same reused buffers.
	client := &http.Client{Transport: &http.Transport{MaxConnsPerHost: 1, MaxIdleConnsPerHost: 1}}
	do := func(method, path, body string) int {
		t.Helper()
		req, err := http.NewRequest(method, base+path, strings.NewReader(body))
		if err != nil {
			t.Fatal(err)
		}
		req.Header.Set("Authorization", "Bearer "+secret)
		if body != "" {
			req.Header.Set("Content-Type", "application/json")
		}
		resp, err := client.Do(req)
		if err != nil {
			t.Fatalf("%s %s: %v", method, path, err)
		}
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		return resp.StatusCode
	}

	const name = "borrowed-names"
	if st := do("POST", "/v1/collections", `{"name":"`+name+`"}`); st != http.StatusCreated {
		t.Fatalf("create collection: status %d", st)
	}
	long := strings.Repeat("z", 200)
	const docs = 80
	for i := range docs {
		body := fmt.Sprintf(`{"id":"doc-%03d","title":"Notice %d","text":"Street works notice number %d on Binhe Road; detours are signposted."}`, i, i, i)
		if st := do("POST", "/v1/collections/"+name+"/documents", body); st/100 != 2 {
			t.Fatalf("ingest doc-%03d: status %d", i, st)
		}
		do("GET", "/v1/agents/"+long, "")
		do("DELETE", "/v1/"+long[:i%50+1], "")
		do("POST", "/v1/unknown-"+long[:i%30+1], `{"x":1}`)
		do("PUT", "/zz"+long[:i%70+1], "")
	}

	// Metric labels: only real methods.
	req, _ := http.NewRequest("GET", base+"/metrics", nil)
	resp, err := client.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	metricsBody, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("/metrics: status %d: %.300s", resp.StatusCode, metricsBody)
	}
	methodLabel := regexp.MustCompile(`^cityagent_http_requests_total\{method="([^"]*)"`)
	seen := map[string]bool{}
	sc := bufio.NewScanner(bytes.NewReader(metricsBody))
	for sc.Scan() {
		if m := methodLabel.FindStringSubmatch(sc.Text()); m != nil {
			seen[m[1]] = true
		}
	}
	if len(seen) == 0 {
		t.Fatal("/metrics has no cityagent_http_requests_total series")
	}
	for m := range seen {
		switch m {
		case "GET", "POST", "DELETE", "PUT":
		default:
			t.Errorf("metric method label %q: a borrowed string outlived its request", m)
		}
	}

	check := func(when string, s *embedded.Store) {
		t.Helper()
		cols, err := s.Collections(ctx)
		if err != nil {
			t.Fatalf("%s: collections: %v", when, err)
		}
		if len(cols) != 1 || cols[0].Name != name {
			t.Fatalf("%s: collections = %+v, want only %q", when, cols, name)
		}
		got, err := s.Documents(ctx, name)
		if err != nil {
			t.Fatalf("%s: documents: %v", when, err)
		}
		if len(got) != docs {
			t.Fatalf("%s: %d documents, want %d", when, len(got), docs)
		}
		for _, d := range got {
			if d.Collection != name {
				t.Fatalf("%s: document %s has collection %q, want %q", when, d.ID, d.Collection, name)
			}
		}
	}
	check("after the traffic", ks)
	if err := ks.Compact(ctx); err != nil {
		t.Fatalf("compact: %v", err)
	}
	check("after compaction", ks)
	if err := ks.Close(); err != nil {
		t.Fatal(err)
	}
	reopened, err := embedded.Open(dir)
	if err != nil {
		t.Fatalf("reopen: %v", err)
	}
	defer reopened.Close()
	check("after reopening", reopened)
}
