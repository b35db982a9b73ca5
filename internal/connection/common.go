package connection

import (
	"fmt"
	"strings"
	"unicode/utf8"

	"github.com/coffer-backup/coffer/internal/secret"
)

// Limits on credential field sizes; longer values are refused with 422.
const (
	maxFieldLen   = 4096
	maxSecretJSON = 64 << 10
)

// maskSecret is the mask of an ordinary secret field.
func maskSecret(_ string, value string) string { return secret.Mask(value) }

// mergeSecret keeps the stored value when the client sent a masked one back.
func mergeSecret(_ string, sent, stored string) string {
	if secret.IsMasked(sent) {
		return stored
	}
	return sent
}

// checkLen records a reason in errs when value is longer than max bytes or
// not valid UTF-8.
func checkLen(errs map[string]string, field, value string, max int) {
	if len(value) > max {
		errs[field] = fmt.Sprintf("must be at most %d bytes long", max)
		return
	}
	if !utf8.ValidString(value) {
		errs[field] = "must be valid UTF-8 text"
	}
}

// blank reports whether s is empty or only white space.
func blank(s string) bool { return strings.TrimSpace(s) == "" }
