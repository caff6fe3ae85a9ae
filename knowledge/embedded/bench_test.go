package embedded_test

import (
	"context"
	"fmt"
	"sync/atomic"
	"testing"

	"github.com/cityagent/cityagent/access"
	"github.com/cityagent/cityagent/knowledge"
	"github.com/cityagent/cityagent/knowledge/demodocs"
)

// benchDocs returns the demo documents; each ingest gives one a new id, so
// that every iteration writes (no unchanged short-cut).
func benchDocs(b *testing.B) []knowledge.Document {
	docs, err := demodocs.Documents()
	if err != nil {
		b.Fatal(err)
	}
	return docs
}

// BenchmarkIngest measures the whole pipeline — chunk, hashed embedding,
// encode, append, fsync, index — one document at a time.
func BenchmarkIngest(b *testing.B) {
	docs := benchDocs(b)
	s := open(b, b.TempDir())
	base := knowledge.NewBase(s, knowledge.NewHashedEmbedder(0))
	ctx := context.Background()
	chunks, i := 0, 0
	for b.Loop() {
		d := docs[i%len(docs)]
		d.ID = fmt.Sprintf("%s-%d", d.ID, i)
		i++
		res, err := base.Ingest(ctx, d)
		if err != nil {
			b.Fatal(err)
		}
		chunks += res.Chunks
	}
	b.ReportMetric(float64(chunks)/b.Elapsed().Seconds(), "chunks/s")
}

// BenchmarkIngestMany ingests the demo documents as one batch per
// iteration through Base.IngestMany, the bulk path.
func BenchmarkIngestMany(b *testing.B) {
	docs := benchDocs(b)
	s := open(b, b.TempDir())
	base := knowledge.NewBase(s, knowledge.NewHashedEmbedder(0))
	ctx := context.Background()
	chunks, round := 0, 0
	batch := make([]knowledge.Document, len(docs))
	for b.Loop() {
		for i, d := range docs {
			d.ID = fmt.Sprintf("%s-%d", d.ID, round)
			batch[i] = d
		}
		round++
		results, err := base.IngestMany(ctx, batch)
		if err != nil {
			b.Fatal(err)
		}
		for _, r := range results {
			chunks += r.Chunks
		}
	}
	b.ReportMetric(float64(chunks)/b.Elapsed().Seconds(), "chunks/s")
}

// BenchmarkIngestParallel ingests from GOMAXPROCS×4 goroutines, whose writes
// share fsyncs.
func BenchmarkIngestParallel(b *testing.B) {
	docs := benchDocs(b)
	s := open(b, b.TempDir())
	base := knowledge.NewBase(s, knowledge.NewHashedEmbedder(0))
	ctx := context.Background()
	var chunks, seq atomic.Int64
	b.SetParallelism(4)
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			i := seq.Add(1)
			d := docs[int(i)%len(docs)]
			d.ID = fmt.Sprintf("%s-%d", d.ID, i)
			res, err := base.Ingest(ctx, d)
			if err != nil {
				b.Error(err)
				return
			}
			chunks.Add(int64(res.Chunks))
		}
	})
	b.ReportMetric(float64(chunks.Load())/b.Elapsed().Seconds(), "chunks/s")
}

// BenchmarkSearch runs hybrid searches over about 10,000 chunks in one
// collection (the demo documents, copied).
func BenchmarkSearch(b *testing.B) {
	docs := benchDocs(b)
	s := open(b, b.TempDir())
	base := knowledge.NewBase(s, knowledge.NewHashedEmbedder(0))
	ctx := context.Background()
	total := 0
	for i := 0; total < 10_000; i++ {
		d := docs[i%len(docs)]
		d.ID = fmt.Sprintf("%s-%d", d.ID, i)
		d.Collection = "bench"
		res, err := base.Ingest(ctx, d)
		if err != nil {
			b.Fatal(err)
		}
		total += res.Chunks
	}
	queries := []string{"拥堵指数超过2.0", "road occupation permit fee", "紧急诉求派单时限", "demand response payment per kWh"}
	b.ResetTimer()
	i := 0
	for b.Loop() {
		if _, err := base.Search(ctx, knowledge.Query{Collection: "bench", Text: queries[i%len(queries)], Clearance: access.Internal}); err != nil {
			b.Fatal(err)
		}
		i++
	}
	b.ReportMetric(float64(total), "chunks")
}
