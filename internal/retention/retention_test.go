package retention

import (
	"encoding/json"
	"errors"
	"fmt"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"
	"time"
)

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

func mustApply(t *testing.T, p Policy, loc *time.Location, backups []Backup) []Decision {
	t.Helper()
	ds, err := Apply(p, loc, backups)
	if err != nil {
		t.Fatalf("Apply: %v", err)
	}
	if len(ds) != len(backups) {
		t.Fatalf("%d decisions for %d backups", len(ds), len(backups))
	}
	return ds
}

// byID returns the decisions keyed by backup ID.
func byID(ds []Decision) map[int64]Decision {
	m := make(map[int64]Decision, len(ds))
	for _, d := range ds {
		m[d.BackupID] = d
	}
	return m
}

// want is one expected decision: the reasons, nil meaning removed.
type want map[int64][]string

func check(t *testing.T, ds []Decision, w want) {
	t.Helper()
	got := byID(ds)
	for id, reasons := range w {
		d, ok := got[id]
		if !ok {
			t.Errorf("#%d: no decision", id)
			continue
		}
		if d.Keep != (reasons != nil) || !slices.Equal(d.Reasons, orEmpty(reasons)) {
			t.Errorf("#%d (%s): keep=%v %q, want keep=%v %q", id, d.CompletedAt.Format(time.RFC3339), d.Keep, d.Reasons, reasons != nil, reasons)
		}
	}
	if len(got) != len(w) {
		t.Errorf("%d decisions, want %d", len(got), len(w))
	}
}

func orEmpty(s []string) []string {
	if s == nil {
		return []string{}
	}
	return s
}

// TestResticSundaysExample is the first example of restic's forget
// documentation: one backup every Sunday for 12 weeks; keep_daily 4 keeps
// the last four Sundays.
func TestResticSundaysExample(t *testing.T) {
	var backups []Backup
	start := mustTime(t, "2019-09-01T11:00:00Z")
	for i := range 12 {
		backups = append(backups, Backup{ID: int64(i + 1), CompletedAt: start.AddDate(0, 0, 7*i)})
	}
	ds := mustApply(t, Policy{KeepDaily: 4}, time.UTC, backups)
	w := want{}
	for i := 1; i <= 8; i++ {
		w[int64(i)] = nil
	}
	w[9], w[10], w[11] = []string{"daily"}, []string{"daily"}, []string{"daily"}
	w[12] = []string{"daily", "newest"}
	check(t, ds, w)
	if ds[0].BackupID != 12 || ds[11].BackupID != 1 {
		t.Errorf("not newest first: %d .. %d", ds[0].BackupID, ds[11].BackupID)
	}
	if ds[3].CompletedAt.Format("2006-01-02 15:04") != "2019-10-27 11:00" {
		t.Errorf("oldest kept: %v", ds[3].CompletedAt)
	}
}

// TestResticHundredYearsExample is the second example of restic's forget
// documentation: a backup every day for 100 years, keep_daily 7,
// keep_weekly 5, keep_monthly 12, keep_yearly 75 keeps the 7 newest daily
// backups, 4 more weekly ones (the dailies include one), 12 or 11 monthly and
// 75 or 74 yearly ones. Here the last day is Sunday 31 December 2023, so the
// counts are 7 + 4 + 11 + 74.
func TestResticHundredYearsExample(t *testing.T) {
	end := time.Date(2023, 12, 31, 4, 0, 0, 0, time.UTC)
	var backups []Backup
	for d, id := time.Date(1924, 1, 1, 4, 0, 0, 0, time.UTC), int64(1); !d.After(end); d, id = d.AddDate(0, 0, 1), id+1 {
		backups = append(backups, Backup{ID: id, CompletedAt: d})
	}
	ds := mustApply(t, Policy{KeepDaily: 7, KeepWeekly: 5, KeepMonthly: 12, KeepYearly: 75}, time.UTC, backups)

	kept := map[string][]string{}
	for _, d := range ds {
		if d.Keep {
			kept[d.CompletedAt.Format("2006-01-02")] = d.Reasons
		}
	}
	count := map[string]int{}
	for _, rs := range kept {
		count[rs[0]]++ // the first reason: the rule that keeps it first
	}
	if len(kept) != 96 || count["daily"] != 7 || count["weekly"] != 4 || count["monthly"] != 11 || count["yearly"] != 74 {
		t.Errorf("kept %d: %v", len(kept), count)
	}
	expect := map[string][]string{
		"2023-12-31": {"daily", "weekly", "monthly", "yearly", "newest"},
		"2023-12-25": {"daily"},
		"2023-12-24": {"weekly"}, // the Sunday of the week before
		"2023-12-03": {"weekly"},
		"2023-11-30": {"monthly"},
		"2023-01-31": {"monthly"},
		"2022-12-31": {"yearly"},
		"1949-12-31": {"yearly"},
	}
	for day, rs := range expect {
		if !slices.Equal(kept[day], rs) {
			t.Errorf("%s: %q, want %q", day, kept[day], rs)
		}
	}
	for _, day := range []string{"2023-11-26", "2023-11-29", "2022-12-30", "1948-12-31", "1924-01-01"} {
		if kept[day] != nil {
			t.Errorf("%s kept: %q", day, kept[day])
		}
	}
}

