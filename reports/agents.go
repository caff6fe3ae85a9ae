package reports

import (
	"context"
	"encoding/json"
	"maps"
	"slices"
	"time"

	"github.com/cityagent/cityagent/access"
	"github.com/cityagent/cityagent/actions/audit"
	"github.com/cityagent/cityagent/store"
)

// AgentFigures is how one agent answered. A figure a turn's record does not
// carry (records written before the report existed have no duration_ms,
// citations or tool_errors) is counted as unknown and left out of that
// figure's share or percentile, never guessed.
type AgentFigures struct {
	Agent string `json:"agent"`
	// Turns counts chat.turn records; Answered those with an answer
	// (answer_sha256), Failed those with an error. A record that says
	// neither (it cannot be read) counts in Turns only.
	Turns    int `json:"turns"`
	Answered int `json:"answered"`
	Failed   int `json:"failed"`
	// AnsweredWithCitations counts answered turns with at least one
	// citation; CitedShare divides it by the answered turns whose citation
	// count is known.
	AnsweredWithCitations int      `json:"answered_with_citations"`
	CitationsUnknown      int      `json:"citations_unknown"`
	CitedShare            *float64 `json:"cited_share"`
	// Degraded counts turns that fell back (model failure, offline answer);
	// DegradedShare divides it by the turns where it is known.
	Degraded        int      `json:"degraded"`
	DegradedUnknown int      `json:"degraded_unknown"`
	DegradedShare   *float64 `json:"degraded_share"`
	// Latency is from the turn's start to its audit record, over every
	// turn (answered or failed) whose record has duration_ms; nearest-rank.
	LatencyP50MS   *int64 `json:"latency_p50_ms"`
	LatencyP95MS   *int64 `json:"latency_p95_ms"`
	LatencyUnknown int    `json:"latency_unknown"`
	// ToolErrorRate is failed or refused calls over calls, counted over the
	// turns whose record has tool_errors; ToolCallsUnknown counts the calls
	// of the other turns.
	ToolCalls        int            `json:"tool_calls"`
	ToolErrors       int            `json:"tool_errors"`
	ToolCallsUnknown int            `json:"tool_calls_unknown"`
	ToolErrorRate    *float64       `json:"tool_error_rate"`
	Models           map[string]int `json:"models"` // turns by model that answered
}

// turnRecord is the part of a chat.turn payload (agents/turnaudit.go) the
// report reads; pointers tell a missing field from a zero.
type turnRecord struct {
	Agent      string  `json:"agent"`
	Clearance  string  `json:"clearance"`
	Model      string  `json:"model"`
	Answer     *string `json:"answer_sha256"`
	Error      *string `json:"error"`
	Degraded   *bool   `json:"degraded"`
	DurationMS *int64  `json:"duration_ms"`
	Citations  *int    `json:"citations"`
	ToolCalls  *int    `json:"tool_calls"`
	ToolErrors *int    `json:"tool_errors"`
}

// unknownName stands for the agent or monitor of a record that does not
// name one (or cannot be read).
const unknownName = "(unknown)"

type agentAcc struct {
	f       AgentFigures
	latency quantiles
}

func (s *Service) agents(ctx context.Context, from, to time.Time, viewer access.Clearance) ([]AgentFigures, error) {
	accs := map[string]*agentAcc{}
	err := s.Store.ScanAudit(ctx, store.AuditRange{Kind: audit.KindChatTurn, From: from, To: to}, func(r audit.Record) error {
		var t turnRecord
		if json.Unmarshal(r.Payload, &t) != nil {
			t = turnRecord{} // unreadable: a turn of an unknown agent, every figure unknown
		}
		if !viewer.Covers(recordClearance(access.Clearance(t.Clearance))) {
			return nil // a turn of a principal above the reader's clearance
		}
		if t.Agent == "" {
			t.Agent = unknownName
		}
		a := accs[t.Agent]
		if a == nil {
			a = &agentAcc{f: AgentFigures{Agent: t.Agent, Models: map[string]int{}}}
			accs[t.Agent] = a
		}
		a.addTurn(t)
		return nil
	})
	if err != nil {
		return nil, err
	}
	out := make([]AgentFigures, 0, len(accs))
	for _, name := range slices.Sorted(maps.Keys(accs)) {
		out = append(out, accs[name].figures())
	}
	return out, nil
}

func (a *agentAcc) addTurn(t turnRecord) {
	f := &a.f
	f.Turns++
	switch {
	case t.Error != nil:
		f.Failed++
	case t.Answer != nil:
		f.Answered++
		switch {
		case t.Citations == nil:
			f.CitationsUnknown++
		case *t.Citations > 0:
			f.AnsweredWithCitations++
		}
	}
	if t.Model != "" {
		f.Models[t.Model]++
	}
	switch {
	case t.Degraded == nil:
		f.DegradedUnknown++
	case *t.Degraded:
		f.Degraded++
	}
	if t.DurationMS != nil {
		a.latency.add(*t.DurationMS)
	} else {
		f.LatencyUnknown++
	}
	calls := 0
	if t.ToolCalls != nil {
		calls = *t.ToolCalls
	}
	if t.ToolErrors != nil {
		f.ToolCalls += calls
		f.ToolErrors += *t.ToolErrors
	} else {
		f.ToolCallsUnknown += calls
	}
}

func (a *agentAcc) figures() AgentFigures {
	f := a.f
	f.CitedShare = share(f.AnsweredWithCitations, f.Answered-f.CitationsUnknown)
	f.DegradedShare = share(f.Degraded, f.Turns-f.DegradedUnknown)
	f.LatencyP50MS, f.LatencyP95MS = a.latency.rank(0.50), a.latency.rank(0.95)
	f.ToolErrorRate = share(f.ToolErrors, f.ToolCalls)
	return f
}
