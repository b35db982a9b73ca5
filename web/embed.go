// Package web embeds the built single-page UI (web/dist, made by `npm run
// build`). A placeholder keeps `go build` working before the UI is built.
package web

import (
	"embed"
	"io/fs"
)

//go:embed all:dist
var dist embed.FS

// Dist returns the built UI with dist/ as its root.
func Dist() fs.FS {
	sub, err := fs.Sub(dist, "dist")
	if err != nil {
		// fs.Sub fails only for an invalid path; "dist" is valid.
		panic(err)
	}
	return sub
}

// Built reports whether the UI was built (index.html is present).
func Built() bool {
	_, err := fs.Stat(dist, "dist/index.html")
	return err == nil
}
