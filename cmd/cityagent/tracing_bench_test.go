package main

import (
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"syscall"
	"testing"
	"time"
)

// processCPU is the CPU time (user + system) the process has used.
func processCPU(b *testing.B) time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		b.Fatal(err)
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// BenchmarkChatTurnTracing measures one chat turn at a time over HTTP on
// the embedded default (as BenchmarkChatTurnHTTP, without concurrency),
// with tracing off and on, so that the cost of tracing is measured where
// it is paid. "on" exports every span over OTLP/HTTP to a sink that
// discards it (a collector's cost is not ours). allocs/op and cpu-ns/op
// (CPU time per turn) count the whole process: client, server and
// exporter; ns/op is mostly the wait for the store's group commit.
// Run with: go test -run '^$' -bench ChatTurnTracing -benchtime 2000x ./cmd/cityagent
func BenchmarkChatTurnTracing(b *testing.B) {
	sink := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.Copy(io.Discard, r.Body)
		w.Header().Set("Content-Type", "application/x-protobuf")
	}))
	defer sink.Close()
	for _, tc := range []struct{ name, endpoint string }{{"off", ""}, {"on", sink.URL}} {
		b.Run(tc.name, func(b *testing.B) {
			b.Setenv("OTEL_EXPORTER_OTLP_ENDPOINT", tc.endpoint)
			in := startServe(b, b.TempDir())
			client := &http.Client{}
			body := `{"message":"Which road segments are the most congested right now?"}`
			b.ReportAllocs()
			b.ResetTimer()
			cpu := processCPU(b)
			for range b.N {
				req, _ := http.NewRequest("POST", in.base+"/v1/agents/traffic/chat", strings.NewReader(body))
				req.Header.Set("Authorization", "Bearer "+in.admin)
				req.Header.Set("Content-Type", "application/json")
				resp, err := client.Do(req)
				if err != nil {
					b.Fatal(err)
				}
				_, _ = io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
				if resp.StatusCode != 200 {
					b.Fatalf("status %d", resp.StatusCode)
				}
			}
			b.StopTimer()
			b.ReportMetric(float64(processCPU(b)-cpu)/float64(b.N), "cpu-ns/op")
			in.stop()
		})
	}
}
