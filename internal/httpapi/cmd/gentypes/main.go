// Command gentypes writes web/src/api/generated.ts, the TypeScript types of
// the JSON shapes of coffer's HTTP API, from the component schemas of the
// OpenAPI document the server serves (httpapi.OpenAPI). The route table in
// internal/httpapi is the one place a route and its documentation are
// written; this turns that into the web UI's types, so the UI's compiler
// sees every change of a shape.
//
//	go run ./internal/httpapi/cmd/gentypes          # write the file
//	go run ./internal/httpapi/cmd/gentypes -check   # fail if it is not current
//
// `go generate ./internal/httpapi` runs the first form.
package main

import (
	"bytes"
	"errors"
	"flag"
	"fmt"
	"os"
	"path/filepath"

	"github.com/coffer-backup/coffer/internal/httpapi"
)

// outFile is where the types go, from the module's root.
const outFile = "web/src/api/generated.ts"

func main() {
	check := flag.Bool("check", false, "write nothing; exit 1 when the file differs from what would be written")
	out := flag.String("out", "", "the file to write (default: "+outFile+" in the module's root)")
	flag.Parse()
	if err := run(*out, *check); err != nil {
		fmt.Fprintln(os.Stderr, "gentypes:", err)
		os.Exit(1)
	}
}

func run(out string, check bool) error {
	if out == "" {
		root, err := moduleRoot()
		if err != nil {
			return err
		}
		out = filepath.Join(root, filepath.FromSlash(outFile))
	}
	doc, err := httpapi.OpenAPI()
	if err != nil {
		return fmt.Errorf("build the OpenAPI document: %w", err)
	}
	ts, err := generate(doc)
	if err != nil {
		return err
	}
	if check {
		have, err := os.ReadFile(out)
		if err != nil {
			return fmt.Errorf("read the committed types: %w", err)
		}
		if !bytes.Equal(have, ts) {
			return fmt.Errorf("%s is not what the OpenAPI document gives; run `go generate ./internal/httpapi` and commit the file", out)
		}
		return nil
	}
	if err := os.WriteFile(out, ts, 0o644); err != nil {
		return fmt.Errorf("write the types: %w", err)
	}
	return nil
}

// moduleRoot is the nearest directory at or above the working directory
// that holds go.mod.
func moduleRoot() (string, error) {
	dir, err := os.Getwd()
	if err != nil {
		return "", fmt.Errorf("find the module root: %w", err)
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			return dir, nil
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", errors.New("no go.mod at or above the working directory; run from inside the coffer module or pass -out")
		}
		dir = parent
	}
}
