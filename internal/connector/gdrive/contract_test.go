package gdrive_test

import (
	"context"
	"testing"
	"time"

	"github.com/coffer-backup/coffer/internal/connector/gdrive"
	"github.com/coffer-backup/coffer/internal/testutil/desttest"
	"github.com/coffer-backup/coffer/internal/testutil/drivetest"
)

// TestDestinationContract runs the destination suite that S3 and local run
// on Google Drive too (against the Drive v3 test server).
func TestDestinationContract(t *testing.T) {
	t.Parallel()
	desttest.Run(t, func(t *testing.T) desttest.Harness {
		srv := drivetest.New(t)
		at, rt := srv.Authorize()
		cfg := gdrive.Config{AccessToken: at, RefreshToken: rt, FolderID: srv.AddFolder(drivetest.RootID, "backups"), Expiry: time.Now().Add(time.Hour)}
		opts := gdrive.Options{
			OAuth:     gdrive.OAuth{ClientID: srv.ClientID, ClientSecret: srv.ClientSecret, AuthURL: srv.AuthURL(), TokenURL: srv.TokenURL(), APIURL: srv.APIURL()},
			ChunkSize: 256 << 10,
			RetryBase: time.Millisecond,
		}
		return desttest.Harness{
			Open: func(t *testing.T) desttest.Dest {
				c, err := gdrive.New(context.Background(), cfg, opts)
				if err != nil {
					t.Fatal(err)
				}
				return c
			},
			Incomplete: func(t *testing.T) int { return len(srv.Sessions()) },
			AppendOnly: true,
			NoSweep:    true,
		}
	})
}
