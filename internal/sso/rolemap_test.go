package sso

import (
	"strings"
	"testing"

	"github.com/coffer-backup/coffer/internal/store"
)

func TestRoleMapResolve(t *testing.T) {
	t.Parallel()
	m, err := ParseRoleMap(" admins = admin, ops=operator ,*=viewer,/team=a=operator")
	if err != nil {
		t.Fatal(err)
	}
	if got := m.String(); got != "admins=admin,ops=operator,/team=a=operator,*=viewer" {
		t.Fatalf("String = %q", got)
	}
	noStar, err := ParseRoleMap("admins=admin")
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		m       RoleMap
		groups  []string
		role    store.Role
		matched string
		ok      bool
	}{
		{m, []string{"admins"}, store.RoleAdmin, "admins", true},
		{m, []string{"ops", "admins", "x"}, store.RoleAdmin, "admins", true}, // the highest wins, whatever the order
		{m, []string{"ops"}, store.RoleOperator, "ops", true},
		{m, []string{"/team=a"}, store.RoleOperator, "/team=a", true},
		{m, []string{"Admins"}, store.RoleViewer, "*", true}, // case matters; "*" takes the rest
		{m, nil, store.RoleViewer, "*", true},
		{noStar, []string{"ops"}, "", "", false},
		{noStar, nil, "", "", false},
		{RoleMap{}, []string{"admins"}, "", "", false},
	} {
		role, matched, ok := tc.m.Resolve(tc.groups)
		if role != tc.role || matched != tc.matched || ok != tc.ok {
			t.Errorf("%s.Resolve(%q) = %q, %q, %v; want %q, %q, %v", tc.m, tc.groups, role, matched, ok, tc.role, tc.matched, tc.ok)
		}
	}
}

func TestParseRoleMapRefuses(t *testing.T) {
	t.Parallel()
	for in, want := range map[string]string{
		"":                             "at least one group",
		" , ":                          "at least one group",
		"admins":                       `"admins" has no =`,
		"=admin":                       "must name a group",
		"admins=root":                  `maps to "root"`,
		"admins=admin,admins=operator": "appears twice",
		"*=viewer,*=admin":             `"*" appears twice`,
	} {
		_, err := ParseRoleMap(in)
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("ParseRoleMap(%q) = %v, want an error saying %q", in, err, want)
		}
	}
}
