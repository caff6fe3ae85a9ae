package ngsild_test

import (
	"encoding/json"
	"testing"
	"time"

	"github.com/cityagent/cityagent/tools/sources/ngsild"
)

// FuzzDateObserved: whatever a broker writes in dateObserved, reading it
// never panics and an interval read is never backwards.
func FuzzDateObserved(f *testing.F) {
	for _, s := range []string{`"2016-12-07T11:10:00/2016-12-07T11:15:00"`, `{"@type":"DateTime","@value":"2016-12-07T11:10:00Z"}`,
		`{"type":"DateTime","value":"2020-03-17TT08:45:00Z"}`, `"2016-12-07T11:10:00Z/PT5M"`, `"PT15M/2016-12-07T11:15:00"`,
		`{"type":"Property","value":"2016-12-07T11:15:00/2016-12-07T11:10:00"}`, `[{"type":"Property","value":"2025-01-01T00:00:00Z","observedAt":"x"}]`, `42`} {
		f.Add(s)
	}
	loc := time.FixedZone("X", 3600)
	f.Fuzz(func(t *testing.T, attr string) {
		var e ngsild.Entity
		if json.Unmarshal([]byte(`{"id":"urn:x:1","type":"TrafficFlowObserved","dateObserved":`+attr+`}`), &e) != nil {
			return
		}
		from, to, ok := e.IntervalIn("dateObserved", loc)
		if ok && to.Before(from) {
			t.Errorf("%s read as %s–%s", attr, from, to)
		}
		_, _ = e.Time("dateObserved")
	})
}
