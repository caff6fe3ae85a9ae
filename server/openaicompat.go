package server

import (
	"bufio"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"strings"
	"sync"
	"time"

	"github.com/gofiber/fiber/v2"

	"github.com/cityagent/cityagent/agents"
)

// The OpenAI-compatible facade lets any OpenAI chat UI or SDK talk to the
// agents: `model` names the agent. Sampling parameters (temperature, top_p,
// …) are accepted and ignored — the agent's spec decides. Clients send the
// whole conversation every time; the facade maps a conversation to one
// agent session by hashing what the client sent, so follow-ups continue the
// same session (and its history, tools and audit trail) while the server runs.

type oaiMessage struct {
	Role    string          `json:"role"`
	Content json.RawMessage `json:"content"`
}

type oaiRequest struct {
	Model    string       `json:"model"`
	Messages []oaiMessage `json:"messages"`
	Stream   bool         `json:"stream"`
	// Sampling parameters do not steer the agent, but a value OpenAI would
	// refuse is refused here too rather than silently ignored.
	Temperature *float64 `json:"temperature,omitempty"`
	TopP        *float64 `json:"top_p,omitempty"`
}

// text returns a message's text: a string, or the text parts of an array.
func (m oaiMessage) text() (string, bool) {
	var s string
	if json.Unmarshal(m.Content, &s) == nil {
		return s, true
	}
	var parts []struct {
		Type string `json:"type"`
		Text string `json:"text"`
	}
	if json.Unmarshal(m.Content, &parts) != nil {
		return "", false
	}
	var b strings.Builder
	for _, p := range parts {
		if p.Type == "text" {
			b.WriteString(p.Text)
		}
	}
	return b.String(), true
}

// conversations maps the hash of a conversation so far to its session.
type conversations struct {
	mu  sync.Mutex
	ids map[string]string
}

const maxConversations = 100_000

func (cv *conversations) get(key string) string {
	cv.mu.Lock()
	defer cv.mu.Unlock()
	return cv.ids[key]
}

func (cv *conversations) put(key, session string) {
	cv.mu.Lock()
	defer cv.mu.Unlock()
	if cv.ids == nil || len(cv.ids) >= maxConversations {
		cv.ids = map[string]string{} // bounded: forget everything rather than grow without limit
	}
	cv.ids[key] = session
}

// conversationKey hashes the caller and the user/assistant texts in order.
func conversationKey(keyID, agent string, texts []string) string {
	h := sha256.New()
	fmt.Fprintf(h, "%s\x00%s", keyID, agent)
	for _, t := range texts {
		h.Write([]byte{0})
		h.Write([]byte(strings.TrimSpace(t)))
	}
	return hex.EncodeToString(h.Sum(nil))
}

