//go:build !crashhook

package app

// crashHook is nil in release binaries: the crash tests' hook exists only
// in binaries built with the crashhook tag (see crashhook.go).
func crashHook(func(string) string) func(string) { return nil }
