package main

import (
	"context"
	"fmt"
	"net/http"
	"path/filepath"
	"time"
)

// verifyResult is a verification as the API answers it.
type verifyResult struct {
	ID           int64  `json:"id"`
	Status       string `json:"status"`
	ErrorMessage string `json:"error_message"`
	Result       *struct {
		EntriesChecked int64 `json:"entries_checked"`
		BytesRead      int64 `json:"bytes_read"`
		EntryBytes     int64 `json:"entry_bytes"`
		ProblemCount   int64 `json:"problem_count"`
	} `json:"result"`
}

// verifyCase measures what verifying an archive costs: a backup of about
// -cpu-mb of half random, half text data to a local destination, then
// POST /backups/{id}/verify; it reports the stored bytes the verification
// read per GB of archive, its speed, and its CPU time beside the backup's.
func verifyCase(ctx context.Context, s settings, gw *gateway, work string) ([]row, error) {
	const bucket = "bench-verify"
	if err := gw.createBucket(ctx, bucket); err != nil {
		return nil, err
	}
	const size = 8 * mib
	var objs []object
	for i := range max(1, s.cpuMB*1_000_000/size) {
		objs = append(objs, object{key: fmt.Sprintf("verify/%03d.bin", i), size: size, seed: uint64(4_000_000 + i), randomShare: 0.5})
	}
	corpus, err := fillBucket(ctx, gw, bucket, objs)
	if err != nil {
		return nil, err
	}
	cp, err := startCoffer(ctx, s, filepath.Join(work, "coffer-verify"))
	if err != nil {
		return nil, err
	}
	defer cp.stop()
	srcID, err := cp.createConnection(ctx, "bench verify source", "s3", gw.s3creds(gw.endpoint, bucket))
	if err != nil {
		return nil, err
	}
	dstID, err := cp.createConnection(ctx, "bench verify local", "local", map[string]any{"path": filepath.Join(cp.roots, "verify")})
	if err != nil {
		return nil, err
	}
	cpu0, _ := procCPU(cp.pid())
	op, bwall, err := cp.run(ctx, "backups", map[string]any{"source_connection_id": srcID, "destination_connection_id": dstID}, 10*time.Minute)
	if err != nil {
		return nil, err
	}
	cpu1, _ := procCPU(cp.pid())
	load := loadAvg()
	var v verifyResult
	start := time.Now()
	if err := cp.do(ctx, "POST", fmt.Sprintf("/api/v1/backups/%d/verify", op.ID), nil, &v, http.StatusAccepted); err != nil {
		return nil, err
	}
	for v.Status != "completed" {
		if v.Status == "failed" || v.Status == "cancelled" {
			return nil, fmt.Errorf("verification %d ended %s: %s", v.ID, v.Status, v.ErrorMessage)
		}
		if time.Since(start) > 10*time.Minute {
			return nil, fmt.Errorf("verification %d still %s after 10 minutes", v.ID, v.Status)
		}
		time.Sleep(pollEvery)
		if err := cp.do(ctx, "GET", fmt.Sprintf("/api/v1/verifications/%d", v.ID), nil, &v, http.StatusOK); err != nil {
			return nil, err
		}
	}
	vwall := time.Since(start)
	cpu2, _ := procCPU(cp.pid())
	r := v.Result
	if r == nil || r.ProblemCount != 0 || r.EntriesChecked != int64(len(objs)) {
		return nil, fmt.Errorf("verification %d: %+v", v.ID, r)
	}
	perGB := float64(r.BytesRead) / float64(op.ArchiveSize)
	logf("verify: backup of %s in %s (CPU %s), archive %s; verification read %s in %s (CPU %s) = %.1f MB/s of archive, %.1f MB/s of entries (load before %s)",
		sizeMiB(corpus.bytes), secs(bwall), secs(cpu1-cpu0), sizeMiB(op.ArchiveSize), sizeMiB(r.BytesRead), secs(vwall), secs(cpu2-cpu1),
		float64(r.BytesRead)/1e6/vwall.Seconds(), float64(r.EntryBytes)/1e6/vwall.Seconds(), load)
	return []row{
		{"verify: stored bytes read per GB of archive", fmt.Sprintf("%.3f GB (archive %s, %d entries, %s of entries decompressed and hashed)",
			perGB, sizeMiB(op.ArchiveSize), r.EntriesChecked, sizeMiB(r.EntryBytes)), "", ""},
		{"verify: speed (local destination)", fmt.Sprintf("%.1f MB/s of archive, %.1f MB/s of entries; %s wall, CPU %s against the backup's %s wall, CPU %s",
			float64(r.BytesRead)/1e6/vwall.Seconds(), float64(r.EntryBytes)/1e6/vwall.Seconds(), secs(vwall), secs(cpu2-cpu1), secs(bwall), secs(cpu1-cpu0)), "", ""},
	}, nil
}
