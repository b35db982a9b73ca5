package secret

import (
	"bytes"
	"encoding/base64"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"testing"
)

func mustGenerate(t *testing.T) *Keyring {
	t.Helper()
	k, err := Generate()
	if err != nil {
		t.Fatal(err)
	}
	return k
}

func b64Key(fill byte) string {
	return base64.StdEncoding.EncodeToString(bytes.Repeat([]byte{fill}, KeySize))
}

func TestSealOpenRoundTrip(t *testing.T) {
	t.Parallel()
	k := mustGenerate(t)
	for _, plain := range [][]byte{
		{},
		[]byte("x"),
		[]byte(`{"access_key":"AKIA","secret_key":"very secret"}`),
		bytes.Repeat([]byte{0, 1, 2, 255}, 10000),
	} {
		sealed, err := k.Seal(plain)
		if err != nil {
			t.Fatal(err)
		}
		if len(plain) > 4 && bytes.Contains(sealed, plain) {
			t.Fatal("sealed value contains the plaintext")
		}
		got, err := k.Open(sealed)
		if err != nil {
			t.Fatalf("open %d bytes: %v", len(plain), err)
		}
		if !bytes.Equal(got, plain) {
			t.Fatalf("round trip of %d bytes gave %d different bytes", len(plain), len(got))
		}
		id, err := SealedKeyID(sealed)
		if err != nil || id != k.ActiveKeyID() {
			t.Fatalf("SealedKeyID = %q, %v; want %q", id, err, k.ActiveKeyID())
		}
	}
}

func TestSealUsesFreshNonce(t *testing.T) {
	t.Parallel()
	k := mustGenerate(t)
	a, err := k.Seal([]byte("same plaintext"))
	if err != nil {
		t.Fatal(err)
	}
	b, err := k.Seal([]byte("same plaintext"))
	if err != nil {
		t.Fatal(err)
	}
	if bytes.Equal(a, b) {
		t.Fatal("two seals of the same plaintext are identical")
	}
	hdr := 2 + len(k.ActiveKeyID()) + headerCheckLen
	if bytes.Equal(a[hdr:hdr+nonceLen], b[hdr:hdr+nonceLen]) {
		t.Fatal("two seals reuse a nonce")
	}
}

func TestEveryByteFlipIsTampered(t *testing.T) {
	t.Parallel()
	k := mustGenerate(t)
	sealed, err := k.Seal([]byte("a credential worth protecting"))
	if err != nil {
		t.Fatal(err)
	}
	for i := range sealed {
		for _, mask := range []byte{0x01, 0x80, 0xff} {
			bad := bytes.Clone(sealed)
			bad[i] ^= mask
			got, err := k.Open(bad)
			if !errors.Is(err, ErrTampered) {
				t.Fatalf("flip 0x%02x at byte %d: got %q, %v; want ErrTampered", mask, i, got, err)
			}
			if got != nil {
				t.Fatalf("flip at byte %d returned data", i)
			}
		}
	}
}

func TestEveryTruncationIsTampered(t *testing.T) {
	t.Parallel()
	k := mustGenerate(t)
	sealed, err := k.Seal([]byte("a credential worth protecting"))
	if err != nil {
		t.Fatal(err)
	}
	for n := range len(sealed) {
		got, err := k.Open(sealed[:n])
		if !errors.Is(err, ErrTampered) || got != nil {
			t.Fatalf("truncated to %d of %d bytes: got %q, %v; want ErrTampered", n, len(sealed), got, err)
		}
	}
	// Extra bytes are tampering too.
	if _, err := k.Open(append(bytes.Clone(sealed), 0)); !errors.Is(err, ErrTampered) {
		t.Fatalf("appended byte: %v; want ErrTampered", err)
	}
}

func TestWrongKey(t *testing.T) {
	t.Parallel()
	a := mustGenerate(t)
	b := mustGenerate(t)
	sealed, err := a.Seal([]byte("secret"))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := b.Open(sealed); !errors.Is(err, ErrUnknownKey) {
		t.Fatalf("other keyring: %v; want ErrUnknownKey", err)
	}

	// Same id, different key material: the value must not authenticate.
	same1, err := ParseEnv("k1:" + b64Key(1))
	if err != nil {
		t.Fatal(err)
	}
	same2, err := ParseEnv("k1:" + b64Key(2))
	if err != nil {
		t.Fatal(err)
	}
	sealed, err = same1.Seal([]byte("secret"))
	if err != nil {
		t.Fatal(err)
	}
	if got, err := same2.Open(sealed); !errors.Is(err, ErrTampered) || got != nil {
		t.Fatalf("same id, other key: %q, %v; want ErrTampered", got, err)
	}
}

