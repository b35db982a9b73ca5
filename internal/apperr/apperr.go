// Package apperr is coffer's error type for failures a user should see: a
// code that the HTTP layer maps to a status in one place, a sentence for the
// user, and optional per-field reasons.
package apperr

import (
	"errors"
	"fmt"
)

// Code classifies an error for the API.
type Code string

// The codes and the HTTP status each stands for.
const (
	BadRequest      Code = "bad_request"      // 400
	Unauthorized    Code = "unauthorized"     // 401
	Forbidden       Code = "forbidden"        // 403
	NotFound        Code = "not_found"        // 404
	Conflict        Code = "conflict"         // 409
	TooLarge        Code = "too_large"        // 413
	UnsupportedType Code = "unsupported_type" // 415
	Invalid         Code = "invalid"          // 422
	TooManyRequests Code = "too_many"         // 429
	Internal        Code = "internal"         // 500
	Unavailable     Code = "unavailable"      // 503
)

// Error is a failure with a user-facing message.
type Error struct {
	Code    Code
	Message string            // a sentence for the user; never secrets
	Fields  map[string]string // field name -> why it is wrong (422)
	Err     error             // the cause, for logs; never shown to users
}

func (e *Error) Error() string {
	if e.Err != nil {
		return e.Message + ": " + e.Err.Error()
	}
	return e.Message
}

func (e *Error) Unwrap() error { return e.Err }

// New returns an Error with a formatted message.
func New(code Code, format string, args ...any) *Error {
	return &Error{Code: code, Message: fmt.Sprintf(format, args...)}
}

// Wrap returns an Error with a message for the user and err as its cause.
func Wrap(code Code, err error, format string, args ...any) *Error {
	return &Error{Code: code, Message: fmt.Sprintf(format, args...), Err: err}
}

// Invalid returns a 422 error with field reasons.
func InvalidFields(message string, fields map[string]string) *Error {
	return &Error{Code: Invalid, Message: message, Fields: fields}
}

// As returns the *Error in err's chain, if any.
func As(err error) (*Error, bool) {
	var e *Error
	if errors.As(err, &e) {
		return e, true
	}
	return nil, false
}
