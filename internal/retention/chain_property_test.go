package retention

import (
	"flag"
	"fmt"
	"math/rand/v2"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"
)

// chainSeed runs TestRetentionNeverBreaksAChain for one history only, the one
// a failure names.
var chainSeed = flag.Uint64("chain.seed", 0, "run TestRetentionNeverBreaksAChain for this seed only")

// chainHistories is how many random histories TestRetentionNeverBreaksAChain
// simulates.
const chainHistories = 300

// TestRetentionNeverBreaksAChain simulates plans making incremental backups
// over time: chains of one full backup followed by incrementals, a new full
// every full_every runs (or early, when a base was not usable), failed runs,
// irregular gaps between runs and holds that come and go. After each run
// the plan applies its retention policy to the backups it still has and
// removes the ones the policy does not keep. After every step:
//
//  1. every remaining backup's chain is complete: its base, its base's base
//     ... down to a full backup are all still there;
//  2. the newest backup is kept (as "newest");
//  3. no backup removed is the base of a backup kept in that step;
//  4. every "base of #N" names a kept backup #N built on it, and a backup
//     kept only because of chains has such a reason; every kept backup built
//     on another is named by it;
//  5. chains add nothing else: the other reasons are those of the same
//     backups without bases, and the kept backups are exactly those the
//     rules, "newest" and holds keep plus their chains.
func TestRetentionNeverBreaksAChain(t *testing.T) {
	zones := []*time.Location{time.UTC}
	for _, name := range []string{"Europe/Berlin", "America/New_York", "Australia/Sydney"} {
		loc, err := time.LoadLocation(name)
		if err != nil {
			t.Fatal(err)
		}
		zones = append(zones, loc)
	}
	first, last := uint64(1), uint64(chainHistories)
	if *chainSeed != 0 {
		first, last = *chainSeed, *chainSeed
	}
	var st chainStats
	failed := 0
	for seed := first; seed <= last && failed < 3; seed++ {
		if err := simulateChains(seed, zones, &st); err != nil {
			failed++
			t.Errorf("%v\nreproduce with: go test -count=1 -run TestRetentionNeverBreaksAChain ./internal/retention/ -args -chain.seed=%d", err, seed)
		}
	}
	t.Logf("%d histories: %d runs, %d backups, %d removed, %d times a backup kept only as a base, longest chain kept %d",
		last-first+1, st.runs, st.backups, st.removed, st.onlyBase, st.longest)
	if *chainSeed == 0 && failed == 0 && (st.removed == 0 || st.onlyBase == 0 || st.longest < 5) {
		t.Errorf("the histories do not exercise chains: %+v", st)
	}
}

// chainStats is what the simulated histories did, to see that they test
// something.
type chainStats struct {
	runs, backups, removed, onlyBase, longest int
}

// chainSim is one simulated plan.
type chainSim struct {
	seed      uint64
	policy    Policy
	loc       *time.Location
	fullEvery int
	history   []chainStep
}

// chainStep is one run of a simulated plan, formatted only when a check fails.
type chainStep struct {
	what string     // the run and the backup it made
	ds   []Decision // what the policy then did, nil when the run failed
}

func (st chainStep) String() string {
	var b strings.Builder
	b.WriteString(st.what)
	if st.ds != nil {
		b.WriteString(" →")
	}
	for _, d := range st.ds {
		if d.Keep {
			fmt.Fprintf(&b, " #%d{%s}", d.BackupID, strings.Join(d.Reasons, ","))
		} else {
			fmt.Fprintf(&b, " -#%d", d.BackupID)
		}
	}
	return b.String()
}

func (s *chainSim) failf(format string, args ...any) error {
	lines := make([]string, len(s.history))
	for i, st := range s.history {
		lines[i] = st.String()
	}
	return fmt.Errorf("seed %d: policy %+v in %v, full_every %d: %s\nhistory (#id kept{reasons}, -#id removed):\n  %s",
		s.seed, s.policy, s.loc, s.fullEvery, fmt.Sprintf(format, args...), strings.Join(lines, "\n  "))
}

// randomChainPolicy is a random mix of the rules, often with zero counts,
// sometimes with keep_within, sometimes with no rule at all.
func randomChainPolicy(rng *rand.Rand) Policy {
	withins := []string{"36h", "7d", "2d12h", "1m", "90m0s", "1y"}
	var p Policy
	if rng.IntN(4) == 0 {
		p.KeepWithin = withins[rng.IntN(len(withins))]
	}
	for _, c := range []*int{&p.KeepLast, &p.KeepHourly, &p.KeepDaily, &p.KeepWeekly, &p.KeepMonthly, &p.KeepYearly} {
		switch rng.IntN(3) {
		case 0: // off
		case 1:
			*c = rng.IntN(3) // often 0 or small
		default:
			*c = rng.IntN(8)
		}
	}
	return p
}

