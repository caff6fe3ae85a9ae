package httptool

import (
	"encoding/json"
	"fmt"
	"math"
	"math/big"

	"github.com/google/jsonschema-go/jsonschema"
)

// intRanges are the integer formats whose bounds are checked on the exact
// JSON text: the schema validator compares float64s, which cannot tell
// 9223372036854775807 from 9223372036854775808.
var intRanges = map[string][2]*big.Int{
	"int32": {big.NewInt(math.MinInt32), big.NewInt(math.MaxInt32)},
	"int64": {big.NewInt(math.MinInt64), big.NewInt(math.MaxInt64)},
}

// outOfRange finds a number out of its integer format's range in v, the
// value of schema s, and says which; "" when none is.
func outOfRange(s *jsonschema.Schema, v any, at string) string {
	if s == nil {
		return ""
	}
	switch x := v.(type) {
	case json.Number:
		r, ok := intRanges[s.Format]
		if !ok {
			return ""
		}
		f, _, err := big.ParseFloat(x.String(), 10, 256, big.ToNearestEven)
		if err != nil {
			return ""
		}
		if i, acc := f.Int(nil); acc != big.Exact || i.Cmp(r[0]) < 0 || i.Cmp(r[1]) > 0 {
			return fmt.Sprintf("%s: %s is not an %s (%s to %s)", at, x, s.Format, r[0], r[1])
		}
	case map[string]any:
		for k, it := range x {
			if msg := outOfRange(s.Properties[k], it, at+"."+k); msg != "" {
				return msg
			}
		}
	case []any:
		for i, it := range x {
			if msg := outOfRange(s.Items, it, fmt.Sprintf("%s[%d]", at, i)); msg != "" {
				return msg
			}
		}
	}
	return ""
}
