package archive

import (
	"archive/tar"
	"bytes"
	"fmt"
	"io"
	"runtime"
	"sync"
	"testing"

	"github.com/klauspost/pgzip"
)

// benchmarkWriter writes 32 MiB of mixed data as 1 MiB entries per
// iteration; the reported MB/s is uncompressed input per second.
func benchmarkWriter(b *testing.B, c Compression) {
	const entrySize = 1 << 20
	const entries = 32
	data := mixedData(42, entrySize*entries)
	b.SetBytes(int64(len(data)))
	b.ReportAllocs()
	var compressed int64
	for b.Loop() {
		w, err := NewWriter(io.Discard, c)
		if err != nil {
			b.Fatal(err)
		}
		for i := range entries {
			body := data[i*entrySize : (i+1)*entrySize]
			if _, err := w.WriteEntry(EntryHeader{Name: "objects/bench", Size: entrySize}, bytes.NewReader(body)); err != nil {
				b.Fatal(err)
			}
		}
		if _, compressed, err = w.Finish(bytes.NewReader(nil), 0); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(compressed)/float64(len(data)), "ratio")
}

// BenchmarkWriterGzip measures the parallel gzip Writer.
func BenchmarkWriterGzip(b *testing.B) { benchmarkWriter(b, Gzip) }

// BenchmarkWriterZstd measures the zstd Writer.
func BenchmarkWriterZstd(b *testing.B) { benchmarkWriter(b, Zstd) }

