package archive

import (
	"encoding/json"
	"fmt"
	"strings"
	"time"

	"github.com/coffer-backup/coffer/internal/object"
)

// PAX record keys under which object metadata is kept. They are extended
// attributes in the "user.coffer." namespace (the SCHILY.xattr records GNU
// tar and bsdtar know): plain extraction ignores them silently, and
// `tar --xattrs -x` puts them on the extracted files.
const (
	PAXKey                = "SCHILY.xattr.user.coffer.key"
	PAXETag               = "SCHILY.xattr.user.coffer.etag"
	PAXLastModified       = "SCHILY.xattr.user.coffer.last_modified"
	PAXContentType        = "SCHILY.xattr.user.coffer.content_type"
	PAXCacheControl       = "SCHILY.xattr.user.coffer.cache_control"
	PAXContentEncoding    = "SCHILY.xattr.user.coffer.content_encoding"
	PAXContentDisposition = "SCHILY.xattr.user.coffer.content_disposition"
	PAXContentLanguage    = "SCHILY.xattr.user.coffer.content_language"
	PAXExpires            = "SCHILY.xattr.user.coffer.expires"
	// PAXUserMetadata holds the user metadata as one JSON object, which keeps
	// names with any characters and empty values exactly.
	PAXUserMetadata = "SCHILY.xattr.user.coffer.user_metadata"
)

// ObjectPAX returns the PAX records that keep o's exact key and metadata in
// its archive entry. Empty fields are left out. Size is not recorded: it is
// the entry's size.
func ObjectPAX(o object.Object) map[string]string {
	m := map[string]string{PAXKey: o.Key}
	set := func(k, v string) {
		if v != "" {
			m[k] = v
		}
	}
	set(PAXETag, o.ETag)
	if !o.LastModified.IsZero() {
		m[PAXLastModified] = o.LastModified.UTC().Format(time.RFC3339Nano)
	}
	set(PAXContentType, o.ContentType)
	set(PAXCacheControl, o.CacheControl)
	set(PAXContentEncoding, o.ContentEncoding)
	set(PAXContentDisposition, o.ContentDisposition)
	set(PAXContentLanguage, o.ContentLanguage)
	set(PAXExpires, o.Expires)
	if len(o.UserMetadata) > 0 {
		// A map[string]string always marshals.
		b, _ := json.Marshal(o.UserMetadata)
		m[PAXUserMetadata] = string(b)
	}
	return m
}

// ObjectFromPAX rebuilds an object's key and metadata from the PAX records
// of its entry. Size is left zero; Entry.Object fills it from the entry. An
// entry without a key record or with malformed records is an error.
func ObjectFromPAX(pax map[string]string) (object.Object, error) {
	var o object.Object
	key, ok := pax[PAXKey]
	if !ok || key == "" {
		return o, fmt.Errorf("%w: the entry has no %s record with the object's key", ErrCorrupt, PAXKey)
	}
	o.Key = key
	o.ETag = pax[PAXETag]
	if s, ok := pax[PAXLastModified]; ok {
		t, err := time.Parse(time.RFC3339Nano, s)
		if err != nil {
			return o, fmt.Errorf("%w: the %s record of object %s is not a time: %w",
				ErrCorrupt, PAXLastModified, quoteShort(key), err)
		}
		o.LastModified = t
	}
	o.ContentType = pax[PAXContentType]
	o.CacheControl = pax[PAXCacheControl]
	o.ContentEncoding = pax[PAXContentEncoding]
	o.ContentDisposition = pax[PAXContentDisposition]
	o.ContentLanguage = pax[PAXContentLanguage]
	o.Expires = pax[PAXExpires]
	if s, ok := pax[PAXUserMetadata]; ok {
		dec := json.NewDecoder(strings.NewReader(s))
		var um map[string]string
		if err := dec.Decode(&um); err != nil || dec.More() {
			if err == nil {
				err = fmt.Errorf("trailing data")
			}
			return o, fmt.Errorf("%w: the %s record of object %s is not a JSON object of strings: %w",
				ErrCorrupt, PAXUserMetadata, quoteShort(key), err)
		}
		if len(um) > 0 {
			o.UserMetadata = um
		}
	}
	return o, nil
}
