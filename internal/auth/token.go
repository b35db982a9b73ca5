package auth

import (
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"fmt"
)

// TokenBytes is the number of random bytes in every token.
const TokenBytes = 32

// APITokenPrefix starts every API token, so that leaked tokens are easy to
// recognise and scan for.
const APITokenPrefix = "cof_"

// NewToken returns a new random token (prefix followed by the unpadded
// base64url encoding of 32 random bytes) and its hash for storage, as
// HashToken computes it. Only the hash is stored; the token is shown to its
// owner once. Use APITokenPrefix for API tokens and "" for session cookies.
func NewToken(prefix string) (token, hash string, err error) {
	b := make([]byte, TokenBytes)
	if _, err := rand.Read(b); err != nil {
		return "", "", fmt.Errorf("generate a random token: %w", err)
	}
	token = prefix + base64.RawURLEncoding.EncodeToString(b)
	return token, HashToken(token), nil
}

// HashToken returns the lowercase hex SHA-256 of the whole token, prefix
// included: the value stored in and looked up from the catalog. A fast hash
// is enough because tokens carry 256 random bits.
func HashToken(token string) string {
	sum := sha256.Sum256([]byte(token))
	return hex.EncodeToString(sum[:])
}
