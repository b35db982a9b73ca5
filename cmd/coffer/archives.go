package main

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"maps"
	"os"
	"slices"
	"strings"

	"github.com/coffer-backup/coffer/internal/app"
	"github.com/coffer-backup/coffer/internal/archive"
)

// The commands of the worst day: archives found at a destination back into
// the catalog, and one archive listed, checked or restored with no server
// and no catalog (docs/verify.md).

const archiveUsage = `usage:
  coffer archive ls PATH|s3://bucket/key [--identity FILE | --passphrase-file FILE] [--source source.json]
  coffer archive verify PATH|s3://bucket/key [--identity FILE | --passphrase-file FILE] [--source source.json]

An S3 archive is read with the standard AWS environment variables
(AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY, AWS_REGION, AWS_ENDPOINT_URL_S3)
unless --source names a file {"credentials": {...}} in the API's shape of an
s3 connection.`

// archiveFlags are the flags that say where an archive is and how to open it.
type archiveFlags struct {
	source, identity, passphrase string
}

func (f *archiveFlags) register(fs *flag.FlagSet) {
	fs.StringVar(&f.source, "source", "", `a JSON file {"credentials": {...}} for an archive in S3`)
	fs.StringVar(&f.identity, "identity", "", "an age identity file (AGE-SECRET-KEY-1…) for an encrypted archive")
	fs.StringVar(&f.passphrase, "passphrase-file", "", "a file whose first line is the passphrase of an encrypted archive")
}

// read reads the files the flags name: the archive at location and how
// to open it.
func (f *archiveFlags) read(location string) (app.ArchiveRef, app.Unlock, error) {
	ref := app.ArchiveRef{Location: location}
	var u app.Unlock
	if f.source != "" {
		data, err := os.ReadFile(f.source)
		if err != nil {
			return ref, u, fmt.Errorf("read --source: %w", err)
		}
		ref.Source = data
	}
	if f.identity != "" {
		data, err := os.ReadFile(f.identity)
		if err != nil {
			return ref, u, fmt.Errorf("read --identity: %w", err)
		}
		u.Identity = string(data)
	}
	if f.passphrase != "" {
		data, err := os.ReadFile(f.passphrase)
		if err != nil {
			return ref, u, fmt.Errorf("read --passphrase-file: %w", err)
		}
		line, _, _ := strings.Cut(string(data), "\n")
		u.Passphrase = strings.TrimRight(line, "\r")
	}
	return ref, u, nil
}

// parseWithLocation parses args, which hold one location before or among
// the flags.
func parseWithLocation(fs *flag.FlagSet, args []string) (string, error) {
	var loc []string
	for {
		if err := fs.Parse(args); err != nil {
			return "", err
		}
		if fs.NArg() == 0 {
			break
		}
		loc = append(loc, fs.Arg(0))
		args = fs.Args()[1:]
	}
	if len(loc) != 1 {
		return "", errors.New("name one archive: a path or s3://bucket/key")
	}
	return loc[0], nil
}

func cmdArchive(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	if len(args) == 0 || (args[0] != "ls" && args[0] != "verify") {
		return errors.New(archiveUsage)
	}
	verb := args[0]
	fs := flag.NewFlagSet("coffer archive "+verb, flag.ContinueOnError)
	fs.SetOutput(stderr)
	var f archiveFlags
	f.register(fs)
	loc, err := parseWithLocation(fs, args[1:])
	if err != nil {
		return err
	}
	ref, u, err := f.read(loc)
	if err != nil {
		return err
	}
	var list func(archive.ManifestEntry)
	chain := map[string]int64{} // an incremental archive's entries by the archive that holds them
	var held int64
	if verb == "ls" {
		w := bufio.NewWriter(stdout)
		defer w.Flush()
		list = func(me archive.ManifestEntry) {
			more := ""
			if me.Documents != nil {
				more = fmt.Sprintf("  (%d documents)", *me.Documents)
			}
			if !me.Held() {
				more += "  (in " + me.In + ")"
				chain[me.In]++
			} else {
				held++
			}
			fmt.Fprintf(w, "%12d  %s  %s%s\n", me.Size, me.SHA256[:12], me.Path(), more)
		}
	}
	var progress io.Writer
	if verb == "verify" {
		progress = stderr
	}
	res, err := app.CheckArchive(ctx, ref, u, list, progress)
	if err != nil {
		return err
	}
	for _, p := range res.Problems {
		if p.Entry != "" {
			fmt.Fprintf(stderr, "problem: %s: %s\n", p.Entry, p.Message)
		} else {
			fmt.Fprintf(stderr, "problem: %s\n", p.Message)
		}
	}
	if !res.OK() {
		return errors.New(res.Summary())
	}
	if verb == "verify" {
		fmt.Fprintln(stdout, res.Summary())
	} else if res.Header != nil {
		fmt.Fprintf(stderr, "%d entries, %d bytes; backup of %s %q, %s; archive verified.\n", res.EntriesChecked, res.EntryBytes,
			res.Header.Source.Type, res.Header.Source.Name, res.Header.FinishedAt.UTC().Format("2006-01-02 15:04:05Z"))
		if res.Header.Mode == archive.ModeIncremental {
			printChain(stderr, res.Header, chain, held)
		}
	}
	return nil
}

