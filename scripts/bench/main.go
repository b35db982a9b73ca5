// Command bench measures coffer against the targets (`make bench`):
//
//   - S3 → S3: a versitygw holding 2,000 objects of 64 KiB and 4 of 64 MiB,
//     the source reached through a loopback proxy that adds 20 ms to every
//     request. A sequential baseline (download everything to a temp dir with
//     aws-sdk-go-v2, tar + klauspost/pgzip into a file, PutObject it) runs
//     first, then a real `coffer serve` backs the same bucket up to S3 through
//     its API. It reports both wall times, the speed-up, coffer's peak RSS
//     (VmHWM), the largest file in coffer's TMPDIR during the run, and the
//     time to restore the archive into a new bucket (checked byte for byte).
//   - Incremental: a bucket of 10,000 objects of mixed sizes (about 1 GB,
//     half compressible) behind the same proxy; a bare listing, a full
//     backup, then incrementals after small change sets (incremental.go):
//     their time and bytes beside the full backup's, and the restore of a
//     chain beside the restore of a full backup.
//   - CPU-bound: about 500 MB of partly compressible data on the same
//     versitygw without the proxy, backed up to a local destination; coffer's
//     MB/s beside raw pgzip throughput on the same bytes in this process, and
//     beside two references that also read and write files (reference.go).
//
// Everything runs on 127.0.0.1 under one temp dir that is removed at the end.
// It exits 1 when a step fails (and with -strict, when a target is missed).
// Wall times depend on how busy the machine is, so each figure carries the
// one-minute load average, and the CPU case also compares CPU time, which
// other load does not change much.
//
// Usage (from the repository; `make bench` builds bin/coffer first):
//
//	go run ./scripts/bench                       # every case, the sizes
//	go run ./scripts/bench -cases s3 -baseline=false   # coffer only, quick
//	go run ./scripts/bench -profile /tmp/prof    # pprof profiles of each operation
//	go run ./scripts/bench -coffer-env GOMEMLIMIT=100MiB   # experiments
//
// With -profile the bench starts itself in place of bin/coffer, running the
// same wiring as `coffer serve` with pprof (see profiled.go); the product
// itself has no profiling hooks.
package main

import (
	"context"
	"crypto/sha256"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"path/filepath"
	"runtime"
	"runtime/debug"
	"slices"
	"strings"
	"syscall"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	awss3 "github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/klauspost/pgzip"
	"golang.org/x/sync/errgroup"
)

const (
	kib = 1 << 10
	mib = 1 << 20
)

// settings are the bench's flags.
type settings struct {
	coffer, versitygw string
	cases             string
	mongoDocs         int
	mongoColls        int
	mongoCollDocs     int
	small, smallKiB   int
	large, largeMiB   int
	delay             time.Duration
	cpuMB, cpuRuns    int
	incObjects        int
	incChain          int
	incLogs           bool
	keep, strict      bool
	cofferEnv         string
	cofferLog         string
	profile           string
	baseline          bool
}

