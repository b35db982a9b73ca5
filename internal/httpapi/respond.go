package httpapi

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"strings"

	"github.com/coffer-backup/coffer/internal/apperr"
	"github.com/coffer-backup/coffer/internal/store"
)

// maxBodyBytes is the largest request body accepted.
const maxBodyBytes = 1 << 20

// errorBody is the JSON shape of every error response.
type errorBody struct {
	Error  string            `json:"error"`
	Fields map[string]string `json:"fields,omitempty"`
}

// writeJSON writes v as JSON with the given status.
func writeJSON(w http.ResponseWriter, status int, v any) {
	body, err := json.Marshal(v)
	if err != nil {
		// Only a programming error (an unencodable type) gets here.
		status = http.StatusInternalServerError
		body = []byte(`{"error":"internal error"}`)
	}
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	_, _ = w.Write(append(body, '\n'))
}

// statusOf maps an apperr code to its HTTP status.
func statusOf(code apperr.Code) int {
	switch code {
	case apperr.BadRequest:
		return http.StatusBadRequest
	case apperr.Unauthorized:
		return http.StatusUnauthorized
	case apperr.Forbidden:
		return http.StatusForbidden
	case apperr.NotFound:
		return http.StatusNotFound
	case apperr.Conflict:
		return http.StatusConflict
	case apperr.TooLarge:
		return http.StatusRequestEntityTooLarge
	case apperr.UnsupportedType:
		return http.StatusUnsupportedMediaType
	case apperr.Invalid:
		return http.StatusUnprocessableEntity
	case apperr.TooManyRequests:
		return http.StatusTooManyRequests
	case apperr.Unavailable:
		return http.StatusServiceUnavailable
	}
	return http.StatusInternalServerError
}

// writeError is the one place errors become responses: *apperr.Error by its
// code, store.ErrNotFound 404, store.ErrConflict 409, anything else 500
// "internal error" with the cause logged and never shown.
func (s *server) writeError(w http.ResponseWriter, r *http.Request, err error) {
	if e, ok := apperr.As(err); ok && e.Code != apperr.Internal {
		status := statusOf(e.Code)
		if status >= 500 {
			s.log.ErrorContext(r.Context(), "request failed", "method", r.Method, "path", r.URL.Path, "status", status, "err", err)
		}
		writeJSON(w, status, errorBody{Error: s.secrets.String(e.Message), Fields: s.redactFields(e.Fields)})
		return
	}
	switch {
	case errors.Is(err, store.ErrNotFound):
		writeJSON(w, http.StatusNotFound, errorBody{Error: "The requested item does not exist."})
		return
	case errors.Is(err, store.ErrConflict):
		writeJSON(w, http.StatusConflict, errorBody{Error: "The change conflicts with the current state; reload and try again."})
		return
	}
	s.log.ErrorContext(r.Context(), "internal error", "method", r.Method, "path", r.URL.Path, "err", err)
	writeJSON(w, http.StatusInternalServerError, errorBody{Error: "internal error"})
}

// decodeJSON reads the request body into dst strictly: application/json
// only (415), at most maxBodyBytes (413), one JSON value with no unknown
// fields, no wrong types and no trailing data (400 naming the problem).
func decodeJSON(w http.ResponseWriter, r *http.Request, dst any) error {
	ct := r.Header.Get("Content-Type")
	mt, _, err := mime.ParseMediaType(ct)
	if ct == "" || err != nil || mt != "application/json" {
		return apperr.New(apperr.UnsupportedType, "The request body must be JSON; send it with Content-Type: application/json.")
	}
	r.Body = http.MaxBytesReader(w, r.Body, maxBodyBytes)
	data, err := io.ReadAll(r.Body)
	if err != nil {
		var tooBig *http.MaxBytesError
		if errors.As(err, &tooBig) {
			return apperr.New(apperr.TooLarge, "The request body is larger than %d bytes.", maxBodyBytes)
		}
		return apperr.Wrap(apperr.BadRequest, err, "The request body could not be read.")
	}
	if len(bytes.TrimSpace(data)) == 0 {
		return apperr.New(apperr.BadRequest, "The request body is empty; send a JSON object.")
	}
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	if err := dec.Decode(dst); err != nil {
		return decodeError(err)
	}
	if _, err := dec.Token(); !errors.Is(err, io.EOF) {
		return apperr.New(apperr.BadRequest, "The request body has data after the JSON object; send exactly one object.")
	}
	return nil
}

// decodeError turns an encoding/json error into a 400 that names the field.
func decodeError(err error) error {
	var syntaxErr *json.SyntaxError
	var typeErr *json.UnmarshalTypeError
	switch {
	case errors.As(err, &syntaxErr):
		return apperr.Wrap(apperr.BadRequest, err, "The request body is not valid JSON (error at byte %d).", syntaxErr.Offset)
	case errors.Is(err, io.ErrUnexpectedEOF):
		return apperr.Wrap(apperr.BadRequest, err, "The request body is not valid JSON (it ends too early).")
	case errors.As(err, &typeErr):
		if typeErr.Field == "" {
			return &apperr.Error{Code: apperr.BadRequest, Err: err,
				Message: fmt.Sprintf("The request body must be a JSON object, not %s.", typeErr.Value)}
		}
		return &apperr.Error{Code: apperr.BadRequest, Err: err,
			Message: fmt.Sprintf("The field %q has the wrong type: got %s, want %s.", typeErr.Field, typeErr.Value, typeName(typeErr)),
			Fields:  map[string]string{typeErr.Field: "has the wrong type (want " + typeName(typeErr) + ")"}}
	}
	if name, ok := strings.CutPrefix(err.Error(), "json: unknown field "); ok {
		field := strings.Trim(name, `"`)
		return &apperr.Error{Code: apperr.BadRequest, Err: err,
			Message: fmt.Sprintf("The field %q is not known.", field),
			Fields:  map[string]string{field: "is not a known field"}}
	}
	return apperr.Wrap(apperr.BadRequest, err, "The request body could not be decoded as the expected JSON object.")
}

func typeName(e *json.UnmarshalTypeError) string {
	if e.Type == nil {
		return "another type"
	}
	switch e.Type.Kind().String() {
	case "string":
		return "a string"
	case "bool":
		return "true or false"
	case "int", "int8", "int16", "int32", "int64", "uint", "uint8", "uint16", "uint32", "uint64":
		return "an integer"
	case "float32", "float64":
		return "a number"
	case "slice", "array":
		return "a list"
	case "map", "struct":
		return "an object"
	case "ptr":
		return "a " + e.Type.Elem().Kind().String()
	}
	return e.Type.String()
}
