package actions

import (
	"testing"
)

// BenchmarkProposeApprove measures a proposal's whole governed life on the
// embedded store: propose (validate, store, audit), approve (decide, audit),
// claim, execute and record (audit) — five fsync'd transactions.
func BenchmarkProposeApprove(b *testing.B) {
	db := openDB(b, b.TempDir())
	s := newTestService(b, db, newClock(), newTarget())
	for b.Loop() {
		p := propose(b, s, "test.do", `{"target":"a"}`, proposer)
		got, err := s.Approve(b.Context(), p.ID, supervisor, "")
		if err != nil || got.Status != StatusExecuted {
			b.Fatalf("%v %v", got.Status, err)
		}
	}
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "proposals/s")
}
