package tools

import (
	"context"
	"fmt"

	"github.com/cityagent/cityagent/internal/usererr"
)

// Checker is implemented by tools whose source can be down (a registered
// HTTP endpoint, an MCP server): Check reports why the tool cannot be
// called now, or nil. GET /v1/tools shows the answer as availability.
type Checker interface {
	Check(ctx context.Context) error
}

// Swap removes the named tools (names not present are ignored) and adds
// add, as one change: a concurrent Get sees the old set or the new one. A
// name in add that another tool still holds refuses the whole swap.
func (r *Registry) Swap(remove []string, add []Tool) error {
	defer r.changed()
	r.mu.Lock()
	defer r.mu.Unlock()
	gone := map[string]bool{}
	for _, n := range remove {
		gone[n] = true
	}
	seen := map[string]bool{}
	for _, t := range add {
		n := t.Spec().Name
		if n == "" {
			return fmt.Errorf("tools: swap: empty name")
		}
		if _, taken := r.tools[n]; (taken && !gone[n]) || seen[n] {
			return usererr.Errorf("%w: %s", ErrDuplicateTool, n)
		}
		seen[n] = true
	}
	for n := range gone {
		delete(r.tools, n)
	}
	for _, t := range add {
		r.tools[t.Spec().Name] = t
	}
	return nil
}