// printChain says which archives an incremental archive's point needs:
// those its unchanged entries are in (oldest first, as their names sort),
// then itself.
func printChain(w io.Writer, h *archive.ManifestHeader, chain map[string]int64, held int64) {
	base := ""
	if h.Base != nil {
		base = fmt.Sprintf(" built on %s (backup #%d)", h.Base.Archive, h.Base.BackupID)
	}
	fmt.Fprintf(w, "This archive is incremental%s. Restoring its point reads, oldest first:\n", base)
	for _, name := range slices.Sorted(maps.Keys(chain)) {
		fmt.Fprintf(w, "  %s: %d objects\n", name, chain[name])
	}
	fmt.Fprintf(w, "  this archive: %d objects (new or changed)\n", held)
}

const restoreUsage = `usage:
  coffer restore --archive PATH|s3://bucket/key --target target.json [--identity FILE | --passphrase-file FILE] [--source source.json]

target.json is {"type": "s3"|"mongodb", "credentials": {...}, "config": {...}} in the
API's shapes (a connection's credentials, a restore's config). The archive is read
and checked whole before anything is written; no server or catalog is needed.`

func cmdRestore(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("coffer restore", flag.ContinueOnError)
	fs.SetOutput(stderr)
	var f archiveFlags
	f.register(fs)
	var loc, targetFile string
	fs.StringVar(&loc, "archive", "", "the archive: a path or s3://bucket/key")
	fs.StringVar(&targetFile, "target", "", "target.json: where to restore")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if loc == "" || targetFile == "" || fs.NArg() > 0 {
		return errors.New(restoreUsage)
	}
	data, err := os.ReadFile(targetFile)
	if err != nil {
		return fmt.Errorf("read --target: %w", err)
	}
	var target app.RestoreTarget
	dec := json.NewDecoder(strings.NewReader(string(data)))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&target); err != nil || target.Type == "" {
		return fmt.Errorf("%s must be {\"type\", \"credentials\", \"config\"} (%v)", targetFile, err)
	}
	ref, u, err := f.read(loc)
	if err != nil {
		return err
	}
	if err := app.RestoreArchive(ctx, ref, target, u, stdout); err != nil {
		return err
	}
	fmt.Fprintln(stdout, "Restore completed.")
	return nil
}

func cmdArchives(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	if len(args) == 0 || args[0] != "import" {
		return errors.New("usage: coffer archives import --destination NAME   (with the server's settings: it imports into its catalog)")
	}
	var dest string
	cfg, _, err := loadConfig("archives import", args[1:], stderr, func(fs *flag.FlagSet) {
		fs.StringVar(&dest, "destination", "", "the name of the destination connection to scan")
	})
	if err != nil {
		return err
	}
	if dest == "" {
		return errors.New("--destination NAME is required")
	}
	a, err := app.New(ctx, app.Config{Settings: cfg, Mode: app.Tool, Log: stderr})
	if err != nil {
		return err
	}
	defer a.Close()
	res, err := a.ImportArchives(ctx, dest, stdout)
	if err != nil {
		return err
	}
	for _, p := range res.Problems {
		fmt.Fprintf(stderr, "not imported: %s: %s\n", p.Archive, p.Message)
	}
	fmt.Fprintf(stdout, "%d archives found: %d imported, %d already in the catalog, %d not imported.\n",
		res.Found, res.Imported, res.AlreadyKnown, len(res.Problems))
	return nil
}
