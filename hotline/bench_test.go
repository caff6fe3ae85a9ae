package hotline

import (
	"context"
	"fmt"
	"testing"
)

// BenchmarkClassify measures the rules classifier alone on the test set
// (wall and CPU time per request).
func BenchmarkClassify(b *testing.B) {
	c := NewClassifier(DefaultTaxonomy())
	reqs := loadRequests(b)
	b.ResetTimer()
	cpu := processCPU()
	for i := range b.N {
		c.Classify(reqs[i%len(reqs)].Text)
	}
	reportCPU(b, cpu)
}

// BenchmarkCreateTicket measures whole ticket creations (triage turn on the
// offline engine with retrieval and tools, rules check, SQLite writes,
// dispatch proposal) from 16 callers per CPU, each request with its own key.
func BenchmarkCreateTicket(b *testing.B) {
	r := newRig(b, rigOptions{})
	reqs := loadRequests(b)
	b.SetParallelism(16)
	b.ResetTimer()
	cpu := processCPU()
	defer func() { reportCPU(b, cpu) }()
	b.RunParallel(func(pb *testing.PB) {
		i := 0
		for pb.Next() {
			i++
			q := reqs[i%len(reqs)]
			key := fmt.Sprintf("bench-%p-%d", pb, i)
			if _, err := r.svc.Create(context.Background(), CreateRequest{Text: q.Text}, CreateOptions{Principal: hotlineKey, IdempotencyKey: key, Scope: "v1"}); err != nil {
				b.Error(err)
				return
			}
		}
	})
}
