package app

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/url"
	"os"
	"path"
	"path/filepath"
	"strings"
	"time"

	"filippo.io/age"

	"github.com/coffer-backup/coffer/internal/archive"
	"github.com/coffer-backup/coffer/internal/archive/agecrypt"
	"github.com/coffer-backup/coffer/internal/bytesize"
	"github.com/coffer-backup/coffer/internal/config"
	"github.com/coffer-backup/coffer/internal/connection"
	"github.com/coffer-backup/coffer/internal/connector"
	"github.com/coffer-backup/coffer/internal/connector/registry"
	"github.com/coffer-backup/coffer/internal/encryption"
	"github.com/coffer-backup/coffer/internal/engine"
	"github.com/coffer-backup/coffer/internal/store"
	"github.com/coffer-backup/coffer/internal/verify"
)

// The commands for the worst day work on archives alone: `coffer archive
// ls|verify` read one archive where it is stored, and `coffer restore
// --archive` restores one with no server and no catalog of the user's. The
// restore builds a throwaway process (a catalog in a temporary directory,
// no workers, no HTTP), imports the archive into it (reading it whole and
// checking it first, so nothing is written from an archive that fails) and
// runs the same restore a server runs, in this process.

// ArchiveRef names an archive: a file path or s3://bucket/key, with the
// credentials an S3 archive is read with.
type ArchiveRef struct {
	// Location is a path or s3://bucket/key.
	Location string
	// Source, when set, is {"credentials": {...}} in the API's shape of an
	// s3 connection (bucket and prefix come from Location); without it an
	// S3 archive is read with the standard AWS environment variables.
	Source json.RawMessage
	// Getenv reads the environment (os.Getenv when nil).
	Getenv func(string) string
}

// connection is the type and credentials of a connection that holds the
// archive, the archive's name at it, and the local roots it needs.
func (r ArchiveRef) connection() (typ string, creds json.RawMessage, name string, roots []string, err error) {
	getenv := r.Getenv
	if getenv == nil {
		getenv = os.Getenv
	}
	if !strings.HasPrefix(r.Location, "s3://") {
		if len(r.Source) > 0 {
			return "", nil, "", nil, errors.New("--source is for an archive in S3 (s3://bucket/key)")
		}
		abs, err := filepath.Abs(r.Location)
		if err != nil {
			return "", nil, "", nil, fmt.Errorf("archive path %q: %w", r.Location, err)
		}
		if _, err := os.Stat(abs); err != nil {
			return "", nil, "", nil, fmt.Errorf("archive %s: %w", abs, err)
		}
		// The connection is rooted one folder up, as a destination holds
		// its archives ("<source>/<file>"): the archives an incremental
		// one names ("in") are then found beside it.
		dir, name := filepath.Dir(abs), filepath.Base(abs)
		if up := filepath.Dir(dir); up != dir {
			dir, name = up, filepath.Base(dir)+"/"+name
		}
		creds, _ := json.Marshal(map[string]string{"path": dir})
		return store.TypeLocal, creds, name, []string{dir}, nil
	}
	u, err := url.Parse(r.Location)
	if err != nil || u.Host == "" || strings.Trim(u.Path, "/") == "" {
		return "", nil, "", nil, fmt.Errorf("%q is not s3://bucket/key", r.Location)
	}
	key := strings.TrimPrefix(u.Path, "/")
	// Rooted one folder up, as for a local archive.
	prefix, name := path.Dir(key), path.Base(key)
	if prefix != "." {
		prefix, name = path.Dir(prefix), path.Base(prefix)+"/"+name
	}
	if prefix == "." {
		prefix = ""
	}
	cfg := map[string]any{}
	if len(r.Source) > 0 {
		var src struct {
			Credentials map[string]any `json:"credentials"`
		}
		dec := json.NewDecoder(bytes.NewReader(r.Source))
		dec.DisallowUnknownFields()
		if err := dec.Decode(&src); err != nil || src.Credentials == nil {
			return "", nil, "", nil, errors.New(`the source file must be {"credentials": {...}} with an s3 connection's credentials`)
		}
		cfg = src.Credentials
	} else {
		cfg["access_key"] = getenv("AWS_ACCESS_KEY_ID")
		cfg["secret_key"] = getenv("AWS_SECRET_ACCESS_KEY")
		region := getenv("AWS_REGION")
		if region == "" {
			region = getenv("AWS_DEFAULT_REGION")
		}
		if region == "" {
			region = "us-east-1"
		}
		cfg["region"] = region
		endpoint := getenv("AWS_ENDPOINT_URL_S3")
		if endpoint == "" {
			endpoint = getenv("AWS_ENDPOINT_URL")
		}
		if endpoint != "" {
			cfg["endpoint"], cfg["force_path_style"] = endpoint, true
		}
		if cfg["access_key"] == "" {
			cfg["use_ambient_credentials"] = true
		}
	}
	cfg["bucket"], cfg["prefix"] = u.Host, prefix
	creds, _ = json.Marshal(cfg)
	return store.TypeS3, creds, name, nil, nil
}

