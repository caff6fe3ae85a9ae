//go:build bench

package embedded_test

import (
	"bufio"
	"context"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/cityagent/cityagent/access"
	"github.com/cityagent/cityagent/knowledge"
	"github.com/cityagent/cityagent/knowledge/embedded"
)

// BenchmarkStoreSearchDump writes the hits of BenchmarkStore's queries (and of
// longer and mixed-script ones) on the store in KB_DUMP_DIR to KB_DUMP_OUT,
// one line per hit: query number, rank, chunk id, score. Two builds'
// dumps of the same store are compared to show that a speed-up leaves
// the results unchanged:
//
//	KB_DUMP_DIR=/tmp/kb100k KB_DUMP_OUT=/tmp/new.txt go test -tags bench -run '^$' -bench StoreSearchDump -benchtime 1x ./knowledge/embedded/
func BenchmarkStoreSearchDump(b *testing.B) {
	t := testing.TB(b)
	dir, out := os.Getenv("KB_DUMP_DIR"), os.Getenv("KB_DUMP_OUT")
	if dir == "" {
		dir = b.TempDir() // an empty store: the dump says nothing, but the tool runs
	}
	if out == "" {
		out = filepath.Join(b.TempDir(), "dump.txt")
	}
	s, err := embedded.Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if _, err := s.CreateCollection(context.Background(), "bench"); err != nil { // present in a BenchmarkStore store
		t.Fatal(err)
	}
	base := knowledge.NewBase(s, knowledge.NewHashedEmbedder(0))
	ss := sentences(t)
	r := rand.New(rand.NewPCG(3, 3))
	var queries []string
	for range 2000 {
		q := []rune(ss[r.IntN(len(ss))])
		queries = append(queries, string(q[:min(len(q), 12)]))
	}
	words := []string{"district", "nanhu", "permit", "road", "Record", "R0001234", "gaoxin", "policy", "\"district nanhu\"", "r0004242"}
	for range 500 {
		q := []rune(ss[r.IntN(len(ss))])
		a := r.IntN(len(q))
		queries = append(queries, string(q[a:min(len(q), a+2+r.IntN(20))])+" "+words[r.IntN(len(words))])
	}
	for i := range 100 {
		queries = append(queries, fmt.Sprintf("R%07d", r.IntN(100_000)), fmt.Sprintf("record %d", i*997))
	}
	f, err := os.Create(out)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	w := bufio.NewWriter(f)
	clearances := []access.Clearance{access.Restricted, access.Public}
	for i, qt := range queries {
		for _, c := range clearances {
			hits, err := base.Search(context.Background(), knowledge.Query{Collection: "bench", Text: qt, Clearance: c, K: 1 + i%8})
			if err != nil {
				t.Fatal(err)
			}
			for j, h := range hits {
				fmt.Fprintf(w, "%d\t%s\t%d\t%s\t%.9g\t%d\n", i, c, j, h.ID, h.Score, len(h.Text))
			}
		}
	}
	if err := w.Flush(); err != nil {
		t.Fatal(err)
	}
	t.Logf("%d queries: %s", len(queries), strings.Join(queries[:3], " | "))
}
