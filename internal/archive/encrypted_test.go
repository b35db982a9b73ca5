package archive

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"filippo.io/age"

	"github.com/coffer-backup/coffer/internal/archive/agecrypt"
)

// writeEncrypted writes entries to an encrypted archive, taking a
// checkpoint in the middle of every other body and going on from its
// state (through JSON and the age state's binary form, as a backup does
// across processes). It returns the stored bytes and their SHA-256.
func writeEncrypted(t *testing.T, c Compression, entries []testEntry, manifest []byte, r age.Recipient) ([]byte, string) {
	t.Helper()
	var out bytes.Buffer
	w, err := NewEncryptedWriter(&out, c, r)
	if err != nil {
		t.Fatal(err)
	}
	for i, e := range entries {
		if err := w.BeginEntry(EntryHeader{Name: e.name, Size: int64(len(e.body)), ModTime: e.mod, PAXRecords: e.pax}); err != nil {
			t.Fatal(err)
		}
		half := len(e.body) / 2
		if err := w.WriteBody(e.body[:half]); err != nil {
			t.Fatal(err)
		}
		if i%2 == 0 {
			st, err := w.Checkpoint()
			if err != nil {
				t.Fatal(err)
			}
			if st.Age == nil || st.CompressedBytes != int64(out.Len()) || st.Age.Written() != st.CompressedBytes {
				t.Fatalf("checkpoint: %d stored bytes, state %d, age state %v", out.Len(), st.CompressedBytes, st.Age)
			}
			js, err := json.Marshal(st)
			if err != nil {
				t.Fatal(err)
			}
			if bytes.Contains(js, st.Age.PayloadKey[:8]) {
				t.Fatal("the JSON state holds the payload key")
			}
			sealed, err := st.Age.MarshalBinary()
			if err != nil {
				t.Fatal(err)
			}
			var back State
			if err := json.Unmarshal(js, &back); err != nil {
				t.Fatal(err)
			}
			back.Age = new(agecrypt.State)
			if err := back.Age.UnmarshalBinary(sealed); err != nil {
				t.Fatal(err)
			}
			if w, err = ResumeWriter(&out, back); err != nil {
				t.Fatal(err)
			}
		}
		if err := w.WriteBody(e.body[half:]); err != nil {
			t.Fatal(err)
		}
		if _, err := w.EndEntry(); err != nil {
			t.Fatal(err)
		}
	}
	sum, size, err := w.Finish(bytes.NewReader(manifest), int64(len(manifest)))
	if err != nil {
		t.Fatal(err)
	}
	if size != int64(out.Len()) || sum != sha256Hex(out.Bytes()) {
		t.Fatalf("Finish: size %d sum %s; stored %d bytes hashing to %s", size, sum, out.Len(), sha256Hex(out.Bytes()))
	}
	return out.Bytes(), sum
}

func readEncrypted(data []byte, ids ...age.Identity) ([]readEntry, *Reader, error) {
	r, err := NewEncryptedReader(bytes.NewReader(data), ids...)
	if err != nil {
		return nil, nil, err
	}
	var entries []readEntry
	for {
		e, err := r.Next()
		if err != nil {
			if errors.Is(err, io.EOF) {
				return entries, r, nil
			}
			return entries, r, err
		}
		var body bytes.Buffer
		if _, err := body.ReadFrom(r); err != nil {
			return entries, r, err
		}
		entries = append(entries, readEntry{Entry: *e, body: body.Bytes(), sum: r.EntrySHA256Hex()})
	}
}

