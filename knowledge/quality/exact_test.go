package quality_test

import (
	"context"
	"strings"
	"testing"

	"github.com/cityagent/cityagent/knowledge"
	"github.com/cityagent/cityagent/knowledge/demodocs"
	"github.com/cityagent/cityagent/knowledge/quality"
)

// TestExactQueriesFirst: the labelled set's exact-identifier and
// exact-phrase queries (ids *-exact-*) have their one document first on
// every backend.
func TestExactQueriesFirst(t *testing.T) {
	qs, err := quality.LoadQueries(queryFile)
	if err != nil {
		t.Fatal(err)
	}
	var exact []quality.Query
	for _, q := range qs {
		if strings.Contains(q.ID, "-exact-") {
			exact = append(exact, q)
		}
	}
	if len(exact) < 8 {
		t.Fatalf("%d exact queries in the set, want at least 8", len(exact))
	}
	ctx := context.Background()
	for _, be := range backends(t) {
		t.Run(be.name, func(t *testing.T) {
			b := knowledge.NewBase(be.store, knowledge.NewHashedEmbedder(0))
			if _, err := demodocs.Load(ctx, b); err != nil {
				t.Fatal(err)
			}
			for _, q := range exact {
				hits, err := b.Search(ctx, knowledge.Query{Collection: q.Collection, Text: q.Query, Clearance: q.Clearance})
				if err != nil {
					t.Fatal(err)
				}
				if len(hits) == 0 || hits[0].DocID != q.Relevant[0] {
					var top []string
					for _, h := range hits {
						top = append(top, h.DocID)
					}
					t.Errorf("%s %q: top %v, want %s first", q.ID, q.Query, top, q.Relevant[0])
				}
			}
		})
	}
}
