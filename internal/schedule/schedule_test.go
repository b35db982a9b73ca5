package schedule

import (
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/robfig/cron/v3"
)

func mustParse(t *testing.T, expr, zone string, minInterval time.Duration) *Schedule {
	t.Helper()
	s, err := Parse(expr, zone, minInterval)
	if err != nil {
		t.Fatalf("Parse(%q, %q): %v", expr, zone, err)
	}
	return s
}

func mustTime(t *testing.T, s string) time.Time {
	t.Helper()
	tm, err := time.Parse(time.RFC3339, s)
	if err != nil {
		t.Fatal(err)
	}
	return tm
}

func mustZone(t *testing.T, name string) *time.Location {
	t.Helper()
	loc, err := time.LoadLocation(name)
	if err != nil {
		t.Fatal(err)
	}
	return loc
}

func TestParseValid(t *testing.T) {
	day := 24 * time.Hour
	cases := []struct {
		expr, zone string
		min        time.Duration
		wantExpr   string
		wantZone   string
		wantGap    time.Duration
	}{
		{"* * * * *", "", 0, "* * * * *", "UTC", time.Minute},
		{"  30   2 * * *  ", "Europe/Berlin", 0, "30 2 * * *", "Europe/Berlin", day},
		{"*/5 * * * *", " America/New_York ", 5 * time.Minute, "*/5 * * * *", "America/New_York", 5 * time.Minute},
		{"*/7 * * * *", "UTC", 0, "*/7 * * * *", "UTC", 4 * time.Minute}, // :56 then :00
		{"0,50 * * * *", "UTC", 0, "0,50 * * * *", "UTC", 10 * time.Minute},
		{"0 23,0 * * *", "UTC", 0, "0 23,0 * * *", "UTC", time.Hour}, // 23:00 then 00:00 the next day
		{"0 0 * * 1,2", "UTC", 0, "0 0 * * 1,2", "UTC", day},
		{"0 0 * * 1,3", "UTC", 0, "0 0 * * 1,3", "UTC", 2 * day},
		{"0 0 * * 0,6", "UTC", 0, "0 0 * * 0,6", "UTC", day}, // Saturday then Sunday
		{"0 9 * * MON-FRI", "UTC", 0, "0 9 * * MON-FRI", "UTC", day},
		{"0 0 1 JAN,jul *", "UTC", 0, "0 0 1 JAN,jul *", "UTC", 181 * day},
		{"0 0 29 2 *", "UTC", 0, "0 0 29 2 *", "UTC", 1461 * day},
		{"0 0 31 * *", "UTC", 0, "0 0 31 * *", "UTC", 31 * day}, // 31 July -> 31 August
		{"@hourly", "", 0, "@hourly", "UTC", time.Hour},
		{"@daily", "", 0, "@daily", "UTC", day},
		{"@midnight", "", 0, "@midnight", "UTC", day},
		{"@weekly", "", 0, "@weekly", "UTC", 7 * day},
		{"@monthly", "", 0, "@monthly", "UTC", 28 * day},
		{"@yearly", "", 0, "@yearly", "UTC", 365 * day},
		{"@annually", "", 0, "@annually", "UTC", 365 * day},
		{"@every 5m", "", 0, "@every 5m", "UTC", 5 * time.Minute},
		{" @every   90m ", "", 0, "@every 90m", "UTC", 90 * time.Minute},
		{"@every 5s", "", time.Second, "@every 5s", "UTC", 5 * time.Second},
		{"@every 1m", "", -1, "@every 1m", "UTC", time.Minute}, // a minimum of 0 or less is the default
	}
	for _, c := range cases {
		t.Run(c.expr, func(t *testing.T) {
			s := mustParse(t, c.expr, c.zone, c.min)
			if s.String() != c.wantExpr || s.Zone() != c.wantZone || s.Location().String() != c.wantZone {
				t.Errorf("got %q in %q (%v), want %q in %q", s.String(), s.Zone(), s.Location(), c.wantExpr, c.wantZone)
			}
			if s.ShortestGap() != c.wantGap {
				t.Errorf("ShortestGap = %v, want %v", s.ShortestGap(), c.wantGap)
			}
		})
	}
}

