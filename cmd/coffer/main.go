// Command coffer is a self-hosted backup manager: `coffer serve` runs the web
// UI, the API and workers; `coffer worker` runs workers only (more hosts on one
// PostgreSQL); `coffer migrate`, `coffer users create`, `coffer keys rotate`
// and `coffer version` are the administrative commands.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"
)

const usage = `coffer — self-hosted backups of S3 buckets and MongoDB databases

Usage:
  coffer serve      web UI + API + workers (single-node mode)
  coffer worker     workers only (more hosts on the same PostgreSQL)
  coffer migrate    apply database migrations and exit
  coffer users create --email E [--role admin|operator|viewer]   (password on stdin)
  coffer users list
  coffer users disable --email E
  coffer users reset-password --email E   (new password on stdin)
  coffer keys rotate   re-encrypt every stored credential under a new key
  coffer archives import --destination NAME   add the archives a destination holds to the catalog
  coffer archive ls|verify PATH|s3://bucket/key   list or check one archive, no server needed
  coffer restore --archive PATH|s3://bucket/key --target target.json   restore one archive, no server needed
  coffer version

Every command takes the settings as flags or COFFER_* environment variables;
run "coffer serve -h" to list them.
`

func main() {
	os.Exit(run(os.Args[1:], os.Stdin, os.Stdout, os.Stderr))
}

// run dispatches a command line and returns the exit code.
func run(args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	if len(args) == 0 {
		fmt.Fprint(stderr, usage)
		return 2
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()

	var err error
	switch cmd, rest := args[0], args[1:]; cmd {
	case "serve":
		err = cmdServe(ctx, rest, stdout, stderr, true)
	case "worker":
		err = cmdServe(ctx, rest, stdout, stderr, false)
	case "migrate":
		err = cmdMigrate(ctx, rest, stdout, stderr)
	case "users":
		err = cmdUsers(ctx, rest, stdin, stdout, stderr)
	case "keys":
		err = cmdKeys(ctx, rest, stdout, stderr)
	case "archives":
		err = cmdArchives(ctx, rest, stdout, stderr)
	case "archive":
		err = cmdArchive(ctx, rest, stdout, stderr)
	case "restore":
		err = cmdRestore(ctx, rest, stdout, stderr)
	case "version", "--version", "-v":
		err = cmdVersion(stdout)
	case "help", "-h", "--help":
		fmt.Fprint(stdout, usage)
		return 0
	default:
		fmt.Fprintf(stderr, "coffer: unknown command %q\n\n%s", cmd, usage)
		return 2
	}
	if err == nil {
		return 0
	}
	if errors.Is(err, flag.ErrHelp) {
		return 0
	}
	fmt.Fprintf(stderr, "coffer: %v\n", err)
	return 1
}