func TestRules(t *testing.T) {
	day := func(s string) time.Time { return mustTime(t, s) }
	cases := []struct {
		name    string
		policy  Policy
		zone    string
		backups []Backup
		want    want
	}{
		{"no policy keeps everything", Policy{}, "UTC",
			[]Backup{{ID: 1, CompletedAt: day("2024-01-01T00:00:00Z")}, {ID: 2, CompletedAt: day("2024-01-02T00:00:00Z")}},
			want{1: {"no retention policy"}, 2: {"no retention policy", "newest"}}},
		{"keep_last", Policy{KeepLast: 2}, "UTC",
			[]Backup{{ID: 1, CompletedAt: day("2024-01-01T00:00:00Z")}, {ID: 2, CompletedAt: day("2024-01-02T00:00:00Z")}, {ID: 3, CompletedAt: day("2024-01-03T00:00:00Z")}},
			want{1: nil, 2: {"last"}, 3: {"last", "newest"}}},
		{"a bucket keeps its newest backup", Policy{KeepDaily: 1}, "UTC",
			[]Backup{{ID: 1, CompletedAt: day("2024-01-01T08:00:00Z")}, {ID: 2, CompletedAt: day("2024-01-01T10:00:00Z")}, {ID: 3, CompletedAt: day("2024-01-01T09:00:00Z")}},
			want{1: nil, 2: {"daily", "newest"}, 3: nil}},
		{"equal times: the higher ID is newer", Policy{KeepLast: 1}, "UTC",
			[]Backup{{ID: 7, CompletedAt: day("2024-01-01T08:00:00Z")}, {ID: 5, CompletedAt: day("2024-01-01T08:00:00Z")}},
			want{7: {"last", "newest"}, 5: nil}},
		{"counts larger than the backups keep them all and the oldest", Policy{KeepLast: 10, KeepDaily: 10, KeepYearly: 3}, "UTC",
			[]Backup{{ID: 1, CompletedAt: day("2024-01-01T08:00:00Z")}, {ID: 2, CompletedAt: day("2024-01-01T10:00:00Z")}, {ID: 3, CompletedAt: day("2024-01-02T09:00:00Z")}},
			want{3: {"last", "daily", "yearly", "newest"}, 2: {"last", "daily"}, 1: {"last", "oldest daily", "oldest yearly"}}},
		{"no oldest once the count is used", Policy{KeepDaily: 2}, "UTC",
			[]Backup{{ID: 1, CompletedAt: day("2024-01-01T08:00:00Z")}, {ID: 2, CompletedAt: day("2024-01-01T10:00:00Z")}, {ID: 3, CompletedAt: day("2024-01-02T09:00:00Z")}},
			want{3: {"daily", "newest"}, 2: {"daily"}, 1: nil}},
		{"hourly", Policy{KeepHourly: 2}, "UTC",
			[]Backup{{ID: 1, CompletedAt: day("2024-01-01T08:10:00Z")}, {ID: 2, CompletedAt: day("2024-01-01T09:50:00Z")}, {ID: 3, CompletedAt: day("2024-01-01T09:55:00Z")}, {ID: 4, CompletedAt: day("2024-01-01T07:00:00Z")}},
			want{3: {"hourly", "newest"}, 2: nil, 1: {"hourly"}, 4: nil}},
		{"ISO weeks start on Monday and cross the year", Policy{KeepWeekly: 2}, "UTC",
			[]Backup{
				{ID: 1, CompletedAt: day("2020-12-31T12:00:00Z")}, // Thursday, 2020-W53
				{ID: 2, CompletedAt: day("2021-01-03T12:00:00Z")}, // Sunday, 2020-W53
				{ID: 3, CompletedAt: day("2021-01-04T12:00:00Z")}, // Monday, 2021-W01
				{ID: 4, CompletedAt: day("2020-12-27T12:00:00Z")}, // Sunday, 2020-W52
			},
			want{3: {"weekly", "newest"}, 2: {"weekly"}, 1: nil, 4: nil}},
		{"monthly and yearly", Policy{KeepMonthly: 2, KeepYearly: 2}, "UTC",
			[]Backup{
				{ID: 1, CompletedAt: day("2023-06-15T00:00:00Z")},
				{ID: 2, CompletedAt: day("2023-12-31T23:00:00Z")},
				{ID: 3, CompletedAt: day("2024-01-01T01:00:00Z")},
				{ID: 4, CompletedAt: day("2024-02-10T00:00:00Z")},
				{ID: 5, CompletedAt: day("2024-02-01T00:00:00Z")},
			},
			want{4: {"monthly", "yearly", "newest"}, 5: nil, 3: {"monthly"}, 2: {"yearly"}, 1: nil}},
		{"keep_within from the newest backup, not the clock", Policy{KeepWithin: "7d"}, "UTC",
			[]Backup{
				{ID: 1, CompletedAt: day("2020-03-01T12:00:00Z")},
				{ID: 2, CompletedAt: day("2020-02-23T12:00:00Z")}, // exactly 7 days before: not within
				{ID: 3, CompletedAt: day("2020-02-23T12:00:01Z")},
				{ID: 4, CompletedAt: day("2020-02-20T00:00:00Z")},
			},
			want{1: {"within 7d", "newest"}, 3: {"within 7d"}, 2: nil, 4: nil}},
		{"keep_within in calendar months", Policy{KeepWithin: "1m"}, "UTC",
			[]Backup{
				{ID: 1, CompletedAt: day("2024-05-15T12:00:00Z")},
				{ID: 2, CompletedAt: day("2024-04-16T00:00:00Z")},
				{ID: 3, CompletedAt: day("2024-04-14T00:00:00Z")},
			},
			want{1: {"within 1m", "newest"}, 2: {"within 1m"}, 3: nil}},
		{"keep_within a calendar day across spring forward is 23 hours", Policy{KeepWithin: "1d"}, "Europe/Berlin",
			[]Backup{
				{ID: 1, CompletedAt: day("2024-03-31T12:00:00+02:00")},
				{ID: 2, CompletedAt: day("2024-03-30T12:30:00+01:00")},
				{ID: 3, CompletedAt: day("2024-03-30T11:30:00+01:00")}, // 23.5 h before, but before 12:00 the day before
			},
			want{1: {"within 1d", "newest"}, 2: {"within 1d"}, 3: nil}},
		{"keep_within as a Go duration is elapsed time", Policy{KeepWithin: "24h0m0s"}, "Europe/Berlin",
			[]Backup{
				{ID: 1, CompletedAt: day("2024-03-31T12:00:00+02:00")},
				{ID: 2, CompletedAt: day("2024-03-30T12:30:00+01:00")},
				{ID: 3, CompletedAt: day("2024-03-30T11:30:00+01:00")},
			},
			want{1: {"within 24h0m0s", "newest"}, 2: {"within 24h0m0s"}, 3: {"within 24h0m0s"}}},
		{"rules combine with or", Policy{KeepLast: 1, KeepDaily: 2, KeepWithin: "2h"}, "UTC",
			[]Backup{
				{ID: 1, CompletedAt: day("2024-01-03T10:00:00Z")},
				{ID: 2, CompletedAt: day("2024-01-03T09:00:00Z")},
				{ID: 3, CompletedAt: day("2024-01-03T07:00:00Z")},
				{ID: 4, CompletedAt: day("2024-01-02T07:00:00Z")},
				{ID: 5, CompletedAt: day("2024-01-01T07:00:00Z")},
			},
			want{1: {"within 2h", "last", "daily", "newest"}, 2: {"within 2h"}, 3: nil, 4: {"daily"}, 5: nil}},
		{"holds keep a backup and its chain", Policy{KeepLast: 1}, "UTC",
			[]Backup{
				{ID: 1, CompletedAt: day("2024-01-01T00:00:00Z")},
				{ID: 2, CompletedAt: day("2024-01-02T00:00:00Z"), Base: 1, Holds: []string{"being restored", " ", "being restored"}},
				{ID: 3, CompletedAt: day("2024-01-03T00:00:00Z")},
				{ID: 4, CompletedAt: day("2024-01-04T00:00:00Z")},
			},
			want{4: {"last", "newest"}, 3: nil, 2: {"being restored"}, 1: {"base of #2"}}},
		{"a kept incremental keeps its whole chain", Policy{KeepLast: 1}, "UTC",
			[]Backup{
				{ID: 10, CompletedAt: day("2024-01-01T00:00:00Z")},
				{ID: 11, CompletedAt: day("2024-01-02T00:00:00Z"), Base: 10},
				{ID: 12, CompletedAt: day("2024-01-03T00:00:00Z"), Base: 11},
				{ID: 13, CompletedAt: day("2024-01-04T00:00:00Z"), Base: 12},
				{ID: 9, CompletedAt: day("2023-12-31T00:00:00Z")},
			},
			want{13: {"last", "newest"}, 12: {"base of #13"}, 11: {"base of #12"}, 10: {"base of #11"}, 9: nil}},
		{"a base kept by a rule says it is a base too", Policy{KeepDaily: 3}, "UTC",
			[]Backup{
				{ID: 1, CompletedAt: day("2024-01-01T00:00:00Z")},
				{ID: 2, CompletedAt: day("2024-01-02T00:00:00Z"), Base: 1},
				{ID: 3, CompletedAt: day("2024-01-03T00:00:00Z"), Base: 1},
			},
			want{3: {"daily", "newest"}, 2: {"daily"}, 1: {"daily", "base of #3", "base of #2"}}},
		{"a removed incremental does not keep its base", Policy{KeepLast: 1}, "UTC",
			[]Backup{
				{ID: 1, CompletedAt: day("2024-01-01T00:00:00Z")},
				{ID: 2, CompletedAt: day("2024-01-02T00:00:00Z"), Base: 1},
				{ID: 3, CompletedAt: day("2024-01-03T00:00:00Z")},
			},
			want{3: {"last", "newest"}, 2: nil, 1: nil}},
		{"bases outside the list, self-links and cycles", Policy{KeepLast: 1}, "UTC",
			[]Backup{
				{ID: 1, CompletedAt: day("2024-01-01T00:00:00Z"), Base: 2},
				{ID: 2, CompletedAt: day("2024-01-02T00:00:00Z"), Base: 1},
				{ID: 3, CompletedAt: day("2024-01-03T00:00:00Z"), Base: 2},
				{ID: 4, CompletedAt: day("2024-01-04T00:00:00Z"), Base: 99},
				{ID: 5, CompletedAt: day("2024-01-05T00:00:00Z"), Base: 5},
			},
			want{5: {"last", "newest"}, 4: nil, 3: nil, 2: nil, 1: nil}},
		{"a cycle is kept once", Policy{KeepLast: 1}, "UTC",
			[]Backup{
				{ID: 1, CompletedAt: day("2024-01-01T00:00:00Z"), Base: 2},
				{ID: 2, CompletedAt: day("2024-01-02T00:00:00Z"), Base: 1},
			},
			want{2: {"last", "newest", "base of #1"}, 1: {"base of #2"}}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			ds := mustApply(t, c.policy, mustZone(t, c.zone), c.backups)
			check(t, ds, c.want)
		})
	}
}

