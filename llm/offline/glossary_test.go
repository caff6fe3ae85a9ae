package offline

import (
	"slices"
	"strings"
	"testing"

	"github.com/cityagent/cityagent/llm"
)

func TestQueryTerms(t *testing.T) {
	for _, tc := range []struct {
		name, text string
		want, not  []string
	}{
		{name: "english question gets chinese names", text: "How long is the yellow light at a junction?",
			want: []string{"黄灯", "路口", "交叉口"}, not: []string{"amber", "intersection"}},
		{name: "chinese question gets english names", text: "城管局负责哪些事？",
			want: []string{"urban management bureau"}, not: []string{"城市管理局", "urban_management"}},
		{name: "words inside a longer term name only it", text: "Under a red warning, how often must the power supply company report load data?",
			want: []string{"供电公司", "红色预警", "报送"}, not: []string{"用电量", "能耗"}},
		{name: "a status word inside a phrase", text: "When lifts are switched off to save power, must each stairwell still keep one running?",
			want: []string{"电梯", "保留", "节约用电"}, not: []string{"执行中", "用电量"}},
		{name: "no city term", text: "Hello there", want: nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got := QueryTerms(tc.text)
			if tc.want == nil && len(got) != 0 {
				t.Fatalf("QueryTerms(%q) = %q, want none", tc.text, got)
			}
			for _, w := range tc.want {
				if !slices.Contains(got, w) {
					t.Errorf("QueryTerms(%q) = %q, lacks %q", tc.text, got, w)
				}
			}
			for _, n := range tc.not {
				if slices.Contains(got, n) {
					t.Errorf("QueryTerms(%q) = %q, has same-language or identifier %q", tc.text, got, n)
				}
			}
			if len(got) > maxQueryTerms {
				t.Errorf("%d terms, want at most %d", len(got), maxQueryTerms)
			}
			if again := QueryTerms(tc.text); !slices.Equal(got, again) {
				t.Errorf("not deterministic: %q then %q", got, again)
			}
		})
	}
}

// A passage in the other language answers through the glossary, and a
// sentence in the question's own language wins a tie with its translation.
func TestPickSentencesAcrossLanguages(t *testing.T) {
	zh := llm.DataBlock{Kind: "document", Ref: "zh#1", Body: "第五条 黄灯时间为3秒；设计车速超过60公里/小时的路口，黄灯时间为4秒。全红清空时间一般为2秒。"}
	en := llm.DataBlock{Kind: "document", Ref: "en#1", Body: "The data centre must reach a design PUE of 1.25. Offices report monthly."}
	for _, tc := range []struct {
		q    string
		docs []llm.DataBlock
		want string
	}{
		{"How long is the yellow light?", []llm.DataBlock{zh}, "黄灯时间为3秒"},
		{"新建数据中心的PUE要达到多少？", []llm.DataBlock{en}, "1.25"},
	} {
		got := pickSentences(tc.q, nil, lex().answerTypes(tc.q), tc.docs)
		if len(got) == 0 || !strings.Contains(got[0].text, tc.want) {
			t.Errorf("%q: first sentence %v, want one with %q", tc.q, got, tc.want)
		}
	}
	// Overlapping groups (拥堵, 拥堵指数) credit a term once: the Chinese
	// sentence beats its English twin.
	both := llm.DataBlock{Kind: "document", Ref: "ci#1", Body: "The congestion index is measured every 5 minutes.\n拥堵指数每5分钟计算一次。"}
	q := "拥堵指数多久计算一次？"
	if got := pickSentences(q, nil, lex().answerTypes(q), []llm.DataBlock{both}); len(got) == 0 || !hasHan(got[0].text) {
		t.Errorf("%q: first sentence %v, want the Chinese one", q, got)
	}
}

// A window counted back from now asks for live data, so the tool's summary
// in the question's language comes before any rule (the permits agent's
// "最近90天…平均办理时间" answered with a bilingual table row first).
func TestWindowQuestionIsLive(t *testing.T) {
	for q, want := range map[string]bool{
		"最近90天建筑工程施工许可的平均办理时间是多少？":                                   true,
		"What is the average processing time over the last 90 days?": true,
		"这个月的平均办理时间是多少？":                                             true,
		"How long does a building permit take?":                      false,
		"建筑工程施工许可的办理时限是多少天？":                                         false,
	} {
		if got := lex().isLive(q); got != want {
			t.Errorf("isLive(%q) = %v, want %v", q, got, want)
		}
	}
}

