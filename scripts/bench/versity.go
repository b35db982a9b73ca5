package main

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	awss3 "github.com/aws/aws-sdk-go-v2/service/s3"
)

// gateway is a versitygw child process serving S3 on 127.0.0.1.
type gateway struct {
	dir       string // the posix backend's root: <dir>/<bucket>/<key>
	endpoint  string
	accessKey string
	secretKey string
	region    string

	cmd    *exec.Cmd
	exited chan struct{}
	output *lockedBuffer
}

// startGateway runs versitygw (binary bin) over dir on a free loopback port
// and waits until it answers.
func startGateway(ctx context.Context, bin, dir string) (*gateway, error) {
	if _, err := os.Stat(bin); err != nil {
		return nil, fmt.Errorf("versitygw is not at %s (run `make tools` or pass -versitygw): %w", bin, err)
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("versitygw data dir: %w", err)
	}
	g := &gateway{dir: dir, accessKey: "bench-" + randomHex(4), secretKey: randomHex(20), region: "us-east-1"}
	var lastErr error
	for range 5 {
		port, err := freePort()
		if err != nil {
			return nil, err
		}
		addr := fmt.Sprintf("127.0.0.1:%d", port)
		if err := g.start(ctx, bin, dir, addr); err != nil {
			lastErr = err
			continue
		}
		g.endpoint = "http://" + addr
		return g, nil
	}
	return nil, fmt.Errorf("versitygw did not start: %w", lastErr)
}

func (g *gateway) start(ctx context.Context, bin, dir, addr string) error {
	cmd := exec.Command(bin, "--port", addr, "--quiet", "--keep-alive", "posix", dir)
	cmd.Env = append(os.Environ(), "ROOT_ACCESS_KEY="+g.accessKey, "ROOT_SECRET_KEY="+g.secretKey)
	out := &lockedBuffer{}
	cmd.Stdout, cmd.Stderr = out, out
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("starting %s: %w", bin, err)
	}
	exited := make(chan struct{})
	go func() { _ = cmd.Wait(); close(exited) }()
	g.cmd, g.exited, g.output = cmd, exited, out

	client := &http.Client{Timeout: time.Second}
	deadline := time.Now().Add(15 * time.Second)
	for {
		select {
		case <-exited:
			return fmt.Errorf("versitygw exited at start: %s", out.String())
		case <-ctx.Done():
			g.stop()
			return ctx.Err()
		default:
		}
		resp, err := client.Get("http://" + addr + "/")
		if err == nil {
			resp.Body.Close()
			if resp.Header.Get("Server") == "VERSITYGW" {
				return nil
			}
			g.stop()
			return fmt.Errorf("port %s is used by another server", addr)
		}
		if time.Now().After(deadline) {
			g.stop()
			return fmt.Errorf("versitygw did not answer on %s within 15s: %s", addr, out.String())
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// stop sends SIGTERM, then SIGKILL after 5 s, and waits for the exit.
func (g *gateway) stop() {
	if g.cmd == nil || g.cmd.Process == nil {
		return
	}
	select {
	case <-g.exited:
		return
	default:
	}
	_ = g.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-g.exited:
	case <-time.After(5 * time.Second):
		_ = g.cmd.Process.Kill()
		<-g.exited
	}
}

// client returns an SDK client for the gateway at endpoint (the gateway
// itself or a proxy in front of it).
func (g *gateway) client(endpoint string) *awss3.Client {
	return awss3.New(awss3.Options{
		Region:       g.region,
		BaseEndpoint: aws.String(endpoint),
		UsePathStyle: true,
		Credentials:  credentials.NewStaticCredentialsProvider(g.accessKey, g.secretKey, ""),
	})
}

// createBucket makes a bucket on the gateway.
func (g *gateway) createBucket(ctx context.Context, name string) error {
	if _, err := g.client(g.endpoint).CreateBucket(ctx, &awss3.CreateBucketInput{Bucket: aws.String(name)}); err != nil {
		return fmt.Errorf("creating bucket %s: %w", name, err)
	}
	return nil
}

// s3creds is the JSON credentials of a coffer s3 connection to bucket through endpoint.
func (g *gateway) s3creds(endpoint, bucket string) map[string]any {
	return map[string]any{"access_key": g.accessKey, "secret_key": g.secretKey, "region": g.region,
		"bucket": bucket, "endpoint": endpoint, "force_path_style": true}
}

func freePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, fmt.Errorf("finding a free port: %w", err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

func randomHex(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

// moduleRoot is the directory holding go.mod at or above the working directory.
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
			return "", errors.New("no go.mod above the working directory; run the bench from the repository")
		}
		dir = parent
	}
}

// lockedBuffer collects a child process's output for error messages.
type lockedBuffer struct {
	mu sync.Mutex
	b  strings.Builder
}

func (b *lockedBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.b.Len() < 1<<20 {
		b.b.Write(p)
	}
	return len(p), nil
}

func (b *lockedBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.String()
}
