package httptool

import "strings"

// Reserved tool names: the MCP endpoint and the agents offer governed
// actions as propose_<action>, questions to another agent as ask_<agent>,
// and list_proposals; a registered tool of such a name would be shadowed
// by them or pass for them.
var (
	reservedPrefixes = []string{"propose_", "ask_"}
	reservedNames    = []string{"list_proposals"}
)

// ReservedName says why name may not name a registered tool (an HTTP
// tool, an OpenAPI operation or an MCP server's tool), or "" if it may.
// The comparison ignores case.
func ReservedName(name string) string {
	n := strings.ToLower(strings.TrimSpace(name))
	for _, r := range reservedNames {
		if n == r {
			return "the name " + r + " is reserved for the proposals the server offers; choose another"
		}
	}
	for _, p := range reservedPrefixes {
		if strings.HasPrefix(n, p) {
			return "names starting with " + p + " are reserved (propose_* are governed actions, ask_* questions to agents, list_proposals); choose another"
		}
	}
	return ""
}
