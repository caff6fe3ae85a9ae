package agents

import (
	"context"
	"encoding/json"
	"regexp"
	"slices"
	"testing"

	"github.com/cityagent/cityagent/access"
	"github.com/cityagent/cityagent/actions/audit"
	"github.com/cityagent/cityagent/llm"
	"github.com/cityagent/cityagent/store"
)

// plainSessions and plainAuditor hide the store's optional abilities
// (SessionOpener, ClosingWriter), so a turn writes as it did before them.
type plainSessions struct{ SessionStore }

type plainAuditor struct{ audit.Auditor }

var (
	_ SessionStore  = plainSessions{}
	_ audit.Auditor = plainAuditor{}
)

// volatile matches what differs between two runs of the same turn: ids,
// hashes of them, times and durations.
var volatile = regexp.MustCompile(`"(session_id|trace_id|id|ref|as_of|duration_ms|created_at)":("[^"]*"|[0-9]+)|ses_[0-9a-f-]+|call_[0-9_]+`)

// TestOneWriteTurnStoresTheSame runs the same two turns (a new session,
// then a follow-up) through the store's one-write paths and through the
// separate writes, and compares what each left in the session and the
// audit chain.
func TestOneWriteTurnStoresTheSame(t *testing.T) {
	run := func(t *testing.T, plain bool) (events []string, records []string) {
		model := toolThenAnswer("road_lookup", `{"road":"Zhongshan"}`)
		h := newHarness(t, testSpec("road_lookup"), Models{ByName: map[string]llm.Model{"fake": model}, Default: "fake"}, lookupTool(t, "road_lookup", access.Public, nil))
		h.runner.Audit = h.db
		if plain {
			h.runner.Sessions, h.runner.Audit = plainSessions{h.db}, plainAuditor{h.db}
		}
		ctx := context.Background()
		res, err := h.runner.Run(ctx, Turn{Agent: "traffic", Message: "Is Zhongshan Road slow?", Principal: operator}, nil)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := h.runner.Run(ctx, Turn{Agent: "traffic", SessionID: res.SessionID, Message: "And now?", Principal: operator}, nil); err != nil {
			t.Fatal(err)
		}
		evs, err := h.db.Events(ctx, res.SessionID)
		if err != nil {
			t.Fatal(err)
		}
		for _, e := range evs {
			events = append(events, e.Type+" "+volatile.ReplaceAllString(string(e.Data), "·"))
		}
		recs, err := h.db.ListAudit(ctx, store.AuditFilter{Ascending: true, Limit: 100})
		if err != nil {
			t.Fatal(err)
		}
		for _, r := range recs {
			var p map[string]any
			if err := json.Unmarshal(r.Payload, &p); err != nil {
				t.Fatal(err)
			}
			delete(p, "question_sha256") // of the same questions, but kept to check presence below
			b, _ := json.Marshal(p)
			records = append(records, string(r.Kind)+" "+r.Subject[:min(len(r.Subject), 4)]+" "+volatile.ReplaceAllString(string(b), "·"))
		}
		return events, records
	}
	oneEvents, oneRecords := run(t, false)
	sepEvents, sepRecords := run(t, true)
	if !slices.Equal(oneEvents, sepEvents) {
		t.Errorf("session events differ:\none write: %q\nseparate:  %q", oneEvents, sepEvents)
	}
	if !slices.Equal(oneRecords, sepRecords) {
		t.Errorf("audit records differ:\none write: %q\nseparate:  %q", oneRecords, sepRecords)
	}
	if len(oneEvents) < 8 || len(oneRecords) != 4 {
		t.Errorf("%d events and %d audit records; want two turns' worth", len(oneEvents), len(oneRecords))
	}
}