func main() {
	if len(os.Args) > 1 && os.Args[1] == profiledServeFlag {
		if err := profiledServe(); err != nil {
			fmt.Fprintf(os.Stderr, "profiled serve: %v\n", err)
			os.Exit(1)
		}
		return
	}
	var s settings
	flag.StringVar(&s.coffer, "coffer", "", "coffer binary (default <module root>/bin/coffer)")
	flag.StringVar(&s.versitygw, "versitygw", "", "versitygw binary (default $COFFER_VERSITYGW, else <module root>/.tools/bin/versitygw)")
	flag.StringVar(&s.cases, "cases", "s3,incremental,cpu,mongo,verify", "which cases to run: any of s3, incremental, cpu, mongo, verify, comma separated")
	flag.IntVar(&s.mongoDocs, "mongo-docs", 300_000, "MongoDB case: documents of the one-collection data set")
	flag.IntVar(&s.mongoColls, "mongo-colls", 8, "MongoDB case: collections of the many-collection data set")
	flag.IntVar(&s.mongoCollDocs, "mongo-coll-docs", 50_000, "MongoDB case: documents of each collection of the many-collection data set")
	flag.IntVar(&s.small, "small", 2000, "S3 case: number of small objects")
	flag.IntVar(&s.smallKiB, "small-kib", 64, "S3 case: size of a small object in KiB")
	flag.IntVar(&s.large, "large", 4, "S3 case: number of large objects")
	flag.IntVar(&s.largeMiB, "large-mib", 64, "S3 case: size of a large object in MiB")
	flag.DurationVar(&s.delay, "delay", 20*time.Millisecond, "S3 and incremental cases: delay the proxy adds to every source request")
	flag.IntVar(&s.incObjects, "inc-objects", 10_000, "incremental case: objects in the bucket (about 100 KB each on average)")
	flag.IntVar(&s.incChain, "inc-chain", 6, "incremental case: incremental backups after the full one, each after a change set")
	flag.BoolVar(&s.incLogs, "inc-logs", false, "incremental case: print each backup's job log (where its time went)")
	flag.IntVar(&s.cpuMB, "cpu-mb", 500, "CPU case: source size in MB")
	flag.IntVar(&s.cpuRuns, "cpu-runs", 3, "CPU case: coffer runs, each between two raw pgzip runs (the median is reported)")
	flag.BoolVar(&s.keep, "keep", false, "keep the work dir (prints its path)")
	flag.BoolVar(&s.strict, "strict", false, "exit 1 when a target is missed")
	flag.StringVar(&s.cofferEnv, "coffer-env", "", "extra environment for coffer serve, comma separated (e.g. GODEBUG=gctrace=1,GOMEMLIMIT=100MiB), for experiments")
	flag.StringVar(&s.profile, "profile", "", "run coffer's wiring inside this program with pprof instead of bin/coffer, and write CPU, heap, allocation, block and mutex profiles of each backup into this dir")
	flag.BoolVar(&s.baseline, "baseline", true, "S3 case: run the sequential baseline (false: coffer only, no speed-up figure; for quick experiments)")
	flag.StringVar(&s.cofferLog, "coffer-log", "", "append coffer serve's output to this file")
	flag.Parse()

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	missed, err := run(ctx, s)
	if err != nil {
		fmt.Fprintf(os.Stderr, "bench failed: %v\n", err)
		os.Exit(1)
	}
	if missed > 0 && s.strict {
		fmt.Fprintf(os.Stderr, "bench: %d target(s) missed\n", missed)
		os.Exit(1)
	}
}

// row is one line of the result table.
type row struct{ figure, value, target, met string }

func run(ctx context.Context, s settings) (missed int, err error) {
	root, err := moduleRoot()
	if err != nil {
		return 0, err
	}
	if s.coffer == "" {
		s.coffer = filepath.Join(root, "bin", "coffer")
	}
	if s.profile == "" {
		if _, err := os.Stat(s.coffer); err != nil {
			return 0, fmt.Errorf("coffer binary %s is missing (run `make build` or pass -coffer): %w", s.coffer, err)
		}
	}
	if s.profile != "" {
		if s.profile, err = filepath.Abs(s.profile); err == nil {
			err = os.MkdirAll(s.profile, 0o755)
		}
		if err != nil {
			return 0, fmt.Errorf("profile dir: %w", err)
		}
		logf("profiling: coffer's wiring runs inside this program; its figures include pprof's own overhead")
	}
	if s.versitygw == "" {
		s.versitygw = os.Getenv("COFFER_VERSITYGW")
	}
	if s.versitygw == "" {
		s.versitygw = filepath.Join(root, ".tools", "bin", "versitygw")
	}
	work, err := os.MkdirTemp("", "coffer-bench-*")
	if err != nil {
		return 0, fmt.Errorf("work dir: %w", err)
	}
	defer func() {
		if s.keep {
			fmt.Printf("work dir kept: %s\n", work)
			return
		}
		if rmErr := os.RemoveAll(work); rmErr != nil && err == nil {
			err = fmt.Errorf("removing the work dir: %w", rmErr)
		}
	}()

	gw, err := startGateway(ctx, s.versitygw, filepath.Join(work, "s3"))
	if err != nil {
		return 0, err
	}
	defer gw.stop()
	logf("versitygw at %s (data in %s)", gw.endpoint, filepath.Join(work, "s3"))

	var rows []row
	if strings.Contains(s.cases, "s3") {
		r, err := s3Case(ctx, s, gw, work)
		rows = append(rows, r...)
		if err != nil {
			printTable(rows)
			return 0, err
		}
	}
	if strings.Contains(s.cases, "incremental") {
		r, err := incrementalCase(ctx, s, gw, work)
		rows = append(rows, r...)
		if err != nil {
			printTable(rows)
			return 0, err
		}
	}
	if strings.Contains(s.cases, "mongo") {
		r, err := mongoCase(ctx, s, work)
		rows = append(rows, r...)
		if err != nil {
			printTable(rows)
			return 0, err
		}
	}
	if strings.Contains(s.cases, "cpu") {
		r, err := cpuCase(ctx, s, gw, work)
		rows = append(rows, r...)
		if err != nil {
			printTable(rows)
			return 0, err
		}
	}
	if strings.Contains(s.cases, "verify") {
		r, err := verifyCase(ctx, s, gw, work)
		rows = append(rows, r...)
		if err != nil {
			printTable(rows)
			return 0, err
		}
	}
	printTable(rows)
	for _, r := range rows {
		if r.met == "no" {
			missed++
		}
	}
	return missed, nil
}

