// Package auth holds coffer's authentication primitives: argon2id password
// hashes, random API and session tokens stored only as hashes, and in-memory
// limiters for failed logins and for request rates.
package auth

import (
	"crypto/rand"
	"crypto/subtle"
	"encoding/base64"
	"errors"
	"fmt"
	"strconv"
	"strings"

	"golang.org/x/crypto/argon2"
)

// The argon2id parameters for new hashes: 19 MiB, 2 passes, 1 lane (OWASP's
// recommended floor). The memory is modest on purpose: a backup server's
// footprint should be its backups', and hashes made with other parameters
// still verify (they are read from the stored PHC string).
const (
	argonMemoryKiB = 19 * 1024
	argonTime      = 2
	argonThreads   = 1
	argonSaltLen   = 16
	argonKeyLen    = 32
)

// Bounds on parameters accepted from a stored hash, so that a corrupted or
// hostile row cannot make a verification take minutes or gigabytes.
const (
	maxMemoryKiB = 1024 * 1024 // 1 GiB
	maxTime      = 16
	maxThreads   = 64
	minSaltLen   = 8
	minKeyLen    = 16
	maxKeyLen    = 128
)

// MaxPasswordLen is the longest password accepted, in bytes.
const MaxPasswordLen = 1024

// ErrMalformedHash reports a stored password hash that is not an argon2id PHC
// string this package can verify.
var ErrMalformedHash = errors.New("auth: stored password hash is malformed")

// dummyHash is a hash of a random, forgotten password with the current
// parameters; DummyVerify checks against it.
const dummyHash = "$argon2id$v=19$m=19456,t=2,p=1$9Sv8uF42PWnya3wd1Aj9jQ$4uRhwGEywSHcwbqKwoPZxeMZILFobE1oP8MvRjFPVBE"

// argonParams are the parameters and salt of one hash.
type argonParams struct {
	memory  uint32
	time    uint32
	threads uint8
	salt    []byte
	key     []byte
}

// HashPassword returns an argon2id hash of pw in PHC string form,
// "$argon2id$v=19$m=19456,t=2,p=1$<salt>$<hash>" (unpadded standard base64),
// with a fresh random salt.
func HashPassword(pw string) (string, error) {
	if pw == "" {
		return "", errors.New("the password is empty; choose a password")
	}
	if len(pw) > MaxPasswordLen {
		return "", fmt.Errorf("the password is longer than %d bytes; choose a shorter one", MaxPasswordLen)
	}
	salt := make([]byte, argonSaltLen)
	if _, err := rand.Read(salt); err != nil {
		return "", fmt.Errorf("generate a password salt: %w", err)
	}
	p := argonParams{memory: argonMemoryKiB, time: argonTime, threads: argonThreads, salt: salt}
	p.key = argonKey(pw, p, argonKeyLen)
	return encodePHC(p), nil
}

// encodePHC formats p as a PHC string.
func encodePHC(p argonParams) string {
	enc := base64.RawStdEncoding
	return fmt.Sprintf("$argon2id$v=%d$m=%d,t=%d,p=%d$%s$%s",
		argon2.Version, p.memory, p.time, p.threads, enc.EncodeToString(p.salt), enc.EncodeToString(p.key))
}

// parsePHC parses an argon2id PHC string, enforcing sane bounds.
func parsePHC(encoded string) (argonParams, error) {
	fail := func(why string) (argonParams, error) {
		return argonParams{}, fmt.Errorf("%w: %s", ErrMalformedHash, why)
	}
	parts := strings.Split(encoded, "$")
	// "", "argon2id", "v=19", "m=..,t=..,p=..", salt, hash
	if len(parts) != 6 || parts[0] != "" {
		return fail("it does not have the form $argon2id$v=..$m=..,t=..,p=..$salt$hash")
	}
	if parts[1] != "argon2id" {
		return fail("it is not an argon2id hash")
	}
	if parts[2] != "v="+strconv.Itoa(argon2.Version) {
		return fail("its argon2 version is not 19")
	}
	var p argonParams
	seen := map[string]bool{}
	for _, kv := range strings.Split(parts[3], ",") {
		name, val, ok := strings.Cut(kv, "=")
		if !ok || seen[name] {
			return fail("its parameters are not m=..,t=..,p=..")
		}
		seen[name] = true
		n, err := strconv.ParseUint(val, 10, 32)
		if err != nil {
			return fail("a parameter is not a number")
		}
		switch name {
		case "m":
			p.memory = uint32(n)
		case "t":
			p.time = uint32(n)
		case "p":
			if n > maxThreads {
				return fail("its parallelism is out of range")
			}
			p.threads = uint8(n)
		default:
			return fail("it has an unknown parameter")
		}
	}
	if len(seen) != 3 {
		return fail("it lacks one of the parameters m, t, p")
	}
	if p.time < 1 || p.time > maxTime || p.threads < 1 || p.memory < 8*uint32(p.threads) || p.memory > maxMemoryKiB {
		return fail("its parameters are out of range")
	}
	var err error
	if p.salt, err = base64.RawStdEncoding.Strict().DecodeString(parts[4]); err != nil || len(p.salt) < minSaltLen {
		return fail("its salt is not valid")
	}
	if p.key, err = base64.RawStdEncoding.Strict().DecodeString(parts[5]); err != nil || len(p.key) < minKeyLen || len(p.key) > maxKeyLen {
		return fail("its hash part is not valid")
	}
	return p, nil
}

// VerifyPassword reports whether pw matches the hash made by HashPassword,
// comparing in constant time. A malformed hash is an error wrapping
// ErrMalformedHash, never a match.
func VerifyPassword(encoded, pw string) (bool, error) {
	p, err := parsePHC(encoded)
	if err != nil {
		return false, err
	}
	if len(pw) > MaxPasswordLen {
		return false, nil
	}
	got := argonKey(pw, p, uint32(len(p.key)))
	return subtle.ConstantTimeCompare(got, p.key) == 1, nil
}

// NeedsRehash reports whether a valid hash was made with parameters other
// than the current ones, so that the caller may store a new hash after the
// next successful login.
func NeedsRehash(encoded string) bool {
	p, err := parsePHC(encoded)
	if err != nil {
		return true
	}
	return p.memory != argonMemoryKiB || p.time != argonTime || p.threads != argonThreads ||
		len(p.salt) != argonSaltLen || len(p.key) != argonKeyLen
}

// DummyVerify spends the same time as VerifyPassword against a real hash and
// always fails. Call it when a login names an unknown user, so response
// times do not reveal which accounts exist.
func DummyVerify(pw string) {
	_, _ = VerifyPassword(dummyHash, pw)
}

// argonKey derives a key of keyLen bytes from pw with p's parameters.
func argonKey(pw string, p argonParams, keyLen uint32) []byte {
	return argon2.IDKey([]byte(pw), p.salt, p.time, p.memory, p.threads, keyLen)
}
