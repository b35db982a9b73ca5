package main

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/binary"
	"fmt"
	"math/rand/v2"
	"strconv"
	"sync"

	"github.com/aws/aws-sdk-go-v2/aws"
	awss3 "github.com/aws/aws-sdk-go-v2/service/s3"
	"golang.org/x/sync/errgroup"
)

// object is one source object: its key and how to make its bytes again.
type object struct {
	key  string
	size int
	seed uint64
	// randomShare is the fraction of 16 KiB blocks that are random bytes;
	// the rest is log-like text that gzip shrinks several times.
	randomShare float64
	// contentType is the object's Content-Type (default application/octet-stream).
	contentType string
}

// corpusInfo records what was uploaded, for checking a restore.
type corpusInfo struct {
	objects []object
	sums    map[string][sha256.Size]byte
	bytes   int64
}

var words = []string{
	"backup", "restore", "bucket", "object", "archive", "stream", "part", "upload", "tenant", "invoice",
	"order", "customer", "payment", "status", "pending", "completed", "failed", "region", "europe", "west",
	"request", "latency", "user", "session", "token", "GET", "PUT", "POST", "/api/v1/orders", "/api/v1/users",
	"200", "201", "404", "500", "true", "false", "null", "amount", "currency", "EUR", "USD", "quantity",
}

// generate returns the object's bytes, the same for the same seed.
func (o object) generate() []byte {
	const block = 16 << 10
	var seed [32]byte
	binary.LittleEndian.PutUint64(seed[:], o.seed)
	rng := rand.New(rand.NewChaCha8(seed))
	buf := make([]byte, 0, o.size+256)
	seed[31] = 1 // a second, independent stream for the random blocks
	chacha := rand.NewChaCha8(seed)
	line := 0
	for len(buf) < o.size {
		end := min(len(buf)+block, o.size)
		if rng.Float64() < o.randomShare {
			start := len(buf)
			buf = buf[:end]
			_, _ = chacha.Read(buf[start:end])
			continue
		}
		for len(buf) < end {
			line++
			buf = append(buf, "2025-06-01T12:"...)
			buf = strconv.AppendInt(buf, int64(rng.IntN(60)), 10)
			buf = append(buf, " level=info req="...)
			buf = strconv.AppendUint(buf, rng.Uint64()>>40, 16)
			for range 4 + rng.IntN(8) {
				buf = append(buf, ' ')
				buf = append(buf, words[rng.IntN(len(words))]...)
				buf = append(buf, '=')
				buf = strconv.AppendInt(buf, int64(rng.IntN(10000)), 10)
			}
			buf = append(buf, '\n')
		}
		buf = buf[:end]
	}
	return buf[:o.size]
}

// fillBucket generates the objects and puts them into bucket directly,
// several at a time, recording each object's SHA-256.
func fillBucket(ctx context.Context, g *gateway, bucket string, objs []object) (*corpusInfo, error) {
	info := &corpusInfo{objects: objs, sums: make(map[string][sha256.Size]byte, len(objs))}
	cl := g.client(g.endpoint)
	var mu sync.Mutex
	eg, ctx := errgroup.WithContext(ctx)
	eg.SetLimit(8)
	for _, o := range objs {
		eg.Go(func() error {
			data := o.generate()
			sum := sha256.Sum256(data)
			contentType := o.contentType
			if contentType == "" {
				contentType = "application/octet-stream"
			}
			if _, err := cl.PutObject(ctx, &awss3.PutObjectInput{
				Bucket: aws.String(bucket), Key: aws.String(o.key), Body: bytes.NewReader(data),
				ContentType: aws.String(contentType),
			}); err != nil {
				return fmt.Errorf("putting %s into %s: %w", o.key, bucket, err)
			}
			mu.Lock()
			info.sums[o.key] = sum
			info.bytes += int64(len(data))
			mu.Unlock()
			return nil
		})
	}
	if err := eg.Wait(); err != nil {
		return nil, err
	}
	return info, nil
}
