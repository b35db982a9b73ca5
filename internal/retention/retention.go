// Package retention decides which completed backups of a plan a retention
// policy keeps and which it removes, and says why each one stays, the way
// `restic forget --dry-run` does.
//
// The rules are restic's `forget` rules, so users who know restic know them:
//
//   - Backups are taken newest first (equal completion times: higher ID
//     first).
//   - keep_last n keeps the n newest backups.
//   - keep_hourly, keep_daily, keep_weekly, keep_monthly and keep_yearly n
//     keep, for the n newest hours (days, ISO weeks from Monday, months,
//     years) that have backups, the newest backup of each. Buckets are read
//     in the plan's time zone. When a rule has counts left after the last
//     bucket, it also keeps the oldest backup ("oldest daily"), as restic
//     does since 0.16.
//   - keep_within keeps every backup completed strictly after the newest
//     backup's completion time minus the duration (see Duration). Like
//     restic it measures from the newest backup, not from the clock, so a
//     plan that stops running keeps its last backups.
//   - A backup kept by any rule stays; a policy with no rule keeps everything.
//
// coffer adds three rules on top: the newest backup always stays; a caller can
// hold a backup with a reason of its own (a restore is reading it); and a
// kept backup keeps the backup it is built on (Backup.Base), and that one
// its own base, down the whole chain.
//
// The reasons, in the order they are listed for a backup: "no retention
// policy"; "within <duration>"; "last", "hourly", "daily", "weekly",
// "monthly", "yearly" and their "oldest ..." forms; "newest"; the caller's
// hold reasons; "base of #<id>" naming each kept backup built on it.
package retention

import (
	"cmp"
	"fmt"
	"slices"
	"strings"
	"time"
)

// Policy is a plan's retention policy, as it appears in the API and the
// catalog. Zero counts and an empty keep_within turn a rule off.
type Policy struct {
	KeepLast    int    `json:"keep_last,omitempty"`
	KeepHourly  int    `json:"keep_hourly,omitempty"`
	KeepDaily   int    `json:"keep_daily,omitempty"`
	KeepWeekly  int    `json:"keep_weekly,omitempty"`
	KeepMonthly int    `json:"keep_monthly,omitempty"`
	KeepYearly  int    `json:"keep_yearly,omitempty"`
	KeepWithin  string `json:"keep_within,omitempty"` // a Duration: "7d", "1y6m", "36h"
}

// Empty reports whether the policy has no rule; an empty policy keeps every
// backup.
func (p Policy) Empty() bool { return p == Policy{} }

// Validate returns a FieldErrors naming each field that is wrong (keys are
// the JSON names), or nil.
func (p Policy) Validate() error {
	errs := FieldErrors{}
	for _, c := range []struct {
		field string
		n     int
	}{
		{"keep_last", p.KeepLast}, {"keep_hourly", p.KeepHourly}, {"keep_daily", p.KeepDaily},
		{"keep_weekly", p.KeepWeekly}, {"keep_monthly", p.KeepMonthly}, {"keep_yearly", p.KeepYearly},
	} {
		if c.n < 0 {
			errs[c.field] = "must not be negative; 0, or leaving it out, turns the rule off"
		}
	}
	if p.KeepWithin != "" {
		if _, err := ParseDuration(p.KeepWithin); err != nil {
			errs["keep_within"] = err.Error()
		}
	}
	if len(errs) > 0 {
		return errs
	}
	return nil
}

// Backup is one completed backup of a plan, as retention sees it.
type Backup struct {
	ID          int64
	CompletedAt time.Time
	// Base is the ID of the backup this one is built on (an incremental
	// backup's base), or 0. Keeping this backup keeps its base. A base
	// that is not among the backups given to Apply is ignored.
	Base int64
	// Holds are reasons that keep this backup whatever the policy says
	// ("being restored"); they are listed among its reasons.
	Holds []string
}

// Decision is what the policy does with one backup: the dry run's line.
type Decision struct {
	BackupID    int64     `json:"backup_id"`
	CompletedAt time.Time `json:"completed_at"`
	Keep        bool      `json:"keep"`
	Reasons     []string  `json:"reasons"` // why it stays; empty when it goes
}

// The fixed reasons; see the package documentation for the rest.
const (
	ReasonNoPolicy = "no retention policy"
	ReasonNewest   = "newest"
	ReasonLast     = "last"
	ReasonHourly   = "hourly"
	ReasonDaily    = "daily"
	ReasonWeekly   = "weekly"
	ReasonMonthly  = "monthly"
	ReasonYearly   = "yearly"
)

// ReasonOldest is the reason of a backup kept because a rule (ReasonDaily,
// ...) had counts left after its last bucket.
func ReasonOldest(rule string) string { return "oldest " + rule }