// randomGap is the time between two runs: minutes to days, now and then
// weeks when the plan was paused.
func randomGap(rng *rand.Rand) time.Duration {
	switch r := rng.IntN(20); {
	case r < 6:
		return time.Duration(1+rng.IntN(120)) * time.Minute
	case r < 12:
		return time.Duration(1+rng.IntN(23))*time.Hour + time.Duration(rng.IntN(60))*time.Minute
	case r < 19:
		return time.Duration(1+rng.IntN(3))*24*time.Hour + time.Duration(rng.IntN(6*60)-3*60)*time.Minute
	default:
		return time.Duration(4+rng.IntN(60)) * 24 * time.Hour
	}
}

// simulateChains runs one random history and returns what went wrong.
func simulateChains(seed uint64, zones []*time.Location, st *chainStats) error {
	rng := rand.New(rand.NewPCG(seed, 0xC4A1))
	s := &chainSim{
		seed:      seed,
		policy:    randomChainPolicy(rng),
		loc:       zones[rng.IntN(len(zones))],
		fullEvery: 1 + rng.IntN(10),
	}
	runs := 15 + rng.IntN(100)
	at := time.Date(2022+rng.IntN(4), time.Month(1+rng.IntN(12)), 1+rng.IntN(28), rng.IntN(24), rng.IntN(60), 0, 0, s.loc)

	var present []Backup     // the plan's backups still kept, oldest first
	holds := map[int64]int{} // held backup -> runs the hold lasts
	nextID := int64(1)
	lastID := int64(0) // the backup the last successful run made
	inChain := 0       // backups in the current chain so far
	for run := 1; run <= runs; run++ {
		st.runs++
		gap := randomGap(rng)
		at = at.Add(gap)
		line := fmt.Sprintf("run %d %s (+%s):", run, at.In(s.loc).Format("2006-01-02 15:04 Mon"), gap)

		// Holds end after a while; now and then a restore reads a backup.
		for id := range holds {
			if holds[id]--; holds[id] <= 0 {
				delete(holds, id)
			}
		}
		if len(present) > 0 && rng.IntN(8) == 0 {
			id := present[rng.IntN(len(present))].ID
			holds[id] = 1 + rng.IntN(5)
		}

		if rng.IntN(12) == 0 {
			s.history = append(s.history, chainStep{what: line + " failed, no backup"})
			continue
		}

		// A full every full_every backups, or when the base is not usable;
		// else an incremental on the backup the chain ended with.
		b := Backup{ID: nextID, CompletedAt: at}
		nextID++
		tip := slices.IndexFunc(present, func(p Backup) bool { return p.ID == lastID })
		switch {
		case tip < 0 || inChain >= s.fullEvery:
			inChain = 1
			line += fmt.Sprintf(" #%d full", b.ID)
		case rng.IntN(15) == 0:
			inChain = 1
			line += fmt.Sprintf(" #%d full (base #%d not usable)", b.ID, lastID)
		default:
			b.Base = lastID
			inChain++
			line += fmt.Sprintf(" #%d incremental on #%d", b.ID, b.Base)
		}
		lastID = b.ID
		present = append(present, b)
		st.backups++

		// The plan applies its policy to what it has, in the catalog's order.
		input := make([]Backup, len(present))
		var held []string
		for i, p := range present {
			input[i] = p
			if holds[p.ID] > 0 {
				input[i].Holds = []string{"being restored"}
				held = append(held, fmt.Sprintf("#%d", p.ID))
			}
		}
		if len(held) > 0 {
			line += " [held " + strings.Join(held, " ") + "]"
		}
		rng.Shuffle(len(input), func(i, j int) { input[i], input[j] = input[j], input[i] })
		ds, err := Apply(s.policy, s.loc, input)
		s.history = append(s.history, chainStep{what: line, ds: ds})
		if err != nil {
			return s.failf("run %d: Apply: %v", run, err)
		}
		if err := s.checkStep(input, ds, b.ID); err != nil {
			return s.failf("run %d: %v", run, err)
		}

		// The plan removes what the policy does not keep.
		kept := make(map[int64]bool, len(ds))
		for _, d := range ds {
			kept[d.BackupID] = d.Keep
			if !d.Keep {
				st.removed++
			} else if !slices.ContainsFunc(d.Reasons, func(r string) bool { return !strings.HasPrefix(r, "base of #") }) {
				st.onlyBase++
			}
		}
		present = slices.DeleteFunc(present, func(p Backup) bool { return !kept[p.ID] })
		for id := range holds {
			if !kept[id] {
				return s.failf("run %d: held #%d removed", run, id)
			}
		}

		// (1) Every remaining backup's chain is complete.
		ids := make(map[int64]Backup, len(present))
		for _, p := range present {
			ids[p.ID] = p
		}
		for _, p := range present {
			cur, steps := p, 0
			for ; cur.Base != 0; steps++ {
				base, ok := ids[cur.Base]
				if !ok {
					return s.failf("run %d: #%d remains but its chain is broken: #%d, base of #%d, was removed", run, p.ID, cur.Base, cur.ID)
				}
				if steps > len(present) {
					return s.failf("run %d: #%d's chain loops", run, p.ID)
				}
				cur = base
			}
			st.longest = max(st.longest, steps+1)
		}
	}
	return nil
}

