package telemetry

import (
	"context"
	"encoding/hex"
	"errors"
	"fmt"
	"math/rand/v2"
	"net/http"
	"strconv"
	"syscall"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/propagation"
	"go.opentelemetry.io/otel/trace"

	"github.com/cityagent/cityagent/internal/pii"
)

// tracerKey is the context key of the tracer Provider.Context installs.
type tracerKey struct{}

// Span is a started span. The zero Span, which Start returns when tracing
// is off, ignores every call, so callers never check.
type Span struct{ s trace.Span }

// Start starts an internal span named "op target" (just op when target is
// empty) as a child of ctx's span, if ctx carries a tracer (Provider.Context,
// or a request through the server's middleware). Off, it returns ctx and the
// zero Span without allocating.
func Start(ctx context.Context, op, target string) (context.Context, Span) {
	return start(ctx, trace.SpanKindInternal, op, target)
}

// StartClient is Start for a call to another service (a model server).
func StartClient(ctx context.Context, op, target string) (context.Context, Span) {
	return start(ctx, trace.SpanKindClient, op, target)
}

func start(ctx context.Context, kind trace.SpanKind, op, target string) (context.Context, Span) {
	t, ok := ctx.Value(tracerKey{}).(trace.Tracer)
	if !ok {
		return ctx, Span{}
	}
	name := op
	if target != "" {
		name = op + " " + target
	}
	ctx, s := t.Start(ctx, name, trace.WithSpanKind(kind))
	return ctx, Span{s}
}

// Recording reports whether the span records (tracing on and sampled):
// callers may skip building costly attributes otherwise.
func (s Span) Recording() bool { return s.s != nil && s.s.IsRecording() }

// Str sets a string attribute.
func (s Span) Str(key, value string) {
	if s.s != nil {
		s.s.SetAttributes(attribute.String(key, value))
	}
}

// Int sets an integer attribute.
func (s Span) Int(key string, value int) {
	if s.s != nil {
		s.s.SetAttributes(attribute.Int(key, value))
	}
}

// Bool sets a boolean attribute.
func (s Span) Bool(key string, value bool) {
	if s.s != nil {
		s.s.SetAttributes(attribute.Bool(key, value))
	}
}

// Strs sets a string-slice attribute.
func (s Span) Strs(key string, values []string) {
	if s.s != nil {
		s.s.SetAttributes(attribute.StringSlice(key, values))
	}
}

// Rename replaces the span's name (a server span learns its route late).
func (s Span) Rename(name string) {
	if s.s != nil {
		s.s.SetName(name)
	}
}

// Fail marks the span failed with err: status Error, an "exception"
// event and error.type set to errType (the semantic conventions'
// low-cardinality class of the failure, e.g. "timeout"); nil err does
// nothing. The error's text goes into the span only through SafeText:
// bounded and with personal data masked.
func (s Span) Fail(err error, errType string) {
	if s.s == nil || err == nil {
		return
	}
	msg := SafeText(err.Error())
	s.s.AddEvent("exception", trace.WithAttributes(attribute.String("exception.type", fmt.Sprintf("%T", err)),
		attribute.String("exception.message", msg)))
	s.s.SetStatus(codes.Error, msg)
	s.s.SetAttributes(attribute.String("error.type", errType))
}

// Text sets a free-text attribute (a refusal, a peer's message): the
// value goes through SafeText.
func (s Span) Text(key, value string) {
	if s.s != nil {
		s.s.SetAttributes(attribute.String(key, SafeText(value)))
	}
}

// MaxText is how many characters of free text (an error's message) a span
// keeps, as a ChatResult's tool error does.
const MaxText = 120

// SafeText is s as a span may carry it: personal data masked
// (internal/pii), then cut to MaxText characters with "…" after a cut.
func SafeText(s string) string {
	s = pii.Mask(s)
	n := 0
	for i := range s {
		if n == MaxText {
			return s[:i] + "…"
		}
		n++
	}
	return s
}

// FailStatus marks the span failed without an error value (an HTTP 5xx).
func (s Span) FailStatus(errType string) {
	if s.s != nil {
		s.s.SetStatus(codes.Error, "")
		s.s.SetAttributes(attribute.String("error.type", errType))
	}
}

// End ends the span.
func (s Span) End() {
	if s.s != nil {
		s.s.End()
	}
}

// ErrorType is the error.type value for err, a low-cardinality class:
// "timeout" for deadlines, "canceled", the HTTP status a peer answered
// ("500", from an error with an HTTPStatus() int method, see WithStatus),
// "refused" for a refused connection, the class an error names itself by
// an ErrorType() string method, else the Go type of the innermost error
// ("*net.DNSError").
func ErrorType(err error) string {
	var (
		st  interface{ HTTPStatus() int }
		own interface{ ErrorType() string }
	)
	switch {
	case err == nil:
		return ""
	case errors.Is(err, context.DeadlineExceeded):
		return "timeout"
	case errors.Is(err, context.Canceled):
		return "canceled"
	case errors.As(err, &st) && st.HTTPStatus() > 0:
		return strconv.Itoa(st.HTTPStatus())
	case errors.Is(err, syscall.ECONNREFUSED):
		return "refused"
	case errors.As(err, &own) && own.ErrorType() != "":
		return own.ErrorType()
	}
	for {
		next := errors.Unwrap(err)
		if next == nil {
			return fmt.Sprintf("%T", err)
		}
		err = next
	}
}

