package preprocess

import (
	"fmt"
	"math"
	"strings"

	"github.com/apache/arrow/go/v15/arrow"
	"github.com/apache/arrow/go/v15/arrow/array"
	"github.com/apache/arrow/go/v15/arrow/bitutil"
	"github.com/apache/arrow/go/v15/arrow/memory"
)

// This file holds the Arrow plumbing shared by every preprocessor: finding
// columns by name, reading numeric columns as float64, building output
// arrays and assembling output records.

// colIndex returns the index of the first field called name, or -1.
func colIndex(s *arrow.Schema, name string) int {
	idx := s.FieldIndices(name)
	if len(idx) == 0 {
		return -1
	}
	return idx[0]
}

// missingColumn is the error for a column that is not in the input.
func missingColumn(typ, name string, s *arrow.Schema) error {
	names := make([]string, len(s.Fields()))
	for i, f := range s.Fields() {
		names[i] = f.Name
	}
	return fmt.Errorf("%w: %s: column %q not found (have %s)", ErrInvalidInput, typ, name, quoteList(names))
}

func quoteList(names []string) string {
	q := make([]string, len(names))
	for i, n := range names {
		q[i] = fmt.Sprintf("%q", n)
	}
	return "[" + strings.Join(q, ", ") + "]"
}

// column returns the array called name in rec.
func column(rec arrow.Record, typ, name string) (arrow.Array, int, error) {
	i := colIndex(rec.Schema(), name)
	if i < 0 {
		return nil, -1, missingColumn(typ, name, rec.Schema())
	}
	return rec.Column(i), i, nil
}

// isNumeric reports whether dt is an integer or floating-point type.
func isNumeric(dt arrow.DataType) bool {
	switch dt.ID() {
	case arrow.INT8, arrow.INT16, arrow.INT32, arrow.INT64,
		arrow.UINT8, arrow.UINT16, arrow.UINT32, arrow.UINT64,
		arrow.FLOAT32, arrow.FLOAT64:
		return true
	}
	return false
}

// checkColumns checks that every name in cols is in s and, when numeric is
// set, that it holds numbers. It names the first bad column.
func checkColumns(typ string, s *arrow.Schema, cols []string, numeric bool) error {
	if len(cols) == 0 {
		return fmt.Errorf("%w: %s: no columns given", ErrInvalidInput, typ)
	}
	for _, c := range cols {
		i := colIndex(s, c)
		if i < 0 {
			return missingColumn(typ, c, s)
		}
		if numeric && !isNumeric(s.Field(i).Type) {
			return notNumeric(typ, c, s.Field(i).Type)
		}
	}
	return nil
}

func notNumeric(typ, name string, dt arrow.DataType) error {
	return fmt.Errorf("%w: %s: column %q has type %s, want a numeric column", ErrInvalidInput, typ, name, dt)
}

// floats returns the values of a numeric array as float64, with NaN in
// place of nulls. For a float64 array without nulls it returns the array's
// own memory, which the caller must not modify.
func floats(typ, name string, arr arrow.Array) ([]float64, error) {
	if a, ok := arr.(*array.Float64); ok && a.NullN() == 0 {
		return a.Float64Values(), nil
	}
	out := make([]float64, arr.Len())
	switch a := arr.(type) {
	case *array.Float64:
		copy(out, a.Float64Values())
	case *array.Float32:
		convert(out, a.Float32Values())
	case *array.Int8:
		convert(out, a.Int8Values())
	case *array.Int16:
		convert(out, a.Int16Values())
	case *array.Int32:
		convert(out, a.Int32Values())
	case *array.Int64:
		convert(out, a.Int64Values())
	case *array.Uint8:
		convert(out, a.Uint8Values())
	case *array.Uint16:
		convert(out, a.Uint16Values())
	case *array.Uint32:
		convert(out, a.Uint32Values())
	case *array.Uint64:
		convert(out, a.Uint64Values())
	default:
		return nil, notNumeric(typ, name, arr.DataType())
	}
	if arr.NullN() > 0 {
		for i := range out {
			if arr.IsNull(i) {
				out[i] = math.NaN()
			}
		}
	}
	return out, nil
}

type number interface {
	~int8 | ~int16 | ~int32 | ~int64 | ~uint8 | ~uint16 | ~uint32 | ~uint64 | ~float32 | ~float64
}

func convert[T number](dst []float64, src []T) {
	for i, v := range src {
		dst[i] = float64(v)
	}
}

