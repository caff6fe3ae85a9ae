//go:build bench

package embedded_test

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/cityagent/cityagent/access"
	"github.com/cityagent/cityagent/knowledge"
	"github.com/cityagent/cityagent/knowledge/demodocs"
	"github.com/cityagent/cityagent/knowledge/embedded"
)

func envInt(name string, def int) int {
	if v, err := strconv.Atoi(os.Getenv(name)); err == nil && v > 0 {
		return v
	}
	return def
}

// sentences returns the sentences of the demo documents, the material for
// synthetic chunks that read like the real ones (Chinese and English).
func sentences(b testing.TB) []string {
	docs, err := demodocs.Documents()
	if err != nil {
		b.Fatal(err)
	}
	var out []string
	for _, d := range docs {
		for _, line := range strings.Split(d.Text, "\n") {
			for _, s := range strings.FieldsFunc(line, func(r rune) bool { return r == '。' || r == '；' }) {
				if s = strings.TrimSpace(strings.TrimLeft(s, "#")); len([]rune(s)) > 8 {
					out = append(out, s)
				}
			}
		}
	}
	return out
}

// Chunking of the synthetic documents: "long" documents are one chunk of
// about 450 characters (the default chunker keeps them whole); "short"
// documents of about 1,150 characters are cut into about ten record-sized
// chunks of at most 120 characters, as register entries or CSV rows are.
const shortChunk = 120

func benchChunker(kind string) knowledge.Chunker {
	if kind == "short" {
		return knowledge.Chunker{Size: shortChunk, Overlap: -1}
	}
	return knowledge.Chunker{}
}

// syntheticDocs makes documents totalling about n chunks (see benchChunker),
// built from demo sentences with a unique code each.
func syntheticDocs(b testing.TB, n int, kind string) []knowledge.Document {
	if kind == "short" {
		n = max(n/10, 1)
	}
	ss := sentences(b)
	r := rand.New(rand.NewPCG(1, uint64(n)))
	districts := []string{"dongcheng", "xicheng", "nanhu", "beian", "gaoxin", "binjiang"}
	docs := make([]knowledge.Document, n)
	for i := range docs {
		var sb strings.Builder
		fmt.Fprintf(&sb, "记录 R%07d district %s. ", i, districts[i%6])
		limit := 450
		if kind == "short" {
			limit = 1150
		}
		for len([]rune(sb.String())) < limit {
			sb.WriteString(ss[r.IntN(len(ss))])
			sb.WriteString("。")
		}
		text := string([]rune(sb.String())[:limit])
		docs[i] = knowledge.Document{ID: fmt.Sprintf("r%07d", i), Collection: "bench", Title: fmt.Sprintf("Record %d", i),
			Source: "bench", Text: text, Clearance: access.Clearances[i%4], Metadata: map[string]string{"district": districts[i%6]}}
	}
	return docs
}

// BenchmarkStore builds a store of KB_N (default 100,000) one-chunk
// documents of kind KB_TEXT (short or long, default long) through
// knowledge.Base with the hashed embedder (384 dimensions), then opens it
// again in a fresh process and reports: ingestion rate, time to link the
// graph, time to open (snapshot plus log check), hybrid search latency, and
// the child's resident memory after opening and searching (VmRSS) and at
// its peak (VmHWM).
func BenchmarkStore(b *testing.B) {
	if os.Getenv("KB_BENCH_CHILD") != "" {
		return
	}
	n := envInt("KB_N", 100_000)
	kind := os.Getenv("KB_TEXT")
	if kind == "" {
		kind = "long"
	}
	dir := os.Getenv("KB_DIR")
	if dir == "" {
		dir = b.TempDir()
	}
	for b.Loop() {
		if _, err := os.Stat(dir + "/knowledge.log"); err != nil {
			build(b, dir, n, kind)
		} else {
			b.Logf("reusing the store in %s", dir)
		}
		child(b, dir, n)
	}
}

