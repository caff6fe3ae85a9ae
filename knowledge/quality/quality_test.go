package quality_test

import (
	"context"
	"slices"
	"strings"
	"testing"

	"github.com/cityagent/cityagent/knowledge"
	"github.com/cityagent/cityagent/knowledge/demodocs"
	"github.com/cityagent/cityagent/knowledge/embedded"
	"github.com/cityagent/cityagent/knowledge/quality"
)

const queryFile = "../demodocs/testdata/queries.yaml"

// TestQuerySet checks the labelled set: enough queries, half of them
// Chinese, every collection covered, and every answer a demo document of the
// query's collection, readable at the query's clearance.
func TestQuerySet(t *testing.T) {
	qs, err := quality.LoadQueries(queryFile)
	if err != nil {
		t.Fatal(err)
	}
	docs, err := demodocs.Documents()
	if err != nil {
		t.Fatal(err)
	}
	byID := map[string]knowledge.Document{}
	for _, d := range docs {
		byID[d.ID] = d
	}
	langs, cols := map[string]int{}, map[string]int{}
	for _, q := range qs {
		langs[q.Lang]++
		cols[q.Collection]++
		answerable := false
		for _, id := range q.Relevant {
			d, ok := byID[id]
			if !ok {
				t.Errorf("%s: %s is not a demo document", q.ID, id)
				continue
			}
			if d.Collection == q.Collection && q.Clearance.Covers(d.Clearance) {
				answerable = true
			}
		}
		if !answerable {
			t.Errorf("%s: no answer in collection %s readable at %s", q.ID, q.Collection, q.Clearance)
		}
		if !strings.HasPrefix(q.ID, q.Lang+"-") {
			t.Errorf("%s: id does not start with its language %s", q.ID, q.Lang)
		}
	}
	if len(qs) < 80 || langs["zh"] < 40 || langs["en"] < 40 {
		t.Errorf("%d queries (%v), want at least 80 with 40 in each language", len(qs), langs)
	}
	for _, c := range []string{"traffic", "permits", "energy", "hotline", "city"} {
		if cols[c] < 10 {
			t.Errorf("collection %s has %d queries, want at least 10", c, cols[c])
		}
	}
}

// TestEmbeddedQualityFloor keeps retrieval from silently getting worse: the
// default store with the hashed embedder must stay above the recall@5 and MRR
// measured when the set was written (see docs/knowledge.md), minus a margin.
func TestEmbeddedQualityFloor(t *testing.T) {
	qs, err := quality.LoadQueries(queryFile)
	if err != nil {
		t.Fatal(err)
	}
	s, err := embedded.Open(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	b := knowledge.NewBase(s, knowledge.NewHashedEmbedder(0))
	if _, err := demodocs.Load(context.Background(), b); err != nil {
		t.Fatal(err)
	}
	rep, err := quality.Evaluate(context.Background(), quality.BaseRanker(b), qs, 5)
	if err != nil {
		t.Fatal(err)
	}
	var table strings.Builder
	quality.WriteTable(&table, []string{"embedded"}, map[string]quality.Report{"embedded": rep})
	t.Log("\n" + table.String())
	if rep.All.Recall < floorRecall || rep.All.MRR < floorMRR {
		t.Errorf("recall@5 %.3f, MRR %.3f; want at least %.2f and %.2f. Missed: %v", rep.All.Recall, rep.All.MRR, floorRecall, floorMRR, rep.Missed)
	}
}

func TestTokenize(t *testing.T) {
	for name, want := range map[string][]string{
		"bigram":  {"信号", "号配", "配时", "signal", "timing", "5"},
		"unigram": {"信", "号", "配", "时", "signal", "timing", "5"},
		"trigram": {"信号配", "号配时", "signal", "timing", "5"},
	} {
		got := quality.Tokenize("信号配时 the Signal timings: 5", quality.Segmenters[name])
		if !slices.Equal(got, want) {
			t.Errorf("%s: %q, want %q", name, got, want)
		}
	}
	// The unigram+bigram segmenter is exactly what the stores index.
	text := "12345热线：紧急诉求10分钟内派单。Urgent tickets are dispatched within 10 minutes."
	if got, want := quality.Tokenize(text, quality.Segmenters["unigram+bigram"]), knowledge.Tokens(text); !slices.Equal(got, want) {
		t.Errorf("unigram+bigram tokenize %q\nknowledge.Tokens %q", got, want)
	}
}
