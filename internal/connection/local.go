package connection

import (
	"context"

	"github.com/coffer-backup/coffer/internal/connector"
	"github.com/coffer-backup/coffer/internal/connector/local"
	"github.com/coffer-backup/coffer/internal/store"
)

func localSpec() *spec {
	return &spec{
		typ:     store.TypeLocal,
		roles:   []Role{RoleDestination},
		secrets: nil,
		mask:    maskSecret,
		merge:   mergeSecret,
		decode: func(data []byte, roots []string) (any, map[string]string) {
			var c local.Config
			if errs := decodeStrict(data, &c); errs != nil {
				return nil, errs
			}
			if errs := c.Validate(roots); len(errs) > 0 {
				return nil, errs
			}
			return c, nil
		},
		check: func(ctx context.Context, cfg any, _ []string) (connector.CheckResult, error) {
			dest, err := local.New(cfg.(local.Config))
			if err != nil {
				return connector.CheckResult{}, err
			}
			return dest.Check(ctx)
		},
	}
}

// LocalConfig returns the decoded credentials of local connection id.
func (s *Service) LocalConfig(ctx context.Context, id int64) (local.Config, error) {
	cfg, err := s.typed(ctx, id, store.TypeLocal)
	if err != nil {
		return local.Config{}, err
	}
	return cfg.(local.Config), nil
}
