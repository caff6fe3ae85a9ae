package server

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"sync"
	"time"
	"unicode/utf8"

	"github.com/gofiber/fiber/v2"

	"github.com/cityagent/cityagent/agents"
	"github.com/cityagent/cityagent/llm"
)

// The OpenAI-compatible facade lets any OpenAI chat UI or SDK talk to the
// agents: `model` names the agent. Sampling parameters (temperature, top_p,
// …) are accepted and ignored — the agent's spec decides. Clients send the
// whole conversation every time; the facade maps a conversation to one
// agent session by hashing what the client sent, so follow-ups continue the
// same session (and its history, tools and audit trail) while the server runs.
// System messages become operator instructions below the agent's own;
// `tools` are client tools (agents/clienttools.go). docs/api.md has the
// contract.

// sessionHeader names the session a response belongs to, on every
// OpenAI-route response, streamed or not.
const sessionHeader = "X-Cityagent-Session-Id"

type oaiMessage struct {
	Role       string          `json:"role"`
	Content    json.RawMessage `json:"content"`
	ToolCalls  []oaiToolCall   `json:"tool_calls,omitempty"`
	ToolCallID string          `json:"tool_call_id,omitempty"`
}

type oaiToolCall struct {
	ID       string `json:"id"`
	Type     string `json:"type"`
	Function struct {
		Name      string `json:"name"`
		Arguments string `json:"arguments"`
	} `json:"function"`
}

type oaiTool struct {
	Type     string `json:"type"`
	Function struct {
		Name        string          `json:"name"`
		Description string          `json:"description"`
		Parameters  json.RawMessage `json:"parameters"`
	} `json:"function"`
}

