package agecrypt

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestCLIDecryptsWriter: files from the Writer, decrypted by `age -d -i`.
func TestCLIDecryptsWriter(t *testing.T) {
	t.Parallel()
	ageBin := needTool(t, "age")
	k := newTestKey(t)
	keyFile := k.keyFile(t)
	other := newTestKey(t)
	for _, n := range sizes {
		t.Run(fmt.Sprint(n), func(t *testing.T) {
			t.Parallel()
			data := randomData(uint64(n)+100, n)
			file := encrypt(t, data, 4, other.recipient, k.recipient)
			got := run(t, nil, ageBin, "-d", "-i", keyFile, writeTemp(t, "w.age", file))
			if !bytes.Equal(got, data) {
				t.Fatalf("age -d gave %d bytes, want the %d written", len(got), n)
			}
		})
	}
}

// TestReaderReadsCLI: files made by `age -r age1…`, read by NewReader.
func TestReaderReadsCLI(t *testing.T) {
	t.Parallel()
	ageBin := needTool(t, "age")
	k := newTestKey(t)
	for _, n := range sizes {
		t.Run(fmt.Sprint(n), func(t *testing.T) {
			t.Parallel()
			data := randomData(uint64(n)+200, n)
			file := run(t, data, ageBin, "-e", "-r", k.recipient.String())
			if got := decrypt(t, file, k.identity); !bytes.Equal(got, data) {
				t.Fatalf("NewReader gave %d bytes, want the %d given to age", len(got), n)
			}
		})
	}
}

// TestAgeKeygenKeys: a key pair made by age-keygen is read by
// ParseIdentities (the whole key file) and ParseRecipient (the line
// age-keygen prints), and works both ways with the CLI.
func TestAgeKeygenKeys(t *testing.T) {
	t.Parallel()
	ageBin := needTool(t, "age")
	keygen := needTool(t, "age-keygen")
	keyFile := filepath.Join(t.TempDir(), "key.txt")
	_, stderr, err := tryRun(nil, keygen, "-o", keyFile)
	if err != nil {
		t.Fatalf("age-keygen: %v", err)
	}
	// age-keygen prints "Public key: age1…" on its standard error.
	rec, err := ParseRecipient(string(stderr))
	if err != nil {
		t.Fatalf("ParseRecipient(%q): %v", stderr, err)
	}
	keyText, err := os.ReadFile(keyFile)
	if err != nil {
		t.Fatal(err)
	}
	ids, err := ParseIdentities(string(keyText))
	if err != nil {
		t.Fatalf("ParseIdentities(age-keygen's file): %v", err)
	}
	data := randomData(21, 100_000)
	file := encrypt(t, data, 1, rec)
	if got := run(t, nil, ageBin, "-d", "-i", keyFile, writeTemp(t, "k.age", file)); !bytes.Equal(got, data) {
		t.Fatal("age -d with age-keygen's key did not give the input back")
	}
	cliFile := run(t, data, ageBin, "-e", "-i", keyFile)
	if got := decrypt(t, cliFile, ids...); !bytes.Equal(got, data) {
		t.Fatal("NewReader with age-keygen's key did not give the input back")
	}
}

// TestPassphraseCLI drives the CLI's passphrase prompts through a pty (the
// CLI reads passphrases only from a terminal; script(1) gives it one and
// passes our standard input to it): a Writer's scrypt file decrypted by
// `age -d`, and an `age -p` file read by NewReader.
func TestPassphraseCLI(t *testing.T) {
	t.Parallel()
	ageBin := needTool(t, "age")
	script := needTool(t, "script")
	const passphrase = "correct horse battery staple"
	dir := t.TempDir()
	data := randomData(31, 2*ChunkSize+9)

	file := encrypt(t, data, 2, fastScrypt(t, passphrase))
	in, out := filepath.Join(dir, "w.age"), filepath.Join(dir, "w.out")
	if err := os.WriteFile(in, file, 0o600); err != nil {
		t.Fatal(err)
	}
	// script(1) runs its command through a shell: quote every word.
	shell := func(args ...string) string {
		words := []string{"'" + ageBin + "'"}
		for _, a := range args {
			words = append(words, "'"+a+"'")
		}
		return strings.Join(words, " ")
	}
	run(t, []byte(passphrase+"\n"), script, "-q", "-e", "-c", shell("-d", "-o", out, in), "/dev/null")
	if got, err := os.ReadFile(out); err != nil || !bytes.Equal(got, data) {
		t.Fatalf("age -d with the passphrase: %d bytes, %v", len(got), err)
	}

	if raceEnabled {
		// `age -p` always uses work factor 2^18; make test-go (no race
		// detector) covers this direction.
		t.Log("skipping age -p → NewReader under the race detector (scrypt 2^18 takes too long)")
		return
	}
	plain, enc := filepath.Join(dir, "p.txt"), filepath.Join(dir, "p.age")
	if err := os.WriteFile(plain, data, 0o600); err != nil {
		t.Fatal(err)
	}
	run(t, []byte(passphrase+"\n"+passphrase+"\n"), script, "-q", "-e", "-c", shell("-p", "-o", enc, plain), "/dev/null")
	cliFile, err := os.ReadFile(enc)
	if err != nil {
		t.Fatal(err)
	}
	id, err := PassphraseIdentity(passphrase)
	if err != nil {
		t.Fatal(err)
	}
	if got := decrypt(t, cliFile, id); !bytes.Equal(got, data) {
		t.Fatal("NewReader with the passphrase did not give age -p's input back")
	}
}
