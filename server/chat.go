package server

import (
	"bufio"
	"cmp"
	"encoding/json"
	"fmt"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/gofiber/fiber/v2"

	"github.com/cityagent/cityagent/agents"
)

// ChatRequest is the body of POST /v1/agents/{agent}/chat.
type ChatRequest struct {
	Message   string `json:"message"`
	SessionID string `json:"session_id,omitempty"`
	Stream    bool   `json:"stream,omitempty"`
}

func (s *Server) chat(c *fiber.Ctx) error {
	var req ChatRequest
	if err := decodeJSON(c, &req); err != nil {
		return err
	}
	if err := checkChatMessage("message", req.Message); err != nil {
		return err
	}
	turn := agents.Turn{Agent: c.Params("agent"), SessionID: req.SessionID, Message: req.Message,
		Principal: mustPrincipal(c), TraceID: traceID(c)}
	// Refuse what the runner would refuse before switching to a stream, so
	// that those errors are plain problem+json responses.
	spec, err := s.deps.Catalog.Get(turn.Agent)
	if err != nil {
		return err
	}
	if !spec.AdmitsRole(turn.Principal.Role) {
		return forbidden(fmt.Sprintf("role %s may not use agent %s", turn.Principal.Role, spec.Name))
	}
	release, err := s.admitTurn(c)
	if err != nil {
		return err
	}
	if turn.SessionID == "" {
		turn.NewSessionID = agents.NewSessionID()
	}
	c.Set(sessionHeader, cmp.Or(turn.SessionID, turn.NewSessionID))
	if req.Stream || strings.Contains(c.Get(fiber.HeaderAccept), "text/event-stream") {
		return s.stream(c, turn, agentSSE{}, release)
	}
	defer release()
	res, err := s.deps.Runner.Run(c.UserContext(), turn, nil)
	if err != nil {
		return turnFailure(c, err)
	}
	s.metrics.observeTurn(res)
	return c.JSON(res)
}

// checkChatMessage applies the rules for a question, whichever route it
// comes by (this one, MCP's ask_<agent>, the OpenAI route's last user
// message), to msg, the value of field: not blank, at most
// agents.MaxMessageRunes characters, and acceptable free text
// (strictinput.go: no control characters or bidirectional overrides).
func checkChatMessage(field, msg string) error {
	trimmed := strings.TrimSpace(msg)
	switch {
	case trimmed == "":
		return badRequest("the request is invalid", FieldError{field, "must not be empty"})
	case utf8.RuneCountInString(trimmed) > agents.MaxMessageRunes:
		return badRequest("the request is invalid", FieldError{field, fmt.Sprintf("must be at most %d characters", agents.MaxMessageRunes)})
	case !utf8.ValidString(msg):
		return badRequest("the request is invalid", FieldError{field, "must be valid UTF-8"})
	}
	if p := textProblem(msg); p != "" {
		return badRequest("a field holds text that is not acceptable", FieldError{field, p})
	}
	return nil
}

// streamEncoder frames a turn's events for one streaming protocol. Each
// method writes to w; the stream loop flushes.
type streamEncoder interface {
	event(w *bufio.Writer, e agents.Event) error
	fail(w *bufio.Writer, p *Problem) error
}

// agentSSE is the native SSE framing: "event: <type>" + "data: <json>".
type agentSSE struct{}

func (agentSSE) event(w *bufio.Writer, e agents.Event) error { return writeSSE(w, e.Type, e.Data) }
func (agentSSE) fail(w *bufio.Writer, p *Problem) error      { return writeSSE(w, agents.EventError, p) }

func writeSSE(w *bufio.Writer, event string, data any) error {
	b, err := json.Marshal(data)
	if err != nil {
		return fmt.Errorf("encode SSE %s event: %w", event, err)
	}
	if event != "" {
		fmt.Fprintf(w, "event: %s\n", event)
	}
	_, err = fmt.Fprintf(w, "data: %s\n\n", b)
	return err
}

