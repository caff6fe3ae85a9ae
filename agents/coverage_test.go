package agents

import (
	"testing"

	"github.com/cityagent/cityagent/knowledge"
)

// Fused scores of different collections do not compare: the union is
// ranked by how much of the question each passage says, in either language,
// and the same input always gives the same order.
func TestOrderByCoverageAcrossCollections(t *testing.T) {
	hit := func(doc, text string, score float64) knowledge.Hit {
		return knowledge.Hit{Chunk: knowledge.Chunk{ID: doc + "#1", DocID: doc, Title: doc, Text: text}, Score: score}
	}
	hits := []knowledge.Hit{
		hit("permits-fees", "Road occupation in every district is charged per square metre.", 0.033),
		hit("hotline-departments", "Requests about a place go to its district: Dongcheng, Xicheng, Nanhu.", 0.031),
		hit("city-dongcheng", "东城区面积42平方公里，常住人口78万。", 0.016),
		hit("energy-tariff", "Peak hours in every district are 8:00 to 11:00.", 0.030),
	}
	for range 20 {
		got := orderByCoverage("How many people live in Dongcheng District?", append([]knowledge.Hit(nil), hits...))
		if got[0].DocID != "city-dongcheng" {
			var ids []string
			for _, h := range got {
				ids = append(ids, h.DocID)
			}
			t.Fatalf("order %v: want the Chinese profile (it says the population) first", ids)
		}
	}
	// Nothing said by any passage: the fused order stands.
	got := orderByCoverage("zzqx", append([]knowledge.Hit(nil), hits...))
	if got[0].DocID != "permits-fees" || got[3].DocID != "city-dongcheng" {
		t.Errorf("without evidence the fused order must stand, got %v first", got[0].DocID)
	}
}

// A follow-up keeps its own hits; the passage the earlier message leads to
// joins a document both searches found, and a document only the earlier
// message finds may take a free place.
func TestMergeFollowUp(t *testing.T) {
	chunk := func(doc, id string) knowledge.Chunk { return knowledge.Chunk{ID: id, DocID: doc} }
	own := []knowledge.Hit{{Chunk: chunk("responsibilities", "r#intro"), Score: 0.03}}
	more := []knowledge.Hit{
		{Chunk: chunk("responsibilities", "r#roads"), Score: 0.05, Also: []knowledge.Chunk{chunk("responsibilities", "r#intro")}},
		{Chunk: chunk("rules", "rules#4"), Score: 0.04},
	}
	got := mergeFollowUp(own, more, 2)
	if len(got) != 2 || got[0].ID != "r#intro" || got[1].DocID != "rules" {
		t.Fatalf("hits %+v: want the question's own hit first, then the new document", got)
	}
	if len(got[0].Also) != 1 || got[0].Also[0].ID != "r#roads" {
		t.Errorf("also %+v: want the roads passage (and not the hit's own passage again)", got[0].Also)
	}
}
