package hotline

import (
	"fmt"
	"slices"
	"testing"
)

func TestClassify(t *testing.T) {
	t.Parallel()
	c := NewClassifier(DefaultTaxonomy())
	cases := map[string]struct {
		text                            string
		typ, category, dept, urgency    string
		via                             string
		lang                            string
		typeStrong, categoryStrong      bool
		wantUrgencyCue, wantCategoryCue string
	}{
		"water outage, dialect":            {text: "俺们这栋楼莫得水了", typ: "help", category: "030101", dept: "water", urgency: "urgent", via: "keywords", lang: "zh", categoryStrong: true},
		"explicit complaint":               {text: "投诉！楼上装修噪音太大", typ: "complaint", category: "040103", dept: "district_office", urgency: "normal", typeStrong: true},
		"report keyword":                   {text: "举报有人往河里偷排污水", typ: "report", category: "040202", dept: "ecology_environment", urgency: "normal", typeStrong: true},
		"praise, not a closing":            {text: "感谢供电公司的师傅连夜修好了电线，为他们点赞！", typ: "praise", category: "030202", dept: "power", urgency: "normal", typeStrong: true},
		"thanks closing a request":         {text: "小区垃圾三天没人清运了，麻烦处理一下，谢谢", typ: "help", category: "050101", dept: "sanitation", urgency: "normal"},
		"question about a problem is help": {text: "停水了，什么时候来水？", typ: "help", category: "030101", dept: "water", urgency: "urgent"},
		"plain question is an inquiry":     {text: "请问营业执照需要什么材料？", typ: "inquiry", category: "070101", dept: "administrative_approval", urgency: "normal", typeStrong: true},
		"inquiry caps urgency":             {text: "请问明天计划停水是几点到几点？", typ: "inquiry", category: "030101", dept: "water", urgency: "normal"},
		"emergency cue of the category":    {text: "新华路的井盖不见了，就一个大洞", typ: "help", category: "020102", dept: "urban_management", urgency: "emergency", wantUrgencyCue: "不见了"},
		"global emergency cue":             {text: "楼道里一股煤气味", typ: "help", category: "030301", dept: "gas", urgency: "emergency"},
		"usual type of the category":       {text: "小区门口天天有人乱停车", typ: "complaint", category: "010102", dept: "traffic_police", urgency: "normal"},
		"combined keyword":                 {text: "晚上十一点工地还在响，声音刺耳", category: "040101", dept: "urban_management", typ: "complaint", urgency: "normal", wantCategoryCue: "工地+晚上"},
		"department named that also leads": {text: "占道施工堵了路，请交警来管管", category: "020301", dept: "traffic_police", typ: "help", urgency: "normal"},
		"english whole words":              {text: "There is a huge pothole on Zhongshan Road.", typ: "help", category: "020101", dept: "urban_management", urgency: "normal", lang: "en"},
		"english plural":                   {text: "The street lights are out on Binhu Road", typ: "help", category: "020201", dept: "urban_management", urgency: "normal", lang: "en"},
		"english no partial words":         {text: "The firefighters were kind to my grandmother, thanks to the team!", typ: "praise", category: "090102", dept: "district_office", urgency: "normal", lang: "en", via: "default"},
		"full-width text":                  {text: "ＩＮＱＵＩＲＹ：请问ｂｕｓ末班车几点？", typ: "inquiry", category: "010201", dept: "city_transport", urgency: "normal"},
		"similarity when no keyword":       {text: "供水管网改造什么时候结束", dept: "water", via: "similarity", typ: "inquiry"},
		"nothing at all":                   {text: "你好", typ: "help", category: "090102", dept: "district_office", urgency: "normal", via: "default"},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			got := c.Classify(tc.text)
			check := func(field, got, want string) {
				if want != "" && got != want {
					t.Errorf("%s = %q, want %q", field, got, want)
				}
			}
			check("type", got.Type, tc.typ)
			check("category", got.Category, tc.category)
			check("department", got.Department, tc.dept)
			check("urgency", got.Urgency, tc.urgency)
			check("via", got.Via, tc.via)
			check("lang", got.Lang, tc.lang)
			if tc.typeStrong && !got.TypeStrong {
				t.Errorf("type %s not strong (cues %v)", got.Type, got.TypeCues)
			}
			if tc.categoryStrong && !got.CategoryStrong {
				t.Errorf("category %s not strong (cues %v)", got.Category, got.CategoryCues)
			}
			if tc.wantUrgencyCue != "" && !slices.Contains(got.UrgencyCues, tc.wantUrgencyCue) {
				t.Errorf("urgency cues %v lack %q", got.UrgencyCues, tc.wantUrgencyCue)
			}
			if tc.wantCategoryCue != "" && !slices.Contains(got.CategoryCues, tc.wantCategoryCue) {
				t.Errorf("category cues %v lack %q", got.CategoryCues, tc.wantCategoryCue)
			}
		})
	}
}

