package engine_test

import (
	"bytes"
	"context"
	"errors"
	"io"
	"maps"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	awss3 "github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/s3/types"

	"github.com/coffer-backup/coffer/internal/archive"
	"github.com/coffer-backup/coffer/internal/engine"
	"github.com/coffer-backup/coffer/internal/store"
	"github.com/coffer-backup/coffer/internal/testutil/s3test"
)

// tagged is an object of TestTagsSurviveBackupAndRestore: its bytes, user
// metadata and tags.
type tagged struct {
	key  string
	data []byte
	meta map[string]string
	tags map[string]string
}

// TestTagsSurviveBackupAndRestore backs up a bucket whose objects carry S3
// tags (set with the object, or later by PutObjectTagging) and restores it
// into a new bucket: every object comes back with the same tags and user
// metadata, and an untagged object stays untagged. The archive keeps the
// tags in its entries' PAX records and in the manifest.
func TestTagsSurviveBackupAndRestore(t *testing.T) {
	srv := s3test.Start(t)
	e := newEnv(t, srv, engine.Options{})
	cl := srv.Client(t)
	ctx := context.Background()
	srcBucket := srv.NewBucket(t)

	corpus := []tagged{
		{key: "docs/readme.txt", data: []byte("hello tags"),
			meta: map[string]string{"owner": "ops", "note": "ünïcode ok"},
			tags: map[string]string{"team": "data ops", "a=b": "c=d", "path": "s3://x/y", "été": "日本語 テキスト", "plus+": "1+1", "empty": ""}},
		{key: "plain/untagged.bin", data: randBytes(t, 3000), meta: map[string]string{"kind": "no tags"}},
		{key: "later/tagged afterwards.txt", data: []byte("tags put after the object"),
			tags: map[string]string{"added": "by PutObjectTagging", "project": "coffer"}},
		// A key S3 and versitygw accept in PutObjectTagging but that versitygw
		// refuses in the x-amz-tagging header: restored by PutObjectTagging.
		{key: "long/unicode-tag", data: []byte("long key"),
			tags: map[string]string{strings.Repeat("鍵", 20): "値", "short": "v"}},
		// Above the target's 5 MiB part size: restored by a multipart upload.
		{key: "big/twelve-mib.bin", data: randBytes(t, 12<<20), meta: map[string]string{"size": "12m"},
			tags: map[string]string{"size class": "large", "tier": "cold"}},
	}
	for _, o := range corpus {
		in := &awss3.PutObjectInput{Bucket: aws.String(srcBucket), Key: aws.String(o.key), Body: bytes.NewReader(o.data), Metadata: o.meta}
		if _, err := cl.PutObject(ctx, in); err != nil {
			t.Fatalf("put %q: %v", o.key, err)
		}
		if len(o.tags) > 0 {
			tagObject(t, cl, srcBucket, o.key, o.tags)
		}
	}

	id := startBackup(t, e, e.s3Conn("tagged source", srcBucket), e.localConn("tag-archives"), "")
	op := e.waitBackup(id, store.StatusCompleted, 2*time.Minute)
	checkArchiveTags(t, filepath.Join(e.local, "tag-archives", op.ArchivePath), corpus)

	target := srv.NewBucket(t)
	rid := startRestore(t, e, id, e.s3Conn("tag-restore", target), `{}`)
	e.waitRestore(rid, store.StatusCompleted, 2*time.Minute)
	for _, o := range corpus {
		out, err := cl.GetObject(ctx, &awss3.GetObjectInput{Bucket: aws.String(target), Key: aws.String(o.key)})
		if err != nil {
			t.Errorf("restored %q: %v", o.key, err)
			continue
		}
		got, err := io.ReadAll(out.Body)
		out.Body.Close()
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(got, o.data) {
			t.Errorf("restored %q: bytes differ", o.key)
		}
		if !sameMap(out.Metadata, o.meta) {
			t.Errorf("restored %q: user metadata %q, want %q", o.key, out.Metadata, o.meta)
		}
		if tags := readTags(t, cl, target, o.key); !sameMap(tags, o.tags) {
			t.Errorf("restored %q: tags %q, want %q", o.key, tags, o.tags)
		}
		if n := aws.ToInt32(out.TagCount); int(n) != len(o.tags) {
			t.Errorf("restored %q: x-amz-tagging-count %d, want %d", o.key, n, len(o.tags))
		}
	}
}

