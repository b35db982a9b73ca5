package config

import (
	"os"
	"strings"
	"testing"
)

// TestREADMEHasTheConfigTable keeps the README's configuration table true:
// it must contain the table generated from the settings.
func TestREADMEHasTheConfigTable(t *testing.T) {
	readme, err := os.ReadFile("../../README.md")
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(readme), MarkdownTable()) {
		t.Fatal("README.md's configuration table differs from config.MarkdownTable(); paste the new table into README.md")
	}
}
