package data

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"sync"

	"github.com/apache/arrow/go/v15/arrow"
	"github.com/apache/arrow/go/v15/arrow/array"
	"github.com/apache/arrow/go/v15/arrow/memory"
	"github.com/apache/arrow/go/v15/parquet/file"
	"github.com/apache/arrow/go/v15/parquet/pqarrow"
	"github.com/goray/goray/data/internal/csvx"
)

// WithColumnTypes fixes the type of the named columns instead of inferring
// it (int64, int32, float64, float32, bool or string). A value that does not
// convert is an error naming file, line and column.
func WithColumnTypes(types map[string]arrow.DataType) ReadOption {
	return func(c *readConfig) { c.types = types }
}

// ReadCSV reads CSV files with a header line: path is a file, a directory
// (every file under it) or a glob. Column types are inferred from the first
// rows (int64, float64, bool, string) unless WithColumnTypes fixes them.
// Files are cut into byte ranges at row boundaries (quoted fields may span
// lines) and parsed in parallel as core tasks. Listing happens now (a missing
// file is an error at once); reading happens when the dataset is consumed.
//
// Text is checked as it is parsed, each problem an ErrInvalidInput naming
// the file, line and column: a '"' inside an unquoted field (RFC 4180; allow
// it with WithLazyQuotes), invalid UTF-8 in a header or a string column, a
// NUL byte (a binary file), a Parquet file. A UTF-8 byte order mark at the
// start is skipped.
func ReadCSV(ctx context.Context, path string, opts ...CSVOption) (*Dataset, error) {
	return ReadCSVFiles(ctx, []string{path}, opts...)
}

// ReadCSVFiles is ReadCSV over several paths; all files must have the same
// header.
func ReadCSVFiles(ctx context.Context, paths []string, opts ...CSVOption) (*Dataset, error) {
	cfg := newReadConfig(opts)
	files, err := expandPaths(cfg.fs, paths, cfg.exts)
	if err != nil {
		return nil, err
	}
	for name, dt := range cfg.types {
		if !csvx.Supported(dt) {
			return nil, invalid("WithColumnTypes: column %q: unsupported type %s", name, dt)
		}
	}
	return newDataset(&node{kind: kindSource, name: "ReadCSV", plan: func(ctx context.Context, dc *Context) ([]readTask, error) {
		return planCSV(ctx, dc, cfg, files)
	}}, nil), nil
}

const sampleBytes = 1 << 20

