package server

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/cityagent/cityagent/access"
	"github.com/cityagent/cityagent/actions/audit"
	"github.com/cityagent/cityagent/agents"
	"github.com/cityagent/cityagent/llm"
	"github.com/cityagent/cityagent/store"
)

// turnModel answers in two streamed pieces, or, when hang is set, streams
// nothing and waits for its context to end, like a model server that
// stopped answering.
type turnModel struct{ hang bool }

var _ llm.Model = turnModel{}

func (turnModel) Name() string { return "turn-model" }

func (m turnModel) Generate(ctx context.Context, _ llm.Request, stream llm.StreamFunc) (llm.Response, error) {
	if m.hang {
		<-ctx.Done()
		return llm.Response{}, ctx.Err()
	}
	parts := []string{"Zhongshan Road ", "is congested."}
	for _, p := range parts {
		if stream != nil {
			if err := stream(ctx, p); err != nil {
				return llm.Response{}, err
			}
		}
	}
	return llm.Response{Model: "turn-model", Content: strings.Join(parts, "")}, nil
}

type turnEnv struct {
	srv  *Server
	addr string // host:port
	db   *store.DB
	key  string // an operator's secret
}

// newTurnEnv starts a real server on a free 127.0.0.1 port with one agent,
// "traffic", on model, auditing through aud (nil: the store itself).
func newTurnEnv(t *testing.T, model llm.Model, aud func(*store.DB) audit.Auditor, opts Options) *turnEnv {
	t.Helper()
	return newTurnEnvOn(t, agents.Models{ByName: map[string]llm.Model{"m": model}, Default: "m", Offline: turnModel{}}, time.Minute, aud, opts)
}

// newTurnEnvOn is newTurnEnv with the agent's models and turn timeout given.
func newTurnEnvOn(t *testing.T, models agents.Models, timeout time.Duration, aud func(*store.DB) audit.Auditor, opts Options) *turnEnv {
	t.Helper()
	ctx := context.Background()
	db, err := store.Open(ctx, "", storeDir(t))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	cat, err := agents.NewCatalog(agents.Spec{Name: "traffic", Instructions: "x", Budgets: agents.Budgets{Timeout: timeout}})
	if err != nil {
		t.Fatal(err)
	}
	var a audit.Auditor = db
	if aud != nil {
		a = aud(db)
	}
	runner := &agents.Runner{Catalog: cat, Sessions: db, Audit: a, Log: slog.New(slog.DiscardHandler), Models: models}
	srv := New(Deps{Runner: runner, Catalog: cat, Keys: db, Sessions: db, Log: slog.New(slog.DiscardHandler)}, opts)
	// fasthttp keeps an idle worker goroutine per recent connection for
	// MaxIdleWorkerDuration (10 s by default): a cache, not a leak. Shorten
	// it so that goroutine counts measure the streams alone.
	srv.App().Server().MaxIdleWorkerDuration = 100 * time.Millisecond
	_, secret, err := IssueKey(ctx, db, KeyRequest{Name: "op", Role: string(access.RoleOperator), Clearance: "internal"}, "test", time.Now())
	if err != nil {
		t.Fatal(err)
	}
	addr := serveLoopback(t, srv)
	return &turnEnv{srv: srv, addr: addr, db: db, key: secret}
}

// post sends body as the operator to path and reads the whole answer.
func (e *turnEnv) post(t *testing.T, path, body string) (*http.Response, []byte) {
	t.Helper()
	req, _ := http.NewRequest("POST", "http://"+e.addr+path, strings.NewReader(body))
	req.Header.Set("Authorization", "Bearer "+e.key)
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	return resp, b
}

