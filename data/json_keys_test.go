package data

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/apache/arrow/go/v15/arrow"
)

// A key first seen after the sampled lines is an error naming the file, the
// line and the key, never a silently dropped value; declaring its type with
// WithColumnTypes reads it.
func TestReadJSONKeyAfterSample(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var sb strings.Builder
	for range 10001 {
		sb.WriteString(`{"a": 1}` + "\n")
	}
	sb.WriteString(`{"a": 2, "late": 7}` + "\n")
	path := filepath.Join(t.TempDir(), "late.jsonl")
	if err := os.WriteFile(path, []byte(sb.String()), 0o644); err != nil {
		t.Fatal(err)
	}
	ds, err := ReadJSON(ctx, path)
	if err == nil {
		_, err = ds.Count(ctx)
	}
	if !errors.Is(err, ErrInvalidInput) || !strings.Contains(err.Error(), `"late"`) || !strings.Contains(err.Error(), "line 10002") {
		t.Fatalf("got %v, want an error naming key \"late\" at line 10002", err)
	}
	ds, err = ReadJSON(ctx, path, WithColumnTypes(map[string]arrow.DataType{"late": arrow.PrimitiveTypes.Int64}))
	if err != nil {
		t.Fatal(err)
	}
	rows, err := ds.TakeAll(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if len(rows) != 10002 || rows[10001]["late"] != int64(7) || rows[0]["late"] != nil {
		t.Fatalf("%d rows, last %v, first %v", len(rows), rows[len(rows)-1], rows[0])
	}
}
