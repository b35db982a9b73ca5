package retention

import (
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"
)

// Duration is the span of keep_within. It is written either as restic
// writes it, a number of years, months, days and hours ("7d", "2y5m7d3h";
// "m" is months), counted on the calendar of the plan's time zone, or as a
// Go duration ("1.5h", "36h0m0s"), an exact length of time. A text that fits
// restic's form is read that way, so "30m" is 30 months and "72h" 72 hours;
// minutes need Go's form with another unit ("90m0s", "1.5h").
type Duration struct {
	Years, Months, Days, Hours int           // restic's form
	Exact                      time.Duration // Go's form; the calendar parts are then zero
}

// maxPart bounds each number of restic's form (a million hours is over a
// century).
const maxPart = 1_000_000

// ParseDuration reads a keep_within value; see Duration for the two forms.
func ParseDuration(s string) (Duration, error) {
	s = strings.TrimSpace(s)
	if s == "" {
		return Duration{}, errors.New("is empty; give a duration such as 7d or 1y6m, or leave keep_within out")
	}
	if d, ok, err := parseResticForm(s); ok || err != nil {
		return d, err
	}
	exact, err := time.ParseDuration(s)
	if err != nil {
		return Duration{}, fmt.Errorf("%q is not a duration: write it as restic does (7d, 2y6m, 1y2m3d4h; m is months) or as Go does (36h, 1.5h)", s)
	}
	if exact <= 0 {
		return Duration{}, errors.New("must be longer than zero; leave keep_within out to turn the rule off")
	}
	return Duration{Exact: exact}, nil
}

// parseResticForm reads "<n><unit>..." with units y, m, d and h. ok is false
// when s is not in that form at all (so it may be a Go duration).
func parseResticForm(s string) (d Duration, ok bool, err error) {
	seen := map[byte]bool{}
	rest := s
	for rest != "" {
		i := 0
		for i < len(rest) && rest[i] >= '0' && rest[i] <= '9' {
			i++
		}
		if i == 0 || i == len(rest) || !strings.ContainsRune("ymdh", rune(rest[i])) {
			return Duration{}, false, nil
		}
		unit := rest[i]
		n, convErr := strconv.Atoi(rest[:i])
		if convErr != nil || n > maxPart {
			return Duration{}, true, fmt.Errorf("%q is too large", rest[:i+1])
		}
		if seen[unit] {
			return Duration{}, true, fmt.Errorf("%q gives %s twice", s, unitName(unit))
		}
		seen[unit] = true
		switch unit {
		case 'y':
			d.Years = n
		case 'm':
			d.Months = n
		case 'd':
			d.Days = n
		case 'h':
			d.Hours = n
		}
		rest = rest[i+1:]
	}
	if d == (Duration{}) {
		return Duration{}, true, errors.New("must be longer than zero; leave keep_within out to turn the rule off")
	}
	return d, true, nil
}

func unitName(u byte) string {
	return map[byte]string{'y': "years", 'm': "months", 'd': "days", 'h': "hours"}[u]
}

// IsZero reports whether d is the zero span (keep_within not set).
func (d Duration) IsZero() bool { return d == Duration{} }

// String writes d back in its form: "1y2m3d4h" without zero parts, or Go's
// notation for an exact duration.
func (d Duration) String() string {
	if d.Exact != 0 {
		return d.Exact.String()
	}
	var b strings.Builder
	for _, p := range []struct {
		n    int
		unit string
	}{{d.Years, "y"}, {d.Months, "m"}, {d.Days, "d"}, {d.Hours, "h"}} {
		if p.n != 0 {
			fmt.Fprintf(&b, "%d%s", p.n, p.unit)
		}
	}
	return b.String()
}

// Before returns the instant d before t: calendar years, months and days
// counted in loc (as Go's AddDate does: 31 March minus one month is
// 2 March), then hours of elapsed time; or t minus the exact duration.
func (d Duration) Before(t time.Time, loc *time.Location) time.Time {
	if d.Exact != 0 {
		return t.Add(-d.Exact)
	}
	return t.In(loc).AddDate(-d.Years, -d.Months, -d.Days).Add(-time.Duration(d.Hours) * time.Hour)
}
