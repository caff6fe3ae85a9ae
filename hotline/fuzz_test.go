package hotline

import (
	"net/url"
	"testing"
	"unicode/utf8"
)

// FuzzClassify: any text classifies to values of the taxonomy, without
// panicking.
func FuzzClassify(f *testing.F) {
	for _, s := range []string{"停水了", "路等坏了！！", "ＩＮＱＵＩＲＹ？", "工地+晚上", "+", "a+", "", "the the the", "\xff\xfe", "井盖不见了 manhole missing"} {
		f.Add(s)
	}
	tax := DefaultTaxonomy()
	c := NewClassifier(tax)
	f.Fuzz(func(t *testing.T, s string) {
		r := c.Classify(s)
		cat, ok := tax.Category(r.Category)
		if _, tok := tax.Type(r.Type); !tok || !ok || !cat.Owns(r.Department) {
			t.Fatalf("Classify(%q) = %+v", s, r)
		}
		if _, ok := tax.Urgency(r.Urgency); !ok {
			t.Fatalf("urgency %q", r.Urgency)
		}
		d := c.decide(s, &TriageArgs{Type: "praise", Category: "020201", Department: "water", Urgency: "emergency", Reply: s}, r, "")
		if _, ok := tax.Category(d.Category); !ok || d.Department == "" {
			t.Fatalf("decide(%q) = %+v", s, d)
		}
		if utf8.ValidString(s) && d.Reply != "" && replyProblem(d.Reply, r.Lang) != "" {
			t.Fatalf("a refused reply was kept: %q", d.Reply)
		}
	})
}

// FuzzParseOpen311Post: any form either parses into a post with a service
// code and a location, or is refused with an InputError.
func FuzzParseOpen311Post(f *testing.F) {
	for _, s := range []string{"service_code=030101&lat=1&long=2", "service_code=020201&address_string=x&attribute[pole_number]=1",
		"lat=1", "service_code=1&lat=a&long=b", "attribute[]=x&service_code=1&address_id=2", "service_code=1&service_code=2&address_id=1"} {
		f.Add(s)
	}
	tax := DefaultTaxonomy()
	f.Fuzz(func(t *testing.T, s string) {
		form, err := url.ParseQuery(s)
		if err != nil {
			return
		}
		p, err := ParseOpen311Post(form)
		if err != nil {
			if _, ok := err.(*InputError); !ok {
				t.Fatalf("error %T %v", err, err)
			}
			return
		}
		if p.ServiceCode == "" || (p.Lat == nil && p.Address == "" && p.AddressID == "") {
			t.Fatalf("accepted %q as %+v", s, p)
		}
		if attrs, err := tax.CheckAttributes(p.ServiceCode, p.Attributes); err == nil {
			req, _ := p.CreateRequest(tax, attrs)
			if req.Text == "" {
				t.Fatalf("no text for %q", s)
			}
		}
	})
}
