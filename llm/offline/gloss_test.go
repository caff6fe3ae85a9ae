package offline

import (
	"strings"
	"testing"
)

func TestGloss(t *testing.T) {
	for name, tc := range map[string]struct {
		sentence string
		toZh     bool
		want     []string // parts the gloss must hold, in order
	}{
		"zh figures and terms for an english reader": {"第一条 市供电公司在停电发生后15分钟内向市能源管理办公室报告初步情况，1小时内报告停电范围。", false,
			[]string{"within 15 minutes", "within 1 hour"}},
		"zh limits": {"同一居民小区计划停电每年不超过3次，每次不超过8小时", false, []string{"at most 3 times", "at most 8 hours"}},
		"zh clock":  {"日前响应前一天16:00前通知", false, []string{"by 16:00"}},
		"en figures for a chinese reader": {"Vehicles that stay more than 15 minutes after charging ends pay 1 yuan per minute, capped at 60 yuan.", true,
			[]string{"超过15分钟", "最多60元"}},
	} {
		t.Run(name, func(t *testing.T) {
			g := gloss(tc.sentence, tc.toZh)
			at := 0
			for _, w := range tc.want {
				i := strings.Index(g[at:], w)
				if i < 0 {
					t.Fatalf("gloss(%q) = %q, want %q after offset %d", tc.sentence, g, w, at)
				}
				at += i + len(w)
			}
		})
	}
	if g := gloss("第一条 市供电公司在停电发生后15分钟内报告。", true); g != "" {
		t.Errorf("a sentence in the reader's language gets no gloss, got %q", g)
	}
}

func TestSourceLabel(t *testing.T) {
	label := "EV Charging Infrastructure and Prices / 电动汽车充电设施与收费 › EV Charging Infrastructure and Prices / 电动汽车充电设施与收费 › Prices 收费"
	if got, want := sourceLabel(label, true), "电动汽车充电设施与收费 › Prices 收费"; got != want {
		t.Errorf("zh label = %q, want %q", got, want)
	}
	if got, want := sourceLabel(label, false), "EV Charging Infrastructure and Prices › Prices 收费"; got != want {
		t.Errorf("en label = %q, want %q", got, want)
	}
}