// TestBucketsInPlanZone shows a day boundary that differs between UTC and the
// plan's zone.
func TestBucketsInPlanZone(t *testing.T) {
	backups := []Backup{
		{ID: 1, CompletedAt: mustTime(t, "2024-04-20T12:00:00Z")},
		{ID: 2, CompletedAt: mustTime(t, "2024-05-01T21:30:00Z")}, // Berlin: 1 May 23:30
		{ID: 3, CompletedAt: mustTime(t, "2024-05-01T22:30:00Z")}, // Berlin: 2 May 00:30
	}
	p := Policy{KeepDaily: 2}
	check(t, mustApply(t, p, time.UTC, backups), want{3: {"daily", "newest"}, 2: nil, 1: {"daily"}})
	check(t, mustApply(t, p, mustZone(t, "Europe/Berlin"), backups), want{3: {"daily", "newest"}, 2: {"daily"}, 1: nil})
	check(t, mustApply(t, p, nil, backups), want{3: {"daily", "newest"}, 2: nil, 1: {"daily"}})

	// New York: Sunday 23:30 and Monday 00:30 local are in two ISO weeks;
	// in UTC both are Monday.
	weekly := []Backup{
		{ID: 1, CompletedAt: mustTime(t, "2024-04-01T12:00:00Z")},
		{ID: 2, CompletedAt: mustTime(t, "2024-05-06T03:30:00Z")}, // New York: Sunday 5 May 23:30
		{ID: 3, CompletedAt: mustTime(t, "2024-05-06T04:30:00Z")}, // New York: Monday 6 May 00:30
	}
	p = Policy{KeepWeekly: 2}
	check(t, mustApply(t, p, time.UTC, weekly), want{3: {"weekly", "newest"}, 2: nil, 1: {"weekly"}})
	check(t, mustApply(t, p, mustZone(t, "America/New_York"), weekly), want{3: {"weekly", "newest"}, 2: {"weekly"}, 1: nil})
}

