package server

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"strings"

	"github.com/modelcontextprotocol/go-sdk/jsonrpc"
	"github.com/modelcontextprotocol/go-sdk/mcp"

	"github.com/cityagent/cityagent/access"
	"github.com/cityagent/cityagent/actions"
	"github.com/cityagent/cityagent/actions/audit"
	"github.com/cityagent/cityagent/agents"
	"github.com/cityagent/cityagent/tools"
)

// Names the MCP server gives its own tools. A registered tool with one of
// these names (or the ask_ prefix) is not exposed over MCP.
const (
	askPrefix         = "ask_"
	listProposalsTool = "list_proposals"
)

// kindMCPRead is the audit kind of an MCP read: a resource or the
// proposals list (audit.Entry kinds are "noun.verb"; components add theirs).
const kindMCPRead = "mcp.read"

// visible reports whether p may see and call the MCP tool name: an agent
// that admits p's role; the proposals list for operator+; a registry tool
// for developer+ (as POST /v1/tools/{name}/invoke) within p's clearance.
func (m *mcpService) visible(p access.Principal, name string) bool {
	if agent, ok := strings.CutPrefix(name, askPrefix); ok {
		spec, err := m.s.deps.Catalog.Get(agent)
		return err == nil && spec.AdmitsRole(p.Role)
	}
	if name == listProposalsTool {
		return m.s.deps.Proposals != nil && p.Role.Allows(access.RoleOperator)
	}
	if m.s.deps.Tools == nil || !p.Role.Allows(access.RoleDeveloper) {
		return false
	}
	t, err := m.s.deps.Tools.Get(name)
	return err == nil && p.Clearance.Covers(t.Spec().Clearance)
}

// filter is the receiving middleware that makes one MCP server show each
// key only its own: tools/list drops what the key may not see, tools/call
// answers a hidden tool as unknown, resources/list is built per key.
func (m *mcpService) filter(next mcp.MethodHandler) mcp.MethodHandler {
	return func(ctx context.Context, method string, req mcp.Request) (mcp.Result, error) {
		p, ok := principalOfRequest(req)
		switch method {
		case "tools/list":
			res, err := next(ctx, method, req)
			if lr, isList := res.(*mcp.ListToolsResult); err == nil && isList {
				kept := make([]*mcp.Tool, 0, len(lr.Tools))
				for _, t := range lr.Tools {
					if ok && m.visible(p, t.Name) {
						kept = append(kept, t)
					}
				}
				lr.Tools = kept
			}
			return res, err
		case "tools/call":
			params, _ := req.GetParams().(*mcp.CallToolParamsRaw)
			if params == nil || !ok || !m.visible(p, params.Name) {
				name := ""
				if params != nil {
					name = params.Name
				}
				return nil, unknownTool(name)
			}
		case "resources/list":
			if !ok {
				return &mcp.ListResourcesResult{Resources: []*mcp.Resource{}}, nil
			}
			return m.listResources(ctx, p)
		}
		return next(ctx, method, req)
	}
}

// unknownTool is the go-sdk's own answer for a tool it does not hold, so a
// hidden tool cannot be told from a missing one.
func unknownTool(name string) error {
	return &jsonrpc.Error{Code: jsonrpc.CodeInvalidParams, Message: fmt.Sprintf("unknown tool %q", name)}
}

// toolError is a tool result that failed; text is safe to show.
func toolError(text string) *mcp.CallToolResult {
	return &mcp.CallToolResult{IsError: true, Content: []mcp.Content{&mcp.TextContent{Text: text}}}
}

// problemText is a problem as one line for a tool error: what is wrong
// with the first field it names ("message must be at most 8000
// characters"), else its detail.
func problemText(p *Problem) string {
	if len(p.Errors) > 0 {
		return p.Errors[0].Field + " " + p.Errors[0].Message
	}
	return p.Detail
}

// decodeArgs decodes a tool call's arguments strictly into v (unknown
// fields refused); no arguments decode as {}.
func decodeArgs(raw json.RawMessage, v any) error {
	if len(bytes.TrimSpace(raw)) == 0 {
		raw = json.RawMessage(`{}`)
	}
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		return fmt.Errorf("invalid arguments: %w", err)
	}
	return nil
}

// askArgs are an ask_<agent> tool's arguments.
type askArgs struct {
	Message   string `json:"message"`
	SessionID string `json:"session_id,omitempty"`
}

var askSchema = json.RawMessage(fmt.Sprintf(`{"type":"object","additionalProperties":false,"required":["message"],"properties":{`+
	`"message":{"type":"string","minLength":1,"maxLength":%d,"description":"the question, in Chinese or English"},`+
	`"session_id":{"type":"string","description":"continue this session (from an earlier answer's session_id)"}}}`, agents.MaxMessageRunes))