func planCSV(ctx context.Context, dc *Context, cfg *readConfig, files []string) ([]readTask, error) {
	type fileInfo struct {
		name   string
		size   int64
		start  int64
		line   int
		types  []arrow.DataType
		header []string
	}
	infos := make([]fileInfo, len(files))
	chunkBytes := min(dc.ReadChunkBytes, max(1, dc.TargetMaxBlockSize/2))
	// Read headers and infer types from a sample of every file (1 MiB of the
	// first, 64 KiB of the others), widening int64 -> float64 -> string.
	for i, name := range files {
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		opts := cfg.csvOptions(name)
		f, err := cfg.fs.Open(name)
		if err != nil {
			return nil, invalid("file %q: %v", name, err)
		}
		st, err := f.Stat()
		if err != nil {
			f.Close()
			return nil, invalid("file %q: %v", name, err)
		}
		sample := int64(sampleBytes)
		if i > 0 {
			sample = 64 << 10
		}
		head, names, hdrBytes, hdrLines, err := readCSVHead(f, st.Size(), sample, opts)
		f.Close()
		if err != nil {
			return nil, err
		}
		if i == 0 {
			for col := range cfg.types {
				if !slices.Contains(names, col) {
					return nil, invalid("file %q: WithColumnTypes names unknown column %q (have %v)", name, col, names)
				}
			}
		} else {
			first := infos[0].header
			if len(names) != len(first) {
				return nil, invalid("file %q line 1: header has %d columns, %q has %d", name, len(names), files[0], len(first))
			}
			for c, n := range names {
				if first[c] != n {
					return nil, invalid("file %q line 1 column %d: header %q, %q has %q", name, c+1, n, files[0], first[c])
				}
			}
		}
		infos[i] = fileInfo{name: name, size: st.Size(), start: int64(hdrBytes), line: 1 + hdrLines, header: names,
			types: csvx.Infer(head[hdrBytes:], names, cfg.types, 10000, opts)}
	}
	types := infos[0].types
	for _, fi := range infos[1:] {
		for c, t := range fi.types {
			types[c] = widen(types[c], t)
		}
	}
	fields := make([]arrow.Field, len(types))
	for c := range types {
		fields[c] = arrow.Field{Name: infos[0].header[c], Type: types[c], Nullable: true}
	}
	schema := arrow.NewSchema(fields, nil)

	var tasks []readTask
	for _, fi := range infos {
		opts := cfg.csvOptions(fi.name)
		f, err := cfg.fs.Open(fi.name)
		if err != nil {
			return nil, invalid("file %q: %v", fi.name, err)
		}
		chunks, err := csvx.Plan(f, fi.start, fi.size, chunkBytes, fi.line, opts)
		f.Close()
		if err != nil {
			return nil, invalid("file %q: %v", fi.name, err)
		}
		if len(chunks) == 0 {
			tasks = append(tasks, readTask{read: func(ctx context.Context, dc *Context) ([]arrow.Record, error) {
				b := array.NewRecordBuilder(dc.Allocator, schema)
				defer b.Release()
				return []arrow.Record{b.NewRecord()}, nil
			}})
		}
		for _, c := range chunks {
			fsys := cfg.fs
			tasks = append(tasks, readTask{est: c.End - c.Off, read: func(ctx context.Context, dc *Context) ([]arrow.Record, error) {
				f, err := fsys.Open(opts.File)
				if err != nil {
					return nil, invalid("file %q: %v", opts.File, err)
				}
				defer f.Close()
				buf := getBuf(int(c.End - c.Off))
				defer putBuf(buf)
				if _, err := f.ReadAt(buf, c.Off); err != nil && err != io.EOF {
					return nil, invalid("file %q: %v", opts.File, err)
				}
				rec, err := csvx.ParseChunk(dc.Allocator, buf, c.Line, schema, opts)
				if err != nil {
					var pe *csvx.ParseError
					if errors.As(err, &pe) && pe.ColumnName != "" && cfg.types[pe.ColumnName] == nil && strings.HasPrefix(pe.Msg, "cannot parse") {
						pe.Msg += " (type inferred from the first rows; fix it with WithColumnTypes)"
					}
					return nil, fmt.Errorf("%w: %w", ErrInvalidInput, err)
				}
				return []arrow.Record{rec}, nil
			}})
		}
	}
	return tasks, nil
}

func (c *readConfig) csvOptions(file string) csvx.Options {
	return csvx.Options{File: file, Delimiter: c.delimiter, NullValues: c.nullValues, LazyQuotes: c.lazyQuotes}
}

// parquetMagic starts (and ends) every Parquet file.
var parquetMagic = []byte("PAR1")

// notParquet rejects a file that starts like a Parquet file: read as text
// it would give garbage columns (or JSON syntax errors) instead of saying
// what is wrong.
func notParquet(name string, head []byte) error {
	if bytes.HasPrefix(head, parquetMagic) {
		return invalid("file %q line 1: looks like a Parquet file (it starts with %q); use ReadParquet", name, parquetMagic)
	}
	return nil
}

// readCSVHead reads the header record of a CSV file, however long, and the
// sample bytes that follow it for type inference.
func readCSVHead(f File, size, sample int64, opts csvx.Options) (head []byte, names []string, hdrBytes, hdrLines int, err error) {
	n := min(size, sample)
	for {
		head = make([]byte, n)
		if _, err := f.ReadAt(head, 0); err != nil && err != io.EOF {
			return nil, nil, 0, 0, invalid("file %q: %v", opts.File, err)
		}
		if err := notParquet(opts.File, head); err != nil {
			return nil, nil, 0, 0, err
		}
		names, hdrBytes, hdrLines, err = csvx.ParseHeader(head, opts, n == size)
		if errors.Is(err, csvx.ErrIncomplete) {
			n = min(size, 2*n)
			continue
		}
		if err != nil {
			return nil, nil, 0, 0, fmt.Errorf("%w: %w", ErrInvalidInput, err)
		}
		break
	}
	if want := min(size, int64(hdrBytes)+sample); want > n {
		// A long header: sample as many bytes of rows as usual.
		more := make([]byte, want)
		copy(more, head)
		if _, err := f.ReadAt(more[n:], n); err != nil && err != io.EOF {
			return nil, nil, 0, 0, invalid("file %q: %v", opts.File, err)
		}
		head = more
	}
	return head, names, hdrBytes, hdrLines, nil
}

