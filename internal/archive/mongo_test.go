package archive

import (
	"errors"
	"strings"
	"testing"
)

func TestCollectionEntryNames(t *testing.T) {
	t.Parallel()
	tests := []struct {
		db, coll, bson string
	}{
		{"shop", "orders", "mongodb/shop/orders.bson"},
		{"shop", "a/b", "mongodb/shop/a%2Fb.bson"},
		{"shop", "50%", "mongodb/shop/50%25.bson"},
		{"shop", "..", "mongodb/shop/...bson"},
		{"shop", "system.views", "mongodb/shop/system.views.bson"},
		{"données", "ünï côdé", "mongodb/données/%C3%BCn%C3%AF%20c%C3%B4d%C3%A9.bson"},
	}
	for _, tt := range tests {
		bson, meta, err := CollectionEntryNames(tt.db, tt.coll)
		if err != nil || bson != tt.bson || meta != strings.TrimSuffix(tt.bson, BSONSuffix)+MetadataSuffix {
			t.Errorf("CollectionEntryNames(%q, %q) = %q, %q, %v; want %q", tt.db, tt.coll, bson, meta, err, tt.bson)
			continue
		}
		for i, name := range []string{bson, meta} {
			db, coll, isMeta, ok := ParseCollectionEntryName(name)
			if !ok || db != tt.db || coll != tt.coll || isMeta != (i == 1) {
				t.Errorf("ParseCollectionEntryName(%q) = %q, %q, %v, %v", name, db, coll, isMeta, ok)
			}
		}
	}
	for _, bad := range [][2]string{{"", "c"}, {"d", ""}, {"a/b", "c"}, {"..", "c"}, {"d", strings.Repeat("x", 250)}} {
		if _, _, err := CollectionEntryNames(bad[0], bad[1]); !errors.Is(err, ErrUnsafeEntry) {
			t.Errorf("CollectionEntryNames(%q, %q) = %v, want ErrUnsafeEntry", bad[0], bad[1], err)
		}
	}
	for _, name := range []string{"objects/x.bson", "mongodb/x.bson", "mongodb/db/a/b.bson", "mongodb/db/c.json",
		"mongodb//c.bson", "mongodb/db/%zz.bson", "mongodb/db/.bson"} {
		if _, _, _, ok := ParseCollectionEntryName(name); ok {
			t.Errorf("ParseCollectionEntryName(%q) accepted it", name)
		}
	}
}
