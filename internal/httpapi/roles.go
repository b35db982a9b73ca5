package httpapi

import (
	"github.com/coffer-backup/coffer/internal/apperr"
	"github.com/coffer-backup/coffer/internal/store"
)

// roleRank orders roles by what they may do.
func roleRank(r store.Role) access {
	switch r {
	case store.RoleAdmin:
		return admin
	case store.RoleOperator:
		return operator
	case store.RoleViewer:
		return reader
	}
	return public // unknown role: only public routes
}

// checkRole refuses, with 403, a caller whose role is below what a route needs.
func checkRole(need access, role store.Role) error {
	if roleRank(role) >= need {
		return nil
	}
	switch need {
	case operator:
		return apperr.New(apperr.Forbidden, "Your role (%s) can only read; ask an administrator for operator access.", role)
	case admin:
		return apperr.New(apperr.Forbidden, "Only administrators can do this; your role is %s.", role)
	}
	return apperr.New(apperr.Forbidden, "Your account has no role that allows this; ask an administrator.")
}