// widen merges two inferred CSV column types.
func widen(a, b arrow.DataType) arrow.DataType {
	switch {
	case arrow.TypeEqual(a, b):
		return a
	case a.ID() == arrow.INT64 && b.ID() == arrow.FLOAT64, a.ID() == arrow.FLOAT64 && b.ID() == arrow.INT64:
		return arrow.PrimitiveTypes.Float64
	}
	return arrow.BinaryTypes.String
}

// ReadJSON reads JSON Lines files (one object per line): path is a file,
// directory or glob. Types are inferred from the first lines of the first
// file: numbers become int64 or float64, strings, booleans, arrays lists;
// nested objects are kept as JSON text. Errors name file, line and column.
// As for ReadCSV, a UTF-8 byte order mark at the start is skipped and a
// Parquet file is refused; invalid UTF-8 anywhere on a line (JSON text is
// UTF-8) and a key repeated in one object (at any depth) are errors, where
// encoding/json alone would replace the bytes or keep the last value.
func ReadJSON(ctx context.Context, path string, opts ...ReadOption) (*Dataset, error) {
	cfg := newReadConfig(opts)
	files, err := expandPaths(cfg.fs, []string{path}, cfg.exts)
	if err != nil {
		return nil, err
	}
	return newDataset(&node{kind: kindSource, name: "ReadJSON", plan: func(ctx context.Context, dc *Context) ([]readTask, error) {
		var schema *arrow.Schema
		var tasks []readTask
		for _, name := range files {
			f, err := cfg.fs.Open(name)
			if err != nil {
				return nil, invalid("file %q: %v", name, err)
			}
			st, err := f.Stat()
			if err != nil {
				f.Close()
				return nil, invalid("file %q: %v", name, err)
			}
			if schema == nil {
				head, err := readLines(f, name, st.Size(), sampleBytes)
				if err != nil {
					f.Close()
					return nil, err
				}
				schema, err = inferJSON(name, head, cfg.types)
				if err != nil {
					f.Close()
					return nil, err
				}
			}
			chunks, err := csvx.Plan(noQuotes{f}, 0, st.Size(), dc.ReadChunkBytes, 1, csvx.Options{})
			f.Close()
			if err != nil {
				return nil, invalid("file %q: %v", name, err)
			}
			for _, c := range chunks {
				sch, fsys, file := schema, cfg.fs, name
				tasks = append(tasks, readTask{est: c.End - c.Off, read: func(ctx context.Context, dc *Context) ([]arrow.Record, error) {
					f, err := fsys.Open(file)
					if err != nil {
						return nil, invalid("file %q: %v", file, err)
					}
					defer f.Close()
					buf := getBuf(int(c.End - c.Off))
					defer putBuf(buf)
					if _, err := f.ReadAt(buf, c.Off); err != nil && err != io.EOF {
						return nil, invalid("file %q: %v", file, err)
					}
					rec, err := parseJSONLines(dc.Allocator, file, buf, c.Line, sch)
					if err != nil {
						return nil, err
					}
					return []arrow.Record{rec}, nil
				}})
			}
			if len(chunks) == 0 && schema != nil {
				sch := schema
				tasks = append(tasks, readTask{read: func(ctx context.Context, dc *Context) ([]arrow.Record, error) {
					b := array.NewRecordBuilder(dc.Allocator, sch)
					defer b.Release()
					return []arrow.Record{b.NewRecord()}, nil
				}})
			}
		}
		return tasks, nil
	}}, nil), nil
}

// noQuotes hides '"' from csvx.Plan: JSON strings cannot hold raw newlines,
// so every newline is a record boundary.
type noQuotes struct{ r io.ReaderAt }

func (n noQuotes) ReadAt(p []byte, off int64) (int, error) {
	k, err := n.r.ReadAt(p, off)
	for i := range p[:k] {
		if p[i] == '"' {
			p[i] = '\''
		}
	}
	return k, err
}

type jsonLine struct {
	line int
	obj  map[string]any
}

