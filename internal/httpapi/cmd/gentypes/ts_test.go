package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// declaration generates a document whose schemas are others plus X, and
// returns the declaration of X.
func declaration(t *testing.T, x string, others string) (string, error) {
	t.Helper()
	doc := `{"components":{"schemas":{"X":` + x
	if others != "" {
		doc += "," + others
	}
	doc += `}}}`
	out, err := generate([]byte(doc))
	if err != nil {
		return "", err
	}
	s := string(out)
	if !strings.HasPrefix(s, header) {
		t.Fatalf("the output does not start with the header:\n%s", s)
	}
	i := strings.Index(s, "export type X = ")
	if i < 0 {
		t.Fatalf("no declaration of X in:\n%s", s)
	}
	// Back up over X's doc comment, if any.
	if j := strings.LastIndex(s[:i], "\n\n"); j >= 0 {
		s = s[j+2:]
	}
	end := strings.Index(s, ";\n\nexport")
	if end < 0 {
		return strings.TrimSuffix(s, "\n"), nil
	}
	return s[:end+1], nil
}

func TestGenerate(t *testing.T) {
	t.Parallel()
	const y = `"Y":{"type":"string"}`
	tests := []struct {
		name, schema, others, want string
	}{
		{"string", `{"type":"string","format":"date-time"}`, "", `export type X = string;`},
		{"integer", `{"type":"integer","format":"int64"}`, "", `export type X = number;`},
		{"nullable", `{"type":"string","nullable":true,"description":"Why."}`, "", "/** Why. */\nexport type X = string | null;"},
		{"enum", `{"type":"string","enum":["a","b"]}`, "", `export type X = "a" | "b";`},
		{"one value", `{"type":"string","enum":["a"]}`, "", `export type X = "a";`},
		{"ref", `{"$ref":"#/components/schemas/Y"}`, y, `export type X = Y;`},
		{"array of a union", `{"type":"array","items":{"oneOf":[{"$ref":"#/components/schemas/Y"},{"type":"integer"}]}}`, y, `export type X = (Y | number)[];`},
		{"intersection with a union", `{"allOf":[{"$ref":"#/components/schemas/Y"},{"anyOf":[{"type":"string"},{"type":"boolean"}]}]}`, y, `export type X = Y & (string | boolean);`},
		{"single allOf keeps a default", `{"type":"object","properties":{"c":{"allOf":[{"$ref":"#/components/schemas/Y"}],"default":"g"}}}`, y,
			"export type X = {\n  /** @default \"g\" */\n  c?: Y;\n};"},
		{"record", `{"type":"object","additionalProperties":{"type":"integer"}}`, "", `export type X = Record<string, number>;`},
		{"any object", `{"type":"object","additionalProperties":true}`, "", `export type X = Record<string, unknown>;`},
		{"object", `{"type":"object","required":["id","when"],"additionalProperties":false,"properties":{
			"id":{"type":"integer"},"when":{"type":"string","nullable":true},"note":{"type":"string","description":"A */ note.\nTwo lines."},
			"odd-name":{"type":"boolean"},"inner":{"type":"object","required":["n"],"properties":{"n":{"type":"integer"}}}}}`, "",
			"export type X = {\n  id: number;\n  inner?: {\n    n: number;\n  };\n  /**\n   * A *\\/ note.\n   * Two lines.\n   */\n  note?: string;\n  \"odd-name\"?: boolean;\n  when: string | null;\n};"},
		{"object with extra members", `{"type":"object","properties":{"a":{"type":"string"}},"additionalProperties":true}`, "",
			"export type X = {\n  a?: string;\n  [key: string]: unknown;\n};"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			got, err := declaration(t, tt.schema, tt.others)
			if err != nil {
				t.Fatal(err)
			}
			if got != tt.want {
				t.Fatalf("got\n%s\nwant\n%s", got, tt.want)
			}
		})
	}
}

// TestGenerateRefuses: schemas the TypeScript would get wrong stop the
// generation, naming the problem.
func TestGenerateRefuses(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name, schema, want string
	}{
		{"unknown keyword", `{"not":{"type":"string"}}`, `"not"`},
		{"nullable ref", `{"$ref":"#/components/schemas/X","nullable":true}`, "nullable beside $ref"},
		{"dangling ref", `{"$ref":"#/components/schemas/Nope"}`, "names no component schema"},
		{"required but absent", `{"type":"object","required":["b"],"properties":{"a":{"type":"string"}}}`, `"b"`},
		{"no type", `{"description":"What?"}`, "neither"},
		{"array without items", `{"type":"array"}`, "without items"},
		{"empty oneOf", `{"oneOf":[]}`, "non-empty"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			_, err := declaration(t, tt.schema, "")
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("error %v, want one mentioning %s", err, tt.want)
			}
		})
	}
	if _, err := generate([]byte(`{"components":{"schemas":{"bad name":{"type":"string"}}}}`)); err == nil {
		t.Fatal("a schema name that is not an identifier was accepted")
	}
	if _, err := generate([]byte(`{"openapi":"3.0.3"}`)); err == nil {
		t.Fatal("a document without schemas was accepted")
	}
}

// TestCommittedTypesAreCurrent fails when web/src/api/generated.ts is not
// what the server's OpenAPI document gives (run `go generate ./internal/httpapi`).
func TestCommittedTypesAreCurrent(t *testing.T) {
	t.Parallel()
	if err := run("", true); err != nil {
		t.Fatal(err)
	}
}

// TestRunWritesAndChecks: -check fails on a stale file and passes on the
// file the generator just wrote.
func TestRunWritesAndChecks(t *testing.T) {
	t.Parallel()
	out := filepath.Join(t.TempDir(), "generated.ts")
	if err := os.WriteFile(out, []byte("// stale\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := run(out, true); err == nil || !strings.Contains(err.Error(), "go generate") {
		t.Fatalf("check of a stale file: %v", err)
	}
	if err := run(out, false); err != nil {
		t.Fatal(err)
	}
	if err := run(out, true); err != nil {
		t.Fatalf("check right after writing: %v", err)
	}
	b, err := os.ReadFile(out)
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"export type BackupOperation = {", "export type DashboardOperation = DashboardBackup | DashboardRestore;"} {
		if !strings.Contains(string(b), want) {
			t.Errorf("the generated file lacks %q", want)
		}
	}
}
