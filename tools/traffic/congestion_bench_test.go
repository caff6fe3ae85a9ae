package traffic_test

import (
	"context"
	"encoding/json"
	"testing"
	"time"

	"github.com/cityagent/cityagent/democity"
	"github.com/cityagent/cityagent/tools/citytool/citytooltest"
	"github.com/cityagent/cityagent/tools/traffic"
)

// BenchmarkCongestion measures one traffic_congestion call over the demo
// city as a busy server makes it: the wall clock, so calls within the same
// second share the city's snapshot, and the default top 5.
// Run with: go test -run '^$' -bench Congestion -benchmem ./tools/traffic/
func BenchmarkCongestion(b *testing.B) {
	for _, bc := range []struct {
		name  string
		clock func() time.Time
	}{
		{"wallclock", time.Now},
		// A clock that moves a second per call: every call observes anew.
		{"every-call-a-new-second", steppingClock(now, time.Second)},
	} {
		b.Run(bc.name, func(b *testing.B) {
			c := democity.New(democity.DefaultSeed, bc.clock)
			tl := citytooltest.ByName(traffic.Tools(c, bc.clock))[traffic.NameCongestion]
			args := json.RawMessage(`{}`)
			ctx := context.Background()
			b.ReportAllocs()
			for b.Loop() {
				if _, err := tl.Call(ctx, args); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// steppingClock starts at t and moves by step on every call. It is for one
// goroutine.
func steppingClock(t time.Time, step time.Duration) func() time.Time {
	return func() time.Time {
		t = t.Add(step)
		return t
	}
}