// decodeJSONLines parses the lines of buf (starting at file line line0; a
// UTF-8 byte order mark that starts line 1 is skipped). Invalid UTF-8 and a
// key repeated in one object are errors: encoding/json would silently
// replace the one and keep the last of the other.
func decodeJSONLines(file string, buf []byte, line0 int, limit int) ([]jsonLine, error) {
	var out []jsonLine
	line := line0
	lead := 0 // bytes before l on its line, for columns
	if line0 == 1 && bytes.HasPrefix(buf, utf8BOM) {
		buf, lead = buf[len(utf8BOM):], len(utf8BOM)
	}
	for ; len(buf) > 0 && (limit <= 0 || len(out) < limit); lead = 0 {
		i := bytes.IndexByte(buf, '\n')
		var l []byte
		if i < 0 {
			l, buf = buf, nil
		} else {
			l, buf = buf[:i], buf[i+1:]
		}
		trimmed := bytes.TrimLeft(l, " \t\r\v\f")
		lead += len(l) - len(trimmed)
		l = bytes.TrimRight(trimmed, " \t\r\v\f")
		if len(l) > 0 {
			if bad := invalidUTF8At(l); bad >= 0 {
				return nil, invalid("file %q line %d column %d: invalid UTF-8 (JSON text must be UTF-8)", file, line, lead+bad+1)
			}
			dec := json.NewDecoder(bytes.NewReader(l))
			dec.UseNumber()
			var obj map[string]any
			if err := dec.Decode(&obj); err != nil {
				col := 0
				var se *json.SyntaxError
				var te *json.UnmarshalTypeError
				switch {
				case errors.As(err, &se):
					col = lead + int(se.Offset)
				case errors.As(err, &te):
					col = lead + int(te.Offset)
				}
				return nil, invalid("file %q line %d column %d: %v", file, line, col, err)
			}
			if dec.More() {
				return nil, invalid("file %q line %d column %d: more than one JSON value on the line", file, line, lead+int(dec.InputOffset())+1)
			}
			if key, off, dup := duplicateKey(l); dup {
				return nil, invalid("file %q line %d column %d: duplicate key %q in an object", file, line, lead+off+1, key)
			}
			out = append(out, jsonLine{line, obj})
		}
		line++
	}
	return out, nil
}

// readLines reads about sample bytes from the start of f (size bytes), cut
// after the last whole line: at least one whole line, however long, unless
// the file is empty.
func readLines(f File, name string, size, sample int64) ([]byte, error) {
	n := min(size, sample)
	for {
		head := make([]byte, n)
		if _, err := f.ReadAt(head, 0); err != nil && err != io.EOF {
			return nil, invalid("file %q: %v", name, err)
		}
		if err := notParquet(name, head); err != nil {
			return nil, err
		}
		if n == size {
			return head, nil
		}
		if i := bytes.LastIndexByte(head, '\n'); i >= 0 {
			return head[:i+1], nil
		}
		n = min(size, 2*n) // the first line is longer than the sample
	}
}