// openStream sends a streamed chat over a raw connection (no client
// goroutines left behind) and returns once the turn has started.
func (e *turnEnv) openStream(t *testing.T) net.Conn {
	t.Helper()
	conn, err := net.Dial("tcp", e.addr)
	if err != nil {
		t.Fatal(err)
	}
	body := `{"message":"Is Zhongshan Road congested?","stream":true}`
	fmt.Fprintf(conn, "POST /v1/agents/traffic/chat HTTP/1.1\r\nHost: %s\r\nAuthorization: Bearer %s\r\nContent-Type: application/json\r\nContent-Length: %d\r\n\r\n%s",
		e.addr, e.key, len(body), body)
	conn.SetReadDeadline(time.Now().Add(2 * time.Minute)) // a hang guard, far above a loaded start
	br := bufio.NewReader(conn)
	for {
		line, err := br.ReadString('\n')
		if err != nil {
			conn.Close()
			t.Fatalf("stream ended before the turn started: %v", err)
		}
		if strings.HasPrefix(line, "event: session") {
			return conn
		}
		if strings.HasPrefix(line, "HTTP/1.1 ") && !strings.HasPrefix(line, "HTTP/1.1 200") {
			conn.Close()
			t.Fatalf("stream refused: %s", line)
		}
	}
}

// settledGoroutines waits for the goroutine count to stop moving.
func settledGoroutines() int {
	n := runtime.NumGoroutine()
	for range 50 {
		time.Sleep(20 * time.Millisecond)
		m := runtime.NumGoroutine()
		if m == n {
			return n
		}
		n = m
	}
	return n
}

// streamHangGuard bounds each wait below: far above the few seconds the
// streams take to end on a loaded machine, and far below the heartbeat, so
// only the probes can end them in time. It is a hang guard, not a timing.
const streamHangGuard = 2 * time.Minute

// waitUntil polls cond until it holds; past streamHangGuard it fails the
// test with what(), with every goroutine's stack.
func waitUntil(t *testing.T, cond func() bool, what func() string) {
	t.Helper()
	deadline := time.Now().Add(streamHangGuard)
	for !cond() {
		if time.Now().After(deadline) {
			buf := make([]byte, 1<<16)
			buf = buf[:runtime.Stack(buf, true)]
			t.Fatalf("after %v: %s; some stacks:\n%s", streamHangGuard, what(), buf)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// TestDroppedStreamsEndPromptly opens 200 streamed chats on a model that
// never answers, drops every connection, and expects the goroutines they
// held to be gone with no heartbeat to write: disconnects used to be
// noticed only at a heartbeat write. The heartbeat is an hour, so the
// streams can end in time only through the silent probes.
func TestDroppedStreamsEndPromptly(t *testing.T) {
	const streams = 200
	env := newTurnEnv(t, turnModel{hang: true}, nil, Options{MaxTurns: 2 * streams, HeartbeatInterval: time.Hour})
	// Warm up: one stream opened and dropped, so that lazily started
	// goroutines (the store's, fasthttp's) are part of the baseline.
	env.openStream(t).Close()
	waitUntil(t, func() bool { return openStreams(env.srv) == 0 },
		func() string { return "the warm-up stream is still open" })
	baseline := settledGoroutines()

	conns := make([]net.Conn, streams)
	var wg sync.WaitGroup
	for i := range conns {
		wg.Add(1)
		go func() {
			defer wg.Done()
			conns[i] = env.openStream(t)
		}()
	}
	wg.Wait()
	held := runtime.NumGoroutine()
	if open := openStreams(env.srv); open != streams || held < baseline+streams {
		t.Fatalf("%v streams open, %d goroutines, baseline %d: the %d streams are not running", open, held, baseline, streams)
	}
	for _, c := range conns {
		c.Close()
	}
	// Every turn ends (the server's own count), then the goroutines they
	// held go (fasthttp's idle workers expire within 100 ms).
	waitUntil(t, func() bool { return openStreams(env.srv) == 0 },
		func() string {
			return fmt.Sprintf("%v of %d dropped streams still open", openStreams(env.srv), streams)
		})
	const tolerance = 5
	n := runtime.NumGoroutine()
	waitUntil(t, func() bool { n = runtime.NumGoroutine(); return n <= baseline+tolerance },
		func() string {
			return fmt.Sprintf("%d goroutines after %d streams dropped (baseline %d, %d while open)", n, streams, baseline, held)
		})
	t.Logf("baseline %d, %d with %d streams open, %d after they dropped", baseline, held, streams, n)
}
