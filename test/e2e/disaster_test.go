//go:build e2e

package e2e

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo"

	"github.com/coffer-backup/coffer/internal/testutil/mongotest"
	"github.com/coffer-backup/coffer/internal/testutil/s3test"
)

// seedDocs fills two collections of a new database with n documents each.
func seedDocs(t *testing.T, cl *mongo.Client, db string, n int) {
	t.Helper()
	for _, coll := range []string{"people", "orders"} {
		docs := make([]any, 0, n)
		for i := range n {
			docs = append(docs, bson.D{{Key: "_id", Value: int64(i)}, {Key: "name", Value: fmt.Sprintf("%s-%d", coll, i)},
				{Key: "tags", Value: bson.A{"a", i % 7}}, {Key: "score", Value: float64(i) / 3}})
		}
		if _, err := cl.Database(db).Collection(coll).InsertMany(context.Background(), docs); err != nil {
			t.Fatal(err)
		}
	}
}

// sameDatabase checks that database got holds the documents of want, byte for byte.
func sameDatabase(t *testing.T, cl *mongo.Client, want, got string) {
	t.Helper()
	for _, coll := range []string{"people", "orders"} {
		a, b := allDocs(t, cl, want, coll), allDocs(t, cl, got, coll)
		if len(a) != len(b) || len(a) == 0 {
			t.Fatalf("%s: %d documents restored, want %d", coll, len(b), len(a))
		}
		for i := range a {
			if !bytes.Equal(a[i], b[i]) {
				t.Fatalf("%s: document %d differs after restore", coll, i)
			}
		}
	}
}

type scanResult struct {
	Found        int     `json:"found"`
	Imported     int     `json:"imported"`
	AlreadyKnown int     `json:"already_known"`
	BackupIDs    []int64 `json:"backup_ids"`
	Problems     []struct {
		Archive, Message string
	} `json:"problems"`
}

func (c *client) scan(id int64) scanResult {
	c.t.Helper()
	var res scanResult
	if code := c.do("POST", fmt.Sprintf("/api/v1/connections/%d/scan", id), nil, &res); code != 200 {
		c.t.Fatalf("scan connection %d: %d %+v", id, code, res)
	}
	return res
}

