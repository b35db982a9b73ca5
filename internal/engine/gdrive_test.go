package engine_test

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/coffer-backup/coffer/internal/connector/gdrive"
	"github.com/coffer-backup/coffer/internal/engine"
	"github.com/coffer-backup/coffer/internal/store"
	"github.com/coffer-backup/coffer/internal/testutil/drivetest"
	"github.com/coffer-backup/coffer/internal/testutil/s3test"
)

func driveEnv(t *testing.T) (*env, *drivetest.Server, *s3test.Server) {
	srv := s3test.Start(t)
	drive := drivetest.New(t)
	e := newEnv(t, srv, engine.Options{FetchConcurrency: 2})
	e.conns.SetDrive(gdrive.OAuth{
		ClientID: drive.ClientID, ClientSecret: drive.ClientSecret,
		AuthURL: drive.AuthURL(), TokenURL: drive.TokenURL(), APIURL: drive.APIURL(),
	}, "")
	return e, drive, srv
}

func driveConn(e *env, drive *drivetest.Server, name string) (int64, string) {
	at, rt := drive.Authorize()
	folder := drive.AddFolder(drivetest.RootID, name)
	return e.conn(name, store.TypeGoogleDrive, gdrive.Config{AccessToken: at, RefreshToken: rt, FolderID: folder, Expiry: time.Now().Add(time.Hour)}), rt
}

// TestGoogleDriveDestination backs up to Drive (resumable upload in chunks),
// pauses and resumes in the middle, restores from Drive identical, and
// checks the archive and its sidecar are in the connection's folder.
func TestGoogleDriveDestination(t *testing.T) {
	e, drive, srv := driveEnv(t)
	src, proxy, corpus, total := slowSource(t, e, srv, 120, 256<<10, 10*time.Millisecond)
	dst, _ := driveConn(e, drive, "drive-backups")
	id := startBackup(t, e, src, dst, "")
	waitProgress(t, e, id, 40)
	paused := pauseHeld(t, e, proxy, id)
	if err := e.eng.ResumeBackup(context.Background(), actor, id); err != nil {
		t.Fatal(err)
	}
	op := e.waitBackup(id, store.StatusCompleted, 2*time.Minute)
	if op.Progress.BytesRead != total {
		t.Fatalf("bytes_read %d, want %d (paused at %d)", op.Progress.BytesRead, total, paused.Progress.BytesRead)
	}
	names := map[string]bool{}
	for _, f := range drive.Files() {
		names[f.Name] = true
	}
	base := op.ArchivePath[strings.LastIndex(op.ArchivePath, "/")+1:]
	if !names[base] || !names[base+".sha256"] {
		t.Fatalf("Drive holds %v, want %s and its .sha256", names, base)
	}
	target := srv.NewBucket(t)
	rid := startRestore(t, e, id, e.s3Conn("tgt", target), `{}`)
	e.waitRestore(rid, store.StatusCompleted, time.Minute)
	checkRestored(t, srv.Client(t), target, "", corpus)
}

// TestGoogleDriveRevokedMidUpload revokes the refresh token while a backup
// uploads: the backup fails with a sentence telling the user to reconnect,
// and the connection is marked as needing re-authentication.
func TestGoogleDriveRevokedMidUpload(t *testing.T) {
	e, drive, srv := driveEnv(t)
	src, _, _, _ := slowSource(t, e, srv, 120, 256<<10, 10*time.Millisecond)
	dst, rt := driveConn(e, drive, "revoked")
	id := startBackup(t, e, src, dst, "")
	waitProgress(t, e, id, 10)
	drive.RevokeRefreshToken(rt)
	drive.ExpireAccessTokens()
	op := e.waitBackup(id, store.StatusFailed, time.Minute)
	if !strings.Contains(op.ErrorMessage, "reconnect") {
		t.Fatalf("error message %q does not tell the user to reconnect", op.ErrorMessage)
	}
	c, err := e.st.GetConnection(context.Background(), dst)
	if err != nil {
		t.Fatal(err)
	}
	if !c.NeedsReauth {
		t.Fatal("the connection is not marked as needing re-authentication")
	}
	want := fmt.Sprintf("connection %d needs reauth; backup %d ended", dst, id)
	if said := e.told.waitFor(want); said != want {
		t.Fatalf("the notifier was told %q, want %q", said, want)
	}
}

// TestGoogleDriveQuotaFull fails a backup early when the Drive quota clearly cannot hold it.
func TestGoogleDriveQuotaFull(t *testing.T) {
	e, drive, srv := driveEnv(t)
	src, _, _, _ := slowSource(t, e, srv, 20, 256<<10, 0)
	dst, _ := driveConn(e, drive, "full")
	drive.SetQuota(10<<20, 10<<20-1000)
	id := startBackup(t, e, src, dst, "")
	op := e.waitBackup(id, store.StatusFailed, time.Minute)
	if !strings.Contains(op.ErrorMessage, "cannot fit") {
		t.Fatalf("error message %q", op.ErrorMessage)
	}
	want := fmt.Sprintf("backup %d short of space: %s; backup %d ended", id, op.ErrorMessage, id)
	if said := e.told.waitFor(want); said != want {
		t.Fatalf("the notifier was told %q, want %q", said, want)
	}
}
