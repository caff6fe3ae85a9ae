package knowledge_test

import (
	"fmt"
	"math"
	"testing"

	"github.com/cityagent/cityagent/knowledge"
)

func hit(doc string, chunk int) knowledge.Hit {
	return knowledge.Hit{Chunk: knowledge.Chunk{ID: knowledge.ChunkID(doc, chunk), DocID: doc, Collection: "c"}}
}

func TestFuseRRF(t *testing.T) {
	dense := []knowledge.Hit{hit("a", 0), hit("b", 0), hit("c", 0)}
	lexical := []knowledge.Hit{hit("b", 0), hit("d", 0), hit("a", 0)}
	got := knowledge.FuseRRF(60, dense, lexical)
	var order []string
	for _, h := range got {
		order = append(order, h.ID)
	}
	// b: 1/62+1/61, a: 1/61+1/63, then c and d with one list each, d ranked
	// 2nd and c 3rd.
	if fmt.Sprint(order) != "[b#0 a#0 d#0 c#0]" {
		t.Fatalf("order %v", order)
	}
	if want := 1.0/62 + 1.0/61; math.Abs(got[0].Score-want) > 1e-12 {
		t.Errorf("score %v, want %v", got[0].Score, want)
	}
	// Same chunk id in another collection is another hit.
	other := hit("a", 0)
	other.Collection = "other"
	if n := len(knowledge.FuseRRF(0, []knowledge.Hit{hit("a", 0)}, []knowledge.Hit{other})); n != 2 {
		t.Errorf("%d hits, want 2", n)
	}
	if len(knowledge.FuseRRF(0)) != 0 {
		t.Error("no lists gave hits")
	}
}

func ExampleFuseRRF() {
	dense := []knowledge.Hit{hit("plan", 0), hit("rules", 2)}
	lexical := []knowledge.Hit{hit("rules", 2), hit("roster", 1)}
	for _, h := range knowledge.FuseRRF(knowledge.DefaultRRFK, dense, lexical) {
		fmt.Printf("%s %.4f\n", h.ID, h.Score)
	}
	// Output:
	// rules#2 0.0325
	// plan#0 0.0164
	// roster#1 0.0161
}
