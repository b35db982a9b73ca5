//go:build race

package agecrypt

// raceEnabled reports whether the tests run under the race detector, which
// makes scrypt at age's default work factor take tens of seconds.
const raceEnabled = true
