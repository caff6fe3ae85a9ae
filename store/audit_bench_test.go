package store

import (
	"fmt"
	"testing"

	"github.com/cityagent/cityagent/actions/audit"
	"github.com/cityagent/cityagent/internal/pgtest"
)

// BenchmarkAudit measures appends (one fsync'd transaction each on SQLite,
// from parallel writers) and verification of the resulting chain.
func BenchmarkAudit(b *testing.B) {
	pgURL := ""
	targets := map[string]func(b *testing.B) *DB{
		"sqlite": func(b *testing.B) *DB {
			db, err := Open(b.Context(), "", b.TempDir())
			if err != nil {
				b.Fatal(err)
			}
			return db
		},
		"postgres": func(b *testing.B) *DB {
			if pgURL == "" {
				pgURL = pgtest.Start(b)
			}
			db, err := Open(b.Context(), pgtest.NewDatabase(b, pgURL), "")
			if err != nil {
				b.Fatal(err)
			}
			return db
		},
	}
	for name, open := range targets {
		b.Run(name+"/append", func(b *testing.B) {
			db := open(b)
			defer db.Close()
			b.SetParallelism(4)
			b.RunParallel(func(pb *testing.PB) {
				i := 0
				for pb.Next() {
					i++
					if err := db.Audit(b.Context(), audit.Entry{Actor: "key_bench", Kind: audit.KindToolCall, Subject: "traffic_segment",
						Payload: map[string]any{"session_id": "ses_x", "call_id": fmt.Sprint("call_", i), "ok": true, "duration_ms": 3}}); err != nil {
						b.Error(err)
						return
					}
				}
			})
			b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "records/s")
		})
		b.Run(name+"/verify-10k", func(b *testing.B) {
			db := open(b)
			defer db.Close()
			batch := make([]audit.Entry, 500)
			for i := range batch {
				batch[i] = audit.Entry{Actor: "key_bench", Kind: audit.KindChatTurn, Subject: "ses_x", Payload: map[string]any{"turn": i, "question_sha256": "ab"}}
			}
			for range 20 {
				if err := db.Audit(b.Context(), batch...); err != nil {
					b.Fatal(err)
				}
			}
			b.ResetTimer()
			for b.Loop() {
				rep, err := audit.Verify(b.Context(), db)
				if err != nil || !rep.OK || rep.Records != 10000 {
					b.Fatalf("%+v %v", rep, err)
				}
			}
			b.ReportMetric(10000*float64(b.N)/b.Elapsed().Seconds(), "records/s")
		})
	}
}
