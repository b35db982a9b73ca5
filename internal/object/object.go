// Package object holds the description of one object of an object store
// (an S3 object): its key, size and the metadata coffer keeps in archives
// and puts back on restore. Both the S3 connector and the archive format
// use it, so neither has to know the other.
package object

import "time"

// Metadata is what coffer keeps of an object beside its key and bytes. The
// archive's manifest stores it under an entry's "metadata" member, and the
// same values travel in the entry's PAX records (archive.ObjectPAX).
//
// Tags are the object's S3 tag set (GetObjectTagging), nil when it has none.
// S3 keeps them apart from the object: changing only the tags
// (PutObjectTagging) changes neither ETag nor Last-Modified.
type Metadata struct {
	ETag               string            `json:"etag,omitempty"`
	LastModified       time.Time         `json:"last_modified,omitzero"`
	ContentType        string            `json:"content_type,omitempty"`
	CacheControl       string            `json:"cache_control,omitempty"`
	ContentEncoding    string            `json:"content_encoding,omitempty"`
	ContentDisposition string            `json:"content_disposition,omitempty"`
	ContentLanguage    string            `json:"content_language,omitempty"`
	Expires            string            `json:"expires,omitempty"`
	UserMetadata       map[string]string `json:"user_metadata,omitempty"`
	Tags               map[string]string `json:"tags,omitempty"`
}

// Object is one object: its full key in the bucket, its size in bytes and
// its metadata (whose fields are promoted, so o.ContentType reads as one).
type Object struct {
	Key  string `json:"key"`
	Size int64  `json:"size"`
	Metadata
}
