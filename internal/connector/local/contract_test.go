package local_test

import (
	"io/fs"
	"path/filepath"
	"strings"
	"testing"

	"github.com/coffer-backup/coffer/internal/connector/local"
	"github.com/coffer-backup/coffer/internal/testutil/desttest"
)

func TestDestinationContract(t *testing.T) {
	t.Parallel()
	desttest.Run(t, func(t *testing.T) desttest.Harness {
		root := t.TempDir()
		return desttest.Harness{
			Open: func(t *testing.T) desttest.Dest { return newDir(t, root) },
			Incomplete: func(t *testing.T) int {
				n := 0
				err := filepath.WalkDir(root, func(p string, e fs.DirEntry, err error) error {
					if err == nil && strings.HasSuffix(p, local.PartSuffix) {
						n++
					}
					return err
				})
				if err != nil {
					t.Fatal(err)
				}
				return n
			},
		}
	})
}
