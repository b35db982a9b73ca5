//go:build !crashhook

package app

import "testing"

// TestNoCrashHookInRelease checks that a build without the crashhook tag
// ignores the crash tests' variable (`make build` also checks that its name
// is not in bin/coffer at all).
func TestNoCrashHookInRelease(t *testing.T) {
	t.Parallel()
	if crashHook(func(string) string { return "listing:1" }) != nil {
		t.Fatal("a release build has a crash hook")
	}
}