// checkStep checks one application of the policy: input is what Apply was
// given, ds what it said, newest the backup the run just made.
func (s *chainSim) checkStep(input []Backup, ds []Decision, newest int64) error {
	if len(ds) != len(input) {
		return fmt.Errorf("%d decisions for %d backups", len(ds), len(input))
	}
	in := make(map[int64]Backup, len(input))
	for _, b := range input {
		in[b.ID] = b
	}
	dec := make(map[int64]Decision, len(ds))
	for _, d := range ds {
		if _, ok := in[d.BackupID]; !ok {
			return fmt.Errorf("decision for #%d, not given", d.BackupID)
		}
		if _, dup := dec[d.BackupID]; dup {
			return fmt.Errorf("two decisions for #%d", d.BackupID)
		}
		if d.Keep != (len(d.Reasons) > 0) {
			return fmt.Errorf("#%d keep=%v with reasons %q", d.BackupID, d.Keep, d.Reasons)
		}
		dec[d.BackupID] = d
	}

	// (2) The newest backup is kept.
	if d := dec[newest]; !d.Keep || !slices.Contains(d.Reasons, ReasonNewest) {
		return fmt.Errorf("newest #%d not kept as newest: %q", newest, d.Reasons)
	}
	if ds[0].BackupID != newest {
		return fmt.Errorf("decisions start with #%d, not the newest #%d", ds[0].BackupID, newest)
	}

	// (3) A backup removed is not the base of a backup kept.
	for _, d := range ds {
		b := in[d.BackupID]
		if d.Keep && b.Base != 0 && !dec[b.Base].Keep {
			return fmt.Errorf("#%d kept but its base #%d removed", b.ID, b.Base)
		}
	}

	// (4) "base of #N" names exactly the kept backups built on this one (so a
	// backup kept only by chains names the kept backup that needs it).
	dependents := make(map[int64][]int64, len(ds))
	for _, d := range ds {
		if b := in[d.BackupID]; d.Keep && b.Base != 0 && b.Base != b.ID {
			dependents[b.Base] = append(dependents[b.Base], b.ID)
		}
	}
	var gotBase []int64
	for _, d := range ds {
		gotBase = gotBase[:0]
		for _, r := range d.Reasons {
			if n, ok := strings.CutPrefix(r, "base of #"); ok {
				id, err := strconv.ParseInt(n, 10, 64)
				if err != nil || r != ReasonBaseOf(id) {
					return fmt.Errorf("#%d: reason %q", d.BackupID, r)
				}
				gotBase = append(gotBase, id)
			}
		}
		wantBase := dependents[d.BackupID]
		slices.Sort(wantBase)
		slices.Sort(gotBase)
		if !slices.Equal(gotBase, wantBase) {
			return fmt.Errorf("#%d is listed as the base of %v, but the kept backups built on it are %v", d.BackupID, gotBase, wantBase)
		}
	}

	// (5) Without bases the same rules keep the same backups for the same
	// reasons; chains add their bases and nothing else.
	flat := make([]Backup, len(input))
	for i, b := range input {
		flat[i] = b
		flat[i].Base = 0
	}
	fds, err := Apply(s.policy, s.loc, flat)
	if err != nil {
		return fmt.Errorf("Apply without bases: %v", err)
	}
	want := make(map[int64]bool, len(ds))
	for _, fd := range fds {
		var others []string
		for _, r := range dec[fd.BackupID].Reasons {
			if !strings.HasPrefix(r, "base of #") {
				others = append(others, r)
			}
		}
		if !slices.Equal(others, fd.Reasons) && !(len(others) == 0 && len(fd.Reasons) == 0) {
			return fmt.Errorf("#%d kept for %q besides chains, %q without bases", fd.BackupID, others, fd.Reasons)
		}
		// The closure: a backup the rules keep, and its chain.
		for id := fd.BackupID; fd.Keep && id != 0 && !want[id]; id = in[id].Base {
			if _, ok := in[id]; !ok {
				break
			}
			want[id] = true
		}
	}
	for _, d := range ds {
		if d.Keep != want[d.BackupID] {
			return fmt.Errorf("#%d keep=%v (%q), but the rules and their chains say keep=%v", d.BackupID, d.Keep, d.Reasons, want[d.BackupID])
		}
	}
	return nil
}

