package archive

import (
	"bytes"
	"io"
	"testing"
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
