package offline

import (
	"slices"
	"strings"
	"testing"

	"github.com/cityagent/cityagent/llm"
)

func TestSplitSentencesTables(t *testing.T) {
	doc := "Fees per square metre per day:\n\n| Road class | Fee |\n|---|---|\n| Arterial road | 8 yuan |\n| Secondary road | 5 yuan |\n\nA traffic plan is required."
	want := []string{"Fees per square metre per day:", "Road class: Arterial road, Fee: 8 yuan", "Road class: Secondary road, Fee: 5 yuan", "A traffic plan is required."}
	if got := splitSentences(doc); !slices.Equal(got, want) {
		t.Errorf("splitSentences =\n%q\nwant\n%q", got, want)
	}
	// A chunk that starts inside a table has no header: cells joined.
	if got := splitSentences("| 2.0 to 3.0 | congested | 拥堵 |\n| above 3.0 | severely congested | 严重拥堵 |"); !slices.Equal(got,
		[]string{"2.0 to 3.0, congested, 拥堵", "above 3.0, severely congested, 严重拥堵"}) {
		t.Errorf("headerless rows: %q", got)
	}
}

// A list item is quoted with the clause that introduces it: alone,
// "（三）一般诉求：7日内办结；" does not say what is listed.
func TestSplitSentencesListLeadIn(t *testing.T) {
	doc := "第九条 承办单位应当在下列时限内办结并答复诉求人：\n\n（一）紧急诉求：2小时内到达现场；\n（三）一般诉求：7日内办结；\n\n第十条 延期不超过5个工作日。\n- not a list item of anything"
	want := []string{"第九条 承办单位应当在下列时限内办结并答复诉求人：", "第九条 承办单位应当在下列时限内办结并答复诉求人： （一）紧急诉求：2小时内到达现场；",
		"第九条 承办单位应当在下列时限内办结并答复诉求人： （三）一般诉求：7日内办结；", "第十条 延期不超过5个工作日。", "not a list item of anything"}
	if got := splitSentences(doc); !slices.Equal(got, want) {
		t.Errorf("splitSentences =\n%q\nwant\n%q", got, want)
	}
	for line, want := range map[string]bool{"- item": true, "（二）公用事业": true, "3. third": true, "12、第十二": true, "2026 was a year": false, "第九条": false} {
		if got := isListItem(line); got != want {
			t.Errorf("isListItem(%q) = %v, want %v", line, got, want)
		}
	}
}

func TestPickSentencesByQuestionType(t *testing.T) {
	docs := []llm.DataBlock{{Kind: "document", Ref: "fees#1", Body: "Road occupation permits are issued within 5 working days. " +
		"Road occupation on an arterial road is charged 8 yuan per square metre per day. " +
		"Road occupation permits are issued by the Traffic Police with Urban Management."}}
	for q, want := range map[string]string{
		"How much does road occupation on an arterial road cost?":  "8 yuan",
		"How long does a road occupation permit take?":             "5 working days",
		"Who issues road occupation permits?":                      "Traffic Police",
		"What is charged for road occupation on an arterial road?": "8 yuan",
	} {
		got := pickSentences(q, nil, lex().answerTypes(q), docs)
		if len(got) == 0 || !strings.Contains(got[0].text, want) {
			t.Errorf("%q: first sentence %v, want one with %q", q, got, want)
		}
	}
	// A count of times is said in words as often as in digits; "how many
	// times" is asked, not "how many" of anything.
	docs = []llm.DataBlock{{Kind: "document", Ref: "rv#1", Body: "If the citizen is dissatisfied, the ticket is reopened within 7 days of the visit. " +
		"A ticket is reopened at most twice; after that the centre escalates it. " +
		"诉求人不满意的，工单在7日内重新派送。同一工单最多重办两次，之后由热线中心督办。"}}
	for q, want := range map[string]string{
		"How many times can a ticket be reopened after a dissatisfied visit?": "twice",
		"工单最多可以重办几次？":                                                         "两次",
	} {
		got := pickSentences(q, nil, lex().answerTypes(q), docs)
		if len(got) == 0 || !strings.Contains(got[0].text, want) {
			t.Errorf("%q: first sentence %v, want one with %q", q, got, want)
		}
	}
}

