package evals

import (
	"encoding/json"
	"testing"

	"gopkg.in/yaml.v3"
)

func TestMatchers(t *testing.T) {
	tests := map[string]struct {
		matcher string // YAML of one matcher
		value   string // JSON of the argument; "" = absent
		want    bool
	}{
		"exact string":             {`binjiang`, `"binjiang"`, true},
		"exact string differs":     {`binjiang`, `"Binjiang"`, false},
		"exact number":             {`5`, `5.0`, true},
		"exact number differs":     {`5`, `6`, false},
		"exact bool":               {`true`, `true`, true},
		"exact list":               {`[a, b]`, `["a","b"]`, true},
		"exact list order":         {`[a, b]`, `["b","a"]`, false},
		"exact literal object":     {`{exact: {regex: x}}`, `{"regex":"x"}`, true},
		"exact absent":             {`5`, ``, false},
		"regex":                    {`{regex: "^S0\\d\\d$"}`, `"S073"`, true},
		"regex anywhere":           {`{regex: "73"}`, `"S073"`, true},
		"regex miss":               {`{regex: "^S1"}`, `"S073"`, false},
		"regex on a number":        {`{regex: "5"}`, `5`, false},
		"range inside":             {`{range: [1, 10]}`, `5`, true},
		"range bounds inclusive":   {`{range: [1, 10]}`, `10`, true},
		"range outside":            {`{range: [1, 10]}`, `11`, false},
		"range numeric string":     {`{range: [1, 10]}`, `"3"`, true},
		"range not a number":       {`{range: [1, 10]}`, `"many"`, false},
		"min only":                 {`{min: 1}`, `0.5`, false},
		"max only":                 {`{max: 24}`, `3`, true},
		"min and max":              {`{min: 1, max: 2}`, `1.5`, true},
		"subset list":              {`{subset: [crash]}`, `["roadworks","crash"]`, true},
		"subset list missing":      {`{subset: [crash, fire]}`, `["crash"]`, false},
		"subset object":            {`{subset: {a: 1}}`, `{"a":1,"b":2}`, true},
		"subset object differs":    {`{subset: {a: 1}}`, `{"a":2}`, false},
		"absent and absent":        {`{absent: true}`, ``, true},
		"absent but given":         {`{absent: true}`, `"x"`, false},
		"present required":         {`{absent: false}`, `null`, true},
		"present required, absent": {`{absent: false}`, ``, false},
		"nested object":            {`{window: {hours: {min: 1}}}`, `{"window":{"hours":3},"x":1}`, true},
		"nested object fails":      {`{window: {hours: {min: 4}}}`, `{"window":{"hours":3}}`, false},
		"nested on a string":       {`{window: {hours: 1}}`, `"x"`, false},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			var n yaml.Node
			if err := yaml.Unmarshal([]byte(tc.matcher), &n); err != nil {
				t.Fatal(err)
			}
			m, err := parseMatcher(n.Content[0])
			if err != nil {
				t.Fatal(err)
			}
			var v any
			present := tc.value != ""
			if present {
				if err := json.Unmarshal([]byte(tc.value), &v); err != nil {
					t.Fatal(err)
				}
			}
			got, why := m.Match(v, present)
			if got != tc.want {
				t.Errorf("Match(%s) = %v (%s), want %v", tc.value, got, why, tc.want)
			}
			if !got && why == "" {
				t.Error("a failed match must say why")
			}
		})
	}
}

func TestNormalize(t *testing.T) {
	tests := map[string]struct{ text, needle string }{
		"full-width digits":             {"共有１２个路段", "12个路段"},
		"full-width needle":             {"共有12个路段", "１２个路段"},
		"thousands separator":           {"负荷预计为6,850兆瓦", "6850兆瓦"},
		"thousands in needle":           {"population 860000", "860,000"},
		"full-width comma as separator": {"负荷６，８５０兆瓦", "6850兆瓦"},
		"several groups":                {"1,234,567 vehicles", "1234567 vehicles"},
		"case":                          {"Congestion Index 1.4", "congestion index"},
		"full-width letters":            {"ＳＯＳ hotline", "sos"},
		"white space":                   {"index\n\t 1.4", "index 1.4"},
		"full-width percent":            {"占比１１％", "11%"},
		"ideographic space":             {"人民路\u3000拥堵", "人民路 拥堵"},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			if !Contains(tc.text, tc.needle) {
				t.Errorf("Contains(%q, %q) = false; normalised %q and %q", tc.text, tc.needle, Normalize(tc.text), Normalize(tc.needle))
			}
		})
	}
	notSame := map[string]struct{ text, needle string }{
		"list of numbers keeps commas": {"stops 1,2,3", "123"},
		"decimal is not grouping":      {"index 1,5", "15"},
		"four digits after comma":      {"code 1,2345", "12345"},
	}
	for name, tc := range notSame {
		t.Run(name, func(t *testing.T) {
			if Contains(tc.text, tc.needle) {
				t.Errorf("Contains(%q, %q) = true, want false", tc.text, tc.needle)
			}
		})
	}
}

func TestLanguage(t *testing.T) {
	tests := map[string]string{
		"Which road is the most congested?":                      "en",
		"现在哪些路段最拥堵？":                                             "zh",
		"路段S125的实时情况怎么样？":                                        "zh",
		"What does 拥堵指数 mean for Renmin Road traffic right now?": "en",
		"": "en",
		"Permit Rules and Fees / 许可办理规则与收费标准 — the fee is 8 yuan per square metre per day on arterial roads.": "en",
		"文档摘录：「| Road occupation permit | 临时占用道路许可 | 5 working days |」":                                       "zh",
	}
	for text, want := range tests {
		if got := Language(text); got != want {
			t.Errorf("Language(%q) = %s, want %s", text, got, want)
		}
	}
}

func TestParseVerdict(t *testing.T) {
	tests := map[string]struct {
		text string
		pass bool
		err  bool
	}{
		"json pass":        {`{"pass": true, "reason": "names the segment"}`, true, false},
		"json fail":        {`{"pass": false, "reason": "no number"}`, false, false},
		"json in prose":    {"Here is my verdict:\n```json\n{\"pass\": true, \"reason\": \"ok\"}\n```", true, false},
		"word PASS":        {"PASS - the answer cites the rule", true, false},
		"word fail":        {"fail: it invents a number", false, false},
		"unreadable":       {"I think it is mostly fine", false, true},
		"json without key": {`{"verdict": "yes"}`, false, true},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			pass, why, err := parseVerdict(tc.text)
			if (err != nil) != tc.err || pass != tc.pass {
				t.Errorf("parseVerdict = %v, %q, %v", pass, why, err)
			}
		})
	}
}