// Open opens the connector that holds the archive and returns the
// archive's name at it.
func (r ArchiveRef) Open(ctx context.Context) (connector.Destination, string, error) {
	typ, creds, name, roots, err := r.connection()
	if err != nil {
		return nil, "", err
	}
	env := registry.Env{LocalRoots: roots}
	c, bad := registry.Lookup(typ).Decode(creds, env)
	if len(bad) > 0 {
		return nil, "", fmt.Errorf("the credentials of the archive's location are not valid: %v", bad)
	}
	d, err := c.OpenDestination(ctx, env, registry.Hooks{})
	if err != nil {
		return nil, "", err
	}
	return d, name, nil
}

// Unlock is how an encrypted archive is opened: an age identity file's
// text or a passphrase.
type Unlock = engine.Unlock

// identities parses u (none when nothing is given).
func identities(u Unlock) ([]age.Identity, error) {
	if u.Identity != "" && u.Passphrase != "" {
		return nil, errors.New("give --identity or --passphrase-file, not both")
	}
	return agecrypt.GivenIdentities(u.Identity, u.Passphrase)
}

// CheckArchive reads the archive at ref whole and checks it as a
// verification does; list, when set, gets every entry of its manifest.
// The error is for a check that could not be made; the result says what
// is wrong with the archive.
func CheckArchive(ctx context.Context, ref ArchiveRef, u Unlock, list func(archive.ManifestEntry), progress io.Writer) (*verify.Result, error) {
	dst, name, err := ref.Open(ctx)
	if err != nil {
		return nil, err
	}
	ids, err := identities(u)
	if err != nil {
		return nil, err
	}
	in := verify.Input{Dest: dst, Name: name, Encrypted: verify.IsEncryptedName(name), Identities: ids,
		Progress: progressPrinter(progress, "read")}
	if list != nil {
		in.OnManifestEntry = func(me archive.ManifestEntry) error { list(me); return nil }
	}
	return verify.Archive(ctx, in)
}

// progressPrinter prints, at most every two seconds, how far a read came.
func progressPrinter(w io.Writer, verb string) func(bytesRead, entries int64) {
	if w == nil {
		return nil
	}
	var last time.Time
	return func(bytesRead, entries int64) {
		if time.Since(last) < 2*time.Second {
			return
		}
		last = time.Now()
		fmt.Fprintf(w, "  %s %s, %d entries\n", verb, bytesize.Human(bytesRead), entries)
	}
}

// RestoreTarget is target.json of `coffer restore --archive`: the target
// connection's type and credentials and the restore's config, in the API's
// shapes.
type RestoreTarget struct {
	Type        string          `json:"type"`
	Credentials json.RawMessage `json:"credentials"`
	Config      json.RawMessage `json:"config"`
}

// offlineSettings are the settings of the throwaway process: the defaults,
// a data directory of its own, no workers.
func offlineSettings(dataDir string, roots []string) (config.Config, error) {
	fs := flag.NewFlagSet("offline", flag.ContinueOnError)
	f := config.Register(fs)
	set, err := config.Resolve(f, fs, func(string) string { return "" })
	if err != nil {
		return set, err
	}
	set.DataDir, set.DatabaseURL, set.Workers = dataDir, "", 0
	set.LocalRoots = append(set.LocalRoots, roots...)
	return set, nil
}

