package offline

import (
	"slices"
	"testing"
)

func TestQuestionShares(t *testing.T) {
	for q, want := range map[string][]float64{
		"A participant only managed forty percent of the cut it promised.": {40},
		"某用户承诺削减的负荷只做到了六成":                                                 {60},
		"全市一下子少供了大约一半的负荷":                                                  {50},
		"delivered 65% of the committed reduction":                         {65},
		"完成了百分之七十五":                                                        {75},
		"How much is paid per kWh?":                                        nil,
	} {
		if got := questionShares(q); !slices.Equal(got, want) {
			t.Errorf("questionShares(%q) = %v, want %v", q, got, want)
		}
	}
}

func TestCoversShare(t *testing.T) {
	for _, tc := range []struct {
		sentence string
		share    float64
		want     bool
	}{
		{"Performance of 50% to 80% is paid at 0.8 times the rate.", 60, true},
		{"Performance of 50% to 80% is paid at 0.8 times the rate.", 40, false},
		{"Below 50%, no payment is made.", 40, true},
		{"Below 50%, no payment is made.", 50, false},
		{"重大：减供负荷40%以上60%以下；", 50, true},
		{"特别重大：全市减供负荷60%以上；", 50, false},
		{"特别重大：全市减供负荷60%以上；", 60, true},
		{"执行率80%至120%全额补偿，50%至80%按0.8倍补偿，低于50%不补偿。", 30, true},
		{"No range here.", 30, false},
	} {
		if got := coversShare(tc.sentence, []float64{tc.share}); got != tc.want {
			t.Errorf("coversShare(%q, %v) = %v, want %v", tc.sentence, tc.share, got, tc.want)
		}
	}
}

func TestOverlapsQuoted(t *testing.T) {
	lead := quoted{text: "Calls that belong to an emergency service are transferred within 1 minute:", doc: 0, pos: 3}
	item := quoted{text: "Calls that belong to an emergency service are transferred within 1 minute: fire: 119;", doc: 0, pos: 4}
	if !overlapsQuoted([]quoted{item}, lead) || !overlapsQuoted([]quoted{lead}, item) {
		t.Error("a lead-in and the lead-in with an item must overlap")
	}
	if overlapsQuoted([]quoted{{text: "Another rule.", doc: 0, pos: 5}}, lead) {
		t.Error("different sentences do not overlap")
	}
	first := quoted{text: "a road occupation permit lasts at most 90 days;", doc: 1, pos: 7}
	second := quoted{text: "a night works permit covers at most 15 nights.", doc: 1, pos: 7}
	if !overlapsQuoted([]quoted{first}, second) {
		t.Error("two clauses of one long sentence must overlap")
	}
}

func TestStatedQuantities(t *testing.T) {
	for q, want := range map[string][]string{
		"What is the speed limit when visibility drops below 100 metres?": {"100"},
		"下穿通道积水超过27厘米怎么办？":                                                {"27"},
		"数据中心PUE高出0.05以上要多交多少？":                                           {"0.05"},
		"12345热线受理哪些类型的诉求？":                                               nil,
		"Within how long must the call be put through to 119?":            nil,
		"路段S125的实时情况怎么样？":                                                 nil,
		"2025年夏季最高负荷是多少？":                                                 nil,
	} {
		if got := questionQuantities(q); !slices.Equal(got, want) {
			t.Errorf("questionQuantities(%q) = %v, want %v", q, got, want)
		}
	}
	for s, want := range map[string]bool{
		"Visibility below 100 m: limit 40 km/h.": true,
		"Target 1,100 chargers.":                 false,
		"A 100.5 m bridge.":                      false,
		"Below 1000 m.":                          false,
	} {
		if got := statesQuantity(s, []string{"100"}); got != want {
			t.Errorf("statesQuantity(%q, 100) = %v, want %v", s, got, want)
		}
	}
}