func TestDecide(t *testing.T) {
	t.Parallel()
	c := NewClassifier(DefaultTaxonomy())
	text := "投诉：小区门口天天有人乱停车，把消防通道都堵死了"
	rules := c.Classify(text)
	cases := map[string]struct {
		model    *TriageArgs
		forced   string
		want     Decision
		warnings int
	}{
		"no model": {nil, "", Decision{Type: "complaint", Category: "010102", Department: "traffic_police", Urgency: "normal",
			Sources: map[string]string{"type": "rules", "category": "rules", "department": "rules", "urgency": "rules"}}, 0},
		"model agrees": {&TriageArgs{Type: "complaint", Category: "010102", Department: "traffic_police", Urgency: "normal"}, "",
			Decision{Type: "complaint", Category: "010102", Department: "traffic_police", Urgency: "normal",
				Sources: map[string]string{"type": "agreed", "category": "agreed", "department": "agreed", "urgency": "agreed"}}, 0},
		"explicit type beats the model": {&TriageArgs{Type: "suggestion", Category: "010102", Urgency: "normal"}, "",
			Decision{Type: "complaint", Category: "010102", Department: "traffic_police", Urgency: "normal",
				Sources: map[string]string{"type": "rules", "category": "agreed", "department": "rules", "urgency": "agreed"}}, 1},
		"category without cues is replaced": {&TriageArgs{Type: "complaint", Category: "080101", Urgency: "normal"}, "",
			Decision{Type: "complaint", Category: "010102", Department: "traffic_police", Urgency: "normal",
				Sources: map[string]string{"type": "agreed", "category": "rules", "department": "rules", "urgency": "agreed"}}, 1},
		"department that does not handle it": {&TriageArgs{Type: "complaint", Category: "010102", Department: "water", Urgency: "normal"}, "",
			Decision{Type: "complaint", Category: "010102", Department: "traffic_police", Urgency: "normal",
				Sources: map[string]string{"type": "agreed", "category": "agreed", "department": "rules", "urgency": "agreed"}}, 1},
		"emergency without cues is refused": {&TriageArgs{Type: "complaint", Category: "010102", Urgency: "emergency"}, "",
			Decision{Type: "complaint", Category: "010102", Department: "traffic_police", Urgency: "normal",
				Sources: map[string]string{"type": "agreed", "category": "agreed", "department": "rules", "urgency": "rules"}}, 1},
		"invalid values": {&TriageArgs{Type: "rant", Category: "77", Urgency: "asap"}, "",
			Decision{Type: "complaint", Category: "010102", Department: "traffic_police", Urgency: "normal",
				Sources: map[string]string{"type": "rules", "category": "rules", "department": "rules", "urgency": "rules"}}, 2},
		"caller's category": {&TriageArgs{Type: "complaint", Urgency: "normal"}, "050202",
			Decision{Type: "complaint", Category: "050202", Department: "urban_management", Urgency: "normal",
				Sources: map[string]string{"type": "agreed", "category": "caller", "department": "rules", "urgency": "agreed"}}, 0},
	}
	for name, tc := range cases {
		got := c.decide(text, tc.model, rules, tc.forced)
		if fmt.Sprint(got.Type, got.Category, got.Department, got.Urgency, got.Sources) !=
			fmt.Sprint(tc.want.Type, tc.want.Category, tc.want.Department, tc.want.Urgency, tc.want.Sources) {
			t.Errorf("%s: %s %s %s %s %v, want %s %s %s %s %v", name, got.Type, got.Category, got.Department, got.Urgency, got.Sources,
				tc.want.Type, tc.want.Category, tc.want.Department, tc.want.Urgency, tc.want.Sources)
		}
		if len(got.Warnings) != tc.warnings {
			t.Errorf("%s: warnings %q, want %d", name, got.Warnings, tc.warnings)
		}
	}
}

// TestDecideKeepsConfidentRules: a category the labelled requests chose over
// the keywords' leader, or a keyword said in other words, stands against a
// model that reads the words alone and picks another.
func TestDecideKeepsConfidentRules(t *testing.T) {
	c := NewClassifier(DefaultTaxonomy())
	cases := []struct {
		text, via, rules, model string
	}{
		// 卫生间 is a public toilet's word; the wall seeping is the house's.
		{"我家卫生间的墙角一直往下渗，墙皮都泡起来了，这楼才交房三年。", ViaExamples, "060202", "050103"},
		{"一楼那户把自家院子往外砌了一圈墙，把小区的公共通道都占了一半。", "paraphrase", "050201", "060202"},
	}
	for _, tc := range cases {
		r := c.Classify(tc.text)
		if r.Via != tc.via || r.Category != tc.rules {
			t.Fatalf("%s: rules %s via %s, the test needs %s via %s", tc.text, r.Category, r.Via, tc.rules, tc.via)
		}
		d := c.decide(tc.text, &TriageArgs{Type: r.Type, Category: tc.model, Urgency: r.Urgency}, r, "")
		if d.Category != tc.rules || d.Sources["category"] != SourceRules || len(d.Warnings) != 1 {
			t.Errorf("%s: category %s (%s, warnings %q), want the rules' %s", tc.text, d.Category, d.Sources["category"], d.Warnings, tc.rules)
		}
	}
}

