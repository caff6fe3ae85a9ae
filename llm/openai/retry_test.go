package openai

import (
	"math/rand/v2"
	"net/http"
	"strings"
	"testing"
	"time"
)

func TestBackoff(t *testing.T) {
	low := func(int64) int64 { return 0 }
	high := func(n int64) int64 { return n - 1 }
	tests := map[string]struct {
		n      int
		jitter func(int64) int64
		want   time.Duration
	}{
		"first retry, least jitter": {1, low, 50 * time.Millisecond},
		"first retry, most jitter":  {1, high, 100 * time.Millisecond},
		"third retry, least jitter": {3, low, 200 * time.Millisecond},
		"third retry, most jitter":  {3, high, 400 * time.Millisecond},
		"capped, least jitter":      {10, low, 500 * time.Millisecond},
		"capped, most jitter":       {10, high, time.Second},
		"huge n does not overflow":  {1000, high, time.Second},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			if got := backoff(tc.n, 100*time.Millisecond, time.Second, tc.jitter); got != tc.want {
				t.Errorf("backoff(%d) = %v, want %v", tc.n, got, tc.want)
			}
		})
	}
}

// TestBackoffJitters checks that the real jitter source spreads waits over
// [d/2, d], so that clients failing together do not retry together.
func TestBackoffJitters(t *testing.T) {
	const d = time.Second
	seen := map[time.Duration]bool{}
	for range 200 {
		got := backoff(1, d, time.Minute, rand.Int64N)
		if got < d/2 || got > d {
			t.Fatalf("backoff = %v, outside [%v, %v]", got, d/2, d)
		}
		seen[got] = true
	}
	if len(seen) < 100 {
		t.Errorf("only %d distinct waits in 200 draws", len(seen))
	}
}

func TestRetryAfter(t *testing.T) {
	now := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	tests := map[string]struct {
		header map[string]string
		want   time.Duration
		ok     bool
	}{
		"absent":                {header: nil},
		"seconds":               {header: map[string]string{"Retry-After": "2"}, want: 2 * time.Second, ok: true},
		"fractional seconds":    {header: map[string]string{"Retry-After": "0.25"}, want: 250 * time.Millisecond, ok: true},
		"milliseconds win":      {header: map[string]string{"Retry-After": "2", "Retry-After-Ms": "150"}, want: 150 * time.Millisecond, ok: true},
		"bad ms falls back":     {header: map[string]string{"Retry-After": "3", "Retry-After-Ms": "soon"}, want: 3 * time.Second, ok: true},
		"http date":             {header: map[string]string{"Retry-After": now.Add(90 * time.Second).Format(http.TimeFormat)}, want: 90 * time.Second, ok: true},
		"http date in the past": {header: map[string]string{"Retry-After": now.Add(-time.Hour).Format(http.TimeFormat)}, want: 0, ok: true},
		"negative":              {header: map[string]string{"Retry-After": "-1"}},
		"garbage":               {header: map[string]string{"Retry-After": "later"}},
		"absurdly large":        {header: map[string]string{"Retry-After": "1e300"}},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			h := http.Header{}
			for k, v := range tc.header {
				h.Set(k, v)
			}
			got, ok := retryAfter(h, now)
			if got != tc.want || ok != tc.ok {
				t.Errorf("retryAfter = %v, %v; want %v, %v", got, ok, tc.want, tc.ok)
			}
		})
	}
}

func TestTruncate(t *testing.T) {
	long := strings.Repeat("拥", 100) // 300 bytes
	got := truncate(long)
	if !strings.HasSuffix(got, "…") || len(got) > maxMessage+len("…") || !strings.HasPrefix(long, strings.TrimSuffix(got, "…")) {
		t.Errorf("truncate gave %q", got)
	}
	if got := truncate("  short  "); got != "short" {
		t.Errorf("truncate(short) = %q", got)
	}
}