func TestApplyErrors(t *testing.T) {
	if ds, err := Apply(Policy{KeepLast: 1}, nil, nil); err != nil || len(ds) != 0 {
		t.Errorf("no backups: %v %v", ds, err)
	}
	_, err := Apply(Policy{KeepLast: 1}, nil, []Backup{{ID: 1}, {ID: 1}})
	if err == nil || !strings.Contains(err.Error(), "backup 1 is listed twice") {
		t.Errorf("duplicate: %v", err)
	}
	_, err = Apply(Policy{KeepDaily: -1, KeepWithin: "soon"}, nil, []Backup{{ID: 1}})
	var fe FieldErrors
	if !errors.As(err, &fe) || fe["keep_daily"] == "" || fe["keep_within"] == "" || len(fe) != 2 {
		t.Errorf("invalid policy: %v", err)
	}
}

func TestValidate(t *testing.T) {
	if err := (Policy{}).Validate(); err != nil {
		t.Errorf("empty: %v", err)
	}
	if err := (Policy{KeepLast: 3, KeepWithin: "1y6m"}).Validate(); err != nil {
		t.Errorf("valid: %v", err)
	}
	err := Policy{KeepLast: -1, KeepHourly: -2, KeepDaily: -3, KeepWeekly: -4, KeepMonthly: -5, KeepYearly: -6, KeepWithin: "7w"}.Validate()
	var fe FieldErrors
	if !errors.As(err, &fe) {
		t.Fatalf("%T %v", err, err)
	}
	for _, f := range []string{"keep_last", "keep_hourly", "keep_daily", "keep_weekly", "keep_monthly", "keep_yearly"} {
		if !strings.Contains(fe[f], "must not be negative") {
			t.Errorf("%s: %q", f, fe[f])
		}
	}
	if !strings.Contains(fe["keep_within"], `"7w" is not a duration`) {
		t.Errorf("keep_within: %q", fe["keep_within"])
	}
	if msg := err.Error(); !strings.HasPrefix(msg, "invalid retention policy: keep_daily must not be negative") {
		t.Errorf("Error() = %q", msg)
	}
}

