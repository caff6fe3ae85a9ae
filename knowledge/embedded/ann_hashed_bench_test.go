//go:build bench

package embedded

import (
	"context"
	"fmt"
	"math/rand/v2"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/cityagent/cityagent/knowledge"
	"github.com/cityagent/cityagent/knowledge/demodocs"
)

// demoSentences are the demo documents' sentences (Chinese and English),
// the material of the realistic corpus.
func demoSentences(tb testing.TB) []string {
	docs, err := demodocs.Documents()
	if err != nil {
		tb.Fatal(err)
	}
	var out []string
	for _, d := range docs {
		for _, line := range strings.Split(d.Text, "\n") {
			for _, s := range strings.FieldsFunc(line, func(r rune) bool { return r == '。' || r == '；' || r == '|' }) {
				if s = strings.TrimSpace(strings.TrimLeft(s, "#-* ")); len([]rune(s)) > 8 {
					out = append(out, s)
				}
			}
		}
	}
	return out
}

// Vocabulary the templates draw on, so that chunks differ in more than the
// order of their sentences: places, subjects, and record codes.
var (
	benchDistricts = []string{"东城区", "西城区", "南湖区", "北岸区", "高新区", "滨江区", "Dongcheng", "Xicheng", "Nanhu", "Beian", "Gaoxin", "Binjiang"}
	benchRoads     = []string{"人民路", "滨江大道", "解放路", "中山路", "环城高速", "Renmin Road", "Binjiang Avenue", "Jiefang Road", "Zhongshan Road", "Ring Expressway"}
	benchSubjects  = []string{"占道施工", "信号配时", "噪声投诉", "计划停电", "积水点", "路灯故障", "road occupation", "signal timing", "noise complaint", "planned outage", "flooding", "street light repair"}
)

// hashedCorpus returns n bilingual chunk texts of about 450 characters made
// deterministically from the demo sentences and the vocabulary above, as
// knowledge.IndexText would present them (title line first), and nq
// queries of the kinds users type: a 12-character prefix of a demo
// sentence, a subject with a place, or a few English words.
func hashedCorpus(tb testing.TB, n, nq int) (texts, queries []string) {
	ss := demoSentences(tb)
	r := rand.New(rand.NewPCG(11, uint64(n)))
	pick := func(xs []string) string { return xs[r.IntN(len(xs))] }
	texts = make([]string, n)
	for i := range texts {
		var sb strings.Builder
		fmt.Fprintf(&sb, "%s %s 第%d号 Record R%07d\n", pick(benchDistricts), pick(benchSubjects), i%997, i)
		fmt.Fprintf(&sb, "%s%s：", pick(benchRoads), pick(benchSubjects))
		for len([]rune(sb.String())) < 450 {
			sb.WriteString(pick(ss))
			sb.WriteString("。")
		}
		texts[i] = string([]rune(sb.String())[:450])
	}
	q := rand.New(rand.NewPCG(12, 12))
	queries = make([]string, nq)
	for i := range queries {
		switch i % 3 {
		case 0:
			s := []rune(ss[q.IntN(len(ss))])
			queries[i] = string(s[:min(len(s), 12)])
		case 1:
			queries[i] = benchSubjects[q.IntN(len(benchSubjects))] + " " + benchRoads[q.IntN(len(benchRoads))]
		default:
			w := strings.Fields(ss[q.IntN(len(ss))])
			queries[i] = strings.Join(w[:min(len(w), 4)], " ")
		}
	}
	return texts, queries
}

func hashedVectors(tb testing.TB, texts []string) [][]float32 {
	vs, err := knowledge.NewHashedEmbedder(0).Embed(context.Background(), texts)
	if err != nil {
		tb.Fatal(err)
	}
	return vs
}

