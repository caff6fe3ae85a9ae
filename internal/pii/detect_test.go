package pii

import (
	"strings"
	"testing"
)

func TestFind(t *testing.T) {
	tests := map[string]struct {
		in   string
		want []Finding // Kind, Text, Masked
	}{
		"mobile plain":          {"我的电话13812345678，请回电", []Finding{{Kind: Mobile, Text: "13812345678", Masked: "138****5678"}}},
		"mobile spaced":         {"call 138 1234 5678 please", []Finding{{Kind: Mobile, Text: "138 1234 5678", Masked: "138****5678"}}},
		"mobile dashed":         {"手机：139-0011-2233。", []Finding{{Kind: Mobile, Text: "139-0011-2233", Masked: "139****2233"}}},
		"mobile +86":            {"+86 186 0000 1111", []Finding{{Kind: Mobile, Text: "+86 186 0000 1111", Masked: "+86 186****1111"}}},
		"mobile +86 glued":      {"tel:+8615900001111", []Finding{{Kind: Mobile, Text: "+8615900001111", Masked: "+86 159****1111"}}},
		"mobile (+86)":          {"(+86) 17712345678", []Finding{{Kind: Mobile, Text: "(+86) 17712345678", Masked: "+86 177****5678"}}},
		"mobile ascii colon":    {"phone:13812345678", []Finding{{Kind: Mobile, Text: "13812345678", Masked: "138****5678"}}},
		"landline beijing":      {"座机010-65123456", []Finding{{Kind: Landline, Text: "010-65123456", Masked: "010-******56"}}},
		"landline paren":        {"(021) 6512 3456", []Finding{{Kind: Landline, Text: "(021) 6512 3456", Masked: "021-******56"}}},
		"landline 4-digit area": {"0755-8888 9999 找我", []Finding{{Kind: Landline, Text: "0755-8888 9999", Masked: "0755-******99"}}},
		"landline +86":          {"+86 10 6512 3456", []Finding{{Kind: Landline, Text: "+86 10 6512 3456", Masked: "010-******56"}}},
		"id 18":                 {"身份证号310115198511110519。", []Finding{{Kind: IDCard, Text: "310115198511110519", Masked: "3101**********0519"}}},
		"id 18 X":               {"ID 11010519491231002X ok", []Finding{{Kind: IDCard, Text: "11010519491231002X", Masked: "1101**********002X"}}},
		"id 18 lower x":         {"证件 11010519491231002x", []Finding{{Kind: IDCard, Text: "11010519491231002x", Masked: "1101**********002x"}}},
		"id 15":                 {"老身份证110105491231002", []Finding{{Kind: IDCard, Text: "110105491231002", Masked: "1101*******1002"}}},
		"plate":                 {"车牌京A12345的车堵门", []Finding{{Kind: Plate, Text: "京A12345", Masked: "京A***45"}}},
		"plate new energy":      {"粤B·D12345 停在消防通道", []Finding{{Kind: Plate, Text: "粤B·D12345", Masked: "粤B****45"}}},
		"plate new energy tail": {"沪A12345F", []Finding{{Kind: Plate, Text: "沪A12345F", Masked: "沪A****5F"}}},
		"plate trailer":         {"鲁B1234挂", []Finding{{Kind: Plate, Text: "鲁B1234挂", Masked: "鲁B***4挂"}}},
		"plate english":         {"a car with licence plate ABC 1234 blocks the ramp", []Finding{{Kind: Plate, Text: "ABC 1234", Masked: "A****34"}}},
		"plate english is":      {"the plate number is 7XYZ123.", []Finding{{Kind: Plate, Text: "7XYZ123", Masked: "7****23"}}},
		"us phone":              {"Call me at (415) 555-2671.", []Finding{{Kind: Phone, Text: "(415) 555-2671", Masked: "***-***-2671"}}},
		"us phone dashes":       {"415-555-2671", []Finding{{Kind: Phone, Text: "415-555-2671", Masked: "***-***-2671"}}},
		"us phone +1":           {"+1 415 555 2671", []Finding{{Kind: Phone, Text: "+1 415 555 2671", Masked: "***-***-2671"}}},
		"uk phone":              {"ring +44 20 7946 0958 today", []Finding{{Kind: Phone, Text: "+44 20 7946 0958", Masked: "+44 ****0958"}}},
		"email":                 {"mail zhang.san@example.com now", []Finding{{Kind: Email, Text: "zhang.san@example.com", Masked: "z***@example.com"}}},
		"email with digits":     {"13812345678@qq.com", []Finding{{Kind: Email, Text: "13812345678@qq.com", Masked: "1***@qq.com"}}},
		"name zh":               {"您好，我叫王小明，家住…", []Finding{{Kind: Name, Text: "王小明", Masked: "王**"}}},
		"name field":            {"姓名：欧阳娜娜 电话：无", []Finding{{Kind: Name, Text: "欧阳娜娜", Masked: "欧***"}}},
		"name en":               {"Hello, my name is Jane Doe and", []Finding{{Kind: Name, Text: "Jane Doe", Masked: "J******"}}},
		"two numbers": {"13812345678 010-65123456", []Finding{
			{Kind: Mobile, Text: "13812345678", Masked: "138****5678"}, {Kind: Landline, Text: "010-65123456", Masked: "010-******56"}}},
		"fullwidth punctuation": {"电话：15012345678；身份证：310115198511110519", []Finding{
			{Kind: Mobile, Text: "15012345678", Masked: "150****5678"}, {Kind: IDCard, Text: "310115198511110519", Masked: "3101**********0519"}}},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			got := Find(tc.in)
			if len(got) != len(tc.want) {
				t.Fatalf("Find(%q) = %+v, want %d findings", tc.in, got, len(tc.want))
			}
			for i, w := range tc.want {
				g := got[i]
				if g.Kind != w.Kind || g.Text != w.Text || g.Masked != w.Masked || tc.in[g.Start:g.End] != g.Text {
					t.Errorf("finding %d = %+v, want %+v", i, g, w)
				}
			}
		})
	}
}

