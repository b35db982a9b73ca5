package strictjson

import (
	"reflect"
	"testing"
)

type sample struct {
	Host string            `json:"host"`
	Port int               `json:"port"`
	To   []string          `json:"to"`
	Head map[string]string `json:"headers"`
	TLS  bool              `json:"tls"`
}

func TestDecode(t *testing.T) {
	tests := []struct {
		name string
		in   string
		want map[string]string
	}{
		{"valid", `{"host":"h","port":25,"to":["a"],"headers":{"x":"y"},"tls":true}`, nil},
		{"empty", ``, map[string]string{"": "is required (a JSON object)"}},
		{"null", `null`, map[string]string{"": "is required (a JSON object)"}},
		{"array", `[1]`, map[string]string{"": "must be a JSON object"}},
		{"unknown", `{"host":"h","hots":"x"}`, map[string]string{"hots": "is not a known field"}},
		{"string port", `{"port":"25"}`, map[string]string{"port": "must be an integer"}},
		{"list to", `{"to":"a@b"}`, map[string]string{"to": "must be a list"}},
		{"map headers", `{"headers":["x"]}`, map[string]string{"headers": "must be an object"}},
		{"bool", `{"tls":"yes"}`, map[string]string{"tls": "must be true or false"}},
		{"syntax", `{"host":`, map[string]string{"": "is not valid JSON"}},
		{"trailing", `{"host":"h"} {"host":"i"}`, map[string]string{"": "must hold a single JSON object"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var s sample
			got := Decode([]byte(tc.in), &s)
			if !reflect.DeepEqual(got, tc.want) {
				t.Fatalf("Decode(%s) = %v, want %v", tc.in, got, tc.want)
			}
		})
	}
}

func TestCheckKinds(t *testing.T) {
	type nested struct {
		Inner struct {
			N int `json:"n"`
		} `json:"inner"`
	}
	tests := []struct {
		in    string
		kind  Kind
		field string
	}{
		{` null `, NotObject, ""},
		{`"x"`, NotObject, ""},
		{`{"inner":`, Malformed, ""},
		{`{} 1`, Malformed, ""},
		{`{"outer":1}`, UnknownField, "outer"},
		{`{"inner":{"m":1}}`, UnknownField, "m"},
		{`{"inner":{"n":"1"}}`, WrongType, "inner.n"},
		{`{"inner":[]}`, WrongType, "inner"},
	}
	for _, tc := range tests {
		var v nested
		p := Check([]byte(tc.in), &v)
		if p == nil || p.Kind != tc.kind || p.Field != tc.field || p.Reason == "" {
			t.Errorf("Check(%s) = %+v, want kind %d field %q", tc.in, p, tc.kind, tc.field)
		}
	}
	var v nested
	if p := Check([]byte(`{"inner":{"n":2}}`), &v); p != nil || v.Inner.N != 2 {
		t.Fatalf("Check of a valid document: %+v, %+v", p, v)
	}
	if !Empty([]byte(" null\n")) || !Empty(nil) || Empty([]byte("{}")) {
		t.Fatal("Empty")
	}
}
