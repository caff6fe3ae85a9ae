package knowledge_test

import (
	"context"
	"math"
	"slices"
	"testing"

	"github.com/cityagent/cityagent/knowledge"
	"github.com/cityagent/cityagent/knowledge/demodocs"
)

func embedOne(t testing.TB, e knowledge.Embedder, text string) []float32 {
	t.Helper()
	vs, err := e.Embed(context.Background(), []string{text})
	if err != nil {
		t.Fatal(err)
	}
	return vs[0]
}

func cosine(a, b []float32) float64 {
	var s float64
	for i := range a {
		s += float64(a[i]) * float64(b[i])
	}
	return s
}

func TestHashedEmbedderDeterministic(t *testing.T) {
	texts := []string{"交通拥堵指数超过2.0", "Road occupation permit fees", "混合 mixed 文本 text 12345"}
	a, err := knowledge.NewHashedEmbedder(0).Embed(context.Background(), texts)
	if err != nil {
		t.Fatal(err)
	}
	b, err := knowledge.NewHashedEmbedder(0).Embed(context.Background(), slices.Clone(texts))
	if err != nil {
		t.Fatal(err)
	}
	for i := range texts {
		if !slices.Equal(a[i], b[i]) {
			t.Errorf("%q embeds differently on two embedders", texts[i])
		}
	}
	// Batching must not change a vector.
	if one := embedOne(t, knowledge.NewHashedEmbedder(0), texts[1]); !slices.Equal(one, a[1]) {
		t.Error("a text embeds differently alone and in a batch")
	}
}

func TestHashedEmbedderNormalised(t *testing.T) {
	e := knowledge.NewHashedEmbedder(0)
	if e.Dim() != knowledge.DefaultHashedDim || e.Name() != "hashed" {
		t.Fatalf("dim %d name %q", e.Dim(), e.Name())
	}
	for _, text := range []string{"信号", "a much longer English text about signal timing and congestion, repeated twice, signal timing", "路"} {
		v := embedOne(t, e, text)
		if n := math.Sqrt(cosine(v, v)); math.Abs(n-1) > 1e-5 {
			t.Errorf("%q: norm %v", text, n)
		}
	}
	for _, text := range []string{"", "。，！", "the of and"} {
		for _, x := range embedOne(t, e, text) {
			if x != 0 {
				t.Fatalf("%q has no terms but a non-zero vector", text)
			}
		}
	}
	if got := len(embedOne(t, knowledge.NewHashedEmbedder(64), "x")); got != 64 {
		t.Errorf("dim 64 gave %d", got)
	}
}

func TestHashedEmbedderLexicalSimilarity(t *testing.T) {
	e := knowledge.NewHashedEmbedder(0)
	q := embedOne(t, e, "拥堵指数超过2.0")
	near := embedOne(t, e, "当路段拥堵指数超过2.0并持续15分钟时启动三级响应")
	far := embedOne(t, e, "需求响应补偿标准为每千瓦时3元")
	if cosine(q, near) <= cosine(q, far) {
		t.Errorf("cos(near) %.3f ≤ cos(far) %.3f", cosine(q, near), cosine(q, far))
	}
	// Character trigrams relate inflected forms.
	if c := cosine(embedOne(t, e, "inspections"), embedOne(t, e, "inspected")); c < 0.2 {
		t.Errorf("inspections/inspected cosine %.3f", c)
	}
}

func TestHashedEmbedderCancelled(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := knowledge.NewHashedEmbedder(0).Embed(ctx, []string{"x"}); err == nil {
		t.Fatal("embedded with a cancelled context")
	}
}

// demoChunks returns the demo documents' chunks as index texts.
func demoChunks(tb testing.TB) []string {
	docs, err := demodocs.Documents()
	if err != nil {
		tb.Fatal(err)
	}
	b := knowledge.NewBase(nil, knowledge.NewHashedEmbedder(0))
	var texts []string
	for _, d := range docs {
		for _, c := range b.Chunks(d) {
			texts = append(texts, knowledge.IndexText(c))
		}
	}
	return texts
}

func BenchmarkHashedEmbed(b *testing.B) {
	texts := demoChunks(b)
	e := knowledge.NewHashedEmbedder(0)
	ctx := context.Background()
	runes := 0
	for _, t := range texts {
		runes += len([]rune(t))
	}
	b.ReportAllocs()
	n := 0
	for b.Loop() {
		if _, err := e.Embed(ctx, texts); err != nil {
			b.Fatal(err)
		}
		n += len(texts)
	}
	b.ReportMetric(float64(n)/b.Elapsed().Seconds(), "chunks/s")
	b.ReportMetric(float64(runes)/float64(len(texts)), "runes/chunk")
}
