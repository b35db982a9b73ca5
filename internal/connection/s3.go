package connection

import (
	"context"
	"fmt"

	"github.com/coffer-backup/coffer/internal/connector"
	s3conn "github.com/coffer-backup/coffer/internal/connector/s3"
	"github.com/coffer-backup/coffer/internal/store"
)

func s3Spec() *spec {
	return &spec{
		typ:     store.TypeS3,
		roles:   []Role{RoleSource, RoleDestination, RoleRestoreTarget},
		secrets: s3conn.Config{}.SecretFields(),
		mask:    maskSecret,
		merge:   mergeSecret,
		decode: func(data []byte, _ []string) (any, map[string]string) {
			var c s3conn.Config
			if errs := decodeStrict(data, &c); errs != nil {
				return nil, errs
			}
			errs := c.Validate()
			checkLen(errs, "access_key", c.AccessKey, maxFieldLen)
			checkLen(errs, "secret_key", c.SecretKey, maxFieldLen)
			checkLen(errs, "endpoint", c.Endpoint, maxFieldLen)
			if len(errs) > 0 {
				return nil, errs
			}
			return c, nil
		},
		check: func(ctx context.Context, cfg any, _ []string) (connector.CheckResult, error) {
			client, err := s3conn.New(ctx, cfg.(s3conn.Config), s3conn.Options{MaxAttempts: 1})
			if err != nil {
				return connector.CheckResult{}, fmt.Errorf("prepare the S3 client: %w", err)
			}
			return client.Check(ctx)
		},
	}
}

// S3Config returns the decoded credentials of s3 connection id.
func (s *Service) S3Config(ctx context.Context, id int64) (s3conn.Config, error) {
	cfg, err := s.typed(ctx, id, store.TypeS3)
	if err != nil {
		return s3conn.Config{}, err
	}
	return cfg.(s3conn.Config), nil
}