func TestParseErrors(t *testing.T) {
	cases := []struct {
		expr, zone string
		min        time.Duration
		want       map[string]string // field -> substring of the reason
	}{
		{"", "", 0, map[string]string{"schedule": "is required"}},
		{"   ", "UTC", 0, map[string]string{"schedule": "is required"}},
		{"0 30 2 * * *", "", 0, map[string]string{"schedule": "has 6 fields"}},
		{"* * * *", "", 0, map[string]string{"schedule": "has 4 fields"}},
		{"* * * * * * *", "", 0, map[string]string{"schedule": "has 7 fields"}},
		{"61 * * * *", "", 0, map[string]string{"schedule": `the minute field "61" is wrong`}},
		{"0 25 * * *", "", 0, map[string]string{"schedule": `the hour field "25" is wrong`}},
		{"0 0 32 * *", "", 0, map[string]string{"schedule": `the day-of-month field "32" is wrong`}},
		{"0 0 0 * *", "", 0, map[string]string{"schedule": `the day-of-month field "0" is wrong`}},
		{"0 0 * 13 *", "", 0, map[string]string{"schedule": `the month field "13" is wrong`}},
		{"0 0 * * 8", "", 0, map[string]string{"schedule": `the day-of-week field "8" is wrong`}},
		{"0 0 * * FUNDAY", "", 0, map[string]string{"schedule": "day-of-week"}},
		{"x y z a b", "", 0, map[string]string{"schedule": "minute"}},
		{"*/0 * * * *", "", 0, map[string]string{"schedule": "minute"}},
		{"5-1 * * * *", "", 0, map[string]string{"schedule": "minute"}},
		{"0 0 30 2 *", "", 0, map[string]string{"schedule": "never runs"}},
		{"0 0 31 4,6,9,11 *", "", 0, map[string]string{"schedule": "never runs"}},
		{"@fortnightly", "", 0, map[string]string{"schedule": "not a known name"}},
		{"@DAILY", "", 0, map[string]string{"schedule": "not a known name"}},
		{"@daily 5", "", 0, map[string]string{"schedule": "takes nothing after it"}},
		{"@every", "", 0, map[string]string{"schedule": "takes one Go duration"}},
		{"@every 5 m", "", 0, map[string]string{"schedule": "takes one Go duration"}},
		{"@every 5x", "", 0, map[string]string{"schedule": "is not a duration"}},
		{"@every 1d", "", 0, map[string]string{"schedule": "is not a duration"}},
		{"@every -5m", "", 0, map[string]string{"schedule": "longer than zero"}},
		{"@every 0s", "", 0, map[string]string{"schedule": "longer than zero"}},
		{"@every 30s", "", 0, map[string]string{"schedule": "runs every 30 seconds, more often than the minimum of 1 minute"}},
		{"@every 4m59s", "", 5 * time.Minute, map[string]string{"schedule": "more often than the minimum of 5 minutes"}},
		{"* * * * *", "", 5 * time.Minute, map[string]string{"schedule": "runs as little as 1 minute apart, more often than the minimum of 5 minutes"}},
		{"*/5 * * * *", "", 10 * time.Minute, map[string]string{"schedule": "as little as 5 minutes apart"}},
		{"0,50 * * * *", "", 15 * time.Minute, map[string]string{"schedule": "as little as 10 minutes apart"}},
		{"0 23,0 * * *", "", 2 * time.Hour, map[string]string{"schedule": "as little as 1 hour apart"}},
		{"TZ=Europe/Berlin 0 2 * * *", "", 0, map[string]string{"schedule": "own time zone"}},
		{"CRON_TZ=UTC", "", 0, map[string]string{"schedule": "own time zone"}}, // robfig/cron panics on this one
		{"0 2 * * *", "Mars/Olympus_Mons", 0, map[string]string{"timezone": `"Mars/Olympus_Mons" is not a known IANA time zone`}},
		{"0 2 * * *", "Local", 0, map[string]string{"timezone": "would depend on the server"}},
		{"0 2 * * *", "../../etc/passwd", 0, map[string]string{"timezone": "not a known IANA time zone"}},
		{"0 2 * * *", "europe/berlin", 0, map[string]string{"timezone": "not a known IANA time zone"}},
		{"nope", "Nowhere/Town", 0, map[string]string{"schedule": "has 1 fields", "timezone": "Nowhere/Town"}},
	}
	for _, c := range cases {
		t.Run(c.expr+"|"+c.zone, func(t *testing.T) {
			s, err := Parse(c.expr, c.zone, c.min)
			if err == nil {
				t.Fatalf("Parse(%q, %q) = %v, want an error", c.expr, c.zone, s)
			}
			var fe FieldErrors
			if !errors.As(err, &fe) {
				t.Fatalf("error %T is not FieldErrors: %v", err, err)
			}
			if len(fe) != len(c.want) {
				t.Errorf("fields = %v, want keys of %v", fe, c.want)
			}
			for field, sub := range c.want {
				if !strings.Contains(fe[field], sub) {
					t.Errorf("%s: %q does not contain %q", field, fe[field], sub)
				}
			}
		})
	}
}

