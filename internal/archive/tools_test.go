package archive

import (
	"bytes"
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"testing"
	"time"
)

// TestExternalTools checks that archives (split into several members by
// checkpoints) open with GNU tar, gzip and zstd, and that sha256sum accepts
// the sidecar, with no coffer code involved.
func TestExternalTools(t *testing.T) {
	t.Parallel()
	tarBin := needTool(t, "tar")
	shaBin := needTool(t, "sha256sum")
	for _, c := range compressions {
		t.Run(string(c), func(t *testing.T) {
			t.Parallel()
			decompressor := "gzip"
			tarFlag := "-z"
			if c == Zstd {
				decompressor = "zstd"
				tarFlag = "--zstd"
			}
			decBin := needTool(t, decompressor)
			ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
			defer cancel()

			entries := sampleEntries()
			manifest := []byte(`{"format_version":1}` + "\n")
			segments, sum := writeCheckpointed(t, c, entries, 4, manifest)
			dir := t.TempDir()
			archiveName := "20260102T030405Z-42" + c.Ext()
			archivePath := filepath.Join(dir, archiveName)
			if err := os.WriteFile(archivePath, bytes.Join(segments, nil), 0o600); err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(archivePath+".sha256", []byte(SidecarLine(sum, "conn/"+archiveName)), 0o600); err != nil {
				t.Fatal(err)
			}
			run := func(dir string, name string, args ...string) string {
				t.Helper()
				cmd := exec.CommandContext(ctx, name, args...)
				cmd.Dir = dir
				var stdout, stderr bytes.Buffer
				cmd.Stdout, cmd.Stderr = &stdout, &stderr
				if err := cmd.Run(); err != nil {
					t.Fatalf("%s %v: %v\n%s", name, args, err, stderr.String())
				}
				// The metadata records are xattr records GNU tar knows: it
				// must read the archive without a single warning.
				for line := range strings.Lines(stderr.String()) {
					t.Errorf("%s %v wrote to stderr: %s", name, args, line)
				}
				return stdout.String()
			}

			if out := run(dir, shaBin, "-c", archiveName+".sha256"); !strings.Contains(out, archiveName+": OK") {
				t.Fatalf("sha256sum -c: %q", out)
			}
			// The decompressor alone reads every member/frame to the end.
			run(dir, decBin, "-q", "-t", archiveName)

			listed := strings.Split(strings.TrimSuffix(run(dir, tarBin, "--warning=no-unknown-keyword", tarFlag, "-tf", archiveName), "\n"), "\n")
			var want []string
			for _, e := range entries {
				want = append(want, e.name)
			}
			want = append(want, ManifestName)
			if strings.Join(listed, "\n") != strings.Join(want, "\n") {
				t.Fatalf("tar -t listed\n%q\nwant\n%q", listed, want)
			}

			out := filepath.Join(dir, "out")
			if err := os.Mkdir(out, 0o700); err != nil {
				t.Fatal(err)
			}
			run(dir, tarBin, tarFlag, "-xf", archiveName, "-C", out)
			var extracted []string
			err := filepath.WalkDir(out, func(p string, d os.DirEntry, err error) error {
				if err != nil || d.IsDir() {
					return err
				}
				rel, _ := filepath.Rel(out, p)
				extracted = append(extracted, filepath.ToSlash(rel))
				return nil
			})
			if err != nil {
				t.Fatal(err)
			}
			sort.Strings(extracted)
			sort.Strings(want)
			if strings.Join(extracted, "\n") != strings.Join(want, "\n") {
				t.Fatalf("extracted\n%q\nwant\n%q", extracted, want)
			}
			for _, e := range entries {
				got, err := os.ReadFile(filepath.Join(out, filepath.FromSlash(e.name)))
				if err != nil {
					t.Fatal(err)
				}
				if !bytes.Equal(got, e.body) {
					t.Fatalf("%s: extracted content differs", e.name)
				}
			}
			if got, _ := os.ReadFile(filepath.Join(out, ManifestName)); !bytes.Equal(got, manifest) {
				t.Fatalf("extracted manifest %q", got)
			}
		})
	}
}
