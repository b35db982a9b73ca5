package retention

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"sort"
	"strings"
)

// FieldErrors is a validation failure: policy field (its JSON name, "" for
// the policy object as a whole) to a sentence saying what is wrong. Callers
// that nest the policy prefix the keys ("retention.keep_last").
type FieldErrors map[string]string

// Error lists the field reasons in field order.
func (e FieldErrors) Error() string {
	keys := make([]string, 0, len(e))
	for k := range e {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	parts := make([]string, len(keys))
	for i, k := range keys {
		name := k
		if name == "" {
			name = "policy"
		}
		parts[i] = name + " " + e[k]
	}
	return "invalid retention policy: " + strings.Join(parts, "; ")
}

const knownFields = "keep_last, keep_hourly, keep_daily, keep_weekly, keep_monthly, keep_yearly or keep_within"

// DecodePolicy reads a policy from JSON, refusing unknown fields, wrong types
// and trailing data, then validates it. Empty input and null are the empty
// policy (keep everything). The error is a FieldErrors.
func DecodePolicy(data []byte) (Policy, error) {
	var p Policy
	trimmed := bytes.TrimSpace(data)
	if len(trimmed) == 0 || bytes.Equal(trimmed, []byte("null")) {
		return p, nil
	}
	if trimmed[0] != '{' {
		return Policy{}, FieldErrors{"": "must be a JSON object with " + knownFields}
	}
	dec := json.NewDecoder(bytes.NewReader(trimmed))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&p); err != nil {
		return Policy{}, decodeError(err)
	}
	if _, err := dec.Token(); !errors.Is(err, io.EOF) {
		return Policy{}, FieldErrors{"": "must be a single JSON object"}
	}
	if err := p.Validate(); err != nil {
		return Policy{}, err
	}
	return p, nil
}

// decodeError names the field of an encoding/json error.
func decodeError(err error) FieldErrors {
	var typeErr *json.UnmarshalTypeError
	if errors.As(err, &typeErr) && typeErr.Field != "" {
		if typeErr.Field == "keep_within" {
			return FieldErrors{typeErr.Field: `must be a string such as "7d", "1y6m" or "36h"`}
		}
		return FieldErrors{typeErr.Field: "must be a whole number (0 or more)"}
	}
	// encoding/json reports unknown fields as `json: unknown field "x"`.
	if name, ok := strings.CutPrefix(err.Error(), "json: unknown field "); ok {
		return FieldErrors{strings.Trim(name, `"`): "is not a retention rule; use " + knownFields}
	}
	return FieldErrors{"": "is not valid JSON"}
}
