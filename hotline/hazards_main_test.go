package hotline

import "testing"

// The hazard is the main issue: its category wins over words said in
// passing, a praise or a suggestion that tells of one keeps its urgency,
// and a hazard told as over (past, negated) raises nothing.
func TestHazardDecides(t *testing.T) {
	t.Parallel()
	c := NewClassifier(DefaultTaxonomy())
	for _, tc := range []struct{ text, category, urgency string }{
		// passing words (a bus stop, a car park) do not take the category
		{"公交站旁边的人行道突然往下沉了一大块，底下能看到水在流，有半个人那么深。", "020103", UrgencyEmergency},
		{"There's a toddler locked inside a car in the mall car park, windows up, it's 35 degrees and no parents around.", "090102", UrgencyEmergency},
		// the type's urgency cap never lowers a hazard
		{"Suggestion: put a fence round the open manhole on Bridge Street, the cover has been gone since Monday and a cyclist fell in tonight.", "020102", UrgencyEmergency},
		{"先表扬一下上次来的师傅很负责。不过现在楼道里又是一股很浓的煤气味，比上次还大，麻烦再派人来。", "030301", UrgencyEmergency},
		// a sign in one word that another hazard spells longer still counts
		{"Big chunks of the balcony above us fall onto the footpath every time it rains, one just missed a kid.", "060202", UrgencyEmergency},
		// fire, flooded underpasses, burst mains flooding shops
		{"My neighbour's smoke alarm is going off and I can see smoke coming from under her door, she's 90 and lives alone.", "090102", UrgencyEmergency},
		{"长江大道下穿隧道里的水已经有半米深了，一辆出租车熄火停在中间，司机站在车顶上喊救命。", "020101", UrgencyEmergency},
		{"马路中间的自来水管子爆了，水往上喷了两三米高，旁边店里都灌进水了。", "030102", UrgencyEmergency},
	} {
		got := c.Classify(tc.text)
		if got.Category != tc.category || got.Urgency != tc.urgency {
			t.Errorf("%q: %s %s %s hazards %v cues %v", tc.text, got.Type, got.Category, got.Urgency, got.Hazards, got.CategoryCues)
		}
	}
	for _, text := range []string{
		"上次我们楼煤气泄漏你们处理得很快，师傅后来还上门一家家检查了一遍，必须表扬一下。", // over
		"电梯三天两头坏，上个月还困过人，物业就是拖着不修。",                // happened once
		"物业通知说燃气在检修，可是已经三天了家里还是打不着火。",              // negated sign
		"Every evening someone burns rubbish in the allotments and the smoke comes into our flats.",
	} {
		if got := c.Classify(text); got.Urgency == UrgencyEmergency {
			t.Errorf("%q: false emergency, hazards %v cues %v", text, got.Hazards, got.UrgencyCues)
		}
	}
}

// Setting clauses (who calls, where they were, whom they called) and
// contented clauses do not decide the category; a request told wholly as a
// setting still does.
func TestSettingIsNotTheIssue(t *testing.T) {
	t.Parallel()
	c := NewClassifier(DefaultTaxonomy())
	for _, tc := range []struct{ text, category string }{
		{"打了物业电话，物业说不归他们管，让我找你们，我们家从下午三点就没电了。", "030201"},
		{"我是开出租车的，上夜班，白天要睡觉，可是楼下广场舞每天上午九点就开始放音乐，声音特别大。", "040103"},
		{"小区门口的路灯是好的，停车位也够，就是物业每个月乱加收什么公摊费，问他们也不给说法。", "060201"},
		{"Coming home from the bus stop last night I noticed the street lights on our lane are all off.", "020201"},
	} {
		if got := c.Classify(tc.text); got.Category != tc.category {
			t.Errorf("%q: %s (cues %v, via %s)", tc.text, got.Category, got.CategoryCues, got.Via)
		}
	}
}
