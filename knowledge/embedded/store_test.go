package embedded_test

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/cityagent/cityagent/access"
	"github.com/cityagent/cityagent/knowledge"
	"github.com/cityagent/cityagent/knowledge/demodocs"
	"github.com/cityagent/cityagent/knowledge/embedded"
	"github.com/cityagent/cityagent/knowledge/knowledgetest"
)

func open(t testing.TB, dir string, opts ...embedded.Option) *embedded.Store {
	t.Helper()
	s, err := embedded.Open(dir, opts...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

func TestConformance(t *testing.T) {
	knowledgetest.Run(t, func(t *testing.T) knowledge.Store { return open(t, t.TempDir()) })
}

// demoBase returns a base over a new store in dir holding the demo documents.
func demoBase(t testing.TB, dir string) (*knowledge.Base, *embedded.Store) {
	t.Helper()
	s := open(t, dir)
	b := knowledge.NewBase(s, knowledge.NewHashedEmbedder(0))
	if _, err := demodocs.Load(context.Background(), b); err != nil {
		t.Fatal(err)
	}
	return b, s
}

func TestDemoDocsRanking(t *testing.T) {
	b, _ := demoBase(t, t.TempDir())
	for _, tc := range []struct {
		collection, query string
		clearance         access.Clearance
		want              string
	}{
		{"traffic", "交通事故发生后多长时间内到达现场", access.Public, "traffic-incident-response"},
		{"traffic", "清障车到场时间", access.Public, "traffic-incident-response"},
		{"traffic", "行人绿灯时间最少多少秒", access.Internal, "traffic-signal-timing"},
		{"traffic", "黄灯时间 全红清空", access.Internal, "traffic-signal-timing"},
		{"traffic", "what happens when the congestion index is above 2.0", access.Public, "traffic-congestion-management"},
		{"traffic", "拥堵指数超过3.0 潮汐车道", access.Public, "traffic-congestion-management"},
		{"traffic", "at what hours are roadworks allowed on arterial roads", access.Public, "traffic-roadworks-rules"},
		{"traffic", "交警大队值班电话", access.Restricted, "traffic-emergency-contacts"},
		{"permits", "road occupation permit fee per square metre", access.Public, "permits-rules-fees|permits-application-faq"},
		{"permits", "深基坑 检查频次", access.Internal, "permits-inspection-procedure"},
		{"permits", "重大隐患 停工", access.Internal, "permits-inspection-procedure"},
		{"energy", "how much is paid per kWh for an emergency demand response event", access.Public, "energy-demand-response"},
		{"energy", "橙色预警 避峰负荷", access.Internal, "energy-orderly-power-use"},
		{"hotline", "紧急诉求多长时间内派单", access.Public, "hotline-12345-rules"},
		{"hotline", "工单退单申请时限", access.Public, "hotline-12345-rules"},
		{"hotline", "which department handles a gas leak", access.Public, "hotline-department-responsibilities|hotline-urgent-transfer"},
		{"hotline", "夜间施工噪声 投诉 哪个部门", access.Public, "hotline-department-responsibilities"},
		{"city", "高新区 人口 面积", access.Public, "city-district-profiles"},
		{"city", "Binjiang district population", access.Public, "city-district-profiles"},
		{"city", "供水管网压力 红色阈值", access.Internal, "city-vital-signs"},
	} {
		t.Run(tc.query, func(t *testing.T) {
			hits, err := b.Search(context.Background(), knowledge.Query{Collection: tc.collection, Text: tc.query, Clearance: tc.clearance, K: 3})
			if err != nil {
				t.Fatal(err)
			}
			// Several documents may answer a question: want lists them.
			if len(hits) == 0 || !slices.Contains(strings.Split(tc.want, "|"), hits[0].DocID) {
				var got []string
				for _, h := range hits {
					got = append(got, fmt.Sprintf("%s(%.4f)", h.ID, h.Score))
				}
				t.Fatalf("got %v, want %s first", got, tc.want)
			}
		})
	}
}

func TestDemoDocsClearance(t *testing.T) {
	b, _ := demoBase(t, t.TempDir())
	ctx := context.Background()
	q := knowledge.Query{Collection: "traffic", Text: "应急指挥通讯录 值班主任 手机 交警大队值班电话", K: knowledge.MaxK}
	for _, c := range []access.Clearance{access.Public, access.Internal, access.Sensitive} {
		q.Clearance = c
		hits, err := b.Search(ctx, q)
		if err != nil {
			t.Fatal(err)
		}
		for _, h := range hits {
			if h.DocID == "traffic-emergency-contacts" || !c.Covers(h.Clearance) {
				t.Errorf("%s reader got %s (%s)", c, h.ID, h.Clearance)
			}
		}
		if c == access.Public {
			for _, h := range hits {
				if h.DocID == "traffic-signal-timing" {
					t.Errorf("public reader got internal %s", h.ID)
				}
			}
		}
	}
	q.Clearance = access.Restricted
	hits, err := b.Search(ctx, q)
	if err != nil {
		t.Fatal(err)
	}
	if len(hits) == 0 || hits[0].DocID != "traffic-emergency-contacts" {
		t.Fatalf("restricted reader: %v", hits)
	}
}

func TestDemoLoadIdempotent(t *testing.T) {
	dir := t.TempDir()
	b, s := demoBase(t, dir)
	before := s.Stats()
	n, err := demodocs.Load(context.Background(), b)
	if err != nil || n != 0 {
		t.Fatalf("second load: %d, %v; want 0 documents changed", n, err)
	}
	if after := s.Stats(); after != before {
		t.Fatalf("second load changed the store: %+v → %+v", before, after)
	}
}

func TestPersistence(t *testing.T) {
	dir := t.TempDir()
	ctx := context.Background()
	s, err := embedded.Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	b := knowledge.NewBase(s, knowledge.NewHashedEmbedder(0))
	if _, err := demodocs.Load(ctx, b); err != nil {
		t.Fatal(err)
	}
	if err := s.Delete(ctx, "permits", "permits-rules-fees"); err != nil {
		t.Fatal(err)
	}
	q := knowledge.Query{Collection: "traffic", Text: "拥堵指数超过2.0", Clearance: access.Restricted, K: 10}
	want, err := b.Search(ctx, q)
	if err != nil {
		t.Fatal(err)
	}
	stats := s.Stats()
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); !errors.Is(err, embedded.ErrClosed) {
		t.Errorf("second Close: %v, want ErrClosed", err)
	}
	if _, err := s.Search(ctx, q, nil); !errors.Is(err, embedded.ErrClosed) {
		t.Errorf("search after Close: %v, want ErrClosed", err)
	}

	s2 := open(t, dir)
	b2 := knowledge.NewBase(s2, knowledge.NewHashedEmbedder(0))
	got, err := b2.Search(ctx, q)
	if err != nil {
		t.Fatal(err)
	}
	if summary(got) != summary(want) {
		t.Errorf("after reopen:\n got %v\nwant %v", summary(got), summary(want))
	}
	if s2.Stats() != stats {
		t.Errorf("stats after reopen %+v, want %+v", s2.Stats(), stats)
	}
	if _, err := s2.Document(ctx, "permits", "permits-rules-fees"); !errors.Is(err, knowledge.ErrNotFound) {
		t.Errorf("deleted document after reopen: %v", err)
	}
	if n, err := demodocs.Load(ctx, b2); err != nil || n != 1 {
		t.Errorf("load after reopen: %d, %v; want only the deleted document back", n, err)
	}
}

func summary(hits []knowledge.Hit) string {
	var sb strings.Builder
	for _, h := range hits {
		fmt.Fprintf(&sb, "%s %.6f %s %v %v|", h.ID, h.Score, h.Clearance, h.Metadata, h.Effective.Unix())
	}
	return sb.String()
}

func TestLocked(t *testing.T) {
	dir := t.TempDir()
	open(t, dir)
	if _, err := embedded.Open(dir); !errors.Is(err, embedded.ErrLocked) {
		t.Fatalf("second open of one directory: %v, want ErrLocked", err)
	}
}

func TestNotALog(t *testing.T) {
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "knowledge.log"), []byte("something else entirely"), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := embedded.Open(dir); err == nil {
		t.Fatal("opened a file that is not a knowledge log")
	}
}

