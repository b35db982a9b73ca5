// Package s3test starts real S3 servers for tests: versitygw (a real S3
// gateway that checks signatures) as a child process, or gofakes3 in process
// for keys that a POSIX-backed server cannot hold.
package s3test

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	awss3 "github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/johannesboyne/gofakes3"
	"github.com/johannesboyne/gofakes3/backend/s3mem"

	s3conn "github.com/coffer-backup/coffer/internal/connector/s3"
)

// Server is a running S3 server for one test.
type Server struct {
	// Endpoint is the server's base URL, http://127.0.0.1:PORT.
	Endpoint string
	// AccessKey and SecretKey are the credentials it accepts.
	AccessKey string
	SecretKey string
	// Region is the region clients must sign for.
	Region string

	buckets atomic.Int64
}

// Start runs a fresh versitygw on a free port over a temporary directory and
// stops it when the test ends. The binary is $COFFER_VERSITYGW or
// <module root>/.tools/bin/versitygw; when it is missing the test is skipped
// (or fails when CI=true).
func Start(t testing.TB) *Server {
	t.Helper()
	bin, err := versitygwPath()
	if err != nil {
		missing(t, err.Error())
	}
	srv := &Server{
		AccessKey: "coffer-test-" + randomHex(4),
		SecretKey: randomHex(20),
		Region:    "us-east-1",
	}
	var lastErr error
	for range 5 {
		port, err := freePort()
		if err != nil {
			t.Fatalf("s3test: finding a free port: %v", err)
		}
		addr := fmt.Sprintf("127.0.0.1:%d", port)
		if err := srv.startVersity(t, bin, addr); err != nil {
			lastErr = err
			continue
		}
		srv.Endpoint = "http://" + addr
		return srv
	}
	t.Fatalf("s3test: versitygw did not start: %v", lastErr)
	return nil
}

func (s *Server) startVersity(t testing.TB, bin, addr string) error {
	dir := t.TempDir()
	ctx, cancel := context.WithCancel(context.Background())
	cmd := exec.CommandContext(ctx, bin, "--port", addr, "--quiet", "--keep-alive", "posix", dir)
	cmd.Env = append(os.Environ(), "ROOT_ACCESS_KEY="+s.AccessKey, "ROOT_SECRET_KEY="+s.SecretKey)
	var output strings.Builder
	cmd.Stdout = &output
	cmd.Stderr = &output
	cmd.Cancel = func() error { return cmd.Process.Signal(syscall.SIGTERM) }
	cmd.WaitDelay = 5 * time.Second
	if err := cmd.Start(); err != nil {
		cancel()
		return fmt.Errorf("starting %s: %w", bin, err)
	}
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()

	deadline := time.Now().Add(15 * time.Second)
	client := &http.Client{Timeout: time.Second}
	for {
		select {
		case err := <-exited:
			cancel()
			return fmt.Errorf("versitygw exited early (%v): %s", err, output.String())
		default:
		}
		resp, err := client.Get("http://" + addr + "/")
		if err == nil {
			resp.Body.Close()
			if resp.Header.Get("Server") == "VERSITYGW" {
				break
			}
			// Something else owns the port.
			cancel()
			<-exited
			return fmt.Errorf("port %s is used by another server", addr)
		}
		if time.Now().After(deadline) {
			cancel()
			<-exited
			return fmt.Errorf("versitygw did not answer on %s within 15s: %s", addr, output.String())
		}
		time.Sleep(20 * time.Millisecond)
	}
	t.Cleanup(func() {
		cancel()
		<-exited
	})
	return nil
}

// StartFake runs gofakes3 (in-memory, in process) behind an httptest server.
// It keeps every key verbatim (a/../b, ./x, /lead, a//b, ., .., dir/ with
// content) but does not check signatures.
func StartFake(t testing.TB) *Server {
	t.Helper()
	faker := gofakes3.New(s3mem.New(), gofakes3.WithTimeSkewLimit(0))
	hs := httptest.NewServer(faker.Server())
	t.Cleanup(hs.Close)
	return &Server{
		Endpoint:  hs.URL,
		AccessKey: "fake-access",
		SecretKey: "fake-secret",
		Region:    "us-east-1",
	}
}

// Client returns an SDK client for the server: path style, static keys.
func (s *Server) Client(t testing.TB) *awss3.Client {
	t.Helper()
	return awss3.New(awss3.Options{
		Region:       s.Region,
		BaseEndpoint: aws.String(s.Endpoint),
		UsePathStyle: true,
		Credentials:  credentials.NewStaticCredentialsProvider(s.AccessKey, s.SecretKey, ""),
	})
}

// NewBucket creates a fresh, empty bucket with a unique name and returns it.
func (s *Server) NewBucket(t testing.TB) string {
	t.Helper()
	name := fmt.Sprintf("t%d-%s", s.buckets.Add(1), randomHex(6))
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if _, err := s.Client(t).CreateBucket(ctx, &awss3.CreateBucketInput{Bucket: aws.String(name)}); err != nil {
		t.Fatalf("s3test: creating bucket %s: %v", name, err)
	}
	return name
}

// Config returns a coffer connection configuration for bucket on this server.
func (s *Server) Config(bucket string) s3conn.Config {
	return s3conn.Config{
		AccessKey:      s.AccessKey,
		SecretKey:      s.SecretKey,
		Region:         s.Region,
		Bucket:         bucket,
		Endpoint:       s.Endpoint,
		ForcePathStyle: true,
	}
}

func missing(t testing.TB, why string) {
	t.Helper()
	if os.Getenv("CI") == "true" {
		t.Fatalf("s3test: %s (CI=true, so this is a failure)", why)
	}
	t.Skipf("s3test: %s", why)
}

func versitygwPath() (string, error) {
	if p := os.Getenv("COFFER_VERSITYGW"); p != "" {
		if _, err := os.Stat(p); err != nil {
			return "", fmt.Errorf("COFFER_VERSITYGW=%s: %w", p, err)
		}
		return p, nil
	}
	root, err := moduleRoot()
	if err != nil {
		return "", err
	}
	p := filepath.Join(root, ".tools", "bin", "versitygw")
	if _, err := os.Stat(p); err != nil {
		return "", fmt.Errorf("versitygw is not installed at %s (run make tools or set COFFER_VERSITYGW): %w", p, err)
	}
	return p, nil
}

func moduleRoot() (string, error) {
	dir, err := os.Getwd()
	if err != nil {
		return "", fmt.Errorf("working directory: %w", err)
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			return dir, nil
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", errors.New("no go.mod found above the working directory")
		}
		dir = parent
	}
}

func freePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

func randomHex(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}
