package data

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"math"
	"strings"

	"github.com/apache/arrow/go/v15/arrow"
	"github.com/apache/arrow/go/v15/arrow/csv"
	"github.com/apache/arrow/go/v15/parquet"
	"github.com/apache/arrow/go/v15/parquet/pqarrow"
	"github.com/goray/goray/core"
	"github.com/goray/goray/data/internal/block"
)

// WriteOption configures a writer.
type WriteOption func(*writeConfig)

type writeConfig struct {
	fs        FileSystem
	delimiter rune
}

// WriteFileSystem writes through fsys instead of the local file system.
func WriteFileSystem(fsys FileSystem) WriteOption { return func(c *writeConfig) { c.fs = fsys } }

// WriteDelimiter sets the CSV delimiter.
func WriteDelimiter(d rune) WriteOption { return func(c *writeConfig) { c.delimiter = d } }

// WriteCSV writes one CSV file (with a header) per block into dir, named
// part-00000.csv, part-00001.csv... in block order. It returns the file
// paths.
func (ds *Dataset) WriteCSV(ctx context.Context, dir string, opts ...WriteOption) ([]string, error) {
	return ds.write(ctx, dir, "csv", opts, func(w io.Writer, rec arrow.Record, cfg *writeConfig) error {
		cw := csv.NewWriter(w, rec.Schema(), csv.WithHeader(true), csv.WithComma(cfg.delimiter), csv.WithNullWriter(""))
		if err := cw.Write(rec); err != nil {
			return err
		}
		return cw.Flush()
	})
}

// WriteJSON writes one JSON Lines file per block (part-00000.json...).
func (ds *Dataset) WriteJSON(ctx context.Context, dir string, opts ...WriteOption) ([]string, error) {
	return ds.write(ctx, dir, "json", opts, func(w io.Writer, rec arrow.Record, cfg *writeConfig) error {
		enc := json.NewEncoder(w)
		names := block.Names(rec.Schema())
		for i := 0; i < int(rec.NumRows()); i++ {
			row := make(map[string]any, len(names))
			for c, n := range names {
				v := block.Value(rec.Column(c), i)
				if f, ok := v.(float64); ok && (math.IsNaN(f) || math.IsInf(f, 0)) {
					v = nil // JSON has no NaN or Inf
				}
				row[n] = v
			}
			if err := enc.Encode(row); err != nil {
				return err
			}
		}
		return nil
	})
}

// WriteParquet writes one Parquet file per block (part-00000.parquet...).
func (ds *Dataset) WriteParquet(ctx context.Context, dir string, opts ...WriteOption) ([]string, error) {
	return ds.write(ctx, dir, "parquet", opts, func(w io.Writer, rec arrow.Record, cfg *writeConfig) error {
		fw, err := pqarrow.NewFileWriter(rec.Schema(), w, parquet.NewWriterProperties(), pqarrow.DefaultWriterProps())
		if err != nil {
			return err
		}
		if err := fw.Write(rec); err != nil {
			fw.Close()
			return err
		}
		return fw.Close()
	})
}

func (ds *Dataset) write(ctx context.Context, dir, ext string, opts []WriteOption, enc func(io.Writer, arrow.Record, *writeConfig) error) ([]string, error) {
	cfg := &writeConfig{fs: LocalFS{}, delimiter: ','}
	for _, o := range opts {
		o(cfg)
	}
	if err := cfg.fs.MkdirAll(dir); err != nil {
		return nil, invalid("write: dir %q: %v", dir, err)
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	var refs []core.Ref[any]
	var paths []string
	_, err := ds.run(ctx, func(b *Block) bool {
		// Plain concatenation, not path.Join, which would fold the "//" of
		// a URL such as s3://bucket.
		name := strings.TrimSuffix(dir, "/") + "/" + fmt.Sprintf("part-%05d.%s", len(paths), ext)
		paths = append(paths, name)
		refs = append(refs, fnTask.Remote(ctx, func(ctx context.Context) (any, error) {
			return writeBlock(ctx, cfg, name, b, enc)
		}))
		return true
	})
	for _, r := range refs {
		if err != nil {
			_ = core.Cancel(r)
			continue
		}
		if _, gerr := core.Get(ctx, r); gerr != nil {
			err = unwrapTask(gerr)
		}
	}
	if err != nil {
		return nil, err
	}
	return paths, nil
}

func writeBlock(ctx context.Context, cfg *writeConfig, name string, b *Block, enc func(io.Writer, arrow.Record, *writeConfig) error) (any, error) {
	f, err := cfg.fs.Create(name)
	if err != nil {
		return nil, invalid("write %q: %v", name, err)
	}
	bw := bufio.NewWriterSize(f, 1<<20)
	if err := enc(bw, b.Rec, cfg); err != nil {
		f.Close()
		return nil, fmt.Errorf("write %q: %w", name, err)
	}
	if err := bw.Flush(); err != nil {
		f.Close()
		return nil, fmt.Errorf("write %q: %w", name, err)
	}
	return nil, f.Close()
}
