package server

import (
	"context"
	"errors"
	"log/slog"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/cityagent/cityagent/access"
	"github.com/cityagent/cityagent/llm"
	"github.com/cityagent/cityagent/store"
	"github.com/cityagent/cityagent/tools"
)

// ctxKeys is the state store's KeyStore, keeping the context each request
// authenticated with: authenticate passes the request's context through.
type ctxKeys struct {
	*store.DB
	seen chan context.Context
}

var _ KeyStore = ctxKeys{}

func (k ctxKeys) KeyByHash(ctx context.Context, hash string) (store.Key, error) {
	select {
	case k.seen <- ctx:
	default:
	}
	return k.DB.KeyByHash(ctx, hash)
}

// ctxModel is a model server that stopped answering: it waits for its
// context to end and reports how it ended.
type ctxModel struct{ ended chan error }

var _ llm.Model = ctxModel{}

func (ctxModel) Name() string { return "ctx-model" }

func (m ctxModel) Generate(ctx context.Context, _ llm.Request, _ llm.StreamFunc) (llm.Response, error) {
	<-ctx.Done()
	select {
	case m.ended <- ctx.Err():
	default:
	}
	return llm.Response{}, ctx.Err()
}

type ctxEnv struct {
	srv     *Server
	base    string
	secret  string // a developer's key
	keys    ctxKeys
	started chan struct{}
	ended   chan error // how the hanging tool's context ended
}

// newCtxEnv serves a server whose one tool, "hang", waits for its context.
func newCtxEnv(t *testing.T, opts Options) *ctxEnv {
	t.Helper()
	db, err := store.Open(context.Background(), "", storeDir(t))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	e := &ctxEnv{keys: ctxKeys{DB: db, seen: make(chan context.Context, 1)}, started: make(chan struct{}, 1), ended: make(chan error, 1)}
	hang := tools.MustTyped(tools.Spec{Name: "hang", Description: "waits for its context"}, func(ctx context.Context, _ struct{}) (tools.Result, error) {
		e.started <- struct{}{}
		<-ctx.Done()
		e.ended <- ctx.Err()
		return tools.Result{}, ctx.Err()
	})
	reg, err := tools.NewRegistry(hang)
	if err != nil {
		t.Fatal(err)
	}
	e.srv = New(Deps{Tools: reg, Keys: e.keys, Sessions: db, Log: slog.New(slog.DiscardHandler)}, opts)
	_, e.secret, err = IssueKey(context.Background(), db, KeyRequest{Name: "dev", Role: string(access.RoleDeveloper), Clearance: "internal"}, "test", time.Now())
	if err != nil {
		t.Fatal(err)
	}
	e.base = "http://" + serveLoopback(t, e.srv)
	return e
}

func (e *ctxEnv) post(path, body string) (*http.Response, error) {
	req, _ := http.NewRequest("POST", e.base+path, strings.NewReader(body))
	req.Header.Set("Authorization", "Bearer "+e.secret)
	req.Header.Set("Content-Type", "application/json")
	resp, _, err := roundTrip(http.DefaultClient, req)
	return resp, err
}

// A request's context carries the server's deadline and ends when the
// handler returns: nothing a handler starts outlives it by accident.
func TestRequestContextHasDeadline(t *testing.T) {
	t.Parallel()
	env := newCtxEnv(t, Options{RequestTimeout: time.Hour})
	before := time.Now()
	req, _ := http.NewRequest("GET", env.base+"/v1/tools", nil)
	req.Header.Set("Authorization", "Bearer "+env.secret)
	resp, body, err := roundTrip(http.DefaultClient, req)
	after := time.Now()
	if err != nil || resp.StatusCode != 200 {
		t.Fatalf("%v %v %s", err, resp, body)
	}
	ctx := <-env.keys.seen
	dl, ok := ctx.Deadline()
	if !ok {
		t.Fatal("the request's context has no deadline")
	}
	if dl.Before(before.Add(time.Hour)) || dl.After(after.Add(time.Hour)) {
		t.Errorf("deadline %s, want RequestTimeout (1h) after the request began (%s–%s)", dl, before, after)
	}
	if !errors.Is(ctx.Err(), context.Canceled) {
		t.Errorf("after the response the request's context is %v, want cancelled", ctx.Err())
	}
}

// Shutdown cancels what requests in flight are waiting for. Before, a
// handler's c.UserContext() was context.Background(): the hanging tool
// kept Shutdown waiting for its own 30 s timeout.
func TestShutdownCancelsRequestsInFlight(t *testing.T) {
	t.Parallel()
	env := newCtxEnv(t, Options{})
	answered := make(chan error, 1)
	go func() {
		_, err := env.post("/v1/tools/hang/invoke", `{"arguments":{}}`)
		answered <- err
	}()
	<-env.started
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := env.srv.Shutdown(ctx); err != nil {
		t.Errorf("shutdown: %v", err)
	}
	if err := <-env.ended; !errors.Is(err, context.Canceled) {
		t.Errorf("the tool's context ended with %v, want cancelled by shutdown", err)
	}
	if err := <-answered; err != nil {
		t.Errorf("the request in flight got no answer: %v", err)
	}
}

// A stream's turn runs after the chat handler has returned, under the
// request's context: the middleware leaves it alone, and the request's
// deadline (here far shorter than the turn's 1-minute budget) ends it.
func TestStreamKeepsRequestContext(t *testing.T) {
	t.Parallel()
	model := ctxModel{ended: make(chan error, 1)}
	env := newTurnEnv(t, model, nil, Options{RequestTimeout: 300 * time.Millisecond})
	conn := env.openStream(t) // the handler has returned; the writer streams
	defer conn.Close()
	if err := <-model.ended; !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("the model's context ended with %v, want the request's deadline", err)
	}
}