func TestDecideUrgencySafety(t *testing.T) {
	t.Parallel()
	c := NewClassifier(DefaultTaxonomy())
	text := "楼道里一股很浓的煤气味"
	d := c.decide(text, &TriageArgs{Type: "help", Category: "030301", Urgency: "normal"}, c.Classify(text), "")
	if d.Urgency != "emergency" || d.Sources["urgency"] != SourceRules {
		t.Errorf("a gas leak the model calls normal = %s (%s); the cues demand emergency", d.Urgency, d.Sources["urgency"])
	}
}

func TestReplyProblem(t *testing.T) {
	t.Parallel()
	cases := map[string]struct {
		reply, lang string
		bad         bool
	}{
		"fine zh":    {"您好，已为您登记。", "zh", false},
		"fine en":    {"Hello, we have logged it.", "en", false},
		"wrong lang": {"Hello, we have logged it.", "zh", true},
		"link":       {"您好，详情见 https://evil.example/x", "zh", true},
		"markup":     {"您好<img src=x>", "zh", true},
		"empty":      {"  ", "zh", true},
		"too long":   {string(make([]rune, MaxReplyRunes+1)), "zh", true},
	}
	for name, c := range cases {
		if got := replyProblem(c.reply, c.lang) != ""; got != c.bad {
			t.Errorf("%s: refused = %v, want %v", name, got, c.bad)
		}
	}
}

func ExampleClassifier_Classify() {
	c := NewClassifier(DefaultTaxonomy())
	for _, text := range []string{
		"解放大道的自来水主管爆了，路上已经淹了！",
		"The taxi driver refused to take me to the airport and was rude.",
	} {
		r := c.Classify(text)
		fmt.Println(r.Type, r.Category, r.Department, r.Urgency)
	}
	// Output:
	// help 030102 water emergency
	// complaint 010202 city_transport normal
}

// TestClassifyMainIssue holds the rules that decide on the main issue of a
// request rather than on words said in passing.
func TestClassifyMainIssue(t *testing.T) {
	t.Parallel()
	c := NewClassifier(DefaultTaxonomy())
	cases := map[string]struct {
		text                         string
		typ, category, dept, urgency string
	}{
		"a department's name says who, not what": {text: "燃气公司在小区门口挖开了路，一直不回填", category: "020301", dept: "urban_management"},
		"a person hurt in a crash is the crash":  {text: "一辆货车和电动车撞了，骑车的人躺在地上不动", typ: "help", category: "010104", dept: "traffic_police", urgency: "emergency"},
		"the outage, not what it looks like":     {text: "整栋楼黑灯瞎火的，到现在都没来电", category: "030201", dept: "power", urgency: "urgent"},
		"an english clause with its own subject": {text: "I work nights at the bus depot and the pub next door plays loud music all afternoon", category: "040103", dept: "district_office"},
		"a qualified place":                      {text: "The street light by the old bus stop keeps flickering", category: "020201", dept: "urban_management"},
		"a hazard in other words":                {text: "大路口的信号灯全熄了，车都在抢道", category: "010101", urgency: "emergency"},
		"thanks for work done is praise":         {text: "昨天报的水管漏水，今天一早就修好了，谢谢你们", typ: "praise"},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			got := c.Classify(tc.text)
			for _, f := range []struct{ field, got, want string }{
				{"type", got.Type, tc.typ}, {"category", got.Category, tc.category},
				{"department", got.Department, tc.dept}, {"urgency", got.Urgency, tc.urgency},
			} {
				if f.want != "" && f.got != f.want {
					t.Errorf("%s = %q, want %q (cues %v %v)", f.field, f.got, f.want, got.TypeCues, got.CategoryCues)
				}
			}
		})
	}
}

// TestDecideAlsoDepartment: a department a category lists under also leads
// it only when the request names that department.
func TestDecideAlsoDepartment(t *testing.T) {
	t.Parallel()
	c := NewClassifier(DefaultTaxonomy())
	for _, tc := range []struct {
		text, want string
	}{
		{"门口的路被挖开半个月了，施工围挡把人行道全占了，也没人来干活", "urban_management"},
		{"门口的路被挖开半个月了，施工围挡把半条马路占了，麻烦交警来看看", "traffic_police"},
	} {
		r := c.Classify(tc.text)
		if r.Category != "020301" {
			t.Fatalf("%s: rules %s, the test needs 020301", tc.text, r.Category)
		}
		d := c.decide(tc.text, &TriageArgs{Type: r.Type, Category: r.Category, Department: "traffic_police", Urgency: r.Urgency}, r, "")
		if d.Department != tc.want {
			t.Errorf("%s: department %s (%s, warnings %q), want %s", tc.text, d.Department, d.Sources["department"], d.Warnings, tc.want)
		}
	}
}