func TestFieldErrorsMessage(t *testing.T) {
	_, err := Parse("nope", "Nowhere/Town", 0)
	got := err.Error()
	if !strings.HasPrefix(got, "invalid schedule: schedule has 1 fields") || !strings.Contains(got, "; timezone \"Nowhere/Town\" is not") {
		t.Errorf("Error() = %q", got)
	}
}

// TestRobfigAloneSkipsAndDoubles pins what robfig/cron does by itself across
// daylight-saving changes: it skips a daily run whose time does not exist and
// runs twice one whose time happens twice. This package exists to correct
// that; if a new robfig/cron version changes it, this test says so.
func TestRobfigAloneSkipsAndDoubles(t *testing.T) {
	berlin := mustZone(t, "Europe/Berlin")
	sched, err := parser.Parse("30 2 * * *")
	if err != nil {
		t.Fatal(err)
	}
	spec := sched.(*cron.SpecSchedule)
	spec.Location = berlin

	// Spring: from Saturday noon, the next run is Monday; Sunday has none.
	next := spec.Next(mustTime(t, "2024-03-30T12:00:00+01:00"))
	if want := mustTime(t, "2024-04-01T02:30:00+02:00"); !next.Equal(want) {
		t.Errorf("robfig/cron spring: %v, want the skip to %v", next, want)
	}
	// Autumn: 02:30 CEST and again 02:30 CET.
	first := spec.Next(mustTime(t, "2024-10-26T12:00:00+02:00"))
	second := spec.Next(first)
	if !first.Equal(mustTime(t, "2024-10-27T02:30:00+02:00")) || !second.Equal(mustTime(t, "2024-10-27T02:30:00+01:00")) {
		t.Errorf("robfig/cron autumn: %v then %v, want the double run", first, second)
	}

	// This package: once each day.
	s := mustParse(t, "30 2 * * *", "Europe/Berlin", 0)
	if got := s.Next(mustTime(t, "2024-03-30T12:00:00+01:00")); !got.Equal(mustTime(t, "2024-03-31T03:30:00+02:00")) {
		t.Errorf("spring: %v", got)
	}
	if got := s.Next(mustTime(t, "2024-10-27T02:30:00+02:00")); !got.Equal(mustTime(t, "2024-10-28T02:30:00+01:00")) {
		t.Errorf("autumn: %v", got)
	}
}

