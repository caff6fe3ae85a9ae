package embedded

import (
	"math"
	"math/rand/v2"
	"slices"
	"testing"
)

// embeddingLike returns n unit vectors of dim dimensions that look like text
// embeddings rather than noise: points of a 32-dimensional latent space,
// grouped around topics (a mixture of Gaussians), mapped to dim dimensions by
// a fixed random linear map, plus a little isotropic noise. Uniform random
// vectors in 384 dimensions would be the worst case for any ANN index and
// unlike any embedding model's output.
func embeddingLike(seed uint64, n, dim int) [][]float32 {
	const latent, topics = 32, 1000
	r := rand.New(rand.NewPCG(seed, 7))
	proj := rand.New(rand.NewPCG(42, 42)) // the same map for data and queries
	w := make([]float64, dim*latent)
	for i := range w {
		w[i] = proj.NormFloat64()
	}
	centres := make([][]float64, topics)
	for i := range centres {
		centres[i] = make([]float64, latent)
		for j := range centres[i] {
			centres[i][j] = proj.NormFloat64()
		}
	}
	out := make([][]float32, n)
	z := make([]float64, latent)
	for i := range out {
		c := centres[r.IntN(topics)]
		for j := range z {
			z[j] = c[j] + 0.6*r.NormFloat64()
		}
		v := make([]float32, dim)
		var sum float64
		for d := range dim {
			x := 0.3 * r.NormFloat64()
			for j, zj := range z {
				x += w[d*latent+j] * zj
			}
			v[d] = float32(x)
			sum += x * x
		}
		inv := float32(1 / math.Sqrt(sum))
		for d := range v {
			v[d] *= inv
		}
		out[i] = v
	}
	return out
}

// exactTop is the brute-force baseline: every vector's float32 dot product
// with q, the k best slots.
func exactTop(data [][]float32, q []float32, k int) []int32 {
	top := topN{n: k}
	for i, v := range data {
		var s float32
		for d, x := range q {
			s += x * v[d]
		}
		top.offer(int32(i), float64(s))
	}
	out := make([]int32, 0, k)
	for _, s := range top.sorted() {
		out = append(out, s.slot)
	}
	return out
}

func recallAt(want []int32, got []scored) float64 {
	hit := 0
	for _, g := range got {
		if slices.Contains(want, g.slot) {
			hit++
		}
	}
	return float64(hit) / float64(len(want))
}

func buildGraph(data [][]float32) *graph {
	g := newGraph(len(data[0]))
	g.exactBelow = 0 // test the graph, however small
	for i, v := range data {
		g.add(int32(i), v)
	}
	for g.linkNext() {
	}
	return g
}

func TestGraphRecall(t *testing.T) {
	const n, dim, k = 3000, 64, 10
	data := embeddingLike(1, n, dim)
	queries := embeddingLike(2, 50, dim)
	g := buildGraph(data)
	var sum float64
	for _, q := range queries {
		sum += recallAt(exactTop(data, q, k), g.search(q, k, DefaultEfSearch, nil))
	}
	if r := sum / float64(len(queries)); r < 0.95 {
		t.Fatalf("recall@10 = %.3f, want ≥ 0.95", r)
	}
}

func TestGraphFilterAndTombstones(t *testing.T) {
	const n, dim = 2000, 32
	data := embeddingLike(3, n, dim)
	g := buildGraph(data)
	for s := int32(0); s < n; s += 3 {
		g.remove(s) // node == slot here
	}
	even := func(s, _ int32) bool { return s%2 == 0 }
	// Pending nodes are searched too; linking the first applies the
	// tombstones.
	extra := embeddingLike(4, 10, dim)
	for i, v := range extra {
		g.add(int32(n+i), v)
	}
	g.linkNext()
	for _, tc := range []struct {
		name  string
		allow func(slot, node int32) bool
		n     int
	}{
		{"no filter", nil, 20},
		{"half", even, 20},
		{"selective", func(s, _ int32) bool { return s%97 == 1 }, 15},
	} {
		t.Run(tc.name, func(t *testing.T) {
			q := data[5]
			got := g.search(q, tc.n, DefaultEfSearch, tc.allow)
			want := g.exact(q, tc.n, tc.allow)
			if len(got) != len(want) {
				t.Fatalf("%d results, exact has %d", len(got), len(want))
			}
			for _, h := range got {
				if h.slot%3 == 0 && h.slot < n {
					t.Errorf("tombstone %d returned", h.slot)
				}
				if tc.allow != nil && !tc.allow(h.slot, 0) {
					t.Errorf("slot %d not allowed", h.slot)
				}
			}
		})
	}
	if got := g.search(extra[3], 1, DefaultEfSearch, nil); len(got) != 1 || got[0].slot != n+3 {
		t.Errorf("pending vector not found: %v", got)
	}
}

func TestQuantize(t *testing.T) {
	v := []float32{0.5, -0.5, 0.5, -0.5}
	c := make([]int8, 4)
	s := quantize(c, v)
	if c[0] != 127 || c[1] != -127 || math.Abs(float64(s*127-0.5)) > 1e-6 {
		t.Fatalf("codes %v scale %v", c, s)
	}
	if quantize(c, make([]float32, 4)) != 0 || c[0] != 0 {
		t.Fatal("zero vector")
	}
}

func TestDot8(t *testing.T) {
	r := rand.New(rand.NewPCG(9, 9))
	for _, n := range []int{0, 1, 7, 63, 64, 65, 128, 384, 1000, 1536} {
		a, b := make([]int8, n), make([]int8, n)
		for i := range a {
			a[i], b[i] = int8(r.IntN(256)-128), int8(r.IntN(256)-128)
		}
		if n > 0 {
			a[0], b[0] = -128, -128
		}
		if got, want := dot8(a, b), dot8Go(a, b); got != want {
			t.Errorf("n=%d: dot8 = %d, want %d", n, got, want)
		}
	}
}

func BenchmarkDot8(b *testing.B) {
	x, y := make([]int8, 384), make([]int8, 384)
	for i := range x {
		x[i], y[i] = int8(i), int8(-i)
	}
	var s int32
	for b.Loop() {
		s += dot8(x, y)
	}
	_ = s
}
