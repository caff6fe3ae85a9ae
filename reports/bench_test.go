package reports_test

import (
	"testing"
	"time"

	"github.com/cityagent/cityagent/actions/audit"
	"github.com/cityagent/cityagent/store"
)

// BenchmarkOperations20kTurns: one report over a week holding 20,000 chat
// turns (and the known history), on SQLite.
func BenchmarkOperations20kTurns(b *testing.B) {
	db, err := store.Open(b.Context(), "", b.TempDir())
	if err != nil {
		b.Fatal(err)
	}
	defer db.Close()
	const n = 20000
	batch := make([]audit.Entry, 0, 1000)
	for i := range n {
		ms := int64(i%5000 + 1)
		batch = append(batch, turn{agent: []string{"traffic", "energy", "permits", "city"}[i%4], at: time.Duration(i) * 10 * time.Second,
			durationMS: &ms, citations: ptr(i % 3), toolCalls: 2, toolErrors: ptr(i % 2)}.entry())
		if len(batch) == cap(batch) {
			if _, err := db.AppendAudit(b.Context(), batch...); err != nil {
				b.Fatal(err)
			}
			batch = batch[:0]
		}
	}
	svc := service(db)
	b.ResetTimer()
	for b.Loop() {
		rep, err := svc.Operations(b.Context(), from, to)
		if err != nil || len(rep.Agents) != 4 {
			b.Fatalf("%v %d", err, len(rep.Agents))
		}
	}
}
