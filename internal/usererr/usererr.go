// Package usererr marks errors whose message may be shown to the user whose
// request caused them, as tailscale's vizerror does: an *Error carries a
// public message beside the internal error it wraps, and the HTTP layer
// shows the public message (found with errors.As, or Message) instead of
// cutting package prefixes off Error().
//
// Unlike vizerror, Error returns the internal message, so logs, traces and
// callers that print errors keep the full cause; only Public is for users.
package usererr

import (
	"errors"
	"fmt"
)

// Error is an error with a message that is safe to show to users.
type Error struct {
	public string
	err    error // the internal error
}

// Error returns the internal message: the wrapped error's, or for a
// sentinel "prefix: public".
func (e *Error) Error() string {
	if e.err == nil {
		return e.public
	}
	return e.err.Error()
}

// Public returns the message users may see.
func (e *Error) Public() string { return e.public }

// Unwrap returns the internal error.
func (e *Error) Unwrap() error { return e.err }

// New returns a sentinel whose public message is public and whose internal
// message names the package: New("tools", "unknown tool") reads
// "tools: unknown tool" in logs and "unknown tool" to users.
func New(pkg, public string) error {
	return &Error{public: public, err: errors.New(pkg + ": " + public)}
}

// Wrapf wraps sentinel with a detail that alone is public:
// Wrapf(ErrBadRequest, "parallel must be %d to %d", 1, 32) reads
// "evals: bad run request: parallel must be 1 to 32" in logs and
// "parallel must be 1 to 32" to users. format takes no %w.
func Wrapf(sentinel error, format string, args ...any) error {
	detail := fmt.Sprintf(format, args...)
	return &Error{public: detail, err: fmt.Errorf("%w: %s", sentinel, detail)}
}

// Errorf is fmt.Errorf (each %w operand is wrapped) with a public message:
// the same format, where each operand that is a PublicError shows its
// public message. Other operands appear as formatted, so give Errorf only
// operands the user may see:
//
//	usererr.Errorf("%w: %s", ErrUnknownTool, name)
//
// reads "tools: unknown tool: x" in logs and "unknown tool: x" to users.
func Errorf(format string, args ...any) error {
	public := make([]any, len(args))
	for i, a := range args {
		if e, ok := a.(PublicError); ok {
			public[i] = e.Public()
		} else {
			public[i] = a
		}
	}
	return &Error{public: fmt.Sprintf(noWrapVerb(format), public...), err: fmt.Errorf(format, args...)}
}

// noWrapVerb turns each %w of format into %v, which Sprintf understands.
func noWrapVerb(format string) string {
	b := []byte(format)
	for i := 0; i < len(b)-1; i++ {
		if b[i] != '%' {
			continue
		}
		j := i + 1
		for j < len(b) && isFlag(b[j]) {
			j++
		}
		if j < len(b) && b[j] == 'w' {
			b[j] = 'v'
		}
		i = j // "%%" skips its second '%'
	}
	return string(b)
}

func isFlag(c byte) bool {
	switch c {
	case '+', '-', '#', ' ', '0':
		return true
	}
	return false
}

// PublicError is implemented by errors that carry a message users may see:
// *Error, and typed errors that build theirs from their fields.
type PublicError interface {
	error
	Public() string
}

// Message returns the public message of the first error in err's chain
// that has one.
func Message(err error) (string, bool) {
	var p PublicError
	if errors.As(err, &p) {
		return p.Public(), true
	}
	return "", false
}
