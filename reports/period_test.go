package reports

import (
	"errors"
	"testing"
	"time"
)

// FuzzParseRange: any pair of bounds gives either a RangeError or a
// non-empty range of at most MaxRange; never a panic.
func FuzzParseRange(f *testing.F) {
	for _, s := range [][2]string{{"", ""}, {"2026-11-01", "2026-11-07"}, {"2026-11-01T00:00:00Z", "2026-11-02T00:00:00+08:00"},
		{"2026-02-30", ""}, {"9999-12-31", ""}, {"", "0001-01-01"}, {"2026-11-01T00:00:00.999999999-23:59", "2027-11-01"}} {
		f.Add(s[0], s[1])
	}
	loc, _ := time.LoadLocation("Asia/Shanghai")
	svc := &Service{Location: loc, Now: func() time.Time { return time.Date(2026, 12, 2, 3, 0, 0, 0, time.UTC) }}
	f.Fuzz(func(t *testing.T, from, to string) {
		a, b, err := svc.ParseRange(from, to)
		var re *RangeError
		switch {
		case err != nil && !errors.As(err, &re):
			t.Fatalf("error %v is not a RangeError", err)
		case err != nil && (re.Field != "from" && re.Field != "to" || re.Message == ""):
			t.Fatalf("range error %+v", re)
		case err == nil && (!a.Before(b) || b.Sub(a) > MaxRange):
			t.Fatalf("accepted %s – %s", a, b)
		}
	})
}