func TestParseDuration(t *testing.T) {
	cases := []struct {
		in      string
		want    Duration
		str     string
		wantErr string
	}{
		{in: "7d", want: Duration{Days: 7}, str: "7d"},
		{in: " 1y2m3d4h ", want: Duration{Years: 1, Months: 2, Days: 3, Hours: 4}, str: "1y2m3d4h"},
		{in: "4h3d2m1y", want: Duration{Years: 1, Months: 2, Days: 3, Hours: 4}, str: "1y2m3d4h"},
		{in: "2y5m7d3h", want: Duration{Years: 2, Months: 5, Days: 7, Hours: 3}, str: "2y5m7d3h"},
		{in: "0y7d", want: Duration{Days: 7}, str: "7d"},
		{in: "72h", want: Duration{Hours: 72}, str: "72h"},
		{in: "30m", want: Duration{Months: 30}, str: "30m"},               // restic: months
		{in: "1h30m", want: Duration{Hours: 1, Months: 30}, str: "30m1h"}, // restic's reading, not Go's
		{in: "1.5h", want: Duration{Exact: 90 * time.Minute}, str: "1h30m0s"},
		{in: "90m0s", want: Duration{Exact: 90 * time.Minute}, str: "1h30m0s"},
		{in: "36h0m0s", want: Duration{Exact: 36 * time.Hour}, str: "36h0m0s"},
		{in: "", wantErr: "is empty"},
		{in: "7", wantErr: "is not a duration"},
		{in: "d", wantErr: "is not a duration"},
		{in: "7w", wantErr: "is not a duration"},
		{in: "7 d", wantErr: "is not a duration"},
		{in: "-1d", wantErr: "is not a duration"},
		{in: "1.5d", wantErr: "is not a duration"},
		{in: "0d", wantErr: "longer than zero"},
		{in: "0s", wantErr: "longer than zero"},
		{in: "-5h0m", wantErr: "longer than zero"},
		{in: "1d1d", wantErr: "gives days twice"},
		{in: "99999999999999999999d", wantErr: "too large"},
		{in: "1000001h", wantErr: "too large"},
	}
	for _, c := range cases {
		got, err := ParseDuration(c.in)
		if c.wantErr != "" {
			if err == nil || !strings.Contains(err.Error(), c.wantErr) {
				t.Errorf("ParseDuration(%q) = %v, %v; want an error with %q", c.in, got, err, c.wantErr)
			}
			continue
		}
		if err != nil || got != c.want || got.String() != c.str {
			t.Errorf("ParseDuration(%q) = %+v (%q), %v; want %+v (%q)", c.in, got, got.String(), err, c.want, c.str)
		}
	}
}