func TestParseEnv(t *testing.T) {
	t.Parallel()
	k, err := ParseEnv(b64Key(7))
	if err != nil {
		t.Fatal(err)
	}
	k2, err := ParseEnv(" " + base64.RawURLEncoding.EncodeToString(bytes.Repeat([]byte{7}, KeySize)) + " ")
	if err != nil {
		t.Fatal(err)
	}
	if k.ActiveKeyID() != k2.ActiveKeyID() || len(k.ActiveKeyID()) != 8 {
		t.Fatalf("derived ids %q and %q should be equal and 8 characters", k.ActiveKeyID(), k2.ActiveKeyID())
	}
	sealed, err := k.Seal([]byte("v"))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := k2.Open(sealed); err != nil {
		t.Fatalf("the same key loaded twice cannot open its own value: %v", err)
	}

	multi, err := ParseEnv("new:" + b64Key(2) + ", old:" + b64Key(1))
	if err != nil {
		t.Fatal(err)
	}
	if multi.ActiveKeyID() != "new" || strings.Join(multi.KeyIDs(), ",") != "new,old" {
		t.Fatalf("ids = %v, active %q", multi.KeyIDs(), multi.ActiveKeyID())
	}
	if multi.EncodeEnv() != "new:"+b64Key(2)+",old:"+b64Key(1) {
		t.Fatalf("EncodeEnv = %q", multi.EncodeEnv())
	}

	short := base64.StdEncoding.EncodeToString(make([]byte, 16))
	for _, tc := range []struct{ value, want string }{
		{short, "instead of 32"},
		{"k1:" + short, "instead of 32"},
		{"not base64!!", "base64"},
		{b64Key(1) + "," + b64Key(2), "no key id"},
		{"a:" + b64Key(1) + ",a:" + b64Key(2), "same key id"},
		{"bad id:" + b64Key(1), "may only contain"},
		{":" + b64Key(1), "empty"},
		{strings.Repeat("x", 33) + ":" + b64Key(1), "longer than"},
		{" , ", "no key"},
	} {
		_, err := ParseEnv(tc.value)
		if err == nil {
			t.Errorf("ParseEnv(%q) succeeded", tc.value)
			continue
		}
		msg := err.Error()
		if !strings.Contains(msg, "COFFER_SECRET_KEY") || !strings.Contains(msg, tc.want) {
			t.Errorf("ParseEnv(%q) = %q; want it to name COFFER_SECRET_KEY and say %q", tc.value, msg, tc.want)
		}
		if strings.Contains(msg, b64Key(1)) || strings.Contains(msg, short) || strings.Contains(msg, "bad id") || strings.Contains(msg, "xxxx") {
			t.Errorf("ParseEnv error reveals key material: %q", msg)
		}
	}
}

func TestParseKeysLineSeparated(t *testing.T) {
	t.Parallel()
	k, err := ParseKeys("# rotated keys\nnew:" + b64Key(2) + "\r\n\nold:" + b64Key(1) + ",older:" + b64Key(3) + "\n")
	if err != nil {
		t.Fatal(err)
	}
	if got := strings.Join(k.KeyIDs(), ","); got != "new,old,older" {
		t.Fatalf("ids %s", got)
	}
}

func TestLoadCreatesPrivateFile(t *testing.T) {
	t.Parallel()
	dir := filepath.Join(t.TempDir(), "data", "nested")
	k, err := Load(dir, "")
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(dir, KeyFileName)
	info, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if runtime.GOOS != "windows" {
		if perm := info.Mode().Perm(); perm != 0o600 {
			t.Fatalf("key file mode %04o, want 0600", perm)
		}
		dinfo, err := os.Stat(dir)
		if err != nil {
			t.Fatal(err)
		}
		if perm := dinfo.Mode().Perm(); perm != 0o700 {
			t.Fatalf("data dir mode %04o, want 0700", perm)
		}
	}
	sealed, err := k.Seal([]byte("persisted"))
	if err != nil {
		t.Fatal(err)
	}
	// A second start reads the same key.
	again, err := Load(dir, "")
	if err != nil {
		t.Fatal(err)
	}
	if again.ActiveKeyID() != k.ActiveKeyID() {
		t.Fatalf("reloaded active key %q, want %q", again.ActiveKeyID(), k.ActiveKeyID())
	}
	if got, err := again.Open(sealed); err != nil || string(got) != "persisted" {
		t.Fatalf("reloaded keyring opens %q, %v", got, err)
	}
	// No temporary files are left behind.
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	if len(entries) != 1 {
		t.Fatalf("data dir holds %d entries, want only %s", len(entries), KeyFileName)
	}
}

