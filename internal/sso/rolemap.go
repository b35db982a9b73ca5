package sso

import (
	"fmt"
	"strings"

	"github.com/coffer-backup/coffer/internal/store"
)

// Everyone is the group pattern of a role map that matches a user no other
// entry matches.
const Everyone = "*"

// roleRank orders the roles: when a user's groups match several entries of
// a role map, the highest role wins.
var roleRank = map[store.Role]int{store.RoleViewer: 1, store.RoleOperator: 2, store.RoleAdmin: 3}

// RoleRule maps one group (a value of the role claim) to a coffer role.
type RoleRule struct {
	Group string
	Role  store.Role
}

// RoleMap turns the values of the identity provider's role claim (usually
// groups) into a coffer role: COFFER_OIDC_ROLE_MAP, such as
// "admins=admin,ops=operator,*=viewer". Groups match exactly (case matters);
// a user in several mapped groups gets the highest of their roles; "*"
// applies only when no group matches; with no match and no "*" the user has
// no access. The zero RoleMap maps nobody.
type RoleMap struct {
	rules    []RoleRule
	fallback store.Role // the role of "*", "" when there is none
}

// ParseRoleMap reads "group=role,group=role,...". Spaces around entries,
// groups and roles are ignored; a group may contain "=" (the last one
// separates the role). Every role must be admin, operator or viewer, and a
// group may appear once. The error is a phrase to follow the setting's name.
func ParseRoleMap(s string) (RoleMap, error) {
	var m RoleMap
	seen := map[string]bool{}
	for _, entry := range strings.Split(s, ",") {
		entry = strings.TrimSpace(entry)
		if entry == "" {
			continue
		}
		i := strings.LastIndex(entry, "=")
		if i < 0 {
			return RoleMap{}, fmt.Errorf("must be group=role entries separated by commas, but %q has no =", entry)
		}
		group, role := strings.TrimSpace(entry[:i]), store.Role(strings.TrimSpace(entry[i+1:]))
		if group == "" {
			return RoleMap{}, fmt.Errorf("must name a group before each =, but %q has none", entry)
		}
		if !role.Valid() {
			return RoleMap{}, fmt.Errorf("must map groups to admin, operator or viewer, but %q maps to %q", group, role)
		}
		if seen[group] {
			return RoleMap{}, fmt.Errorf("must list each group once, but %q appears twice", group)
		}
		seen[group] = true
		if group == Everyone {
			m.fallback = role
			continue
		}
		m.rules = append(m.rules, RoleRule{Group: group, Role: role})
	}
	if m.IsZero() {
		return RoleMap{}, fmt.Errorf("must map at least one group to a role, such as admins=admin,*=viewer")
	}
	return m, nil
}

// IsZero reports whether the map has no entry at all.
func (m RoleMap) IsZero() bool { return len(m.rules) == 0 && m.fallback == "" }

// Resolve returns the role of a user in groups and the entry that gave it
// (a group, or "*"); ok is false when the user has no access.
func (m RoleMap) Resolve(groups []string) (role store.Role, matched string, ok bool) {
	for _, r := range m.rules {
		for _, g := range groups {
			if g == r.Group && roleRank[r.Role] > roleRank[role] {
				role, matched = r.Role, r.Group
			}
		}
	}
	if role != "" {
		return role, matched, true
	}
	if m.fallback != "" {
		return m.fallback, Everyone, true
	}
	return "", "", false
}

// String renders the map in the form ParseRoleMap reads ("*" last).
func (m RoleMap) String() string {
	parts := make([]string, 0, len(m.rules)+1)
	for _, r := range m.rules {
		parts = append(parts, r.Group+"="+string(r.Role))
	}
	if m.fallback != "" {
		parts = append(parts, Everyone+"="+string(m.fallback))
	}
	return strings.Join(parts, ",")
}
