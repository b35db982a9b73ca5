package main

import (
	"archive/tar"
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	awss3 "github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/klauspost/pgzip"
)

// baselineResult is the time of each step of the sequential baseline.
type baselineResult struct {
	download, archive, upload time.Duration
	objects                   int
	archiveSize               int64
}

func (b baselineResult) total() time.Duration { return b.download + b.archive + b.upload }

// runBaseline is what a careful shell script would do with the same SDK:
// list and download every object one after the other into dir, then tar +
// gzip them (klauspost/pgzip, default settings, into a file), then upload
// the archive with one PutObject.
func runBaseline(ctx context.Context, src, dst *awss3.Client, srcBucket, dstBucket, dir string) (baselineResult, error) {
	var res baselineResult
	objDir := filepath.Join(dir, "objects")
	start := time.Now()
	var keys []string
	pager := awss3.NewListObjectsV2Paginator(src, &awss3.ListObjectsV2Input{Bucket: aws.String(srcBucket)})
	for pager.HasMorePages() {
		page, err := pager.NextPage(ctx)
		if err != nil {
			return res, fmt.Errorf("baseline: listing %s: %w", srcBucket, err)
		}
		for _, o := range page.Contents {
			key := aws.ToString(o.Key)
			if err := download(ctx, src, srcBucket, key, filepath.Join(objDir, filepath.FromSlash(key))); err != nil {
				return res, err
			}
			keys = append(keys, key)
		}
	}
	res.download = time.Since(start)
	res.objects = len(keys)

	start = time.Now()
	archivePath := filepath.Join(dir, "baseline.tar.gz")
	if err := tarGzip(objDir, keys, archivePath); err != nil {
		return res, err
	}
	res.archive = time.Since(start)

	start = time.Now()
	f, err := os.Open(archivePath)
	if err != nil {
		return res, fmt.Errorf("baseline: opening the archive: %w", err)
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return res, fmt.Errorf("baseline: archive size: %w", err)
	}
	res.archiveSize = st.Size()
	if _, err := dst.PutObject(ctx, &awss3.PutObjectInput{
		Bucket: aws.String(dstBucket), Key: aws.String("baseline/baseline.tar.gz"),
		Body: f, ContentLength: aws.Int64(st.Size()), ContentType: aws.String("application/gzip"),
	}); err != nil {
		return res, fmt.Errorf("baseline: uploading the archive: %w", err)
	}
	res.upload = time.Since(start)
	return res, nil
}

func download(ctx context.Context, cl *awss3.Client, bucket, key, path string) error {
	out, err := cl.GetObject(ctx, &awss3.GetObjectInput{Bucket: aws.String(bucket), Key: aws.String(key)})
	if err != nil {
		return fmt.Errorf("baseline: getting %s: %w", key, err)
	}
	defer out.Body.Close()
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return fmt.Errorf("baseline: %w", err)
	}
	f, err := os.Create(path)
	if err != nil {
		return fmt.Errorf("baseline: %w", err)
	}
	if _, err := io.Copy(f, out.Body); err != nil {
		f.Close()
		return fmt.Errorf("baseline: downloading %s: %w", key, err)
	}
	if err := f.Close(); err != nil {
		return fmt.Errorf("baseline: writing %s: %w", path, err)
	}
	return nil
}

func tarGzip(objDir string, keys []string, archivePath string) error {
	out, err := os.Create(archivePath)
	if err != nil {
		return fmt.Errorf("baseline: %w", err)
	}
	defer out.Close()
	zw := pgzip.NewWriter(out)
	tw := tar.NewWriter(zw)
	for _, key := range keys {
		f, err := os.Open(filepath.Join(objDir, filepath.FromSlash(key)))
		if err != nil {
			return fmt.Errorf("baseline: %w", err)
		}
		st, err := f.Stat()
		if err != nil {
			f.Close()
			return fmt.Errorf("baseline: %w", err)
		}
		hdr := &tar.Header{Name: "objects/" + key, Mode: 0o644, Size: st.Size(), ModTime: st.ModTime(), Format: tar.FormatPAX}
		if err := tw.WriteHeader(hdr); err != nil {
			f.Close()
			return fmt.Errorf("baseline: tar header for %s: %w", key, err)
		}
		_, err = io.Copy(tw, f)
		f.Close()
		if err != nil {
			return fmt.Errorf("baseline: archiving %s: %w", key, err)
		}
	}
	if err := tw.Close(); err != nil {
		return fmt.Errorf("baseline: closing tar: %w", err)
	}
	if err := zw.Close(); err != nil {
		return fmt.Errorf("baseline: closing gzip: %w", err)
	}
	if err := out.Close(); err != nil {
		return fmt.Errorf("baseline: writing the archive: %w", err)
	}
	return nil
}