func doc(i int) knowledge.Document {
	return knowledge.Document{
		ID: fmt.Sprintf("doc-%03d", i), Collection: "c", Title: fmt.Sprintf("文档 %d", i),
		Text: fmt.Sprintf("第%d号通知：信号配时调整。Notice number %d uniqueword%d about signal timing.", i, i, i),
	}
}

func ingest(t testing.TB, b *knowledge.Base, docs ...knowledge.Document) {
	t.Helper()
	for _, d := range docs {
		if _, err := b.Ingest(context.Background(), d); err != nil {
			t.Fatalf("ingest %s: %v", d.ID, err)
		}
	}
}

// findable reports whether the document with doc(i)'s unique word is found.
func findable(t testing.TB, b *knowledge.Base, i int) bool {
	t.Helper()
	hits, err := b.Search(context.Background(), knowledge.Query{Collection: "c", Text: fmt.Sprintf("uniqueword%d", i), K: 1})
	if err != nil {
		t.Fatal(err)
	}
	return len(hits) == 1 && hits[0].DocID == doc(i).ID
}

func TestTornTail(t *testing.T) {
	for _, tc := range []struct {
		name   string
		damage func(t *testing.T, path string, lastRecord int64)
	}{
		{"cut mid-record", func(t *testing.T, path string, last int64) {
			st, _ := os.Stat(path)
			if err := os.Truncate(path, st.Size()-last/2); err != nil {
				t.Fatal(err)
			}
		}},
		{"cut mid-header", func(t *testing.T, path string, last int64) {
			st, _ := os.Stat(path)
			if err := os.Truncate(path, st.Size()-last+3); err != nil {
				t.Fatal(err)
			}
		}},
		{"flipped byte", func(t *testing.T, path string, last int64) {
			data, _ := os.ReadFile(path)
			data[len(data)-10] ^= 0xff
			if err := os.WriteFile(path, data, 0o600); err != nil {
				t.Fatal(err)
			}
		}},
		{"garbage appended", func(t *testing.T, path string, last int64) {
			f, err := os.OpenFile(path, os.O_WRONLY|os.O_APPEND, 0)
			if err != nil {
				t.Fatal(err)
			}
			f.Write([]byte{0xff, 0xff, 0xff, 0x7f, 1, 2, 3, 4, 5, 6, 7})
			f.Close()
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			path := filepath.Join(dir, "knowledge.log")
			s, err := embedded.Open(dir)
			if err != nil {
				t.Fatal(err)
			}
			b := knowledge.NewBase(s, knowledge.NewHashedEmbedder(0))
			ingest(t, b, doc(1), doc(2))
			before := s.Stats().LogBytes
			ingest(t, b, doc(3))
			last := s.Stats().LogBytes - before
			s.Close()
			tc.damage(t, path, last)

			s = open(t, dir)
			b = knowledge.NewBase(s, knowledge.NewHashedEmbedder(0))
			if !findable(t, b, 1) || !findable(t, b, 2) {
				t.Fatal("documents before the damaged record were lost")
			}
			if tc.name != "garbage appended" && findable(t, b, 3) {
				t.Fatal("the damaged record was replayed")
			}
			if s.Stats().TruncatedBytes == 0 {
				t.Error("no truncation reported")
			}
			// The log is usable again: a new write survives another reopen.
			ingest(t, b, doc(4))
			s.Close()
			s = open(t, dir)
			b = knowledge.NewBase(s, knowledge.NewHashedEmbedder(0))
			if !findable(t, b, 4) || !findable(t, b, 1) {
				t.Fatal("write after recovery lost")
			}
			if s.Stats().TruncatedBytes != 0 {
				t.Error("a clean log was truncated")
			}
		})
	}
}

