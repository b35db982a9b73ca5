//go:build crashhook

package app

import "testing"

// TestCrashHookSpec checks which values of the crash tests' variable arm
// the hook (it is not fired here: it kills the process).
func TestCrashHookSpec(t *testing.T) {
	t.Parallel()
	for spec, armed := range map[string]bool{
		"": false, "listing": false, "listing:0": false, "listing:x": false,
		"listing:1": true, "after-checkpoint:3": true,
	} {
		hook := crashHook(func(k string) string {
			if k == "COFFER_TEST_CRASH_AT" {
				return spec
			}
			return ""
		})
		if (hook != nil) != armed {
			t.Errorf("%q: armed %v, want %v", spec, hook != nil, armed)
		}
		if hook != nil {
			hook("another-point") // a point other than the armed one does nothing
		}
	}
}
