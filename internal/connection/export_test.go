package connection

import "context"

// ConfigOf returns the decoded credentials of connection id as C (tests
// look at what was stored; nothing outside the package reads plaintext).
func ConfigOf[C any](ctx context.Context, s *Service, id int64) (C, error) {
	var zero C
	_, creds, err := s.decoded(ctx, id)
	if err != nil {
		return zero, err
	}
	c, ok := creds.Config().(C)
	if !ok {
		return zero, errWrongType
	}
	return c, nil
}

// errWrongType is ConfigOf's answer for a connection of another type.
var errWrongType = errorString("the connection is of another type")

type errorString string

func (e errorString) Error() string { return string(e) }
