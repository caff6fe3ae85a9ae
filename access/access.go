// Package access defines who may do what: the roles an API key carries and the
// clearance levels that bound which documents and tools a caller may reach.
package access

import (
	"errors"
	"fmt"
	"strings"
)

// Role is what a key may do. Roles are ordered for the routes that say
// "operator+"; hotline is a side branch that reaches only hotline endpoints.
type Role string

// The roles of DESIGN §4.
const (
	RoleOperator   Role = "operator"
	RoleSupervisor Role = "supervisor"
	RoleHotline    Role = "hotline"
	// RoleDepartment is one department's hotline queue: a key of this role
	// is bound to one department (Principal.Department) and reaches only
	// the lifecycle routes of that department's tickets.
	RoleDepartment Role = "department"
	RoleDeveloper  Role = "developer"
	RoleAdmin      Role = "admin"
)

// Roles lists every role in a stable order.
var Roles = []Role{RoleOperator, RoleSupervisor, RoleHotline, RoleDepartment, RoleDeveloper, RoleAdmin}

// ErrUnknownRole is returned by ParseRole for a name that is not a role.
var ErrUnknownRole = errors.New("access: unknown role")

// ParseRole turns a name into a Role.
func ParseRole(s string) (Role, error) {
	for _, r := range Roles {
		if string(r) == strings.ToLower(strings.TrimSpace(s)) {
			return r, nil
		}
	}
	return "", fmt.Errorf("%w %q (want one of operator, supervisor, hotline, department, developer, admin)", ErrUnknownRole, s)
}

// Allows reports whether a key with role r may use a route that requires need.
// admin may do everything; supervisor includes operator; developer includes
// operator's read-only uses (chat, search); hotline only hotline routes.
func (r Role) Allows(need Role) bool {
	if r == need || r == RoleAdmin {
		return true
	}
	switch need {
	case RoleOperator:
		return r == RoleSupervisor || r == RoleDeveloper
	case RoleHotline, RoleDepartment:
		// Hotline and department endpoints are also open to staff who
		// supervise the hotline; which tickets a department key reaches is
		// the hotline's decision (its own department's only).
		return r == RoleSupervisor
	}
	return false
}

// Clearance is a data classification level. Every document, chunk and tool
// carries one; nobody reads or calls above their own.
type Clearance string

// The clearance levels, lowest first.
const (
	Public     Clearance = "public"
	Internal   Clearance = "internal"
	Sensitive  Clearance = "sensitive"
	Restricted Clearance = "restricted"
)

// Clearances lists the levels lowest first.
var Clearances = []Clearance{Public, Internal, Sensitive, Restricted}

// ErrUnknownClearance is returned by ParseClearance for a name that is not a level.
var ErrUnknownClearance = errors.New("access: unknown clearance")

// ParseClearance turns a name into a Clearance; empty means Public.
func ParseClearance(s string) (Clearance, error) {
	s = strings.ToLower(strings.TrimSpace(s))
	if s == "" {
		return Public, nil
	}
	for _, c := range Clearances {
		if string(c) == s {
			return c, nil
		}
	}
	return "", fmt.Errorf("%w %q (want one of public, internal, sensitive, restricted)", ErrUnknownClearance, s)
}

// Rank is the position of c in Clearances; an unknown level ranks above
// restricted so that it is never readable by accident.
func (c Clearance) Rank() int {
	for i, l := range Clearances {
		if l == c {
			return i
		}
	}
	if c == "" {
		return 0
	}
	return len(Clearances)
}

// Covers reports whether a holder of clearance c may read something at level other.
func (c Clearance) Covers(other Clearance) bool {
	return c.Rank() >= other.Rank() && c.Rank() < len(Clearances)
}

// Principal is the caller behind a request: the key that authenticated it.
type Principal struct {
	KeyID     string    `json:"key_id"`
	Name      string    `json:"name"`
	Role      Role      `json:"role"`
	Clearance Clearance `json:"clearance"`
	// Department is the department a RoleDepartment key acts for.
	Department string `json:"department,omitempty"`
}
