package offline

import (
	"strings"
	"testing"
)

func TestLexiconLoads(t *testing.T) {
	l, err := loadLexicon(dataFS)
	if err != nil {
		t.Fatal(err)
	}
	if len(l.groups) < 50 || len(l.periods) == 0 || len(l.answers) == 0 || len(l.refs) == 0 {
		t.Fatalf("lexicon looks empty: %d groups, %d periods, %d answer types, %d reference kinds",
			len(l.groups), len(l.periods), len(l.answers), len(l.refs))
	}
	for kind := range l.refs {
		if _, ok := l.propKindsOf(kind); !ok && kind != "any" {
			t.Errorf("reference kind %q fills no property (entity_properties)", kind)
		}
	}
}

// propKindsOf lists the properties of an entity kind.
func (l *lexicon) propKindsOf(kind string) ([]string, bool) {
	var out []string
	for p, k := range l.propKinds {
		if k == kind {
			out = append(out, p)
		}
	}
	return out, len(out) > 0
}

func TestExpandAliases(t *testing.T) {
	for name, tc := range map[string]struct {
		text string
		want []string
		deny []string
	}{
		"english status":       {"How many permits were turned down?", []string{"refused", "不予许可"}, nil},
		"chinese status":       {"被驳回的许可", []string{"refused"}, nil},
		"department nickname":  {"派给城管局", []string{"urban_management", "urban management bureau"}, nil},
		"action phrase":        {"人民路拉长周期", []string{"longer_cycle"}, []string{"shorter_cycle"}},
		"glossary cross-lang":  {"西城区有多少常住人口", []string{"population", "residents"}, nil},
		"whole words only":     {"a towel", nil, []string{"tow_truck"}},
		"unrelated text":       {"hello there", nil, []string{"refused", "population"}},
		"phrase without a key": {"how much is it", []string{"fee"}, nil},
	} {
		t.Run(name, func(t *testing.T) {
			got := lex().expand(tc.text)
			for _, w := range tc.want {
				if !strings.Contains(got, w) {
					t.Errorf("expand(%q) = %q, lacks %q", tc.text, got, w)
				}
			}
			for _, d := range tc.deny {
				if strings.Contains(got, d) {
					t.Errorf("expand(%q) = %q, has %q", tc.text, got, d)
				}
			}
		})
	}
}

func TestReferred(t *testing.T) {
	for text, want := range map[string]string{
		"And on that road, any incidents?":    "road",
		"那这个区今天的峰值？":                          "district",
		"该路段现在车速多少？":                          "segment",
		"What is the peak in Gaoxin?":         "",
		"And in Gaoxin over the same period?": "window",
	} {
		got := lex().referred(text)
		if want == "" && len(got) > 0 || want != "" && !got[want] {
			t.Errorf("referred(%q) = %v, want %q", text, got, want)
		}
	}
}

func TestWithoutWindowRefs(t *testing.T) {
	if got := lex().withoutWindowRefs("And in Gaoxin over the same period?"); strings.Contains(got, "period") || !strings.Contains(got, "Gaoxin") {
		t.Errorf("withoutWindowRefs = %q, want the window reference blanked and the rest kept", got)
	}
	if got := lex().withoutWindowRefs("What was the peak this period?"); got != "What was the peak this period?" {
		t.Errorf("withoutWindowRefs = %q, want it unchanged", got)
	}
}

// A type is dropped only where every cue of it sits inside a longer cue of
// another type; normative words make a rules question of any type.
func TestAnswerTypesByCueSpans(t *testing.T) {
	names := func(q string) string {
		var out []string
		for _, a := range lex().answerTypes(q) {
			out = append(out, a.Name)
		}
		return strings.Join(out, ",")
	}
	for q, want := range map[string]string{
		"第二年电价要多交多少？":                                                            "how_much",
		"一个季度最多调用多少回、累计多少个钟头？":                                                   "how_long,how_often",
		"How many times a quarter may a participant be called?":                  "how_often",
		"What share of enquiries are answered directly?":                         "share",
		"回访电话一天里可以在什么时间段打？":                                                      "what_time",
		"How many times the normal rate do businesses pay at the critical peak?": "how_much,multiplier",
		"What is the speed limit near a school?":                                 "limit_value",
		"How many working days before night works must the contractor apply?":    "how_long",
		"When must an emergency repair crew file its application?":               "by_when",
		"How far apart are the cross passages in the tunnel?":                    "distance",
		"隧道横通道间距多少？":                                                             "distance",
		"How far in advance must the plan be submitted?":                         "how_long",
	} {
		if got := names(q); got != want {
			t.Errorf("answerTypes(%q) = %s, want %s", q, got, want)
		}
	}
	if !lex().isNormative("What share of enquiries are agents expected to settle?") || lex().isNormative("What share of the load is Gaoxin's?") {
		t.Error("isNormative: an expectation is normative, a share alone is not")
	}
}

// A short question ending in 呢 continues the one before; a longer one, or
// one without 呢, does not.
func TestContinues(t *testing.T) {
	for text, want := range map[string]bool{
		"昨天呢？":                true,
		"公用事业的呢？":             true,
		"And an urgent one?":  true,
		"What about Xicheng?": true,
		"高新区今天用电最高负荷是多少呢？我想知道一下具体的情况": false,
		"东城区有多少许可？": false,
	} {
		if got := lex().continues(text); got != want {
			t.Errorf("continues(%q) = %v, want %v", text, got, want)
		}
	}
	// A follow-up that names no kind of answer asks what the earlier message asked.
	if got := askedTypes("And an urgent one?", []string{"How long does a department have to finish a general request?"}); len(got) != 1 || got[0].Name != "how_long" {
		t.Errorf("askedTypes of a follow-up = %v, want how_long from the earlier question", got)
	}
}

func TestAskedUnit(t *testing.T) {
	for q, want := range map[string]string{
		"how many working days before the works?":     "working day",
		"within how many minutes must police arrive?": "minute",
		"最多还能延期多少个工作日？":                               "工作日",
		"多少分钟内派单？":                                    "分钟",
		"who is responsible?":                         "",
	} {
		if got := askedUnit(q); got != want {
			t.Errorf("askedUnit(%q) = %q, want %q", q, got, want)
		}
	}
}
