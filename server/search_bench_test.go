//go:build unix

package server

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"net/http"
	"os"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/cityagent/cityagent/access"
	"github.com/cityagent/cityagent/knowledge"
	"github.com/cityagent/cityagent/knowledge/demodocs"
	"github.com/cityagent/cityagent/knowledge/embedded"
	"github.com/cityagent/cityagent/store"
)

// BenchmarkSearchHTTP measures POST /v1/collections/{c}/search over
// loopback HTTP with keep-alive clients: throughput, p50/p99 latency and
// CPU per search (server and clients share the process, so the CPU figure
// includes the client side). The store is KB_DIR if it holds one made by
// knowledge/embedded's BenchmarkStore (collection "bench", e.g. 100,000
// chunks), else SEARCH_N (default 20,000) one-chunk bilingual documents
// made from the demo sentences. SEARCH_C (default 16) clients send
// SEARCH_Q (default 4,000) queries in all.
//
//	KB_DIR=/tmp/kb100k go test -run '^$' -bench BenchmarkSearchHTTP -benchtime 1x ./server/
func BenchmarkSearchHTTP(b *testing.B) {
	ctx := context.Background()
	db, err := store.Open(ctx, "", b.TempDir())
	if err != nil {
		b.Fatal(err)
	}
	defer db.Close()
	dir := os.Getenv("KB_DIR")
	built := false
	if dir == "" {
		dir = b.TempDir()
	}
	if _, err := os.Stat(dir + "/knowledge.log"); err != nil {
		built = true
	}
	ks, err := embedded.Open(dir)
	if err != nil {
		b.Fatal(err)
	}
	defer ks.Close()
	kb := knowledge.NewBase(ks, knowledge.NewHashedEmbedder(0))
	ss := benchSentences(b)
	if built {
		n := benchEnv("SEARCH_N", 20_000)
		r := rand.New(rand.NewPCG(5, uint64(n)))
		docs := make([]knowledge.Document, n)
		for i := range docs {
			var sb strings.Builder
			fmt.Fprintf(&sb, "记录 R%07d. ", i)
			for len([]rune(sb.String())) < 450 {
				sb.WriteString(ss[r.IntN(len(ss))])
				sb.WriteString("。")
			}
			docs[i] = knowledge.Document{ID: fmt.Sprintf("r%07d", i), Collection: "bench", Title: fmt.Sprintf("Record %d", i),
				Text: string([]rune(sb.String())[:450]), Clearance: access.Clearances[i%4]}
		}
		for i := 0; i < n; i += 1000 {
			if _, err := kb.IngestMany(ctx, docs[i:min(i+1000, n)]); err != nil {
				b.Fatal(err)
			}
		}
	}
	if err := ks.WaitIndexed(ctx); err != nil {
		b.Fatal(err)
	}
	chunks := ks.Stats().Chunks
	_, secret, err := IssueKey(ctx, db, KeyRequest{Name: "bench", Role: "operator", Clearance: "restricted"}, "bench", time.Now())
	if err != nil {
		b.Fatal(err)
	}
	srv := New(Deps{Keys: db, Sessions: db, Knowledge: kb, Log: slog.New(slog.NewTextHandler(io.Discard, nil))}, Options{BodyLimit: 256 << 10})
	addr := serveLoopback(b, srv)
	url := "http://" + addr + "/v1/collections/bench/search"

	conc, total := benchEnv("SEARCH_C", 16), benchEnv("SEARCH_Q", 4000)
	q := rand.New(rand.NewPCG(6, 6))
	bodies := make([][]byte, total)
	for i := range bodies {
		s := []rune(ss[q.IntN(len(ss))])
		bodies[i], _ = json.Marshal(map[string]any{"query": string(s[:min(len(s), 12)]), "k": 5})
	}
	client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: conc, MaxConnsPerHost: conc}}
	do := func(body []byte) error {
		req, _ := http.NewRequest(http.MethodPost, url, bytes.NewReader(body))
		req.Header.Set("Authorization", "Bearer "+secret)
		req.Header.Set("Content-Type", "application/json")
		resp, err := client.Do(req)
		if err != nil {
			return err
		}
		_, err = io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			return fmt.Errorf("HTTP %d", resp.StatusCode)
		}
		return err
	}
	for _, body := range bodies[:min(200, total)] { // warm up
		if err := do(body); err != nil {
			b.Fatal(err)
		}
	}
	lat := make([]time.Duration, total)
	var wg sync.WaitGroup
	next := make(chan int)
	errs := make(chan error, conc)
	b.ResetTimer()
	start, cpu0 := time.Now(), benchCPU()
	for range conc {
		wg.Go(func() {
			for i := range next {
				t0 := time.Now()
				if err := do(bodies[i]); err != nil {
					select {
					case errs <- err:
					default:
					}
				}
				lat[i] = time.Since(t0)
			}
		})
	}
	for i := range total {
		next <- i
	}
	close(next)
	wg.Wait()
	elapsed, cpu := time.Since(start), benchCPU()-cpu0
	b.StopTimer()
	close(errs)
	if err := <-errs; err != nil {
		b.Fatal(err)
	}
	slices.Sort(lat)
	ms := func(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }
	b.Logf("%d chunks, %d clients, %d searches over HTTP (GOMAXPROCS %d, machine shared with other work): %.0f searches/s, p50 %.2f ms, p99 %.2f ms, %.0f µs CPU per search (server and clients)",
		chunks, conc, total, runtime.GOMAXPROCS(0), float64(total)/elapsed.Seconds(), ms(lat[total/2]), ms(lat[total*99/100]), cpu*1e6/float64(total))
	b.ReportMetric(float64(total)/elapsed.Seconds(), "searches/s")
	b.ReportMetric(ms(lat[total*99/100]), "p99_ms")
	b.ReportMetric(cpu*1e6/float64(total), "cpu_us/search")
}

func benchEnv(name string, def int) int {
	if v, err := strconv.Atoi(os.Getenv(name)); err == nil && v > 0 {
		return v
	}
	return def
}

func benchCPU() float64 {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return float64(ru.Utime.Sec+ru.Stime.Sec) + float64(ru.Utime.Usec+ru.Stime.Usec)/1e6
}

// benchSentences are the demo documents' sentences, as knowledge/embedded's
// BenchmarkStore makes its documents and queries.
func benchSentences(b *testing.B) []string {
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
