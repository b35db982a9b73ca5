//go:build !race

package agecrypt

// raceEnabled reports whether the tests run under the race detector.
const raceEnabled = false
