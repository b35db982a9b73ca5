package registry

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"reflect"
	"strings"
)

// decodeStrict decodes one JSON object from data into dst, refusing unknown
// fields, wrong types and trailing data. Problems come back as field reasons
// keyed by the JSON field name ("" for the object as a whole).
func decodeStrict(data []byte, dst any) map[string]string {
	trimmed := bytes.TrimSpace(data)
	if len(trimmed) == 0 || bytes.Equal(trimmed, []byte("null")) {
		return map[string]string{"": "are required (a JSON object)"}
	}
	if trimmed[0] != '{' {
		return map[string]string{"": "must be a JSON object"}
	}
	dec := json.NewDecoder(bytes.NewReader(trimmed))
	dec.DisallowUnknownFields()
	if err := dec.Decode(dst); err != nil {
		field, reason := decodeErrorField(err)
		return map[string]string{field: reason}
	}
	if _, err := dec.Token(); !errors.Is(err, io.EOF) {
		return map[string]string{"": "must hold a single JSON object"}
	}
	return nil
}

// decodeErrorField turns an encoding/json error into a field name and reason.
func decodeErrorField(err error) (string, string) {
	var typeErr *json.UnmarshalTypeError
	if errors.As(err, &typeErr) {
		field := typeErr.Field
		if field == "" {
			return "", "must be a JSON object"
		}
		return field, "must be " + describeKind(typeErr.Type)
	}
	var syntaxErr *json.SyntaxError
	if errors.As(err, &syntaxErr) || errors.Is(err, io.ErrUnexpectedEOF) {
		return "", "are not valid JSON"
	}
	// encoding/json reports unknown fields as `json: unknown field "x"`.
	if name, ok := strings.CutPrefix(err.Error(), "json: unknown field "); ok {
		return strings.Trim(name, `"`), "is not a known field"
	}
	return "", "could not be decoded"
}

func describeKind(t reflect.Type) string {
	if t == nil {
		return "of another type"
	}
	for t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	switch t.Kind() {
	case reflect.String:
		return "a string"
	case reflect.Bool:
		return "true or false"
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64,
		reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		return "an integer"
	case reflect.Float32, reflect.Float64:
		return "a number"
	case reflect.Slice, reflect.Array:
		return "a list"
	case reflect.Map, reflect.Struct:
		return "an object"
	}
	return fmt.Sprintf("of type %s", t.Kind())
}