func s3Case(ctx context.Context, s settings, gw *gateway, work string) ([]row, error) {
	const src, dst, restored = "bench-src", "bench-archives", "bench-restored"
	for _, b := range []string{src, dst, restored} {
		if err := gw.createBucket(ctx, b); err != nil {
			return nil, err
		}
	}
	var objs []object
	for i := range s.small {
		objs = append(objs, object{key: fmt.Sprintf("small/%05d.bin", i), size: s.smallKiB * kib, seed: uint64(i), randomShare: 0.75})
	}
	for i := range s.large {
		objs = append(objs, object{key: fmt.Sprintf("large/%02d.bin", i), size: s.largeMiB * mib, seed: uint64(1_000_000 + i), randomShare: 0.75})
	}
	start := time.Now()
	corpus, err := fillBucket(ctx, gw, src, objs)
	if err != nil {
		return nil, err
	}
	logf("S3 case: %d objects, %s, put into %s in %s", len(objs), sizeMiB(corpus.bytes), src, secs(time.Since(start)))

	proxy, err := startDelayProxy(gw.endpoint, s.delay)
	if err != nil {
		return nil, err
	}
	defer proxy.close()
	logf("S3 case: source proxy at %s adds %s per request", proxy.url, s.delay)

	// Sequential baseline.
	var base baselineResult
	baseLoad := ""
	if s.baseline {
		baseDir := filepath.Join(work, "baseline")
		before := proxy.requests.Load()
		baseLoad = loadAvg()
		base, err = runBaseline(ctx, gw.client(proxy.url), gw.client(gw.endpoint), src, dst, baseDir)
		if err != nil {
			return nil, err
		}
		baseRequests := proxy.requests.Load() - before
		if err := os.RemoveAll(baseDir); err != nil {
			return nil, fmt.Errorf("removing the baseline's temp dir: %w", err)
		}
		logf("baseline: %s (download %s, tar+pgzip %s, upload %s), %d objects, archive %s, %d source requests (load before %s)",
			secs(base.total()), secs(base.download), secs(base.archive), secs(base.upload), base.objects, sizeMiB(base.archiveSize), baseRequests, baseLoad)
		if base.objects != len(objs) {
			return nil, fmt.Errorf("baseline saw %d objects, want %d", base.objects, len(objs))
		}
	}

	// coffer.
	cp, err := startCoffer(ctx, s, filepath.Join(work, "coffer-s3"))
	if err != nil {
		return nil, err
	}
	defer cp.stop()
	srcID, err := cp.createConnection(ctx, "bench source (slow)", "s3", gw.s3creds(proxy.url, src))
	if err != nil {
		return nil, err
	}
	dstID, err := cp.createConnection(ctx, "bench archives", "s3", gw.s3creds(gw.endpoint, dst))
	if err != nil {
		return nil, err
	}
	restID, err := cp.createConnection(ctx, "bench restore target", "s3", gw.s3creds(gw.endpoint, restored))
	if err != nil {
		return nil, err
	}
	// The whole process's peak is the larger of the peak before the backup
	// (start, first-admin bootstrap, login) and the backup's own peak,
	// measured from a reset just before it starts.
	preHWM, err := procStatus(cp.pid(), "VmHWM")
	if err != nil {
		return nil, err
	}
	idleRSS, _ := procStatus(cp.pid(), "VmRSS")
	phaseReset := resetPeakRSS(cp.pid()) == nil
	before := proxy.requests.Load()
	load := loadAvg()
	cpu0, _ := procCPU(cp.pid())
	if err := cp.prof.begin("s3-backup"); err != nil {
		return nil, err
	}
	w := watch(cp.pid(), cp.tmpDir, 25*time.Millisecond)
	op, wall, err := cp.run(ctx, "backups", map[string]any{"source_connection_id": srcID, "destination_connection_id": dstID,
		"options": map[string]any{"compression_level": "default"}}, 10*time.Minute)
	maxRSS, largest, largestName, samples := w.finish()
	if err != nil {
		return nil, err
	}
	if err := cp.prof.end("s3-backup"); err != nil {
		return nil, err
	}
	cpu1, _ := procCPU(cp.pid())
	phaseHWM, err := procStatus(cp.pid(), "VmHWM")
	if err != nil {
		return nil, err
	}
	hwm := max(preHWM, phaseHWM)
	if !phaseReset {
		phaseHWM = -1
	}
	if err := checkArchive(ctx, gw, dst, op); err != nil {
		return nil, err
	}
	cofferRequests := proxy.requests.Load() - before
	logf("coffer backup: %s wall (engine %s), CPU %s, %d items, read %s, archive %s at %s, %d source requests (load before %s)",
		secs(wall), secs(op.engineTime()), secs(cpu1-cpu0), op.Progress.ItemsDone, sizeMiB(op.Progress.BytesRead), sizeMiB(op.ArchiveSize), op.ArchivePath, cofferRequests, load)
	logf("coffer backup: VmHWM whole process %s (before the backup: peak %s, RSS %s; during the backup: peak %s, largest RSS sample %s: %s)",
		sizeMiB(hwm), sizeMiB(preHWM), sizeMiB(idleRSS), sizeMiB(phaseHWM), sizeMiB(maxRSS), w.maxRSSParts)
	logf("coffer backup: largest temp file %s %s (%d samples of %s)", sizeMiB(largest), filepath.Base(largestName), samples, cp.tmpDir)
	if op.Progress.ItemsDone != int64(len(objs)) {
		return nil, fmt.Errorf("coffer backed up %d items, want %d", op.Progress.ItemsDone, len(objs))
	}

	// Restore into a new bucket, then check every object.
	restoreHWM := int64(-1)
	if err := resetPeakRSS(cp.pid()); err != nil {
		logf("restore: %v; its peak RSS is not reported", err)
	}
	if err := cp.prof.begin("s3-restore"); err != nil {
		return nil, err
	}
	rop, rwall, err := cp.run(ctx, "restores", map[string]any{
		"backup_operation_id": op.ID, "destination_connection_id": restID, "config": map[string]any{"bucket": restored},
	}, 10*time.Minute)
	if err != nil {
		return nil, err
	}
	if err := cp.prof.end("s3-restore"); err != nil {
		return nil, err
	}
	if v, err := procStatus(cp.pid(), "VmHWM"); err == nil {
		restoreHWM = v
	}
	logf("coffer restore: %s wall (engine %s), %d items, VmHWM since reset %s", secs(rwall), secs(rop.engineTime()), rop.Progress.ItemsDone, sizeMiB(restoreHWM))
	if err := verifyBucket(ctx, gw, restored, corpus); err != nil {
		return nil, err
	}
	logf("restore verified: %d objects byte-identical in %s", len(objs), restored)
	cp.stop()

	rows := []row{
		{"S3→S3 data", fmt.Sprintf("%d × %d KiB + %d × %d MiB = %s, source +%s/request", s.small, s.smallKiB, s.large, s.largeMiB, sizeMiB(corpus.bytes), s.delay), "", ""},
	}
	if s.baseline {
		rows = append(rows, row{"baseline, sequential (SDK GET → dir → tar+pgzip → PutObject)",
			fmt.Sprintf("%s (download %s, tar+pgzip %s, upload %s), load %s", secs(base.total()), secs(base.download), secs(base.archive), secs(base.upload), baseLoad), "", ""})
	}
	rows = append(rows, row{"coffer backup S3→S3 (POST → completed_at)", fmt.Sprintf("%s, coffer CPU %s, load %s", secs(wall), secs(cpu1-cpu0), load), "", ""})
	if s.baseline {
		speedup := base.total().Seconds() / wall.Seconds()
		rows = append(rows, row{"speed-up", fmt.Sprintf("%.1f×", speedup), "≥ 12×", yesNo(speedup >= 12)})
	}
	// The mixed corpus (three random blocks in four): coffer stores what
	// does not compress and deflates the rest; the baseline deflates
	// everything with pgzip's default level.
	archive := fmt.Sprintf("coffer (compression_level default) %s", sizeMiB(op.ArchiveSize))
	if s.baseline {
		archive += fmt.Sprintf(", pgzip default of every object (the baseline's) %s: coffer's is %.1f%% of it",
			sizeMiB(base.archiveSize), 100*float64(op.ArchiveSize)/float64(base.archiveSize))
	}
	rows = append(rows, row{"archive size, " + sizeMiB(corpus.bytes) + " of data", archive, "", ""})
	return append(rows,
		row{"coffer peak RSS (VmHWM, whole process)", sizeMiB(hwm), "≤ 150 MiB", yesNo(hwm <= 150*mib)},
		row{"  of which: peak before the backup (start, bootstrap, login) / during the backup", fmt.Sprintf("%s / %s", sizeMiB(preHWM), sizeMiB(phaseHWM)), "", ""},
		row{"largest temp file during backup", sizeMiB(largest), "≤ 16 MiB (2 parts)", yesNo(largest <= 16*mib)},
		row{"restore to a new bucket (verified)", fmt.Sprintf("%s, peak RSS %s", secs(rwall), sizeMiB(restoreHWM)), "", ""},
	), nil
}