type oaiRequest struct {
	Model         string       `json:"model"`
	Messages      []oaiMessage `json:"messages"`
	Stream        bool         `json:"stream"`
	StreamOptions *struct {
		IncludeUsage bool `json:"include_usage"`
	} `json:"stream_options,omitempty"`
	Tools      []oaiTool       `json:"tools,omitempty"`
	ToolChoice json.RawMessage `json:"tool_choice,omitempty"`
	// Sampling parameters do not steer the agent, but a value OpenAI would
	// refuse is refused here too rather than silently ignored.
	Temperature *float64 `json:"temperature,omitempty"`
	TopP        *float64 `json:"top_p,omitempty"`
	// One answer per request, in text: other values are refused
	// (checkOpenAIFields), not ignored.
	N              *int `json:"n,omitempty"`
	ResponseFormat *struct {
		Type string `json:"type"`
	} `json:"response_format,omitempty"`
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

// callsMarker is how an assistant message that called client tools enters
// a conversation's key: its text and the ids of its calls.
func callsMarker(text string, ids []string) string {
	return text + "\x00tool_calls:" + strings.Join(ids, ",")
}

// oaiConversation is what a request's messages mean for a turn.
type oaiConversation struct {
	texts        []string // user and assistant turns, in order (assistant calls as markers)
	question     string
	instructions string
	results      []agents.ToolResult // trailing tool messages: the request continues a paused turn
}

func readConversation(msgs []oaiMessage) (oaiConversation, error) {
	var cv oaiConversation
	var system []string
	if len(msgs) == 0 {
		return cv, badRequest("the request is invalid", FieldError{"messages", "must not be empty"})
	}
	systemRunes := 0
	for i, m := range msgs {
		t, problem := m.text()
		if problem != "" {
			return cv, badRequest("the request is invalid", FieldError{fmt.Sprintf("messages[%d].content", i), problem})
		}
		switch m.Role {
		case "system", "developer":
			systemRunes += utf8.RuneCountInString(t) // what was sent; the separators joining them are the server's
			if strings.TrimSpace(t) != "" {
				system = append(system, strings.TrimSpace(t))
			}
		case "user":
			cv.texts = append(cv.texts, t)
		case "assistant":
			if len(m.ToolCalls) > 0 {
				ids := make([]string, len(m.ToolCalls))
				for k, c := range m.ToolCalls {
					ids[k] = c.ID
				}
				t = callsMarker(t, ids)
			}
			cv.texts = append(cv.texts, t)
		case "tool":
			if i == 0 || (msgs[i-1].Role != "tool" && len(msgs[i-1].ToolCalls) == 0) {
				return cv, badRequest("the request is invalid", FieldError{fmt.Sprintf("messages[%d]", i), "a tool message must follow the assistant message whose tool_calls it answers"})
			}
			if isLaterTurn(msgs, i) {
				continue // results of an earlier pause, already part of the session
			}
			cv.results = append(cv.results, agents.ToolResult{CallID: m.ToolCallID, Content: t})
		default:
			return cv, badRequest("the request is invalid", FieldError{fmt.Sprintf("messages[%d].role", i), "must be system, developer, user, assistant or tool"})
		}
	}
	if systemRunes > agents.MaxInstructionRunes {
		return cv, badRequest("the request is invalid", FieldError{"instructions",
			fmt.Sprintf("must total at most %d characters of system messages, not %d", agents.MaxInstructionRunes, systemRunes)})
	}
	cv.instructions = strings.Join(system, "\n\n")
	// System messages may come anywhere, after the last turn too: what ends
	// the conversation is its last other message.
	last := len(msgs) - 1
	for last > 0 && isSystem(msgs[last].Role) {
		last--
	}
	switch msgs[last].Role {
	case "user":
		cv.question = cv.texts[len(cv.texts)-1]
		if err := checkChatMessage(fmt.Sprintf("messages[%d].content", last), cv.question); err != nil {
			return cv, err
		}
	case "tool":
	default:
		return cv, badRequest("the request is invalid", FieldError{"messages", "must end with a user message, or with tool messages answering the last tool_calls"})
	}
	return cv, nil
}

func isSystem(role string) bool { return role == "system" || role == "developer" }

// isLaterTurn reports whether a user or assistant message comes after
// msgs[i]: tool messages before it answered an earlier pause.
func isLaterTurn(msgs []oaiMessage, i int) bool {
	for _, m := range msgs[i+1:] {
		if m.Role != "tool" && !isSystem(m.Role) {
			return true
		}
	}
	return false
}

// clientTools reads the request's tools and tool_choice: the tools the
// agent may call on the client's behalf, and the instruction tool_choice
// adds ("none" offers none; "required" and a named function ask the agent
// to call them — the agent's model decides, as with any instruction).
func clientTools(req oaiRequest) ([]llm.ToolSpec, string, error) {
	var specs []llm.ToolSpec
	for i, t := range req.Tools {
		if t.Type != "function" {
			return nil, "", badRequest("the request is invalid", FieldError{fmt.Sprintf("tools[%d].type", i), `must be "function"`})
		}
		specs = append(specs, llm.ToolSpec{Name: t.Function.Name, Description: t.Function.Description, Parameters: t.Function.Parameters})
	}
	choice := strings.TrimSpace(string(req.ToolChoice))
	var named struct {
		Type     string `json:"type"`
		Function struct {
			Name string `json:"name"`
		} `json:"function"`
	}
	switch {
	case choice == "" || choice == "null" || choice == `"auto"`:
		return specs, "", nil
	case choice == `"none"`:
		return nil, "", nil
	case choice == `"required"`:
		if len(specs) == 0 {
			return nil, "", badRequest("the request is invalid", FieldError{"tool_choice", `"required" needs tools`})
		}
		return specs, "Call one of the client's tools before you answer.", nil
	case json.Unmarshal(req.ToolChoice, &named) == nil && named.Type == "function":
		for _, s := range specs {
			if s.Name == named.Function.Name {
				return []llm.ToolSpec{s}, fmt.Sprintf("Call the client's tool %s before you answer.", s.Name), nil
			}
		}
		return nil, "", badRequest("the request is invalid", FieldError{"tool_choice", fmt.Sprintf("names %q, which is not in tools", named.Function.Name)})
	}
	return nil, "", badRequest("the request is invalid", FieldError{"tool_choice", `must be "none", "auto", "required" or {"type":"function","function":{"name":…}}`})
}

func (s *Server) chatCompletions(c *fiber.Ctx) error {
	var req oaiRequest
	if err := decodeOpenJSON(c, &req); err != nil {
		return err
	}
	if err := checkOpenAIFields(c.Body(), req); err != nil {
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
	cv, err := readConversation(req.Messages)
	if err != nil {
		return err
	}
	tools, hint, err := clientTools(req)
	if err != nil {
		return err
	}
	p := mustPrincipal(c)
	spec, err := s.deps.Catalog.Get(req.Model)
	switch {
	case errors.Is(err, agents.ErrUnknownAgent) || (err == nil && !spec.AdmitsRole(p.Role)):
		return modelNotFound(req.Model) // as GET /v1/models/{id}: a forbidden agent is as unknown as a missing one
	case err != nil:
		return err
	}
	turn := agents.Turn{Agent: spec.Name, Message: cv.question, Principal: p, TraceID: traceID(c),
		Instructions: strings.TrimSpace(cv.instructions + "\n\n" + hint), ClientTools: tools, ToolResults: cv.results}
	if turn.SessionID, err = s.continues(p.KeyID, spec.Name, cv); err != nil {
		return err
	}
	if turn.SessionID == "" {
		turn.NewSessionID = agents.NewSessionID()
		c.Set(sessionHeader, turn.NewSessionID)
	} else {
		c.Set(sessionHeader, turn.SessionID)
	}
	id := "chatcmpl-" + turn.TraceID
	remember := func(res agents.ChatResult, shown string) {
		for _, answer := range []string{res.Answer, shown} {
			if len(res.ClientToolCalls) > 0 {
				answer = callsMarker(answer, callIDs(res.ClientToolCalls))
			}
			s.convs.put(conversationKey(p.KeyID, spec.Name, append(append([]string{}, cv.texts...), answer)), res.SessionID)
		}
	}
	release, err := s.admitTurn(c)
	if err != nil {
		return err
	}
	if req.Stream {
		usage := req.StreamOptions != nil && req.StreamOptions.IncludeUsage
		return s.stream(c, turn, &oaiStream{id: id, model: spec.Name, created: time.Now().Unix(), usage: usage, onDone: remember}, release)
	}
	defer release()
	res, err := s.deps.Runner.Run(c.UserContext(), turn, nil)
	if err != nil {
		return turnFailure(c, err)
	}
	remember(res, res.Answer)
	s.metrics.observeTurn(res)
	return c.JSON(completion(id, spec.Name, res))
}

// continues finds the session a conversation continues: "" for a new one.
// Tool results must continue one.
func (s *Server) continues(keyID, agent string, cv oaiConversation) (string, error) {
	switch {
	case len(cv.results) > 0:
		if id := s.convs.get(conversationKey(keyID, agent, cv.texts)); id != "" {
			return id, nil
		}
		return "", badRequest("the request is invalid", FieldError{"messages", "the tool messages answer tool calls of no conversation this server is continuing; send the conversation again ending with a user message"})
	case len(cv.texts) > 1:
		return s.convs.get(conversationKey(keyID, agent, cv.texts[:len(cv.texts)-1])), nil
	}
	return "", nil
}

func callIDs(calls []agents.ClientToolCall) []string {
	ids := make([]string, len(calls))
	for i, c := range calls {
		ids[i] = c.ID
	}
	return ids
}

// completion is a finished turn as a chat.completion object.
func completion(id, model string, res agents.ChatResult) fiber.Map {
	msg := fiber.Map{"role": "assistant", "content": res.Answer}
	finish := "stop"
	if len(res.ClientToolCalls) > 0 {
		finish = "tool_calls"
		msg["tool_calls"] = wireCalls(res.ClientToolCalls, false)
		if res.Answer == "" {
			msg["content"] = nil
		}
	}
	return fiber.Map{
		"id": id, "object": "chat.completion", "created": time.Now().Unix(), "model": model,
		"choices": []fiber.Map{{"index": 0, "message": msg, "finish_reason": finish}},
		"usage":   res.Usage,
		// Extensions an OpenAI client ignores and a cityagent-aware one can use.
		"cityagent": extension(res),
	}
}

// extension is the cityagent object a response or a stream's last chunk carries.
func extension(res agents.ChatResult) fiber.Map {
	return fiber.Map{"session_id": res.SessionID, "turn": res.Turn, "trace_id": res.TraceID, "citations": res.Citations,
		"tool_calls": res.ToolCalls, "proposals": res.Proposals, "degraded": res.Degraded, "warnings": res.Warnings, "model": res.Model}
}

// wireCalls are client tool calls as OpenAI sends them; indexed adds the
// index a streamed delta carries.
func wireCalls(calls []agents.ClientToolCall, indexed bool) []fiber.Map {
	out := make([]fiber.Map, len(calls))
	for i, c := range calls {
		out[i] = fiber.Map{"id": c.ID, "type": "function", "function": fiber.Map{"name": c.Name, "arguments": string(c.Arguments)}}
		if indexed {
			out[i]["index"] = i
		}
	}
	return out
}

// models lists the agents the caller may talk to, as OpenAI models.
func (s *Server) models(c *fiber.Ctx) error {
	p := mustPrincipal(c)
	data := []fiber.Map{}
	for _, spec := range s.deps.Catalog.List() {
		if spec.AdmitsRole(p.Role) {
			data = append(data, modelObject(spec.Name))
		}
	}
	return c.JSON(fiber.Map{"object": "list", "data": data})
}

// model is one agent the caller may talk to, as an OpenAI model; an agent
// the caller may not use is as unknown as one that does not exist.
func (s *Server) model(c *fiber.Ctx) error {
	id := c.Params("model")
	spec, err := s.deps.Catalog.Get(id)
	if err != nil || !spec.AdmitsRole(mustPrincipal(c).Role) {
		return modelNotFound(id)
	}
	return c.JSON(modelObject(spec.Name))
}

func modelObject(name string) fiber.Map {
	return fiber.Map{"id": name, "object": "model", "created": 0, "owned_by": "cityagent"}
}