func TestNextAcrossDST(t *testing.T) {
	cases := []struct {
		name, zone, expr, after string
		want                    []string
	}{
		// Europe/Berlin: 2024-03-31 02:00 CET -> 03:00 CEST; 2024-10-27 03:00 CEST -> 02:00 CET.
		{"berlin daily spring", "Europe/Berlin", "30 2 * * *", "2024-03-29T12:00:00+01:00",
			[]string{"2024-03-30T02:30:00+01:00", "2024-03-31T03:30:00+02:00", "2024-04-01T02:30:00+02:00"}},
		{"berlin daily spring, asked after 03:00 but before the moved run", "Europe/Berlin", "30 2 * * *", "2024-03-31T03:10:00+02:00",
			[]string{"2024-03-31T03:30:00+02:00", "2024-04-01T02:30:00+02:00"}},
		{"berlin daily spring at 02:00", "Europe/Berlin", "0 2 * * *", "2024-03-30T12:00:00+01:00",
			[]string{"2024-03-31T03:00:00+02:00", "2024-04-01T02:00:00+02:00"}},
		{"berlin daily autumn", "Europe/Berlin", "30 2 * * *", "2024-10-26T12:00:00+02:00",
			[]string{"2024-10-27T02:30:00+02:00", "2024-10-28T02:30:00+01:00"}},
		{"berlin daily autumn, asked between the two passes", "Europe/Berlin", "30 2 * * *", "2024-10-27T02:10:00+01:00",
			[]string{"2024-10-28T02:30:00+01:00"}},
		{"berlin daily autumn at 02:00", "Europe/Berlin", "0 2 * * *", "2024-10-26T12:00:00+02:00",
			[]string{"2024-10-27T02:00:00+02:00", "2024-10-28T02:00:00+01:00"}},
		{"berlin daily autumn at 03:00", "Europe/Berlin", "0 3 * * *", "2024-10-26T12:00:00+02:00",
			[]string{"2024-10-27T03:00:00+01:00", "2024-10-28T03:00:00+01:00"}},
		{"berlin half-hourly in the skipped hour", "Europe/Berlin", "*/30 2 * * *", "2024-03-31T00:00:00+01:00",
			[]string{"2024-03-31T03:00:00+02:00", "2024-03-31T03:30:00+02:00", "2024-04-01T02:00:00+02:00"}},
		{"berlin 02:30 and 03:30 fall on one instant", "Europe/Berlin", "30 2,3 * * *", "2024-03-31T00:00:00+01:00",
			[]string{"2024-03-31T03:30:00+02:00", "2024-04-01T02:30:00+02:00", "2024-04-01T03:30:00+02:00"}},
		{"berlin hourly spring", "Europe/Berlin", "0 * * * *", "2024-03-31T00:30:00+01:00",
			[]string{"2024-03-31T01:00:00+01:00", "2024-03-31T03:00:00+02:00", "2024-03-31T04:00:00+02:00"}},
		{"berlin hourly autumn", "Europe/Berlin", "@hourly", "2024-10-27T00:30:00+02:00",
			[]string{"2024-10-27T01:00:00+02:00", "2024-10-27T02:00:00+02:00", "2024-10-27T02:00:00+01:00", "2024-10-27T03:00:00+01:00"}},
		{"berlin quarter-hourly autumn", "Europe/Berlin", "*/15 * * * *", "2024-10-27T02:40:00+02:00",
			[]string{"2024-10-27T02:45:00+02:00", "2024-10-27T02:00:00+01:00", "2024-10-27T02:15:00+01:00"}},
		{"berlin every hour across spring", "Europe/Berlin", "@every 1h", "2024-03-31T00:30:00+01:00",
			[]string{"2024-03-31T01:00:00+01:00", "2024-03-31T03:00:00+02:00", "2024-03-31T04:00:00+02:00"}},
		{"berlin every 6h across autumn", "Europe/Berlin", "@every 6h", "2024-10-26T22:00:00Z",
			[]string{"2024-10-27T02:00:00+02:00", "2024-10-27T07:00:00+01:00", "2024-10-27T13:00:00+01:00"}},
		{"berlin every 24h keeps UTC midnight", "Europe/Berlin", "@every 24h", "2024-03-30T12:00:00Z",
			[]string{"2024-03-31T01:00:00+01:00", "2024-04-01T02:00:00+02:00"}},

		// America/New_York: 2024-03-10 02:00 EST -> 03:00 EDT; 2024-11-03 02:00 EDT -> 01:00 EST.
		{"new york daily spring", "America/New_York", "30 2 * * *", "2024-03-09T12:00:00-05:00",
			[]string{"2024-03-10T03:30:00-04:00", "2024-03-11T02:30:00-04:00"}},
		{"new york daily spring at 02:00", "America/New_York", "0 2 * * *", "2024-03-09T12:00:00-05:00",
			[]string{"2024-03-10T03:00:00-04:00", "2024-03-11T02:00:00-04:00"}},
		{"new york daily autumn", "America/New_York", "30 1 * * *", "2024-11-02T12:00:00-04:00",
			[]string{"2024-11-03T01:30:00-04:00", "2024-11-04T01:30:00-05:00"}},
		{"new york daily autumn at 02:00 happens once", "America/New_York", "0 2 * * *", "2024-11-02T12:00:00-04:00",
			[]string{"2024-11-03T02:00:00-05:00", "2024-11-04T02:00:00-05:00"}},
		{"new york daily autumn at 01:00", "America/New_York", "0 1 * * *", "2024-11-02T12:00:00-04:00",
			[]string{"2024-11-03T01:00:00-04:00", "2024-11-04T01:00:00-05:00"}},
		{"new york hourly spring", "America/New_York", "0 * * * *", "2024-03-10T00:30:00-05:00",
			[]string{"2024-03-10T01:00:00-05:00", "2024-03-10T03:00:00-04:00", "2024-03-10T04:00:00-04:00"}},
		{"new york hourly autumn", "America/New_York", "0 * * * *", "2024-11-03T00:30:00-04:00",
			[]string{"2024-11-03T01:00:00-04:00", "2024-11-03T01:00:00-05:00", "2024-11-03T02:00:00-05:00"}},
		{"new york every 90m across autumn", "America/New_York", "@every 90m", "2024-11-03T04:00:00Z",
			[]string{"2024-11-03T00:30:00-04:00", "2024-11-03T01:00:00-05:00", "2024-11-03T02:30:00-05:00"}},

		// Zones with other shapes of change.
		{"santiago midnight is skipped", "America/Santiago", "@daily", "2024-09-07T12:00:00-04:00",
			[]string{"2024-09-08T01:00:00-03:00", "2024-09-09T00:00:00-03:00"}},
		{"lord howe half-hour jump", "Australia/Lord_Howe", "15 2 * * *", "2024-10-05T12:00:00+10:30",
			[]string{"2024-10-06T02:45:00+11:00", "2024-10-07T02:15:00+11:00"}},
		{"lord howe half-hour repeat", "Australia/Lord_Howe", "45 1 * * *", "2024-04-06T12:00:00+11:00",
			[]string{"2024-04-07T01:45:00+11:00", "2024-04-08T01:45:00+10:30"}},
		{"leap day", "UTC", "0 0 29 2 *", "2024-03-01T00:00:00Z",
			[]string{"2028-02-29T00:00:00Z", "2032-02-29T00:00:00Z"}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			s := mustParse(t, c.expr, c.zone, 0)
			got := s.NextN(mustTime(t, c.after), len(c.want))
			if len(got) != len(c.want) {
				t.Fatalf("got %v, want %v", got, c.want)
			}
			for i, w := range c.want {
				if !got[i].Equal(mustTime(t, w)) || got[i].Location() != s.Location() {
					t.Errorf("#%d: got %s (%v), want %s", i, got[i].Format(time.RFC3339), got[i].Location(), w)
				}
			}
		})
	}
}

