package telemetry_test

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/cityagent/cityagent/internal/telemetry"
	"github.com/cityagent/cityagent/internal/telemetry/otlptest"
)

// redacting is a wrapper like a tool's secret-redacting error: error.type
// must see through it to the class of the cause.
type redacting struct{ err error }

func (e *redacting) Error() string { return "[redacted] " + e.err.Error() }
func (e *redacting) Unwrap() error { return e.err }

type ownClass struct{}

func (ownClass) Error() string     { return "bad" }
func (ownClass) ErrorType() string { return "invalid_arguments" }

func TestTraceErrorType(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close() // nothing listens there now: a refused connection
	_, refused := (&http.Client{}).Get("http://" + addr + "/")
	if refused == nil {
		t.Fatal("a closed port accepted a connection")
	}
	status := telemetry.WithStatus(fmt.Errorf("httptool: x: the endpoint answered 500 Internal Server Error: boom"), 500)
	for _, tc := range []struct {
		err  error
		want string
	}{
		{&redacting{status}, "500"},
		{fmt.Errorf("call: %w", telemetry.WithStatus(errors.New("no"), 404)), "404"},
		{fmt.Errorf("x: %w", context.DeadlineExceeded), "timeout"},
		{context.Canceled, "canceled"},
		{fmt.Errorf("tool: %w", refused), "refused"},
		{fmt.Errorf("wrapped: %w", ownClass{}), "invalid_arguments"},
		{fmt.Errorf("a: %w", &net.DNSError{Err: "no such host", Name: "x.invalid"}), "*net.DNSError"},
		{errors.New("plain"), "*errors.errorString"},
	} {
		if got := telemetry.ErrorType(tc.err); got != tc.want {
			t.Errorf("ErrorType(%v) = %q, want %q", tc.err, got, tc.want)
		}
	}
	if !strings.Contains(status.Error(), "answered 500") || telemetry.WithStatus(nil, 500) != nil {
		t.Errorf("WithStatus changes the error's text or wraps nil: %q", status)
	}
}

// A failed span's exception event and status carry the error's text
// bounded and with personal data masked, never in full.
func TestTraceFailMasksAndBoundsText(t *testing.T) {
	rcv := otlptest.Start(t)
	p, err := telemetry.Setup(telemetry.Config{Endpoint: rcv.Endpoint(), ServiceName: "t"})
	if err != nil {
		t.Fatal(err)
	}
	const phone = "+86 138 1234 5678"
	msg := "the endpoint answered 500: call the resident at " + phone + " about it; " + strings.Repeat("very long body ", 30)
	ctx, root := p.StartServer(context.Background(), "", "", "root")
	_, s := telemetry.Start(ctx, telemetry.OpExecuteTool, "t")
	s.Fail(telemetry.WithStatus(errors.New(msg), 500), "500")
	s.Text("cityagent.refusal", "refused: the caller "+phone+" is not allowed")
	s.End()
	root.End()
	if err := p.Shutdown(context.Background()); err != nil {
		t.Fatal(err)
	}
	var got otlptest.Span
	for _, sp := range rcv.Spans() {
		if sp.Name == "execute_tool t" {
			got = sp
		}
	}
	if len(got.Events) != 1 || got.Events[0].Name != "exception" {
		t.Fatalf("events %+v, want one exception", got.Events)
	}
	em, _ := got.Events[0].Attrs["exception.message"].(string)
	for what, v := range map[string]string{"exception.message": em, "status": got.Status, "cityagent.refusal": got.Str("cityagent.refusal")} {
		if strings.Contains(v, "1234 5678") || strings.Contains(v, "12345678") {
			t.Errorf("%s shows the phone number: %q", what, v)
		}
		if n := utf8.RuneCountInString(v); n > telemetry.MaxText+1 || v == "" {
			t.Errorf("%s keeps %d characters, want at most %d: %q", what, n, telemetry.MaxText+1, v)
		}
	}
	if !strings.HasPrefix(em, "the endpoint answered 500: call the resident at +86") || !strings.HasSuffix(em, "…") || got.Str("error.type") != "500" || !got.Error {
		t.Errorf("exception.message %q, error.type %q, error %v", em, got.Str("error.type"), got.Error)
	}
	if typ, _ := got.Events[0].Attrs["exception.type"].(string); typ == "" {
		t.Errorf("exception.type missing: %v", got.Events[0].Attrs)
	}
}

func TestTraceRedactURL(t *testing.T) {
	for in, want := range map[string]string{
		"http://user:pw@127.0.0.1:9/v1/traces?token=qsecret": "http://xxxxx:xxxxx@127.0.0.1:9/v1/traces?token=xxxxx",
		"https://tok@gw.example/otlp?a=1&a=2&b=":             "https://xxxxx@gw.example/otlp?a=xxxxx&a=xxxxx&b=xxxxx",
		"http://127.0.0.1:4318/v1/traces":                    "http://127.0.0.1:4318/v1/traces",
		"http://h/p#secret":                                  "http://h/p#xxxxx",
		"http://h/%zz":                                       "(unparsable URL, not shown)",
	} {
		if got := telemetry.RedactURL(in); got != want {
			t.Errorf("RedactURL(%q) = %q, want %q", in, got, want)
		}
	}
}