// checkArchive checks that the backup's archive and its .sha256 sidecar are
// in bucket with the size the operation reports.
func checkArchive(ctx context.Context, gw *gateway, bucket string, op operation) error {
	cl := gw.client(gw.endpoint)
	head, err := cl.HeadObject(ctx, &awss3.HeadObjectInput{Bucket: aws.String(bucket), Key: aws.String(op.ArchivePath)})
	if err != nil {
		return fmt.Errorf("the archive %s in %s: %w", op.ArchivePath, bucket, err)
	}
	if aws.ToInt64(head.ContentLength) != op.ArchiveSize {
		return fmt.Errorf("the archive %s is %d bytes, the operation says %d", op.ArchivePath, aws.ToInt64(head.ContentLength), op.ArchiveSize)
	}
	if _, err := cl.HeadObject(ctx, &awss3.HeadObjectInput{Bucket: aws.String(bucket), Key: aws.String(op.ArchivePath + ".sha256")}); err != nil {
		return fmt.Errorf("the sidecar %s.sha256 in %s: %w", op.ArchivePath, bucket, err)
	}
	return nil
}

// verifyBucket checks that bucket holds exactly the corpus, byte for byte.
func verifyBucket(ctx context.Context, gw *gateway, bucket string, c *corpusInfo) error {
	cl := gw.client(gw.endpoint)
	var keys []string
	pager := awss3.NewListObjectsV2Paginator(cl, &awss3.ListObjectsV2Input{Bucket: aws.String(bucket)})
	for pager.HasMorePages() {
		page, err := pager.NextPage(ctx)
		if err != nil {
			return fmt.Errorf("listing %s: %w", bucket, err)
		}
		for _, o := range page.Contents {
			keys = append(keys, aws.ToString(o.Key))
		}
	}
	if len(keys) != len(c.sums) {
		return fmt.Errorf("restored bucket %s holds %d objects, want %d", bucket, len(keys), len(c.sums))
	}
	eg, ctx := errgroup.WithContext(ctx)
	eg.SetLimit(8)
	for _, key := range keys {
		eg.Go(func() error {
			want, ok := c.sums[key]
			if !ok {
				return fmt.Errorf("restored bucket holds %q, which was not in the source", key)
			}
			out, err := cl.GetObject(ctx, &awss3.GetObjectInput{Bucket: aws.String(bucket), Key: aws.String(key)})
			if err != nil {
				return fmt.Errorf("getting restored %s: %w", key, err)
			}
			defer out.Body.Close()
			h := sha256.New()
			if _, err := io.Copy(h, out.Body); err != nil {
				return fmt.Errorf("reading restored %s: %w", key, err)
			}
			if [sha256.Size]byte(h.Sum(nil)) != want {
				return fmt.Errorf("restored %s differs from the source", key)
			}
			return nil
		})
	}
	return eg.Wait()
}

