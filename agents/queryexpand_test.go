package agents

import (
	"context"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/cityagent/cityagent/access"
	"github.com/cityagent/cityagent/knowledge"
	"github.com/cityagent/cityagent/knowledge/embedded"
	"github.com/cityagent/cityagent/llm"
	"github.com/cityagent/cityagent/llm/offline"
	"github.com/cityagent/cityagent/llm/scripted"
	"github.com/cityagent/cityagent/store"
	"github.com/cityagent/cityagent/tools"
)

func TestMergeExpanded(t *testing.T) {
	hit := func(doc string, score float64) knowledge.Hit {
		return knowledge.Hit{Chunk: knowledge.Chunk{DocID: doc, ID: doc + "#0"}, Score: score}
	}
	a, b, c := hit("a", 0.9), hit("b", 0.8), hit("c", 0.7)
	for _, tc := range []struct {
		name            string
		hits, expanded  []knowledge.Hit
		k               int
		want            []string
		wantLastScore   float64
		wantLastChunkID string
	}{
		{name: "free place takes the new document", hits: []knowledge.Hit{a, b}, expanded: []knowledge.Hit{hit("a", 0.95), hit("z", 0.85)}, k: 3,
			want: []string{"a", "b", "z"}, wantLastScore: 0.85},
		{name: "score never above the question's best", hits: []knowledge.Hit{a}, expanded: []knowledge.Hit{hit("z", 0.99)}, k: 3,
			want: []string{"a", "z"}, wantLastScore: 0.9},
		{name: "ranked above the last place takes it", hits: []knowledge.Hit{a, b, c}, expanded: []knowledge.Hit{hit("z", 0.9), hit("c", 0.5)}, k: 3,
			want: []string{"a", "b", "z"}, wantLastScore: 0.9},
		{name: "ranked below the last place changes nothing", hits: []knowledge.Hit{a, b, c}, expanded: []knowledge.Hit{hit("c", 0.9), hit("z", 0.5)}, k: 3,
			want: []string{"a", "b", "c"}, wantLastScore: 0.7},
		{name: "nothing new changes nothing", hits: []knowledge.Hit{a, b}, expanded: []knowledge.Hit{hit("b", 0.99), hit("a", 0.1)}, k: 3,
			want: []string{"a", "b"}, wantLastScore: 0.8},
		{name: "the question's passages stay", hits: []knowledge.Hit{a, b}, expanded: []knowledge.Hit{{Chunk: knowledge.Chunk{DocID: "a", ID: "a#7"}, Score: 1}}, k: 2,
			want: []string{"a", "b"}, wantLastScore: 0.8},
	} {
		t.Run(tc.name, func(t *testing.T) {
			before := slices.Clone(tc.hits)
			got := mergeExpanded(tc.hits, tc.expanded, tc.k)
			var docs []string
			for _, h := range got {
				docs = append(docs, h.DocID)
			}
			if !slices.Equal(docs, tc.want) {
				t.Fatalf("documents %v, want %v", docs, tc.want)
			}
			if last := got[len(got)-1]; last.Score != tc.wantLastScore {
				t.Errorf("last score %v, want %v", last.Score, tc.wantLastScore)
			}
			if got[0].ID != tc.hits[0].ID {
				t.Errorf("first passage %s, want the question's own %s", got[0].ID, tc.hits[0].ID)
			}
			if !slices.EqualFunc(before, tc.hits, func(x, y knowledge.Hit) bool { return x.ID == y.ID && x.Score == y.Score }) {
				t.Errorf("the question's hits were modified: %v → %v", before, tc.hits)
			}
		})
	}
}

// With every place taken, a document of the expanded search takes the place
// of the question's weakest hit that the expanded search does not confirm,
// by rank (the first) or by naming more of the question's concepts; a hit
// the expanded search ranks above it stays.
func TestMergeCrossLanguage(t *testing.T) {
	hit := func(doc, text string, score float64) knowledge.Hit {
		return knowledge.Hit{Chunk: knowledge.Chunk{DocID: doc, ID: doc + "#0", Text: text}, Score: score}
	}
	q := "If all the traffic lights at a junction have gone dark, how quickly must the police arrive?"
	green := hit("green-wave", "Green wave corridors are reviewed every year.", 0.03)
	events := hit("events", "Large events need a traffic plan.", 0.029)
	works := hit("roadworks", "Roadworks at night need a permit.", 0.028)
	incident := hit("incident", "事故现场处置。", 0.031)
	fault := hit("signal-fault", "一级故障：路口信号灯全部熄灭的，交警15分钟内到达路口指挥交通。", 0.030)
	docs := func(hs []knowledge.Hit) []string {
		var out []string
		for _, h := range hs {
			out = append(out, h.DocID)
		}
		return out
	}
	own := []knowledge.Hit{green, events, works}
	got := mergeCrossLanguage(q, slices.Clone(own), []knowledge.Hit{incident, fault}, 3)
	if want := []string{"green-wave", "incident", "signal-fault"}; !slices.Equal(docs(got), want) {
		t.Errorf("documents %v, want %v (the first by rank, the second by its concepts)", docs(got), want)
	}
	if got[2].Score > own[0].Score {
		t.Errorf("score %v above the question's best %v", got[2].Score, own[0].Score)
	}
	// A hit the expanded search ranks first is confirmed: it stays, and a
	// new document saying no more of the question than the others does not
	// come in by evidence.
	got = mergeCrossLanguage(q, slices.Clone(own), []knowledge.Hit{hit("roadworks", "", 0.033), hit("other", "其他规定。", 0.02)}, 3)
	if want := []string{"green-wave", "events", "roadworks"}; !slices.Equal(docs(got), want) {
		t.Errorf("documents %v, want %v", docs(got), want)
	}
	// A later document naming fewer of the question's concepts than the one
	// before it stays out: it would only add a rival passage.
	lamps := hit("lamps", "信号灯。", 0.02)
	if offline.Concepts(lamps.Text) == nil {
		t.Fatal("no concept for 信号灯")
	}
	got = mergeCrossLanguage(q, slices.Clone(own), []knowledge.Hit{fault, lamps}, 3)
	if want := []string{"green-wave", "events", "signal-fault"}; !slices.Equal(docs(got), want) {
		t.Errorf("documents %v, want %v", docs(got), want)
	}
	// A free place is mergeExpanded's.
	got = mergeCrossLanguage(q, []knowledge.Hit{green}, []knowledge.Hit{fault}, 3)
	if want := []string{"green-wave", "signal-fault"}; !slices.Equal(docs(got), want) {
		t.Errorf("documents %v, want %v", docs(got), want)
	}
}

