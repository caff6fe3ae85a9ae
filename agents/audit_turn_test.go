package agents

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/cityagent/cityagent/actions/audit"
	"github.com/cityagent/cityagent/llm"
	"github.com/cityagent/cityagent/store"
)

var errInjected = errors.New("injected audit failure")

// flakyAuditor wraps the real store's auditor: every failEvery-th append
// fails (as a write queue past its deadline does), every other one is slow.
type flakyAuditor struct {
	next      audit.Auditor
	failEvery int64
	slow      time.Duration
	calls     atomic.Int64
}

var _ audit.Auditor = (*flakyAuditor)(nil)

func (f *flakyAuditor) Audit(ctx context.Context, entries ...audit.Entry) error {
	n := f.calls.Add(1)
	if f.failEvery > 0 && n%f.failEvery == 0 {
		return errInjected
	}
	if n%2 == 0 {
		select {
		case <-time.After(f.slow):
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	return f.next.Audit(ctx, entries...)
}

// slowSessions delays every append, like a busy write queue.
type slowSessions struct {
	*store.DB
	delay time.Duration
}

var _ SessionStore = slowSessions{}

func (s slowSessions) AppendEvents(ctx context.Context, id string, evs []store.Event) ([]store.Event, error) {
	time.Sleep(s.delay)
	return s.DB.AppendEvents(ctx, id, evs)
}

// turnRecords returns the chat.turn records by session id, split into those
// of answered turns and those of failed ones.
func turnRecords(t *testing.T, db *store.DB) (answered, failed map[string]int) {
	t.Helper()
	answered, failed = map[string]int{}, map[string]int{}
	var after int64
	for {
		recs, err := db.ListAudit(context.Background(), store.AuditFilter{Kind: audit.KindChatTurn, After: after, Ascending: true, Limit: 1000})
		if err != nil {
			t.Fatal(err)
		}
		if len(recs) == 0 {
			return answered, failed
		}
		for _, r := range recs {
			var p struct {
				Answer string `json:"answer_sha256"`
				Error  string `json:"error"`
			}
			if err := json.Unmarshal(r.Payload, &p); err != nil {
				t.Fatal(err)
			}
			if p.Answer != "" && p.Error == "" {
				answered[r.Subject]++
			} else {
				failed[r.Subject]++
			}
			after = r.Seq
		}
	}
}

// TestNoAnswerWithoutAuditRecord runs many concurrent turns against an
// auditor that fails some appends: every turn that was answered has exactly
// one chat.turn record, and every other turn got an error and no done event.
func TestNoAnswerWithoutAuditRecord(t *testing.T) {
	h := newHarness(t, testSpec(), Models{ByName: map[string]llm.Model{"fake": answerer("fake", "the road is clear")}, Default: "fake"})
	aud := &flakyAuditor{next: h.db, failEvery: 3, slow: 2 * time.Millisecond}
	h.runner.Audit = aud
	h.runner.Sessions = slowSessions{h.db, time.Millisecond}

	const turns = 120
	var (
		wg       sync.WaitGroup
		mu       sync.Mutex
		answered = map[string]bool{}
		refused  int
	)
	for i := range turns {
		wg.Add(1)
		go func() {
			defer wg.Done()
			var done, failedEv bool
			var session string
			res, err := h.runner.Run(context.Background(), Turn{Agent: "traffic", Message: fmt.Sprintf("question %d", i), Principal: operator}, func(e Event) {
				switch d := e.Data.(type) {
				case SessionData:
					session = d.SessionID
				case ChatResult:
					done = true
				}
				if e.Type == EventError {
					failedEv = true
				}
			})
			mu.Lock()
			defer mu.Unlock()
			switch {
			case err == nil:
				if !done || res.SessionID != session {
					t.Errorf("turn %d answered without its done event", i)
				}
				answered[res.SessionID] = true
			case errors.Is(err, ErrAuditUnavailable):
				if done || failedEv {
					t.Errorf("turn %d failed after a done event", i)
				}
				refused++
			default:
				t.Errorf("turn %d: unexpected error %v", i, err)
			}
		}()
	}
	wg.Wait()
	recs, failedRecs := turnRecords(t, h.db)
	if len(recs) != len(answered) {
		t.Errorf("%d answered turns but %d chat.turn records of answers (%d turns refused, %d failed-turn records)", len(answered), len(recs), refused, len(failedRecs))
	}
	for id := range answered {
		if recs[id] != 1 {
			t.Errorf("answered turn of session %s has %d audit records", id, recs[id])
		}
	}
	if refused == 0 {
		t.Error("no turn was refused: the injected failures did not reach the runner")
	}
	if len(answered)+refused != turns {
		t.Errorf("%d answered + %d refused != %d turns", len(answered), refused, turns)
	}
}

// TestWithheldAnswerIsNotHistory: an answer whose audit record failed is
// in the session (written first) but marked withheld, and a follow-up turn
// does not replay it to the model.
func TestWithheldAnswerIsNotHistory(t *testing.T) {
	model := answerer("fake", "secret first answer")
	h := newHarness(t, testSpec(), Models{ByName: map[string]llm.Model{"fake": model}, Default: "fake"})
	aud := &flakyAuditor{next: h.db, failEvery: 1}
	h.runner.Audit = aud
	var session string
	_, err := h.runner.Run(context.Background(), Turn{Agent: "traffic", Message: "first", Principal: operator}, func(e Event) {
		if d, ok := e.Data.(SessionData); ok {
			session = d.SessionID
		}
	})
	if !errors.Is(err, ErrAuditUnavailable) {
		t.Fatalf("err = %v, want ErrAuditUnavailable", err)
	}
	evs, err := h.db.Events(context.Background(), session)
	if err != nil {
		t.Fatal(err)
	}
	if last := evs[len(evs)-1]; last.Type != EventError {
		t.Fatalf("last session event %s %s, want the withheld error", last.Type, last.Data)
	}
	aud.failEvery = 0
	if _, err := h.runner.Run(context.Background(), Turn{Agent: "traffic", SessionID: session, Message: "second", Principal: operator}, nil); err != nil {
		t.Fatal(err)
	}
	model.mu.Lock()
	defer model.mu.Unlock()
	for _, m := range model.reqs[len(model.reqs)-1].Messages {
		if m.Role == llm.RoleAssistant && m.Content == "secret first answer" {
			t.Fatal("the withheld answer was replayed as history")
		}
	}
}