func TestLoadConcurrentFirstStartAgrees(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	const n = 8
	ids := make([]string, n)
	errs := make([]error, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() {
			k, err := Load(dir, "")
			errs[i] = err
			if err == nil {
				ids[i] = k.ActiveKeyID()
			}
		})
	}
	wg.Wait()
	for i := range n {
		if errs[i] != nil {
			t.Fatalf("Load %d: %v", i, errs[i])
		}
		if ids[i] != ids[0] {
			t.Fatalf("concurrent first starts got different keys: %v", ids)
		}
	}
}

func TestLoadEnvIgnoresFile(t *testing.T) {
	t.Parallel()
	dir := filepath.Join(t.TempDir(), "unused")
	k, err := Load(dir, "env:"+b64Key(3))
	if err != nil {
		t.Fatal(err)
	}
	if k.ActiveKeyID() != "env" {
		t.Fatalf("active %q, want env", k.ActiveKeyID())
	}
	if _, err := os.Stat(dir); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("Load with an env key touched the data dir: %v", err)
	}
	if _, err := Load(dir, "garbage"); err == nil || !strings.Contains(err.Error(), "COFFER_SECRET_KEY") {
		t.Fatalf("bad env key: %v", err)
	}
}

func TestLoadRefusesLoosePermissions(t *testing.T) {
	if runtime.GOOS == "windows" {
		t.Skip("no Unix permission bits on Windows")
	}
	t.Parallel()
	for _, mode := range []os.FileMode{0o640, 0o604, 0o644, 0o660, 0o602} {
		t.Run(fmt.Sprintf("%04o", mode), func(t *testing.T) {
			t.Parallel()
			dir := t.TempDir()
			if _, err := Load(dir, ""); err != nil {
				t.Fatal(err)
			}
			path := filepath.Join(dir, KeyFileName)
			if err := os.Chmod(path, mode); err != nil {
				t.Fatal(err)
			}
			_, err := Load(dir, "")
			if err == nil {
				t.Fatalf("mode %04o accepted", mode)
			}
			if !strings.Contains(err.Error(), path) || !strings.Contains(err.Error(), "chmod 600") {
				t.Fatalf("message %q should name the file and the fix", err)
			}
		})
	}
}

func TestLoadRefusesBadKeyFile(t *testing.T) {
	t.Parallel()
	for name, content := range map[string]string{
		"short key": "k1:" + base64.StdEncoding.EncodeToString(make([]byte, 31)) + "\n",
		"empty":     "# only a comment\n\n",
		"garbage":   "k1:%%%%\n",
	} {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			dir := t.TempDir()
			path := filepath.Join(dir, KeyFileName)
			if err := os.WriteFile(path, []byte(content), 0o600); err != nil {
				t.Fatal(err)
			}
			_, err := Load(dir, "")
			if err == nil {
				t.Fatal("bad key file accepted")
			}
			if !strings.Contains(err.Error(), path) {
				t.Fatalf("message %q does not name the file", err)
			}
			// The file is left as it was, never replaced by a new key.
			got, rerr := os.ReadFile(path)
			if rerr != nil || string(got) != content {
				t.Fatalf("key file changed: %q, %v", got, rerr)
			}
		})
	}
}

