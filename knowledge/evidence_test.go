package knowledge_test

import (
	"fmt"
	"testing"

	"github.com/cityagent/cityagent/knowledge"
)

func scoredHit(doc string, score float64) knowledge.Hit {
	h := hit(doc, 0)
	h.Score = score
	return h
}

func TestFuseTiesGoToLexical(t *testing.T) {
	// a leads the dense list, b the lexical one; neither is in the other
	// list. Plain RRF tied them and kept a (the first list's).
	dense := []knowledge.Hit{scoredHit("a", 0.9), scoredHit("c", 0.8)}
	lexical := []knowledge.Hit{scoredHit("b", 12), scoredHit("d", 11)}
	if got := order(knowledge.Fuse(dense, lexical)); got != "[b#0 a#0 d#0 c#0]" {
		t.Fatalf("order %s", got)
	}
	// Agreement still wins over a single list's lead.
	lexical = []knowledge.Hit{scoredHit("b", 12), scoredHit("a", 11)}
	if got := order(knowledge.Fuse(dense, lexical)); got != "[a#0 b#0 c#0]" {
		t.Fatalf("order %s", got)
	}
}

func TestFuseScoreAware(t *testing.T) {
	// x is second lexically but far behind the leader; y is second
	// densely and close to its leader: y earns more.
	dense := []knowledge.Hit{scoredHit("p", 0.9), scoredHit("y", 0.89)}
	lexical := []knowledge.Hit{scoredHit("q", 20), scoredHit("x", 1)}
	got := knowledge.Fuse(dense, lexical)
	if o := order(got); o != "[q#0 p#0 y#0 x#0]" {
		t.Fatalf("order %s", o)
	}
	if want := 1.0 / 61; got[0].Score != want {
		t.Errorf("leader's score %v, want %v", got[0].Score, want)
	}
}

func order(hits []knowledge.Hit) string {
	var ids []string
	for _, h := range hits {
		ids = append(ids, h.ID)
	}
	return fmt.Sprint(ids)
}

func TestMatcher(t *testing.T) {
	c := knowledge.Chunk{ID: "notice-7#0", DocID: "notice-7", Title: "Night works notice 夜间施工公告",
		Metadata: map[string]string{"permit_no": "PRM-2024-0173"},
		Text:     "Night works are covered by permit PRM-2024-0173. Volunteers follow the amber heron crossing protocol. 按青鸾桥潮汐调度预案疏导。"}
	for _, tc := range []struct {
		query string
		want  int
	}{
		{"notice-7", knowledge.MatchField},
		{"  NIGHT works notice 夜间施工公告 ", knowledge.MatchField},
		{"prm-2024-0173", knowledge.MatchField},
		{"amber heron crossing protocol", knowledge.MatchPhrase},
		{"the amber herons crossing protocols", knowledge.MatchPhrase}, // stop words and plurals fold
		{"青鸾桥潮汐调度", knowledge.MatchPhrase},
		{`night "heron crossing"`, knowledge.MatchPhrase},
		{"heron amber crossing protocol", knowledge.MatchNone},
		{"青鸾潮汐桥", knowledge.MatchNone},
		{"permit PRM-2024-0173 for the riverside", knowledge.MatchIdentifier},
		{"permit PRM-2024-0174", knowledge.MatchNone},
		{"施工许可证编号PRM-2024-0173的施工什么时候结束", knowledge.MatchIdentifier}, // a code inside Chinese, no spaces
		{"许可证PRM-2024-0174的施工期", knowledge.MatchNone},
		{"zephyrcode7007", knowledge.MatchNone},
		{"night", knowledge.MatchNone}, // one word is a term match, not a phrase
	} {
		if got := knowledge.NewMatcher(tc.query).Match(c); got != tc.want {
			t.Errorf("%q: evidence %d, want %d", tc.query, got, tc.want)
		}
	}
}

func TestOrderByEvidence(t *testing.T) {
	hits := []knowledge.Hit{
		{Chunk: knowledge.Chunk{ID: "a#0", DocID: "a", Text: "signal timing approval form"}},
		{Chunk: knowledge.Chunk{ID: "b#0", DocID: "b", Text: "timing of the signal, approval"}},
		{Chunk: knowledge.Chunk{ID: "c#0", DocID: "c", Text: "form STF-2207: signal timing"}},
	}
	if got := order(knowledge.OrderByEvidence("signal timing STF-2207", hits)); got != "[c#0 a#0 b#0]" {
		t.Errorf("order %s", got)
	}
	if got := order(knowledge.OrderByEvidence("approval signal", hits)); got != "[c#0 a#0 b#0]" {
		t.Errorf("order without evidence changed: %s", got)
	}
}

func BenchmarkOrderByEvidence(b *testing.B) {
	text := "信号配时调整须经交通信号控制中心审批，审批时限为5个工作日。Signal timing changes need the approval of the traffic signal centre within 5 working days. "
	for len([]rune(text)) < 450 {
		text += text
	}
	text = string([]rune(text)[:450])
	hits := make([]knowledge.Hit, 20)
	for i := range hits {
		hits[i] = knowledge.Hit{Chunk: knowledge.Chunk{ID: fmt.Sprint(i), DocID: fmt.Sprint(i), Title: "Record", Text: text}}
	}
	for b.Loop() {
		knowledge.OrderByEvidence("信号控制中心审批流程", hits)
	}
}

// BenchmarkOrderByEvidencePhrase is BenchmarkOrderByEvidence with a query
// whose characters all occur in every hit, so each hit's text is spelled
// out term by term (phraseKey), as for most of BenchmarkStore's queries.
func BenchmarkOrderByEvidencePhrase(b *testing.B) {
	text := "信号配时调整须经交通信号控制中心审批，审批时限为5个工作日。Signal timing changes need the approval of the traffic signal centre within 5 working days. "
	for len([]rune(text)) < 450 {
		text += text
	}
	text = string([]rune(text)[:450])
	hits := make([]knowledge.Hit, 20)
	for i := range hits {
		hits[i] = knowledge.Hit{Chunk: knowledge.Chunk{ID: fmt.Sprint(i), DocID: fmt.Sprint(i), Title: "Record", Text: text}}
	}
	for b.Loop() {
		knowledge.OrderByEvidence("审批信号交通中心", hits)
	}
}
