// Package schedule parses and evaluates the schedule of a backup plan: a
// 5-field cron expression (or one of its names such as @daily) or
// "@every <duration>", read in the plan's IANA time zone.
//
// Parsing is robfig/cron's; this package adds what a plan needs on top:
// validation with one reason per input field (for a 422), a minimum interval,
// due times that neither skip nor double across daylight-saving changes, a
// preview of the next due times, the due times missed while coffer was down,
// and a sentence describing the schedule for the UI.
//
// # Daylight saving
//
// A cron expression names wall-clock times. When clocks change, this package
// follows the rule of iCalendar (RFC 5545, section 3.3.5):
//
//   - A wall-clock time skipped when clocks go forward runs at the time it
//     would have been without the jump, read with the offset in force before
//     it: "30 2 * * *" in Europe/Berlin runs at 03:30 CEST on the last Sunday
//     of March, and in America/New_York at 03:30 EDT on the second Sunday of
//     March. A daily run still happens exactly once that day.
//   - A wall-clock time that happens twice when clocks go back runs once, at
//     its first occurrence (summer time): "30 2 * * *" in Europe/Berlin runs at
//     02:30 CEST on the last Sunday of October, not again at 02:30 CET.
//
// An expression whose hour field covers every hour ("*/15 * * * *",
// "0 * * * *", @hourly) is a pattern of minutes within every real hour
// instead: it runs in both passes of a repeated hour (each is a different
// hour) and the skipped hour simply has no runs, so an hourly schedule runs
// once an hour, every hour, through both changes.
//
// robfig/cron alone skips the daily run on the spring day and runs it twice
// on the autumn day (TestRobfigAloneSkipsAndDoubles pins that), which is why
// this package resolves wall-clock times itself and uses robfig/cron's
// schedule only to walk the calendar in a clock without daylight saving.
//
// "@every <duration>" is a fixed interval in absolute time, unaffected by
// daylight saving, anchored on the Unix epoch: its due times are the instants
// whose distance from 1970-01-01T00:00:00Z is a whole multiple of the
// duration (so "@every 5m" runs at :00, :05, :10...). Due times therefore do
// not depend on when a plan was created or edited, and every process computes
// the same ones.
package schedule

import (
	"fmt"
	"sort"
	"strings"
	"time"

	// IANA time zone names must work on hosts without a zoneinfo database
	// (minimal containers); the embedded copy is used only when the host has
	// none.
	_ "time/tzdata"

	"github.com/robfig/cron/v3"
)

// DefaultMinInterval is the shortest gap between two due times a schedule may
// have when the operator sets no other (COFFER_MIN_SCHEDULE_INTERVAL).
const DefaultMinInterval = time.Minute

// MaxCount bounds the number of due times NextN returns.
const MaxCount = 1000

// MissedLimit bounds the number of due times Missed returns.
const MissedLimit = 100

// MissedHorizon is how far before now Missed looks for due times.
const MissedHorizon = 366 * 24 * time.Hour

// searchLimit is how far after a time Next looks for the next due time;
// robfig/cron's calendar walk gives up after five years too.
const searchLimit = 5 * 366 * 24 * time.Hour

// FieldErrors is a validation failure: input field name ("schedule",
// "timezone") to a sentence saying what is wrong, for a 422 that names the
// field.
type FieldErrors map[string]string

