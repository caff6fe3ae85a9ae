// Package otlptest provides an OTLP/HTTP trace receiver for tests: a real
// HTTP server on 127.0.0.1 that accepts POST /v1/traces with
// ExportTraceServiceRequest protobuf bodies (gzip or not), as a collector
// does, and keeps the spans it decodes.
package otlptest

import (
	"compress/gzip"
	"encoding/hex"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"sort"
	"strings"
	"sync"
	"testing"

	coltracepb "go.opentelemetry.io/proto/otlp/collector/trace/v1"
	commonpb "go.opentelemetry.io/proto/otlp/common/v1"
	tracepb "go.opentelemetry.io/proto/otlp/trace/v1"
	"google.golang.org/protobuf/proto"
)

// Span is one received span, decoded into plain fields.
type Span struct {
	Name     string
	TraceID  string // 32 hex digits
	SpanID   string // 16 hex digits
	ParentID string // empty for a root span
	Kind     tracepb.Span_SpanKind
	Attrs    map[string]any // string, int64, bool, float64 or []any
	Error    bool           // status code Error
	Service  string         // the resource's service.name
	Resource map[string]any // the resource's attributes
	Scope    string
	Status   string  // the status message
	Events   []Event // in order
}

// Event is one span event (an "exception").
type Event struct {
	Name  string
	Attrs map[string]any
}

// Str is the string attribute key ("" if absent or not a string).
func (s Span) Str(key string) string {
	v, _ := s.Attrs[key].(string)
	return v
}

// Int is the integer attribute key and whether it is there.
func (s Span) Int(key string) (int64, bool) {
	v, ok := s.Attrs[key].(int64)
	return v, ok
}

// Receiver is a running OTLP/HTTP trace receiver.
type Receiver struct {
	srv     *httptest.Server
	mu      sync.Mutex
	spans   []Span
	headers []http.Header
	gzipped int
}

// Start starts a receiver that stops when the test ends.
func Start(t testing.TB) *Receiver {
	t.Helper()
	r := &Receiver{}
	r.srv = httptest.NewServer(http.HandlerFunc(r.serve))
	t.Cleanup(r.srv.Close)
	return r
}

// Endpoint is the full traces URL (for OTEL_EXPORTER_OTLP_TRACES_ENDPOINT).
func (r *Receiver) Endpoint() string { return r.srv.URL + "/v1/traces" }

// BaseURL is the receiver's base URL (for OTEL_EXPORTER_OTLP_ENDPOINT).
func (r *Receiver) BaseURL() string { return r.srv.URL }

func (r *Receiver) serve(w http.ResponseWriter, req *http.Request) {
	if req.Method != http.MethodPost || req.URL.Path != "/v1/traces" {
		http.Error(w, "not found", http.StatusNotFound)
		return
	}
	if ct := req.Header.Get("Content-Type"); ct != "application/x-protobuf" {
		http.Error(w, "unsupported content type "+ct, http.StatusUnsupportedMediaType)
		return
	}
	var body io.Reader = req.Body
	gz := strings.EqualFold(req.Header.Get("Content-Encoding"), "gzip")
	if gz {
		zr, err := gzip.NewReader(req.Body)
		if err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		defer zr.Close()
		body = zr
	}
	raw, err := io.ReadAll(io.LimitReader(body, 32<<20))
	if err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	var msg coltracepb.ExportTraceServiceRequest
	if err := proto.Unmarshal(raw, &msg); err != nil {
		http.Error(w, "not an ExportTraceServiceRequest: "+err.Error(), http.StatusBadRequest)
		return
	}
	spans := decode(&msg)
	r.mu.Lock()
	r.spans = append(r.spans, spans...)
	r.headers = append(r.headers, req.Header.Clone())
	if gz {
		r.gzipped++
	}
	r.mu.Unlock()
	out, _ := proto.Marshal(&coltracepb.ExportTraceServiceResponse{})
	w.Header().Set("Content-Type", "application/x-protobuf")
	_, _ = w.Write(out)
}