// TestDailyOncePerLocalDay walks two years of daily schedules and checks that
// each local calendar day has exactly one run, at the wall-clock time asked
// for, or, on the day that time is skipped, one hour later (the jump in these
// zones).
func TestDailyOncePerLocalDay(t *testing.T) {
	for _, zone := range []string{"Europe/Berlin", "America/New_York"} {
		loc := mustZone(t, zone)
		for _, expr := range []string{"30 2 * * *", "0 2 * * *", "59 2 * * *", "30 1 * * *", "0 3 * * *", "0 0 * * *", "59 23 * * *", "@daily"} {
			t.Run(zone+" "+expr, func(t *testing.T) {
				s := mustParse(t, expr, zone, 0)
				start := time.Date(2024, 1, 1, 0, 0, 0, 0, loc)
				end := time.Date(2026, 1, 1, 0, 0, 0, 0, loc)
				want := s.Next(start.Add(-time.Nanosecond))
				wantH, wantM := want.Hour(), want.Minute()
				seen := map[string]int{}
				shifted := 0
				prev := time.Time{}
				for tm := s.Next(start.Add(-time.Nanosecond)); tm.Before(end); tm = s.Next(tm) {
					l := tm.In(loc)
					seen[l.Format("2006-01-02")]++
					if !prev.IsZero() {
						if gap := tm.Sub(prev); gap < 23*time.Hour || gap > 25*time.Hour {
							t.Errorf("%v after %v: %v apart", tm, prev, gap)
						}
					}
					prev = tm
					if l.Hour() == wantH && l.Minute() == wantM {
						continue
					}
					// Only the spring-forward day may differ, by the jump.
					shifted++
					if l.Hour() != wantH+1 || l.Minute() != wantM {
						t.Errorf("%v: at %02d:%02d, want %02d:%02d or an hour later", tm, l.Hour(), l.Minute(), wantH, wantM)
					}
					_, before := time.Date(l.Year(), l.Month(), l.Day(), 0, 0, 0, 0, loc).Zone()
					_, after := time.Date(l.Year(), l.Month(), l.Day()+1, 0, 0, 0, 0, loc).Zone()
					if after <= before {
						t.Errorf("%v moved on a day when clocks do not go forward", tm)
					}
				}
				if days := int(end.Sub(start).Hours()/24 + 0.5); len(seen) != days {
					t.Errorf("runs on %d days, want %d", len(seen), days)
				}
				for day, n := range seen {
					if n != 1 {
						t.Errorf("%s: %d runs", day, n)
					}
				}
				if inGap := wantH == 2; (shifted == 2) != inGap {
					t.Errorf("%d moved runs over two years, want %v", shifted, map[bool]int{true: 2, false: 0}[inGap])
				}
			})
		}
	}
}

