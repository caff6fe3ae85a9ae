package agents

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"regexp"
	"strings"

	"github.com/cityagent/cityagent/access"
	"github.com/cityagent/cityagent/actions/audit"
)

// AnswerData is the payload of EventAnswer: the final text and the highest
// clearance of what the turn read, so that history replays it only to
// callers cleared for it.
type AnswerData struct {
	Text      string           `json:"text"`
	Clearance access.Clearance `json:"clearance,omitempty"`
}

// remoteImage is a Markdown image that a client would fetch by itself: the
// classic way injected text smuggles data out in a URL.
var remoteImage = regexp.MustCompile(`!\[[^\]\n]*\]\(\s*<?(?i:https?:)?//[^)\n]*\)`)

// sanitizeAnswer removes remote Markdown images from an answer and
// neutralises the rest of the image syntax; n counts images removed.
func sanitizeAnswer(s string) (string, int) {
	n := 0
	s = remoteImage.ReplaceAllStringFunc(s, func(string) string {
		n++
		return "[image removed]"
	})
	return defangImages(s), n
}

// defangImages turns "![…](…)" into a plain link, which nothing loads
// without a click. Streamed deltas go through it as they are sent.
func defangImages(s string) string {
	if !strings.Contains(s, "![") {
		return s
	}
	return strings.ReplaceAll(s, "![", "[")
}

func sha(s string) string {
	sum := sha256.Sum256([]byte(s))
	return hex.EncodeToString(sum[:])
}

// audit appends the turn's record and one per tool call, in one append. A
// call the agent was not offered (an injected or invented tool) is recorded
// as refused. Failing to audit is logged; the answer has been recorded.
func (tr *turnRun) audit(ctx context.Context, question string, res ChatResult, runErr error) {
	a := tr.r.Audit
	if a == nil {
		return
	}
	p := tr.t.Principal
	now := tr.r.now()
	var entries []audit.Entry
	for _, c := range tr.res.ToolCalls {
		kind := audit.KindToolCall
		if tr.refused[c.ID] {
			kind = audit.KindToolRefused
		}
		entries = append(entries, audit.Entry{Actor: p.KeyID, Kind: kind, Subject: c.Name, At: now, Payload: map[string]any{
			"session_id": tr.t.SessionID, "turn": tr.turn, "trace_id": tr.t.TraceID, "call_id": c.ID, "agent": tr.spec.Name,
			"arguments": c.Arguments, "ok": c.OK, "error": c.Error, "duration_ms": c.DurationMS}})
	}
	proposals := make([]string, 0, len(tr.res.Proposals))
	for _, pr := range tr.res.Proposals {
		proposals = append(proposals, pr.ID)
	}
	turn := map[string]any{"agent": tr.spec.Name, "agent_version": tr.spec.Version, "model": tr.res.Model, "turn": tr.turn,
		"trace_id": tr.t.TraceID, "role": p.Role, "clearance": p.Clearance, "question_sha256": sha(question),
		"question_chars": len([]rune(question)), "tool_calls": len(tr.res.ToolCalls), "proposals": proposals,
		"degraded": tr.res.Degraded, "warnings": len(tr.res.Warnings), "evidence_clearance": tr.clearance}
	if runErr != nil {
		turn["error"] = shortErr(runErr)
	} else {
		turn["answer_sha256"] = sha(res.Answer)
	}
	entries = append(entries, audit.Entry{Actor: p.KeyID, Kind: audit.KindChatTurn, Subject: tr.t.SessionID, At: now, Payload: turn})
	if err := a.Audit(ctx, entries...); err != nil {
		tr.r.log().Error("audit of a chat turn failed", "err", err, "trace_id", tr.t.TraceID, "session_id", tr.t.SessionID)
	}
}