// probeInterval is how long a stream may stay silent before it writes an
// SSE comment to find out whether the client is still there.
//
// fasthttp tells a stream writer nothing when the client goes: the only
// signal is a failed Flush, and that comes only when something is written
// (STYLE: "the writer's Flush error is the disconnect signal"). Reading the
// net.Conn to notice the close would race fasthttp, which owns the
// connection. So a stream that has written nothing for probeInterval writes
// a comment (":" — three bytes, ignored by SSE clients; every heartbeat's
// worth of silence it is ": ping" instead). After the client closes, the
// first write after the close still succeeds (the kernel takes it and the
// peer answers RST), the next fails on the socket, and fasthttp then closes
// the pipe our writer flushes into: the turn is cancelled within about three
// probe intervals instead of up to three heartbeats (45 s at the default).
// A stream that is busy writing deltas pays nothing extra.
const probeInterval = time.Second

// stream runs a turn and streams its events with enc. The turn runs in its
// own goroutine under a context that is cancelled when a write to the client
// fails (probes make that prompt) or the server shuts down. release gives
// back the turn's admission slot; it is called once the turn has ended.
func (s *Server) stream(c *fiber.Ctx, turn agents.Turn, enc streamEncoder, release func()) error {
	c.Set(fiber.HeaderContentType, "text/event-stream; charset=utf-8")
	c.Set(fiber.HeaderCacheControl, "no-cache")
	c.Set(fiber.HeaderConnection, "keep-alive")
	c.Set("X-Accel-Buffering", "no")
	heartbeat := s.opts.HeartbeatInterval
	probe := min(heartbeat, probeInterval)
	pingEvery := int((heartbeat + probe - 1) / probe) // silent probes per ": ping"
	runner, log, base := s.deps.Runner, s.log, s.base
	reqCtx, endReq := takeRequestContext(c) // the writer below outlives the handler and ends it
	s.streams.Add(1)
	c.Context().SetBodyStreamWriter(func(w *bufio.Writer) {
		defer s.streams.Done()
		defer release()
		s.metrics.streams.Inc()
		defer s.metrics.streams.Dec()
		ctx, cancel := reqCtx, endReq
		defer cancel()
		events := make(chan agents.Event, 32)
		finished := make(chan error, 1)
		go func() {
			_, err := runner.Run(ctx, turn, func(e agents.Event) {
				select {
				case events <- e:
				case <-ctx.Done():
				}
			})
			finished <- err
		}()
		tick := time.NewTicker(probe)
		defer tick.Stop()
		wrote, silent := false, 0 // since the last tick; silent ticks in a row
		ok := func(err error) bool {
			if err != nil {
				log.Error("write stream event", "err", err, "trace_id", turn.TraceID)
				return false
			}
			wrote = true
			return w.Flush() == nil
		}
		leave := func() {
			log.Info("client left the stream; cancelling the turn", "trace_id", turn.TraceID)
			cancel()
			<-finished
		}
		for {
			select {
			case e := <-events:
				if res, done := e.Data.(agents.ChatResult); done {
					s.metrics.observeTurn(res)
				}
				if !ok(enc.event(w, e)) {
					leave()
					return
				}
			case err := <-finished:
				// Drain what the turn emitted before it ended.
			drain:
				for {
					select {
					case e := <-events:
						if res, done := e.Data.(agents.ChatResult); done {
							s.metrics.observeTurn(res)
						}
						ok(enc.event(w, e))
					default:
						break drain
					}
				}
				if err != nil {
					p := turnProblem(err)
					if p == nil {
						p = s.problemFor(err)
					}
					p.Type, p.RequestID = "about:blank", turn.TraceID
					ok(enc.fail(w, p))
				}
				return
			case <-tick.C:
				if wrote {
					wrote, silent = false, 0
					continue
				}
				silent++
				comment := ":\n\n"
				if silent >= pingEvery {
					comment, silent = ": ping\n\n", 0
				}
				if _, err := w.WriteString(comment); err != nil || w.Flush() != nil {
					leave()
					return
				}
			case <-base.Done():
				ok(enc.fail(w, &Problem{Type: "about:blank", Title: "Service Unavailable", Status: fiber.StatusServiceUnavailable,
					Detail: "the server is shutting down; retry the question", RequestID: turn.TraceID}))
				cancel()
				<-finished
				return
			}
		}
	})
	return nil
}