// TestDisasterRecovery: three backups (two of a bucket, one of a
// database) to S3 and to a local directory; then the server and its data
// directory are gone. A new coffer with an empty catalog scans the two
// destinations, lists the three backups, restores each identical and
// verifies it; a second scan adds nothing.
func TestDisasterRecovery(t *testing.T) {
	t.Parallel()
	srv := s3test.Start(t)
	mdb := mongotest.Start(t)
	cl := mdb.Client(t)
	bucket, objects := fill(t, srv, 40, 30_000)
	db := mdb.NewDatabase(t)
	seedDocs(t, cl, db, 600)
	archives := srv.NewBucket(t)
	localDir := t.TempDir() // the archives' disk outlives the server's

	old := newNode(t)
	old.roots = localDir
	p := old.start(t, "serve")
	c := p.login(t)
	s3src := c.createConn("photos", "s3", s3creds(srv, srv.Endpoint, bucket))
	msrc := c.createConn("shop-db", "mongodb", map[string]any{"uri": mdb.URI, "database": db})
	local := c.createConn("nas", "local", map[string]any{"path": localDir + "/coffer"})
	offsite := c.createConn("offsite", "s3", s3creds(srv, srv.Endpoint, archives))
	for _, b := range [][2]int64{{s3src, local}, {msrc, offsite}, {s3src, offsite}} {
		c.wait("backups", c.startBackup(b[0], b[1]), "completed", 3*time.Minute)
	}
	t.Logf("before: 3 backups completed (photos→nas, shop-db→offsite, photos→offsite)")
	p.term(30 * time.Second)
	if err := os.RemoveAll(old.dataDir); err != nil {
		t.Fatal(err)
	}
	t.Logf("the server stopped and its data directory %s was deleted", old.dataDir)

	fresh := newNode(t)
	fresh.roots = localDir
	p2 := fresh.start(t, "serve")
	c2 := p2.login(t)
	nas := c2.createConn("nas", "local", map[string]any{"path": localDir + "/coffer"})
	off := c2.createConn("offsite", "s3", s3creds(srv, srv.Endpoint, archives))
	// The local destination from the command line, beside the running
	// server (same catalog), the S3 one through the API.
	start := time.Now()
	out, err := runCLI(t, []string{"COFFER_DATA_DIR=" + fresh.dataDir, "COFFER_SECRET_KEY=" + fresh.key, "COFFER_LOCAL_ROOTS=" + fresh.roots},
		"archives", "import", "--destination", "nas")
	if err != nil || !strings.Contains(out, "1 archives found: 1 imported, 0 already in the catalog, 0 not imported.") {
		t.Fatalf("coffer archives import --destination nas: %v\n%s", err, out)
	}
	t.Logf("coffer archives import --destination nas (%s):\n%s", time.Since(start).Round(time.Millisecond), out)
	start = time.Now()
	res := c2.scan(off)
	if res.Found != 2 || res.Imported != 2 || res.AlreadyKnown != 0 || len(res.Problems) != 0 {
		t.Fatalf("scan of connection %d: %+v", off, res)
	}
	t.Logf("POST /connections/%d/scan: found %d, imported %d, already known %d (%s)", off, res.Found, res.Imported, res.AlreadyKnown, time.Since(start).Round(time.Millisecond))
	var list struct {
		Items []struct {
			ID       int64 `json:"id"`
			Imported bool  `json:"imported"`
			Source   struct {
				Type, Name string
			} `json:"source"`
			ArchivePath string `json:"archive_path"`
		} `json:"items"`
		Total int `json:"total"`
	}
	c2.do("GET", "/api/v1/backups", nil, &list)
	if list.Total != 3 {
		t.Fatalf("the new catalog lists %d backups, want 3", list.Total)
	}
	for _, b := range list.Items {
		if !b.Imported {
			t.Fatalf("backup %d is not marked imported", b.ID)
		}
		t.Logf("listed: backup %d, imported, %s %q, %s", b.ID, b.Source.Type, b.Source.Name, b.ArchivePath)
		switch b.Source.Type {
		case "s3":
			target := srv.NewBucket(t)
			tgt := c2.createConn(fmt.Sprintf("restore-%d", b.ID), "s3", s3creds(srv, srv.Endpoint, target))
			c2.wait("restores", c2.startRestore(b.ID, tgt, map[string]any{}), "completed", 3*time.Minute)
			identical(t, srv, target, "", objects)
			t.Logf("backup %d restored into a new bucket: %d objects identical", b.ID, len(objects))
		case "mongodb":
			tgt := c2.createConn(fmt.Sprintf("restore-%d", b.ID), "mongodb", map[string]any{"uri": mdb.URI})
			into := mdb.NewDatabase(t)
			c2.wait("restores", c2.startRestore(b.ID, tgt, map[string]any{"database": into}), "completed", 3*time.Minute)
			sameDatabase(t, cl, db, into)
			t.Logf("backup %d restored into database %s: 2 collections, 1,200 documents identical", b.ID, into)
		default:
			t.Fatalf("backup %d has source %+v", b.ID, b.Source)
		}
		var v struct {
			ID     int64  `json:"id"`
			Status string `json:"status"`
		}
		if code := c2.do("POST", fmt.Sprintf("/api/v1/backups/%d/verify", b.ID), nil, &v); code != 202 {
			t.Fatalf("verify backup %d: %d", b.ID, code)
		}
		if got := c2.wait("verifications", v.ID, "completed", 2*time.Minute); got.Status != "completed" {
			t.Fatalf("verification %+v", got)
		}
	}
	for _, id := range []int64{nas, off} {
		res := c2.scan(id)
		if res.Imported != 0 || res.AlreadyKnown != res.Found {
			t.Fatalf("second scan of %d: %+v", id, res)
		}
		t.Logf("second scan of connection %d: found %d, imported 0, already known %d", id, res.Found, res.AlreadyKnown)
	}
	c2.do("GET", "/api/v1/backups", nil, &list)
	if list.Total != 3 {
		t.Fatalf("after the second scan the catalog lists %d backups", list.Total)
	}
}

// runCLI runs `coffer args...` with env and returns its output and error.
func runCLI(t *testing.T, env []string, args ...string) (string, error) {
	t.Helper()
	cmd := exec.Command(binary, args...)
	cmd.Env = append(os.Environ(), env...)
	out, err := cmd.CombinedOutput()
	return string(out), err
}

