package data

import (
	"bytes"
	"context"
	"errors"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/apache/arrow/go/v15/arrow/memory"
)

// FuzzReadJSON: any input either parses or fails with ErrInvalidInput
// naming the file and a line; never a panic.
func FuzzReadJSON(f *testing.F) {
	for _, s := range []string{
		"{\"a\": 1}\n{\"a\": 2.5}\n",
		"{\"a\": [1, 2], \"b\": {\"c\": null}}\n",
		"{\"a\": 1}\n{\"a\": \"x\"}\n",
		"{\"a\": 1,}\n",
		"[1, 2]\n",
		"\n\n",
		"{\"a\": 1} {\"b\": 2}\n",
		"{\"a\": 99999999999999999999}\n",
		"\ufeff{\"a\": 1}\n",
		"{\"a\": 1, \"a\": 2}\n",
		"{\"a\": {\"b\": 1, \"\\u0062\": 2}, \"c\": [{\"d\": 1}, {\"d\": 2}]}\n",
		"{\"a\": \"\xff\"}\n",
		"  {\"a\": \"x\",\n",
		"PAR1\x15\x04\x15\x00",
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, in []byte) {
		mem := memory.NewCheckedAllocator(memory.NewGoAllocator())
		schema, err := inferJSON("f.jsonl", in, nil)
		if err != nil {
			checkLocated(t, err)
			return
		}
		rec, err := parseJSONLines(mem, "f.jsonl", in, 1, schema)
		if err != nil {
			checkLocated(t, err)
			mem.AssertSize(t, 0)
			return
		}
		rec.Release()
		mem.AssertSize(t, 0)
	})
}

func checkLocated(t *testing.T, err error) {
	t.Helper()
	if !errors.Is(err, ErrInvalidInput) || !bytes.Contains([]byte(err.Error()), []byte(`file "`)) || !bytes.Contains([]byte(err.Error()), []byte("line ")) {
		t.Fatalf("error without location: %v", err)
	}
}

// FuzzReadCSV runs the whole ReadCSV path (planning, chunking on core
// tasks, parsing) on small chunks.
func FuzzReadCSV(f *testing.F) {
	for _, s := range []string{
		"a,b\n1,2\n3,4\n",
		"a,b\n\"x\ny\",2\n\"p\"\"q\",3\n",
		"a,b\n1\n",
		"a\n\n\n1\n",
		"a,b\r\n1.5,NA\r\n2,\r\n",
		"a,a\n1,2\n",
		"\"unterminated\n",
		"x;y\n1;2\n",
		"a,b\n1,5\" disk\n\"q\nr\",2\n",
		"a\nx\xc3\x28\n",
		"a,b\n1,\x00\n",
		"PAR1\x15\x04\x15\x00\x00\x00,\n",
		"\ufeffa,b\n1,2\n",
	} {
		f.Add([]byte(s))
	}
	dir := f.TempDir()
	f.Fuzz(func(t *testing.T, in []byte) {
		p := filepath.Join(dir, "f.csv")
		if err := os.WriteFile(p, in, 0o644); err != nil {
			t.Fatal(err)
		}
		ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
		defer cancel()
		dc := NewContext()
		dc.ReadChunkBytes = 8
		ds, err := ReadCSV(ctx, p)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := ds.WithContext(dc).TakeAll(ctx); err != nil {
			checkLocated(t, err)
		}
	})
}
