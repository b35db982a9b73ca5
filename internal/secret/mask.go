package secret

import "strings"

// maskPrefix starts every masked value.
const maskPrefix = "****"

// Mask hides a credential for display: "****" followed by its last 4
// characters when it is longer than 8 characters, otherwise just "****".
func Mask(s string) string {
	r := []rune(s)
	if len(r) > 8 {
		return maskPrefix + string(r[len(r)-4:])
	}
	return maskPrefix
}

// IsMasked reports whether s looks like the output of Mask, i.e. a value
// the client sent back unchanged rather than a new credential.
func IsMasked(s string) bool { return strings.HasPrefix(s, maskPrefix) }
