// Package strictjson decodes one JSON object into a Go struct the strict way
// coffer's API wants for configuration documents: unknown members, wrong
// types and trailing data are refused, and every problem comes back as a
// field name (the member's JSON name, "" for the document as a whole) and a
// short reason a user can act on. Packages that validate configurations
// (notification channels, connection credentials, backup options, restore
// configurations, retention policies) call Decode, or Check where they word
// the reasons themselves, and then their own validation.
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

// Kind is the kind of a Problem.
type Kind int

const (
	// NotObject: the document is missing, null or not a JSON object.
	NotObject Kind = iota + 1
	// Malformed: the document is not valid JSON, or holds more than one value.
	Malformed
	// UnknownField: the object has a member the target type does not know.
	UnknownField
	// WrongType: a member holds a value of another JSON kind than its field's.
	WrongType
)

// Problem is what Check found wrong with a document (the first thing only).
type Problem struct {
	Kind Kind
	// Field is the JSON name of the member at fault ("to"; a dotted path
	// inside nested objects), "" for the document as a whole.
	Field string
	// Reason says what is wrong in a few words a user can act on
	// ("must be an integer", "is not a known field").
	Reason string
}

// Empty reports whether data holds no document at all: nothing but white
// space, or null. Callers for which a missing document means "the
// defaults" test it before Check.
func Empty(data []byte) bool {
	trimmed := bytes.TrimSpace(data)
	return len(trimmed) == 0 || bytes.Equal(trimmed, []byte("null"))
}

// Check decodes one JSON object from data into dst (a pointer), refusing
// unknown fields, wrong types and trailing data. It returns nil on success.
func Check(data []byte, dst any) *Problem {
	if Empty(data) {
		return &Problem{Kind: NotObject, Reason: "is required (a JSON object)"}
	}
	trimmed := bytes.TrimSpace(data)
	if trimmed[0] != '{' {
		return &Problem{Kind: NotObject, Reason: "must be a JSON object"}
	}
	dec := json.NewDecoder(bytes.NewReader(trimmed))
	dec.DisallowUnknownFields()
	if err := dec.Decode(dst); err != nil {
		return problemOf(err)
	}
	if _, err := dec.Token(); !errors.Is(err, io.EOF) {
		return &Problem{Kind: Malformed, Reason: "must hold a single JSON object"}
	}
	return nil
}

// Decode is Check with the problem as field name → reason (a single
// entry), nil on success: the shape of the API's 422 "fields".
func Decode(data []byte, dst any) map[string]string {
	if p := Check(data, dst); p != nil {
		return map[string]string{p.Field: p.Reason}
	}
	return nil
}

// problemOf turns an encoding/json error into a Problem.
func problemOf(err error) *Problem {
	var typeErr *json.UnmarshalTypeError
	if errors.As(err, &typeErr) {
		if typeErr.Field == "" {
			return &Problem{Kind: NotObject, Reason: "must be a JSON object"}
		}
		return &Problem{Kind: WrongType, Field: typeErr.Field, Reason: "must be " + DescribeKind(typeErr.Type)}
	}
	var syntaxErr *json.SyntaxError
	if errors.As(err, &syntaxErr) || errors.Is(err, io.ErrUnexpectedEOF) {
		return &Problem{Kind: Malformed, Reason: "is not valid JSON"}
	}
	// encoding/json reports unknown members as `json: unknown field "x"`.
	if name, ok := strings.CutPrefix(err.Error(), "json: unknown field "); ok {
		return &Problem{Kind: UnknownField, Field: strings.Trim(name, `"`), Reason: "is not a known field"}
	}
	return &Problem{Kind: Malformed, Reason: "could not be decoded"}
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