func build(b *testing.B, dir string, n int, kind string) {
	docs := syntheticDocs(b, n, kind)
	s, err := embedded.Open(dir)
	if err != nil {
		b.Fatal(err)
	}
	base := knowledge.NewBase(s, knowledge.NewHashedEmbedder(0), knowledge.WithChunker(benchChunker(kind)))
	ctx := context.Background()
	start := time.Now()
	const batch = 1000
	for i := 0; i < len(docs); i += batch {
		if _, err := base.IngestMany(ctx, docs[i:min(i+batch, len(docs))]); err != nil {
			b.Fatal(err)
		}
	}
	ingest := time.Since(start)
	n = s.Stats().Chunks
	b.Logf("ingested %d documents, %d %s chunks in %.1f s: %.0f chunks/s (chunk, hashed embedding, log append + fsync, lexical index; graph linking runs behind)",
		len(docs), n, kind, ingest.Seconds(), float64(n)/ingest.Seconds())
	b.ReportMetric(float64(n)/ingest.Seconds(), "ingest_chunks/s")
	if err := s.WaitIndexed(ctx); err != nil {
		b.Fatal(err)
	}
	linked := time.Since(start)
	b.Logf("graph linked %.1f s after the first write (%.0f vectors/s overall)", linked.Seconds(), float64(n)/linked.Seconds())
	start = time.Now()
	if err := s.Close(); err != nil {
		b.Fatal(err)
	}
	b.Logf("close with final snapshot: %.1f s", time.Since(start).Seconds())
	docs = nil
	runtime.GC()
}

type childReport struct {
	OpenMS      float64 `json:"open_ms"`
	Snapshot    bool    `json:"snapshot"`
	Replayed    int     `json:"replayed"`
	Chunks      int     `json:"chunks"`
	P50MS       float64 `json:"p50_ms"`
	P99MS       float64 `json:"p99_ms"`
	QPS         float64 `json:"qps"`
	RSSMB       float64 `json:"rss_mb"`
	HWMMB       float64 `json:"hwm_mb"`
	HeapMB      float64 `json:"heap_mb"`
	Concurrency int     `json:"concurrency"`
	Terms       int     `json:"terms"`
	Postings    int64   `json:"postings"`
	Vectors     int     `json:"vectors"`
	CPUUS       float64 `json:"cpu_us_per_search"`
}

func child(b *testing.B, dir string, n int) {
	cmd := exec.Command(os.Args[0], "-test.run=^TestStoreBenchChild$", "-test.v")
	cmd.Env = append(os.Environ(), "KB_BENCH_CHILD="+dir)
	cmd.Stderr = os.Stderr
	out, err := cmd.Output()
	if err != nil {
		b.Fatalf("child: %v\n%s", err, out)
	}
	var rep childReport
	for line := range strings.Lines(string(out)) {
		if j, ok := strings.CutPrefix(strings.TrimSpace(line), "REPORT "); ok {
			if err := json.Unmarshal([]byte(j), &rep); err != nil {
				b.Fatal(err)
			}
		}
	}
	b.Logf("fresh process: open %.0f ms (snapshot %v, %d records replayed) for %d chunks", rep.OpenMS, rep.Snapshot, rep.Replayed, rep.Chunks)
	b.Logf("hybrid search (Base.Search, k=5, hashed embedder): p50 %.2f ms, p99 %.2f ms, %.0f queries/s on %d goroutines, %.0f µs CPU per search (machine shared with other work)",
		rep.P50MS, rep.P99MS, rep.QPS, rep.Concurrency, rep.CPUUS)
	b.Logf("memory after open and 2,000 searches: RSS %.0f MB, peak RSS %.0f MB; live Go heap after a GC %.0f MB", rep.RSSMB, rep.HWMMB, rep.HeapMB)
	b.Logf("index: %d vectors (int8 codes %.0f MB, layer-0 links %.0f MB), %d distinct terms, %d postings (%.0f MB)",
		rep.Vectors, float64(rep.Vectors)*388/(1<<20), float64(rep.Vectors)*(32*4+4)/(1<<20), rep.Terms, rep.Postings, float64(rep.Postings)*4/(1<<20))
	b.ReportMetric(rep.OpenMS, "open_ms")
	b.ReportMetric(rep.RSSMB, "rss_MB")
	b.ReportMetric(rep.HWMMB, "peak_rss_MB")
	b.ReportMetric(rep.P50MS, "search_p50_ms")
	b.ReportMetric(rep.P99MS, "search_p99_ms")
	b.ReportMetric(rep.QPS, "searches/s")
	b.ReportMetric(rep.CPUUS, "cpu_us/search")
}

