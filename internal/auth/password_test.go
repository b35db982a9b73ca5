package auth

import (
	"errors"
	"strings"
	"testing"
	"time"
)

func TestHashAndVerify(t *testing.T) {
	t.Parallel()
	start := time.Now()
	h, err := HashPassword("correct horse battery staple")
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("one hash took %v", time.Since(start))
	if !strings.HasPrefix(h, "$argon2id$v=19$m=19456,t=2,p=1$") {
		t.Fatalf("hash %q is not the expected PHC form", h)
	}
	if strings.Contains(h, "correct horse") {
		t.Fatal("hash contains the password")
	}
	ok, err := VerifyPassword(h, "correct horse battery staple")
	if err != nil || !ok {
		t.Fatalf("right password: %v, %v", ok, err)
	}
	for _, wrong := range []string{"", "correct horse battery stapl", "Correct horse battery staple", "correct horse battery staple "} {
		ok, err := VerifyPassword(h, wrong)
		if err != nil || ok {
			t.Fatalf("wrong password %q: %v, %v", wrong, ok, err)
		}
	}
	h2, err := HashPassword("correct horse battery staple")
	if err != nil {
		t.Fatal(err)
	}
	if h == h2 {
		t.Fatal("two hashes of one password are equal: the salt is not random")
	}
	if NeedsRehash(h) {
		t.Fatal("a fresh hash needs a rehash")
	}
}

func TestHashPasswordRejects(t *testing.T) {
	t.Parallel()
	if _, err := HashPassword(""); err == nil {
		t.Fatal("empty password hashed")
	}
	if _, err := HashPassword(strings.Repeat("a", MaxPasswordLen+1)); err == nil {
		t.Fatal("over-long password hashed")
	}
}

func TestVerifyOtherParameters(t *testing.T) {
	t.Parallel()
	// A hash made with other (cheap) parameters still verifies with its own,
	// and is reported as needing a rehash.
	p := argonParams{memory: 64, time: 1, threads: 1, salt: []byte("0123456789abcdef")}
	p.key = argonKey("pw", p, 32)
	enc := encodePHC(p)
	if ok, err := VerifyPassword(enc, "pw"); err != nil || !ok {
		t.Fatalf("verify %q: %v, %v", enc, ok, err)
	}
	if ok, _ := VerifyPassword(enc, "pw2"); ok {
		t.Fatal("wrong password matched a cheap hash")
	}
	if !NeedsRehash(enc) {
		t.Fatal("cheap hash does not need a rehash")
	}
}

func TestVerifyMalformed(t *testing.T) {
	t.Parallel()
	good, err := HashPassword("pw")
	if err != nil {
		t.Fatal(err)
	}
	parts := strings.Split(good, "$")
	salt, key := parts[4], parts[5]
	for _, bad := range []string{
		"",
		"plain text",
		"$argon2i$v=19$m=65536,t=2,p=2$" + salt + "$" + key,
		"$argon2id$v=16$m=65536,t=2,p=2$" + salt + "$" + key,
		"$argon2id$v=19$m=65536,t=2$" + salt + "$" + key,
		"$argon2id$v=19$m=65536,t=2,p=2,x=1$" + salt + "$" + key,
		"$argon2id$v=19$m=65536,t=2,t=2$" + salt + "$" + key,
		"$argon2id$v=19$m=abc,t=2,p=2$" + salt + "$" + key,
		"$argon2id$v=19$m=65536,t=0,p=2$" + salt + "$" + key,
		"$argon2id$v=19$m=65536,t=2,p=0$" + salt + "$" + key,
		"$argon2id$v=19$m=65536,t=2,p=300$" + salt + "$" + key,
		"$argon2id$v=19$m=99999999,t=2,p=2$" + salt + "$" + key,
		"$argon2id$v=19$m=65536,t=1000,p=2$" + salt + "$" + key,
		"$argon2id$v=19$m=65536,t=2,p=2$" + "!!" + "$" + key,
		"$argon2id$v=19$m=65536,t=2,p=2$" + salt + "$" + "c2hvcnQ",
		"$argon2id$v=19$m=65536,t=2,p=2$" + salt + "$" + key + "$extra",
		"argon2id$v=19$m=65536,t=2,p=2$" + salt + "$" + key,
	} {
		ok, err := VerifyPassword(bad, "pw")
		if ok || !errors.Is(err, ErrMalformedHash) {
			t.Errorf("VerifyPassword(%q) = %v, %v; want ErrMalformedHash", bad, ok, err)
		}
		if !NeedsRehash(bad) {
			t.Errorf("NeedsRehash(%q) is false for a malformed hash", bad)
		}
	}
}

func TestDummyHashIsCurrent(t *testing.T) {
	t.Parallel()
	if _, err := parsePHC(dummyHash); err != nil {
		t.Fatalf("dummy hash does not parse: %v", err)
	}
	if NeedsRehash(dummyHash) {
		t.Fatal("dummy hash uses other parameters than new hashes, so it would not take the same time")
	}
	DummyVerify("anything")
}