// numericColumn looks up name in rec and returns its values as float64
// (see floats) together with the array.
func numericColumn(rec arrow.Record, typ, name string) ([]float64, arrow.Array, error) {
	arr, _, err := column(rec, typ, name)
	if err != nil {
		return nil, nil, err
	}
	v, err := floats(typ, name, arr)
	return v, arr, err
}

// validity returns a validity bitmap for a new array of like's length that
// starts at offset 0, or nil when like has no nulls. The caller releases the
// buffer after handing it to array.NewData.
func validity(like arrow.Array) *memory.Buffer {
	if like.NullN() == 0 {
		return nil
	}
	bufs := like.Data().Buffers()
	if len(bufs) == 0 || bufs[0] == nil {
		return nil
	}
	n := like.Len()
	b := make([]byte, bitutil.BytesForBits(int64(n)))
	bitutil.CopyBitmap(bufs[0].Bytes(), like.Data().Offset(), n, b, 0)
	return memory.NewBufferBytes(b)
}

// float64Array wraps vals as a float64 array with like's nulls (nil like:
// no nulls). The array shares vals' memory.
func float64Array(vals []float64, like arrow.Array) arrow.Array {
	var valid *memory.Buffer
	nulls := 0
	if like != nil {
		valid = validity(like)
		if valid != nil {
			nulls = like.NullN()
		}
	}
	d := array.NewData(arrow.PrimitiveTypes.Float64, len(vals),
		[]*memory.Buffer{valid, memory.NewBufferBytes(arrow.Float64Traits.CastToBytes(vals))}, nil, nulls, 0)
	defer d.Release()
	return array.NewFloat64Data(d)
}

// int64Array wraps vals as an int64 array; valid (may be nil) marks the
// non-null rows.
func int64Array(vals []int64, valid []bool) arrow.Array {
	buf, nulls := bitmapFromBools(valid)
	d := array.NewData(arrow.PrimitiveTypes.Int64, len(vals),
		[]*memory.Buffer{buf, memory.NewBufferBytes(arrow.Int64Traits.CastToBytes(vals))}, nil, nulls, 0)
	defer d.Release()
	return array.NewInt64Data(d)
}

func bitmapFromBools(valid []bool) (*memory.Buffer, int) {
	if valid == nil {
		return nil, 0
	}
	nulls := 0
	b := make([]byte, bitutil.BytesForBits(int64(len(valid))))
	for i, ok := range valid {
		if ok {
			bitutil.SetBit(b, i)
		} else {
			nulls++
		}
	}
	if nulls == 0 {
		return nil, 0
	}
	return memory.NewBufferBytes(b), nulls
}

// newCol is one output column.
type newCol struct {
	name string
	arr  arrow.Array
}

// assemble builds the output record: rec's columns in order, with those in
// replace swapped for new arrays (same name, new type), those in drop left
// out, then extra appended. It takes ownership of the arrays in replace and
// extra. Schema metadata is kept.
func assemble(rec arrow.Record, replace map[int]arrow.Array, drop map[int]bool, extra []newCol) arrow.Record {
	s := rec.Schema()
	n := int(rec.NumCols())
	fields := make([]arrow.Field, 0, n+len(extra))
	cols := make([]arrow.Array, 0, n+len(extra))
	for i := 0; i < n; i++ {
		if drop[i] {
			continue
		}
		f := s.Field(i)
		c := rec.Column(i)
		if r, ok := replace[i]; ok {
			f = arrow.Field{Name: f.Name, Type: r.DataType(), Nullable: true, Metadata: f.Metadata}
			c = r
		}
		fields = append(fields, f)
		cols = append(cols, c)
	}
	for _, e := range extra {
		fields = append(fields, arrow.Field{Name: e.name, Type: e.arr.DataType(), Nullable: true})
		cols = append(cols, e.arr)
	}
	var md *arrow.Metadata
	if s.HasMetadata() {
		m := s.Metadata()
		md = &m
	}
	out := array.NewRecord(arrow.NewSchema(fields, md), cols, rec.NumRows())
	for _, r := range replace {
		r.Release()
	}
	for _, e := range extra {
		e.arr.Release()
	}
	return out
}

// resolve maps each name in cols to its index in rec, naming the first
// missing column.
func resolve(rec arrow.Record, typ string, cols []string) ([]int, error) {
	idx := make([]int, len(cols))
	for k, c := range cols {
		i := colIndex(rec.Schema(), c)
		if i < 0 {
			return nil, missingColumn(typ, c, rec.Schema())
		}
		idx[k] = i
	}
	return idx, nil
}
