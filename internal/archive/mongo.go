package archive

import (
	"fmt"
	"net/url"
	"strings"
)

// File name suffixes of mongodump's directory layout.
const (
	BSONSuffix     = ".bson"
	MetadataSuffix = ".metadata.json"
)

// CollectionEntryNames returns the entry names of a collection in
// mongodump's layout: "mongodb/<db>/<collection>.bson" and
// "mongodb/<db>/<collection>.metadata.json". The collection name is
// percent-encoded as mongodump does (url.PathEscape: "/" becomes "%2F"), so
// `mongorestore --dir mongodb/` finds it. A database or collection name that
// cannot make a safe entry name is an error wrapping ErrUnsafeEntry.
func CollectionEntryNames(db, collection string) (bson, metadata string, err error) {
	if db == "" || collection == "" {
		return "", "", fmt.Errorf("%w: a database and a collection name are required", ErrUnsafeEntry)
	}
	if strings.ContainsAny(db, "/\\") {
		return "", "", fmt.Errorf("%w: the database name %s contains a slash", ErrUnsafeEntry, quoteShort(db))
	}
	base := MongoDBPrefix + db + "/" + url.PathEscape(collection)
	bson, metadata = base+BSONSuffix, base+MetadataSuffix
	if err := SafeEntryName(metadata); err != nil {
		return "", "", fmt.Errorf("collection %s of database %s: %w", quoteShort(collection), quoteShort(db), err)
	}
	return bson, metadata, nil
}

// ParseCollectionEntryName is the inverse of CollectionEntryNames: for a
// name "mongodb/<db>/<escaped collection>.bson" or ".metadata.json" it
// returns the database, the unescaped collection and whether it is the
// metadata file. ok is false for any other name.
func ParseCollectionEntryName(name string) (db, collection string, isMetadata, ok bool) {
	rest, found := strings.CutPrefix(name, MongoDBPrefix)
	if !found {
		return "", "", false, false
	}
	db, file, found := strings.Cut(rest, "/")
	if !found || db == "" || strings.Contains(file, "/") {
		return "", "", false, false
	}
	var escaped string
	switch {
	case strings.HasSuffix(file, MetadataSuffix):
		escaped, isMetadata = strings.TrimSuffix(file, MetadataSuffix), true
	case strings.HasSuffix(file, BSONSuffix):
		escaped = strings.TrimSuffix(file, BSONSuffix)
	default:
		return "", "", false, false
	}
	coll, err := url.PathUnescape(escaped)
	if err != nil || coll == "" {
		return "", "", false, false
	}
	return db, coll, isMetadata, true
}
