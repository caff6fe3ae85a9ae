package usererr_test

import (
	"errors"
	"fmt"
	"io"
	"testing"

	"github.com/cityagent/cityagent/internal/usererr"
)

var errUnknown = usererr.New("tools", "unknown tool")

func TestMessages(t *testing.T) {
	plain := errors.New("pool: connection reset")
	for name, tc := range map[string]struct {
		err              error
		internal, public string
		is               error
	}{
		"sentinel":             {errUnknown, "tools: unknown tool", "unknown tool", errUnknown},
		"errorf with sentinel": {usererr.Errorf("%w: %s", errUnknown, "x"), "tools: unknown tool: x", "unknown tool: x", errUnknown},
		"errorf no colon":      {usererr.Errorf("%w %q (want a or b)", errUnknown, "x"), `tools: unknown tool "x" (want a or b)`, `unknown tool "x" (want a or b)`, errUnknown},
		"nested public operand": {usererr.Errorf("%w: %v", usererr.New("devtools", "name taken"), usererr.Errorf("%w: %s", errUnknown, "x")),
			"devtools: name taken: tools: unknown tool: x", "name taken: unknown tool: x", nil},
		"plain operand shown as is": {usererr.Errorf("%w: fetch: %w", errUnknown, plain), "tools: unknown tool: fetch: pool: connection reset",
			"unknown tool: fetch: pool: connection reset", plain},
		"literal percent":     {usererr.Errorf("%w: 100%% of %d", errUnknown, 3), "tools: unknown tool: 100% of 3", "unknown tool: 100% of 3", errUnknown},
		"wrapf detail public": {usererr.Wrapf(errUnknown, "parallel must be %d to %d", 1, 32), "tools: unknown tool: parallel must be 1 to 32", "parallel must be 1 to 32", errUnknown},
	} {
		t.Run(name, func(t *testing.T) {
			if got := tc.err.Error(); got != tc.internal {
				t.Errorf("Error() = %q, want %q", got, tc.internal)
			}
			// Wrapped once more, the public message is still found.
			got, ok := usererr.Message(fmt.Errorf("outer: %w", tc.err))
			if !ok || got != tc.public {
				t.Errorf("Message = %q, %v; want %q", got, ok, tc.public)
			}
			if tc.is != nil && !errors.Is(tc.err, tc.is) {
				t.Errorf("errors.Is(%v, %v) = false", tc.err, tc.is)
			}
		})
	}
}

func TestMessageOfPlainError(t *testing.T) {
	if m, ok := usererr.Message(fmt.Errorf("store: %w", io.EOF)); ok {
		t.Fatalf("a plain error has a public message %q", m)
	}
	var e *usererr.Error
	if !errors.As(fmt.Errorf("x: %w", errUnknown), &e) || e.Public() != "unknown tool" {
		t.Fatalf("errors.As did not find the sentinel: %v", e)
	}
}

func ExampleErrorf() {
	err := usererr.Errorf("%w: %s", errUnknown, "traffic_flow")
	msg, _ := usererr.Message(err)
	fmt.Println(err)
	fmt.Println(msg)
	// Output:
	// tools: unknown tool: traffic_flow
	// unknown tool: traffic_flow
}
