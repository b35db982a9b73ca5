package engine

import "runtime/debug"

// GCPercent is the Go collector's target (GOGC) that `coffer serve` and
// `coffer worker` run with unless GOGC is set. What a backup holds is mostly
// large byte buffers (objects read ahead, parts, compressor blocks) that the
// collector does not scan, so collecting more often costs little CPU; with
// Go's default of 100 the garbage between two collections may grow as large
// as everything live, which adds tens of MiB to a process that holds about
// 50 MiB. docs/benchmarks.md has the measurements.
const GCPercent = 50

// SetGCPercent applies GCPercent unless the environment sets GOGC, which
// then stays in charge.
func SetGCPercent(getenv func(string) string) {
	if getenv("GOGC") == "" {
		debug.SetGCPercent(GCPercent)
	}
}
