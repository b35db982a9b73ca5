package retention

import (
	"sort"
	"strings"

	"github.com/coffer-backup/coffer/internal/strictjson"
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
// and trailing data (internal/strictjson), then validates it. Empty input
// and null are the empty policy (keep everything). The error is a
// FieldErrors.
func DecodePolicy(data []byte) (Policy, error) {
	var p Policy
	if strictjson.Empty(data) {
		return p, nil
	}
	if pr := strictjson.Check(data, &p); pr != nil {
		return Policy{}, decodeError(pr)
	}
	if err := p.Validate(); err != nil {
		return Policy{}, err
	}
	return p, nil
}

// decodeError words a decoding problem in retention's terms.
func decodeError(pr *strictjson.Problem) FieldErrors {
	switch pr.Kind {
	case strictjson.WrongType:
		if pr.Field == "keep_within" {
			return FieldErrors{pr.Field: `must be a string such as "7d", "1y6m" or "36h"`}
		}
		return FieldErrors{pr.Field: "must be a whole number (0 or more)"}
	case strictjson.UnknownField:
		return FieldErrors{pr.Field: "is not a retention rule; use " + knownFields}
	case strictjson.NotObject:
		return FieldErrors{"": "must be a JSON object with " + knownFields}
	}
	return FieldErrors{"": pr.Reason}
}