func cpuCase(ctx context.Context, s settings, gw *gateway, work string) ([]row, error) {
	const bucket = "bench-cpu"
	if err := gw.createBucket(ctx, bucket); err != nil {
		return nil, err
	}
	const smallN, smallSize, largeSize = 400, 64 * kib, 8 * mib
	largeN := max(1, (s.cpuMB*1_000_000-smallN*smallSize)/largeSize)
	var objs []object
	for i := range largeN {
		objs = append(objs, object{key: fmt.Sprintf("cpu/large/%03d.bin", i), size: largeSize, seed: uint64(2_000_000 + i), randomShare: 0.5})
	}
	for i := range smallN {
		objs = append(objs, object{key: fmt.Sprintf("cpu/small/%04d.bin", i), size: smallSize, seed: uint64(3_000_000 + i), randomShare: 0.5})
	}
	start := time.Now()
	corpus, err := fillBucket(ctx, gw, bucket, objs)
	if err != nil {
		return nil, err
	}
	logf("CPU case: %d objects, %s, put into %s in %s", len(objs), sizeMiB(corpus.bytes), bucket, secs(time.Since(start)))

	cp, err := startCoffer(ctx, s, filepath.Join(work, "coffer-cpu"))
	if err != nil {
		return nil, err
	}
	defer cp.stop()
	srcID, err := cp.createConnection(ctx, "bench cpu source", "s3", gw.s3creds(gw.endpoint, bucket))
	if err != nil {
		return nil, err
	}
	dstID, err := cp.createConnection(ctx, "bench local", "local", map[string]any{"path": filepath.Join(cp.roots, "cpu")})
	if err != nil {
		return nil, err
	}

	// The same backup encrypted with age (a key whose identity coffer keeps),
	// run right after each plain one: the figure is the ratio.
	var key struct {
		ID int64 `json:"id"`
	}
	if err := cp.do(ctx, "POST", "/api/v1/encryption-keys", map[string]any{"name": "bench", "type": "x25519", "generate": true, "keep_identity": true}, &key, 201); err != nil {
		return nil, fmt.Errorf("creating the encryption key: %w", err)
	}
	var encMBps, encCPU, plainCPU, encRatios []float64
	// encrypted runs the encrypted backup once; odd runs do it before the
	// plain one, even runs after, so neither always has the warmer caches.
	encrypted := func() (wall, cpu time.Duration, err error) {
		cpu0, _ := procCPU(cp.pid())
		op, wall, err := cp.run(ctx, "backups", map[string]any{"source_connection_id": srcID, "destination_connection_id": dstID,
			"options": map[string]any{"encryption_key_id": key.ID}}, 10*time.Minute)
		if err != nil {
			return 0, 0, fmt.Errorf("encrypted backup: %w", err)
		}
		cpu1, _ := procCPU(cp.pid())
		if !strings.HasSuffix(op.ArchivePath, ".tar.gz.age") || op.Progress.ItemsDone != int64(len(objs)) {
			return 0, 0, fmt.Errorf("the encrypted backup wrote %s with %d items", op.ArchivePath, op.Progress.ItemsDone)
		}
		if err := os.Remove(filepath.Join(cp.roots, "cpu", filepath.FromSlash(op.ArchivePath))); err != nil {
			return 0, 0, err
		}
		return wall, cpu1 - cpu0, nil
	}

	// The machine's speed drifts (a shared host): the references and coffer
	// run in turns, every reference before and after every coffer run, and
	// each ratio compares a coffer run with the reference runs around it.
	// The median of the runs is the figure.
	mb := float64(corpus.bytes) / 1e6
	refs := cpuReferences(objs, filepath.Join(gw.dir, bucket), filepath.Join(work, "reference.gz"))
	runRefs := func() ([]pgzipRun, error) {
		runs := make([]pgzipRun, len(refs))
		for i, r := range refs {
			run, err := r.run()
			if err != nil {
				return nil, fmt.Errorf("reference %s: %w", r.name, err)
			}
			if run.in != corpus.bytes {
				return nil, fmt.Errorf("reference %s read %d bytes, the corpus has %d", r.name, run.in, corpus.bytes)
			}
			logf("reference %s: %.1f MB/s, CPU %s for %s wall, %s → %s (load before %s)",
				r.name, run.mbps(), secs(run.cpu), secs(run.wall), sizeMiB(run.in), sizeMiB(run.out), run.loadBefore)
			runs[i] = run
		}
		return runs, nil
	}
	before, err := runRefs()
	if err != nil {
		return nil, err
	}
	wallRatios := make([][]float64, len(refs)) // [reference][coffer run]
	refMBps := make([][]float64, len(refs))
	var cpuRatios, cofferMBps, cofferPerCPU []float64
	var largest int64
	var last operation
	for i := range s.cpuRuns {
		var ewall, ecpu time.Duration
		if i%2 == 1 {
			if ewall, ecpu, err = encrypted(); err != nil {
				return nil, err
			}
		}
		load := loadAvg()
		cpu0, _ := procCPU(cp.pid())
		gw0, _ := procCPU(gw.cmd.Process.Pid)
		name := fmt.Sprintf("cpu-backup-%d", i+1)
		if err := cp.prof.begin(name); err != nil {
			return nil, err
		}
		w := watch(cp.pid(), cp.tmpDir, 50*time.Millisecond)
		op, wall, err := cp.run(ctx, "backups", map[string]any{"source_connection_id": srcID, "destination_connection_id": dstID}, 10*time.Minute)
		_, big, _, _ := w.finish()
		if err != nil {
			return nil, err
		}
		if err := cp.prof.end(name); err != nil {
			return nil, err
		}
		cpu1, _ := procCPU(cp.pid())
		gw1, _ := procCPU(gw.cmd.Process.Pid)
		largest = max(largest, big)
		archive := filepath.Join(cp.roots, "cpu", filepath.FromSlash(op.ArchivePath))
		st, err := os.Stat(archive)
		if err != nil {
			return nil, fmt.Errorf("the local archive %s: %w", archive, err)
		}
		if st.Size() != op.ArchiveSize || op.Progress.ItemsDone != int64(len(objs)) {
			return nil, fmt.Errorf("local archive is %d bytes with %d items, the operation says %d bytes, want %d items",
				st.Size(), op.Progress.ItemsDone, op.ArchiveSize, len(objs))
		}
		if err := os.Remove(archive); err != nil { // keep the disk as it was for the next run
			return nil, err
		}
		mbps := mb / wall.Seconds()
		logf("coffer S3→local run %d: %s wall (engine %s) = %.1f MB/s, coffer CPU %s, versitygw CPU %s, archive %s, largest temp file %s (load before %s)",
			i+1, secs(wall), secs(op.engineTime()), mbps, secs(cpu1-cpu0), secs(gw1-gw0), sizeMiB(op.ArchiveSize), sizeMiB(big), load)

		if i%2 == 0 {
			ewall, ecpu, err = encrypted()
			if err != nil {
				return nil, err
			}
		}
		logf("coffer S3→local run %d encrypted: %s wall = %.1f MB/s (plain %.1f), coffer CPU %s (plain %s)",
			i+1, secs(ewall), mb/ewall.Seconds(), mbps, secs(ecpu), secs(cpu1-cpu0))
		encMBps = append(encMBps, mb/ewall.Seconds())
		encCPU = append(encCPU, ecpu.Seconds())
		plainCPU = append(plainCPU, (cpu1 - cpu0).Seconds())
		encRatios = append(encRatios, ewall.Seconds()/wall.Seconds())
		after, err := runRefs()
		if err != nil {
			return nil, err
		}
		for r := range refs {
			around := (before[r].mbps() + after[r].mbps()) / 2
			wallRatios[r] = append(wallRatios[r], mbps/around)
			refMBps[r] = append(refMBps[r], around)
		}
		memCPU := (before[0].cpu + after[0].cpu).Seconds() / 2
		cpuRatios = append(cpuRatios, memCPU/(cpu1-cpu0).Seconds())
		cofferMBps = append(cofferMBps, mbps)
		cofferPerCPU = append(cofferPerCPU, mb/(cpu1-cpu0).Seconds())
		before, last = after, op
	}
	hwm, _ := procStatus(cp.pid(), "VmHWM")
	cp.stop()
	rows := []row{
		{"CPU-bound data", fmt.Sprintf("%d objects, %s, half random half text; archive %s", len(objs), sizeMiB(corpus.bytes), sizeMiB(last.ArchiveSize)), "", ""},
		{"coffer backup S3 (versitygw, no delay) → local (median)", fmt.Sprintf("%.1f MB/s (%s), %.0f MB per coffer CPU-second, peak RSS %s, largest temp file %s",
			median(cofferMBps), joinf(cofferMBps, "%.0f"), median(cofferPerCPU), sizeMiB(hwm), sizeMiB(largest)), "", ""},
	}
	slower := median(encRatios) - 1
	rows = append(rows,
		row{"coffer backup with age encryption, alternating with the plain runs (median)", fmt.Sprintf("%.1f MB/s (%s), coffer CPU %.1f s against %.1f s plain",
			median(encMBps), joinf(encMBps, "%.0f"), median(encCPU), median(plainCPU)), "", ""},
		row{"encrypted / plain wall time (median)", fmt.Sprintf("%+.0f%% (%s)", slower*100, joinf(encRatios, "%.2f")), "≤ +15%", yesNo(slower <= 0.15)},
	)
	for r, ref := range refs {
		rows = append(rows, row{ref.label + " (median of the runs around coffer's)", fmt.Sprintf("%.1f MB/s (%s)", median(refMBps[r]), joinf(refMBps[r], "%.0f")), "", ""})
		ratio := median(wallRatios[r])
		target, met := "", ""
		if r == 0 {
			target, met = "≥ 70%", yesNo(ratio >= 0.7)
		}
		rows = append(rows, row{"coffer / " + ref.name + " reference (wall-time MB/s, median)", fmt.Sprintf("%.0f%% (%s)", ratio*100, joinf(wallRatios[r], "%.2f")), target, met})
	}
	rows = append(rows, row{"coffer / memory reference (MB per CPU-second, median)", fmt.Sprintf("%.0f%% (%s)", median(cpuRatios)*100, joinf(cpuRatios, "%.2f")), "", ""})
	return rows, nil
}

