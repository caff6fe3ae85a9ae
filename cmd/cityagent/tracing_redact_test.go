package main

import (
	"bytes"
	"log/slog"
	"strings"
	"testing"
)

// The start-up log names the OTLP endpoint without any of the credentials
// a URL can carry: user, password and query-string values.
func TestTracingStartupLogRedactsURL(t *testing.T) {
	t.Setenv("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT", "http://user:psecret@127.0.0.1:9/v1/traces?token=qsecret&api_key=ksecret#fsecret")
	var buf bytes.Buffer
	p, stop, err := startTelemetry(slog.New(slog.NewTextHandler(&buf, nil)))
	if err != nil || !p.Enabled() {
		t.Fatalf("startTelemetry: %v (enabled %v)", err, p.Enabled())
	}
	stop()
	line := buf.String()
	for _, secret := range []string{"user", "psecret", "qsecret", "ksecret", "fsecret"} {
		if strings.Contains(line, secret) {
			t.Errorf("the start-up log shows %q:\n%s", secret, line)
		}
	}
	if !strings.Contains(line, `endpoint="http://xxxxx:xxxxx@127.0.0.1:9/v1/traces?api_key=xxxxx&token=xxxxx#xxxxx"`) {
		t.Errorf("the start-up log should name the endpoint with its credentials masked:\n%s", line)
	}
}
