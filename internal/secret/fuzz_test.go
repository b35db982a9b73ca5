package secret

import (
	"bytes"
	"crypto/rand"
	"encoding/base64"
	"errors"
	"testing"
)

// fuzzKeyID is the key id of both fuzz keyrings, so envelopes in the seed
// corpus (sealed with seedRing) carry headers the fuzzed keyring accepts and
// the fuzzer reaches the GCM check instead of stopping at the key lookup.
const fuzzKeyID = "fuzz"

// fuzzKeyring returns a keyring whose only key has id fuzzKeyID and the given material.
func fuzzKeyring(tb testing.TB, raw []byte) *Keyring {
	tb.Helper()
	k, err := ParseKeys(fuzzKeyID + ":" + base64.StdEncoding.EncodeToString(raw))
	if err != nil {
		tb.Fatal(err)
	}
	return k
}

// FuzzOpen checks the credential envelope: Open never panics on any input,
// never opens bytes that were not sealed with its key, a seal/open round trip
// gives back the plaintext, and any change to a sealed value (a flipped bit,
// a truncation, an extension) is refused with ErrTampered or ErrUnknownKey.
func FuzzOpen(f *testing.F) {
	// The seeds are real envelopes made with a fixed key that shares the
	// fuzzed keyring's id but not its material.
	seedRing := fuzzKeyring(f, bytes.Repeat([]byte{7}, KeySize))
	for _, p := range []string{"", "x", `{"secret_key":"abc","access_key":"AKIA"}`, string(bytes.Repeat([]byte{0xff}, 300))} {
		sealed, err := seedRing.Seal([]byte(p))
		if err != nil {
			f.Fatal(err)
		}
		f.Add(sealed, []byte(p), uint16(0), byte(1))
		f.Add(sealed[:len(sealed)-1], []byte(p), uint16(len(sealed)/2), byte(0x80))
	}
	f.Add([]byte{}, []byte{}, uint16(0), byte(0))
	f.Add([]byte{1, 4, 'f', 'u', 'z', 'z'}, []byte("plain"), uint16(3), byte(0xff))
	f.Add([]byte{2, 32}, []byte{0}, uint16(1), byte(2))

	// Fresh random material per fuzzing process: no input the fuzzer makes
	// can be a valid envelope for it.
	raw := make([]byte, KeySize)
	if _, err := rand.Read(raw); err != nil {
		f.Fatal(err)
	}
	ring := fuzzKeyring(f, raw)
	other := fuzzKeyring(f, bytes.Repeat([]byte{9}, KeySize)) // same id, other material

	f.Fuzz(func(t *testing.T, data, plaintext []byte, pos uint16, mask byte) {
		// Arbitrary bytes never open and always fail with one of the two sentinels.
		if got, err := ring.Open(data); err == nil {
			t.Fatalf("Open accepted %d bytes not sealed with its key: %q", len(data), got)
		} else if !errors.Is(err, ErrTampered) && !errors.Is(err, ErrUnknownKey) {
			t.Fatalf("Open(%x) = %v, want ErrTampered or ErrUnknownKey", data, err)
		}
		if _, err := SealedKeyID(data); err != nil && !errors.Is(err, ErrTampered) {
			t.Fatalf("SealedKeyID(%x) = %v, want ErrTampered", data, err)
		}

		// Round trip.
		sealed, err := ring.Seal(plaintext)
		if err != nil {
			t.Fatal(err)
		}
		got, err := ring.Open(sealed)
		if err != nil {
			t.Fatalf("Open of a fresh envelope: %v", err)
		}
		if !bytes.Equal(got, plaintext) {
			t.Fatalf("round trip gave %q, want %q", got, plaintext)
		}
		if id, err := SealedKeyID(sealed); err != nil || id != fuzzKeyID {
			t.Fatalf("SealedKeyID = %q, %v; want %q", id, err, fuzzKeyID)
		}

		// The same id with other key material never opens it.
		if _, err := other.Open(sealed); !errors.Is(err, ErrTampered) {
			t.Fatalf("Open with another key of the same id = %v, want ErrTampered", err)
		}

		// One changed byte anywhere is refused.
		if mask != 0 {
			bad := bytes.Clone(sealed)
			bad[int(pos)%len(bad)] ^= mask
			if out, err := ring.Open(bad); err == nil {
				t.Fatalf("Open accepted an envelope with byte %d changed (mask %#x): %q", int(pos)%len(bad), mask, out)
			} else if !errors.Is(err, ErrTampered) && !errors.Is(err, ErrUnknownKey) {
				t.Fatalf("tampered envelope: %v, want ErrTampered or ErrUnknownKey", err)
			}
		}

		// Truncated or extended envelopes are refused.
		cut := int(pos) % len(sealed)
		if _, err := ring.Open(sealed[:cut]); !errors.Is(err, ErrTampered) {
			t.Fatalf("Open of the first %d of %d bytes = %v, want ErrTampered", cut, len(sealed), err)
		}
		if _, err := ring.Open(append(bytes.Clone(sealed), mask)); !errors.Is(err, ErrTampered) {
			t.Fatalf("Open of an extended envelope = %v, want ErrTampered", err)
		}

		// The envelope still opens after a rotation (old key kept) and after a reseal.
		next, err := ring.Rotate()
		if err != nil {
			t.Fatal(err)
		}
		if got, err := next.Open(sealed); err != nil || !bytes.Equal(got, plaintext) {
			t.Fatalf("Open after Rotate = %q, %v", got, err)
		}
	})
}