// TestOfflineRestore restores an S3 archive (from a local file), a MongoDB
// archive (from S3) and an encrypted archive with `coffer restore
// --archive`, with no coffer server running and no catalog, identical; it
// lists and verifies them with `coffer archive`, and a damaged copy is
// refused before anything is written.
func TestOfflineRestore(t *testing.T) {
	t.Parallel()
	srv := s3test.Start(t)
	mdb := mongotest.Start(t)
	cl := mdb.Client(t)
	bucket, objects := fill(t, srv, 25, 20_000)
	db := mdb.NewDatabase(t)
	seedDocs(t, cl, db, 400)
	archives := srv.NewBucket(t)
	localDir := t.TempDir()

	n := newNode(t)
	n.roots = localDir
	p := n.start(t, "serve")
	c := p.login(t)
	s3src := c.createConn("photos", "s3", s3creds(srv, srv.Endpoint, bucket))
	msrc := c.createConn("shop-db", "mongodb", map[string]any{"uri": mdb.URI, "database": db})
	local := c.createConn("nas", "local", map[string]any{"path": localDir})
	offsite := c.createConn("offsite", "s3", s3creds(srv, srv.Endpoint, archives))
	var key struct {
		ID       int64  `json:"id"`
		Identity string `json:"identity"`
	}
	if code := c.do("POST", "/api/v1/encryption-keys", map[string]any{"name": "offline", "type": "x25519", "generate": true}, &key); code != 201 || key.Identity == "" {
		t.Fatalf("create key: %d %+v", code, key)
	}
	plain := c.wait("backups", c.startBackup(s3src, local), "completed", 3*time.Minute)
	mongo := c.wait("backups", c.startBackup(msrc, offsite), "completed", 3*time.Minute)
	var enc operation
	if code := c.do("POST", "/api/v1/backups", map[string]any{"source_connection_id": s3src, "destination_connection_id": local,
		"options": map[string]any{"encryption_key_id": key.ID, "compression": "zstd"}}, &enc); code != 202 {
		t.Fatalf("start encrypted backup: %d", code)
	}
	enc = c.wait("backups", enc.ID, "completed", 3*time.Minute)
	p.term(30 * time.Second) // nothing of coffer runs from here on

	dir := t.TempDir()
	write := func(name string, v any) string {
		data, _ := json.Marshal(v)
		path := filepath.Join(dir, name)
		if err := os.WriteFile(path, data, 0o600); err != nil {
			t.Fatal(err)
		}
		return path
	}
	awsEnv := []string{"AWS_ACCESS_KEY_ID=" + srv.AccessKey, "AWS_SECRET_ACCESS_KEY=" + srv.SecretKey,
		"AWS_REGION=" + srv.Region, "AWS_ENDPOINT_URL_S3=" + srv.Endpoint}
	plainPath := filepath.Join(localDir, plain.ArchivePath)
	mongoURL := "s3://" + archives + "/" + mongo.ArchivePath

	// List and verify, locally and in S3.
	out, err := runCLI(t, nil, "archive", "verify", plainPath)
	if err != nil || !strings.Contains(out, "Archive verified: 25 entries") {
		t.Fatalf("archive verify: %v\n%s", err, out)
	}
	out, err = runCLI(t, awsEnv, "archive", "ls", mongoURL)
	if err != nil || !strings.Contains(out, "mongodb/"+db+"/people.bson  (400 documents)") {
		t.Fatalf("archive ls: %v\n%s", err, out)
	}
	t.Logf("coffer archive ls %s:\n%s", mongoURL, out)

	// Restore the bucket's archive from its file.
	target := srv.NewBucket(t)
	out, err = runCLI(t, nil, "restore", "--archive", plainPath,
		"--target", write("s3.json", map[string]any{"type": "s3", "credentials": s3creds(srv, srv.Endpoint, target), "config": map[string]any{}}))
	if err != nil {
		t.Fatalf("coffer restore --archive %s: %v\n%s", plainPath, err, out)
	}
	identical(t, srv, target, "", objects)
	t.Logf("coffer restore --archive %s:\n%s", plainPath, out)

	// Restore the database's archive from S3, into another database.
	into := mdb.NewDatabase(t)
	out, err = runCLI(t, awsEnv, "restore", "--archive", mongoURL,
		"--target", write("mongo.json", map[string]any{"type": "mongodb", "credentials": map[string]any{"uri": mdb.URI}, "config": map[string]any{"database": into}}))
	if err != nil {
		t.Fatalf("coffer restore --archive %s: %v\n%s", mongoURL, err, out)
	}
	sameDatabase(t, cl, db, into)

	// The encrypted archive needs its identity.
	encPath := filepath.Join(localDir, enc.ArchivePath)
	encTarget := srv.NewBucket(t)
	targetFile := write("enc.json", map[string]any{"type": "s3", "credentials": s3creds(srv, srv.Endpoint, encTarget), "config": map[string]any{}})
	if out, err := runCLI(t, nil, "restore", "--archive", encPath, "--target", targetFile); err == nil || !strings.Contains(out, "--identity") {
		t.Fatalf("restore of an encrypted archive without identity: %v\n%s", err, out)
	}
	idFile := filepath.Join(dir, "key.txt")
	if err := os.WriteFile(idFile, []byte(key.Identity+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if out, err := runCLI(t, nil, "restore", "--archive", encPath, "--target", targetFile, "--identity", idFile); err != nil {
		t.Fatalf("restore of the encrypted archive: %v\n%s", err, out)
	}
	identical(t, srv, encTarget, "", objects)

	// A damaged copy is refused before anything is written.
	data, err := os.ReadFile(plainPath)
	if err != nil {
		t.Fatal(err)
	}
	data[len(data)/2] ^= 0x10
	bad := filepath.Join(dir, filepath.Base(plainPath))
	_ = os.WriteFile(bad, data, 0o600)
	sidecar, _ := os.ReadFile(plainPath + ".sha256")
	_ = os.WriteFile(bad+".sha256", sidecar, 0o600)
	if out, err := runCLI(t, nil, "archive", "verify", bad); err == nil || !strings.Contains(out, "failed verification") {
		t.Fatalf("verify of a damaged archive: %v\n%s", err, out)
	}
	empty := srv.NewBucket(t)
	out, err = runCLI(t, nil, "restore", "--archive", bad,
		"--target", write("empty.json", map[string]any{"type": "s3", "credentials": s3creds(srv, srv.Endpoint, empty), "config": map[string]any{}}))
	if err == nil || !strings.Contains(out, "nothing was restored") {
		t.Fatalf("restore of a damaged archive: %v\n%s", err, out)
	}
	identical(t, srv, empty, "", corpus{})
}
