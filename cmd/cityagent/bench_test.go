package main

import (
	"io"
	"net/http"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"
)

// BenchmarkChatTurnHTTP measures whole chat turns over HTTP on the embedded
// default: auth, session write, retrieval over the demo documents, one
// traffic tool call, the offline engine, and the recorded events.
// Run with: go test -run '^$' -bench ChatTurnHTTP -benchtime 2000x ./cmd/cityagent
func BenchmarkChatTurnHTTP(b *testing.B) {
	in := startServe(b, b.TempDir())
	key := in.admin
	client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 128}}
	body := `{"message":"Which road segments are the most congested right now?"}`
	var mu sync.Mutex
	var lat []time.Duration
	b.SetParallelism(32) // 64 concurrent clients on 2 cores
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		var mine []time.Duration
		for pb.Next() {
			req, _ := http.NewRequest("POST", in.base+"/v1/agents/traffic/chat", strings.NewReader(body))
			req.Header.Set("Authorization", "Bearer "+key)
			req.Header.Set("Content-Type", "application/json")
			start := time.Now()
			resp, err := client.Do(req)
			if err != nil {
				b.Error(err)
				return
			}
			_, _ = io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
			if resp.StatusCode != 200 {
				b.Errorf("status %d", resp.StatusCode)
				return
			}
			mine = append(mine, time.Since(start))
		}
		mu.Lock()
		lat = append(lat, mine...)
		mu.Unlock()
	})
	b.StopTimer()
	slices.Sort(lat)
	if len(lat) > 0 {
		b.ReportMetric(float64(lat[len(lat)/2].Microseconds())/1000, "p50_ms")
		b.ReportMetric(float64(lat[len(lat)*99/100].Microseconds())/1000, "p99_ms")
		b.ReportMetric(float64(len(lat))/b.Elapsed().Seconds(), "turns/s")
	}
}
