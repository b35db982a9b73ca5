package main

import (
	"archive/tar"
	"crypto/sha256"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"time"

	"github.com/klauspost/pgzip"
)

// The CPU case compares coffer with three references on the same bytes,
// each run in this process between coffer's runs:
//
//   - memory: pgzip alone, the bytes already in memory, the output counted
//     and dropped. This is the figure: what compression alone costs.
//   - files: pgzip reading the object files versitygw keeps on disk, in key
//     order, and writing one .gz file (synced), as `pigz -c files > out`
//     would: compression plus the local reads and writes coffer also does.
//   - format: the files reference plus the rest of what archive format v1
//     asks for, with no coffer around it: a tar entry per object, the
//     SHA-256 of every object and of the compressed stream. What is left
//     between it and coffer is coffer's own cost (the S3 protocol, the
//     engine, checkpoints, the catalog) and versitygw's.
type reference struct {
	name  string // a short name for the log
	label string // the table's description
	run   func() (pgzipRun, error)
}

// cpuReferences builds the three references over objs, whose bytes are in
// dir/<key> (versitygw's posix layout); out is a file path for the
// references that write one.
func cpuReferences(objs []object, dir, out string) []reference {
	return []reference{
		{"memory", "raw pgzip, bytes in memory → io.Discard (the issue's figure)", func() (pgzipRun, error) { return pgzipThroughput(objs) }},
		{"files", "raw pgzip, object files → one .gz file", func() (pgzipRun, error) { return filesReference(objs, dir, out, false) }},
		{"format", "format v1 without coffer: files → tar + SHA-256 per object → pgzip → SHA-256 → file", func() (pgzipRun, error) {
			return filesReference(objs, dir, out, true)
		}},
	}
}

// filesReference compresses the object files into out with pgzip's default
// settings and syncs it; with format it writes them as tar entries and
// hashes every object and the compressed stream as coffer's archive does.
// The output file is removed afterwards.
func filesReference(objs []object, dir, out string, format bool) (run pgzipRun, err error) {
	run.loadBefore = loadAvg()
	cpu0, start := selfCPU(), time.Now()
	f, err := os.Create(out)
	if err != nil {
		return run, fmt.Errorf("reference output: %w", err)
	}
	defer func() {
		_ = f.Close()
		if rmErr := os.Remove(out); rmErr != nil && err == nil {
			err = rmErr
		}
	}()
	streamSum := sha256.New()
	var sink io.Writer = f
	if format {
		sink = io.MultiWriter(f, streamSum)
	}
	counter := &countWriter{}
	zw := pgzip.NewWriter(io.MultiWriter(sink, counter))
	var tw *tar.Writer
	if format {
		tw = tar.NewWriter(zw)
	}
	buf := make([]byte, 1<<20)
	for _, o := range objs {
		n, err := copyObject(o, dir, zw, tw, buf, format)
		if err != nil {
			return run, err
		}
		run.in += n
	}
	if format {
		if err := tw.Close(); err != nil {
			return run, fmt.Errorf("reference tar: %w", err)
		}
	}
	if err := zw.Close(); err != nil {
		return run, fmt.Errorf("reference pgzip: %w", err)
	}
	if err := f.Sync(); err != nil {
		return run, fmt.Errorf("reference sync: %w", err)
	}
	_ = streamSum.Sum(nil)
	run.wall, run.cpu, run.out = time.Since(start), selfCPU()-cpu0, counter.n
	return run, nil
}

// copyObject copies one object file into the compressor: as a tar entry
// whose bytes are also hashed (format), or as plain bytes.
func copyObject(o object, dir string, zw io.Writer, tw *tar.Writer, buf []byte, format bool) (int64, error) {
	src, err := os.Open(filepath.Join(dir, filepath.FromSlash(o.key)))
	if err != nil {
		return 0, fmt.Errorf("reference input: %w", err)
	}
	defer src.Close()
	if !format {
		n, err := io.CopyBuffer(zw, src, buf)
		if err != nil {
			return n, fmt.Errorf("reference copy %s: %w", o.key, err)
		}
		return n, nil
	}
	hdr := &tar.Header{Name: "objects/" + o.key, Mode: 0o644, Size: int64(o.size), Format: tar.FormatPAX}
	if err := tw.WriteHeader(hdr); err != nil {
		return 0, fmt.Errorf("reference tar header %s: %w", o.key, err)
	}
	sum := sha256.New()
	n, err := io.CopyBuffer(io.MultiWriter(tw, sum), src, buf)
	if err != nil {
		return n, fmt.Errorf("reference copy %s: %w", o.key, err)
	}
	_ = sum.Sum(nil)
	return n, nil
}