// RestoreArchive restores the archive at ref into target with no server
// and no catalog: it reads and checks the archive whole first (nothing is
// written from an archive that fails), then restores it as a server would,
// printing its log to out.
func RestoreArchive(ctx context.Context, ref ArchiveRef, target RestoreTarget, u Unlock, out io.Writer) error {
	typ, creds, name, roots, err := ref.connection()
	if err != nil {
		return err
	}
	ids, err := identities(u)
	if err != nil {
		return err
	}
	encrypted := verify.IsEncryptedName(name)
	if encrypted && len(ids) == 0 {
		return fmt.Errorf("%s is encrypted: give its identity with --identity FILE or its passphrase with --passphrase-file FILE", name)
	}
	if !encrypted && len(ids) > 0 {
		return fmt.Errorf("%s is not encrypted (its name does not end in %s): leave --identity and --passphrase-file out", name, archive.AgeExt)
	}
	tmp, err := os.MkdirTemp("", "coffer-restore-*")
	if err != nil {
		return fmt.Errorf("create a temporary directory: %w", err)
	}
	defer os.RemoveAll(tmp)
	set, err := offlineSettings(tmp, roots)
	if err != nil {
		return err
	}
	a, err := New(ctx, Config{Settings: set, Mode: Tool})
	if err != nil {
		return err
	}
	defer a.Close()
	src, err := a.conns.Create(ctx, connection.NewConnection{Name: "archive", Type: typ, Credentials: creds, SaveUnchecked: true})
	if err != nil {
		return fmt.Errorf("the archive's location: %w", err)
	}
	tgt, err := a.conns.Create(ctx, connection.NewConnection{Name: "target", Type: target.Type, Credentials: target.Credentials})
	if err != nil {
		return fmt.Errorf("the target (target.json): %w", err)
	}
	var keyID int64
	if encrypted {
		if keyID, err = offlineKey(ctx, a.enc, u, ids); err != nil {
			return err
		}
	}
	fmt.Fprintf(out, "Reading and checking %s before restoring anything…\n", name)
	b, problem, err := a.engine.ImportArchive(ctx, src.ID, name, keyID, ids, progressPrinter(out, "checked"))
	if err != nil {
		return err
	}
	if problem != "" {
		return fmt.Errorf("nothing was restored: %s", problem)
	}
	fmt.Fprintf(out, "The archive is sound: %d entries, %s.\n", b.Progress.ItemsDone, bytesize.Human(b.ArchiveSize))
	if b.Mode == store.ModeIncremental {
		if err := importChain(ctx, a, src.ID, b, keyID, ids, out); err != nil {
			return err
		}
	}
	actor := engine.Actor{Email: "coffer restore --archive"}
	op, err := a.engine.StartRestore(ctx, actor, engine.RestoreRequest{BackupOperationID: b.ID, DestinationConnectionID: tgt.ID,
		Config: target.Config, Unlock: u})
	if err != nil {
		return err
	}
	done := make(chan error, 1)
	go func() { done <- a.engine.RunOperation(ctx, store.KindRestore, op.ID) }()
	var after int64
	printLogs := func() {
		lines, err := a.store.ListLogs(context.WithoutCancel(ctx), store.KindRestore, op.ID, after, 500)
		if err != nil {
			return
		}
		for _, l := range lines {
			fmt.Fprintf(out, "%s %-7s %s\n", l.CreatedAt.Local().Format("15:04:05"), l.Level, l.Message)
			after = l.ID
		}
	}
	tick := time.NewTicker(500 * time.Millisecond)
	defer tick.Stop()
	var runErr error
wait:
	for {
		select {
		case runErr = <-done:
			break wait
		case <-tick.C:
			printLogs()
		}
	}
	printLogs()
	r, err := a.store.GetRestore(context.WithoutCancel(ctx), op.ID)
	if err != nil {
		return err
	}
	switch {
	case r.Status == store.StatusCompleted:
		return nil
	case r.ErrorMessage != "":
		return errors.New(r.ErrorMessage)
	case runErr != nil:
		return fmt.Errorf("the restore stopped: %w", runErr)
	}
	return fmt.Errorf("the restore ended %s", r.Status)
}

// importChain imports, after an incremental archive b, the archives of its
// chain that its entries name, from beside it at the same location, each
// read and checked whole before anything is restored.
func importChain(ctx context.Context, a *App, locID int64, b *store.BackupOperation, keyID int64, ids []age.Identity, out io.Writer) error {
	names, err := engine.ChainArchives(ctx, a.store, b.ID)
	if err != nil {
		return err
	}
	fmt.Fprintf(out, "The archive is incremental: its objects are also in %d earlier archives of its chain.\n", len(names))
	for _, name := range names {
		fmt.Fprintf(out, "Reading and checking %s…\n", name)
		_, problem, err := a.engine.ImportArchive(ctx, locID, name, keyID, ids, progressPrinter(out, "checked"))
		if err != nil {
			return fmt.Errorf("the chain's archive %s: %w", name, err)
		}
		if problem != "" {
			return fmt.Errorf("nothing was restored: the chain's archive %s: %s", name, problem)
		}
	}
	return nil
}

// offlineKey records, in the throwaway catalog, a key standing for the
// identity or passphrase given, for the imported backup to name.
func offlineKey(ctx context.Context, enc *encryption.Service, u Unlock, ids []age.Identity) (int64, error) {
	in := encryption.Input{Name: "given", Type: store.KeyPassphrase, Passphrase: u.Passphrase}
	if u.Identity != "" {
		x, ok := ids[0].(*age.X25519Identity)
		if !ok {
			return 0, errors.New("the identity file holds no X25519 identity (AGE-SECRET-KEY-1…)")
		}
		in = encryption.Input{Name: "given", Type: store.KeyX25519, Recipient: x.Recipient().String()}
	}
	k, err := enc.Create(ctx, in)
	if err != nil {
		return 0, fmt.Errorf("take the key given: %w", err)
	}
	return k.ID, nil
}

// ImportArchives scans the destination connection named name for archives
// the catalog lacks and imports them (`coffer archives import`).
func (a *App) ImportArchives(ctx context.Context, name string, out io.Writer) (*engine.ScanResult, error) {
	list, err := a.conns.List(ctx)
	if err != nil {
		return nil, err
	}
	for _, c := range list {
		if c.Name == name {
			return a.engine.ScanDestination(ctx, engine.Actor{Email: "coffer archives import"}, c.ID, func(archive string) {
				fmt.Fprintf(out, "reading %s…\n", archive)
			})
		}
	}
	return nil, fmt.Errorf("no connection is named %q", name)
}
