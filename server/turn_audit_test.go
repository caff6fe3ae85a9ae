package server

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/cityagent/cityagent/actions/audit"
	"github.com/cityagent/cityagent/store"
)

// failingAuditor fails every failEvery-th append, as a write queue past its
// deadline does, and passes the rest to the store.
type failingAuditor struct {
	next      audit.Auditor
	failEvery int64
	calls     atomic.Int64
}

var _ audit.Auditor = (*failingAuditor)(nil)

func (f *failingAuditor) Audit(ctx context.Context, entries ...audit.Entry) error {
	if f.calls.Add(1)%f.failEvery == 0 {
		return errors.New("injected: audit write timed out")
	}
	return f.next.Audit(ctx, entries...)
}

// answeredRecords counts chat.turn records that carry an answer.
func answeredRecords(t *testing.T, db *store.DB) int {
	t.Helper()
	n := 0
	var after int64
	for {
		recs, err := db.ListAudit(context.Background(), store.AuditFilter{Kind: audit.KindChatTurn, After: after, Ascending: true, Limit: 1000})
		if err != nil {
			t.Fatal(err)
		}
		if len(recs) == 0 {
			return n
		}
		for _, r := range recs {
			var p struct {
				Answer string `json:"answer_sha256"`
			}
			_ = json.Unmarshal(r.Payload, &p)
			if p.Answer != "" {
				n++
			}
			after = r.Seq
		}
	}
}

// TestEveryAnswerHasItsAuditRecord sends many concurrent turns through all
// four chat forms (JSON and SSE on the native route, JSON and chunks on the
// OpenAI route) while some audit appends fail: the answers counted by the
// clients equal the chat.turn records of answers, and every other request
// got a 503 (with Retry-After when it was still possible to send one) or an
// error event.
func TestEveryAnswerHasItsAuditRecord(t *testing.T) {
	t.Parallel()
	env := newTurnEnv(t, turnModel{}, func(db *store.DB) audit.Auditor { return &failingAuditor{next: db, failEvery: 3} }, Options{})
	const turns = 120
	var answered, failed atomic.Int64
	var wg sync.WaitGroup
	for i := range turns {
		wg.Add(1)
		go func() {
			defer wg.Done()
			ok, err := env.ask(i % 4)
			switch {
			case err != nil:
				t.Errorf("turn %d: %v", i, err)
			case ok:
				answered.Add(1)
			default:
				failed.Add(1)
			}
		}()
	}
	wg.Wait()
	recs := answeredRecords(t, env.db)
	if int64(recs) != answered.Load() {
		t.Fatalf("%d answered turns but %d chat.turn records of answers (%d refused)", answered.Load(), recs, failed.Load())
	}
	if failed.Load() == 0 {
		t.Fatal("no turn failed: the injected audit failures did not reach the clients")
	}
	t.Logf("%d answered, %d refused, %d records", answered.Load(), failed.Load(), recs)
}

// ask sends one question in form 0–3 and reports whether it was answered;
// an error is a response that is neither an answer nor a proper refusal.
func (e *turnEnv) ask(form int) (bool, error) {
	path, body := "/v1/agents/traffic/chat", `{"message":"Is Zhongshan Road congested?"}`
	stream := form%2 == 1
	if form >= 2 {
		path, body = "/v1/chat/completions", `{"model":"traffic","messages":[{"role":"user","content":"Is Zhongshan Road congested?"}]}`
	}
	if stream {
		body = strings.TrimSuffix(body, "}") + `,"stream":true}`
	}
	req, _ := http.NewRequest("POST", "http://"+e.addr+path, strings.NewReader(body))
	req.Header.Set("Authorization", "Bearer "+e.key)
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return false, err
	}
	defer resp.Body.Close()
	if resp.StatusCode == http.StatusServiceUnavailable {
		b, _ := io.ReadAll(resp.Body)
		if resp.Header.Get("Retry-After") == "" || resp.Header.Get("Content-Type") != errorContentType(path) {
			return false, fmt.Errorf("503 without Retry-After or problem+json: %s", b)
		}
		return false, nil
	}
	if resp.StatusCode != http.StatusOK {
		b, _ := io.ReadAll(resp.Body)
		return false, fmt.Errorf("status %d: %s", resp.StatusCode, b)
	}
	if !stream {
		var v struct {
			Answer  string `json:"answer"`
			Choices []struct {
				Message struct {
					Content string `json:"content"`
				} `json:"message"`
			} `json:"choices"`
		}
		if err := json.NewDecoder(resp.Body).Decode(&v); err != nil {
			return false, err
		}
		if v.Answer == "" && (len(v.Choices) == 0 || v.Choices[0].Message.Content == "") {
			return false, errors.New("200 without an answer")
		}
		return true, nil
	}
	sc := bufio.NewScanner(resp.Body)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		line := sc.Text()
		switch {
		case line == "event: done", line == "data: [DONE]":
			return true, nil
		case line == "event: error", strings.HasPrefix(line, `data: {"error"`):
			return false, nil
		}
	}
	return false, fmt.Errorf("stream ended without done or error: %v", sc.Err())
}
