package access

import "testing"

func TestRoleAllows(t *testing.T) {
	cases := map[string]struct {
		have, need Role
		want       bool
	}{
		"admin does all":              {RoleAdmin, RoleDeveloper, true},
		"supervisor is operator":      {RoleSupervisor, RoleOperator, true},
		"operator not supervisor":     {RoleOperator, RoleSupervisor, false},
		"hotline not operator":        {RoleHotline, RoleOperator, false},
		"hotline is hotline":          {RoleHotline, RoleHotline, true},
		"developer reads as operator": {RoleDeveloper, RoleOperator, true},
		"operator not admin":          {RoleOperator, RoleAdmin, false},
	}
	for name, tc := range cases {
		if got := tc.have.Allows(tc.need); got != tc.want {
			t.Errorf("%s: %s.Allows(%s) = %v, want %v", name, tc.have, tc.need, got, tc.want)
		}
	}
}

func TestClearanceCovers(t *testing.T) {
	if !Restricted.Covers(Internal) || Internal.Covers(Restricted) || !Public.Covers(Public) {
		t.Fatal("clearance order broken")
	}
	if Restricted.Covers(Clearance("secret")) {
		t.Fatal("unknown level must not be covered")
	}
	if _, err := ParseClearance("top"); err == nil {
		t.Fatal("want error for unknown clearance")
	}
	if c, _ := ParseClearance(""); c != Public {
		t.Fatalf("empty clearance = %q, want public", c)
	}
}
