package main

import (
	"context"
	"encoding/json"
	"fmt"
	"math"
	"math/rand/v2"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	awss3 "github.com/aws/aws-sdk-go-v2/service/s3"
	"golang.org/x/sync/errgroup"
)

// The incremental case (-cases incremental): a bucket of -inc-objects
// objects of mixed sizes (about 1 GB for 10,000; half log-like text that
// compresses, half random bytes named .jpg or .bin that do not), the
// source behind the same 20 ms proxy as the S3 case, the archives in
// another bucket of the same versitygw reached directly. It times a bare
// ListObjectsV2 of the bucket through the proxy (no backup can list
// faster), a first backup with mode incremental (a full one, as there is
// nothing to build on), then -inc-chain incrementals, each after a change
// set of 1% of the objects rewritten, 0.5% deleted and 0.5% added. The
// first incremental is the figure: its time and bytes beside the
// full backup's. Then it restores the last point (its chain: the full
// backup and every incremental) into a new bucket, and a full backup of
// the same final bucket into another, both checked object by object
// against what the bench put, and compares the two restores' times.
// Restores read the archive bucket directly, not through the proxy.

// Per mille of the bucket's objects each change set rewrites, deletes and adds.
const (
	incChangedPerMille = 10
	incDeletedPerMille = 5
	incAddedPerMille   = 5
)

// incObject is object n of the incremental case's bucket, at version v (0
// when it is put first, one more each time a change set rewrites it). Its
// key, kind and size depend on n alone, so a rewrite keeps the size and
// changes the bytes: only the ETag and Last-Modified tell it changed.
func incObject(n, v int) object {
	rng := rand.New(rand.NewPCG(uint64(n), 0x1c))
	size := incSize(rng)
	o := object{size: size, seed: uint64(10_000_000 + v*1_000_000 + n)}
	dir := n % 64
	switch rng.IntN(4) {
	case 0:
		o.key, o.contentType = fmt.Sprintf("logs/%02d/%06d.log", dir, n), "text/plain"
	case 1:
		o.key, o.contentType = fmt.Sprintf("exports/%02d/%06d.json", dir, n), "application/json"
	case 2:
		o.key, o.contentType, o.randomShare = fmt.Sprintf("photos/%02d/%06d.jpg", dir, n), "image/jpeg", 1
	default:
		o.key, o.randomShare = fmt.Sprintf("blobs/%02d/%06d.bin", dir, n), 1
	}
	return o
}

// incSize draws an object size: 97% of objects between 4 KiB and 256 KiB,
// 3% between 256 KiB and 4 MiB, each log-uniform. The mean is about
// 103 KB, so 10,000 objects hold about 1 GB, some 40% of it in the few
// large ones.
func incSize(rng *rand.Rand) int {
	lo, hi := 4.0*kib, 256.0*kib
	if rng.Float64() < 0.03 {
		lo, hi = 256*kib, 4*mib
	}
	return int(lo * math.Pow(hi/lo, rng.Float64()))
}

// incBucket is what the bench has put into the incremental case's
// bucket: the objects' numbers and versions, and their SHA-256s.
type incBucket struct {
	name     string
	corpus   *corpusInfo
	versions map[int]int // object number → version
	next     int         // the number of the next object added
}

// newIncBucket puts objects 0 … n-1 into bucket.
func newIncBucket(ctx context.Context, gw *gateway, bucket string, n int) (*incBucket, error) {
	objs := make([]object, n)
	b := &incBucket{name: bucket, versions: make(map[int]int, n), next: n}
	for i := range n {
		objs[i] = incObject(i, 0)
		b.versions[i] = 0
	}
	c, err := fillBucket(ctx, gw, bucket, objs)
	if err != nil {
		return nil, err
	}
	b.corpus = c
	return b, nil
}

// changeSet is what one round of changes did.
type changeSet struct{ changed, deleted, added int }

