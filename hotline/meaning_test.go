package hotline

import (
	"errors"
	"strings"
	"testing"
)

// TestClassifyByMeaning checks the mechanisms that let triage generalise:
// hazards recognised by meaning, clauses that do not decide the category,
// places named by category words, paraphrase and the inquiry cap.
func TestClassifyByMeaning(t *testing.T) {
	t.Parallel()
	c := NewClassifier(DefaultTaxonomy())
	cases := map[string]struct {
		text                   string
		typ, category, urgency string
		hazard                 bool
	}{
		"gas smell in other words":   {"楼梯间一股臭鸡蛋的气味，越来越重。", "help", "030301", UrgencyEmergency, true},
		"gas smell in English":       {"There is a whiff of gas on the landing and it is getting stronger.", "help", "030301", UrgencyEmergency, true},
		"sparking cable":             {"A cable has come loose from the pole and it is sparking over the footpath.", "help", "030202", UrgencyEmergency, true},
		"road sinks":                 {"十字路口的马路沉下去一大块，车还在开。", "help", "020103", UrgencyEmergency, true},
		"ordinary pothole":           {"门口马路有个小坑，麻烦补一下。", "help", "020101", UrgencyNormal, false},
		"negated clause":             {"不是投诉司机，就是想问一下末班公交几点？", "inquiry", "010201", UrgencyNormal, false},
		"reported clause":            {"物业说不归他们管，楼下的水管一直在冒水。", "help", "030102", "urgent", false},
		"place, not the problem":     {"公交站旁边的自来水管破了，水流了一地。", "help", "030102", "urgent", false},
		"inserted character":         {"我们家从早上起就没来过水。", "help", "030101", "urgent", false},
		"live inquiry keeps urgency": {"现在停电了，请问是哪里出故障了？", "inquiry", "030201", "urgent", false},
		"planned inquiry is capped":  {"请问下周计划停电是几点到几点？", "inquiry", "030201", UrgencyNormal, false},
		"praise of a repair":         {"昨天停水，水务的师傅很快就抢修好了，点个赞！", "praise", "030101", UrgencyNormal, false},
		"suggestion, not help":       {"It would help if the park had more benches.", "suggestion", "020104", UrgencyNormal, false},
		"hazard over two sentences":  {"The lift in block 2 has stopped between floors. My neighbour's son is still inside.", "help", "060201", UrgencyEmergency, true},
		"live word alone is capped":  {"现在可以在网上交燃气费吗？", "inquiry", "030302", UrgencyNormal, false},
		"question that proposes":     {"Could you put a few more benches on our street?", "suggestion", "020104", UrgencyNormal, false},
		"only questions ask":         {"阶梯电价是按月算还是按年算？", "inquiry", "030501", UrgencyNormal, false},
	}
	for name, tc := range cases {
		got := c.Classify(tc.text)
		if got.Type != tc.typ || got.Category != tc.category || got.Urgency != tc.urgency || (len(got.Hazards) > 0) != tc.hazard {
			t.Errorf("%s: %s/%s/%s hazards %v, want %s/%s/%s hazard %v (cues %v %v %v)", name,
				got.Type, got.Category, got.Urgency, got.Hazards, tc.typ, tc.category, tc.urgency, tc.hazard,
				got.TypeCues, got.CategoryCues, got.UrgencyCues)
		}
	}
}

func TestGapped(t *testing.T) {
	t.Parallel()
	cases := map[string]struct {
		s, kw string
		want  bool
	}{
		"inserted":     {"没来过水", "没来水", true},
		"exact is not": {"没来水", "没来水", false},
		"two inserted": {"没有来过水", "没来水", false},
		"short":        {"冒黑烟", "冒烟", false},
	}
	for name, tc := range cases {
		k := compile([]string{tc.kw}, 1)[0]
		if got := k.gap && gapped(tc.s, k); got != tc.want {
			t.Errorf("%s: gapped(%q, %q) = %v", name, tc.s, tc.kw, got)
		}
	}
}

func TestHazardNeedsKnownCategory(t *testing.T) {
	t.Parallel()
	bad := strings.Replace(string(builtinTaxonomy), `category: "030301"`, `category: "999999"`, 1)
	if bad == string(builtinTaxonomy) {
		t.Fatal("the edit changed nothing")
	}
	_, err := ParseTaxonomy([]byte(bad), "test.yaml")
	if !errors.Is(err, ErrInvalidTaxonomy) || !strings.Contains(err.Error(), "999999") {
		t.Fatalf("error = %v, want ErrInvalidTaxonomy naming 999999", err)
	}
}
