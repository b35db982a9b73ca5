package engine

import (
	"runtime/debug"
	"testing"
)

func TestSetGCPercent(t *testing.T) {
	old := debug.SetGCPercent(100)
	defer debug.SetGCPercent(old)

	SetGCPercent(func(string) string { return "200" })
	if got := debug.SetGCPercent(100); got != 100 {
		t.Errorf("with GOGC set, the collector's target became %d; want it left alone (100)", got)
	}
	SetGCPercent(func(k string) string {
		if k != "GOGC" {
			t.Errorf("SetGCPercent read %q, want GOGC", k)
		}
		return ""
	})
	if got := debug.SetGCPercent(100); got != GCPercent {
		t.Errorf("without GOGC the collector's target is %d, want %d", got, GCPercent)
	}
}
