package engine

import (
	"bufio"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"sync"
	"time"

	"github.com/klauspost/compress/zstd"
	"go.mongodb.org/mongo-driver/v2/bson"
)

// A server that cannot sum document sizes (FerretDB) is read twice per
// collection: once to measure it (tar needs the .bson entry's size before
// its data), once to copy it, and each pass costs the server the same. A
// spool keeps the documents of the measuring pass, zstd-compressed in a
// temporary file (mode 0600, removed when the collection is copied or the
// run stops), and the copy reads them from there instead of from the
// server: one pass over the server instead of two, and the archive holds
// exactly what was measured. A spool that grows past its limit (compressed
// bytes; Options.MongoSpoolLimit) or cannot be written is dropped and the
// copy reads the server, as it always can. A run continued after a pause or
// a crash reads the server too: the spool lives only within one run.

// spoolPattern names spool files (os.CreateTemp's pattern).
const spoolPattern = "coffer-mongo-spool-*.zst"

// staleSpool is how old a spool file must be before a process removes it
// as left behind by a process that was killed outright. Removing one still
// in use does no harm: its process reads it through the open file.
const staleSpool = time.Hour

// swept holds the spool directories this process has swept.
var swept sync.Map

// sweepSpools removes, once per process and directory, the spool files in
// dir older than staleSpool: those of processes killed before they could
// remove their own.
func sweepSpools(dir string, log *slog.Logger) {
	if dir == "" {
		dir = os.TempDir()
	}
	if _, done := swept.LoadOrStore(dir, true); done {
		return
	}
	names, _ := filepath.Glob(filepath.Join(dir, spoolPattern))
	for _, name := range names {
		if info, err := os.Stat(name); err == nil && time.Since(info.ModTime()) > staleSpool {
			if os.Remove(name) == nil {
				log.Info("removed a MongoDB spool left behind by a stopped process", "file", name, "bytes", info.Size())
			}
		}
	}
}

// spool is one collection's measured documents on disk.
type spool struct {
	f     *os.File
	cw    countingWriter
	enc   *zstd.Encoder
	limit int64
	docs  int64
}

type countingWriter struct {
	w io.Writer
	n int64
}

func (c *countingWriter) Write(p []byte) (int, error) {
	n, err := c.w.Write(p)
	c.n += int64(n)
	return n, err
}

// newSpool starts a spool in dir ("" for the system's temporary directory)
// that holds at most limit compressed bytes.
func newSpool(dir string, limit int64) (*spool, error) {
	f, err := os.CreateTemp(dir, spoolPattern)
	if err != nil {
		return nil, fmt.Errorf("create a spool file: %w", err)
	}
	s := &spool{f: f, limit: limit}
	s.cw.w = f
	s.enc, err = zstd.NewWriter(&s.cw, zstd.WithEncoderLevel(zstd.SpeedFastest), zstd.WithEncoderConcurrency(1), zstd.WithWindowSize(1<<20))
	if err != nil {
		s.drop()
		return nil, err
	}
	return s, nil
}

// errSpoolFull stops spooling; the measuring pass goes on without it.
var errSpoolFull = errors.New("spool limit reached")

// add appends doc. Past the limit it returns errSpoolFull.
func (s *spool) add(doc bson.Raw) error {
	if _, err := s.enc.Write(doc); err != nil {
		return err
	}
	s.docs++
	if s.cw.n > s.limit {
		return errSpoolFull
	}
	return nil
}

// finish flushes what was added; the spool can then be read.
func (s *spool) finish() error {
	err := s.enc.Close()
	s.enc = nil
	return err
}

// drop removes the spool's file. A nil spool is fine.
func (s *spool) drop() {
	if s == nil || s.f == nil {
		return
	}
	if s.enc != nil {
		_ = s.enc.Close()
	}
	_ = s.f.Close()
	_ = os.Remove(s.f.Name())
	s.f = nil
}

// each gives every spooled document to fn, in the order added; doc is
// only valid until fn returns.
func (s *spool) each(ctx context.Context, fn func(doc bson.Raw) error) error {
	if _, err := s.f.Seek(0, io.SeekStart); err != nil {
		return fmt.Errorf("read the spool: %w", err)
	}
	dec, err := zstd.NewReader(bufio.NewReaderSize(s.f, 256<<10), zstd.WithDecoderConcurrency(1), zstd.WithDecoderLowmem(true))
	if err != nil {
		return fmt.Errorf("read the spool: %w", err)
	}
	defer dec.Close()
	var buf []byte
	var head [4]byte
	for n := int64(0); n < s.docs; n++ {
		if err := ctx.Err(); err != nil {
			return err
		}
		if _, err := io.ReadFull(dec, head[:]); err != nil {
			return fmt.Errorf("read the spool at document %d: %w", n+1, err)
		}
		size := int(binary.LittleEndian.Uint32(head[:]))
		if size < 5 || size > 48<<20 {
			return fmt.Errorf("read the spool at document %d: a document of %d bytes", n+1, size)
		}
		if cap(buf) < size {
			buf = make([]byte, size)
		}
		buf = buf[:size]
		copy(buf, head[:])
		if _, err := io.ReadFull(dec, buf[4:]); err != nil {
			return fmt.Errorf("read the spool at document %d: %w", n+1, err)
		}
		if err := fn(bson.Raw(buf)); err != nil {
			return err
		}
	}
	return nil
}