func TestDurationBefore(t *testing.T) {
	berlin := mustZone(t, "Europe/Berlin")
	newest := mustTime(t, "2024-03-31T12:00:00+02:00")
	cases := []struct {
		d    Duration
		want string
	}{
		{Duration{Days: 1}, "2024-03-30T12:00:00+01:00"},
		{Duration{Hours: 24}, "2024-03-30T11:00:00+01:00"},
		{Duration{Exact: 24 * time.Hour}, "2024-03-30T11:00:00+01:00"},
		{Duration{Months: 1}, "2024-03-02T12:00:00+01:00"}, // 31 February, as AddDate normalises it
		{Duration{Years: 1, Days: 1}, "2023-03-30T12:00:00+02:00"},
	}
	for _, c := range cases {
		if got := c.d.Before(newest, berlin); !got.Equal(mustTime(t, c.want)) {
			t.Errorf("%v before %v = %v, want %s", c.d, newest, got, c.want)
		}
	}
}

func TestDecodePolicy(t *testing.T) {
	good := []struct {
		in   string
		want Policy
	}{
		{``, Policy{}},
		{` null `, Policy{}},
		{`{}`, Policy{}},
		{`{"keep_last":3,"keep_hourly":24,"keep_daily":7,"keep_weekly":4,"keep_monthly":12,"keep_yearly":5,"keep_within":"1y6m"}`,
			Policy{KeepLast: 3, KeepHourly: 24, KeepDaily: 7, KeepWeekly: 4, KeepMonthly: 12, KeepYearly: 5, KeepWithin: "1y6m"}},
		{`{"keep_within":null,"keep_last":0}`, Policy{}},
	}
	for _, c := range good {
		got, err := DecodePolicy([]byte(c.in))
		if err != nil || got != c.want {
			t.Errorf("DecodePolicy(%s) = %+v, %v; want %+v", c.in, got, err, c.want)
		}
	}
	bad := []struct {
		in   string
		want map[string]string
	}{
		{`{"keep_forever":1}`, map[string]string{"keep_forever": "is not a retention rule"}},
		{`{"keep_last":"3"}`, map[string]string{"keep_last": "must be a whole number"}},
		{`{"keep_daily":1.5}`, map[string]string{"keep_daily": "must be a whole number"}},
		{`{"keep_daily":99999999999999999999}`, map[string]string{"keep_daily": "must be a whole number"}},
		{`{"keep_within":7}`, map[string]string{"keep_within": "must be a string"}},
		{`{"keep_last":-1,"keep_within":"7x"}`, map[string]string{"keep_last": "must not be negative", "keep_within": "is not a duration"}},
		{`{"keep_within":""}`, nil}, // empty string: the rule is off
		{`[1]`, map[string]string{"": "must be a JSON object"}},
		{`"7d"`, map[string]string{"": "must be a JSON object"}},
		{`{"keep_last":1} {}`, map[string]string{"": "single JSON object"}},
		{`{"keep_last":`, map[string]string{"": "not valid JSON"}},
	}
	for _, c := range bad {
		p, err := DecodePolicy([]byte(c.in))
		if c.want == nil {
			if err != nil {
				t.Errorf("DecodePolicy(%s): %v", c.in, err)
			}
			continue
		}
		var fe FieldErrors
		if !errors.As(err, &fe) {
			t.Errorf("DecodePolicy(%s) = %+v, %v; want FieldErrors", c.in, p, err)
			continue
		}
		if len(fe) != len(c.want) {
			t.Errorf("DecodePolicy(%s): %v, want keys of %v", c.in, fe, c.want)
		}
		for k, sub := range c.want {
			if !strings.Contains(fe[k], sub) {
				t.Errorf("DecodePolicy(%s)[%q] = %q, want %q", c.in, k, fe[k], sub)
			}
		}
	}
}