// addAgentTools adds ask_<agent> for every agent of the catalog.
func (m *mcpService) addAgentTools() {
	if m.s.deps.Catalog == nil || m.s.deps.Runner == nil {
		return
	}
	for _, spec := range m.s.deps.Catalog.List() {
		desc := spec.Description
		if desc == "" {
			desc = "Ask the " + spec.Name + " agent."
		}
		m.srv.AddTool(&mcp.Tool{Name: askPrefix + spec.Name, Title: "Ask the " + spec.Name + " agent",
			Description: desc + " Answers cite their sources; structuredContent is the whole ChatResult (citations, tool_calls, proposals, session_id).",
			InputSchema: askSchema}, m.ask(spec.Name))
	}
}

// ask runs one chat turn on the path POST /v1/agents/{agent}/chat takes:
// admission control, then agents.Runner.Run (clearance, governance and the
// turn's audit record are the runner's).
func (m *mcpService) ask(agent string) mcp.ToolHandler {
	return func(ctx context.Context, req *mcp.CallToolRequest) (*mcp.CallToolResult, error) {
		p, _ := principalOfRequest(req)
		var a askArgs
		if err := decodeArgs(req.Params.Arguments, &a); err != nil {
			return toolError(err.Error()), nil
		}
		// The native route's rules; the go-sdk's JSON-RPC decoding applies
		// none of strictinput.go's.
		if err := checkChatMessage("message", a.Message); err != nil {
			return toolError(problemText(m.s.problemFor(err))), nil
		}
		if pr := nameProblem(a.SessionID); pr != "" {
			return toolError("session_id " + pr), nil
		}
		release, err := m.s.turns.acquire(m.s.base)
		if err != nil {
			m.s.log.Warn("turn refused by admission control", "reason", err, "via", "mcp")
			return toolError("too many questions are being answered right now; retry shortly"), nil
		}
		defer release()
		ctx, cancel := context.WithCancel(ctx)
		defer cancel()
		stop := context.AfterFunc(m.s.base, cancel) // shutdown ends the turn, as for the native route
		defer stop()
		turn := agents.Turn{Agent: agent, SessionID: a.SessionID, Message: a.Message, Principal: p, TraceID: traceIDOf(ctx)}
		res, err := m.s.deps.Runner.Run(ctx, turn, progress(ctx, req))
		if err != nil {
			pr := turnProblem(err)
			if pr == nil {
				pr = m.s.problemFor(err)
			}
			if pr.Status >= 500 {
				m.s.log.Error("mcp turn failed", "err", err, "agent", agent)
			}
			return toolError(problemText(pr)), nil
		}
		m.s.metrics.observeTurn(res)
		return &mcp.CallToolResult{
			Content: []mcp.Content{&mcp.TextContent{Text: res.Answer},
				&mcp.TextContent{Text: "session_id: " + res.SessionID + " (pass it as session_id to continue this conversation)"}},
			StructuredContent: res,
		}, nil
	}
}

// progress streams a turn's text deltas as notifications/progress when the
// client asked for progress; nil otherwise.
func progress(ctx context.Context, req *mcp.CallToolRequest) func(agents.Event) {
	token := req.Params.GetProgressToken()
	if token == nil || req.Session == nil {
		return nil
	}
	n := 0
	return func(e agents.Event) {
		d, ok := e.Data.(agents.DeltaData)
		if e.Type != agents.EventDelta || !ok || d.Text == "" {
			return
		}
		n++
		_ = req.Session.NotifyProgress(ctx, &mcp.ProgressNotificationParams{ProgressToken: token, Progress: float64(n), Message: d.Text})
	}
}

// proposalArgs are list_proposals' arguments: GET /v1/proposals' query.
type proposalArgs struct {
	Status    string `json:"status,omitempty"`
	Action    string `json:"action,omitempty"`
	Agent     string `json:"agent,omitempty"`
	SessionID string `json:"session_id,omitempty"`
	Limit     int    `json:"limit,omitempty"`
	Before    string `json:"before,omitempty"`
}

var proposalSchema = json.RawMessage(`{"type":"object","additionalProperties":false,"properties":{` +
	`"status":{"type":"string","enum":["proposed","approved","executed","failed","rejected","expired"]},` +
	`"action":{"type":"string"},"agent":{"type":"string"},"session_id":{"type":"string"},` +
	`"limit":{"type":"integer","minimum":1,"maximum":100,"default":20},` +
	`"before":{"type":"string","description":"next_before of the previous page"}}}`)

func (m *mcpService) addProposalTool() {
	if m.s.deps.Proposals == nil {
		return
	}
	m.srv.AddTool(&mcp.Tool{Name: listProposalsTool, Title: "List governance proposals",
		Description: "The governance proposals this key may see (its clearance), newest first. Approving or rejecting is not offered over MCP.",
		InputSchema: proposalSchema, Annotations: &mcp.ToolAnnotations{ReadOnlyHint: true}}, m.listProposals)
}

