package archive

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"maps"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/coffer-backup/coffer/internal/object"
)

// tagSample has tags with the characters that must survive exactly: the
// URL query separators, quotes, a newline, non-ASCII text, an empty value.
func tagSample() map[string]string {
	return map[string]string{
		"team":        "data ops",
		"a=b":         "c=d&e=f",
		"amp&":        "%20+plus",
		"quote\"":     `back\slash`,
		"été":         "日本語 テキスト",
		"empty":       "",
		"line\nbreak": "tab\there",
	}
}

// An object's tags travel in one PAX record as a JSON object, beside the
// user metadata, and come back exactly; no tags, no record.
func TestObjectPAXTags(t *testing.T) {
	t.Parallel()
	mod := time.Date(2026, 5, 6, 7, 8, 9, 123, time.UTC)
	o := object.Object{Key: "dir/tagged ✓.txt", Metadata: object.Metadata{
		ETag: "abc", LastModified: mod, ContentType: "text/plain",
		UserMetadata: map[string]string{"owner": "ops"},
		Tags:         tagSample(),
	}}
	pax := ObjectPAX(o)
	rec, ok := pax[PAXTags]
	if !ok {
		t.Fatalf("no %s record in %v", PAXTags, pax)
	}
	var decoded map[string]string
	if err := json.Unmarshal([]byte(rec), &decoded); err != nil || !maps.Equal(decoded, o.Tags) {
		t.Fatalf("%s record %q: %v", PAXTags, rec, err)
	}
	if PAXTags != "SCHILY.xattr.user.coffer.tags" {
		t.Errorf("PAXTags = %q", PAXTags)
	}
	got, err := ObjectFromPAX(pax)
	if err != nil {
		t.Fatal(err)
	}
	if !maps.Equal(got.Tags, o.Tags) || !maps.Equal(got.UserMetadata, o.UserMetadata) || got.Key != o.Key ||
		!got.LastModified.Equal(mod) || got.ETag != o.ETag || got.ContentType != o.ContentType {
		t.Fatalf("round trip:\n got %+v\nwant %+v", got, o)
	}

	for _, tags := range []map[string]string{nil, {}} {
		untagged := o
		untagged.Tags = tags
		pax := ObjectPAX(untagged)
		if _, ok := pax[PAXTags]; ok {
			t.Errorf("tags %#v: a %s record was written", tags, PAXTags)
		}
		got, err := ObjectFromPAX(pax)
		if err != nil || got.Tags != nil {
			t.Errorf("tags %#v: read back %#v, %v", tags, got.Tags, err)
		}
	}
	if got, err := ObjectFromPAX(map[string]string{PAXKey: "k", PAXTags: "{}"}); err != nil || got.Tags != nil {
		t.Errorf("an empty tags record: %#v, %v", got.Tags, err)
	}

	// The manifest's "metadata" member carries them too.
	b, err := json.Marshal(o.Metadata)
	if err != nil {
		t.Fatal(err)
	}
	var back object.Metadata
	if err := json.Unmarshal(b, &back); err != nil || !maps.Equal(back.Tags, o.Tags) || !strings.Contains(string(b), `"tags":{`) {
		t.Errorf("metadata JSON %s: %v", b, err)
	}
	if b, _ := json.Marshal(object.Metadata{}); strings.Contains(string(b), "tags") {
		t.Errorf("untagged metadata JSON %s names tags", b)
	}
}

// A malformed tags record is ErrCorrupt, naming the record and the object.
func TestObjectFromPAXBadTags(t *testing.T) {
	t.Parallel()
	for name, rec := range map[string]string{
		"array":    `["a"]`,
		"number":   `{"a":1}`,
		"trailing": `{"a":"b"} {}`,
		"not json": `a=b`,
		"cut":      `{"a":"b"`,
	} {
		_, err := ObjectFromPAX(map[string]string{PAXKey: "the/key", PAXTags: rec})
		if !errors.Is(err, ErrCorrupt) || !strings.Contains(err.Error(), PAXTags) || !strings.Contains(err.Error(), "the/key") {
			t.Errorf("%s: %v, want ErrCorrupt naming %s and the key", name, err, PAXTags)
		}
	}
}

// Tags written in an archive's entry come back from the Reader (both
// compressions), and GNU tar reads the archive without a warning.
func TestArchiveKeepsTags(t *testing.T) {
	t.Parallel()
	objs := []object.Object{
		{Key: "tagged", Metadata: object.Metadata{Tags: tagSample(), UserMetadata: map[string]string{"u": "v"}}},
		{Key: "plain"},
	}
	var entries []testEntry
	for _, o := range objs {
		entries = append(entries, testEntry{name: "objects/" + o.Key, body: []byte("body of " + o.Key), pax: ObjectPAX(o)})
	}
	for _, c := range compressions {
		data, _ := writeAll(t, c, entries, []byte(`{"format_version":1}`+"\n"))
		read, _, err := readAll(data)
		if err != nil {
			t.Fatalf("%s: %v", c, err)
		}
		found := 0
		for _, e := range read {
			if !strings.HasPrefix(e.Name, "objects/") {
				continue
			}
			got, err := e.Object()
			if err != nil {
				t.Fatalf("%s: %s: %v", c, e.Name, err)
			}
			for _, o := range objs {
				if o.Key == got.Key {
					found++
					if !maps.Equal(got.Tags, o.Tags) || (o.Tags == nil) != (got.Tags == nil) || !maps.Equal(got.UserMetadata, o.UserMetadata) {
						t.Errorf("%s: %s: tags %q, user metadata %q; want %q, %q", c, o.Key, got.Tags, got.UserMetadata, o.Tags, o.UserMetadata)
					}
				}
			}
		}
		if found != len(objs) {
			t.Fatalf("%s: read %d of %d objects", c, found, len(objs))
		}

		if c != Gzip {
			continue
		}
		tarBin := needTool(t, "tar")
		dir := t.TempDir()
		if err := os.WriteFile(filepath.Join(dir, "a.tar.gz"), data, 0o600); err != nil {
			t.Fatal(err)
		}
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		cmd := exec.CommandContext(ctx, tarBin, "-tzf", "a.tar.gz")
		cmd.Dir = dir
		var stderr bytes.Buffer
		cmd.Stderr = &stderr
		if out, err := cmd.Output(); err != nil || stderr.Len() > 0 || !strings.Contains(string(out), "objects/tagged") {
			t.Errorf("tar -tzf: %v, stderr %q, listed %q", err, stderr.String(), out)
		}
	}
}