func TestRotation(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	old, err := Load(dir, "")
	if err != nil {
		t.Fatal(err)
	}
	rows := make([][]byte, 5)
	for i := range rows {
		if rows[i], err = old.Seal(fmt.Appendf(nil, "row %d", i)); err != nil {
			t.Fatal(err)
		}
	}

	next, err := old.Rotate()
	if err != nil {
		t.Fatal(err)
	}
	if next.ActiveKeyID() == old.ActiveKeyID() {
		t.Fatal("rotation kept the same active key")
	}
	if ids := next.KeyIDs(); len(ids) != 2 || ids[1] != old.ActiveKeyID() {
		t.Fatalf("rotated keyring ids %v, want [new %s]", ids, old.ActiveKeyID())
	}
	if len(old.KeyIDs()) != 1 {
		t.Fatal("Rotate changed the original keyring")
	}
	if err := next.SaveFile(dir); err != nil {
		t.Fatal(err)
	}
	both, err := Load(dir, "")
	if err != nil {
		t.Fatal(err)
	}
	if strings.Join(both.KeyIDs(), ",") != strings.Join(next.KeyIDs(), ",") {
		t.Fatalf("saved file holds %v, want %v", both.KeyIDs(), next.KeyIDs())
	}

	for i, row := range rows {
		// Old values stay readable during rotation.
		if got, err := both.Open(row); err != nil || string(got) != fmt.Sprintf("row %d", i) {
			t.Fatalf("old row %d after rotation: %q, %v", i, got, err)
		}
		resealed, err := both.Reseal(row)
		if err != nil {
			t.Fatal(err)
		}
		if id, _ := SealedKeyID(resealed); id != next.ActiveKeyID() {
			t.Fatalf("resealed with key %q, want %q", id, next.ActiveKeyID())
		}
		rows[i] = resealed
	}

	final := next.WithoutOldKeys()
	if err := final.SaveFile(dir); err != nil {
		t.Fatal(err)
	}
	loaded, err := Load(dir, "")
	if err != nil {
		t.Fatal(err)
	}
	if ids := loaded.KeyIDs(); len(ids) != 1 || ids[0] != next.ActiveKeyID() {
		t.Fatalf("final key file holds %v", ids)
	}
	for i, row := range rows {
		if got, err := loaded.Open(row); err != nil || string(got) != fmt.Sprintf("row %d", i) {
			t.Fatalf("resealed row %d with the new key only: %q, %v", i, got, err)
		}
	}
	// A value sealed only with the removed key is now an unknown key.
	stale, err := old.Seal([]byte("stale"))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := loaded.Open(stale); !errors.Is(err, ErrUnknownKey) {
		t.Fatalf("value under a removed key: %v; want ErrUnknownKey", err)
	}
	if _, err := loaded.Reseal(stale); !errors.Is(err, ErrUnknownKey) {
		t.Fatalf("reseal under a removed key: %v; want ErrUnknownKey", err)
	}

	// The env form carries the same keys.
	fromEnv, err := ParseEnv(next.EncodeEnv())
	if err != nil {
		t.Fatal(err)
	}
	if strings.Join(fromEnv.KeyIDs(), ",") != strings.Join(next.KeyIDs(), ",") {
		t.Fatalf("EncodeEnv round trip ids %v, want %v", fromEnv.KeyIDs(), next.KeyIDs())
	}
	if got, err := fromEnv.Open(rows[0]); err != nil || string(got) != "row 0" {
		t.Fatalf("env keyring opens %q, %v", got, err)
	}
}

func TestSaveFileReplacesAtomicallyWithPrivateMode(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	path := filepath.Join(dir, KeyFileName)
	if err := os.WriteFile(path, []byte("old content"), 0o600); err != nil {
		t.Fatal(err)
	}
	k := mustGenerate(t)
	if err := k.SaveFile(dir); err != nil {
		t.Fatal(err)
	}
	info, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if runtime.GOOS != "windows" && info.Mode().Perm() != 0o600 {
		t.Fatalf("saved mode %04o", info.Mode().Perm())
	}
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	if len(entries) != 1 {
		t.Fatalf("SaveFile left %d entries in the dir", len(entries))
	}
	loaded, err := Load(dir, "")
	if err != nil {
		t.Fatal(err)
	}
	if loaded.ActiveKeyID() != k.ActiveKeyID() {
		t.Fatalf("loaded %q, saved %q", loaded.ActiveKeyID(), k.ActiveKeyID())
	}
}

func TestStringHidesKeys(t *testing.T) {
	t.Parallel()
	k, err := ParseEnv("k1:" + b64Key(9))
	if err != nil {
		t.Fatal(err)
	}
	for _, s := range []string{fmt.Sprint(k), fmt.Sprintf("%v %+v %#v %s", k, k, k, k)} {
		if strings.Contains(s, b64Key(9)) || strings.Contains(s, "9 9 9") {
			t.Fatalf("printing the keyring reveals the key: %q", s)
		}
		if !strings.Contains(s, "k1") {
			t.Fatalf("printing the keyring should name the active id: %q", s)
		}
	}
}

func TestMask(t *testing.T) {
	t.Parallel()
	for in, want := range map[string]string{
		"":                     "****",
		"abc":                  "****",
		"12345678":             "****",
		"123456789":            "****6789",
		"AKIAIOSFODNN7EXAMPLE": "****MPLE",
		"pässwörter-äöü":       "****-äöü",
	} {
		if got := Mask(in); got != want {
			t.Errorf("Mask(%q) = %q, want %q", in, got, want)
		}
		if !IsMasked(Mask(in)) {
			t.Errorf("IsMasked(Mask(%q)) is false", in)
		}
	}
	for _, s := range []string{"", "abc", "***x", "secret****"} {
		if IsMasked(s) {
			t.Errorf("IsMasked(%q) is true", s)
		}
	}
}
