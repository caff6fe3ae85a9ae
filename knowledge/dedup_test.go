package knowledge

import (
	"strings"
	"testing"
)

// Each document keeps its best chunk as the hit and carries the next
// MaxAlso chunks of the same document that ranked among the candidates.
func TestDedupByDocumentCarriesFurtherChunks(t *testing.T) {
	h := func(doc, id string) Hit { return Hit{Chunk: Chunk{ID: id, DocID: doc}} }
	in := []Hit{h("a", "a1"), h("b", "b1"), h("a", "a2"), h("c", "c1"), h("a", "a3"), h("a", "a4"), h("b", "b2")}
	got := dedupByDocument(in, 2)
	if len(got) != 2 || got[0].ID != "a1" || got[1].ID != "b1" {
		t.Fatalf("hits %v, want a1, b1", got)
	}
	var also []string
	for _, c := range got[0].Also {
		also = append(also, c.ID)
	}
	if strings.Join(also, ",") != "a2,a3" || len(got[1].Also) != 1 || got[1].Also[0].ID != "b2" {
		t.Errorf("a also %v, b also %v: want a2,a3 and b2 (c1 is not among the k documents)", also, got[1].Also)
	}
}
