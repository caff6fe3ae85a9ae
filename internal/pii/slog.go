package pii

import (
	"context"
	"log/slog"
)

// LogHandler masks personal data in the message and in every string
// attribute (errors and Stringers included) of the records it passes to
// its inner handler. It is a second line: code should not log personal
// data in the first place.
type LogHandler struct {
	inner slog.Handler
}

var _ slog.Handler = LogHandler{}

// NewLogHandler wraps inner.
func NewLogHandler(inner slog.Handler) LogHandler { return LogHandler{inner: inner} }

// Enabled implements slog.Handler.
func (h LogHandler) Enabled(ctx context.Context, l slog.Level) bool { return h.inner.Enabled(ctx, l) }

// Handle implements slog.Handler.
func (h LogHandler) Handle(ctx context.Context, r slog.Record) error {
	out := slog.NewRecord(r.Time, r.Level, Mask(r.Message), r.PC)
	r.Attrs(func(a slog.Attr) bool {
		out.AddAttrs(maskAttr(a))
		return true
	})
	return h.inner.Handle(ctx, out)
}

// WithAttrs implements slog.Handler.
func (h LogHandler) WithAttrs(as []slog.Attr) slog.Handler {
	masked := make([]slog.Attr, len(as))
	for i, a := range as {
		masked[i] = maskAttr(a)
	}
	return LogHandler{inner: h.inner.WithAttrs(masked)}
}

// WithGroup implements slog.Handler.
func (h LogHandler) WithGroup(name string) slog.Handler {
	return LogHandler{inner: h.inner.WithGroup(name)}
}

func maskAttr(a slog.Attr) slog.Attr {
	v := a.Value.Resolve()
	switch v.Kind() {
	case slog.KindString:
		return slog.String(a.Key, Mask(v.String()))
	case slog.KindGroup:
		as := v.Group()
		out := make([]any, len(as))
		for i, x := range as {
			out[i] = maskAttr(x)
		}
		return slog.Group(a.Key, out...)
	case slog.KindAny:
		switch x := v.Any().(type) {
		case error:
			return slog.String(a.Key, Mask(x.Error()))
		case interface{ String() string }:
			return slog.String(a.Key, Mask(x.String()))
		case []byte:
			return slog.String(a.Key, Mask(string(x)))
		}
	}
	return slog.Attr{Key: a.Key, Value: v}
}