// inferJSON infers a schema from the whole lines in head.
func inferJSON(file string, head []byte, override map[string]arrow.DataType) (*arrow.Schema, error) {
	lines, err := decodeJSONLines(file, head, 1, 10000)
	if err != nil {
		return nil, err
	}
	types := map[string]arrow.DataType{}
	var order []string
	for _, l := range lines {
		keys := make([]string, 0, len(l.obj))
		for k := range l.obj {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		for _, k := range keys {
			v := l.obj[k]
			t, seen := types[k]
			if !seen {
				order = append(order, k)
			}
			nt := jsonType(v)
			switch {
			case t == nil:
				types[k] = nt
			case nt == nil || arrow.TypeEqual(t, nt):
			case t.ID() == arrow.INT64 && nt.ID() == arrow.FLOAT64:
				types[k] = nt
			case t.ID() == arrow.FLOAT64 && nt.ID() == arrow.INT64:
			default:
				types[k] = arrow.BinaryTypes.String
			}
		}
	}
	fields := make([]arrow.Field, 0, len(order))
	for _, k := range order {
		t := types[k]
		if o := override[k]; o != nil {
			t = o
		}
		if t == nil {
			t = arrow.BinaryTypes.String
		}
		fields = append(fields, arrow.Field{Name: k, Type: t, Nullable: true})
	}
	// Keys typed by WithColumnTypes but absent from the sampled lines are
	// columns too: that is how a key first seen later is declared.
	extra := make([]string, 0, len(override))
	for k := range override {
		if _, seen := types[k]; !seen {
			extra = append(extra, k)
		}
	}
	sort.Strings(extra)
	for _, k := range extra {
		fields = append(fields, arrow.Field{Name: k, Type: override[k], Nullable: true})
	}
	return arrow.NewSchema(fields, nil), nil
}

func jsonType(v any) arrow.DataType {
	switch x := v.(type) {
	case nil:
		return nil
	case json.Number:
		if _, err := x.Int64(); err == nil {
			return arrow.PrimitiveTypes.Int64
		}
		return arrow.PrimitiveTypes.Float64
	case string:
		return arrow.BinaryTypes.String
	case bool:
		return arrow.FixedWidthTypes.Boolean
	case []any:
		var et arrow.DataType
		for _, e := range x {
			t := jsonType(e)
			if t == nil {
				continue
			}
			if et == nil || (et.ID() == arrow.INT64 && t.ID() == arrow.FLOAT64) {
				et = t
			}
		}
		if et == nil {
			et = arrow.PrimitiveTypes.Float64
		}
		if _, nested := et.(*arrow.ListType); nested {
			et = arrow.BinaryTypes.String
		}
		return arrow.ListOf(et)
	}
	return arrow.BinaryTypes.String // objects as JSON text
}

func parseJSONLines(mem memory.Allocator, file string, buf []byte, line0 int, schema *arrow.Schema) (arrow.Record, error) {
	lines, err := decodeJSONLines(file, buf, line0, 0)
	if err != nil {
		return nil, err
	}
	rb := array.NewRecordBuilder(mem, schema)
	defer rb.Release()
	for _, l := range lines {
		for k := range l.obj {
			if len(schema.FieldIndices(k)) == 0 {
				return nil, invalid("file %q line %d: key %q is not in the schema inferred from the first lines (%v); give its type with WithColumnTypes",
					file, l.line, k, schema.Fields())
			}
		}
		for c, f := range schema.Fields() {
			v, ok := l.obj[f.Name]
			if !ok {
				rb.Field(c).AppendNull()
				continue
			}
			if err := appendGo(rb.Field(c), jsonValue(v, f.Type)); err != nil {
				return nil, invalid("file %q line %d column %q: %v", file, l.line, f.Name, err)
			}
		}
	}
	return rb.NewRecord(), nil
}

// jsonValue converts a decoded JSON value towards type dt.
func jsonValue(v any, dt arrow.DataType) any {
	switch x := v.(type) {
	case json.Number:
		switch dt.ID() {
		case arrow.INT64, arrow.INT32, arrow.UINT64:
			if i, err := x.Int64(); err == nil {
				return i
			}
			f, err := x.Float64()
			if err == nil {
				return f
			}
			return string(x)
		case arrow.STRING:
			return string(x)
		}
		if f, err := x.Float64(); err == nil {
			return f
		}
		return string(x)
	case []any:
		if lt, ok := dt.(*arrow.ListType); ok {
			out := make([]any, len(x))
			for i, e := range x {
				out[i] = jsonValue(e, lt.Elem())
			}
			return out
		}
		b, _ := json.Marshal(x)
		return string(b)
	case map[string]any:
		b, _ := json.Marshal(x)
		return string(b)
	case string, bool, nil:
		if dt.ID() == arrow.STRING {
			if bv, ok := x.(bool); ok {
				return fmt.Sprint(bv)
			}
		}
		return x
	}
	return v
}

// ReadParquet reads Parquet files (a file, directory or glob), one task per
// row group.
func ReadParquet(ctx context.Context, path string, opts ...ReadOption) (*Dataset, error) {
	cfg := newReadConfig(opts)
	files, err := expandPaths(cfg.fs, []string{path}, cfg.exts)
	if err != nil {
		return nil, err
	}
	return newDataset(&node{kind: kindSource, name: "ReadParquet", plan: func(ctx context.Context, dc *Context) ([]readTask, error) {
		var tasks []readTask
		for _, name := range files {
			f, err := cfg.fs.Open(name)
			if err != nil {
				return nil, invalid("file %q: %v", name, err)
			}
			pf, err := file.NewParquetReader(readSeekerAt{f, 0, 0})
			if err != nil {
				f.Close()
				return nil, invalid("file %q: not a parquet file: %v", name, err)
			}
			groups := pf.NumRowGroups()
			meta := pf.MetaData()
			pf.Close()
			f.Close()
			if groups == 0 {
				groups = 1
			}
			for g := 0; g < groups; g++ {
				est := int64(0)
				if g < len(meta.RowGroups) {
					est = meta.RowGroup(g).TotalByteSize()
				}
				file, fsys, group := name, cfg.fs, g
				tasks = append(tasks, readTask{est: est, read: func(ctx context.Context, dc *Context) ([]arrow.Record, error) {
					return readParquetGroup(ctx, dc, fsys, file, group)
				}})
			}
		}
		return tasks, nil
	}}, nil), nil
}

func readParquetGroup(ctx context.Context, dc *Context, fsys FileSystem, name string, group int) ([]arrow.Record, error) {
	f, err := fsys.Open(name)
	if err != nil {
		return nil, invalid("file %q: %v", name, err)
	}
	defer f.Close()
	pf, err := file.NewParquetReader(readSeekerAt{f, 0, 0})
	if err != nil {
		return nil, invalid("file %q: not a parquet file: %v", name, err)
	}
	defer pf.Close()
	fr, err := pqarrow.NewFileReader(pf, pqarrow.ArrowReadProperties{BatchSize: 1 << 16}, dc.Allocator)
	if err != nil {
		return nil, invalid("file %q: %v", name, err)
	}
	schema, err := fr.Schema()
	if err != nil {
		return nil, invalid("file %q: %v", name, err)
	}
	if pf.NumRowGroups() == 0 {
		b := array.NewRecordBuilder(dc.Allocator, schema)
		defer b.Release()
		return []arrow.Record{b.NewRecord()}, nil
	}
	rr, err := fr.GetRecordReader(ctx, nil, []int{group})
	if err != nil {
		return nil, invalid("file %q row group %d: %v", name, group, err)
	}
	defer rr.Release()
	var out []arrow.Record
	for rr.Next() {
		r := rr.Record()
		r.Retain()
		out = append(out, r)
	}
	if err := rr.Err(); err != nil && err != io.EOF {
		releaseRecs(out)
		return nil, invalid("file %q row group %d: %v", name, group, err)
	}
	return out, nil
}

// readSeekerAt adapts a File to parquet's ReaderAtSeeker.
type readSeekerAt struct {
	f   File
	pos int64
	_   int
}

func (r readSeekerAt) ReadAt(p []byte, off int64) (int, error) { return r.f.ReadAt(p, off) }
func (r readSeekerAt) Read(p []byte) (int, error)              { return r.f.Read(p) }
func (r readSeekerAt) Seek(off int64, whence int) (int64, error) {
	if s, ok := r.f.(io.Seeker); ok {
		return s.Seek(off, whence)
	}
	return 0, fmt.Errorf("file does not support Seek")
}

// ReadBinaryFiles reads whole files, one row per file: "path" (string) and
// "bytes" (binary).
func ReadBinaryFiles(ctx context.Context, path string, opts ...ReadOption) (*Dataset, error) {
	cfg := newReadConfig(opts)
	files, err := expandPaths(cfg.fs, []string{path}, cfg.exts)
	if err != nil {
		return nil, err
	}
	schema := arrow.NewSchema([]arrow.Field{{Name: "path", Type: arrow.BinaryTypes.String}, {Name: "bytes", Type: arrow.BinaryTypes.Binary}}, nil)
	return newDataset(&node{kind: kindSource, name: "ReadBinaryFiles", plan: func(ctx context.Context, dc *Context) ([]readTask, error) {
		tasks := make([]readTask, len(files))
		for i, name := range files {
			fsys := cfg.fs
			tasks[i] = readTask{read: func(ctx context.Context, dc *Context) ([]arrow.Record, error) {
				f, err := fsys.Open(name)
				if err != nil {
					return nil, invalid("file %q: %v", name, err)
				}
				defer f.Close()
				b, err := io.ReadAll(bufio.NewReader(f))
				if err != nil {
					return nil, invalid("file %q: %v", name, err)
				}
				rb := array.NewRecordBuilder(dc.Allocator, schema)
				defer rb.Release()
				rb.Field(0).(*array.StringBuilder).Append(filepath.ToSlash(name))
				rb.Field(1).(*array.BinaryBuilder).Append(b)
				return []arrow.Record{rb.NewRecord()}, nil
			}}
		}
		return tasks, nil
	}}, nil), nil
}

// Read buffers are reused across read tasks: parsed records copy what they
// keep, so a chunk's raw bytes are garbage as soon as it is parsed, and
// reusing them spares the garbage collector (and page faults) about one
// file's worth of allocations.
var bufPool sync.Pool

func getBuf(n int) []byte {
	if b, ok := bufPool.Get().(*[]byte); ok && cap(*b) >= n {
		return (*b)[:n]
	}
	return make([]byte, n)
}

func putBuf(b []byte) { bufPool.Put(&b) }
