// Package archive implements coffer's archive format v1 (docs/architecture.md, "The archive"): a PAX
// tar stream compressed with gzip (parallel, the default) or zstd, holding
// one entry per backed-up object or collection file and a manifest.json as
// its last entry.
//
// The Writer streams entries through tar, the compressor and a SHA-256 of
// the compressed bytes, and can be checkpointed between entries and in the
// middle of an entry's body (BeginEntry/WriteBody/EndEntry): the current
// gzip member or zstd frame is closed, so that the bytes written so far are
// a complete prefix that another process continues with ResumeWriter. The
// decompressed tar stream is the same wherever the checkpoints fall. Concatenated members and frames are ordinary gzip and zstd
// streams, so GNU tar, gzip and zstd read the result without coffer.
//
// Bodies that would not compress (ShouldStore: JPEGs, videos, zips,
// Parquet, random-looking bytes) are written stored (EntryHeader.Stored)
// inside the same stream: deflate stored blocks in the gzip member, frames
// of raw blocks among the zstd frames, so they cost a copy instead of a
// compressor's CPU. The gzip compressor is coffer's own parallel deflate
// (gzipwriter.go): blocks of about 1 MiB deflated side by side with
// klauspost/compress/flate, each with the 32 KiB before it as dictionary, so
// that a switch between stored and compressed bodies ends a block without
// waiting for the others. SetLevel chooses the compression level.
//
// The Reader detects the compression, refuses every entry that is not a
// regular file with a safe relative name, and hashes the compressed bytes it
// reads, so a restore can check the whole stream against the catalog.
package archive

import "errors"

// ErrUnsafeEntry is wrapped by errors about entries that must not be
// extracted: names that are not safe relative paths, and entries that are not
// regular files (symbolic and hard links, directories, devices, FIFOs).
var ErrUnsafeEntry = errors.New("the archive holds an unsafe entry")

// ErrCorrupt is wrapped by errors about archive bytes that cannot be decoded:
// damaged compression, a malformed tar header, a truncated stream.
var ErrCorrupt = errors.New("the archive is damaged")
