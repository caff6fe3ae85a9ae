package pii

import (
	"strings"
	"testing"
)

// BenchmarkMask: a request of the longest size the hotline accepts
// (4000 characters), of text with personal data, and of digits only (the
// worst case for candidates that are rejected at their boundaries).
func BenchmarkMask(b *testing.B) {
	text := strings.Repeat("我叫王小明，电话13912345678，车牌京A12345，工单tkt_9f86d081884c7d65，2026-03-01 金额1,380.50元。", 60)
	for name, s := range map[string]string{"text": firstRunes(text, 4000), "digits": strings.Repeat("1", 4000), "log line": "request path=/v1/hotline/tickets/tkt_9f86d081884c7d65 status=201"} {
		b.Run(name, func(b *testing.B) {
			b.SetBytes(int64(len(s)))
			for b.Loop() {
				Mask(s)
			}
		})
	}
}

func firstRunes(s string, n int) string {
	r := []rune(s)
	return string(r[:min(n, len(r))])
}