func (s *Server) chatCompletions(c *fiber.Ctx) error {
	var req oaiRequest
	if err := decodeOpenJSON(c, &req); err != nil {
		return err
	}
	if t := req.Temperature; t != nil && (*t < 0 || *t > 2) {
		return badRequest("the request is invalid", FieldError{"temperature", "must be between 0 and 2"})
	}
	if p := req.TopP; p != nil && (*p < 0 || *p > 1) {
		return badRequest("the request is invalid", FieldError{"top_p", "must be between 0 and 1"})
	}
	if req.Model == "" {
		return badRequest("the request is invalid", FieldError{"model", "name the agent to talk to, e.g. traffic (see GET /v1/models)"})
	}
	var texts []string // user and assistant turns, in order
	for i, m := range req.Messages {
		t, ok := m.text()
		if !ok {
			return badRequest("the request is invalid", FieldError{fmt.Sprintf("messages[%d].content", i), "must be a string or an array of content parts"})
		}
		if m.Role == "user" || m.Role == "assistant" {
			texts = append(texts, t)
		}
	}
	if len(req.Messages) == 0 || req.Messages[len(req.Messages)-1].Role != "user" {
		return badRequest("the request is invalid", FieldError{"messages", "must end with a user message"})
	}
	question := texts[len(texts)-1]
	p := mustPrincipal(c)
	spec, err := s.deps.Catalog.Get(req.Model)
	if err != nil {
		return err
	}
	if !spec.AdmitsRole(p.Role) {
		return forbidden(fmt.Sprintf("role %s may not use agent %s", p.Role, spec.Name))
	}
	turn := agents.Turn{Agent: spec.Name, Message: question, Principal: p, TraceID: requestID(c)}
	if len(texts) > 1 {
		turn.SessionID = s.convs.get(conversationKey(p.KeyID, spec.Name, texts[:len(texts)-1]))
	}
	id := "chatcmpl-" + turn.TraceID
	remember := func(res agents.ChatResult) {
		s.convs.put(conversationKey(p.KeyID, spec.Name, append(append([]string{}, texts...), res.Answer)), res.SessionID)
	}
	release, err := s.admitTurn(c)
	if err != nil {
		return err
	}
	if req.Stream {
		return s.stream(c, turn, &oaiStream{id: id, model: spec.Name, created: time.Now().Unix(), onDone: remember}, release)
	}
	defer release()
	res, err := s.deps.Runner.Run(s.base, turn, nil)
	if err != nil {
		return turnFailure(c, err)
	}
	remember(res)
	s.metrics.observeTurn(res)
	return c.JSON(fiber.Map{
		"id": id, "object": "chat.completion", "created": time.Now().Unix(), "model": spec.Name,
		"choices": []fiber.Map{{"index": 0, "message": fiber.Map{"role": "assistant", "content": res.Answer}, "finish_reason": "stop"}},
		"usage":   res.Usage,
		// Extensions an OpenAI client ignores and a cityagent-aware one can use.
		"cityagent": fiber.Map{"session_id": res.SessionID, "citations": res.Citations, "tool_calls": res.ToolCalls, "degraded": res.Degraded, "model": res.Model},
	})
}

// oaiStream frames a turn as OpenAI chat.completion.chunk events.
type oaiStream struct {
	id, model string
	created   int64
	started   bool
	onDone    func(agents.ChatResult)
}

func (o *oaiStream) chunk(w *bufio.Writer, delta fiber.Map, finish any) error {
	return writeSSE(w, "", fiber.Map{"id": o.id, "object": "chat.completion.chunk", "created": o.created, "model": o.model,
		"choices": []fiber.Map{{"index": 0, "delta": delta, "finish_reason": finish}}})
}

func (o *oaiStream) event(w *bufio.Writer, e agents.Event) error {
	if !o.started {
		o.started = true
		if err := o.chunk(w, fiber.Map{"role": "assistant", "content": ""}, nil); err != nil {
			return err
		}
	}
	switch e.Type {
	case agents.EventDelta:
		d, _ := e.Data.(agents.DeltaData)
		return o.chunk(w, fiber.Map{"content": d.Text}, nil)
	case agents.EventDone:
		if res, ok := e.Data.(agents.ChatResult); ok && o.onDone != nil {
			o.onDone(res)
		}
		if err := o.chunk(w, fiber.Map{}, "stop"); err != nil {
			return err
		}
		_, err := w.WriteString("data: [DONE]\n\n")
		return err
	}
	return nil
}

func (o *oaiStream) fail(w *bufio.Writer, p *Problem) error {
	return writeSSE(w, "", fiber.Map{"error": fiber.Map{"message": p.Detail, "type": p.Title, "code": p.Status}})
}

// models lists the agents the caller may talk to, as OpenAI models.
func (s *Server) models(c *fiber.Ctx) error {
	p := mustPrincipal(c)
	data := []fiber.Map{}
	for _, spec := range s.deps.Catalog.List() {
		if spec.AdmitsRole(p.Role) {
			data = append(data, fiber.Map{"id": spec.Name, "object": "model", "created": 0, "owned_by": "cityagent"})
		}
	}
	return c.JSON(fiber.Map{"object": "list", "data": data})
}
