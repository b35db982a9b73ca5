package store_test

import (
	"errors"
	"sync"
	"testing"

	"github.com/coffer-backup/coffer/internal/store"
	"github.com/coffer-backup/coffer/internal/store/storetest"
)

// TestUpdateUserAccess covers the targeted role/disabled update and the
// last-admin rule it enforces.
func TestUpdateUserAccess(t *testing.T) {
	storetest.Each(t, func(t *testing.T, s *store.Store) {
		ctx := t.Context()
		admin := &store.User{Email: "admin@example.com", PasswordHash: "h", Role: store.RoleAdmin}
		bob := &store.User{Email: "bob@example.com", PasswordHash: "h", Role: store.RoleViewer}
		mustNil(t, s.CreateUser(ctx, admin))
		mustNil(t, s.CreateUser(ctx, bob))

		before, after, err := s.UpdateUserAccess(ctx, bob.ID, access(store.RoleOperator, true))
		mustNil(t, err)
		if before.Role != store.RoleViewer || before.Disabled || after.Role != store.RoleOperator || !after.Disabled {
			t.Fatalf("before %+v after %+v", before, after)
		}
		got, err := s.GetUser(ctx, bob.ID)
		mustNil(t, err)
		if got.Role != store.RoleOperator || !got.Disabled || got.PasswordHash != "h" || !got.UpdatedAt.Equal(after.UpdatedAt) {
			t.Fatalf("stored %+v, returned %+v", got, after)
		}

		// The only active admin can be neither demoted nor disabled.
		_, _, err = s.UpdateUserAccess(ctx, admin.ID, access(store.RoleOperator, false))
		wantErr(t, err, store.ErrLastAdmin)
		_, _, err = s.UpdateUserAccess(ctx, admin.ID, access(store.RoleAdmin, true))
		wantErr(t, err, store.ErrConflict) // ErrLastAdmin is a conflict
		// A disabled admin does not count.
		_, _, err = s.UpdateUserAccess(ctx, bob.ID, access(store.RoleAdmin, true))
		mustNil(t, err)
		_, _, err = s.UpdateUserAccess(ctx, admin.ID, access(store.RoleViewer, false))
		wantErr(t, err, store.ErrLastAdmin)
		// With a second active admin it works, and no-op changes write nothing.
		_, _, err = s.UpdateUserAccess(ctx, bob.ID, access(store.RoleAdmin, false))
		mustNil(t, err)
		_, after, err = s.UpdateUserAccess(ctx, admin.ID, access(store.RoleViewer, false))
		mustNil(t, err)
		if after.Role != store.RoleViewer {
			t.Fatalf("after %+v", after)
		}
		b1, err := s.GetUser(ctx, bob.ID)
		mustNil(t, err)
		_, after, err = s.UpdateUserAccess(ctx, bob.ID, access(store.RoleAdmin, false))
		mustNil(t, err)
		if !after.UpdatedAt.Equal(b1.UpdatedAt) {
			t.Fatal("an unchanged role and flag were written")
		}

		_, _, err = s.UpdateUserAccess(ctx, 9999, access(store.RoleViewer, false))
		wantErr(t, err, store.ErrNotFound)
		// Only the fields given change.
		yes := true
		_, after, err = s.UpdateUserAccess(ctx, admin.ID, store.UserAccess{Disabled: &yes})
		mustNil(t, err)
		if after.Role != store.RoleViewer || !after.Disabled {
			t.Fatalf("disable only: %+v", after)
		}
		_, _, err = s.UpdateUserAccess(ctx, 9999, store.UserAccess{})
		wantErr(t, err, store.ErrNotFound)
		if _, _, err = s.UpdateUserAccess(ctx, bob.ID, access("root", false)); err == nil {
			t.Fatal("an unknown role was accepted")
		}
	})
}

