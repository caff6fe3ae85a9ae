package quality_test

import (
	"context"
	"strings"
	"testing"

	"github.com/cityagent/cityagent/internal/pglitetest"
	"github.com/cityagent/cityagent/knowledge"
	"github.com/cityagent/cityagent/knowledge/demodocs"
	"github.com/cityagent/cityagent/knowledge/embedded"
	"github.com/cityagent/cityagent/knowledge/pgvector"
	"github.com/cityagent/cityagent/knowledge/qdrant"
	"github.com/cityagent/cityagent/knowledge/qdrant/qdranttest"
	"github.com/cityagent/cityagent/knowledge/quality"
)

// minAgreement is the share of queries whose top document must agree with
// the embedded store's. pgvector scores BM25 exactly as the embedded store
// does, in SQL; Qdrant's sparse vectors approximate it (IDF over all chunks,
// not only the readable ones; a fixed average length).
var minAgreement = map[string]float64{"pgvector": 0.95, "qdrant": 0.9}

type backend struct {
	name  string
	store knowledge.Store
}

// backends opens the three stores, empty, for the test.
func backends(t testing.TB) []backend {
	t.Helper()
	ctx := context.Background()
	emb, err := embedded.Open(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { emb.Close() })
	url := pglitetest.Start(t)
	pg, err := pgvector.Open(ctx, pgvector.Config{URL: url, Dim: knowledge.DefaultHashedDim, Schema: pglitetest.NewSchema(t, url)})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { pg.Close() })
	srv := qdranttest.Start(t)
	qd, err := qdrant.Open(ctx, qdrant.Config{Addr: srv.Addr(), Dim: knowledge.DefaultHashedDim, GRPCOptions: srv.DialOptions()})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { qd.Close() })
	return []backend{{"embedded", emb}, {"pgvector", pg}, {"qdrant", qd}}
}

// TestBackendsAgree loads the demo documents into all three stores and
// checks that the same searches return the same top hits: the top document
// of every labelled query agrees with the embedded store's on nearly all
// queries, and the quality is alike.
func TestBackendsAgree(t *testing.T) {
	ctx := context.Background()
	qs, err := quality.LoadQueries(queryFile)
	if err != nil {
		t.Fatal(err)
	}
	tops := map[string][]string{}
	reps := map[string]quality.Report{}
	var names []string
	for _, be := range backends(t) {
		base := knowledge.NewBase(be.store, knowledge.NewHashedEmbedder(0))
		if _, err := demodocs.Load(ctx, base); err != nil {
			t.Fatalf("%s: %v", be.name, err)
		}
		// Each query is ranked once: the tops and the report share the ranking.
		rank := quality.BaseRanker(base)
		ranked := make(map[string][]string, len(qs))
		for _, q := range qs {
			ids, err := rank(ctx, q)
			if err != nil {
				t.Fatalf("%s: %v", be.name, err)
			}
			ranked[q.ID] = ids
			top := ""
			if len(ids) > 0 {
				top = ids[0]
			}
			tops[be.name] = append(tops[be.name], top)
		}
		if len(ranked) != len(qs) {
			t.Fatalf("query ids are not unique: %d ids for %d queries", len(ranked), len(qs))
		}
		rep, err := quality.Evaluate(ctx, func(_ context.Context, q quality.Query) ([]string, error) { return ranked[q.ID], nil }, qs, 5)
		if err != nil {
			t.Fatal(err)
		}
		names = append(names, be.name)
		reps[be.name] = rep
	}
	for _, other := range []string{"pgvector", "qdrant"} {
		same := 0
		for i := range qs {
			if tops[other][i] == tops["embedded"][i] {
				same++
			} else {
				t.Logf("%s: %s top %s, embedded top %s", qs[i].ID, other, tops[other][i], tops["embedded"][i])
			}
		}
		share := float64(same) / float64(len(qs))
		t.Logf("%s agrees with embedded on the top document of %d of %d queries (%.0f%%)", other, same, len(qs), 100*share)
		if share < minAgreement[other] {
			t.Errorf("%s agrees on %.0f%% of top documents, want at least %.0f%%", other, 100*share, 100*minAgreement[other])
		}
	}
	var sb strings.Builder
	quality.WriteTable(&sb, names, reps)
	t.Log("\n" + sb.String())
}