// checkArchiveTags reads the local archive at path: each object's entry
// carries its tags and user metadata in its PAX records, and its manifest
// entry in "metadata".
func checkArchiveTags(t *testing.T, path string, corpus []tagged) {
	t.Helper()
	want := map[string]tagged{}
	for _, o := range corpus {
		want[o.key] = o
	}
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	r, err := archive.NewReader(f)
	if err != nil {
		t.Fatal(err)
	}
	entries, inManifest := 0, 0
	for {
		ent, err := r.Next()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		if ent.Name == archive.ManifestName {
			m, err := archive.ReadManifest(r)
			if err != nil {
				t.Fatal(err)
			}
			for _, me := range m.Entries {
				o, ok := want[me.Key]
				if !ok {
					continue
				}
				inManifest++
				if me.Metadata == nil || !sameMap(me.Metadata.Tags, o.tags) || !sameMap(me.Metadata.UserMetadata, o.meta) {
					t.Errorf("manifest entry %q: metadata %+v, want tags %q and user metadata %q", me.Key, me.Metadata, o.tags, o.meta)
				}
			}
			continue
		}
		obj, err := ent.Object()
		if err != nil {
			t.Fatalf("entry %q: %v", ent.Name, err)
		}
		o, ok := want[obj.Key]
		if !ok {
			t.Fatalf("archive entry %q holds unknown key %q", ent.Name, obj.Key)
		}
		entries++
		if !sameMap(obj.Tags, o.tags) || !sameMap(obj.UserMetadata, o.meta) {
			t.Errorf("archive entry %q: tags %q, user metadata %q; want %q, %q", ent.Name, obj.Tags, obj.UserMetadata, o.tags, o.meta)
		}
		if _, hasRecord := ent.PAXRecords[archive.PAXTags]; hasRecord != (len(o.tags) > 0) {
			t.Errorf("archive entry %q: %s record present = %v", ent.Name, archive.PAXTags, hasRecord)
		}
	}
	if entries != len(corpus) || inManifest != len(corpus) {
		t.Fatalf("archive has %d of %d objects, manifest %d", entries, len(corpus), inManifest)
	}
}

func tagObject(t *testing.T, cl *awss3.Client, bucket, key string, tags map[string]string) {
	t.Helper()
	var set []types.Tag
	for k, v := range tags {
		set = append(set, types.Tag{Key: aws.String(k), Value: aws.String(v)})
	}
	if _, err := cl.PutObjectTagging(context.Background(), &awss3.PutObjectTaggingInput{
		Bucket: aws.String(bucket), Key: aws.String(key), Tagging: &types.Tagging{TagSet: set},
	}); err != nil {
		t.Fatalf("tag %q: %v", key, err)
	}
}

func readTags(t *testing.T, cl *awss3.Client, bucket, key string) map[string]string {
	t.Helper()
	out, err := cl.GetObjectTagging(context.Background(), &awss3.GetObjectTaggingInput{Bucket: aws.String(bucket), Key: aws.String(key)})
	if err != nil {
		t.Fatalf("tags of %q: %v", key, err)
	}
	tags := map[string]string{}
	for _, tg := range out.TagSet {
		tags[aws.ToString(tg.Key)] = aws.ToString(tg.Value)
	}
	return tags
}

// sameMap compares maps treating nil and empty alike.
func sameMap(a, b map[string]string) bool { return len(a) == len(b) && maps.Equal(a, b) }
