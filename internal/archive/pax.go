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
	// PAXTags holds the object's S3 tags as one JSON object, like
	// PAXUserMetadata.
	PAXTags = "SCHILY.xattr.user.coffer.tags"
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
	setMap(m, PAXUserMetadata, o.UserMetadata)
	setMap(m, PAXTags, o.Tags)
	return m
}

// setMap records v under k as one JSON object, unless v is empty.
func setMap(m map[string]string, k string, v map[string]string) {
	if len(v) > 0 {
		// A map[string]string always marshals.
		b, _ := json.Marshal(v)
		m[k] = string(b)
	}
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
	var err error
	if o.UserMetadata, err = paxMap(pax, PAXUserMetadata, key); err != nil {
		return o, err
	}
	if o.Tags, err = paxMap(pax, PAXTags, key); err != nil {
		return o, err
	}
	return o, nil
}

// paxMap decodes the JSON object of strings recorded under k (nil when the
// record is absent or the object empty). key names the object in errors.
func paxMap(pax map[string]string, k, key string) (map[string]string, error) {
	s, ok := pax[k]
	if !ok {
		return nil, nil
	}
	dec := json.NewDecoder(strings.NewReader(s))
	var m map[string]string
	if err := dec.Decode(&m); err != nil || dec.More() {
		if err == nil {
			err = fmt.Errorf("trailing data")
		}
		return nil, fmt.Errorf("%w: the %s record of object %s is not a JSON object of strings: %w",
			ErrCorrupt, k, quoteShort(key), err)
	}
	if len(m) == 0 {
		return nil, nil
	}
	return m, nil
}