// TestHourlyEveryRealHour checks that hour-field-wildcard schedules run once
// in every real hour of a year, through both changes.
func TestHourlyEveryRealHour(t *testing.T) {
	for _, zone := range []string{"Europe/Berlin", "America/New_York"} {
		for _, expr := range []string{"@hourly", "30 * * * *"} {
			t.Run(zone+" "+expr, func(t *testing.T) {
				s := mustParse(t, expr, zone, 0)
				start := mustTime(t, "2023-12-31T23:59:59Z")
				end := mustTime(t, "2025-01-01T00:00:00Z")
				n := 1
				prev := s.Next(start)
				for tm := s.Next(prev); tm.Before(end); tm = s.Next(tm) {
					if tm.Sub(prev) != time.Hour {
						t.Fatalf("%v after %v", tm, prev)
					}
					prev = tm
					n++
				}
				if n != 366*24 {
					t.Errorf("%d runs in 2024, want one an hour: %d", n, 366*24)
				}
			})
		}
	}
}

func TestEveryAnchoredOnEpoch(t *testing.T) {
	cases := []struct {
		expr, zone, after, want string
	}{
		{"@every 5m", "UTC", "2024-05-01T12:03:10Z", "2024-05-01T12:05:00Z"},
		{"@every 5m", "UTC", "2024-05-01T12:05:00Z", "2024-05-01T12:10:00Z"},
		{"@every 5m", "Asia/Kolkata", "2024-05-01T12:03:10Z", "2024-05-01T12:05:00Z"},
		{"@every 7m", "UTC", "2024-05-01T00:00:00Z", "2024-05-01T00:05:00Z"}, // 1714521600 s = 420 s * 4082194 + 120 s
		{"@every 5s", "UTC", "2024-05-01T00:00:02.5Z", "2024-05-01T00:00:05Z"},
		{"@every 24h", "America/New_York", "2024-05-01T10:00:00-04:00", "2024-05-01T20:00:00-04:00"},
		{"@every 1h", "UTC", "1969-12-31T22:30:00Z", "1969-12-31T23:00:00Z"},
	}
	for _, c := range cases {
		s := mustParse(t, c.expr, c.zone, time.Second)
		got := s.Next(mustTime(t, c.after))
		if !got.Equal(mustTime(t, c.want)) {
			t.Errorf("%s Next(%s) = %v, want %s", c.expr, c.after, got, c.want)
		}
		if got.Location() != s.Location() {
			t.Errorf("%s: location %v", c.expr, got.Location())
		}
	}
	// The same due times for plans created at different moments.
	a := mustParse(t, "@every 10m", "UTC", 0)
	b := mustParse(t, "@every 10m", "Europe/Berlin", 0)
	if x, y := a.NextN(mustTime(t, "2024-05-01T00:01:00Z"), 3), b.NextN(mustTime(t, "2024-05-01T00:07:00Z"), 3); !x[0].Equal(y[0]) || !x[2].Equal(y[2]) {
		t.Errorf("%v vs %v", x, y)
	}
}

func TestNextN(t *testing.T) {
	s := mustParse(t, "30 2 * * *", "Europe/Berlin", 0)
	got := s.NextN(mustTime(t, "2024-03-29T12:00:00+01:00"), 5)
	want := []string{
		"2024-03-30T02:30:00+01:00",
		"2024-03-31T03:30:00+02:00",
		"2024-04-01T02:30:00+02:00",
		"2024-04-02T02:30:00+02:00",
		"2024-04-03T02:30:00+02:00",
	}
	if len(got) != len(want) {
		t.Fatalf("got %v", got)
	}
	for i := range want {
		if got[i].Format(time.RFC3339) != want[i] {
			t.Errorf("#%d: %s, want %s", i, got[i].Format(time.RFC3339), want[i])
		}
	}
	if n := len(s.NextN(time.Now(), 0)); n != 0 {
		t.Errorf("n=0 gave %d", n)
	}
	if n := len(s.NextN(time.Now(), -3)); n != 0 {
		t.Errorf("n=-3 gave %d", n)
	}
	if n := len(mustParse(t, "* * * * *", "", 0).NextN(time.Now(), 5000)); n != MaxCount {
		t.Errorf("n=5000 gave %d, want the cap %d", n, MaxCount)
	}
	// Weekly and monthly previews.
	w := mustParse(t, "0 22 * * MON-FRI", "UTC", 0).NextN(mustTime(t, "2024-05-03T23:00:00Z"), 3) // a Friday night
	if w[0].Format(time.RFC3339) != "2024-05-06T22:00:00Z" || w[2].Format(time.RFC3339) != "2024-05-08T22:00:00Z" {
		t.Errorf("weekdays: %v", w)
	}
	m := mustParse(t, "@monthly", "America/New_York", 0).NextN(mustTime(t, "2024-01-15T00:00:00Z"), 2)
	if m[0].Format(time.RFC3339) != "2024-02-01T00:00:00-05:00" || m[1].Format(time.RFC3339) != "2024-03-01T00:00:00-05:00" {
		t.Errorf("monthly: %v", m)
	}
}