func decode(msg *coltracepb.ExportTraceServiceRequest) []Span {
	var out []Span
	for _, rs := range msg.GetResourceSpans() {
		service, _ := value(attr(rs.GetResource().GetAttributes(), "service.name")).(string)
		resAttrs := map[string]any{}
		for _, kv := range rs.GetResource().GetAttributes() {
			resAttrs[kv.GetKey()] = value(kv.GetValue())
		}
		for _, ss := range rs.GetScopeSpans() {
			for _, s := range ss.GetSpans() {
				sp := Span{Name: s.GetName(), TraceID: hex.EncodeToString(s.GetTraceId()), SpanID: hex.EncodeToString(s.GetSpanId()),
					Kind: s.GetKind(), Attrs: map[string]any{}, Service: service, Resource: resAttrs, Scope: ss.GetScope().GetName(),
					Error: s.GetStatus().GetCode() == tracepb.Status_STATUS_CODE_ERROR}
				if p := s.GetParentSpanId(); len(p) > 0 {
					sp.ParentID = hex.EncodeToString(p)
				}
				for _, kv := range s.GetAttributes() {
					sp.Attrs[kv.GetKey()] = value(kv.GetValue())
				}
				sp.Status = s.GetStatus().GetMessage()
				for _, e := range s.GetEvents() {
					ev := Event{Name: e.GetName(), Attrs: map[string]any{}}
					for _, kv := range e.GetAttributes() {
						ev.Attrs[kv.GetKey()] = value(kv.GetValue())
					}
					sp.Events = append(sp.Events, ev)
				}
				out = append(out, sp)
			}
		}
	}
	return out
}

func attr(kvs []*commonpb.KeyValue, key string) *commonpb.AnyValue {
	for _, kv := range kvs {
		if kv.GetKey() == key {
			return kv.GetValue()
		}
	}
	return nil
}

func value(v *commonpb.AnyValue) any {
	switch x := v.GetValue().(type) {
	case *commonpb.AnyValue_StringValue:
		return x.StringValue
	case *commonpb.AnyValue_IntValue:
		return x.IntValue
	case *commonpb.AnyValue_BoolValue:
		return x.BoolValue
	case *commonpb.AnyValue_DoubleValue:
		return x.DoubleValue
	case *commonpb.AnyValue_ArrayValue:
		var out []any
		for _, e := range x.ArrayValue.GetValues() {
			out = append(out, value(e))
		}
		return out
	}
	return nil
}

// Spans returns the spans received so far, in arrival order.
func (r *Receiver) Spans() []Span {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]Span(nil), r.spans...)
}

// Headers returns the request headers of each export received.
func (r *Receiver) Headers() []http.Header {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]http.Header(nil), r.headers...)
}

// Trace returns the spans of one trace.
func (r *Receiver) Trace(traceID string) []Span {
	var out []Span
	for _, s := range r.Spans() {
		if s.TraceID == traceID {
			out = append(out, s)
		}
	}
	return out
}

// Tree renders spans as an indented parent/child outline (for failure
// messages): children sorted by name.
func Tree(spans []Span) string {
	kids := map[string][]Span{}
	ids := map[string]bool{}
	for _, s := range spans {
		ids[s.SpanID] = true
	}
	for _, s := range spans {
		p := s.ParentID
		if !ids[p] {
			p = ""
		}
		kids[p] = append(kids[p], s)
	}
	var b strings.Builder
	var walk func(parent string, depth int)
	walk = func(parent string, depth int) {
		list := kids[parent]
		sort.Slice(list, func(i, j int) bool { return list[i].Name < list[j].Name })
		for _, s := range list {
			fmt.Fprintf(&b, "%s%s [%s parent=%s]\n", strings.Repeat("  ", depth), s.Name, s.SpanID, s.ParentID)
			walk(s.SpanID, depth+1)
		}
	}
	walk("", 0)
	return b.String()
}