func (c changeSet) String() string {
	return fmt.Sprintf("%d rewritten, %d deleted, %d added", c.changed, c.deleted, c.added)
}

// change rewrites, deletes and adds objects (incChangedPerMille … of
// those in the bucket, picked by rng) and records the bucket's new state.
func (b *incBucket) change(ctx context.Context, gw *gateway, rng *rand.Rand) (changeSet, error) {
	live := make([]int, 0, len(b.versions))
	for n := range b.versions {
		live = append(live, n)
	}
	slices.Sort(live)
	rng.Shuffle(len(live), func(i, j int) { live[i], live[j] = live[j], live[i] })
	cs := changeSet{
		changed: len(live) * incChangedPerMille / 1000,
		deleted: len(live) * incDeletedPerMille / 1000,
		added:   len(live) * incAddedPerMille / 1000,
	}
	var put []object
	for _, n := range live[:cs.changed] {
		b.versions[n]++
		put = append(put, incObject(n, b.versions[n]))
	}
	for range cs.added {
		b.versions[b.next] = 0
		put = append(put, incObject(b.next, 0))
		b.corpus.bytes += int64(put[len(put)-1].size)
		b.next++
	}
	c, err := fillBucket(ctx, gw, b.name, put)
	if err != nil {
		return cs, err
	}
	for key, sum := range c.sums {
		b.corpus.sums[key] = sum
	}
	cl := gw.client(gw.endpoint)
	eg, ectx := errgroup.WithContext(ctx)
	eg.SetLimit(8)
	for _, n := range live[cs.changed : cs.changed+cs.deleted] {
		o := incObject(n, b.versions[n])
		delete(b.versions, n)
		delete(b.corpus.sums, o.key)
		b.corpus.bytes -= int64(o.size)
		eg.Go(func() error {
			if _, err := cl.DeleteObject(ectx, &awss3.DeleteObjectInput{Bucket: aws.String(b.name), Key: aws.String(o.key)}); err != nil {
				return fmt.Errorf("deleting %s from %s: %w", o.key, b.name, err)
			}
			return nil
		})
	}
	return cs, eg.Wait()
}

// listBucket lists bucket with ListObjectsV2 pages of the default size
// (1,000 keys) and returns how many objects it saw.
func listBucket(ctx context.Context, cl *awss3.Client, bucket string) (int, error) {
	n := 0
	pager := awss3.NewListObjectsV2Paginator(cl, &awss3.ListObjectsV2Input{Bucket: aws.String(bucket)})
	for pager.HasMorePages() {
		page, err := pager.NextPage(ctx)
		if err != nil {
			return n, fmt.Errorf("listing %s: %w", bucket, err)
		}
		n += len(page.Contents)
	}
	return n, nil
}

// incRun is one timed backup of the incremental case.
type incRun struct {
	op        operation
	wall, cpu time.Duration
	gwCPU     time.Duration // versitygw's CPU time meanwhile
	requests  int64
	peak      int64         // most source requests in flight at once
	sourceEnd time.Duration // from the POST to the last source request's answer
	load      string
	changes   changeSet // the change set before it (none before the first)
}

func (r incRun) changed() int64 {
	if r.op.ChangedObjects == nil {
		return -1
	}
	return *r.op.ChangedObjects
}

