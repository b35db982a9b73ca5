package s3

import (
	"maps"
	"net/url"
	"strings"
	"testing"
)

// The x-amz-tagging header is URL query encoding that any decoder reads
// back exactly ('+' is never used for a space), whatever the tags hold;
// tag sets too long for the header are left to PutObjectTagging.
func TestTagHeader(t *testing.T) {
	t.Parallel()
	for _, tags := range []map[string]string{
		{"a": "b"},
		{"with space": "x y", "eq=": "=a=b=", "amp&": "&c&", "plus+": "1+1", "pct%": "%20", "hash#": "?q", "été": "日本語", "empty": ""},
		{strings.Repeat("k", 128): strings.Repeat("v", 256)},
	} {
		h, later := tagHeader(tags)
		if later {
			t.Fatalf("%q: sent later, want in the header", tags)
		}
		if strings.Contains(h, "+") || strings.Contains(h, " ") {
			t.Errorf("header %q has a '+' or a space", h)
		}
		q, err := url.ParseQuery(h)
		if err != nil {
			t.Fatalf("header %q: %v", h, err)
		}
		got := map[string]string{}
		for k, v := range q {
			if len(v) != 1 {
				t.Fatalf("header %q: %d values for %q", h, len(v), k)
			}
			got[k] = v[0]
		}
		if !maps.Equal(got, tags) {
			t.Errorf("header %q decodes to %q, want %q", h, got, tags)
		}
		// %20 decodes to a space for a decoder that keeps '+' literal too.
		for k, v := range tags {
			ek, _ := url.PathUnescape(escapeTag(k))
			ev, _ := url.PathUnescape(escapeTag(v))
			if ek != k || ev != v {
				t.Errorf("path-unescaping %q=%q gives %q=%q", k, v, ek, ev)
			}
		}
	}
	if h, later := tagHeader(nil); h != "" || later {
		t.Errorf("no tags: %q, %v", h, later)
	}
	for name, tags := range map[string]map[string]string{
		"long key":   {strings.Repeat("日", 15): "v"},    // 45 bytes, 135 encoded
		"long value": {"k": strings.Repeat("é", 65)},    // 130 bytes, 390 encoded
		"long set":   tenTags(strings.Repeat("v", 250)), // 10 tags of > 250 bytes
		"key>128":    {strings.Repeat("k", 129): "v"},
	} {
		if h, later := tagHeader(tags); h != "" || !later {
			t.Errorf("%s: header %q, later %v; want PutObjectTagging", name, h, later)
		}
	}
}

func tenTags(v string) map[string]string {
	m := map[string]string{}
	for i := range 10 {
		m[string(rune('a'+i))] = v
	}
	return m
}
