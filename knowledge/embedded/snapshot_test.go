package embedded_test

import (
	"context"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"hash/crc32"
	"io"
	"math"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/cityagent/cityagent/access"
	"github.com/cityagent/cityagent/knowledge"
	"github.com/cityagent/cityagent/knowledge/embedded"
)

// graphOpts make even a small store search through the graph and snapshot
// often, so that the tests exercise both.
var graphOpts = []embedded.Option{embedded.WithExactScanBelow(0), embedded.WithSnapshotMinBytes(16 << 10)}

// snapOpts snapshot often but search exactly, so that results can be
// compared between a store and its reopened copy whatever the graph.
var snapOpts = []embedded.Option{embedded.WithSnapshotMinBytes(16 << 10)}

func varied(i int) knowledge.Document {
	topics := []string{"信号配时 signal timing", "占道施工 roadworks permit", "需求响应 demand response", "12345热线 hotline", "交通事故 incident"}
	d := doc(i)
	d.Text = fmt.Sprintf("# 第%d节 %s\n\n%s。Section %d covers %s in district %d. uniqueword%d.", i, topics[i%5], topics[i%5], i, topics[(i+2)%5], i%6, i)
	d.Metadata = map[string]string{"district": fmt.Sprint(i % 6)}
	eff := time.Date(2024, 1, 1+i%28, 0, 0, 0, 0, time.UTC)
	d.Effective = &eff
	if i%7 == 0 {
		d.Clearance = access.Restricted
	}
	return d
}

func results(t *testing.T, b *knowledge.Base, n int) string {
	t.Helper()
	out := ""
	for _, q := range []knowledge.Query{
		{Collection: "c", Text: "signal timing 信号配时", Clearance: access.Restricted, K: 10},
		{Collection: "c", Text: "roadworks permit", Clearance: access.Public, K: 10, Filter: map[string]string{"district": "2"}},
		{Collection: "c", Text: fmt.Sprintf("uniqueword%d", n/2), K: 3},
	} {
		hits, err := b.Search(context.Background(), q)
		if err != nil {
			t.Fatal(err)
		}
		out += summary(hits) + "\n"
	}
	return out
}

func TestSnapshotReopen(t *testing.T) {
	dir := t.TempDir()
	s := open(t, dir, graphOpts...)
	b := knowledge.NewBase(s, knowledge.NewHashedEmbedder(0))
	const n = 300
	for i := range n {
		ingest(t, b, varied(i))
	}
	for i := 0; i < n; i += 10 {
		if err := s.Delete(context.Background(), "c", doc(i).ID); err != nil {
			t.Fatal(err)
		}
	}
	if err := s.WaitIndexed(context.Background()); err != nil {
		t.Fatal(err)
	}
	want := results(t, b, n)
	stats := s.Stats()
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}

	s2 := open(t, dir, graphOpts...)
	st := s2.IndexStats()
	if !st.SnapshotLoaded || st.Replayed != 0 || st.Pending != 0 {
		t.Errorf("reopen after Close: %+v, want the snapshot loaded and nothing replayed", st)
	}
	if got := results(t, knowledge.NewBase(s2, knowledge.NewHashedEmbedder(0)), n); got != want {
		t.Errorf("results after reopen:\n%s\nwant\n%s", got, want)
	}
	if s2.Stats() != stats {
		t.Errorf("stats %+v, want %+v", s2.Stats(), stats)
	}
}

// present reports whether doc(i)'s unique word finds it lexically, at any
// clearance: whether the document is in the index, whatever the dense side
// ranks.
func present(t testing.TB, s *embedded.Store, i int) bool {
	t.Helper()
	hits, err := s.Search(context.Background(), knowledge.Query{Collection: "c", Text: fmt.Sprintf("uniqueword%d", i), K: 1, Clearance: access.Restricted}, nil)
	if err != nil {
		t.Fatal(err)
	}
	return len(hits) == 1 && hits[0].DocID == doc(i).ID
}

// copyDir copies a live store's files: all acknowledged writes are on disk,
// so the copy is what a crash at this moment would leave.
func copyDir(t *testing.T, from string) string {
	t.Helper()
	to := t.TempDir()
	for _, name := range []string{"knowledge.log", "knowledge.snap"} {
		src, err := os.Open(filepath.Join(from, name))
		if os.IsNotExist(err) {
			continue
		}
		if err != nil {
			t.Fatal(err)
		}
		dst, err := os.Create(filepath.Join(to, name))
		if err != nil {
			t.Fatal(err)
		}
		if _, err := io.Copy(dst, src); err != nil {
			t.Fatal(err)
		}
		src.Close()
		dst.Close()
	}
	return to
}

