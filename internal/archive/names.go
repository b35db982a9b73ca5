package archive

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"path"
	"strings"
	"unicode/utf8"
)

// Entry name prefixes and limits of format v1.
const (
	// ObjectsPrefix holds S3 objects whose key is a safe relative path.
	ObjectsPrefix = "objects/"
	// EscapedObjectsPrefix holds S3 objects under the SHA-256 (hex) of their key.
	EscapedObjectsPrefix = "objects-escaped/"
	// MongoDBPrefix holds mongodump's layout: mongodb/<db>/<collection>.bson and .metadata.json.
	MongoDBPrefix = "mongodb/"
	// ManifestName is the name of the manifest, the archive's last entry.
	ManifestName = "manifest.json"
	// MaxNameBytes is the longest entry name allowed.
	MaxNameBytes = 4096
	// MaxSegmentBytes is the longest name segment (between slashes) allowed.
	MaxSegmentBytes = 255
)

// ObjectEntryName returns the entry name that holds the object key:
// "objects/<key>" when that is a safe entry name, otherwise
// "objects-escaped/<sha256 hex of key>" with escaped true. The exact key is
// always kept in the entry's PAX records and in the manifest.
func ObjectEntryName(key string) (name string, escaped bool) {
	if key != "" {
		candidate := ObjectsPrefix + key
		if SafeEntryName(candidate) == nil {
			return candidate, false
		}
	}
	sum := sha256.Sum256([]byte(key))
	return EscapedObjectsPrefix + hex.EncodeToString(sum[:]), true
}

// SafeEntryName reports whether name may be extracted below a root
// directory without leaving it or meaning something else on another system.
// It is the rule every writer and reader of the format applies: a relative
// path of valid UTF-8 made of slash-separated segments, none empty, "." or
// "..", none longer than MaxSegmentBytes, at most MaxNameBytes in all, with
// no NUL or other control character and no backslash. The error wraps
// ErrUnsafeEntry.
func SafeEntryName(name string) error {
	bad := func(why string) error {
		return fmt.Errorf("%w: the name %s %s", ErrUnsafeEntry, quoteShort(name), why)
	}
	switch {
	case name == "":
		return bad("is empty")
	case len(name) > MaxNameBytes:
		return bad(fmt.Sprintf("is longer than %d bytes", MaxNameBytes))
	case !utf8.ValidString(name):
		return bad("is not valid UTF-8")
	case name[0] == '/':
		return bad("is an absolute path")
	}
	for _, r := range name {
		switch {
		case r == 0:
			return bad("contains a NUL byte")
		case r < 0x20 || r == 0x7f || (r >= 0x80 && r < 0xa0):
			return bad("contains a control character")
		case r == '\\':
			return bad("contains a backslash")
		}
	}
	for seg := range strings.SplitSeq(name, "/") {
		switch {
		case seg == "":
			return bad("has an empty path segment")
		case seg == "." || seg == "..":
			return bad(fmt.Sprintf("has a %q path segment", seg))
		case len(seg) > MaxSegmentBytes:
			return bad(fmt.Sprintf("has a path segment longer than %d bytes", MaxSegmentBytes))
		}
	}
	return nil
}

// quoteShort quotes s for an error message, cutting very long names.
func quoteShort(s string) string {
	const maxShown = 200
	if len(s) > maxShown {
		return fmt.Sprintf("%q… (%d bytes)", s[:maxShown], len(s))
	}
	return fmt.Sprintf("%q", s)
}

// SidecarLine returns the line of the "<archive>.sha256" file kept beside an
// archive, in the format of sha256sum: "<hex>  <file name>\n". archiveName
// is reduced to its base name, so that `sha256sum -c` works in the
// archive's directory. Names with a backslash or newline are escaped the way
// GNU sha256sum escapes them.
func SidecarLine(sha256Hex, archiveName string) string {
	base := path.Base(archiveName)
	if strings.ContainsAny(base, "\\\n") {
		esc := strings.NewReplacer("\\", "\\\\", "\n", "\\n").Replace(base)
		return "\\" + sha256Hex + "  " + esc + "\n"
	}
	return sha256Hex + "  " + base + "\n"
}
