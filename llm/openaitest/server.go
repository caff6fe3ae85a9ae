// Package openaitest provides an OpenAI-protocol HTTP server backed by any
// llm.Model (typically a scripted one), so that real OpenAI clients can be
// tested over real HTTP, streaming and tool calls included, with injectable
// faults: failing status codes with Retry-After, delays, and the streamed
// tool-call shapes that break naive clients.
//
// The server speaks POST /v1/chat/completions (JSON and SSE) and
// GET /v1/models. Tool-call arguments are passed from the model to the wire
// verbatim and never validated, so a script can play malformed arguments.
package openaitest

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"net/http"
	"net/http/httptest"
	"strconv"
	"sync/atomic"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/cityagent/cityagent/llm"
)

// maxBody bounds request bodies; real conversations here are far smaller.
const maxBody = 8 << 20

// Server is an OpenAI-compatible chat completions endpoint in front of a
// model. It is safe for concurrent use.
type Server struct {
	model llm.Model

	failFirst   int64
	failStatus  int
	retryAfter  time.Duration
	delay       time.Duration
	interleave  bool
	repeatType  bool
	fragments   int
	fingerprint string

	requests atomic.Int64 // chat completion requests received
	ids      atomic.Int64
}

// Option configures a Server.
type Option func(*Server)

// FailFirst makes the first n chat completion requests fail with status
// (for example 429, 500 or 503) and an OpenAI-style error body.
func FailFirst(n, status int) Option {
	return func(s *Server) { s.failFirst, s.failStatus = int64(n), status }
}

// RetryAfter adds Retry-After (whole seconds, rounded up) and
// Retry-After-Ms headers to the failures injected by FailFirst.
func RetryAfter(d time.Duration) Option {
	return func(s *Server) { s.retryAfter = d }
}

// Delay makes every chat completion request wait d before it is answered
// (or failed). The wait ends early if the client goes away.
func Delay(d time.Duration) Option {
	return func(s *Server) { s.delay = d }
}

// InterleaveToolCalls streams the deltas of parallel tool calls round-robin
// (call 0, call 1, call 0, …) instead of one call after another; clients
// must assemble calls by delta index.
func InterleaveToolCalls() Option {
	return func(s *Server) { s.interleave = true }
}

// RepeatToolType puts type:"function" on every tool-call delta, not only on
// the first delta of each call, as some compatible servers do.
func RepeatToolType() Option {
	return func(s *Server) { s.repeatType = true }
}

// ArgumentFragments sets how many deltas each streamed tool call's arguments
// are cut into (default 3).
func ArgumentFragments(n int) Option {
	return func(s *Server) { s.fragments = max(1, n) }
}

// New returns a server answering with model.
func New(model llm.Model, opts ...Option) *Server {
	s := &Server{model: model, fragments: 3, fingerprint: "fp_openaitest"}
	for _, o := range opts {
		o(s)
	}
	return s
}

// Requests reports how many chat completion requests the server has
// received, failed ones included.
func (s *Server) Requests() int { return int(s.requests.Load()) }

// Handler returns the HTTP handler serving the /v1 API.
func (s *Server) Handler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("POST /v1/chat/completions", s.chatCompletions)
	mux.HandleFunc("GET /v1/models", s.models)
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		writeError(w, http.StatusNotFound, "invalid_request_error", "unknown endpoint "+r.Method+" "+r.URL.Path)
	})
	return mux
}

// Start serves s on a local port until the test ends and returns the base
// URL that OpenAI clients expect, ending in /v1.
func (s *Server) Start(t testing.TB) string {
	t.Helper()
	srv := httptest.NewServer(s.Handler())
	t.Cleanup(func() {
		// Unblock handlers still waiting on a hanging model before Close
		// waits for them.
		srv.CloseClientConnections()
		srv.Close()
	})
	return srv.URL + "/v1"
}

func (s *Server) models(w http.ResponseWriter, _ *http.Request) {
	writeJSON(w, http.StatusOK, modelList{Object: "list", Data: []modelInfo{
		{ID: s.model.Name(), Object: "model", Created: time.Now().Unix(), OwnedBy: "openaitest"},
	}})
}

