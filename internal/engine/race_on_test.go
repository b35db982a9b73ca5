//go:build race

package engine_test

// raceDetector is true when the tests run with -race, which slows the
// in-process FerretDB tenfold: the MongoDB tests use less data then.
const raceDetector = true