// A rules question answered beside a tool result quotes the rule first.
func TestRulesQuestionQuotesDocumentsFirst(t *testing.T) {
	msgs := []llm.Message{system(), passages(llm.DataBlock{Ref: "dr#2", Title: "Demand response", Body: "| Event | Payment per kWh reduced |\n|---|---|\n| Emergency | 5 yuan |"}),
		user("How much is paid per kWh reduced in an emergency event?"),
		{Role: llm.RoleAssistant, ToolCalls: []llm.ToolCall{{ID: "call_1", Name: "energy_consumption", Arguments: []byte(`{}`)}}},
		toolResult("call_1", "energy_consumption", `{"summary":"City load now 812,000 kW."}`)}
	resp := generate(t, msgs...)
	rule, live := strings.Index(resp.Content, "Payment per kWh reduced: 5 yuan"), strings.Index(resp.Content, "812,000 kW")
	if rule < 0 || live < 0 || rule > live {
		t.Errorf("want the rule before the live data:\n%s", resp.Content)
	}
	if strings.Contains(resp.Content, "| Emergency") {
		t.Errorf("raw table row quoted:\n%s", resp.Content)
	}
}

// What a question quotes says what it is about, not what it asks: the
// frame that introduces the quotation ("A caller said:") counts for nothing
// and the quotation's words count less than the user's own.
func TestPickSentencesQuotedQuestion(t *testing.T) {
	if got := withoutFrames("A caller said:" + quoteMark + "Which department handles it?"); strings.Contains(got, "caller") || !strings.Contains(got, "Which department") {
		t.Errorf("withoutFrames = %q", got)
	}
	if got := withoutFrames("市民来电称：" + quoteMark + "这个归哪个部门？"); strings.Contains(got, "市民") {
		t.Errorf("withoutFrames = %q", got)
	}
	msgs := []llm.Message{system(), passages(llm.DataBlock{Ref: "dr#1", Title: "Department responsibilities", Body: "Urgent tickets from callers at night go to the departments' duty officers.\n" +
		"Bus routes, bus stops and taxi complaints: City Transport Bureau."}),
		user(`A caller said: "The bus driver was rude to me, send this to the police right now and mark it urgent!" Which department should handle this complaint?`)}
	resp := generate(t, msgs...)
	if !strings.Contains(resp.Content, "City Transport Bureau") || len(resp.ToolCalls) > 0 {
		t.Errorf("want the bus rule quoted and nothing called:\n%s", resp.Content)
	}
}

// A definition the question matches leads to the rule that answers it: the
// lamp head is a level 3 fault, and level 3 faults have their own time limit.
func TestPickSentencesBridgesDefinitions(t *testing.T) {
	docs := []llm.DataBlock{{Kind: "document", Ref: "sig#1", Body: "第一条 信号灯故障分为三级：\n\n（一）一级故障：路口信号灯全部熄灭。\n" +
		"（三）三级故障：单个灯头损坏、倒计时器故障。\n\n第四条 各级故障的处置时限：\n\n（一）一级故障：维护单位2小时内修复；\n" +
		"（三）三级故障：维护单位24小时内修复。"}}
	for _, q := range []string{"单个灯头损坏多久要修好？", "How quickly must a single broken lamp head be fixed?"} {
		got := pickSentences(q, nil, lex().answerTypes(q), docs)
		if len(got) == 0 || !strings.Contains(got[0].text, "24小时") {
			t.Errorf("%q: first sentence %v, want the level 3 time limit", q, got)
		}
	}
	for s, want := range map[string]string{
		"（三）三级故障：单个灯头损坏":                        "三级故障",
		"Level 3 faults: a single lamp head":    "Level 3 faults",
		"没有冒号的句子。":                              "",
		"A: " + strings.Repeat("x", 40) + ": y": "",
	} {
		if got := definedLabel(s); got != want {
			t.Errorf("definedLabel(%q) = %q, want %q", s, got, want)
		}
	}
}

// A duration is a number before 日 that is no day of a month.
func TestUnitAfterNumber(t *testing.T) {
	for s, want := range map[string]bool{
		"应当提前7日公告": true,
		"十日内答复":    true,
		"3月31日前报名": false,
		"日最高气温":    false,
	} {
		if got := unitAfterNumber(s, "日"); got != want {
			t.Errorf("unitAfterNumber(%q) = %v, want %v", s, got, want)
		}
	}
}

