package devtools

import (
	"strings"

	"github.com/cityagent/cityagent/internal/usererr"
	"github.com/cityagent/cityagent/tools/httptool"
)

// checkSecretHosts refuses a definition that sends a bound secret (one
// Config.SecretHosts lists) to any other host. Unbound secrets go anywhere
// the guard allows.
func (m *Manager) checkSecretHosts(d httptool.Def) error {
	for secret, hosts := range d.SecretDestinations() {
		allowed, bound := m.cfg.SecretHosts[secret]
		if !bound {
			continue
		}
		for _, h := range hosts {
			if !hostMatches(h, allowed) {
				return usererr.Errorf("%w: %s may be sent only to %s (outbound.secret_hosts), not %s", ErrInvalid, secret, strings.Join(allowed, ", "), h)
			}
		}
	}
	return nil
}

// hostMatches compares a host with exact names and "*.example.org" suffixes.
func hostMatches(host string, patterns []string) bool {
	host = strings.ToLower(strings.TrimSuffix(host, "."))
	for _, p := range patterns {
		p = strings.ToLower(strings.TrimSpace(p))
		if p == host || strings.HasPrefix(p, "*.") && strings.HasSuffix(host, p[1:]) {
			return true
		}
	}
	return false
}