func (s *Server) chatCompletions(w http.ResponseWriter, r *http.Request) {
	n := s.requests.Add(1)
	ctx := r.Context()

	// Read the whole body so that net/http starts watching the connection
	// and cancels ctx when the client goes away.
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, maxBody))
	if err != nil {
		writeError(w, http.StatusBadRequest, "invalid_request_error", "reading body: "+err.Error())
		return
	}
	if !wait(ctx, s.delay) {
		return
	}
	if n <= s.failFirst {
		s.injectFailure(w)
		return
	}

	var cr chatRequest
	if err := json.Unmarshal(body, &cr); err != nil {
		writeError(w, http.StatusBadRequest, "invalid_request_error", "invalid JSON body: "+err.Error())
		return
	}
	req, err := cr.toLLM()
	if err != nil {
		writeError(w, http.StatusBadRequest, "invalid_request_error", err.Error())
		return
	}

	t := turn{
		s:     s,
		w:     w,
		id:    fmt.Sprintf("chatcmpl-openaitest-%d", s.ids.Add(1)),
		model: cr.Model,
		usage: cr.Stream && cr.StreamOptions != nil && cr.StreamOptions.IncludeUsage,
		now:   time.Now().Unix(),
	}
	if cr.Stream {
		t.stream(ctx, req)
		return
	}
	resp, err := s.model.Generate(ctx, req, nil)
	if err != nil {
		t.fail(ctx, err)
		return
	}
	t.complete(resp)
}

func (s *Server) injectFailure(w http.ResponseWriter) {
	if s.retryAfter > 0 {
		w.Header().Set("Retry-After", strconv.Itoa(int(math.Ceil(s.retryAfter.Seconds()))))
		w.Header().Set("Retry-After-Ms", strconv.FormatInt(s.retryAfter.Milliseconds(), 10))
	}
	typ, msg := "server_error", "injected failure"
	if s.failStatus == http.StatusTooManyRequests {
		typ, msg = "rate_limit_error", "injected rate limit"
	}
	writeError(w, s.failStatus, typ, msg)
}

// turn answers one request.
type turn struct {
	s     *Server
	w     http.ResponseWriter
	id    string
	model string
	usage bool
	now   int64

	started bool // SSE headers and the role chunk are out
	broken  bool // a write failed: the client is gone
}

func (t *turn) complete(resp llm.Response) {
	var content *string
	if resp.Content != "" || len(resp.ToolCalls) == 0 {
		content = &resp.Content
	}
	writeJSON(t.w, http.StatusOK, completion{
		ID:                t.id,
		Object:            "chat.completion",
		Created:           t.now,
		Model:             t.modelName(resp),
		SystemFingerprint: t.s.fingerprint,
		Choices: []choice{{
			Message:      respMessage{Role: "assistant", Content: content, ToolCalls: wireCalls(resp.ToolCalls)},
			Logprobs:     jsonNull,
			FinishReason: finishReason(resp),
		}},
		Usage: toWireUsage(resp.Usage),
	})
}

// fail reports a model error: as an HTTP status before anything was
// streamed, as an SSE error event after.
func (t *turn) fail(ctx context.Context, err error) {
	if ctx.Err() != nil || t.broken {
		return // the client is gone; nobody to tell
	}
	status, typ := http.StatusInternalServerError, "server_error"
	if errors.Is(err, llm.ErrUnavailable) {
		status = http.StatusServiceUnavailable
	}
	if !t.started {
		writeError(t.w, status, typ, err.Error())
		return
	}
	t.event(apiError{Error: apiErrorBody{Message: err.Error(), Type: typ}})
}

func (t *turn) stream(ctx context.Context, req llm.Request) {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	streamed := false
	resp, err := t.s.model.Generate(ctx, req, func(_ context.Context, text string) error {
		if text == "" {
			return nil
		}
		streamed = true
		t.start()
		t.chunk(delta{Content: &text}, nil)
		if t.broken {
			cancel()
			// The client leaving cancels the turn, whichever of the write
			// and the request's context sees it first.
			return fmt.Errorf("openaitest: client went away: %w", context.Canceled)
		}
		return nil
	})
	if err != nil {
		t.fail(ctx, err)
		return
	}
	t.start()
	if !streamed {
		// The model did not stream; send its text in pieces anyway.
		for _, part := range split(resp.Content, 3) {
			t.chunk(delta{Content: &part}, nil)
		}
	}
	for _, d := range t.s.toolCallDeltas(resp.ToolCalls) {
		t.chunk(delta{ToolCalls: []toolCallDelta{d}}, nil)
	}
	reason := finishReason(resp)
	t.chunk(delta{}, &reason)
	if t.usage {
		u, _ := json.Marshal(toWireUsage(resp.Usage))
		t.event(chunk{ID: t.id, Object: "chat.completion.chunk", Created: t.now, Model: t.modelName(llm.Response{}),
			SystemFingerprint: t.s.fingerprint, Choices: []chunkChoice{}, Usage: u})
	}
	t.raw("data: [DONE]\n\n")
}