func TestSnapshotAndTail(t *testing.T) {
	dir := t.TempDir()
	s := open(t, dir, snapOpts...)
	b := knowledge.NewBase(s, knowledge.NewHashedEmbedder(0))
	for i := range 200 {
		ingest(t, b, varied(i))
	}
	if err := s.WaitIndexed(context.Background()); err != nil {
		t.Fatal(err)
	}
	for s.IndexStats().SnapshotBytes == 0 {
		ingest(t, b, varied(0)) // unchanged: a no-op; wait for the indexer
	}
	// Written after the last snapshot: only in the log.
	for i := 200; i < 210; i++ {
		ingest(t, b, varied(i))
	}
	crashed := copyDir(t, dir)
	s2 := open(t, crashed, snapOpts...)
	b2 := knowledge.NewBase(s2, knowledge.NewHashedEmbedder(0))
	st := s2.IndexStats()
	if !st.SnapshotLoaded || st.Replayed == 0 {
		t.Errorf("open after crash: %+v, want the snapshot and a replayed tail", st)
	}
	for i := range 210 {
		if !present(t, s2, i) {
			t.Errorf("document %d lost", i)
		}
	}
	if got, want := results(t, b2, 210), results(t, b, 210); got != want {
		t.Errorf("results differ after crash:\n%s\nwant\n%s", got, want)
	}
}

func TestSnapshotDamagedOrStale(t *testing.T) {
	for _, tc := range []struct {
		name   string
		damage func(t *testing.T, dir string)
	}{
		{"flipped byte", func(t *testing.T, dir string) {
			path := filepath.Join(dir, "knowledge.snap")
			data, err := os.ReadFile(path)
			if err != nil {
				t.Fatal(err)
			}
			data[len(data)/2] ^= 0x40
			os.WriteFile(path, data, 0o600)
		}},
		{"truncated", func(t *testing.T, dir string) {
			path := filepath.Join(dir, "knowledge.snap")
			st, _ := os.Stat(path)
			os.Truncate(path, st.Size()-20)
		}},
		{"of another log", func(t *testing.T, dir string) {
			other := t.TempDir()
			s := open(t, other)
			ingest(t, knowledge.NewBase(s, knowledge.NewHashedEmbedder(0)), doc(1))
			s.Close()
			data, _ := os.ReadFile(filepath.Join(other, "knowledge.snap"))
			os.WriteFile(filepath.Join(dir, "knowledge.snap"), data, 0o600)
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			s := open(t, dir, snapOpts...)
			b := knowledge.NewBase(s, knowledge.NewHashedEmbedder(0))
			for i := range 60 {
				ingest(t, b, varied(i))
			}
			want := results(t, b, 60)
			s.Close()
			tc.damage(t, dir)
			s2 := open(t, dir, snapOpts...)
			if st := s2.IndexStats(); st.SnapshotLoaded || st.Replayed != 60 {
				t.Errorf("%+v, want the snapshot ignored and the log replayed", st)
			}
			if got := results(t, knowledge.NewBase(s2, knowledge.NewHashedEmbedder(0)), 60); got != want {
				t.Errorf("results:\n%s\nwant\n%s", got, want)
			}
		})
	}
}

// TestMigrateV1 opens a log written by the first version of the store.
func TestMigrateV1(t *testing.T) {
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "knowledge.log"), v1Log(t), 0o600); err != nil {
		t.Fatal(err)
	}
	s := open(t, dir)
	b := knowledge.NewBase(s, knowledge.NewHashedEmbedder(16))
	hits, err := b.Search(context.Background(), knowledge.Query{Collection: "c", Text: "uniqueword2", K: 1})
	if err != nil || len(hits) != 1 || hits[0].DocID != "doc-002" || hits[0].Text == "" {
		t.Fatalf("after migration: %+v, %v", hits, err)
	}
	if n := s.Stats().Documents; n != 2 {
		t.Errorf("%d documents, want 2 (one of three was deleted)", n)
	}
}

// v1Log writes what version 1 of the store wrote: three documents put, the
// first deleted.
func v1Log(t *testing.T) []byte {
	t.Helper()
	table := crc32.MakeTable(crc32.Castagnoli)
	out := []byte("CAKBLOG1")
	record := func(payload []byte) {
		out = binary.LittleEndian.AppendUint32(out, uint32(len(payload)))
		out = binary.LittleEndian.AppendUint32(out, crc32.Checksum(payload, table))
		out = append(out, payload...)
	}
	emb := knowledge.NewHashedEmbedder(16)
	base := knowledge.NewBase(nil, emb)
	for i := 1; i <= 3; i++ {
		d := doc(i)
		d.Clearance = access.Public
		chunks := base.Chunks(d)
		vecs, _ := emb.Embed(context.Background(), []string{knowledge.IndexText(chunks[0])})
		js, _ := json.Marshal(map[string]any{"doc": d, "chunks": chunks})
		p := append([]byte{1}, binary.AppendUvarint(nil, uint64(len(js)))...)
		p = append(p, js...)
		p = binary.AppendUvarint(p, 16)
		p = binary.AppendUvarint(p, 1)
		for _, x := range vecs[0] {
			p = binary.LittleEndian.AppendUint32(p, math.Float32bits(x))
		}
		record(p)
	}
	js, _ := json.Marshal(map[string]string{"collection": "c", "id": "doc-001"})
	record(append([]byte{2}, js...))
	return out
}
