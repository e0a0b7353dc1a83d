package data

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strings"

	"github.com/apache/arrow/go/v15/arrow"
)

// FileSystem is what readers and writers use to reach files, so that object
// storage (s3://...) can plug in later. LocalFS is the default.
type FileSystem interface {
	Open(name string) (File, error)
	Create(name string) (io.WriteCloser, error)
	MkdirAll(dir string) error
	Stat(name string) (fs.FileInfo, error)
	// List returns the regular files under dir, recursively, sorted.
	List(dir string) ([]string, error)
	Glob(pattern string) ([]string, error)
}

// File is an open file: sequential and random-access reads.
type File interface {
	io.Reader
	io.ReaderAt
	io.Closer
	Stat() (fs.FileInfo, error)
}

// LocalFS is the local file system.
type LocalFS struct{}

func (LocalFS) Open(name string) (File, error)             { return os.Open(name) }
func (LocalFS) Create(name string) (io.WriteCloser, error) { return os.Create(name) }
func (LocalFS) MkdirAll(dir string) error                  { return os.MkdirAll(dir, 0o755) }
func (LocalFS) Stat(name string) (fs.FileInfo, error)      { return os.Stat(name) }
func (LocalFS) Glob(pattern string) ([]string, error)      { return filepath.Glob(pattern) }

func (LocalFS) List(dir string) ([]string, error) {
	var out []string
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		base := d.Name()
		if p != dir && (strings.HasPrefix(base, ".") || strings.HasPrefix(base, "_")) {
			if d.IsDir() {
				return filepath.SkipDir
			}
			return nil
		}
		if d.Type().IsRegular() {
			out = append(out, p)
		}
		return nil
	})
	sort.Strings(out)
	return out, err
}

// ReadOption configures a reader.
type ReadOption func(*readConfig)

// CSVOption configures ReadCSV (an alias kept for readability).
type CSVOption = ReadOption

type readConfig struct {
	fs         FileSystem
	delimiter  byte
	nullValues []string
	types      map[string]arrow.DataType
	exts       []string
	lazyQuotes bool
}

// WithFileSystem reads through fsys instead of the local file system.
func WithFileSystem(fsys FileSystem) ReadOption { return func(c *readConfig) { c.fs = fsys } }

// WithDelimiter sets the CSV field delimiter (',' by default).
func WithDelimiter(d byte) ReadOption { return func(c *readConfig) { c.delimiter = d } }

// WithLazyQuotes lets a CSV field that is not quoted hold a '"', kept as a
// literal character (as in `5" disk`). Without it such a quote is an error
// naming the file, line and column (RFC 4180: a field holding quotes must
// be quoted, its quotes doubled). A field that starts with '"' is a quoted
// field either way.
func WithLazyQuotes() ReadOption { return func(c *readConfig) { c.lazyQuotes = true } }

// WithNullValues sets the strings read as null (replacing the defaults "",
// "NA", "N/A", "NULL", "null", "NaN", "nan", "None").
func WithNullValues(v ...string) ReadOption {
	return func(c *readConfig) { c.nullValues = append([]string{}, v...) }
}

// WithFileExtensions keeps only files with these extensions when reading a
// directory or glob.
func WithFileExtensions(ext ...string) ReadOption { return func(c *readConfig) { c.exts = ext } }

func newReadConfig(opts []ReadOption) *readConfig {
	c := &readConfig{fs: LocalFS{}}
	for _, o := range opts {
		o(c)
	}
	return c
}

// expandPaths resolves files, directories and globs to a sorted list of
// files. A missing file or an empty match is an ErrInvalidInput naming it.
func expandPaths(fsys FileSystem, paths []string, exts []string) ([]string, error) {
	var out []string
	if len(paths) == 0 {
		return nil, invalid("no paths given")
	}
	for _, p := range paths {
		if strings.ContainsAny(p, "*?[") {
			m, err := fsys.Glob(p)
			if err != nil {
				return nil, invalid("bad glob %q: %v", p, err)
			}
			if len(m) == 0 {
				return nil, invalid("file %q: no files match", p)
			}
			for _, f := range m {
				st, err := fsys.Stat(f)
				if err == nil && st.IsDir() {
					files, err := fsys.List(f)
					if err != nil {
						return nil, invalid("dir %q: %v", f, err)
					}
					out = append(out, files...)
				} else {
					out = append(out, f)
				}
			}
			continue
		}
		st, err := fsys.Stat(p)
		if err != nil {
			if errors.Is(err, fs.ErrNotExist) {
				return nil, &notExistError{path: p, err: err}
			}
			return nil, invalid("file %q: %v", p, err)
		}
		if st.IsDir() {
			files, err := fsys.List(p)
			if err != nil {
				return nil, invalid("dir %q: %v", p, err)
			}
			if len(files) == 0 {
				return nil, invalid("dir %q: no files", p)
			}
			out = append(out, files...)
			continue
		}
		out = append(out, p)
	}
	if len(exts) > 0 {
		var kept []string
		for _, f := range out {
			for _, e := range exts {
				if strings.HasSuffix(f, "."+strings.TrimPrefix(e, ".")) {
					kept = append(kept, f)
					break
				}
			}
		}
		if len(kept) == 0 {
			return nil, invalid("no files with extensions %v in %v", exts, paths)
		}
		out = kept
	}
	return out, nil
}

// notExistError reports a missing input file in one sentence, and is both
// ErrInvalidInput and fs.ErrNotExist (through the file system's own error).
type notExistError struct {
	path string
	err  error
}

func (e *notExistError) Error() string {
	return fmt.Sprintf("%v: file %q does not exist", ErrInvalidInput, e.path)
}

func (e *notExistError) Unwrap() []error { return []error{ErrInvalidInput, e.err} }