// start sends the SSE headers and the opening role delta once.
func (t *turn) start() {
	if t.started {
		return
	}
	t.started = true
	h := t.w.Header()
	h.Set("Content-Type", "text/event-stream")
	h.Set("Cache-Control", "no-cache")
	t.w.WriteHeader(http.StatusOK)
	empty := ""
	t.chunk(delta{Role: "assistant", Content: &empty}, nil)
}

// chunk sends one chat.completion.chunk. Every chunk of a stream names the
// same model: the server's, as the model's answer is not known yet.
func (t *turn) chunk(d delta, finish *string) {
	c := chunk{
		ID:                t.id,
		Object:            "chat.completion.chunk",
		Created:           t.now,
		Model:             t.modelName(llm.Response{}),
		SystemFingerprint: t.s.fingerprint,
		Choices:           []chunkChoice{{Delta: d, Logprobs: jsonNull, FinishReason: finish}},
	}
	if t.usage {
		c.Usage = jsonNull
	}
	t.event(c)
}

func (t *turn) event(v any) {
	b, err := json.Marshal(v)
	if err != nil {
		panic(err) // our own wire types always marshal
	}
	t.raw("data: " + string(b) + "\n\n")
}

func (t *turn) raw(s string) {
	if t.broken {
		return
	}
	if _, err := io.WriteString(t.w, s); err != nil {
		t.broken = true
		return
	}
	if err := http.NewResponseController(t.w).Flush(); err != nil {
		t.broken = true
	}
}

func (t *turn) modelName(resp llm.Response) string {
	if resp.Model != "" {
		return resp.Model
	}
	if m := t.s.model.Name(); m != "" {
		return m
	}
	return t.model
}

// toolCallDeltas cuts calls into the deltas OpenAI streams: per call, a
// first delta with id, type and name, then argument fragments.
func (s *Server) toolCallDeltas(calls []llm.ToolCall) []toolCallDelta {
	perCall := make([][]toolCallDelta, len(calls))
	for i, c := range calls {
		ds := []toolCallDelta{{Index: i, ID: c.ID, Type: "function", Function: functionDelta{Name: c.Name}}}
		for _, frag := range split(string(c.Arguments), s.fragments) {
			d := toolCallDelta{Index: i, Function: functionDelta{Arguments: frag}}
			if s.repeatType {
				d.Type = "function"
			}
			ds = append(ds, d)
		}
		perCall[i] = ds
	}
	var out []toolCallDelta
	if !s.interleave {
		for _, ds := range perCall {
			out = append(out, ds...)
		}
		return out
	}
	for round := 0; ; round++ {
		more := false
		for _, ds := range perCall {
			if round < len(ds) {
				out = append(out, ds[round])
				more = true
			}
		}
		if !more {
			return out
		}
	}
}

func finishReason(resp llm.Response) string {
	switch {
	case resp.FinishReason != "":
		return resp.FinishReason
	case len(resp.ToolCalls) > 0:
		return "tool_calls"
	}
	return "stop"
}

// split cuts s into at most n pieces of similar length on rune boundaries.
func split(s string, n int) []string {
	if s == "" {
		return nil
	}
	runes := utf8.RuneCountInString(s)
	n = max(1, min(n, runes))
	size := (runes + n - 1) / n
	out := make([]string, 0, n)
	start, count := 0, 0
	for i := range s {
		if count > 0 && count%size == 0 {
			out = append(out, s[start:i])
			start = i
		}
		count++
	}
	return append(out, s[start:])
}

// wait sleeps d unless ctx ends first; it reports whether to go on.
func wait(ctx context.Context, d time.Duration) bool {
	if d <= 0 {
		return ctx.Err() == nil
	}
	timer := time.NewTimer(d)
	defer timer.Stop()
	select {
	case <-ctx.Done():
		return false
	case <-timer.C:
		return true
	}
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v) // a failed write means the client left
}

func writeError(w http.ResponseWriter, status int, typ, msg string) {
	var code *string
	if status == http.StatusTooManyRequests {
		c := "rate_limit_exceeded"
		code = &c
	}
	writeJSON(w, status, apiError{Error: apiErrorBody{Message: msg, Type: typ, Code: code}})
}
