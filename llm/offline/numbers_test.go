package offline

import (
	"slices"
	"strings"
	"testing"
)

func TestNumberMentionsInWords(t *testing.T) {
	for name, tc := range map[string]struct {
		text string
		want []float64 // the values read, in order
	}{
		"chinese thousands before 千瓦":   {"削减三千千瓦", []float64{3000}},
		"chinese ten thousands":         {"削减五万千瓦负荷", []float64{50000}},
		"chinese mixed":                 {"两万五千千瓦", []float64{25000}},
		"chinese count":                 {"最堵的十个路段", []float64{10}},
		"an article is no number":       {"启动一个日前响应", nil},
		"numeral inside a word":         {"统一调度十字路口", nil},
		"english ten":                   {"the ten worst segments", []float64{10}},
		"english thousands":             {"cut three thousand kW", []float64{3000}},
		"digits with a separator":       {"cut 3,000 kW", []float64{3000}},
		"digits and 万":                  {"削减5万千瓦", []float64{50000}},
		"english months as days+hours":  {"over the past six months", []float64{180, 4320}},
		"english weeks":                 {"in the next 2 weeks", []float64{14, 336}},
		"chinese past week":             {"最近一周的峰值", []float64{7, 168}},
		"chinese next two weeks":        {"未来两周的检查", []float64{14, 336}},
		"days also give hours":          {"过去3天的用电", []float64{3, 72}},
		"period without a number":       {"How much did Nanhu use over the past week?", []float64{7, 168}},
		"chinese period without number": {"这个月的峰值", []float64{30, 720}},
		"today gives no window":         {"今天的峰值", nil},
		"english compound":              {"shed four thousand five hundred kilowatts", []float64{4500}},
		"english compound with and":     {"two thousand and fifty kW", []float64{2050}},
		"english tens and units":        {"the sixty-five worst", []float64{65}},
		"chinese hundreds before 千瓦":    {"压减一千五百千瓦，持续两个小时", []float64{1500, 2}},
	} {
		t.Run(name, func(t *testing.T) {
			var got []float64
			for _, m := range numberMentions(tc.text) {
				got = append(got, m.value)
			}
			if !slices.Equal(got, tc.want) {
				t.Errorf("numberMentions(%q) = %v, want %v", tc.text, got, tc.want)
			}
		})
	}
}

func TestPeriodWords(t *testing.T) {
	for text, want := range map[string]string{
		"这个月全市的峰值":                     " ; month 本月 最近30天",
		"peak load over the past week": " ; week 本周 最近7天",
		"what is the peak":             "",
	} {
		if got := periodWords(text); got != want {
			t.Errorf("periodWords(%q) = %q, want %q", text, got, want)
		}
	}
}

// A number whose unit is one property's own word fills that property only:
// the kilowatts go to the reduction, the hours to the duration, whatever
// words stand around them; megawatts asked of a property in kW are scaled.
func TestFillNumbersByUnit(t *testing.T) {
	req := agentRequest(t, "energy")
	for q, want := range map[string]map[string]any{
		"请在南湖区发起一次小时级需求响应，压减一千五百千瓦，持续两个小时。":                                                     {"reduction_kw": 1500.0, "duration_hours": 2.0},
		"Set up a day-ahead event in Dongcheng, shedding four thousand five hundred kilowatts.": {"reduction_kw": 4500.0},
		"Start an hour-ahead demand response in Nanhu for 2 MW over three hours.":               {"reduction_kw": 2000.0, "duration_hours": 3.0},
	} {
		resp, err := New().Generate(t.Context(), firstStep(req, q), nil)
		if err != nil {
			t.Fatal(err)
		}
		got := callArgs(t, resp)["propose_energy_demand_response_event"]
		if got == nil {
			t.Errorf("%s: no proposal; calls %v", q, resp.ToolCalls)
			continue
		}
		for k, v := range want {
			if got[k] != v {
				t.Errorf("%s: %s = %v, want %v (arguments %v)", q, k, got[k], v, got)
			}
		}
	}
}

// A window counted in days that is a period's length names the period.
func TestPeriodWordsFromDayCounts(t *testing.T) {
	for text, want := range map[string]string{
		"滨江区这三十天里用电最高的时候负荷有多大？":                           "month",
		"What was the highest load over the past 7 days?": "week",
		"这个月的峰值":                                  "month",
		"What was the peak over the past 5 days?": "",
	} {
		got := periodWords(text)
		if want == "" && got != "" || want != "" && !strings.Contains(got, want) {
			t.Errorf("periodWords(%q) = %q, want %q", text, got, want)
		}
	}
}