// BenchmarkReader measures reading back a gzip and a zstd archive.
func BenchmarkReader(b *testing.B) {
	data := mixedData(43, 32<<20)
	for _, c := range compressions {
		b.Run(string(c), func(b *testing.B) {
			archive, _ := writeAll(b, c, []testEntry{{name: "objects/bench", body: data}}, nil)
			b.SetBytes(int64(len(data)))
			for b.Loop() {
				if _, _, err := readAll(archive); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// benchCorpus is the data of the throughput benchmarks, made once: 64 MiB
// of random bytes and 64 MiB of text-like bytes.
var benchCorpus = sync.OnceValues(func() (random, text []byte) {
	return randomBytes(1, 64<<20), textLike(2, 64<<20)
})

// benchmarkArchive writes data as 4 MiB entries, stored or not, at level;
// MB/s is input per second, ratio the archive's size over the input's.
func benchmarkArchive(b *testing.B, c Compression, level Level, data []byte, stored bool) {
	const entrySize = 4 << 20
	b.SetBytes(int64(len(data)))
	var size int64
	for b.Loop() {
		w, err := NewWriter(io.Discard, c)
		if err != nil {
			b.Fatal(err)
		}
		if err := w.SetLevel(level); err != nil {
			b.Fatal(err)
		}
		for off := 0; off < len(data); off += entrySize {
			body := data[off:min(off+entrySize, len(data))]
			if _, err := w.WriteEntry(EntryHeader{Name: "objects/bench", Size: int64(len(body)), Stored: stored}, bytes.NewReader(body)); err != nil {
				b.Fatal(err)
			}
		}
		if _, size, err = w.Finish(bytes.NewReader(nil), 0); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(size)/float64(len(data)), "ratio")
}

// benchmarkPgzip compresses data with pgzip at its default level in 1 MiB
// blocks on GOMAXPROCS goroutines, as the Writer did before it had its own
// parallel deflate: the baseline.
func benchmarkPgzip(b *testing.B, data []byte) {
	b.SetBytes(int64(len(data)))
	var size int
	for b.Loop() {
		size = pgzipSize(b, data)
	}
	b.ReportMetric(float64(size)/float64(len(data)), "ratio")
}

// BenchmarkWriterRandom: 64 MiB of random bytes stored, and compressed at
// the default level, beside raw pgzip.
func BenchmarkWriterRandom(b *testing.B) {
	random, _ := benchCorpus()
	for _, c := range compressions {
		b.Run(string(c)+"/stored", func(b *testing.B) { benchmarkArchive(b, c, LevelDefault, random, true) })
		b.Run(string(c)+"/compressed", func(b *testing.B) { benchmarkArchive(b, c, LevelDefault, random, false) })
	}
	b.Run("pgzip-default", func(b *testing.B) { benchmarkPgzip(b, random) })
}

// BenchmarkWriterText: 64 MiB of text-like bytes at each level, beside raw
// pgzip.
func BenchmarkWriterText(b *testing.B) {
	_, text := benchCorpus()
	for _, c := range compressions {
		for _, level := range levels {
			b.Run(string(c)+"/"+string(level), func(b *testing.B) { benchmarkArchive(b, c, level, text, false) })
		}
	}
	b.Run("pgzip-default", func(b *testing.B) { benchmarkPgzip(b, text) })
}

// alternatingEntries are 64 KiB entries, random (stored) and text-like in
// turn: a bucket of small JPEGs and text files, 64 MiB in all.
func alternatingEntries() (entries []testEntry, stored []bool) {
	random, text := benchCorpus()
	const size = 64 << 10
	for i := 0; i*size < len(random); i++ {
		src := text
		if i%2 == 0 {
			src = random
		}
		entries = append(entries, testEntry{name: fmt.Sprintf("objects/%05d", i), body: src[i*size : (i+1)*size]})
		stored = append(stored, i%2 == 0)
	}
	return entries, stored
}

// tarPgzip writes entries as a tar stream through pgzip at its default
// level. With perSwitch it starts a new member at every switch between
// stored and compressed entries, at level 0 for the stored ones: what
// storing costs with pgzip, whose Close waits for every block in flight.
func tarPgzip(b *testing.B, out io.Writer, entries []testEntry, stored []bool, perSwitch bool) {
	member := func(level int) *pgzip.Writer {
		z, err := pgzip.NewWriterLevel(out, level)
		if err != nil {
			b.Fatal(err)
		}
		if err := z.SetConcurrency(1<<20, runtime.GOMAXPROCS(0)); err != nil {
			b.Fatal(err)
		}
		return z
	}
	z := member(pgzip.DefaultCompression)
	tw := tar.NewWriter(z)
	for i, e := range entries {
		if perSwitch && i > 0 && stored[i] != stored[i-1] {
			if err := tw.Flush(); err != nil {
				b.Fatal(err)
			}
			if err := z.Close(); err != nil {
				b.Fatal(err)
			}
			level := pgzip.DefaultCompression
			if stored[i] {
				level = pgzip.NoCompression
			}
			z = member(level)
			tw = tar.NewWriter(z)
		}
		if err := tw.WriteHeader(&tar.Header{Name: e.name, Size: int64(len(e.body)), Mode: 0o644, Format: tar.FormatPAX}); err != nil {
			b.Fatal(err)
		}
		if _, err := tw.Write(e.body); err != nil {
			b.Fatal(err)
		}
	}
	if err := tw.Close(); err != nil {
		b.Fatal(err)
	}
	if err := z.Close(); err != nil {
		b.Fatal(err)
	}
}

// BenchmarkWriterAlternating: small stored and compressed entries in turn.
// The Writer's parallel deflate goes on across the switches; pgzip with a
// member per switch shows what waiting at each switch costs, and pgzip
// compressing everything is the Writer before it stored anything.
func BenchmarkWriterAlternating(b *testing.B) {
	entries, stored := alternatingEntries()
	total := int64(len(entries)) * int64(len(entries[0].body))
	for _, c := range compressions {
		b.Run("coffer-"+string(c), func(b *testing.B) {
			b.SetBytes(total)
			var size int64
			for b.Loop() {
				w, _ := NewWriter(io.Discard, c)
				for i, e := range entries {
					if _, err := w.WriteEntry(EntryHeader{Name: e.name, Size: int64(len(e.body)), Stored: stored[i]}, bytes.NewReader(e.body)); err != nil {
						b.Fatal(err)
					}
				}
				var err error
				if _, size, err = w.Finish(bytes.NewReader(nil), 0); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(float64(size)/float64(total), "ratio")
		})
	}
	for _, perSwitch := range []bool{false, true} {
		name := "pgzip-everything"
		if perSwitch {
			name = "pgzip-member-per-switch"
		}
		b.Run(name, func(b *testing.B) {
			b.SetBytes(total)
			var n byteCounter
			for b.Loop() {
				n = 0
				tarPgzip(b, &n, entries, stored, perSwitch)
			}
			b.ReportMetric(float64(n)/float64(total), "ratio")
		})
	}
}

// BenchmarkMixedCorpus: a bucket of 64 KiB to 8 MiB objects, half
// text-like, half random (128 MiB). "coffer" is the gzip Writer at the
// default level with ShouldStore deciding (its cost included); "pgzip"
// compresses the same tar stream whole. The bytes metric is the archive's
// size: the Writer's must be no larger.
func BenchmarkMixedCorpus(b *testing.B) {
	entries := mixedCorpus(2, 128<<20)
	var total int64
	for _, e := range entries {
		total += int64(len(e.body))
	}
	var tarData []byte
	b.Run("coffer", func(b *testing.B) {
		b.SetBytes(total)
		var data []byte
		for b.Loop() {
			data, _ = writeCorpus(b, Gzip, LevelDefault, entries)
		}
		b.ReportMetric(float64(len(data)), "bytes")
		tarData = decompress(b, Gzip, data)
	})
	b.Run("pgzip", func(b *testing.B) {
		if tarData == nil {
			b.Skip("needs the coffer run's tar stream")
		}
		b.SetBytes(total)
		var size int
		for b.Loop() {
			size = pgzipSize(b, tarData)
		}
		b.ReportMetric(float64(size), "bytes")
	})
}