// TestShortestGapMatchesRuns checks ShortestGap against the runs Next yields.
func TestShortestGapMatchesRuns(t *testing.T) {
	for _, expr := range []string{"*/7 * * * *", "0,50 * * * *", "0 23,0 * * *", "0 0 * * 1,3", "15 10 1,15 * *",
		"0 12 * * 0,6", "5 4 * * 0", "0 9-17 * * 1-5", "0 0 31 * *", "0 0 1 1,7 *", "30 6,18 1 * 1", "@monthly"} {
		s := mustParse(t, expr, "UTC", 0)
		start := mustTime(t, "2025-01-01T00:00:00Z")
		end := mustTime(t, "2027-01-01T00:00:00Z")
		var shortest time.Duration
		prev := s.Next(start)
		for i, tm := 0, s.Next(prev); i < 3000 && tm.Before(end); i, tm = i+1, s.Next(tm) {
			if d := tm.Sub(prev); shortest == 0 || d < shortest {
				shortest = d
			}
			prev = tm
		}
		if shortest != s.ShortestGap() {
			t.Errorf("%s: runs %v apart at least, ShortestGap %v", expr, shortest, s.ShortestGap())
		}
	}
}

func TestMissed(t *testing.T) {
	s := mustParse(t, "30 2 * * *", "Europe/Berlin", 0)
	last := mustTime(t, "2024-03-28T02:30:00+01:00")
	now := mustTime(t, "2024-04-02T10:00:00+02:00")
	due, more := s.Missed(last, now)
	want := []string{"2024-03-29T02:30:00+01:00", "2024-03-30T02:30:00+01:00", "2024-03-31T03:30:00+02:00",
		"2024-04-01T02:30:00+02:00", "2024-04-02T02:30:00+02:00"}
	if len(due) != len(want) || more {
		t.Fatalf("got %v more=%v, want %v", due, more, want)
	}
	for i := range want {
		if due[i].Format(time.RFC3339) != want[i] {
			t.Errorf("#%d: %s, want %s", i, due[i].Format(time.RFC3339), want[i])
		}
	}

	// (lastDue, now]: a due time at now counts, one at lastDue does not.
	due, _ = s.Missed(mustTime(t, "2024-04-01T02:30:00+02:00"), mustTime(t, "2024-04-02T02:30:00+02:00"))
	if len(due) != 1 || due[0].Format(time.RFC3339) != "2024-04-02T02:30:00+02:00" {
		t.Errorf("boundaries: %v", due)
	}
	if due, more := s.Missed(now, now); due != nil || more {
		t.Errorf("empty range: %v %v", due, more)
	}
	if due, more := s.Missed(now.Add(time.Hour), now); due != nil || more {
		t.Errorf("reversed range: %v %v", due, more)
	}
	if due, _ := s.Missed(mustTime(t, "2024-04-02T03:00:00+02:00"), now); len(due) != 0 {
		t.Errorf("nothing due: %v", due)
	}

	// A week down with a run every minute: the latest MissedLimit, and more.
	minutely := mustParse(t, "* * * * *", "UTC", 0)
	now = mustTime(t, "2024-05-01T12:00:30Z")
	due, more = minutely.Missed(now.Add(-7*24*time.Hour), now)
	if len(due) != MissedLimit || !more {
		t.Fatalf("minutely: %d due, more=%v", len(due), more)
	}
	if due[len(due)-1].Format(time.RFC3339) != "2024-05-01T12:00:00Z" || !due[0].Equal(mustTime(t, "2024-05-01T12:00:00Z").Add(-(MissedLimit-1)*time.Minute)) {
		t.Errorf("minutely: %v .. %v", due[0], due[len(due)-1])
	}
	// Exactly MissedLimit due times: all of them, and no more.
	due, more = minutely.Missed(mustTime(t, "2024-05-01T12:00:00Z").Add(-MissedLimit*time.Minute), now)
	if len(due) != MissedLimit || more {
		t.Errorf("exactly the limit: %d due, more=%v", len(due), more)
	}
	// @every, and a zero lastDue (never ran): bounded by the horizon.
	every := mustParse(t, "@every 5s", "UTC", time.Second)
	due, more = every.Missed(time.Time{}, now)
	if len(due) != MissedLimit || !more || !due[len(due)-1].Equal(mustTime(t, "2024-05-01T12:00:30Z")) {
		t.Errorf("every 5s: %d due, more=%v, last %v", len(due), more, due[len(due)-1])
	}
	yearly := mustParse(t, "@yearly", "UTC", 0)
	due, more = yearly.Missed(time.Time{}, now)
	if len(due) != 1 || more || due[0].Format(time.RFC3339) != "2024-01-01T00:00:00Z" {
		t.Errorf("yearly since ever: %v more=%v", due, more)
	}
}

