package data_test

import (
	"errors"
	"fmt"
	"io/fs"
	"path/filepath"
	"strings"
	"testing"

	"github.com/goray/goray/data"
)

// TestReadRejectsBadText: input that readers used to accept silently (a
// bare quote, invalid UTF-8, a Parquet file read as CSV, a repeated JSON
// key) is an ErrInvalidInput naming the file, line and column or key.
func TestReadRejectsBadText(t *testing.T) {
	ctx := testCtx(t)
	dir := t.TempDir()
	pq, err := data.Range(100).WriteParquet(ctx, filepath.Join(dir, "pq"))
	if err != nil || len(pq) == 0 {
		t.Fatal(pq, err)
	}
	type reader func(path string, opts ...data.ReadOption) (*data.Dataset, error)
	csv := func(p string, opts ...data.ReadOption) (*data.Dataset, error) { return data.ReadCSV(ctx, p, opts...) }
	jsonl := func(p string, opts ...data.ReadOption) (*data.Dataset, error) { return data.ReadJSON(ctx, p, opts...) }
	cases := map[string]struct {
		read  reader
		file  string // existing file, else text is written to bad.txt
		text  string
		wants []string
	}{
		"csv bare quote": {read: csv, text: "a,b\n1,size 5\" disk\n",
			wants: []string{"bad.txt", "line 2 column 2", `bare "`}},
		"csv invalid utf8": {read: csv, text: "a,b\nx,1\n\xc3\x28y,2\n",
			wants: []string{"bad.txt", "line 3 column 1", `("a")`, "invalid UTF-8"}},
		"csv parquet file": {read: csv, file: pq[0],
			wants: []string{filepath.Base(pq[0]), "line 1", "looks like a Parquet file", "ReadParquet"}},
		"csv binary": {read: csv, text: "a,b\n1,2\n3,\x00\x01\n",
			wants: []string{"bad.txt", "line 3 column 2", "NUL byte"}},
		"json invalid utf8": {read: jsonl, text: "{\"a\": \"x\"}\n{\"a\": \"\xff\"}\n",
			wants: []string{"bad.txt", "line 2 column 8", "invalid UTF-8"}},
		"json duplicate key": {read: jsonl, text: "{\"a\": 1}\n{\"a\": 1, \"b\": 2, \"a\": 3}\n",
			wants: []string{"bad.txt", "line 2 column 18", `duplicate key "a"`}},
		"json duplicate nested key": {read: jsonl, text: "{\"a\": {\"x\": 1, \"\\u0078\": 2}}\n",
			wants: []string{"bad.txt", "line 1 column 16", `duplicate key "x"`}},
		"json parquet file": {read: jsonl, file: pq[0],
			wants: []string{filepath.Base(pq[0]), "line 1", "looks like a Parquet file", "ReadParquet"}},
	}
	for name, c := range cases {
		t.Run(name, func(t *testing.T) {
			p := c.file
			if p == "" {
				p = writeFile(t, t.TempDir(), "bad.txt", c.text)
			}
			ds, err := c.read(p)
			var n int64
			if err == nil {
				n, err = ds.Count(ctx)
			}
			if !errors.Is(err, data.ErrInvalidInput) {
				t.Fatalf("rows %d, err = %v", n, err)
			}
			for _, w := range c.wants {
				if !strings.Contains(err.Error(), w) {
					t.Fatalf("error %q lacks %q", err, w)
				}
			}
		})
	}
}

// TestReadCSVLazyQuotes: WithLazyQuotes keeps bare quotes as text, also
// when the file is cut into many chunks.
func TestReadCSVLazyQuotes(t *testing.T) {
	ctx := testCtx(t)
	var sb strings.Builder
	sb.WriteString("id,item\n")
	for i := range 300 {
		if i%2 == 0 {
			fmt.Fprintf(&sb, "%d,5\" disk\n", i)
		} else {
			fmt.Fprintf(&sb, "%d,\"two\nlines\"\n", i)
		}
	}
	p := writeFile(t, t.TempDir(), "lazy.csv", sb.String())
	ds, err := data.ReadCSV(ctx, p, data.WithLazyQuotes())
	if err != nil {
		t.Fatal(err)
	}
	dc := data.NewContext()
	dc.ReadChunkBytes = 64
	rows, err := ds.WithContext(dc).TakeAll(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if len(rows) != 300 {
		t.Fatalf("%d rows", len(rows))
	}
	for i, r := range rows {
		want := "5\" disk"
		if i%2 == 1 {
			want = "two\nlines"
		}
		if r["id"] != int64(i) || r["item"] != want {
			t.Fatalf("row %d: %v", i, r)
		}
	}
}

// TestReadJSONByteOrderMark: a BOM at the start of a JSON Lines file is
// skipped, as ReadCSV skips it.
func TestReadJSONByteOrderMark(t *testing.T) {
	ctx := testCtx(t)
	p := writeFile(t, t.TempDir(), "bom.jsonl", "\ufeff{\"a\": 1}\n{\"a\": 2}\n")
	ds, err := data.ReadJSON(ctx, p)
	if err != nil {
		t.Fatal(err)
	}
	rows, err := ds.TakeAll(ctx)
	if err != nil || len(rows) != 2 || rows[0]["a"] != int64(1) {
		t.Fatal(rows, err)
	}
}

// TestReadLongFirstRecord: a JSON line or a CSV header longer than the
// 1 MiB inference sample is read whole.
func TestReadLongFirstRecord(t *testing.T) {
	ctx := testCtx(t)
	dir := t.TempDir()
	long := strings.Repeat("x", 3<<20)
	p := writeFile(t, dir, "long.jsonl", fmt.Sprintf("{\"s\": %q, \"n\": 1}\n{\"s\": \"y\", \"n\": 2}\n", long))
	ds, err := data.ReadJSON(ctx, p)
	if err != nil {
		t.Fatal(err)
	}
	rows, err := ds.TakeAll(ctx)
	if err != nil || len(rows) != 2 || rows[0]["s"] != long || rows[1]["n"] != int64(2) {
		t.Fatalf("%d rows, %v", len(rows), err)
	}

	var hdr, row []string
	for c := range 150000 { // about 1.5 MiB of header
		hdr = append(hdr, fmt.Sprintf("column_name_%d", c))
		row = append(row, fmt.Sprint(c))
	}
	p = writeFile(t, dir, "wide.csv", strings.Join(hdr, ",")+"\n"+strings.Join(row, ",")+"\n")
	ds, err = data.ReadCSV(ctx, p)
	if err != nil {
		t.Fatal(err)
	}
	cols, err := ds.Columns(ctx)
	if err != nil || len(cols) != len(hdr) || cols[len(cols)-1] != hdr[len(hdr)-1] {
		t.Fatalf("%d columns, %v", len(cols), err)
	}
	rows, err = ds.TakeAll(ctx)
	if err != nil || len(rows) != 1 || rows[0]["column_name_149999"] != int64(149999) {
		t.Fatalf("%d rows, %v", len(rows), err)
	}
}

// TestMissingFileError: one readable sentence that is both ErrInvalidInput
// and fs.ErrNotExist.
func TestMissingFileError(t *testing.T) {
	p := filepath.Join(t.TempDir(), "missing.csv")
	_, err := data.ReadCSV(testCtx(t), p)
	if !errors.Is(err, data.ErrInvalidInput) || !errors.Is(err, fs.ErrNotExist) {
		t.Fatalf("err = %v", err)
	}
	if want := fmt.Sprintf("invalid input: file %q does not exist", p); err.Error() != want {
		t.Fatalf("err = %q, want %q", err, want)
	}
}