// TestFindNearMisses: identifiers, dates, amounts and coordinates of this
// project's own output, and numbers one step away from personal data.
func TestFindNearMisses(t *testing.T) {
	for name, in := range map[string]string{
		"ticket id":           "tkt_13812345678abcd",
		"ticket id hex":       "工单号tkt_9f86d081884c7d65",
		"token":               "tok_138123456789012345678901",
		"permit id":           "BP-20250603-04",
		"permit id numeric":   "BP-13812345678",
		"segment":             "S012 and S001 congested",
		"proposal id":         "prop_01J9Z3K5X8N7",
		"date":                "2026-03-01 10:00",
		"date compact":        "20260301",
		"datetime zh":         "2026年3月1日13:45",
		"nanos":               "1764645435123456789",
		"unix seconds":        "1764645435",
		"amount":              "罚款13800元，合计1,380,000.50",
		"amount 11 digits":    "¥12812345678",
		"coordinates":         "39.9042, 116.4074",
		"coordinates precise": "116.13812345678,39.13912345678",
		"10 digits":           "1381234567",
		"12 digits":           "138123456789",
		"second digit 2":      "12812345678",
		"id bad check":        "310115198511110518",
		"id bad date":         "310115198513110519",
		"id bad region":       "990115198511110519",
		"id in hex":           "a310115198511110519b",
		"plate short":         "京A1234",
		"plate letter I":      "京I12345",
		"plate letters":       "京ABCDEF",
		"plate 6 regular":     "京A123456",
		"plate too long":      "京A1234567",
		"english no keyword":  "ABC 1234 is the form number",
		"english plate word":  "the plate was dirty",
		"sha256":              "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08",
		"version":             "v1.13.812345678",
		"percent":             "13812345678%",
		"url path":            "/v1/hotline/tickets/13812345678",
		"query":               "id=13812345678",
		"decimal":             "13812345678.25",
		"masked already":      "138****5678 3101**********0519 京A***45 z***@example.com 010-******56 ***-***-2671",
		"ordinal 400 number":  "服务热线400-123-4567",
		"short intl":          "+44 1234",
		"name not introduced": "我是业主，王先生说会来修",
		"name lower case":     "my name is unknown",
	} {
		t.Run(name, func(t *testing.T) {
			if got := Find(in); len(got) != 0 {
				t.Errorf("Find(%q) = %+v, want nothing", in, got)
			}
		})
	}
}