func (m *mcpService) listProposals(ctx context.Context, req *mcp.CallToolRequest) (*mcp.CallToolResult, error) {
	p, _ := principalOfRequest(req)
	var a proposalArgs
	if err := decodeArgs(req.Params.Arguments, &a); err != nil {
		return toolError(err.Error()), nil
	}
	switch {
	case a.Status != "" && !contains(proposalStatuses, a.Status):
		return toolError("status must be one of " + strings.Join(proposalStatuses, ", ")), nil
	case a.Limit == 0:
		a.Limit = 20
	case a.Limit < 1 || a.Limit > 100:
		return toolError("limit must be 1 to 100"), nil
	}
	list, err := m.s.deps.Proposals.List(ctx, actions.ListFilter{Status: a.Status, Action: a.Action, Agent: a.Agent,
		SessionID: a.SessionID, Before: a.Before, Limit: a.Limit + 1}, p)
	if err != nil {
		return toolError(m.s.problemFor(err).Detail), nil
	}
	next := ""
	if len(list) > a.Limit {
		list = list[:a.Limit]
		next = list[a.Limit-1].ID
	}
	if list == nil {
		list = []actions.Proposal{}
	}
	m.auditRead(ctx, p, "proposals", map[string]any{"status": a.Status, "action": a.Action, "agent": a.Agent, "count": len(list)})
	return jsonResult(map[string]any{"proposals": list, "next_before": next})
}

// jsonResult is v as both the text (JSON) and the structured content.
func jsonResult(v any) (*mcp.CallToolResult, error) {
	b, err := json.Marshal(v)
	if err != nil {
		return nil, fmt.Errorf("mcp: encode result: %w", err)
	}
	return &mcp.CallToolResult{Content: []mcp.Content{&mcp.TextContent{Text: string(b)}}, StructuredContent: json.RawMessage(b)}, nil
}

func (m *mcpService) auditRead(ctx context.Context, p access.Principal, subject string, payload map[string]any) {
	payload["via"], payload["clearance"] = "mcp", p.Clearance
	if err := m.s.deps.Audit.Audit(context.WithoutCancel(ctx), audit.Entry{Actor: p.KeyID, Kind: kindMCPRead, Subject: subject, Payload: payload}); err != nil {
		m.s.log.Error("audit of an mcp read failed", "subject", subject, "err", err)
	}
}

// syncTools makes the MCP server's registry tools match the registry: it
// runs at start and on every registry change (tools.Registry.OnChange), and
// the go-sdk sends notifications/tools/list_changed for what it adds or
// removes.
func (m *mcpService) syncTools() {
	m.mu.Lock()
	defer m.mu.Unlock()
	want := map[string]tools.Tool{}
	for _, t := range m.s.deps.Tools.List() {
		name := t.Spec().Name
		if strings.HasPrefix(name, askPrefix) || name == listProposalsTool || !objectSchema(t.Spec().Parameters) {
			continue
		}
		want[name] = t
	}
	var gone []string
	for name := range m.exposed {
		if _, ok := want[name]; !ok {
			gone = append(gone, name)
			delete(m.exposed, name)
		}
	}
	if len(gone) > 0 {
		m.srv.RemoveTools(gone...)
	}
	for name, t := range want {
		fp := fingerprint(t.Spec())
		if m.exposed[name] == fp {
			continue
		}
		m.exposed[name] = fp
		sp := t.Spec()
		m.srv.AddTool(&mcp.Tool{Name: name, Description: sp.Description, InputSchema: sp.Parameters,
			Meta: mcp.Meta{"cityagent/clearance": string(sp.Clearance), "cityagent/source": sp.Source}}, m.callTool(name))
	}
}

// objectSchema reports whether raw is a JSON Schema of an object, which MCP
// requires of a tool's input.
func objectSchema(raw json.RawMessage) bool {
	var s struct {
		Type string `json:"type"`
	}
	return json.Unmarshal(raw, &s) == nil && s.Type == "object"
}

func fingerprint(sp tools.Spec) string {
	h := sha256.New()
	fmt.Fprintf(h, "%s\x00%s\x00%s\x00%s\x00", sp.Name, sp.Description, sp.Clearance, sp.Source)
	h.Write(sp.Parameters)
	return hex.EncodeToString(h.Sum(nil))
}

// callTool invokes a registry tool as POST /v1/tools/{name}/invoke does
// (Server.invoke: clearance, timeout, audit). The result's text is the
// tool's JSON content, data from a city system.
func (m *mcpService) callTool(name string) mcp.ToolHandler {
	return func(ctx context.Context, req *mcp.CallToolRequest) (*mcp.CallToolResult, error) {
		p, _ := principalOfRequest(req)
		out, err := m.s.invoke(ctx, p, name, req.Params.Arguments, "mcp")
		var ae *tools.ArgsError
		switch {
		case errors.As(err, &ae):
			return toolError("invalid arguments: " + ae.Reason), nil
		case errors.Is(err, tools.ErrUnknownTool), errors.Is(err, tools.ErrForbidden):
			return nil, unknownTool(name)
		case err != nil:
			return toolError(m.s.problemFor(err).Detail), nil
		}
		res, err := jsonResult(out)
		if err != nil {
			return nil, err
		}
		if out.OK {
			res.Content = []mcp.Content{&mcp.TextContent{Text: string(out.Content)}}
		} else {
			res.IsError = true
			res.Content = []mcp.Content{&mcp.TextContent{Text: out.Error}}
		}
		return res, nil
	}
}