func TestDescribe(t *testing.T) {
	cases := []struct{ expr, zone, want string }{
		{"@every 5m", "UTC", "every 5 minutes"},
		{"@every 1h", "Europe/Berlin", "every 1 hour"},
		{"@every 90m", "UTC", "every 90 minutes"},
		{"@every 36h", "UTC", "every 36 hours"},
		{"@every 48h", "UTC", "every 2 days"},
		{"@every 1500ms", "UTC", "every 1.5s"},
		{"* * * * *", "UTC", "every minute"},
		{"*/5 * * * *", "Europe/Berlin", "every 5 minutes"},
		{"*/7 * * * *", "UTC", `cron "*/7 * * * *" (UTC)`},
		{"0 * * * *", "UTC", "at minute 0 of every hour"},
		{"@hourly", "America/New_York", "at minute 0 of every hour"},
		{"15,45 * * * *", "UTC", "at minutes 15 and 45 of every hour"},
		{"30 2 * * *", "Europe/Berlin", "every day at 02:30 (Europe/Berlin)"},
		{"@daily", "UTC", "every day at 00:00 (UTC)"},
		{"@midnight", "UTC", "every day at 00:00 (UTC)"},
		{"0 0,12 * * *", "UTC", "every day at 00:00 and 12:00 (UTC)"},
		{"0 */6 * * *", "UTC", "every day at 00:00, 06:00, 12:00 and 18:00 (UTC)"},
		{"30 */2 * * *", "Asia/Tokyo", "every 2 hours at minute 30 (Asia/Tokyo)"},
		{"0 22 * * MON-FRI", "UTC", "every Monday to Friday at 22:00 (UTC)"},
		{"0 22 * * 1,4", "UTC", "every Monday and Thursday at 22:00 (UTC)"},
		{"0 10 * * 0,6", "UTC", "every Saturday and Sunday at 10:00 (UTC)"},
		{"0 10 * * 5,6,0", "UTC", "every Friday to Sunday at 10:00 (UTC)"},
		{"@weekly", "UTC", "every Sunday at 00:00 (UTC)"},
		{"@monthly", "UTC", "on day 1 of every month at 00:00 (UTC)"},
		{"0 3 1,15 * *", "UTC", "on days 1 and 15 of every month at 03:00 (UTC)"},
		{"@yearly", "UTC", "every year on 1 January at 00:00 (UTC)"},
		{"0 0 1 1,4,7,10 *", "UTC", "on day 1 of January, April, July and October at 00:00 (UTC)"},
		{"*/5 9-17 * * 1-5", "Europe/Berlin", `cron "*/5 9-17 * * 1-5" (Europe/Berlin)`},
		{"0 0 13 * 5", "UTC", `cron "0 0 13 * 5" (UTC)`},
		{"0 9 * 1 *", "UTC", `cron "0 9 * 1 *" (UTC)`},
	}
	for _, c := range cases {
		s := mustParse(t, c.expr, c.zone, time.Second)
		if got := s.Describe(); got != c.want {
			t.Errorf("Describe(%q) = %q, want %q", c.expr, got, c.want)
		}
	}
}
