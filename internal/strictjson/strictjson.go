// Package strictjson decodes one JSON object into a Go struct the strict way
// coffer's API wants for configuration documents: unknown members, wrong
// types and trailing data are refused, and every problem comes back as a
// field name (the member's JSON name, "" for the document as a whole) and a
// short reason a user can act on. Packages that validate configurations
// (notification channels, connection credentials) call Decode and then their
// own validation.
package strictjson

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"reflect"
	"strings"
)

// Decode decodes one JSON object from data into dst (a pointer), refusing
// unknown fields, wrong types and trailing data. It returns nil on success,
// otherwise field name → reason with a single entry; the key is the JSON
// member name as encoding/json reports it ("to", "headers") or "" for the
// document as a whole.
func Decode(data []byte, dst any) map[string]string {
	trimmed := bytes.TrimSpace(data)
	if len(trimmed) == 0 || bytes.Equal(trimmed, []byte("null")) {
		return map[string]string{"": "is required (a JSON object)"}
	}
	if trimmed[0] != '{' {
		return map[string]string{"": "must be a JSON object"}
	}
	dec := json.NewDecoder(bytes.NewReader(trimmed))
	dec.DisallowUnknownFields()
	if err := dec.Decode(dst); err != nil {
		field, reason := errorField(err)
		return map[string]string{field: reason}
	}
	if _, err := dec.Token(); !errors.Is(err, io.EOF) {
		return map[string]string{"": "must hold a single JSON object"}
	}
	return nil
}

// errorField turns an encoding/json error into a field name and a reason.
func errorField(err error) (string, string) {
	var typeErr *json.UnmarshalTypeError
	if errors.As(err, &typeErr) {
		if typeErr.Field == "" {
			return "", "must be a JSON object"
		}
		return typeErr.Field, "must be " + DescribeKind(typeErr.Type)
	}
	var syntaxErr *json.SyntaxError
	if errors.As(err, &syntaxErr) || errors.Is(err, io.ErrUnexpectedEOF) {
		return "", "is not valid JSON"
	}
	// encoding/json reports unknown members as `json: unknown field "x"`.
	if name, ok := strings.CutPrefix(err.Error(), "json: unknown field "); ok {
		return strings.Trim(name, `"`), "is not a known field"
	}
	return "", "could not be decoded"
}

// DescribeKind names the JSON kind a Go type expects, for reasons such as
// "must be an integer".
func DescribeKind(t reflect.Type) string {
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