func TestCompaction(t *testing.T) {
	dir := t.TempDir()
	ctx := context.Background()
	s := open(t, dir, embedded.WithCompactMinBytes(64<<10))
	b := knowledge.NewBase(s, knowledge.NewHashedEmbedder(0))
	for round := range 30 {
		for i := range 10 {
			d := doc(i)
			d.Text += fmt.Sprintf(" Revision %d.", round)
			ingest(t, b, d)
		}
	}
	if err := s.Delete(ctx, "c", doc(9).ID); err != nil {
		t.Fatal(err)
	}
	st := s.Stats()
	if st.LogBytes > 300<<10 {
		t.Errorf("log is %d bytes after 300 writes of 10 live documents: no automatic compaction", st.LogBytes)
	}
	if err := s.Compact(ctx); err != nil {
		t.Fatal(err)
	}
	st = s.Stats()
	if st.GarbageBytes != 0 || st.Documents != 9 {
		t.Errorf("after Compact: %+v", st)
	}
	if _, err := os.Stat(filepath.Join(dir, "knowledge.log.compact")); !os.IsNotExist(err) {
		t.Errorf("temporary file left behind: %v", err)
	}
	s.Close()
	s = open(t, dir)
	b = knowledge.NewBase(s, knowledge.NewHashedEmbedder(0))
	if got := s.Stats(); got.Documents != 9 || got.LogBytes != st.LogBytes {
		t.Errorf("after reopen: %+v, want %+v", got, st)
	}
	for i := range 9 {
		if !findable(t, b, i) {
			t.Errorf("document %d lost by compaction", i)
		}
	}
	hits, err := b.Search(ctx, knowledge.Query{Collection: "c", Text: "uniqueword3 Revision 29", K: 1})
	if err != nil || len(hits) != 1 || !strings.Contains(hits[0].Text, "Revision 29.") {
		t.Errorf("latest revision not kept: %v %v", hits, err)
	}
}

func TestVectorDimension(t *testing.T) {
	s := open(t, t.TempDir())
	ctx := context.Background()
	ingest(t, knowledge.NewBase(s, knowledge.NewHashedEmbedder(64)), doc(1))
	_, err := knowledge.NewBase(s, knowledge.NewHashedEmbedder(128)).Ingest(ctx, doc(2))
	if !errors.Is(err, knowledge.ErrInvalid) {
		t.Fatalf("ingest with another dimension: %v, want ErrInvalid", err)
	}
	_, err = knowledge.NewBase(s, knowledge.NewHashedEmbedder(128)).Search(ctx, knowledge.Query{Collection: "c", Text: "signal"})
	if !errors.Is(err, knowledge.ErrInvalid) {
		t.Fatalf("search with another dimension: %v, want ErrInvalid", err)
	}
}