func TestHasCue(t *testing.T) {
	for _, tc := range []struct {
		text, cue string
		want      bool
	}{
		{"phones the duty officer of the department", "office", false},
		{"the sub-district office handles it", "office", true},
		{"both bureaus sign", "bureau", true},
		{"within 30 minutes", "minute", true},
		{"市城市管理局负责", "局", true},
		{"issued within 5 working days", " day", true},
	} {
		if got := hasCue(tc.text, tc.cue); got != tc.want {
			t.Errorf("hasCue(%q, %q) = %v, want %v", tc.text, tc.cue, got, tc.want)
		}
	}
}

// A message that points back at an earlier one is looked up with it; one
// that stands on its own, or the first of a session, is looked up alone.
func TestFollowUpText(t *testing.T) {
	earlier := []string{"小区的水管爆了，到处是水。", "older"}
	for q, want := range map[string]string{
		"这个归哪个单位处理？":                      "这个归哪个单位处理？\n小区的水管爆了，到处是水。",
		"Which department will fix them?": "Which department will fix them?\n小区的水管爆了，到处是水。",
		"And on that road?":               "And on that road?\n小区的水管爆了，到处是水。",
		"停电属于哪一类诉求？":                      "停电属于哪一类诉求？",
	} {
		if got := FollowUpText(q, earlier); got != want {
			t.Errorf("FollowUpText(%q) = %q, want %q", q, got, want)
		}
	}
	if got := FollowUpText("Which department will fix them?", nil); got != "Which department will fix them?" {
		t.Errorf("first message of a session: %q", got)
	}
}

// A message that opens as a continuation ("And …", "那么…") points back at
// the one before it even without a pronoun; a word that only starts with
// the opener ("Andover") does not.
func TestFollowUpOpeners(t *testing.T) {
	earlier := []string{"Who takes a gas leak reported to the hotline?"}
	for q, want := range map[string]bool{
		"And what does the operator tell the caller before putting the call through?": true,
		"那么最多还能延几天？":                                                                  true,
		"What about the deadline?":                                                    true,
		"Andover Road has a gas leak":                                                 false,
		"How long is the deadline?":                                                   false,
	} {
		if got := pointsBack(q, earlier); got != want {
			t.Errorf("pointsBack(%q) = %v, want %v", q, got, want)
		}
	}
}

// An English word an operator would use meets the term a Chinese-only
// document writes (the glossary's groups for the Chinese documents' rules).
func TestGlossaryMeetsChineseRules(t *testing.T) {
	for q, want := range map[string]string{
		"May they pass on the caller's home address?":        "住址",
		"How many lifts may be switched off?":                "电梯",
		"Which lanes must trucks use, the right-hand lanes?": "右侧车道",
		"When does the rule take effect?":                    "施行",
		"Who issues the alert, the weather bureau?":          "气象局",
		"What happens when the backup power runs out?":       "耗尽",
		"Who is the licensing authority for a concert?":      "许可机关",
		"Must the contractor be qualified?":                  "资质",
	} {
		if got := QueryTerms(q); !slices.Contains(got, want) {
			t.Errorf("QueryTerms(%q) = %q, lacks %q", q, got, want)
		}
	}
}

// A question and a passage in different languages name the same glossary
// groups: "traffic lights … police" and 信号灯 … 交警.
func TestConceptsAcrossLanguages(t *testing.T) {
	en := Concepts("If all the traffic lights at a junction have gone dark, how quickly must the police arrive?")
	zh := Concepts("一级故障：路口信号灯全部熄灭的，交警15分钟内到达路口指挥交通。")
	if len(en) == 0 || len(zh) == 0 {
		t.Fatalf("concepts en %v zh %v: want some for both", en, zh)
	}
	if !slices.IsSorted(en) || !slices.IsSorted(zh) {
		t.Errorf("concepts en %v zh %v: want them sorted", en, zh)
	}
	shared := 0
	for _, g := range en {
		if slices.Contains(zh, g) {
			shared++
		}
	}
	if shared < 2 {
		t.Errorf("concepts en %v zh %v share %d groups, want at least 2", en, zh, shared)
	}
	if got := Concepts("zzqx"); len(got) != 0 {
		t.Errorf("Concepts(zzqx) = %v, want none", got)
	}
}
