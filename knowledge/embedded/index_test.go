package embedded

import (
	"math"
	"testing"
	"time"

	"github.com/cityagent/cityagent/access"
)

func TestLevelsMatchClearances(t *testing.T) {
	if levels != len(access.Clearances) {
		t.Fatalf("levels = %d, access has %d clearances", levels, len(access.Clearances))
	}
	for i, c := range access.Clearances {
		if c.Rank() != i {
			t.Fatalf("%s ranks %d, want %d", c, c.Rank(), i)
		}
	}
}

func TestNanosClamps(t *testing.T) {
	if nanos(time.Date(9999, 12, 31, 0, 0, 0, 0, time.UTC)) != math.MaxInt64 || nanos(time.Time{}) != math.MinInt64 {
		t.Fatal("out-of-range times are not clamped")
	}
	now := time.Now()
	if nanos(now) != now.UnixNano() {
		t.Fatal("in-range time changed")
	}
}
