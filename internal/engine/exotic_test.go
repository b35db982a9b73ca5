package engine_test

import (
	"strings"
	"testing"
	"time"

	"github.com/coffer-backup/coffer/internal/engine"
	"github.com/coffer-backup/coffer/internal/store"
	"github.com/coffer-backup/coffer/internal/testutil/s3test"
)

// TestExoticKeys backs up keys no file system can hold as they are (kept
// verbatim by gofakes3, which versitygw cannot do): they go under
// objects-escaped/ in the archive and come back under their exact keys.
func TestExoticKeys(t *testing.T) {
	srv := s3test.StartFake(t)
	e := newEnv(t, srv, engine.Options{})
	cl := srv.Client(t)
	bucket := srv.NewBucket(t)
	corpus := []object{
		{key: "a/../b", data: []byte("dot-dot segment")},
		{key: "./x", data: []byte("dot segment")},
		{key: "/lead", data: []byte("leading slash")},
		{key: "a//b", data: []byte("empty segment")},
		{key: "trail/", data: []byte("a directory marker with content")},
		{key: "..", data: []byte("just dot-dot")},
		{key: strings.Repeat("λ", 500), data: []byte("a 1,000-byte single segment")},
		{key: "plain/ok.txt", data: []byte("plain"), meta: map[string]string{"k": "v"}}, // HTTP metadata is checked on versitygw; gofakes3 drops some of it
	}
	for _, o := range corpus {
		put(t, cl, bucket, o)
	}
	id := startBackup(t, e, e.s3Conn("fake-src", bucket), e.localConn("exotic"), "")
	e.waitBackup(id, store.StatusCompleted, time.Minute)
	logs, _ := e.st.ListLogs(t.Context(), store.KindBackup, id, 0, 1000)
	escaped := 0
	for _, l := range logs {
		if strings.Contains(l.Message, "objects-escaped/") {
			escaped++
		}
	}
	if escaped != 7 {
		t.Fatalf("%d keys were logged as escaped, want 7", escaped)
	}
	target := srv.NewBucket(t)
	rid := startRestore(t, e, id, e.s3Conn("fake-tgt", target), `{"prefix":"r/"}`)
	e.waitRestore(rid, store.StatusCompleted, time.Minute)
	checkRestored(t, cl, target, "r/", corpus)
}
