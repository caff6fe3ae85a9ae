package knowledge_test

import (
	"fmt"
	"slices"
	"strings"
	"testing"
	"unicode"

	"github.com/cityagent/cityagent/knowledge"
)

func TestTokens(t *testing.T) {
	for name, tc := range map[string]struct {
		text string
		want []string
	}{
		"empty":             {"", nil},
		"punctuation only":  {"，。！？ - ...", nil},
		"chinese n-grams":   {"交通拥堵", []string{"交", "通", "拥", "堵", "交通", "通拥", "拥堵"}},
		"single han":        {"路", []string{"路"}},
		"chinese runs":      {"信号灯，红灯", []string{"信", "号", "灯", "信号", "号灯", "红", "灯", "红灯"}},
		"english stopwords": {"The permits are issued", []string{"permit", "issued"}},
		"plurals":           {"Fees, buses, inspections, policies, boxes, status", []string{"fee", "buse", "inspection", "policy", "box", "status"}},
		"decimal kept":      {"congestion index above 2.0.", []string{"congestion", "index", "above", "2.0"}},
		"numbers and han":   {"拨打12345热线", []string{"拨", "打", "拨打", "12345", "热", "线", "热线"}},
		"mixed":             {"Level 3响应：拥堵指数>2.0", []string{"level", "3", "响", "应", "响应", "拥", "堵", "指", "数", "拥堵", "堵指", "指数", "2.0"}},
		"full width":        {"Ｇ１５高速　ＡＢＣ", []string{"g15", "高", "速", "高速", "abc"}},
		"abbreviation":      {"e.g. 3.5%", []string{"e", "g", "3.5"}},
		"time":              {"07:00–09:00", []string{"07", "00", "09", "00"}},
		"kana and hangul":   {"ひらがな 한국어", []string{"ひ", "ら", "が", "な", "ひら", "らが", "がな", "한", "국", "어", "한국", "국어"}},
	} {
		t.Run(name, func(t *testing.T) {
			if got := knowledge.Tokens(tc.text); !slices.Equal(got, tc.want) {
				t.Errorf("Tokens(%q) = %q, want %q", tc.text, got, tc.want)
			}
		})
	}
}

func FuzzTokens(f *testing.F) {
	for _, s := range []string{"交通拥堵指数超过2.0", "The permits are issued.", "Ｇ１５\x00\xff", "3..5.", ""} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		for _, tok := range knowledge.Tokens(s) {
			if tok == "" || strings.ContainsFunc(tok, unicode.IsSpace) || tok != strings.ToLower(tok) {
				t.Fatalf("bad token %q from %q", tok, s)
			}
		}
	})
}

func ExampleTokens() {
	fmt.Printf("%q\n", knowledge.Tokens("拥堵指数超过2.0时启动三级响应 (Level 3 response)"))
	// Output: ["拥" "堵" "指" "数" "超" "过" "拥堵" "堵指" "指数" "数超" "超过" "2.0" "时" "启" "动" "三" "级" "响" "应" "时启" "启动" "动三" "三级" "级响" "响应" "level" "3" "response"]
}