// TestLexicalOnly checks that a store searched without a vector still ranks
// by BM25.
func TestLexicalOnly(t *testing.T) {
	s := open(t, t.TempDir())
	ingest(t, knowledge.NewBase(s, knowledge.NewHashedEmbedder(0)), doc(1), doc(2), doc(3))
	hits, err := s.Search(context.Background(), knowledge.Query{Collection: "c", Text: "uniqueword2", K: 1}, nil)
	if err != nil || len(hits) != 1 || hits[0].DocID != doc(2).ID {
		t.Fatalf("lexical-only search: %v, %v", hits, err)
	}
}

func TestConcurrentWriters(t *testing.T) {
	dir := t.TempDir()
	s := open(t, dir)
	b := knowledge.NewBase(s, knowledge.NewHashedEmbedder(0))
	ctx := context.Background()
	var wg sync.WaitGroup
	for w := range 8 {
		wg.Go(func() {
			for i := range 10 {
				d := doc(w*10 + i)
				if _, err := b.Ingest(ctx, d); err != nil {
					t.Error(err)
					return
				}
				if _, err := b.Search(ctx, knowledge.Query{Collection: "c", Text: d.Title}); err != nil {
					t.Error(err)
					return
				}
			}
		})
	}
	wg.Go(func() {
		for range 3 {
			if err := s.Compact(ctx); err != nil {
				t.Error(err)
			}
			time.Sleep(time.Millisecond)
		}
	})
	wg.Wait()
	s.Close()
	s = open(t, dir)
	b = knowledge.NewBase(s, knowledge.NewHashedEmbedder(0))
	if n := s.Stats().Documents; n != 80 {
		t.Fatalf("%d documents after reopen, want 80", n)
	}
	for i := range 80 {
		if !findable(t, b, i) {
			t.Errorf("document %d not found", i)
		}
	}
}

// TestCrash kills a writer with SIGKILL in the middle of ingesting and checks
// that every write it acknowledged is there after reopening.
func TestCrash(t *testing.T) {
	if dir := os.Getenv("EMBEDDED_CRASH_CHILD"); dir != "" {
		crashChild(dir)
		return
	}
	if testing.Short() {
		t.Skip("re-executes the test binary")
	}
	dir := t.TempDir()
	cmd := exec.Command(os.Args[0], "-test.run=^TestCrash$", "-test.v=false")
	cmd.Env = append(os.Environ(), "EMBEDDED_CRASH_CHILD="+dir)
	cmd.Stderr = os.Stderr
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	var acked []int
	sc := bufio.NewScanner(out)
	for sc.Scan() {
		var i int
		if _, err := fmt.Sscanf(sc.Text(), "ACK %d", &i); err == nil {
			acked = append(acked, i)
		}
		if len(acked) == 60 {
			if err := cmd.Process.Kill(); err != nil { // SIGKILL
				t.Fatal(err)
			}
			break
		}
	}
	cmd.Wait()
	if len(acked) < 60 {
		t.Fatalf("child acknowledged only %d writes before exiting", len(acked))
	}
	s := open(t, dir)
	b := knowledge.NewBase(s, knowledge.NewHashedEmbedder(0))
	for _, i := range acked {
		if !findable(t, b, i) {
			t.Errorf("acknowledged document %d lost", i)
		}
	}
	t.Logf("%d acknowledged, %d documents after reopen, %d bytes of torn tail dropped", len(acked), s.Stats().Documents, s.Stats().TruncatedBytes)
}

// crashChild ingests forever from four goroutines, printing each document
// acknowledged, until the parent kills it.
func crashChild(dir string) {
	s, err := embedded.Open(dir, embedded.WithCompactMinBytes(32<<10))
	if err != nil {
		fmt.Println("ERR", err)
		os.Exit(1)
	}
	b := knowledge.NewBase(s, knowledge.NewHashedEmbedder(0))
	var mu sync.Mutex
	var wg sync.WaitGroup
	for w := range 4 {
		wg.Go(func() {
			for i := w; ; i += 4 {
				d := doc(i % 400)
				d.Text = strings.Repeat(d.Text+" ", 1+i%7)
				if _, err := b.Ingest(context.Background(), d); err != nil {
					fmt.Println("ERR", err)
					os.Exit(1)
				}
				mu.Lock()
				fmt.Printf("ACK %d\n", i%400)
				mu.Unlock()
			}
		})
	}
	wg.Wait()
}