// WithStatus wraps err (a peer's error answer) with the HTTP status the
// peer answered, which ErrorType reports; the text and errors.Is/As are
// err's.
func WithStatus(err error, status int) error {
	if err == nil {
		return nil
	}
	return &statusError{err: err, status: status}
}

type statusError struct {
	err    error
	status int
}

func (e *statusError) Error() string   { return e.err.Error() }
func (e *statusError) Unwrap() error   { return e.err }
func (e *statusError) HTTPStatus() int { return e.status }

// twoHeaders is the propagator's carrier of an incoming request's trace
// context headers.
type twoHeaders struct{ parent, state string }

func (h *twoHeaders) Get(key string) string {
	switch key {
	case "traceparent":
		return h.parent
	case "tracestate":
		return h.state
	}
	return ""
}
func (*twoHeaders) Set(string, string) {}
func (*twoHeaders) Keys() []string     { return []string{"traceparent", "tracestate"} }

var propagator = propagation.TraceContext{}

// StartServer starts the span of an incoming request named name, with the
// request's traceparent and tracestate headers: a valid traceparent makes
// the span a child of the caller's. Off, the returned context still carries
// a span context, the caller's or a fresh random one, so TraceID and
// outbound headers work.
func (p *Provider) StartServer(ctx context.Context, traceparent, tracestate, name string) (context.Context, Span) {
	return p.startRemote(ctx, trace.SpanKindServer, traceparent, tracestate, name)
}

// Continue is StartServer for an internal span whose parent crossed a
// boundary in traceparent form: the span of the HTTP request an MCP
// method arrived on, handed to the go-sdk's method handler.
func (p *Provider) Continue(ctx context.Context, traceparent, tracestate, name string) (context.Context, Span) {
	return p.startRemote(ctx, trace.SpanKindInternal, traceparent, tracestate, name)
}

func (p *Provider) startRemote(ctx context.Context, kind trace.SpanKind, traceparent, tracestate, name string) (context.Context, Span) {
	if traceparent != "" {
		ctx = propagator.Extract(ctx, &twoHeaders{traceparent, tracestate})
	}
	if p.Enabled() {
		ctx = context.WithValue(ctx, tracerKey{}, p.tracer)
		ctx, s := p.tracer.Start(ctx, name, trace.WithSpanKind(kind))
		return ctx, Span{s}
	}
	if !trace.SpanContextFromContext(ctx).IsValid() {
		ctx = trace.ContextWithSpanContext(ctx, randomSpanContext())
	}
	return ctx, Span{}
}

// Headers is ctx's trace context as traceparent and tracestate values
// (empty when ctx carries none), to hand a span across a boundary.
func Headers(ctx context.Context) (traceparent, tracestate string) {
	h := http.Header{}
	Inject(ctx, h)
	return h.Get("traceparent"), h.Get("tracestate")
}

func randomSpanContext() trace.SpanContext {
	return trace.NewSpanContext(trace.SpanContextConfig{TraceID: newTraceID(), SpanID: newSpanID()})
}

func newTraceID() trace.TraceID {
	var id trace.TraceID
	for !id.IsValid() {
		a, b := rand.Uint64(), rand.Uint64()
		for i := range 8 {
			id[i], id[8+i] = byte(a>>(8*i)), byte(b>>(8*i))
		}
	}
	return id
}

func newSpanID() trace.SpanID {
	var id trace.SpanID
	for !id.IsValid() {
		a := rand.Uint64()
		for i := range 8 {
			id[i] = byte(a >> (8 * i))
		}
	}
	return id
}

// TraceID is the W3C trace id (32 lower-case hex digits) of ctx's span, or
// a new random one when ctx carries none.
func TraceID(ctx context.Context) string {
	id := trace.SpanContextFromContext(ctx).TraceID()
	if !id.IsValid() {
		id = newTraceID()
	}
	return hex.EncodeToString(id[:])
}

// ValidTraceID reports whether s is a W3C trace id: 32 lower-case hex
// digits, not all zero.
func ValidTraceID(s string) bool {
	id, err := trace.TraceIDFromHex(s)
	return err == nil && id.IsValid()
}

// Inject writes ctx's trace context into h as traceparent (and
// tracestate), when ctx carries one.
func Inject(ctx context.Context, h http.Header) {
	if trace.SpanContextFromContext(ctx).IsValid() {
		propagator.Inject(ctx, propagation.HeaderCarrier(h))
	}
}

// Transport wraps rt (http.DefaultTransport if nil) so that every request
// carries its context's trace context; a request that has a traceparent
// already keeps it.
func Transport(rt http.RoundTripper) http.RoundTripper {
	if rt == nil {
		rt = http.DefaultTransport
	}
	if _, ok := rt.(injecting); ok {
		return rt
	}
	return injecting{rt}
}

type injecting struct{ rt http.RoundTripper }

func (t injecting) RoundTrip(r *http.Request) (*http.Response, error) {
	if trace.SpanContextFromContext(r.Context()).IsValid() && r.Header.Get("traceparent") == "" {
		r = r.Clone(r.Context()) // a RoundTripper must not change the caller's request
		Inject(r.Context(), r.Header)
	}
	return t.rt.RoundTrip(r)
}
