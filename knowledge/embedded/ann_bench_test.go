//go:build bench

package embedded

import (
	"context"
	"fmt"
	"os"
	"runtime"
	"strconv"
	"testing"
	"time"

	"github.com/philippgille/chromem-go"
)

// The heavy benchmarks behind DESIGN §12 run with `make bench-knowledge`
// (go test -tags bench). Sizes come from the environment so that a quick
// look and the full run use the same code.

func envInt(name string, def int) int {
	if v, err := strconv.Atoi(os.Getenv(name)); err == nil && v > 0 {
		return v
	}
	return def
}

// BenchmarkANN builds the embedded store's HNSW graph over ANN_N (default
// 100,000) embedding-like vectors of 384 dimensions and measures, in one
// run and on one goroutine each: exact brute-force search in float32 (the
// baseline), an exact scan of the int8 codes (the same kernel the graph
// uses), the graph at several beam widths, and chromem-go v0.7.0 (exact,
// the popular pure-Go alternative; it scans on GOMAXPROCS goroutines).
// Recall@10 is against the float32 baseline, over ANN_Q (default 500)
// queries that are not in the index.
func BenchmarkANN(b *testing.B) {
	n, nq := envInt("ANN_N", 100_000), envInt("ANN_Q", 500)
	const dim, k = 384, 10
	data := embeddingLike(1, n, dim)
	queries := embeddingLike(2, nq, dim)
	truth := make([][]int32, nq)
	start := time.Now()
	for i, q := range queries {
		truth[i] = exactTop(data, q, k)
	}
	exactQPS := float64(nq) / time.Since(start).Seconds()
	b.Logf("%d vectors × %d dims, %d queries, k=%d, GOMAXPROCS=%d", n, dim, nq, k, runtime.GOMAXPROCS(0))
	b.Logf("%-34s %10s %10s %8s", "method", "recall@10", "QPS", "vs exact")
	row := func(name string, recall, qps float64) {
		b.Logf("%-34s %10.4f %10.0f %7.1fx", name, recall, qps, qps/exactQPS)
	}
	row("exact float32 brute force", 1, exactQPS)

	start = time.Now()
	g := buildGraph(data)
	b.Logf("HNSW build (M=%d, efConstruction=%d): %.1f s, %.0f vectors/s", g.m, g.efC, time.Since(start).Seconds(), float64(n)/time.Since(start).Seconds())

	measure := func(search func(q []float32) []scored) (float64, float64) {
		var recall float64
		start := time.Now()
		for i, q := range queries {
			recall += recallAt(truth[i], search(q))
		}
		return recall / float64(nq), float64(nq) / time.Since(start).Seconds()
	}
	r, qps := measure(func(q []float32) []scored { return g.exact(q, k, nil) })
	row("exact int8 scan (same kernel)", r, qps)
	b.ReportMetric(exactQPS, "exact_float32_qps")
	b.ReportMetric(qps, "exact_int8_qps")
	for _, ef := range []int{16, 32, DefaultEfSearch, 128} {
		r, qps := measure(func(q []float32) []scored { return g.search(q, k, ef, nil) })
		row(fmt.Sprintf("HNSW int8 efSearch=%d", ef), r, qps)
		if ef == DefaultEfSearch {
			b.ReportMetric(r, "recall@10")
			b.ReportMetric(qps, "qps")
			b.ReportMetric(qps/exactQPS, "x_exact")
		}
	}

	// chromem-go keeps documents by id; the id is the vector's index.
	ctx := context.Background()
	db := chromem.NewDB()
	col, err := db.CreateCollection("bench", nil, func(context.Context, string) ([]float32, error) {
		return nil, fmt.Errorf("no embedding function in this benchmark")
	})
	if err != nil {
		b.Fatal(err)
	}
	docs := make([]chromem.Document, n)
	for i, v := range data {
		docs[i] = chromem.Document{ID: strconv.Itoa(i), Embedding: v, Content: "x"}
	}
	start = time.Now()
	if err := col.AddDocuments(ctx, docs, runtime.GOMAXPROCS(0)); err != nil {
		b.Fatal(err)
	}
	b.Logf("chromem-go v0.7.0 add: %.1f s", time.Since(start).Seconds())
	r, qps = measure(func(q []float32) []scored {
		res, err := col.QueryEmbedding(ctx, q, k, nil, nil)
		if err != nil {
			b.Fatal(err)
		}
		out := make([]scored, len(res))
		for i, x := range res {
			id, _ := strconv.Atoi(x.ID)
			out[i] = scored{slot: int32(id), score: float64(x.Similarity)}
		}
		return out
	})
	row("chromem-go v0.7.0 (exact, parallel)", r, qps)
	b.ReportMetric(qps, "chromem_qps")
	b.ReportMetric(r, "chromem_recall@10")
}

// BenchmarkGraphBuild links ANN_N vectors (default 20,000) of 384 dimensions.
func BenchmarkGraphBuild(b *testing.B) {
	n := envInt("ANN_N", 20000)
	data := embeddingLike(1, n, 384)
	for b.Loop() {
		start := time.Now()
		buildGraph(data)
		b.ReportMetric(float64(n)/time.Since(start).Seconds(), "vectors/s")
	}
}