// TestStoreBenchChild is BenchmarkStore's fresh process; it does nothing in
// a normal test run.
func TestStoreBenchChild(t *testing.T) {
	dir := os.Getenv("KB_BENCH_CHILD")
	if dir == "" {
		t.Skip("run by BenchmarkStore")
	}
	start := time.Now()
	s, err := embedded.Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	open := time.Since(start)
	defer s.Close()
	ist, st := s.IndexStats(), s.Stats()
	base := knowledge.NewBase(s, knowledge.NewHashedEmbedder(0))
	ss := sentences(t)
	r := rand.New(rand.NewPCG(3, 3))
	queries := make([]string, 2000)
	for i := range queries {
		q := []rune(ss[r.IntN(len(ss))])
		queries[i] = string(q[:min(len(q), 12)])
	}
	conc := envInt("KB_CONC", 16)
	lat := make([]time.Duration, len(queries))
	var ru0 syscall.Rusage
	syscall.Getrusage(syscall.RUSAGE_SELF, &ru0)
	start = time.Now()
	next := make(chan int)
	done := make(chan struct{})
	for range conc {
		go func() {
			for i := range next {
				t0 := time.Now()
				if _, err := base.Search(context.Background(), knowledge.Query{Collection: "bench", Text: queries[i], Clearance: access.Restricted}); err != nil {
					t.Error(err)
				}
				lat[i] = time.Since(t0)
			}
			done <- struct{}{}
		}()
	}
	for i := range queries {
		next <- i
	}
	close(next)
	for range conc {
		<-done
	}
	elapsed := time.Since(start)
	var ru1 syscall.Rusage
	syscall.Getrusage(syscall.RUSAGE_SELF, &ru1)
	cpu := float64(ru1.Utime.Nano()+ru1.Stime.Nano()-ru0.Utime.Nano()-ru0.Stime.Nano()) / 1e9
	slices.Sort(lat)
	rss, hwm := procStatus("VmRSS"), procStatus("VmHWM")
	runtime.GC()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	ist = s.IndexStats()
	rep := childReport{OpenMS: float64(open.Microseconds()) / 1000, Snapshot: ist.SnapshotLoaded, Replayed: ist.Replayed, Chunks: st.Chunks,
		P50MS: float64(lat[len(lat)/2].Microseconds()) / 1000, P99MS: float64(lat[len(lat)*99/100].Microseconds()) / 1000,
		QPS: float64(len(queries)) / elapsed.Seconds(), RSSMB: rss, HWMMB: hwm, HeapMB: float64(ms.HeapAlloc) / (1 << 20), Concurrency: conc,
		Terms: ist.Terms, Postings: ist.Postings, Vectors: ist.Vectors, CPUUS: cpu * 1e6 / float64(len(queries))}
	js, _ := json.Marshal(rep)
	fmt.Println("REPORT " + string(js))
}

// procStatus reads a /proc/self/status field in MB.
func procStatus(field string) float64 {
	f, err := os.Open("/proc/self/status")
	if err != nil {
		return -1
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if v, ok := strings.CutPrefix(sc.Text(), field+":"); ok {
			kb, _ := strconv.ParseFloat(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(v), "kB")), 64)
			return kb / 1024
		}
	}
	return -1
}