func TestJSONShapes(t *testing.T) {
	b, err := json.Marshal(Policy{KeepDaily: 7, KeepWithin: "30d"})
	if err != nil || string(b) != `{"keep_daily":7,"keep_within":"30d"}` {
		t.Errorf("policy: %s %v", b, err)
	}
	if b, _ := json.Marshal(Policy{}); string(b) != `{}` {
		t.Errorf("empty policy: %s", b)
	}
	ds := mustApply(t, Policy{KeepLast: 1}, nil, []Backup{
		{ID: 1, CompletedAt: mustTime(t, "2024-01-01T00:00:00Z")},
		{ID: 2, CompletedAt: mustTime(t, "2024-01-02T00:00:00Z")},
	})
	b, err = json.Marshal(ds)
	want := `[{"backup_id":2,"completed_at":"2024-01-02T00:00:00Z","keep":true,"reasons":["last","newest"]},` +
		`{"backup_id":1,"completed_at":"2024-01-01T00:00:00Z","keep":false,"reasons":[]}]`
	if err != nil || string(b) != want {
		t.Errorf("decisions:\n%s\nwant\n%s", b, want)
	}
}

// TestProperties applies random policies to random histories with random
// chains and holds, and checks what must always hold.
func TestProperties(t *testing.T) {
	zones := []*time.Location{time.UTC, mustZone(t, "Europe/Berlin"), mustZone(t, "America/New_York")}
	withins := []string{"", "", "", "36h", "7d", "1m", "2y", "1d12h", "1.5h"}
	rules := []string{ReasonLast, ReasonHourly, ReasonDaily, ReasonWeekly, ReasonMonthly, ReasonYearly}
	for seed := uint64(1); seed <= 400; seed++ {
		rng := rand.New(rand.NewPCG(seed, 14))
		loc := zones[rng.IntN(len(zones))]
		p := Policy{KeepWithin: withins[rng.IntN(len(withins))]}
		counts := []*int{&p.KeepLast, &p.KeepHourly, &p.KeepDaily, &p.KeepWeekly, &p.KeepMonthly, &p.KeepYearly}
		for _, c := range counts {
			if rng.IntN(2) == 0 {
				*c = rng.IntN(6)
			}
		}
		n := 1 + rng.IntN(60)
		start := time.Date(2023, 1, 1, 0, 0, 0, 0, time.UTC)
		backups := make([]Backup, n)
		for i := range backups {
			var at time.Time
			if i > 0 && rng.IntN(8) == 0 {
				at = backups[rng.IntN(i)].CompletedAt // an equal time
			} else {
				// Clustered: some within minutes, some over two years.
				scale := []time.Duration{time.Minute, time.Hour, 24 * time.Hour, 30 * 24 * time.Hour}[rng.IntN(4)]
				at = start.Add(time.Duration(rng.Int64N(int64(2*365*24*time.Hour/scale))) * scale)
			}
			backups[i] = Backup{ID: int64(100 + i), CompletedAt: at}
			switch r := rng.IntN(10); {
			case r < 4 && i > 0:
				backups[i].Base = backups[rng.IntN(i)].ID
			case r == 4:
				backups[i].Base = 999 // not in the list
			}
			if rng.IntN(15) == 0 {
				backups[i].Holds = []string{"being restored"}
			}
		}
		rng.Shuffle(len(backups), func(i, j int) { backups[i], backups[j] = backups[j], backups[i] })

		name := fmt.Sprintf("seed %d (%+v in %v, %d backups)", seed, p, loc, n)
		ds, err := Apply(p, loc, backups)
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		byIDs := byID(ds)
		input := map[int64]Backup{}
		for _, b := range backups {
			input[b.ID] = b
		}

		// Newest first, the newest kept.
		for i := 1; i < len(ds); i++ {
			a, b := ds[i-1], ds[i]
			if a.CompletedAt.Before(b.CompletedAt) || (a.CompletedAt.Equal(b.CompletedAt) && a.BackupID < b.BackupID) {
				t.Fatalf("%s: not newest first at %d", name, i)
			}
		}
		if !ds[0].Keep || !slices.Contains(ds[0].Reasons, ReasonNewest) {
			t.Fatalf("%s: newest removed: %+v", name, ds[0])
		}
		var kept []Backup
		for _, d := range ds {
			if d.Keep != (len(d.Reasons) > 0) {
				t.Fatalf("%s: #%d keep=%v with reasons %q", name, d.BackupID, d.Keep, d.Reasons)
			}
			b := input[d.BackupID]
			if len(b.Holds) > 0 && !d.Keep {
				t.Fatalf("%s: held #%d removed", name, d.BackupID)
			}
			if !d.Keep {
				continue
			}
			kept = append(kept, b)
			// Every base of a kept backup is kept, down the chain.
			for cur, steps := b, 0; cur.Base != 0 && steps < n; steps++ {
				base, ok := byIDs[cur.Base]
				if !ok {
					break
				}
				if !base.Keep {
					t.Fatalf("%s: #%d kept, its chain member #%d removed", name, b.ID, base.BackupID)
				}
				if cur.Base != cur.ID && !slices.Contains(base.Reasons, ReasonBaseOf(cur.ID)) {
					t.Fatalf("%s: #%d does not name #%d: %q", name, base.BackupID, cur.ID, base.Reasons)
				}
				cur = input[cur.Base]
			}
		}

		// Each counted rule keeps one backup for each of its first buckets,
		// and the oldest when counts are left.
		if !p.Empty() {
			for k, rule := range rules {
				distinct, shared := distinctBuckets(ds, loc, k)
				normal, oldest := 0, 0
				for _, d := range ds {
					normal += boolInt(slices.Contains(d.Reasons, rule))
					oldest += boolInt(slices.Contains(d.Reasons, ReasonOldest(rule)))
				}
				c := *counts[k]
				if normal != min(c, distinct) || (oldest == 1) != (c > distinct && shared) || oldest > 1 {
					t.Fatalf("%s: %s count %d over %d buckets: %d kept, %d oldest", name, rule, c, distinct, normal, oldest)
				}
			}
		}

		// Idempotent: the policy keeps all of what it kept.
		again, err := Apply(p, loc, kept)
		if err != nil {
			t.Fatalf("%s: again: %v", name, err)
		}
		for _, d := range again {
			if !d.Keep {
				t.Fatalf("%s: second pass removes #%d (%s)", name, d.BackupID, d.CompletedAt)
			}
		}
	}
}

// distinctBuckets counts the buckets of rule k (0 = last, 1 = hourly, ...)
// among the decisions' completion times, and says whether the oldest backup
// shares its bucket with a newer one.
func distinctBuckets(ds []Decision, loc *time.Location, k int) (int, bool) {
	seen := map[string]bool{}
	shared := false
	layouts := []string{"", "2006-01-02 15", "2006-01-02", "", "2006-01", "2006"}
	for i, d := range ds {
		t := d.CompletedAt.In(loc)
		var key string
		switch k {
		case 0:
			key = fmt.Sprint(i)
		case 3:
			y, w := t.ISOWeek()
			key = fmt.Sprint(y, w)
		default:
			key = t.Format(layouts[k])
		}
		shared = seen[key] // ends as the answer for the oldest
		seen[key] = true
	}
	return len(seen), shared
}

func boolInt(b bool) int {
	if b {
		return 1
	}
	return 0
}
