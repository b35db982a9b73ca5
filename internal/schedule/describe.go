package schedule

import (
	"fmt"
	"strings"
	"time"
)

// Describe returns a sentence for the UI saying when the schedule runs:
// "every 5 minutes", "at minute 0 of every hour", "every day at 02:30
// (Europe/Berlin)", "every Monday to Friday at 22:00 (UTC)", "on day 1 of
// every month at 00:00 (UTC)". Shapes it has no words for come back as the
// expression: `cron "*/5 9-17 * * 1-5" (Europe/Berlin)`.
func (s *Schedule) Describe() string {
	if s.every > 0 {
		return "every " + humanDuration(s.every)
	}
	if d, ok := s.describeSpec(); ok {
		return d
	}
	return fmt.Sprintf("cron %q (%s)", s.expr, s.zone)
}

var weekdayNames = [7]string{"Sunday", "Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday"}

func (s *Schedule) describeSpec() (string, bool) {
	minutes := setBits(s.spec.Minute, 0, 59)
	hours := setBits(s.spec.Hour, 0, 23)
	doms := setBits(s.spec.Dom, 1, 31)
	months := setBits(s.spec.Month, 1, 12)
	dows := setBits(s.spec.Dow, 0, 6)
	allDom, allMonths, allDow := len(doms) == 31, len(months) == 12, len(dows) == 7

	// Patterns within every hour of every day.
	if len(hours) == 24 && allDom && allMonths && allDow {
		if len(minutes) == 60 {
			return "every minute", true
		}
		if k, ok := step(minutes, 60); ok && k > 1 {
			return fmt.Sprintf("every %d minutes", k), true
		}
		if len(minutes) <= 4 {
			if len(minutes) == 1 {
				return fmt.Sprintf("at minute %d of every hour", minutes[0]), true
			}
			return fmt.Sprintf("at minutes %s of every hour", joinAnd(itoas(minutes))), true
		}
		return "", false
	}

	var days string
	switch {
	case allDom && allMonths && allDow:
		days = "every day"
	case allDom && allMonths:
		days = "every " + weekdays(dows)
	case allMonths && allDow:
		if len(doms) == 1 {
			days = fmt.Sprintf("on day %d of every month", doms[0])
		} else if len(doms) <= 4 {
			days = fmt.Sprintf("on days %s of every month", joinAnd(itoas(doms)))
		} else {
			return "", false
		}
	case allDow && len(doms) == 1 && len(months) == 1:
		days = fmt.Sprintf("every year on %d %s", doms[0], time.Month(months[0]))
	case allDow && len(doms) == 1 && len(months) <= 4:
		names := make([]string, len(months))
		for i, m := range months {
			names[i] = time.Month(m).String()
		}
		days = fmt.Sprintf("on day %d of %s", doms[0], joinAnd(names))
	default:
		return "", false
	}

	// Times of the day: listed when there are few, else a step of hours.
	if n := len(minutes) * len(hours); n <= 4 {
		var times []string
		for _, h := range hours {
			for _, m := range minutes {
				times = append(times, fmt.Sprintf("%02d:%02d", h, m))
			}
		}
		return fmt.Sprintf("%s at %s (%s)", days, joinAnd(times), s.zone), true
	}
	if k, ok := step(hours, 24); ok && len(minutes) == 1 && days == "every day" {
		return fmt.Sprintf("every %d hours at minute %d (%s)", k, minutes[0], s.zone), true
	}
	return "", false
}

// weekdays names a set of days of the week (0 = Sunday), Monday first: "Monday",
// "Monday and Thursday", "Monday to Friday".
func weekdays(dows []int) string {
	// Monday first: Sunday (0) goes last.
	order := make([]int, 0, len(dows))
	hasSunday := false
	for _, d := range dows {
		if d == 0 {
			hasSunday = true
			continue
		}
		order = append(order, d)
	}
	if hasSunday {
		order = append(order, 7)
	}
	if len(order) >= 3 && order[len(order)-1]-order[0] == len(order)-1 {
		return weekdayNames[order[0]%7] + " to " + weekdayNames[order[len(order)-1]%7]
	}
	names := make([]string, len(order))
	for i, d := range order {
		names[i] = weekdayNames[d%7]
	}
	return joinAnd(names)
}

// setBits lists the values lo..hi whose bit is set.
func setBits(bits uint64, lo, hi int) []int {
	var out []int
	for v := lo; v <= hi; v++ {
		if bits&(1<<v) != 0 {
			out = append(out, v)
		}
	}
	return out
}

// step reports whether vals is 0, k, 2k... covering a cycle of period n
// evenly, and returns k.
func step(vals []int, n int) (int, bool) {
	if len(vals) < 2 || vals[0] != 0 {
		return 0, false
	}
	k := vals[1]
	if n%k != 0 || len(vals) != n/k {
		return 0, false
	}
	for i, v := range vals {
		if v != i*k {
			return 0, false
		}
	}
	return k, true
}

func itoas(vals []int) []string {
	out := make([]string, len(vals))
	for i, v := range vals {
		out[i] = fmt.Sprint(v)
	}
	return out
}

// joinAnd joins words as a sentence does: "a", "a and b", "a, b and c".
func joinAnd(words []string) string {
	switch len(words) {
	case 0:
		return ""
	case 1:
		return words[0]
	}
	return strings.Join(words[:len(words)-1], ", ") + " and " + words[len(words)-1]
}

// humanDuration says a duration in words when it is a whole number of days,
// hours, minutes or seconds ("5 minutes", "1 hour", "36 hours"), and in Go's
// notation otherwise ("1h30m0s" reads "90 minutes"; "1.5s" stays "1.5s").
func humanDuration(d time.Duration) string {
	units := []struct {
		size time.Duration
		name string
	}{
		{24 * time.Hour, "day"},
		{time.Hour, "hour"},
		{time.Minute, "minute"},
		{time.Second, "second"},
	}
	for _, u := range units {
		if d >= u.size && d%u.size == 0 {
			n := int64(d / u.size)
			if n == 1 {
				return "1 " + u.name
			}
			return fmt.Sprintf("%d %ss", n, u.name)
		}
	}
	return d.String()
}
