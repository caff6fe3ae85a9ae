package main

import (
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/cityagent/cityagent/internal/telemetry/otlptest"
	"github.com/cityagent/cityagent/llm/openaitest"
)

// A registered HTTP tool that answers 500: its execute_tool span has
// error.type "500", and the exception event keeps no more of the tool's
// error body than the ChatResult does, with personal data masked.
func TestTracingFailedHTTPTool(t *testing.T) {
	rcv := otlptest.Start(t)
	t.Setenv("OTEL_EXPORTER_OTLP_ENDPOINT", rcv.BaseURL())
	const phone = "13812345678"
	tool := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		http.Error(w, "mobile "+phone+" (on-call engineer Li): sensor gateway down. "+strings.Repeat("stack frame … ", 40), http.StatusInternalServerError)
	}))
	defer tool.Close()
	modelSrv := httptest.NewServer(openaitest.New(toolsCaller()).Handler())
	defer modelSrv.Close()
	in, op := startToolAgent(t, modelSrv.URL, tool.URL)

	res, _ := in.chatAs(t, op, "aq", `CALL air_quality {"district":"nanhu"}`)
	if len(res.ToolCalls) != 1 || res.ToolCalls[0].OK {
		t.Fatalf("the tool call should fail: %+v", res.ToolCalls)
	}
	in.stop()

	span := spanIndex(rcv.Trace(res.TraceID)).one(t, "execute_tool air_quality")
	if !span.Error || span.Str("error.type") != "500" {
		t.Errorf("error %v, error.type %q; want an Error span with error.type 500", span.Error, span.Str("error.type"))
	}
	if len(span.Events) != 1 || span.Events[0].Name != "exception" {
		t.Fatalf("events %+v, want one exception", span.Events)
	}
	msg, _ := span.Events[0].Attrs["exception.message"].(string)
	t.Logf("ChatResult: %q\nexception.message: %q", res.ToolCalls[0].Error, msg)
	limit := utf8.RuneCountInString(res.ToolCalls[0].Error)
	for what, v := range map[string]string{"exception.message": msg, "status message": span.Status} {
		if strings.Contains(v, phone) || !strings.Contains(v, "mobile 138") || utf8.RuneCountInString(v) > limit || !strings.Contains(v, "answered 500") {
			t.Errorf("%s (%d characters; the ChatResult keeps %d): %q", what, utf8.RuneCountInString(v), limit, v)
		}
	}
}
