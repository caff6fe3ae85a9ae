package knowledgetest

import (
	"context"
	"fmt"
	"testing"

	"github.com/cityagent/cityagent/access"
	"github.com/cityagent/cityagent/knowledge"
)

// ExactCollection is the collection of the exact-match cases.
const ExactCollection = "exact"

// ExactDocs are a target document per case among decoys that are more
// similar to the query as a whole: many chunks about signal timing and
// permits, near-miss identifiers and the phrase's words scattered. Under
// plain reciprocal-rank fusion the decoys' dense lead beat the targets.
func ExactDocs() []knowledge.Document {
	var docs []knowledge.Document
	add := func(id, title, text string, meta map[string]string) {
		docs = append(docs, knowledge.Document{ID: id, Collection: ExactCollection, Title: title, Source: "test:" + id,
			Clearance: access.Public, Text: text, Metadata: meta})
	}
	for i := range 12 {
		add(fmt.Sprintf("decoy-signal-%02d", i), "Signal timing approval 信号配时审批",
			fmt.Sprintf("Signal timing approval for junction %d: the traffic signal centre approves signal timing changes within 5 working days. "+
				"信号配时调整审批：第%d号路口的信号配时由交通信号控制中心审批。Amber lights, heron bridge and crossing guards follow the protocol.", i, i), nil)
		add(fmt.Sprintf("decoy-permit-%02d", i), "Road occupation permit 占道许可",
			fmt.Sprintf("Road occupation permit PRM-2023-%04d and PRM-2024-%04d cover lane closures for roadworks; the permit office issues permits within 5 working days. "+
				"青鸾路占道施工许可，潮汐车道调度按预案执行。", 173+i, 174+i), nil)
	}
	add("target-ident", "Drainage pump maintenance 排水泵站维护",
		"Pump station maintenance log. The spare impeller is catalogued as zephyrcode7007 in the depot inventory. 泵站备用叶轮编号见库存台账。", nil)
	add("target-permit", "Night works notice 夜间施工公告",
		"Night works on the riverside are covered by permit PRM-2024-0173, issued to the drainage contractor. 夜间施工许可已发放。",
		map[string]string{"permit_no": "PRM-2024-0173"})
	add("target-phrase-en", "Wetland bird survey 湿地鸟类调查",
		"The wetland survey records nesting sites. Volunteers follow the amber heron crossing protocol when birds cross the service road.", nil)
	add("target-phrase-zh", "桥梁巡查记录 Bridge inspection",
		"桥梁巡查记录。夜间巡查时按青鸾桥潮汐调度预案疏导车辆，巡查结果报市政处。", nil)
	add("target-title", "Signal centre holiday duty plan 信号中心假日值班安排",
		"During public holidays the duty engineer keeps the control room staffed from 7:00 to 23:00.", nil)
	return docs
}

// testExactMatch checks that exact evidence ranks first: a rare identifier,
// a permit number among near misses (also written inside a Chinese
// sentence, without spaces), an English and a Chinese phrase whose
// words the decoys hold scattered, a title and a metadata value.
func testExactMatch(t *testing.T, open Open) {
	s := open(t)
	b := knowledge.NewBase(s, knowledge.NewHashedEmbedder(0))
	ctx := context.Background()
	for _, d := range ExactDocs() {
		if _, err := b.Ingest(ctx, d); err != nil {
			t.Fatalf("ingest %s: %v", d.ID, err)
		}
	}
	for _, tc := range []struct{ name, query, want string }{
		{"rare identifier", "zephyrcode7007 signal timing approval", "target-ident"},
		{"identifier alone", "zephyrcode7007", "target-ident"},
		{"permit number", "road occupation permit PRM-2024-0173", "target-permit"},
		{"permit number inside Chinese", "占道许可证PRM-2024-0173的夜间施工什么时候结束", "target-permit"},
		{"english phrase", "amber heron crossing protocol", "target-phrase-en"},
		{"quoted phrase", `signal timing "amber heron crossing protocol"`, "target-phrase-en"},
		{"chinese phrase", "青鸾桥潮汐调度预案", "target-phrase-zh"},
		{"title", "Signal centre holiday duty plan 信号中心假日值班安排", "target-title"},
		{"metadata value", "PRM-2024-0173", "target-permit"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			hits, err := b.Search(ctx, knowledge.Query{Collection: ExactCollection, Text: tc.query, Clearance: access.Public})
			if err != nil {
				t.Fatal(err)
			}
			if len(hits) == 0 || hits[0].DocID != tc.want {
				t.Fatalf("query %q: top hits %v, want %s first", tc.query, ids(hits), tc.want)
			}
		})
	}
}
