package agents

import (
	"time"

	"github.com/cityagent/cityagent/llm"
)

// ChatResult is the whole outcome of one turn (DESIGN §4).
type ChatResult struct {
	SessionID    string           `json:"session_id"`
	Agent        string           `json:"agent"`
	AgentVersion string           `json:"agent_version"`
	Model        string           `json:"model"`
	Answer       string           `json:"answer"`
	Citations    []Citation       `json:"citations"`
	ToolCalls    []ToolCallRecord `json:"tool_calls"`
	Proposals    []ProposalRef    `json:"proposals"`
	Degraded     bool             `json:"degraded"`
	Warnings     []string         `json:"warnings"`
	Usage        llm.Usage        `json:"usage"`
	TraceID      string           `json:"trace_id"`
	Turn         int              `json:"turn"`
	DurationMS   int64            `json:"duration_ms"`
	// ClientToolCalls, when present, are calls of the client's own tools:
	// the turn is paused until the client sends their results (its answer
	// is then only the text the model wrote beside the calls).
	ClientToolCalls []ClientToolCall `json:"client_tool_calls,omitempty"`
	// Fallbacks are the moves from a failed model to the next (for metrics).
	Fallbacks []Fallback `json:"-"`
}

// Fallback is a turn's move from a model that failed to the next one.
type Fallback struct{ From, To string }

// Citation is one source behind an answer: a retrieved chunk or a tool result.
type Citation struct {
	Kind    string     `json:"kind"` // "document" or "tool"
	Ref     string     `json:"ref"`  // chunk id, or tool call id
	Title   string     `json:"title"`
	Snippet string     `json:"snippet"`
	Source  string     `json:"source"`
	AsOf    *time.Time `json:"as_of,omitempty"`
}

// ToolCallRecord is one tool call the turn made.
type ToolCallRecord struct {
	ID         string `json:"id"`
	Name       string `json:"name"`
	Arguments  any    `json:"arguments"`
	OK         bool   `json:"ok"`
	Error      string `json:"error,omitempty"`
	DurationMS int64  `json:"duration_ms"`
	Client     bool   `json:"client,omitempty"` // a client tool's call, handed to the client to run
}

// ProposalRef is a governance proposal made during the turn.
type ProposalRef struct {
	ID        string `json:"id"`
	Action    string `json:"action"`
	Arguments any    `json:"arguments"`
	Status    string `json:"status"`
	Risk      string `json:"risk"`
}

// Event types a turn emits, in the order they can occur. The SSE stream uses
// them as event names; the session store records them.
const (
	EventSession    = "session"
	EventUser       = "user" // recorded only, not streamed
	EventDelta      = "delta"
	EventToolCall   = "tool_call"
	EventToolResult = "tool_result"
	EventCitation   = "citation"
	EventProposal   = "proposal"
	EventWarning    = "warning"
	EventAnswer     = "answer" // recorded only: the final text, used as history
	EventDone       = "done"
	EventError      = "error"
	// EventReset tells a streaming client to discard every delta it has
	// shown in this turn: a model failed part-way through its text, and
	// what follows (a fallback model's answer) replaces it. The done
	// event's answer never contains the discarded text.
	EventReset = "reset"
	// EventSuspend is recorded, never streamed, when a turn pauses for
	// client tools; its payload is the state the turn continues from.
	EventSuspend = "suspend"
)

// Event is one typed step of a turn. Data is one of the payload types below.
type Event struct {
	Type string `json:"type"`
	Data any    `json:"data"`
}

// SessionData is the payload of EventSession.
type SessionData struct {
	SessionID    string `json:"session_id"`
	Agent        string `json:"agent"`
	AgentVersion string `json:"agent_version"`
	Turn         int    `json:"turn"`
	TraceID      string `json:"trace_id"`
}

// DeltaData is the payload of EventDelta.
type DeltaData struct {
	Text string `json:"text"`
}

// ToolCallData is the payload of EventToolCall.
type ToolCallData struct {
	ID        string `json:"id"`
	Name      string `json:"name"`
	Arguments any    `json:"arguments"`
}

// ToolResultData is the payload of EventToolResult.
type ToolResultData struct {
	ID         string     `json:"id"`
	Name       string     `json:"name"`
	OK         bool       `json:"ok"`
	Error      string     `json:"error,omitempty"`
	Content    any        `json:"content,omitempty"`
	Source     string     `json:"source,omitempty"`
	AsOf       *time.Time `json:"as_of,omitempty"`
	DurationMS int64      `json:"duration_ms"`
}

// ResetData is the payload of EventReset.
type ResetData struct {
	Reason string `json:"reason"`
}

// TextData is the payload of EventUser, EventAnswer and EventWarning.
type TextData struct {
	Text string `json:"text"`
}
