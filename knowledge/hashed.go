package knowledge

import (
	"context"
	"math"
)

// DefaultHashedDim is the HashedEmbedder's dimension when none is given.
const DefaultHashedDim = 384

// HashedEmbedder is the offline default embedder: it hashes each text's words,
// character trigrams of words, and CJK character uni-, bi- and trigrams into a
// fixed number of signed buckets and L2-normalises the result.
//
// It is LEXICAL, not semantic: two texts are close when they share words and
// character sequences, not when they mean the same thing ("拥堵" and
// "congestion" are unrelated to it). It needs no model and no network, is
// deterministic across runs and machines, and is fast enough that embedding
// never limits ingestion. Configure an OpenAI-compatible embedder for
// semantic recall.
type HashedEmbedder struct {
	dim int
}

var _ Embedder = (*HashedEmbedder)(nil)

// NewHashedEmbedder returns a HashedEmbedder of dim dimensions; dim ≤ 0 means
// DefaultHashedDim.
func NewHashedEmbedder(dim int) *HashedEmbedder {
	if dim <= 0 {
		dim = DefaultHashedDim
	}
	return &HashedEmbedder{dim: dim}
}

// Name is "hashed".
func (e *HashedEmbedder) Name() string { return "hashed" }

// Dim is the vector length.
func (e *HashedEmbedder) Dim() int { return e.dim }

// Embed returns one unit vector per text (all zeros for a text without any
// word or CJK character). The vectors share one backing array.
func (e *HashedEmbedder) Embed(ctx context.Context, texts []string) ([][]float32, error) {
	out := make([][]float32, len(texts))
	buf := make([]float32, len(texts)*e.dim)
	for i, t := range texts {
		if i%64 == 0 {
			if err := ctx.Err(); err != nil {
				return nil, err
			}
		}
		v := buf[i*e.dim : (i+1)*e.dim : (i+1)*e.dim]
		e.embed(t, v)
		out[i] = v
	}
	return out, nil
}

// Feature kinds are hashed with different seeds so that, say, the word "ab"
// and the trigram "<ab" never share a bucket by construction.
const (
	seedWord    = 0x9e3779b97f4a7c15
	seedTrigram = 0xc2b2ae3d27d4eb4f
	seedCJK1    = 0x165667b19e3779f9
	seedCJK2    = 0xd6e8feb86659fd93
	seedCJK3    = 0xa0761d6478bd642f
)

// Feature weights: whole words and CJK bigrams carry the meaning; trigrams
// and single characters add robustness to inflection and to how a Chinese
// phrase happens to be split.
const (
	weightWord    = 1.0
	weightTrigram = 0.3
	weightCJK1    = 0.4
	weightCJK2    = 1.0
	weightCJK3    = 0.6
)

func (e *HashedEmbedder) embed(text string, v []float32) {
	add := func(h uint64, w float32) {
		h = mix64(h)
		// Lemire's range reduction on the high half; the low bit is the sign.
		i := (h >> 32) * uint64(e.dim) >> 32
		if h&1 == 0 {
			v[i] += w
		} else {
			v[i] -= w
		}
	}
	scanTerms(text, func(w []byte) {
		add(fnvBytes(seedWord, w), weightWord)
		if len(w) < 4 {
			return
		}
		// Trigrams of "<word>", so that prefixes and suffixes are features too.
		for i := -1; i+2 <= len(w); i++ {
			h := uint64(seedTrigram)
			for j := i; j < i+3; j++ {
				c := byte('>')
				switch {
				case j < 0:
					c = '<'
				case j < len(w):
					c = w[j]
				}
				h = fnvByte(h, c)
			}
			add(h, weightTrigram)
		}
	}, func(run []rune) {
		for i, r := range run {
			add(fnvRune(seedCJK1, r), weightCJK1)
			if i+1 < len(run) {
				add(fnvRune(fnvRune(seedCJK2, r), run[i+1]), weightCJK2)
			}
			if i+2 < len(run) {
				add(fnvRune(fnvRune(fnvRune(seedCJK3, r), run[i+1]), run[i+2]), weightCJK3)
			}
		}
	})
	var sum float64
	for _, x := range v {
		sum += float64(x) * float64(x)
	}
	if sum == 0 {
		return
	}
	inv := float32(1 / math.Sqrt(sum))
	for i := range v {
		v[i] *= inv
	}
}

const fnvPrime = 1099511628211

func fnvByte(h uint64, c byte) uint64 { return (h ^ uint64(c)) * fnvPrime }

func fnvRune(h uint64, r rune) uint64 { return (h ^ uint64(r)) * fnvPrime }

func fnvBytes(h uint64, s []byte) uint64 {
	for i := 0; i < len(s); i++ {
		h = fnvByte(h, s[i])
	}
	return h
}

// mix64 is splitmix64's finaliser; FNV alone spreads short keys poorly over
// the high bits used for the bucket.
func mix64(h uint64) uint64 {
	h ^= h >> 30
	h *= 0xbf58476d1ce4e5b9
	h ^= h >> 27
	h *= 0x94d049bb133111eb
	h ^= h >> 31
	return h
}