// BenchmarkANNHashed is BenchmarkANN on the product's own vectors: the
// hashed embedder over ANN_N (default 100,000) realistic bilingual chunks,
// with ANN_Q (default 300) held-out queries. Recall@10 is against exact
// float32 search. It reports the build, the graph at several beam widths,
// the store's dense ranking (graph plus exact lexical candidates), and the
// size of the graph's arrays. ANN_M and ANN_EFC override M and efConstruction.
func BenchmarkANNHashed(b *testing.B) {
	n, nq := envInt("ANN_N", 100_000), envInt("ANN_Q", 300)
	const k = 10
	texts, qtexts := hashedCorpus(b, n, nq)
	start := time.Now()
	data := hashedVectors(b, texts)
	b.Logf("embedded %d chunks with the hashed embedder in %.1f s", n, time.Since(start).Seconds())
	var lex lexIndex
	lex.terms = map[string]*postingList{}
	for i, t := range texts {
		lex.add(int32(i), 0, termsOf(knowledge.Chunk{Text: t}))
	}
	texts = nil
	queries := hashedVectors(b, qtexts)
	truth := make([][]int32, nq)
	start = time.Now()
	for i, q := range queries {
		truth[i] = exactTop(data, q, k)
	}
	exactQPS := float64(nq) / time.Since(start).Seconds()
	b.Logf("%d hashed vectors × 384 dims, %d queries, k=%d, GOMAXPROCS=%d (machine shared with other work)", n, nq, k, runtime.GOMAXPROCS(0))
	row := func(name string, recall, qps, cpu float64) {
		b.Logf("%-40s recall@10 %.4f  %8.0f QPS  %7.1f µs CPU/query  %6.1fx exact", name, recall, qps, cpu, qps/exactQPS)
	}
	row("exact float32 brute force", 1, exactQPS, 1e6/exactQPS)
	start = time.Now()
	cpu0 := cpuSeconds()
	g := newGraph(len(data[0]))
	g.exactBelow = 0
	if m := envInt("ANN_M", 0); m > 0 {
		g.m, g.m0 = m, 2*m
	}
	g.efC = envInt("ANN_EFC", g.efC)
	for i, v := range data {
		g.add(int32(i), v)
	}
	for g.linkNext() {
	}
	build := time.Since(start)
	b.Logf("HNSW build (M=%d, efConstruction=%d): %.1f s wall, %.1f s CPU, %.0f vectors/s", g.m, g.efC, build.Seconds(), cpuSeconds()-cpu0, float64(n)/build.Seconds())
	data = nil
	b.Logf("graph arrays: %.0f MB (int8 codes, scales, layer-0 links)", float64(len(g.codes)+4*len(g.scales)+4*len(g.nbr0)+len(g.cnt0)+2*len(g.indeg)+4*len(g.slotOf))/(1<<20))
	measure := func(search func(i int, q []float32) []scored) (recall, qps, cpuUS float64) {
		start, c0 := time.Now(), cpuSeconds()
		for i, q := range queries {
			recall += recallAt(truth[i], search(i, q))
		}
		el := time.Since(start).Seconds()
		return recall / float64(nq), float64(nq) / el, (cpuSeconds() - c0) * 1e6 / float64(nq)
	}
	r, qps, cpu := measure(func(i int, q []float32) []scored { return g.exact(q, k, nil) })
	row("exact int8 scan", r, qps, cpu)
	for _, ef := range []int{64, 128, 256} {
		r, qps, cpu := measure(func(i int, q []float32) []scored { return g.search(q, k, ef, nil) })
		row(fmt.Sprintf("HNSW efSearch=%d", ef), r, qps, cpu)
	}
	// What the store does: the graph walk, plus the exact similarity of
	// the lexical candidates (BM25's best 4k, as Base asks a store for
	// 4×k chunks and a store ranks 2× that), merged; and with more lexical
	// candidates.
	for _, nl := range []int{4 * k, 10 * k, 20 * k} {
		r, qps, cpu = measure(func(i int, q []float32) []scored {
			dense := g.search(q, 4*k, DefaultEfSearch, nil)
			cand := lex.search(knowledge.Tokens(qtexts[i]), nl, 0, func(int32) bool { return true })
			nodes := make([]int32, len(cand))
			for i, c := range cand {
				nodes[i] = c.slot // slot i is node i here
			}
			merged := mergeDense(dense, g.rescore(q, nodes, nil), 4*k)
			return merged[:min(k, len(merged))]
		})
		row(fmt.Sprintf("HNSW ef 64 + exact BM25 top %d", nl), r, qps, cpu)
	}
	b.ReportMetric(r, "recall@10")
	b.ReportMetric(qps, "qps")
	b.ReportMetric(cpu, "cpu_us/query")
	b.ReportMetric(build.Seconds(), "build_s")
	b.Logf("RSS %.0f MB, peak %.0f MB", procStatusMB("VmRSS"), procStatusMB("VmHWM"))
}