// TestChainDryRunReasons lists the dry run's reasons for small chains.
func TestChainDryRunReasons(t *testing.T) {
	at := func(h int) time.Time {
		return time.Date(2024, 3, 4, 0, 0, 0, 0, time.UTC).Add(time.Duration(h) * time.Hour)
	}
	day := func(d int) time.Time { return time.Date(2024, 3, d, 22, 0, 0, 0, time.UTC) }
	// chain builds backups #1..#n at the given times with the given bases.
	chain := func(times []time.Time, bases ...int64) []Backup {
		out := make([]Backup, len(times))
		for i := range times {
			out[i] = Backup{ID: int64(i + 1), CompletedAt: times[i], Base: bases[i]}
		}
		return out
	}
	hours := func(n int) []time.Time {
		var ts []time.Time
		for i := range n {
			ts = append(ts, at(i))
		}
		return ts
	}
	held := func(bs []Backup, id int64, why string) []Backup {
		bs[id-1].Holds = []string{why}
		return bs
	}
	for _, c := range []struct {
		name    string
		policy  Policy
		backups []Backup
		want    map[int64][]string // nil: removed
	}{
		{
			"full #1, incrementals #2..#4, keep_last 1",
			Policy{KeepLast: 1},
			chain(hours(4), 0, 1, 2, 3),
			map[int64][]string{4: {"last", "newest"}, 3: {"base of #4"}, 2: {"base of #3"}, 1: {"base of #2"}},
		},
		{
			"full #1, incrementals #2..#4, keep_last 2",
			Policy{KeepLast: 2},
			chain(hours(4), 0, 1, 2, 3),
			map[int64][]string{4: {"last", "newest"}, 3: {"last", "base of #4"}, 2: {"base of #3"}, 1: {"base of #2"}},
		},
		{
			"a new full: the old chain goes",
			Policy{KeepLast: 1},
			chain(hours(4), 0, 1, 2, 0),
			map[int64][]string{4: {"last", "newest"}, 3: nil, 2: nil, 1: nil},
		},
		{
			"two chains, keep_last 1 keeps the second",
			Policy{KeepLast: 1},
			chain(hours(5), 0, 1, 2, 0, 4),
			map[int64][]string{5: {"last", "newest"}, 4: {"base of #5"}, 3: nil, 2: nil, 1: nil},
		},
		{
			"keep_daily 1 over a chain across days",
			Policy{KeepDaily: 1},
			chain([]time.Time{day(1), day(2), day(3)}, 0, 1, 2),
			map[int64][]string{3: {"daily", "newest"}, 2: {"base of #3"}, 1: {"base of #2"}},
		},
		{
			"a held incremental of an old chain keeps that chain's start",
			Policy{KeepLast: 1},
			held(chain(hours(5), 0, 1, 2, 0, 4), 2, "being restored"),
			map[int64][]string{5: {"last", "newest"}, 4: {"base of #5"}, 3: nil, 2: {"being restored"}, 1: {"base of #2"}},
		},
		{
			"keep_within over the end of a chain",
			Policy{KeepWithin: "90m0s"},
			chain(hours(4), 0, 1, 2, 3),
			map[int64][]string{4: {"within 1h30m0s", "newest"}, 3: {"within 1h30m0s", "base of #4"}, 2: {"base of #3"}, 1: {"base of #2"}},
		},
	} {
		t.Run(c.name, func(t *testing.T) {
			ds, err := Apply(c.policy, time.UTC, c.backups)
			if err != nil {
				t.Fatal(err)
			}
			if len(ds) != len(c.want) {
				t.Fatalf("%d decisions, want %d", len(ds), len(c.want))
			}
			for _, d := range ds {
				w, ok := c.want[d.BackupID]
				if !ok {
					t.Errorf("#%d: unexpected decision", d.BackupID)
					continue
				}
				if d.Keep != (w != nil) || !slices.Equal(d.Reasons, orEmptyReasons(w)) {
					t.Errorf("#%d: keep=%v %q, want keep=%v %q", d.BackupID, d.Keep, d.Reasons, w != nil, w)
				}
			}
		})
	}
}

func orEmptyReasons(s []string) []string {
	if s == nil {
		return []string{}
	}
	return s
}
