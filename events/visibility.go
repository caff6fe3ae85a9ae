package events

import (
	"slices"

	"github.com/cityagent/cityagent/access"
)

// Visible reports whether the key p may see e: its clearance covers the
// event's, and its role reads the event's subjects — alerts and proposals
// operator+, tickets the hotline, supervisors, admins and the keys of the
// ticket's department.
func Visible(p access.Principal, e Event) bool {
	if !p.Clearance.Covers(e.Clearance) {
		return false
	}
	switch e.Audience {
	case audienceAlerts, audienceProposals:
		return p.Role.Allows(access.RoleOperator)
	case audienceTickets:
		if p.Role == access.RoleDepartment {
			return p.Department != "" && p.Department == e.Department
		}
		return p.Role.Allows(access.RoleHotline)
	}
	return false
}

// Matches reports whether a webhook subscribes to e: one of its event
// types, within its clearance, and of its department when it has one.
func (w Webhook) Matches(e Event) bool {
	if w.Disabled || !slices.Contains(w.Events, e.Type) || !w.Clearance.Covers(e.Clearance) {
		return false
	}
	return w.Department == "" || w.Department == e.Department
}
