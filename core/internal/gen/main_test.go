package main

import (
	"bytes"
	"os"
	"path/filepath"
	"testing"
)

// The checked-in files are what the templates produce.
func TestGeneratedFilesUpToDate(t *testing.T) {
	files, err := render()
	if err != nil {
		t.Fatal(err)
	}
	for name, want := range files {
		got, err := os.ReadFile(filepath.Join("..", "..", name))
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(got, want) {
			t.Errorf("core/%s differs from what the template makes: run go generate ./core", name)
		}
	}
}
