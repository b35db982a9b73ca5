// Package version holds coffer's version, set at build time with -ldflags.
package version

// Version is the release or commit coffer was built from ("dev" otherwise).
// It is a variable only so that the linker can set it.
var Version = "dev"