// ReasonWithin is the reason of a backup kept by keep_within.
func ReasonWithin(d Duration) string { return "within " + d.String() }

// ReasonBaseOf is the reason of a backup kept because the kept backup
// dependent is built on it.
func ReasonBaseOf(dependent int64) string { return fmt.Sprintf("base of #%d", dependent) }

// Apply applies the policy to a plan's completed backups, with buckets in loc
// (nil means UTC), and returns one decision per backup, newest first. It
// fails on an invalid policy (a FieldErrors) and on a backup ID given twice.
func Apply(p Policy, loc *time.Location, backups []Backup) ([]Decision, error) {
	if err := p.Validate(); err != nil {
		return nil, err
	}
	if loc == nil {
		loc = time.UTC
	}
	list := slices.Clone(backups)
	slices.SortStableFunc(list, func(a, b Backup) int {
		if c := b.CompletedAt.Compare(a.CompletedAt); c != 0 {
			return c
		}
		return cmp.Compare(b.ID, a.ID)
	})
	index := make(map[int64]int, len(list))
	for i, b := range list {
		if _, dup := index[b.ID]; dup {
			return nil, fmt.Errorf("retention: backup %d is listed twice", b.ID)
		}
		index[b.ID] = i
	}
	reasons := make([][]string, len(list))
	add := func(i int, why string) {
		if !slices.Contains(reasons[i], why) {
			reasons[i] = append(reasons[i], why)
		}
	}

	if p.Empty() {
		for i := range list {
			add(i, ReasonNoPolicy)
		}
	} else {
		applyRules(p, loc, list, add)
	}

	for i, b := range list {
		if i == 0 {
			add(i, ReasonNewest)
		}
		for _, h := range b.Holds {
			if h = strings.TrimSpace(h); h != "" {
				add(i, h)
			}
		}
	}

	// A kept backup keeps its base, and so on down the chain.
	var queue []int
	for i := range list {
		if len(reasons[i]) > 0 {
			queue = append(queue, i)
		}
	}
	for len(queue) > 0 {
		i := queue[0]
		queue = queue[1:]
		j, ok := index[list[i].Base]
		if list[i].Base == 0 || !ok || j == i {
			continue
		}
		wasKept := len(reasons[j]) > 0
		add(j, ReasonBaseOf(list[i].ID))
		if !wasKept {
			queue = append(queue, j)
		}
	}

	out := make([]Decision, len(list))
	for i, b := range list {
		why := reasons[i]
		if why == nil {
			why = []string{}
		}
		out[i] = Decision{BackupID: b.ID, CompletedAt: b.CompletedAt, Keep: len(why) > 0, Reasons: why}
	}
	return out, nil
}

// bucket is one counted rule: how many buckets it may still keep, how a
// backup's bucket is computed, and the last bucket it kept.
type bucket struct {
	left   int
	key    func(t time.Time, i int) int
	last   int
	reason string
}

// applyRules runs restic's rules over list (newest first), calling add for
// each reason a backup is kept.
func applyRules(p Policy, loc *time.Location, list []Backup, add func(int, string)) {
	var within Duration
	var cutoff time.Time
	if p.KeepWithin != "" {
		within, _ = ParseDuration(p.KeepWithin) // Validate checked it
		cutoff = within.Before(list[0].CompletedAt, loc)
	}
	buckets := []bucket{
		{p.KeepLast, func(_ time.Time, i int) int { return i }, -1, ReasonLast},
		{p.KeepHourly, func(t time.Time, _ int) int { return ((t.Year()*100+int(t.Month()))*100+t.Day())*100 + t.Hour() }, -1, ReasonHourly},
		{p.KeepDaily, func(t time.Time, _ int) int { return (t.Year()*100+int(t.Month()))*100 + t.Day() }, -1, ReasonDaily},
		{p.KeepWeekly, func(t time.Time, _ int) int { y, w := t.ISOWeek(); return y*100 + w }, -1, ReasonWeekly},
		{p.KeepMonthly, func(t time.Time, _ int) int { return t.Year()*100 + int(t.Month()) }, -1, ReasonMonthly},
		{p.KeepYearly, func(t time.Time, _ int) int { return t.Year() }, -1, ReasonYearly},
	}
	for i, b := range list {
		t := b.CompletedAt.In(loc)
		if !within.IsZero() && t.After(cutoff) {
			add(i, ReasonWithin(within))
		}
		for k := range buckets {
			bk := &buckets[k]
			if bk.left <= 0 {
				continue
			}
			switch v := bk.key(t, i); {
			case v != bk.last:
				bk.last = v
				bk.left--
				add(i, bk.reason)
			case i == len(list)-1:
				bk.left--
				add(i, ReasonOldest(bk.reason))
			}
		}
	}
}