// An English question retrieves a Chinese-only rule through the glossary,
// and the model still sees the user's message exactly as written.
func TestRetrieveAcrossLanguages(t *testing.T) {
	ctx := context.Background()
	ks, err := embedded.Open(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	defer ks.Close()
	kb := knowledge.NewBase(ks, knowledge.NewHashedEmbedder(0))
	docs := []knowledge.Document{
		{ID: "signal-timing-zh", Title: "交通信号配时管理办法", Text: "第五条 黄灯时间为3秒；路口宽度超过40米的，全红时间为3秒。"},
		{ID: "parking-en", Title: "Parking rules", Text: "How long may a car park on a street? Kerbside parking is limited to two hours at a junction approach."},
		{ID: "events-en", Title: "Large events", Text: "How long do road closures for large events last? Closures at a junction end an hour after the event."},
		{ID: "tunnels-en", Title: "Tunnels", Text: "How long is a tunnel inspection? The tunnel at the junction is inspected for two hours every night."},
	}
	for _, d := range docs {
		d.Collection, d.Source, d.Clearance = "city", "test/"+d.ID, access.Public
		if _, err := kb.Ingest(ctx, d); err != nil {
			t.Fatal(err)
		}
	}
	db, err := store.Open(ctx, "", t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	reg, err := tools.NewRegistry()
	if err != nil {
		t.Fatal(err)
	}
	catalog, err := NewCatalog(Spec{Name: "city", Instructions: "Answer from the documents.", Collections: []string{"city"}, Retrieval: Retrieval{K: 3},
		Budgets: Budgets{MaxSteps: 2, MaxToolCalls: 1, Timeout: 20 * time.Second, ToolTimeout: 5 * time.Second}})
	if err != nil {
		t.Fatal(err)
	}
	model := scripted.New("recorder", scripted.Reply("ok")).RepeatLast()
	r := &Runner{Catalog: catalog, Tools: reg, Knowledge: kb, Sessions: db,
		Models: Models{ByName: map[string]llm.Model{"recorder": model}, Default: "recorder", Offline: model}}
	question := "How long is the yellow light at a junction?"
	res, err := r.Run(ctx, Turn{Agent: "city", Message: question,
		Principal: access.Principal{KeyID: "key_op", Role: access.RoleOperator, Clearance: access.Internal}}, nil)
	if err != nil {
		t.Fatal(err)
	}
	var cited []string
	for _, c := range res.Citations {
		cited = append(cited, c.Ref)
	}
	reqs := model.Requests()
	if len(reqs) == 0 {
		t.Fatal("the model was never asked")
	}
	msgs := reqs[0].Messages
	if last := msgs[len(msgs)-1]; last.Role != llm.RoleUser || last.Content != question {
		t.Errorf("the model's question is %q, want the user's message unchanged", last.Content)
	}
	var prompt strings.Builder
	for _, m := range msgs {
		prompt.WriteString(m.Content)
	}
	if !strings.Contains(prompt.String(), "黄灯时间为3秒") {
		t.Errorf("the Chinese rule was not retrieved for %q (citations %v)", question, cited)
	}
}

func TestWithExpandedPassages(t *testing.T) {
	chunk := func(id string) knowledge.Chunk { return knowledge.Chunk{DocID: "plan", ID: id} }
	hits := []knowledge.Hit{{Chunk: chunk("plan#9"), Also: []knowledge.Chunk{chunk("plan#1"), chunk("plan#4")}}}
	more := []knowledge.Hit{{Chunk: chunk("plan#4")}, {Chunk: knowledge.Chunk{DocID: "other", ID: "other#0"}}}
	got := withExpandedPassages(hits, more)
	var ids []string
	for _, c := range got[0].Also {
		ids = append(ids, c.ID)
	}
	if got[0].ID != "plan#9" || !slices.Equal(ids, []string{"plan#4", "plan#1"}) {
		t.Errorf("hit %s, further passages %v; want plan#9 with plan#4 first, then plan#1", got[0].ID, ids)
	}
	same := withExpandedPassages([]knowledge.Hit{{Chunk: chunk("plan#9")}}, []knowledge.Hit{{Chunk: chunk("plan#9")}})
	if len(same[0].Also) != 0 {
		t.Errorf("the same passage found twice adds nothing: %v", same[0].Also)
	}
}