// TestLastAdminConcurrentDemotions demotes the two active admins at the same
// time, many times over, from two goroutines with their own connections (as
// two hosts would): every round exactly one demotion wins and one admin stays.
func TestLastAdminConcurrentDemotions(t *testing.T) {
	storetest.Each(t, func(t *testing.T, s *store.Store) {
		ctx := t.Context()
		a := &store.User{Email: "a@example.com", PasswordHash: "h", Role: store.RoleAdmin}
		b := &store.User{Email: "b@example.com", PasswordHash: "h", Role: store.RoleAdmin}
		mustNil(t, s.CreateUser(ctx, a))
		mustNil(t, s.CreateUser(ctx, b))
		for round := range 25 {
			// Demote one and disable the other, so both ways out are raced.
			start := make(chan struct{})
			errs := make([]error, 2)
			var wg sync.WaitGroup
			for i, change := range []struct {
				id       int64
				role     store.Role
				disabled bool
			}{{a.ID, store.RoleOperator, false}, {b.ID, store.RoleAdmin, true}} {
				wg.Add(1)
				go func() {
					defer wg.Done()
					<-start
					_, _, errs[i] = s.UpdateUserAccess(ctx, change.id, access(change.role, change.disabled))
				}()
			}
			close(start)
			wg.Wait()
			refused := 0
			for _, err := range errs {
				switch {
				case err == nil:
				case errors.Is(err, store.ErrLastAdmin):
					refused++
				default:
					t.Fatalf("round %d: %v", round, err)
				}
			}
			if n := storetest.ActiveAdmins(t, s); n != 1 || refused != 1 {
				t.Fatalf("round %d: %d active admins, %d refused (errors %v)", round, n, refused, errs)
			}
			for _, id := range []int64{a.ID, b.ID} {
				if _, _, err := s.UpdateUserAccess(ctx, id, access(store.RoleAdmin, false)); err != nil {
					t.Fatalf("round %d: restore admin %d: %v", round, id, err)
				}
			}
		}
	})
}

// TestUserPasswordUpdates checks that password writes touch only the hash:
// a rehash at login after an admin disabled the user must not enable them
// again, and a rehash loses to a password changed meanwhile.
func TestUserPasswordUpdates(t *testing.T) {
	storetest.Each(t, func(t *testing.T, s *store.Store) {
		ctx := t.Context()
		admin := &store.User{Email: "admin@example.com", PasswordHash: "h", Role: store.RoleAdmin}
		u := &store.User{Email: "u@example.com", PasswordHash: "old", Role: store.RoleOperator}
		mustNil(t, s.CreateUser(ctx, admin))
		mustNil(t, s.CreateUser(ctx, u))

		// An admin disables the user while a login of theirs is verifying.
		_, _, err := s.UpdateUserAccess(ctx, u.ID, access(store.RoleOperator, true))
		mustNil(t, err)
		ok, err := s.UpgradePasswordHash(ctx, u.ID, "old", "new")
		mustNil(t, err)
		got, err := s.GetUser(ctx, u.ID)
		mustNil(t, err)
		if !ok || got.PasswordHash != "new" || !got.Disabled || got.Role != store.RoleOperator {
			t.Fatalf("after the upgrade: wrote %v, %+v", ok, got)
		}
		// The upgrade of a hash that changed meanwhile writes nothing.
		mustNil(t, s.SetUserPassword(ctx, u.ID, "reset"))
		ok, err = s.UpgradePasswordHash(ctx, u.ID, "new", "upgraded")
		mustNil(t, err)
		got, err = s.GetUser(ctx, u.ID)
		mustNil(t, err)
		if ok || got.PasswordHash != "reset" || !got.Disabled {
			t.Fatalf("after a stale upgrade: wrote %v, %+v", ok, got)
		}
		wantErr(t, s.SetUserPassword(ctx, 9999, "x"), store.ErrNotFound)
		if err := s.SetUserPassword(ctx, u.ID, ""); err == nil {
			t.Fatal("an empty hash was stored")
		}
	})
}

// access is the change to role and disabled.
func access(role store.Role, disabled bool) store.UserAccess {
	return store.UserAccess{Role: &role, Disabled: &disabled}
}
