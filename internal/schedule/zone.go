package schedule

import (
	"sort"
	"time"
)

// Wall-clock times are carried as time.Time values in UTC whose fields are
// the clock reading in the schedule's zone: a clock without daylight saving,
// on which robfig/cron's calendar walk never skips or repeats anything.

// wallClock returns what loc's clocks read at t, as a UTC time with those
// fields.
func wallClock(t time.Time, loc *time.Location) time.Time {
	_, off := t.In(loc).Zone()
	return t.Add(time.Duration(off) * time.Second).UTC()
}

// occurrences returns the instants at which loc's clocks read w, earliest
// first: one on most days, two in an hour repeated when clocks go back, none
// in an hour skipped when they go forward.
func occurrences(w time.Time, loc *time.Location) []time.Time {
	var out []time.Time
	for _, off := range nearbyOffsets(w, loc) {
		t := w.Add(-time.Duration(off) * time.Second).In(loc)
		if !wallClock(t, loc).Equal(w) {
			continue
		}
		dup := false
		for _, o := range out {
			dup = dup || o.Equal(t)
		}
		if !dup {
			out = append(out, t)
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Before(out[j]) })
	return out
}

// nearbyOffsets returns the UTC offsets (seconds east) in force around the
// wall-clock time w: those of the zone period time.Date picks for it and of
// the periods on either side, which include both offsets of any transition w
// falls into.
func nearbyOffsets(w time.Time, loc *time.Location) []int {
	t0 := time.Date(w.Year(), w.Month(), w.Day(), w.Hour(), w.Minute(), w.Second(), w.Nanosecond(), loc)
	_, off := t0.Zone()
	offs := []int{off}
	start, end := t0.ZoneBounds()
	if !start.IsZero() {
		_, o := start.Add(-time.Nanosecond).Zone()
		offs = append(offs, o)
	}
	if !end.IsZero() {
		_, o := end.Zone()
		offs = append(offs, o)
	}
	return offs
}

// skipped returns the instant for a wall-clock time w that loc's clocks jump
// over: w read with the offset in force before the jump, which is as long
// after the jump as w is after the last reading before it (02:30 in a jump
// from 02:00 to 03:00 becomes 03:30).
func skipped(w time.Time, loc *time.Location) time.Time {
	t0 := time.Date(w.Year(), w.Month(), w.Day(), w.Hour(), w.Minute(), w.Second(), w.Nanosecond(), loc)
	start, end := t0.ZoneBounds()
	for _, jump := range []time.Time{start, end} {
		if jump.IsZero() {
			continue
		}
		before := wallClock(jump.Add(-time.Nanosecond), loc).Add(time.Nanosecond)
		after := wallClock(jump, loc)
		if !w.Before(before) && w.Before(after) {
			return jump.Add(w.Sub(before)).In(loc)
		}
	}
	return t0 // not in a jump after all; time.Date's reading is the instant
}

// offsetRange returns the smallest and largest UTC offset loc uses between a
// and b.
func offsetRange(loc *time.Location, a, b time.Time) (lo, hi time.Duration) {
	_, off := a.In(loc).Zone()
	lo, hi = time.Duration(off)*time.Second, time.Duration(off)*time.Second
	t := a.In(loc)
	for i := 0; i < 1000; i++ { // a zone changes offset a few times a year
		_, end := t.ZoneBounds()
		if end.IsZero() || end.After(b) {
			break
		}
		t = end
		_, off := t.Zone()
		d := time.Duration(off) * time.Second
		lo, hi = min(lo, d), max(hi, d)
	}
	return lo, hi
}
