package agecrypt

import (
	"bytes"
	"io"
	"math/rand/v2"
	"runtime"
	"testing"

	"github.com/klauspost/compress/zstd"
	"github.com/klauspost/pgzip"
)

// benchSize is the plaintext each benchmark iteration handles.
const benchSize = 32 << 20

// mixedData is compressible data like a backup's: words, JSON-ish records
// and runs of random bytes.
func mixedData(seed uint64, n int) []byte {
	rng := rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15))
	words := []string{"coffer ", "backup ", "archive ", "bucket/", "object ", "{\"_id\":", "1234567890", "\n"}
	var b bytes.Buffer
	for b.Len() < n {
		if rng.IntN(4) == 0 {
			chunk := make([]byte, 1+rng.IntN(512))
			for i := range chunk {
				chunk[i] = byte(rng.Uint32())
			}
			b.Write(chunk)
		} else {
			for range 1 + rng.IntN(64) {
				b.WriteString(words[rng.IntN(len(words))])
			}
		}
	}
	return b.Bytes()[:n]
}

// BenchmarkEncrypt measures the Writer alone (MB/s of plaintext, one
// goroutine), written 1 MiB at a time as a compressor would.
func BenchmarkEncrypt(b *testing.B) {
	k := newTestKey(b)
	data := randomData(1, benchSize)
	b.SetBytes(benchSize)
	defer reportCPU(b)()
	for b.Loop() {
		w, err := NewWriter(io.Discard, k.recipient)
		if err != nil {
			b.Fatal(err)
		}
		for p := data; len(p) > 0; p = p[1<<20:] {
			if _, err := w.Write(p[:1<<20]); err != nil {
				b.Fatal(err)
			}
		}
		if err := w.Close(); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkDecrypt measures NewReader (age.Decrypt) alone.
func BenchmarkDecrypt(b *testing.B) {
	k := newTestKey(b)
	data := randomData(2, benchSize)
	file := encrypt(b, data, 1, k.recipient)
	b.SetBytes(benchSize)
	buf := make([]byte, 1<<20)
	defer reportCPU(b)()
	for b.Loop() {
		r, err := NewReader(bytes.NewReader(file), k.identity)
		if err != nil {
			b.Fatal(err)
		}
		if _, err := io.CopyBuffer(io.Discard, r, buf); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkCompress measures the archive's compressors (settings as in
// internal/archive) with and without the Writer after them, on compressible
// and on random data. MB/s is of uncompressed input; run with -cpu 1 for
// one core. The encryption cost is the difference between the "age" and
// "plain" figures of a codec.
func BenchmarkCompress(b *testing.B) {
	k := newTestKey(b)
	inputs := []struct {
		name string
		data []byte
	}{
		{"mixed", mixedData(3, benchSize)},
		{"random", randomData(4, benchSize)},
		{"half", halfData(5, benchSize)},
	}
	codecs := []struct {
		name string
		open func(io.Writer) (io.WriteCloser, error)
	}{
		{"gzip", func(w io.Writer) (io.WriteCloser, error) {
			z, err := pgzip.NewWriterLevel(w, pgzip.DefaultCompression)
			if err != nil {
				return nil, err
			}
			return z, z.SetConcurrency(1<<20, runtime.GOMAXPROCS(0))
		}},
		{"zstd", func(w io.Writer) (io.WriteCloser, error) {
			return zstd.NewWriter(w, zstd.WithEncoderLevel(zstd.SpeedDefault),
				zstd.WithEncoderConcurrency(runtime.GOMAXPROCS(0)), zstd.WithEncoderCRC(true))
		}},
	}
	for _, in := range inputs {
		for _, c := range codecs {
			for _, encrypted := range []bool{false, true} {
				name := in.name + "/" + c.name + "/plain"
				if encrypted {
					name = in.name + "/" + c.name + "/age"
				}
				b.Run(name, func(b *testing.B) {
					b.SetBytes(benchSize)
					var out int64
					defer reportCPU(b)()
					for b.Loop() {
						cw := &countingWriter{}
						var dst io.Writer = cw
						var aw *Writer
						if encrypted {
							var err error
							if aw, err = NewWriter(cw, k.recipient); err != nil {
								b.Fatal(err)
							}
							dst = aw
						}
						z, err := c.open(dst)
						if err != nil {
							b.Fatal(err)
						}
						for p := in.data; len(p) > 0; p = p[1<<20:] {
							if _, err := z.Write(p[:1<<20]); err != nil {
								b.Fatal(err)
							}
						}
						if err := z.Close(); err != nil {
							b.Fatal(err)
						}
						if aw != nil {
							if err := aw.Close(); err != nil {
								b.Fatal(err)
							}
						}
						out = cw.n
					}
					b.ReportMetric(float64(out)/benchSize, "ratio")
				})
			}
		}
	}
}

// halfData alternates 1 MiB of random bytes and 1 MiB of mixedData, like
// the corpus of the CPU case in scripts/bench (half random, half text).
func halfData(seed uint64, n int) []byte {
	random, mixed := randomData(seed, n/2), mixedData(seed, n/2)
	var b bytes.Buffer
	for i := 0; i < n/2; i += 1 << 20 {
		b.Write(random[i:min(i+1<<20, n/2)])
		b.Write(mixed[i:min(i+1<<20, n/2)])
	}
	return b.Bytes()
}

// reportCPU starts measuring the process's CPU time; the function it
// returns reports it per iteration as cpu-ms/op. On a shared, busy machine
// CPU time varies much less than wall time (MB/s).
func reportCPU(b *testing.B) func() {
	cpu0, ok := processCPU()
	return func() {
		if cpu1, ok1 := processCPU(); ok && ok1 && b.N > 0 {
			b.ReportMetric(float64(cpu1-cpu0)/1e6/float64(b.N), "cpu-ms/op")
		}
	}
}

// countingWriter counts and drops what is written to it.
type countingWriter struct{ n int64 }

func (c *countingWriter) Write(p []byte) (int, error) {
	c.n += int64(len(p))
	return len(p), nil
}
