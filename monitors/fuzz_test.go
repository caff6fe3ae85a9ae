package monitors_test

import (
	"encoding/json"
	"testing"

	"github.com/cityagent/cityagent/monitors"
)

// FuzzParse: any file either parses into a monitor whose selectors run on
// any JSON without panicking, or is refused with an error.
func FuzzParse(f *testing.F) {
	f.Add([]byte("name: a\ntitle: A\ntitle_zh: 甲\ntool: t\nselect: \"$.x[*]\"\nsubject: \"$.id\"\nvalue: \"$.v\"\ncondition: \"> 1\"\nseverity: info\n"), []byte(`{"x":[{"id":"a","v":2}]}`))
	f.Add([]byte("name: b\ntitle: B\ntitle_zh: 乙\ntool: t\nvalue: \"$[-1]\"\ncondition: \"!=0\"\nseverity: critical\nwhere: {\"$.k\": z}\n"), []byte(`[1,2,3]`))
	f.Add([]byte(":\n- ["), []byte(`null`))
	f.Fuzz(func(t *testing.T, file, result []byte) {
		m, err := monitors.Parse(file, "fuzz.yaml")
		if err != nil {
			return
		}
		if !json.Valid(result) {
			return
		}
		obs, _, err := m.Observe(result)
		if err != nil {
			t.Fatalf("valid JSON refused: %v", err)
		}
		for _, o := range obs {
			if o.Subject == "" {
				t.Fatalf("empty subject from %s", result)
			}
		}
	})
}