// median of xs (the mean of the middle two for an even count).
func median(xs []float64) float64 {
	if len(xs) == 0 {
		return 0
	}
	s := slices.Clone(xs)
	slices.Sort(s)
	if len(s)%2 == 1 {
		return s[len(s)/2]
	}
	return (s[len(s)/2-1] + s[len(s)/2]) / 2
}

// joinf formats xs with format, separated by " / ".
func joinf(xs []float64, format string) string {
	parts := make([]string, len(xs))
	for i, x := range xs {
		parts[i] = fmt.Sprintf(format, x)
	}
	return strings.Join(parts, " / ")
}

// pgzipRun is one in-process pgzip measurement.
type pgzipRun struct {
	wall, cpu  time.Duration
	in, out    int64
	loadBefore string
}

func (r pgzipRun) mbps() float64 { return float64(r.in) / 1e6 / r.wall.Seconds() }

// pgzipThroughput compresses the objects' bytes with klauspost/pgzip's
// default settings (pgzip.NewWriter) into a counting io.Discard. The bytes
// are generated before the clock starts.
func pgzipThroughput(objs []object) (pgzipRun, error) {
	data := make([][]byte, len(objs))
	var eg errgroup.Group
	eg.SetLimit(runtime.GOMAXPROCS(0))
	var run pgzipRun
	for i, o := range objs {
		eg.Go(func() error {
			data[i] = o.generate()
			return nil
		})
	}
	_ = eg.Wait()
	for _, b := range data {
		run.in += int64(len(b))
	}
	defer debug.FreeOSMemory()
	runtime.GC()
	counter := &countWriter{}
	run.loadBefore = loadAvg()
	cpu0, start := selfCPU(), time.Now()
	zw := pgzip.NewWriter(counter)
	for _, b := range data {
		if _, err := zw.Write(b); err != nil {
			return run, fmt.Errorf("pgzip: %w", err)
		}
	}
	if err := zw.Close(); err != nil {
		return run, fmt.Errorf("pgzip: %w", err)
	}
	run.wall, run.cpu, run.out = time.Since(start), selfCPU()-cpu0, counter.n
	return run, nil
}

// countWriter is io.Discard that counts.
type countWriter struct{ n int64 }

func (c *countWriter) Write(p []byte) (int, error) { c.n += int64(len(p)); return len(p), nil }

func printTable(rows []row) {
	if len(rows) == 0 {
		return
	}
	fmt.Println()
	fmt.Println("| figure | value | target | met |")
	fmt.Println("|---|---|---|---|")
	for _, r := range rows {
		fmt.Printf("| %s | %s | %s | %s |\n", r.figure, r.value, r.target, r.met)
	}
}

func yesNo(ok bool) string {
	if ok {
		return "yes"
	}
	return "no"
}

func secs(d time.Duration) string { return fmt.Sprintf("%.2f s", d.Seconds()) }

func sizeMiB(n int64) string {
	if n < 0 {
		return "n/a"
	}
	return fmt.Sprintf("%.1f MiB", float64(n)/mib)
}

func logf(format string, args ...any) {
	fmt.Printf("%s  %s\n", time.Now().Format("15:04:05"), fmt.Sprintf(format, args...))
}
