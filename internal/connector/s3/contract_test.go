package s3_test

import (
	"testing"

	s3conn "github.com/coffer-backup/coffer/internal/connector/s3"
	"github.com/coffer-backup/coffer/internal/testutil/desttest"
	"github.com/coffer-backup/coffer/internal/testutil/s3test"
)

func TestDestinationContract(t *testing.T) {
	t.Parallel()
	srv := s3test.Start(t)
	desttest.Run(t, func(t *testing.T) desttest.Harness {
		bucket := srv.NewBucket(t)
		cfg := srv.Config(bucket)
		cfg.Prefix = "archives/"
		return desttest.Harness{
			Open: func(t *testing.T) desttest.Dest {
				return newClient(t, cfg, s3conn.Options{MinPartSize: realMinPart})
			},
			Incomplete: func(t *testing.T) int { return incompleteUploads(t, srv, bucket) },
		}
	})
}