func incrementalCase(ctx context.Context, s settings, gw *gateway, work string) ([]row, error) {
	const src, dst, chainRestored, fullRestored = "bench-inc", "bench-inc-archives", "bench-inc-chain", "bench-inc-full"
	if s.incChain < 1 || s.incObjects < 200 {
		return nil, fmt.Errorf("the incremental case needs -inc-chain ≥ 1 and -inc-objects ≥ 200 (a change set is 1%% + 0.5%% + 0.5%% of the objects)")
	}
	for _, b := range []string{src, dst, chainRestored, fullRestored} {
		if err := gw.createBucket(ctx, b); err != nil {
			return nil, err
		}
	}
	start := time.Now()
	bucket, err := newIncBucket(ctx, gw, src, s.incObjects)
	if err != nil {
		return nil, err
	}
	random := 0
	var randomBytes int64
	for n, v := range bucket.versions {
		if o := incObject(n, v); o.randomShare > 0 {
			random++
			randomBytes += int64(o.size)
		}
	}
	logf("incremental case: %d objects, %s (%d of them, %s, random bytes: .jpg and .bin), put into %s in %s",
		len(bucket.versions), sizeMiB(bucket.corpus.bytes), random, sizeMiB(randomBytes), src, secs(time.Since(start)))

	proxy, err := startDelayProxy(gw.endpoint, s.delay)
	if err != nil {
		return nil, err
	}
	defer proxy.close()
	logf("incremental case: source proxy at %s adds %s per request", proxy.url, s.delay)

	// (a) The floor: a bare listing of the bucket through the proxy.
	listLoad := loadAvg()
	before := proxy.requests.Load()
	start = time.Now()
	listed, err := listBucket(ctx, gw.client(proxy.url), src)
	if err != nil {
		return nil, err
	}
	listWall, listPages := time.Since(start), proxy.requests.Load()-before
	if listed != len(bucket.versions) {
		return nil, fmt.Errorf("the listing saw %d objects, want %d", listed, len(bucket.versions))
	}
	logf("bare ListObjectsV2 through the proxy: %d objects in %d requests, %s (load before %s)", listed, listPages, secs(listWall), listLoad)

	cp, err := startCoffer(ctx, s, filepath.Join(work, "coffer-incremental"))
	if err != nil {
		return nil, err
	}
	defer cp.stop()
	srcID, err := cp.createConnection(ctx, "bench incremental source (slow)", "s3", gw.s3creds(proxy.url, src))
	if err != nil {
		return nil, err
	}
	dstID, err := cp.createConnection(ctx, "bench incremental archives", "s3", gw.s3creds(gw.endpoint, dst))
	if err != nil {
		return nil, err
	}
	restID, err := cp.createConnection(ctx, "bench incremental restore target", "s3", gw.s3creds(gw.endpoint, chainRestored))
	if err != nil {
		return nil, err
	}

	backup := func(name, mode string) (incRun, error) {
		r := incRun{load: loadAvg()}
		before := proxy.requests.Load()
		cpu0, _ := procCPU(cp.pid())
		gw0, _ := procCPU(gw.cmd.Process.Pid)
		if err := cp.prof.begin(name); err != nil {
			return r, err
		}
		proxy.resetPeak()
		t0 := time.Now()
		op, wall, err := cp.run(ctx, "backups", map[string]any{"source_connection_id": srcID, "destination_connection_id": dstID,
			"options": map[string]any{"mode": mode}}, 20*time.Minute)
		if err != nil {
			return r, err
		}
		if err := cp.prof.end(name); err != nil {
			return r, err
		}
		cpu1, _ := procCPU(cp.pid())
		gw1, _ := procCPU(gw.cmd.Process.Pid)
		r.gwCPU = gw1 - gw0
		r.op, r.wall, r.cpu, r.requests = op, wall, cpu1-cpu0, proxy.requests.Load()-before
		r.peak, r.sourceEnd = proxy.peak.Load(), proxy.lastAnswer().Sub(t0)
		if err := checkArchive(ctx, gw, dst, op); err != nil {
			return r, err
		}
		if op.Progress.ItemsTotal != nil && *op.Progress.ItemsTotal != int64(len(bucket.versions)) {
			return r, fmt.Errorf("%s: items_total %d, the bucket holds %d objects", name, *op.Progress.ItemsTotal, len(bucket.versions))
		}
		logf("%s (mode %s): %s wall (engine %s), CPU %s (versitygw %s), %d items, %d changed, read %s, archive %s at %s, %d source requests (at most %d at once, the last answered %s after the POST) (load before %s)",
			name, op.Mode, secs(wall), secs(op.engineTime()), secs(r.cpu), secs(r.gwCPU), op.Progress.ItemsDone, r.changed(),
			sizeMiB(op.Progress.BytesRead), sizeMiB(op.ArchiveSize), op.ArchivePath, r.requests, r.peak, secs(r.sourceEnd), r.load)
		if s.incLogs {
			var page struct {
				Items []json.RawMessage `json:"items"`
			}
			if err := cp.do(ctx, "GET", fmt.Sprintf("/api/v1/backups/%d/logs", op.ID), nil, &page); err == nil {
				for _, l := range page.Items {
					fmt.Println("    ", string(l))
				}
			}
		}
		return r, nil
	}

	// (b) The first backup: mode incremental, which has nothing to build
	// on and so is a full one.
	full, err := backup("inc-full", "incremental")
	if err != nil {
		return nil, err
	}
	if full.op.Mode != "full" || full.op.BaseBackupID != nil {
		return nil, fmt.Errorf("the first backup is %q on %v, want a full one", full.op.Mode, full.op.BaseBackupID)
	}

	// (c), (d), (e): the chain of incrementals, each after a change set.
	rng := rand.New(rand.NewPCG(7, 7))
	var incs []incRun
	prev := full.op.ID
	changedOK := true
	for i := range s.incChain {
		cs, err := bucket.change(ctx, gw, rng)
		if err != nil {
			return nil, err
		}
		logf("change set %d: %s; the bucket holds %d objects, %s", i+1, cs, len(bucket.versions), sizeMiB(bucket.corpus.bytes))
		r, err := backup(fmt.Sprintf("inc-%d", i+1), "incremental")
		if err != nil {
			return nil, err
		}
		r.changes = cs
		if r.op.Mode != "incremental" || r.op.BaseBackupID == nil || *r.op.BaseBackupID != prev {
			return nil, fmt.Errorf("backup %d is %q on %v, want an incremental on #%d", r.op.ID, r.op.Mode, r.op.BaseBackupID, prev)
		}
		if want := int64(cs.changed + cs.added); r.changed() != want {
			changedOK = false
			logf("backup %d: changed_objects %d, the change set rewrote or added %d", r.op.ID, r.changed(), want)
		}
		incs = append(incs, r)
		prev = r.op.ID
	}

	restore := func(name string, op operation, bucketName string) (operation, time.Duration, string, error) {
		load := loadAvg()
		profName := "inc-" + strings.ReplaceAll(name, " ", "-")
		if err := cp.prof.begin(profName); err != nil {
			return operation{}, 0, load, err
		}
		rop, wall, err := cp.run(ctx, "restores", map[string]any{
			"backup_operation_id": op.ID, "destination_connection_id": restID, "config": map[string]any{"bucket": bucketName},
		}, 20*time.Minute)
		if err != nil {
			return rop, 0, load, err
		}
		if err := cp.prof.end(profName); err != nil {
			return rop, 0, load, err
		}
		logf("%s of backup %d into %s: %s wall (engine %s), %d items, read %s (load before %s)",
			name, op.ID, bucketName, secs(wall), secs(rop.engineTime()), rop.Progress.ItemsDone, sizeMiB(rop.Progress.BytesRead), load)
		if err := verifyBucket(ctx, gw, bucketName, bucket.corpus); err != nil {
			return rop, 0, load, err
		}
		logf("%s verified: %d objects byte-identical in %s", name, len(bucket.corpus.sums), bucketName)
		return rop, wall, load, nil
	}
	last := incs[len(incs)-1]
	_, chainWall, chainLoad, err := restore("chain restore", last.op, chainRestored)
	if err != nil {
		return nil, err
	}
	final, err := backup("inc-final-full", "full")
	if err != nil {
		return nil, err
	}
	if final.op.Mode != "full" {
		return nil, fmt.Errorf("the backup with mode full is %q", final.op.Mode)
	}
	_, fullWall, fullLoad, err := restore("full restore", final.op, fullRestored)
	if err != nil {
		return nil, err
	}
	hwm, _ := procStatus(cp.pid(), "VmHWM")
	cp.stop()

	first := incs[0]
	timeShare := first.wall.Seconds() / full.wall.Seconds()
	byteShare := float64(first.op.ArchiveSize) / float64(full.op.ArchiveSize)
	restoreRatio := chainWall.Seconds() / fullWall.Seconds()
	var more []string
	for i, r := range incs[1:] {
		more = append(more, fmt.Sprintf("#%d %s, %s, %d changed", i+2, secs(r.wall), sizeMiB(r.op.ArchiveSize), r.changed()))
	}
	var chainBytes int64
	for _, r := range append([]incRun{full}, incs...) {
		chainBytes += r.op.ArchiveSize
	}
	return []row{
		{"incremental data", fmt.Sprintf("%d objects, 4 KiB–4 MiB, %s (%s of it random: .jpg, .bin), source +%s/request; each change set: %d‰ rewritten, %d‰ deleted, %d‰ added",
			s.incObjects, sizeMiB(bucket.corpus.bytes), sizeMiB(randomBytes), s.delay, incChangedPerMille, incDeletedPerMille, incAddedPerMille), "", ""},
		{"bare ListObjectsV2 of the bucket through the proxy (the floor)", fmt.Sprintf("%s, %d requests, load %s", secs(listWall), listPages, listLoad), "", ""},
		{"full backup (mode incremental, the first: full)", fmt.Sprintf("%s, archive %s, coffer CPU %s, %d source requests (at most %d at once), load %s",
			secs(full.wall), sizeMiB(full.op.ArchiveSize), secs(full.cpu), full.requests, full.peak, full.load), "", ""},
		{"incremental backup after " + first.changes.String(), fmt.Sprintf("%s (%.1f× the bare listing), archive %s, %d changed objects, coffer CPU %s, %d source requests (at most %d at once), load %s",
			secs(first.wall), first.wall.Seconds()/listWall.Seconds(), sizeMiB(first.op.ArchiveSize), first.changed(), secs(first.cpu), first.requests, first.peak, first.load), "", ""},
		{"incremental time / full time", fmt.Sprintf("%.1f%% (coffer CPU: %.1f%%)", timeShare*100, 100*first.cpu.Seconds()/full.cpu.Seconds()), "≤ 10%", yesNo(timeShare <= 0.10)},
		{"incremental bytes / full bytes", fmt.Sprintf("%.2f%%", byteShare*100), "≤ 3%", yesNo(byteShare <= 0.03)},
		{"incrementals 2–" + fmt.Sprint(len(incs)) + ", each after a similar change set", strings.Join(more, "; "), "", ""},
		{"changed_objects = objects rewritten + added, every incremental", yesNo(changedOK), "yes", yesNo(changedOK)},
		{"restore of the last point (1 full + " + fmt.Sprint(len(incs)) + " incrementals, " + sizeMiB(chainBytes) + " of archives) → new bucket, archives read directly (no proxy), verified",
			fmt.Sprintf("%s, load %s", secs(chainWall), chainLoad), "", ""},
		{"restore of a full backup of the same bucket → new bucket, archive read directly (no proxy), verified",
			fmt.Sprintf("%s (the full backup: %s, archive %s), load %s", secs(fullWall), secs(final.wall), sizeMiB(final.op.ArchiveSize), fullLoad), "", ""},
		{"chain restore / full restore", fmt.Sprintf("%.2f×", restoreRatio), "≤ 1.3×", yesNo(restoreRatio <= 1.3)},
		{"coffer peak RSS (VmHWM, whole process, the incremental case)", sizeMiB(hwm), "", ""},
	}, nil
}
