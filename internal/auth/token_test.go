package auth

import (
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"strings"
	"testing"
)

func TestNewToken(t *testing.T) {
	t.Parallel()
	seen := map[string]bool{}
	for _, prefix := range []string{APITokenPrefix, ""} {
		for range 200 {
			tok, hash, err := NewToken(prefix)
			if err != nil {
				t.Fatal(err)
			}
			if !strings.HasPrefix(tok, prefix) {
				t.Fatalf("token %q lacks prefix %q", tok, prefix)
			}
			raw, err := base64.RawURLEncoding.DecodeString(strings.TrimPrefix(tok, prefix))
			if err != nil || len(raw) != TokenBytes {
				t.Fatalf("token body %q decodes to %d bytes, %v", tok, len(raw), err)
			}
			if seen[tok] {
				t.Fatalf("token %q issued twice", tok)
			}
			seen[tok] = true
			if hash != HashToken(tok) || HashToken(tok) != HashToken(strings.Clone(tok)) {
				t.Fatal("token hash is not stable")
			}
			sum := sha256.Sum256([]byte(tok))
			if hash != hex.EncodeToString(sum[:]) {
				t.Fatalf("hash %q is not the hex SHA-256 of the whole token", hash)
			}
		}
	}
	if HashToken("cof_a") == HashToken("a") {
		t.Fatal("the prefix is not part of the hash")
	}
}