// "how many minutes" is answered by a sentence saying "15 minutes", though
// the question says "minutes" itself; a target asked for is the sentence
// that states one.
func TestPickSentencesNumbersAndTargets(t *testing.T) {
	docs := []llm.DataBlock{{Kind: "document", Ref: "inc#1", Body: "Crashes are graded I to IV by casualties and disruption; police handle minor crashes on urban roads. " +
		"Officers leave within 5 minutes and arrive within 15 minutes on urban roads."}}
	q := "Within how many minutes must police reach a crash on an urban road?"
	if got := pickSentences(q, nil, lex().answerTypes(q), docs); len(got) == 0 || !strings.Contains(got[0].text, "15 minutes") {
		t.Errorf("%q: first sentence %v, want the arrival time", q, got)
	}
	docs = []llm.DataBlock{
		{Kind: "document", Ref: "visit#1", Body: "Resolution and satisfaction rates from return visits make up 60% of the departments' hotline performance score."},
		{Kind: "document", Ref: "eval#1", Body: "指标: 满意率, 计算方法: （满意＋基本满意）÷ 回访工单数, 目标值: ≥90%, 权重: 30%"},
		{Kind: "document", Ref: "rules#1", Body: "The hotline takes calls 24 hours a day."},
		{Kind: "document", Ref: "visit#2", Body: "If a citizen cannot be reached after three calls on different days, the ticket is closed as not reachable and does not count in the department's satisfaction rate."},
	}
	q = "What satisfaction rate must departments reach in the hotline performance evaluation?"
	got := pickSentences(q, nil, lex().answerTypes(q), docs)
	found := false
	for _, g := range got {
		found = found || strings.Contains(g.text, "≥90%")
	}
	if !found {
		t.Errorf("%q: quoted %v, want the target among them", q, got)
	}
}

func TestAppendClauses(t *testing.T) {
	got := appendClauses(nil, "A permit lapses after 3 months; a road occupation permit lasts at most 90 days；a night works permit covers at most 15 nights.")
	want := []string{"A permit lapses after 3 months;", "a road occupation permit lasts at most 90 days；", "a night works permit covers at most 15 nights."}
	if !slices.Equal(got, want) {
		t.Errorf("appendClauses = %q, want %q", got, want)
	}
}

func TestTitleSaysWhatSentencesAreAbout(t *testing.T) {
	q := "How long is an outdoor advertising permit valid for?"
	docs := []llm.DataBlock{
		{Kind: "document", Ref: "faq#2", Title: "Permit Application FAQ",
			Body: "Processing takes 10 working days for outdoor advertising."},
		{Kind: "document", Ref: "advert#3", Title: "Outdoor Advertising Permits in Detail › Duration and renewal",
			Body: "Permits are valid for up to 3 years and are renewed on application 30 days before expiry."},
	}
	got := pickSentences(q, nil, askedTypes(q, nil), docs)
	if len(got) == 0 || !strings.Contains(got[0].text, "3 years") {
		t.Fatalf("pickSentences = %+v, want the validity rule of the advertising passage first", got)
	}
}

// An English continuation names what changes ("And on the Ring
// Expressway?"): the row it names wins over the row the earlier question
// asked about.
func TestPickSentencesContinuationSwaps(t *testing.T) {
	docs := []llm.DataBlock{{Kind: "document", Ref: "rw#1", Body: "Speed limit: up to 40 km/h, Advance warning sign: 50 m before the works, Taper length: 20 m. " +
		"Speed limit: 50–60 km/h, Advance warning sign: 100 m before the works, Taper length: 40 m. " +
		"Speed limit: Ring Expressway, Advance warning sign: 1,000 m, 500 m and 200 m, Taper length: 120 m."}}
	context := map[string]float64{}
	addContext(context, "How far before the works does the advance warning sign go on a road with a 40 km/h limit?", contextWeight)
	q := "And on the Ring Expressway?"
	got := pickSentences(q, context, askedTypes(q, []string{"How far before the works does the advance warning sign go on a road with a 40 km/h limit?"}), docs)
	if len(got) == 0 || !strings.Contains(got[0].text, "1,000 m") {
		t.Errorf("%q: first sentence %v, want the Ring Expressway row", q, got)
	}
}

// An English question quotes at most one Chinese sentence: a second would
// make the answer Chinese. A Chinese question keeps both.
func TestPickSentencesOneChineseQuoteForEnglish(t *testing.T) {
	docs := []llm.DataBlock{{Kind: "document", Ref: "h#1", Body: "第六条 咨询类诉求能够依据知识库直接答复的，接线员即时答复，直接办结率目标不低于70%。" +
		"接线员可以依据本知识库直接答复以下咨询，直接办结。"}}
	han := func(qs []quoted) (n int) {
		for _, q := range qs {
			if hanShare(q.text) >= 0.5 {
				n++
			}
		}
		return n
	}
	q := "What share of enquiries are operators expected to settle on the spot from the knowledge base?"
	if got := pickSentences(q, nil, lex().answerTypes(q), docs); len(got) == 0 || han(got) != 1 || !strings.Contains(got[0].text, "70%") {
		t.Errorf("%q: quoted %v, want the 70%% sentence alone", q, got)
	}
	q = "接线员依据知识库直接答复的直接办结率目标是多少？"
	if got := pickSentences(q, nil, lex().answerTypes(q), docs); han(got) != 2 {
		t.Errorf("%q: quoted %v, want both sentences", q, got)
	}
}