func TestMask(t *testing.T) {
	in := "我叫张三，电话13812345678，身份证310115198511110519，车牌京A12345。Email me: zs@example.com"
	want := "我叫张*，电话138****5678，身份证3101**********0519，车牌京A***45。Email me: z***@example.com"
	if got := Mask(in); got != want {
		t.Errorf("Mask =\n%s\nwant\n%s", got, want)
	}
	if got := Mask(want); got != want {
		t.Errorf("Mask is not idempotent: %s", got)
	}
	if Mask("没有个人信息 2026-03-01") != "没有个人信息 2026-03-01" {
		t.Error("text without personal data changed")
	}
}

func TestMaskFields(t *testing.T) {
	tests := map[string]struct{ got, want string }{
		"phone mobile":   {MaskPhone(" 13812345678 "), "138****5678"},
		"phone us":       {MaskPhone("(415) 555-2671"), "***-***-2671"},
		"phone other":    {MaskPhone("12345-678"), "123***78"},
		"phone short":    {MaskPhone("110"), "***"},
		"name zh":        {MaskName("张三丰"), "张**"},
		"name one rune":  {MaskName("王"), "王*"},
		"name en":        {MaskName("John Smith"), "J******"},
		"email":          {MaskEmail("li@example.org"), "l***@example.org"},
		"email no at":    {MaskEmail("nope"), "****"},
		"id":             {MaskID("310115198511110519"), "3101**********0519"},
		"account":        {MaskAccount("acct-778899"), "ac*******99"},
		"account short":  {MaskAccount("abc"), "***"},
		"middle unicode": {MaskMiddle("北京市朝阳区", 1, 1), "北****区"},
	}
	for name, tc := range tests {
		if tc.got != tc.want {
			t.Errorf("%s: got %q, want %q", name, tc.got, tc.want)
		}
	}
}

func TestValidID18(t *testing.T) {
	for _, id := range []string{"310115198511110519", "11010519491231002X", "44030419900307123X", "11010119900307651X"} {
		if !ValidID18(id) {
			t.Errorf("%s should be valid", id)
		}
	}
	// Every other last character fails the check digit.
	for _, c := range "0123456789X" {
		id := "31011519851111051" + string(c)
		if got := ValidID18(id); got != (c == '9') {
			t.Errorf("ValidID18(%s) = %v", id, got)
		}
	}
	if ValidID18("310115190002290519") { // 1900 was not a leap year
		t.Error("29 Feb 1900 accepted")
	}
}

func FuzzMask(f *testing.F) {
	for _, s := range []string{"我的电话13812345678", "粤B·D12345", "310115198511110519", "(415) 555-2671", "a@b.co", "+44 20 7946 0958",
		"licence plate ABC 1234", "tkt_13812345678", "0755-8888 9999", strings.Repeat("1", 40), "\xff\xfe138"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		fs := Find(s)
		last := 0
		for _, x := range fs {
			if x.Start < last || x.End <= x.Start || x.End > len(s) || s[x.Start:x.End] != x.Text || x.Masked == "" {
				t.Fatalf("bad finding %+v in %q", x, s)
			}
			last = x.End
		}
		m := Mask(s)
		for _, x := range Find(m) {
			// What masking leaves must not be personal data of the kinds
			// masking hides digits of.
			if x.Kind == Mobile || x.Kind == IDCard {
				t.Fatalf("Mask(%q) = %q still holds %+v", s, m, x)
			}
		}
		if len(fs) == 0 && m != s {
			t.Fatalf("Mask changed %q without findings", s)
		}
	})
}

// An 18-character number that a keyword names as an ID number is masked
// even with a wrong check digit; without the keyword it is not personal
// data (an order number, a serial).
func TestFindNamedID(t *testing.T) {
	const wrong = "420106199003077210"
	if ValidID18(wrong) {
		t.Fatalf("%s has a valid check digit; pick another", wrong)
	}
	for _, in := range []string{"身份证号" + wrong + "，请核实", "身份证：" + wrong, "我的身份证号码是 " + wrong, "my ID number is " + wrong, "ID no. " + wrong} {
		fs := Find(in)
		if len(fs) != 1 || fs[0].Kind != IDCard || fs[0].Text != wrong || fs[0].Masked != MaskID(wrong) {
			t.Errorf("%q: %+v", in, fs)
		}
	}
	for _, in := range []string{"订单号" + wrong, "serial " + wrong, wrong} {
		if fs := Find(in); len(fs) != 0 {
			t.Errorf("%q: %+v", in, fs)
		}
	}
}
