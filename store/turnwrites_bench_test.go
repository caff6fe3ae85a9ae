package store

import (
	"encoding/json"
	"fmt"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/cityagent/cityagent/actions/audit"
)

// BenchmarkTurnWrites measures the state-store writes of one chat turn on
// SQLite — create the session, append the question, append the closing
// events (answer, citations, done), append the turn's audit record — from
// 64 concurrent turns, as the single writer commits them. It reports the
// process CPU per turn (cpu-ms/turn, from getrusage: stable on a busy
// machine, unlike ns/op), the figure DESIGN §12 bounds.
// Run with: go test -run '^$' -bench TurnWrites -benchtime 2000x ./store/
func BenchmarkTurnWrites(b *testing.B) {
	db, err := Open(b.Context(), "", b.TempDir())
	if err != nil {
		b.Fatal(err)
	}
	defer db.Close()
	answer := json.RawMessage(`{"text":"Renmin Road EB is the most congested segment right now (index 2.1).","clearance":"public"}`)
	citation := json.RawMessage(`{"kind":"tool","ref":"call_1","title":"traffic_congestion","snippet":"S031 index 2.1"}`)
	var n atomic.Int64
	before := cpuTime(b)
	b.SetParallelism(32) // 64 goroutines on 2 cores
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			id := fmt.Sprintf("ses_bench_%d", n.Add(1))
			now := time.Now()
			if err := db.CreateSession(b.Context(), Session{ID: id, Agent: "traffic", OwnerKeyID: "key_bench", Title: "q", CreatedAt: now}); err != nil {
				b.Error(err)
				return
			}
			if _, err := db.AppendEvents(b.Context(), id, []Event{{Turn: 1, Type: "user", Data: json.RawMessage(`{"text":"Which roads are congested?"}`)}}); err != nil {
				b.Error(err)
				return
			}
			closing := []Event{{Turn: 1, Type: "answer", Data: answer}, {Turn: 1, Type: "citation", Data: citation}, {Turn: 1, Type: "citation", Data: citation}, {Turn: 1, Type: "done", Data: answer}}
			if _, err := db.AppendEvents(b.Context(), id, closing); err != nil {
				b.Error(err)
				return
			}
			if err := db.Audit(b.Context(), audit.Entry{Actor: "key_bench", Kind: audit.KindChatTurn, Subject: id,
				Payload: map[string]any{"turn": 1, "answer_sha256": "ab", "tool_calls": 1}}); err != nil {
				b.Error(err)
				return
			}
		}
	})
	b.StopTimer()
	b.ReportMetric(float64(cpuTime(b)-before)/float64(time.Millisecond)/float64(b.N), "cpu-ms/turn")
}

func cpuTime(b *testing.B) time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		b.Fatal(err)
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