func TestEncryptedArchive(t *testing.T) {
	t.Parallel()
	id, err := age.GenerateX25519Identity()
	if err != nil {
		t.Fatal(err)
	}
	other, _ := age.GenerateX25519Identity()
	entries := sampleEntries()
	manifest := []byte(`{"format_version":1}` + "\n")
	for _, c := range compressions {
		t.Run(string(c), func(t *testing.T) {
			t.Parallel()
			data, sum := writeEncrypted(t, c, entries, manifest, id.Recipient())
			if !bytes.HasPrefix(data, []byte("age-encryption.org/v1\n")) {
				t.Fatalf("the archive starts %q, not with an age header", data[:24])
			}
			got, r, err := readEncrypted(data, id)
			if err != nil {
				t.Fatal(err)
			}
			if r.SHA256Hex() != sum || r.CompressedBytes() != int64(len(data)) {
				t.Fatalf("reader hashed %d bytes to %s; stored %d bytes, %s", r.CompressedBytes(), r.SHA256Hex(), len(data), sum)
			}
			if len(got) != len(entries)+1 {
				t.Fatalf("read %d entries, want %d and the manifest", len(got), len(entries))
			}
			for i, e := range entries {
				if got[i].Name != e.name || !bytes.Equal(got[i].body, e.body) {
					t.Fatalf("entry %d: %s (%d bytes), want %s (%d bytes)", i, got[i].Name, len(got[i].body), e.name, len(e.body))
				}
			}

			if _, _, err := readEncrypted(data, other); !errors.Is(err, agecrypt.ErrWrongKey) {
				t.Fatalf("another key: %v, want ErrWrongKey", err)
			}
			for _, at := range []int{len(data) / 3, len(data) - 20} {
				bad := bytes.Clone(data)
				bad[at] ^= 0x40
				read, _, err := readEncrypted(bad, id)
				if !errors.Is(err, ErrCorrupt) {
					t.Fatalf("byte %d of %d flipped: %v, want ErrCorrupt", at, len(data), err)
				}
				for i, e := range read {
					if i < len(entries) && !bytes.Equal(e.body, entries[i].body) {
						t.Fatalf("byte %d flipped: entry %s was returned with wrong bytes", at, e.Name)
					}
				}
			}
			if _, _, err := readEncrypted(data[:len(data)-agecrypt.TagSize-1], id); !errors.Is(err, ErrCorrupt) {
				t.Fatalf("truncated: %v, want ErrCorrupt", err)
			}
		})
	}
}

// TestEncryptedArchiveOpensWithAgeAndTar: the age CLI decrypts what the
// writer made (checkpointed in the middle of bodies) and GNU tar lists and
// extracts it, with no coffer code involved.
func TestEncryptedArchiveOpensWithAgeAndTar(t *testing.T) {
	t.Parallel()
	ageBin := needTool(t, "age")
	tarBin := needTool(t, "tar")
	id, err := age.GenerateX25519Identity()
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	keyFile := filepath.Join(dir, "key.txt")
	if err := os.WriteFile(keyFile, []byte(id.String()+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	entries := sampleEntries()
	data, _ := writeEncrypted(t, Gzip, entries, []byte(`{"format_version":1}`+"\n"), id.Recipient())
	archivePath := filepath.Join(dir, "x.tar.gz.age")
	if err := os.WriteFile(archivePath, data, 0o600); err != nil {
		t.Fatal(err)
	}
	out := filepath.Join(dir, "out")
	if err := os.Mkdir(out, 0o700); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command("sh", "-c", `"$0" -d -i "$1" "$2" | "$3" -xz -C "$4"`, ageBin, keyFile, archivePath, tarBin, out)
	if msg, err := cmd.CombinedOutput(); err != nil || len(msg) > 0 {
		t.Fatalf("age -d | tar -xz: %v\n%s", err, msg)
	}
	for _, e := range entries {
		got, err := os.ReadFile(filepath.Join(out, e.name))
		if err != nil || !bytes.Equal(got, e.body) {
			t.Fatalf("%s after age and tar: %d bytes (%v), want %d", e.name, len(got), err, len(e.body))
		}
	}
	if m, err := os.ReadFile(filepath.Join(out, ManifestName)); err != nil || !strings.Contains(string(m), "format_version") {
		t.Fatalf("manifest after age and tar: %q, %v", m, err)
	}
}
