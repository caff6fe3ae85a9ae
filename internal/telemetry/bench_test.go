package telemetry_test

import (
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/cityagent/cityagent/internal/telemetry"
)

// BenchmarkSpans measures what tracing costs per request and per span, off
// and on (on: exporting to an OTLP/HTTP sink through the batch processor).
// A turn on the demo traffic agent starts about a dozen spans.
// Run with: go test -run '^$' -bench Spans ./internal/telemetry
func BenchmarkSpans(b *testing.B) {
	sink := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { _, _ = io.Copy(io.Discard, r.Body) }))
	defer sink.Close()
	on, err := telemetry.Setup(telemetry.Config{Endpoint: sink.URL + "/v1/traces", ServiceName: "bench"})
	if err != nil {
		b.Fatal(err)
	}
	defer on.Shutdown(context.Background())
	for _, tc := range []struct {
		name string
		p    *telemetry.Provider
	}{{"off", nil}, {"on", on}} {
		b.Run("request/"+tc.name, func(b *testing.B) {
			b.ReportAllocs()
			for range b.N {
				ctx, s := tc.p.StartServer(context.Background(), "", "", "POST /v1/agents/:agent/chat")
				_ = telemetry.TraceID(ctx)
				s.End()
			}
		})
		ctx, root := tc.p.StartServer(context.Background(), "", "", "root")
		b.Run("span/"+tc.name, func(b *testing.B) {
			b.ReportAllocs()
			for range b.N {
				_, s := telemetry.Start(ctx, telemetry.OpExecuteTool, "traffic_congestion")
				s.Str(telemetry.AttrToolName, "traffic_congestion")
				s.Int(telemetry.AttrInputTokens, 100)
				s.End()
			}
		})
		root.End()
	}
}
