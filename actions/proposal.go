package actions

import (
	"encoding/json"
	"time"

	"github.com/cityagent/cityagent/access"
	"github.com/cityagent/cityagent/store"
)

// Statuses of a proposal (store.Proposal*): proposed → approved → executed
// | failed, or proposed → rejected | expired.
const (
	StatusProposed = store.ProposalProposed
	StatusApproved = store.ProposalApproved
	StatusExecuted = store.ProposalExecuted
	StatusFailed   = store.ProposalFailed
	StatusRejected = store.ProposalRejected
	StatusExpired  = store.ProposalExpired
	// StatusEval marks a proposal made during an eval (Service.Simulate):
	// checked like any other, never stored or decided.
	StatusEval = "eval"
)

// Evidence is one item that was in the model's context when it proposed: a
// retrieved document chunk or a tool result, with its source.
type Evidence struct {
	Kind      string           `json:"kind"` // "document" or "tool"
	Ref       string           `json:"ref"`  // chunk id, or tool call id
	Title     string           `json:"title,omitempty"`
	Source    string           `json:"source,omitempty"`
	Tool      string           `json:"tool,omitempty"` // the tool's name, for tool results
	Arguments json.RawMessage  `json:"arguments,omitempty"`
	AsOf      *time.Time       `json:"as_of,omitempty"`
	Clearance access.Clearance `json:"clearance"`
	Snippet   string           `json:"snippet"` // a tool result's summary, or the start of the text
	SHA256    string           `json:"sha256"`  // of the whole text the model saw
	// Text is the whole text; it is read for warning flags and hashed, and
	// only its first snippetRunes are stored.
	Text string `json:"-"`
}

// Proposal is a proposal as the API and the agents see it.
type Proposal struct {
	ID           string           `json:"id"`
	Action       string           `json:"action"`
	Title        string           `json:"title"`
	TitleZh      string           `json:"title_zh"`
	Arguments    json.RawMessage  `json:"arguments"`
	Risk         Risk             `json:"risk"`
	ApproverRole access.Role      `json:"approver_role"`
	Clearance    access.Clearance `json:"clearance"`
	Status       string           `json:"status"`
	Agent        string           `json:"agent"`
	AgentVersion string           `json:"agent_version"`
	Model        string           `json:"model"`
	SessionID    string           `json:"session_id"`
	Turn         int              `json:"turn"`
	TraceID      string           `json:"trace_id"`
	Question     string           `json:"question"`
	Rationale    string           `json:"rationale"`
	Evidence     []Evidence       `json:"evidence"`
	Flags        []string         `json:"flags"`
	ProposedBy   string           `json:"proposed_by"` // the key on whose behalf the agent ran
	CreatedAt    time.Time        `json:"created_at"`
	ExpiresAt    time.Time        `json:"expires_at"`
	Decision     *DecisionInfo    `json:"decision,omitempty"`
	Execution    *ExecutionState  `json:"execution,omitempty"`
}

// DecisionInfo is who decided a proposal, how and when.
type DecisionInfo struct {
	Status  string      `json:"status"` // approved or rejected
	By      string      `json:"by"`
	Role    access.Role `json:"role"`
	At      time.Time   `json:"at"`
	Comment string      `json:"comment,omitempty"`
}

// ExecutionState is how the execution of an approved proposal went.
type ExecutionState struct {
	Attempts   int             `json:"attempts"`
	ClaimedAt  *time.Time      `json:"claimed_at,omitempty"`
	FinishedAt *time.Time      `json:"finished_at,omitempty"`
	Result     json.RawMessage `json:"result,omitempty"`
	Error      string          `json:"error,omitempty"`
}

func view(p store.Proposal, t Type) Proposal {
	v := Proposal{ID: p.ID, Action: p.Action, Title: t.Title, TitleZh: t.TitleZh, Arguments: p.Arguments, Risk: Risk(p.Risk),
		ApproverRole: p.ApproverRole, Clearance: p.Clearance, Status: p.Status, Agent: p.Agent, AgentVersion: p.AgentVersion,
		Model: p.Model, SessionID: p.SessionID, Turn: p.Turn, TraceID: p.TraceID, Question: p.Question, Rationale: p.Rationale,
		Evidence: []Evidence{}, Flags: p.Flags, ProposedBy: p.ProposerKeyID, CreatedAt: p.CreatedAt, ExpiresAt: p.ExpiresAt}
	_ = json.Unmarshal(p.Evidence, &v.Evidence)
	if v.Flags == nil {
		v.Flags = []string{}
	}
	if p.DecidedAt != nil {
		st := StatusApproved
		if p.Status == StatusRejected {
			st = StatusRejected
		}
		v.Decision = &DecisionInfo{Status: st, By: p.DecidedBy, Role: p.DecidedRole, At: *p.DecidedAt, Comment: p.Comment}
	}
	if p.Attempts > 0 || p.FinishedAt != nil {
		v.Execution = &ExecutionState{Attempts: p.Attempts, ClaimedAt: p.ClaimedAt, FinishedAt: p.FinishedAt, Result: p.Result, Error: p.Error}
	}
	return v
}