// Error lists the field reasons in field order.
func (e FieldErrors) Error() string {
	keys := make([]string, 0, len(e))
	for k := range e {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	parts := make([]string, len(keys))
	for i, k := range keys {
		parts[i] = k + " " + e[k]
	}
	return "invalid schedule: " + strings.Join(parts, "; ")
}

// Schedule is a parsed and validated plan schedule in its time zone. It is
// immutable and safe for concurrent use.
type Schedule struct {
	expr string
	zone string
	loc  *time.Location

	every time.Duration // > 0 for "@every <duration>"

	// spec holds the cron fields, evaluated in UTC: a clock without daylight
	// saving on which wall-clock times of loc are laid out (see resolve).
	spec *cron.SpecSchedule
	// allHours is true when the hour field covers every hour: the expression
	// is a pattern of minutes within every real hour.
	allHours bool

	gap time.Duration // the shortest gap between consecutive due times
}

// parser reads 5-field expressions and the @-names; seconds are not a field.
var parser = cron.NewParser(cron.Minute | cron.Hour | cron.Dom | cron.Month | cron.Dow | cron.Descriptor)

// Parse validates a schedule expression and a time zone and returns the
// schedule. expr is a 5-field cron expression (minute hour day-of-month month
// day-of-week, with names such as MON or JAN), a name (@hourly, @daily or
// @midnight, @weekly, @monthly, @yearly or @annually) or "@every <duration>"
// with a Go duration ("@every 90m"). timezone is an IANA name; empty means
// UTC. Due times may not come closer together than minInterval (0 or less
// means DefaultMinInterval). The error is a FieldErrors naming "schedule"
// and/or "timezone".
func Parse(expr, timezone string, minInterval time.Duration) (*Schedule, error) {
	if minInterval <= 0 {
		minInterval = DefaultMinInterval
	}
	errs := FieldErrors{}
	s := &Schedule{expr: strings.TrimSpace(expr)}
	var why string
	if s.loc, s.zone, why = loadZone(timezone); why != "" {
		errs["timezone"] = why
	}
	if why := s.parseExpr(minInterval); why != "" {
		errs["schedule"] = why
	}
	if len(errs) > 0 {
		return nil, errs
	}
	return s, nil
}

// loadZone resolves an IANA name; the reason is empty when it is valid.
func loadZone(name string) (*time.Location, string, string) {
	name = strings.TrimSpace(name)
	if name == "" || name == "UTC" {
		return time.UTC, "UTC", ""
	}
	if strings.EqualFold(name, "local") {
		return nil, "", `must be an IANA time zone name such as "Europe/Berlin"; "Local" would depend on the server's settings`
	}
	loc, err := time.LoadLocation(name)
	if err != nil {
		return nil, "", fmt.Sprintf("%q is not a known IANA time zone name (such as \"Europe/Berlin\" or \"America/New_York\")", name)
	}
	return loc, name, ""
}

const exprHelp = `a 5-field cron expression such as "30 2 * * *", a name such as @daily, or "@every 6h"`

var cronFields = [5]string{"minute", "hour", "day-of-month", "month", "day-of-week"}

// parseExpr fills the schedule from s.expr; it returns why the expression is
// refused, or "".
func (s *Schedule) parseExpr(minInterval time.Duration) string {
	fields := strings.Fields(s.expr)
	switch {
	case len(fields) == 0:
		return "is required: " + exprHelp
	case strings.HasPrefix(s.expr, "TZ=") || strings.HasPrefix(s.expr, "CRON_TZ="):
		return "must not carry its own time zone (TZ=...); set the timezone field instead"
	case fields[0] == "@every":
		return s.parseEvery(fields, minInterval)
	case strings.HasPrefix(fields[0], "@"):
		if len(fields) != 1 {
			return fmt.Sprintf("%q takes nothing after it", fields[0])
		}
		sched, err := parser.Parse(fields[0])
		if err != nil {
			return fmt.Sprintf(`%q is not a known name; use @hourly, @daily, @midnight, @weekly, @monthly, @yearly, @annually or "@every <duration>"`, fields[0])
		}
		return s.setSpec(sched, minInterval)
	case len(fields) == 6:
		return "has 6 fields; coffer schedules have 5 (minute hour day-of-month month day-of-week), without a seconds field"
	case len(fields) != 5:
		return fmt.Sprintf("has %d fields; a cron expression has 5: minute hour day-of-month month day-of-week", len(fields))
	}
	sched, err := parser.Parse(strings.Join(fields, " "))
	if err != nil {
		return cronFieldError(fields, err)
	}
	return s.setSpec(sched, minInterval)
}

// cronFieldError names the first cron field robfig/cron refuses.
func cronFieldError(fields []string, whole error) string {
	for i, f := range fields {
		probe := []string{"*", "*", "*", "*", "*"}
		probe[i] = f
		if _, err := parser.Parse(strings.Join(probe, " ")); err != nil {
			return fmt.Sprintf("is not a valid cron expression: the %s field %q is wrong (%v)", cronFields[i], f, err)
		}
	}
	return fmt.Sprintf("is not a valid cron expression (%v)", whole)
}

func (s *Schedule) parseEvery(fields []string, minInterval time.Duration) string {
	if len(fields) != 2 {
		return `"@every" takes one Go duration, such as "@every 6h" or "@every 90m"`
	}
	d, err := time.ParseDuration(fields[1])
	if err != nil {
		return fmt.Sprintf(`"@every %s": %q is not a duration; write it as Go does, such as 90s, 15m or 6h`, fields[1], fields[1])
	}
	if d <= 0 {
		return `"@every" needs a duration longer than zero`
	}
	if d < minInterval {
		return fmt.Sprintf("runs every %s, more often than the minimum of %s", humanDuration(d), humanDuration(minInterval))
	}
	s.every, s.gap = d, d
	s.expr = "@every " + fields[1]
	return ""
}

func (s *Schedule) setSpec(sched cron.Schedule, minInterval time.Duration) string {
	spec, ok := sched.(*cron.SpecSchedule)
	if !ok {
		return "is not a supported schedule: " + exprHelp
	}
	wallSpec := *spec
	wallSpec.Location = time.UTC
	s.spec = &wallSpec
	s.allHours = spec.Hour&hourBits == hourBits
	gap, fires := shortestGap(&wallSpec)
	if !fires {
		return "never runs: no date matches it (such as 30 February)"
	}
	if gap < minInterval {
		return fmt.Sprintf("runs as little as %s apart, more often than the minimum of %s", humanDuration(gap), humanDuration(minInterval))
	}
	s.gap = gap
	s.expr = strings.Join(strings.Fields(s.expr), " ")
	return ""
}

// hourBits has a bit for each hour of the day.
const hourBits = 1<<24 - 1

// shortestGap returns the shortest wall-clock gap between two consecutive fire
// times of a cron schedule, and false when it never fires. It looks at the
// minutes of a day and at the days that match over 28 years (the period of
// weekdays against dates in this century).
func shortestGap(spec *cron.SpecSchedule) (time.Duration, bool) {
	var times []int // minutes of the day, ascending
	for h := 0; h < 24; h++ {
		if spec.Hour&(1<<h) == 0 {
			continue
		}
		for m := 0; m < 60; m++ {
			if spec.Minute&(1<<m) != 0 {
				times = append(times, h*60+m)
			}
		}
	}
	if len(times) == 0 {
		return 0, false
	}
	gap := -1
	for i := 1; i < len(times); i++ {
		if d := times[i] - times[i-1]; gap < 0 || d < gap {
			gap = d
		}
	}
	// The days that match, over 28 years.
	start := time.Date(2001, 1, 1, 0, 0, 0, 0, time.UTC)
	end := time.Date(2029, 1, 1, 0, 0, 0, 0, time.UTC)
	prev := -1
	found := false
	dayGap := 0
	for i, day := 0, start; day.Before(end) && dayGap != 1; i, day = i+1, day.AddDate(0, 0, 1) {
		if !dayMatches(spec, day) {
			continue
		}
		found = true
		if prev >= 0 && (dayGap == 0 || i-prev < dayGap) {
			dayGap = i - prev
		}
		prev = i
	}
	if !found {
		return 0, false
	}
	if dayGap > 0 {
		if d := dayGap*24*60 - times[len(times)-1] + times[0]; gap < 0 || d < gap {
			gap = d
		}
	}
	if gap < 0 { // one time of day on a single day in 28 years: cannot happen with valid fields
		gap = 28 * 365 * 24 * 60
	}
	return time.Duration(gap) * time.Minute, true
}

// starBit marks a cron field written as "*" in robfig/cron's bit sets.
const starBit = 1 << 63

// dayMatches reports whether the day of t matches the day fields of spec,
// the way robfig/cron decides it: the month must match; day-of-month and
// day-of-week must both match when either is "*", and either must otherwise.
func dayMatches(spec *cron.SpecSchedule, t time.Time) bool {
	if spec.Month&(1<<uint(t.Month())) == 0 {
		return false
	}
	dom := spec.Dom&(1<<uint(t.Day())) != 0
	dow := spec.Dow&(1<<uint(t.Weekday())) != 0
	if spec.Dom&starBit != 0 || spec.Dow&starBit != 0 {
		return dom && dow
	}
	return dom || dow
}

// String returns the schedule expression, with runs of blanks made single.
func (s *Schedule) String() string { return s.expr }

// Zone returns the IANA name of the schedule's time zone ("UTC" by default).
func (s *Schedule) Zone() string { return s.zone }

// Location returns the schedule's time zone.
func (s *Schedule) Location() *time.Location { return s.loc }

// ShortestGap returns the shortest gap between two consecutive due times: the
// interval of "@every", and for a cron expression the shortest wall-clock gap
// over its days (a daylight-saving jump can bring two runs closer once; see
// the package documentation).
func (s *Schedule) ShortestGap() time.Duration { return s.gap }

// Next returns the first due time strictly after after, in the schedule's
// time zone, or the zero time when there is none in the next five years.
func (s *Schedule) Next(after time.Time) time.Time {
	if s.every > 0 {
		return s.nextEvery(after)
	}
	for span := time.Hour; span <= searchLimit*4; span *= 4 {
		if ts := s.between(after, after.Add(span)); len(ts) > 0 {
			return ts[0]
		}
	}
	return time.Time{}
}

// NextN returns the first n due times strictly after after, in order, for
// previews ("the next 5 runs"); n is capped at MaxCount. It returns fewer
// when the schedule ends.
func (s *Schedule) NextN(after time.Time, n int) []time.Time {
	n = min(n, MaxCount)
	var out []time.Time
	for t := after; len(out) < n; {
		t = s.Next(t)
		if t.IsZero() {
			break
		}
		out = append(out, t)
	}
	return out
}

// Missed returns the due times in (lastDue, now], oldest first, so a
// scheduler coming back from downtime can see it missed one or more runs and
// decide to run once or to wait. At most the latest MissedLimit of them come
// back, and none older than MissedHorizon before now (a zero lastDue means
// "since MissedHorizon ago"); more reports that there were earlier ones in
// that window than the first returned.
func (s *Schedule) Missed(lastDue, now time.Time) (due []time.Time, more bool) {
	lower := lastDue
	if floor := now.Add(-MissedHorizon); lower.Before(floor) {
		lower = floor
	}
	if !now.After(lower) {
		return nil, false
	}
	for span := time.Hour; ; span *= 4 {
		from := now.Add(-span)
		if !from.After(lower) {
			from = lower
		}
		due = s.between(from, now)
		if len(due) >= MissedLimit || from.Equal(lower) {
			break
		}
	}
	if len(due) > MissedLimit {
		return due[len(due)-MissedLimit:], true
	}
	if len(due) > 0 {
		more = s.Next(lower).Before(due[0])
	}
	return due, more
}

// between returns the due times in (from, to], ascending, in the schedule's
// time zone.
func (s *Schedule) between(from, to time.Time) []time.Time {
	if !to.After(from) {
		return nil
	}
	var out []time.Time
	if s.every > 0 {
		for t := s.nextEvery(from); !t.After(to); t = t.Add(s.every) {
			out = append(out, t)
		}
		return out
	}
	// A due time r comes from a wall-clock time w read with one of the
	// offsets in force around it, r = w - offset, so w lies in
	// (from+lo, to+hi] for the smallest and largest offsets lo and hi.
	lo, hi := offsetRange(s.loc, from.Add(-48*time.Hour), to.Add(48*time.Hour))
	last := to.Add(hi).UTC()
	for w := s.spec.Next(from.Add(lo).UTC()); !w.IsZero() && !w.After(last); w = s.spec.Next(w) {
		if lo == hi { // no change of offset near: one instant per reading
			if r := w.Add(-lo).In(s.loc); r.After(from) && !r.After(to) {
				out = append(out, r)
			}
			continue
		}
		for _, r := range s.resolve(w) {
			if r.After(from) && !r.After(to) {
				out = append(out, r)
			}
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Before(out[j]) })
	// Two wall-clock times can land on one instant (a skipped 02:30 moved to
	// 03:30 when 03:30 is due too); it is one due time.
	uniq := out[:0]
	for _, t := range out {
		if len(uniq) == 0 || !uniq[len(uniq)-1].Equal(t) {
			uniq = append(uniq, t)
		}
	}
	return uniq
}

// resolve turns a wall-clock fire time (fields in UTC) into the due times it
// stands for in the schedule's zone; see the package documentation.
func (s *Schedule) resolve(w time.Time) []time.Time {
	occ := occurrences(w, s.loc)
	if s.allHours {
		return occ // every real hour: both passes of a repeated hour, none in a skipped one
	}
	if len(occ) > 0 {
		return occ[:1] // the first pass of a repeated time
	}
	return []time.Time{skipped(w, s.loc)}
}

// nextEvery returns the first multiple of the interval since the Unix epoch
// strictly after t. Times must lie within about 290 years of 1970.
func (s *Schedule) nextEvery(t time.Time) time.Time {
	d := s.every.Nanoseconds()
	n := t.UnixNano()
	k := n / d
	if n%d < 0 {
		k-- // floor for times before 1970
	}
	return time.Unix(0, (k+1)*d).In(s.loc)
}
