package data_test

import (
	"errors"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/apache/arrow/go/v15/arrow"
	"github.com/goray/goray/data"
)

func writeFile(t *testing.T, dir, name, text string) string {
	t.Helper()
	p := filepath.Join(dir, name)
	if err := os.WriteFile(p, []byte(text), 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

func TestReadCSVErrorsNameFileLineColumn(t *testing.T) {
	ctx := testCtx(t)
	dir := t.TempDir()
	cases := map[string]struct {
		text  string
		opts  []data.CSVOption
		wants []string
	}{
		"ragged row": {
			text:  "a,b,c\n1,2,3\n4,5\n",
			wants: []string{"bad.csv", "line 3", "column 3", `"c"`, "ragged"},
		},
		"non-number in numeric column": {
			text:  "a,b\n1,2.5\n2,oops\n",
			opts:  []data.CSVOption{data.WithColumnTypes(map[string]arrow.DataType{"b": arrow.PrimitiveTypes.Float64})},
			wants: []string{"bad.csv", "line 3", "column 2", `"b"`, `"oops"`, "float64"},
		},
		"quoted newline before the error": {
			text:  "a,b\n\"x\ny\",1\nz,q\n",
			opts:  []data.CSVOption{data.WithColumnTypes(map[string]arrow.DataType{"b": arrow.PrimitiveTypes.Int64})},
			wants: []string{"line 4", "column 2", `"q"`},
		},
	}
	for name, c := range cases {
		t.Run(name, func(t *testing.T) {
			p := writeFile(t, dir, "bad.csv", c.text)
			ds, err := data.ReadCSV(ctx, p, c.opts...)
			if err == nil {
				_, err = ds.Count(ctx)
			}
			if !errors.Is(err, data.ErrInvalidInput) {
				t.Fatalf("err = %v", err)
			}
			for _, w := range c.wants {
				if !strings.Contains(err.Error(), w) {
					t.Fatalf("error %q lacks %q", err, w)
				}
			}
		})
	}
	_, err := data.ReadCSV(ctx, filepath.Join(dir, "missing.csv"))
	if !errors.Is(err, data.ErrInvalidInput) || !errors.Is(err, fs.ErrNotExist) || !strings.Contains(err.Error(), "missing.csv") {
		t.Fatalf("missing file: %v", err)
	}
	_, err = data.ReadCSV(ctx, filepath.Join(dir, "*.nothing"))
	if !errors.Is(err, data.ErrInvalidInput) {
		t.Fatalf("empty glob: %v", err)
	}
}

func TestReadCSVChunkedQuotedMultiFile(t *testing.T) {
	ctx := testCtx(t)
	dir := t.TempDir()
	var sb strings.Builder
	sb.WriteString("id;note;v\n")
	for i := 0; i < 3000; i++ {
		note := "plain"
		if i%10 == 0 {
			note = "\"two\nlines; \"\"quoted\"\"\""
		}
		v := "NA"
		if i%3 != 0 {
			v = "1.25"
		}
		sb.WriteString(strings.Join([]string{itoa(i), note, v}, ";") + "\n")
	}
	writeFile(t, dir, "part1.csv", sb.String())
	writeFile(t, dir, "part2.csv", "id;note;v\n3000;last;2\n")
	dc := data.NewContext()
	dc.ReadChunkBytes = 4096 // many chunks, boundaries land inside quoted fields
	ds, err := data.ReadCSV(ctx, dir, data.WithDelimiter(';'))
	if err != nil {
		t.Fatal(err)
	}
	ds = ds.WithContext(dc)
	rows, err := ds.TakeAll(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if len(rows) != 3001 {
		t.Fatalf("rows %d", len(rows))
	}
	for i, r := range rows {
		if r["id"].(int64) != int64(i) {
			t.Fatalf("row %d id %v", i, r["id"])
		}
		if i < 3000 && i%10 == 0 && r["note"] != "two\nlines; \"quoted\"" {
			t.Fatalf("row %d note %q", i, r["note"])
		}
		if i < 3000 && (i%3 == 0) != (r["v"] == nil) {
			t.Fatalf("row %d null v: %v", i, r["v"])
		}
	}
	// Glob and list give the same rows.
	g, err := data.ReadCSV(ctx, filepath.Join(dir, "part*.csv"), data.WithDelimiter(';'))
	if err != nil {
		t.Fatal(err)
	}
	n, err := g.Count(ctx)
	if err != nil || n != 3001 {
		t.Fatalf("glob count %d %v", n, err)
	}
	l, err := data.ReadCSVFiles(ctx, []string{filepath.Join(dir, "part2.csv"), filepath.Join(dir, "part1.csv")}, data.WithDelimiter(';'))
	if err != nil {
		t.Fatal(err)
	}
	first, err := l.Take(ctx, 1)
	if err != nil || first[0]["id"].(int64) != 3000 {
		t.Fatalf("list order: %v %v", first, err)
	}
}

func itoa(i int) string { return fmtInt(i) }

func fmtInt(i int) string {
	if i == 0 {
		return "0"
	}
	var b []byte
	for ; i > 0; i /= 10 {
		b = append([]byte{byte('0' + i%10)}, b...)
	}
	return string(b)
}

func TestWritersRoundTrip(t *testing.T) {
	ctx := testCtx(t)
	rows := genRows(500)
	ds := multiBlock(t, rows, 200)
	want, err := ds.TakeAll(ctx)
	if err != nil {
		t.Fatal(err)
	}
	for _, format := range []string{"csv", "json", "parquet"} {
		t.Run(format, func(t *testing.T) {
			dir := filepath.Join(t.TempDir(), "out")
			var paths []string
			var err error
			switch format {
			case "csv":
				paths, err = ds.WriteCSV(ctx, dir)
			case "json":
				paths, err = ds.WriteJSON(ctx, dir)
			case "parquet":
				paths, err = ds.WriteParquet(ctx, dir)
			}
			if err != nil {
				t.Fatal(err)
			}
			wantNames := []string{"part-00000." + format, "part-00001." + format, "part-00002." + format}
			var names []string
			for _, p := range paths {
				names = append(names, filepath.Base(p))
			}
			if !slices.Equal(names, wantNames) {
				t.Fatalf("files %v", names)
			}
			var back *data.Dataset
			switch format {
			case "csv":
				back, err = data.ReadCSV(ctx, dir, data.WithNullValues(""))
			case "json":
				back, err = data.ReadJSON(ctx, dir)
			case "parquet":
				back, err = data.ReadParquet(ctx, dir)
			}
			if err != nil {
				t.Fatal(err)
			}
			got, err := back.TakeAll(ctx)
			if err != nil {
				t.Fatal(err)
			}
			if len(got) != len(want) {
				t.Fatalf("rows %d want %d", len(got), len(want))
			}
			for i := range got {
				for _, c := range []string{"id", "x", "s", "g"} {
					if got[i][c] != want[i][c] {
						t.Fatalf("row %d col %s: %v want %v", i, c, got[i][c], want[i][c])
					}
				}
			}
		})
	}
}

func TestReadJSONAndBinary(t *testing.T) {
	ctx := testCtx(t)
	dir := t.TempDir()
	p := writeFile(t, dir, "a.jsonl", `{"a": 1, "b": "x", "c": [1, 2.5], "d": {"k": 1}}`+"\n\n"+`{"a": 2, "b": null, "c": [], "e": true}`+"\n")
	ds, err := data.ReadJSON(ctx, p)
	if err != nil {
		t.Fatal(err)
	}
	rows, err := ds.TakeAll(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if len(rows) != 2 || rows[0]["a"] != int64(1) || rows[1]["b"] != nil || rows[0]["d"] != `{"k":1}` || rows[1]["e"] != true {
		t.Fatalf("json rows %v", rows)
	}
	if c := rows[0]["c"].([]any); len(c) != 2 || c[1] != 2.5 {
		t.Fatalf("list %v", c)
	}
	bad := writeFile(t, dir, "bad.jsonl", "{\"a\": 1}\n{\"a\": 2,}\n")
	ds, err = data.ReadJSON(ctx, bad)
	if err == nil {
		_, err = ds.Count(ctx)
	}
	if !errors.Is(err, data.ErrInvalidInput) || !strings.Contains(err.Error(), "bad.jsonl") || !strings.Contains(err.Error(), "line 2") || !strings.Contains(err.Error(), "column") {
		t.Fatalf("bad json: %v", err)
	}
	typed := writeFile(t, dir, "typed.jsonl", "{\"a\": 1}\n{\"a\": \"x\"}\n")
	ds, _ = data.ReadJSON(ctx, typed, data.WithColumnTypes(map[string]arrow.DataType{"a": arrow.PrimitiveTypes.Int64}))
	if _, err = ds.Count(ctx); !errors.Is(err, data.ErrInvalidInput) || !strings.Contains(err.Error(), `line 2 column "a"`) {
		t.Fatalf("typed json: %v", err)
	}

	bdir := filepath.Join(dir, "bin")
	os.Mkdir(bdir, 0o755)
	writeFile(t, bdir, "x.bin", "\x00\x01")
	writeFile(t, bdir, "y.bin", "hello")
	bs, err := data.ReadBinaryFiles(ctx, bdir)
	if err != nil {
		t.Fatal(err)
	}
	rows, err = bs.TakeAll(ctx)
	if err != nil || len(rows) != 2 || string(rows[1]["bytes"].([]byte)) != "hello" || !strings.HasSuffix(rows[0]["path"].(string), "x.bin") {
		t.Fatalf("binary %v %v", rows, err)
	}
}

func TestEmptyCSV(t *testing.T) {
	ctx := testCtx(t)
	p := writeFile(t, t.TempDir(), "e.csv", "a,b\n")
	ds, err := data.ReadCSV(ctx, p)
	if err != nil {
		t.Fatal(err)
	}
	n, err := ds.Count(ctx)
	if err != nil || n != 0 {
		t.Fatalf("count %d %v", n, err)
	}
	cols, err := ds.Columns(ctx)
	if err != nil || !slices.Equal(cols, []string{"a", "b"}) {
		t.Fatalf("cols %v %v", cols, err)
	}
}

// prefixFS serves "mock://" paths from a local directory, standing in for
// object storage.
type prefixFS struct {
	root  string
	opens atomic.Int64
}

func (p *prefixFS) local(name string) string {
	return filepath.Join(p.root, strings.TrimPrefix(name, "mock://"))
}
func (p *prefixFS) Open(name string) (data.File, error) {
	p.opens.Add(1)
	return data.LocalFS{}.Open(p.local(name))
}
func (p *prefixFS) Create(name string) (io.WriteCloser, error) {
	return data.LocalFS{}.Create(p.local(name))
}
func (p *prefixFS) MkdirAll(dir string) error             { return data.LocalFS{}.MkdirAll(p.local(dir)) }
func (p *prefixFS) Stat(name string) (fs.FileInfo, error) { return data.LocalFS{}.Stat(p.local(name)) }
func (p *prefixFS) Glob(pattern string) ([]string, error) { return nil, errors.New("no glob") }
func (p *prefixFS) List(dir string) ([]string, error) {
	files, err := data.LocalFS{}.List(p.local(dir))
	for i, f := range files {
		rel, _ := filepath.Rel(p.root, f)
		files[i] = "mock://" + filepath.ToSlash(rel)
	}
	return files, err
}

func TestPluggableFileSystem(t *testing.T) {
	ctx := testCtx(t)
	fsys := &prefixFS{root: t.TempDir()}
	ds := multiBlock(t, genRows(100), 40)
	paths, err := ds.WriteCSV(ctx, "mock://bucket/out", data.WriteFileSystem(fsys))
	if err != nil {
		t.Fatal(err)
	}
	if paths[0] != "mock://bucket/out/part-00000.csv" {
		t.Fatalf("paths %v", paths)
	}
	back, err := data.ReadCSV(ctx, "mock://bucket/out", data.WithFileSystem(fsys))
	if err != nil {
		t.Fatal(err)
	}
	n, err := back.Count(ctx)
	if err != nil || n != 100 || fsys.opens.Load() == 0 {
		t.Fatalf("count %d %v opens %d", n, err, fsys.opens.Load())
	}
}
