// Package block holds the pure, single-block kernels the data package builds
// on: sizing, slicing, concatenation, take/filter, sort indices, row access and
// group-by partial aggregation. Every function here works on arrow.Record
// values and never runs anything remotely.
//
// Ownership: every function that returns a record returns one the caller owns
// (and must Release); inputs are never released.
package block

import (
	"context"
	"fmt"

	"github.com/apache/arrow/go/v15/arrow"
	"github.com/apache/arrow/go/v15/arrow/array"
	"github.com/apache/arrow/go/v15/arrow/compute"
	"github.com/apache/arrow/go/v15/arrow/memory"
)

// Size returns the bytes held by the record's buffers, counting only the
// window a sliced record refers to where the layout allows it.
func Size(rec arrow.Record) int64 {
	if rec == nil {
		return 0
	}
	var n int64
	for _, c := range rec.Columns() {
		n += arraySize(c.Data())
	}
	return n
}

func arraySize(d arrow.ArrayData) int64 {
	var n int64
	ln := int64(d.Len())
	switch dt := d.DataType().(type) {
	case arrow.FixedWidthDataType:
		if dt.ID() == arrow.BOOL {
			n = (ln + 7) / 8
		} else {
			n = ln * int64(dt.BitWidth()) / 8
		}
		if d.NullN() > 0 {
			n += (ln + 7) / 8
		}
		return n
	case *arrow.StringType, *arrow.BinaryType:
		n = (ln + 1) * 4
		bufs := d.Buffers()
		if len(bufs) > 2 && bufs[1] != nil && bufs[2] != nil && ln > 0 {
			offs := arrow.Int32Traits.CastFromBytes(bufs[1].Bytes())
			off := d.Offset()
			if off+int(ln) < len(offs) {
				n += int64(offs[off+int(ln)] - offs[off])
			}
		}
		if d.NullN() > 0 {
			n += (ln + 7) / 8
		}
		return n
	}
	for _, b := range d.Buffers() {
		if b != nil {
			n += int64(b.Len())
		}
	}
	for _, c := range d.Children() {
		n += arraySize(c)
	}
	return n
}

// Empty returns a zero-row record with the given schema.
func Empty(mem memory.Allocator, schema *arrow.Schema) arrow.Record {
	b := array.NewRecordBuilder(mem, schema)
	defer b.Release()
	return b.NewRecord()
}

// Concat concatenates records that share a schema into one record.
func Concat(mem memory.Allocator, schema *arrow.Schema, recs []arrow.Record) (arrow.Record, error) {
	if len(recs) == 0 {
		return Empty(mem, schema), nil
	}
	if len(recs) == 1 {
		recs[0].Retain()
		return recs[0], nil
	}
	var rows int64
	for _, r := range recs {
		if !r.Schema().Equal(schema) {
			return nil, fmt.Errorf("schema mismatch: %s vs %s", r.Schema(), schema)
		}
		rows += r.NumRows()
	}
	cols := make([]arrow.Array, schema.NumFields())
	parts := make([]arrow.Array, len(recs))
	for i := range cols {
		for j, r := range recs {
			parts[j] = r.Column(i)
		}
		c, err := array.Concatenate(parts, mem)
		if err != nil {
			releaseAll(cols[:i])
			return nil, fmt.Errorf("concat column %q: %w", schema.Field(i).Name, err)
		}
		cols[i] = c
	}
	out := array.NewRecord(schema, cols, rows)
	releaseAll(cols)
	return out, nil
}

func releaseAll(arrs []arrow.Array) {
	for _, a := range arrs {
		if a != nil {
			a.Release()
		}
	}
}

// SplitBySize slices rec into consecutive zero-copy pieces of at most
// maxBytes each (by average row width); a single row is never split, so a row
// larger than maxBytes yields a piece larger than maxBytes. The caller owns the
// returned slices.
func SplitBySize(rec arrow.Record, maxBytes int64) []arrow.Record {
	size := Size(rec)
	n := rec.NumRows()
	if size <= maxBytes || n <= 1 || maxBytes <= 0 {
		rec.Retain()
		return []arrow.Record{rec}
	}
	pieces := (size + maxBytes - 1) / maxBytes
	rowsPer := (n + pieces - 1) / pieces
	if rowsPer < 1 {
		rowsPer = 1
	}
	return SplitRows(rec, rowsPer)
}

// SplitRows slices rec into pieces of rowsPer rows (the last may be shorter).
func SplitRows(rec arrow.Record, rowsPer int64) []arrow.Record {
	n := rec.NumRows()
	if rowsPer <= 0 || n <= rowsPer {
		rec.Retain()
		return []arrow.Record{rec}
	}
	var out []arrow.Record
	for i := int64(0); i < n; i += rowsPer {
		j := min(i+rowsPer, n)
		out = append(out, rec.NewSlice(i, j))
	}
	return out
}

// Take gathers rows by index into a new record.
func Take(mem memory.Allocator, rec arrow.Record, idx []int) (arrow.Record, error) {
	refs := make([]RowRef, len(idx))
	for i, j := range idx {
		refs[i] = RowRef{Row: int32(j)}
	}
	return Gather(mem, rec.Schema(), []arrow.Record{rec}, refs)
}

// Filter keeps the rows whose mask entry is true.
func Filter(mem memory.Allocator, rec arrow.Record, mask []bool) (arrow.Record, error) {
	var idx []int
	for i, keep := range mask {
		if keep {
			idx = append(idx, i)
		}
	}
	if len(idx) == len(mask) {
		rec.Retain()
		return rec, nil
	}
	return Take(mem, rec, idx)
}

// Select returns a record with only the named columns, in that order.
func Select(rec arrow.Record, cols []string) (arrow.Record, error) {
	fields := make([]arrow.Field, len(cols))
	arrs := make([]arrow.Array, len(cols))
	for i, name := range cols {
		j := rec.Schema().FieldIndices(name)
		if len(j) == 0 {
			return nil, fmt.Errorf("unknown column %q (have %v)", name, Names(rec.Schema()))
		}
		fields[i] = rec.Schema().Field(j[0])
		arrs[i] = rec.Column(j[0])
	}
	md := rec.Schema().Metadata()
	return array.NewRecord(arrow.NewSchema(fields, &md), arrs, rec.NumRows()), nil
}

// Names returns the field names of a schema.
func Names(s *arrow.Schema) []string {
	out := make([]string, s.NumFields())
	for i := range out {
		out[i] = s.Field(i).Name
	}
	return out
}

// Value returns row i of arr as a plain Go value: int64, uint64, float64,
// string, bool, []byte, []any for lists, map[string]any for structs, or nil
// for null.
func Value(arr arrow.Array, i int) any {
	if arr.IsNull(i) {
		return nil
	}
	switch a := arr.(type) {
	case *array.Int64:
		return a.Value(i)
	case *array.Float64:
		return a.Value(i)
	case *array.String:
		return a.Value(i)
	case *array.LargeString:
		return a.Value(i)
	case *array.Boolean:
		return a.Value(i)
	case *array.Int32:
		return int64(a.Value(i))
	case *array.Int16:
		return int64(a.Value(i))
	case *array.Int8:
		return int64(a.Value(i))
	case *array.Uint64:
		return a.Value(i)
	case *array.Uint32:
		return uint64(a.Value(i))
	case *array.Uint16:
		return uint64(a.Value(i))
	case *array.Uint8:
		return uint64(a.Value(i))
	case *array.Float32:
		return float64(a.Value(i))
	case *array.Binary:
		return append([]byte(nil), a.Value(i)...)
	case *array.List:
		s, e := a.ValueOffsets(i)
		vals := a.ListValues()
		out := make([]any, 0, e-s)
		for j := s; j < e; j++ {
			out = append(out, Value(vals, int(j)))
		}
		return out
	case *array.FixedSizeList:
		n := int(a.DataType().(*arrow.FixedSizeListType).Len())
		vals := a.ListValues()
		out := make([]any, 0, n)
		base := (a.Offset() + i) * n
		for j := 0; j < n; j++ {
			out = append(out, Value(vals, base+j))
		}
		return out
	case *array.Struct:
		st := a.DataType().(*arrow.StructType)
		out := make(map[string]any, a.NumField())
		for f := 0; f < a.NumField(); f++ {
			out[st.Field(f).Name] = Value(a.Field(f), i)
		}
		return out
	}
	return arr.GetOneForMarshal(i)
}

// Float returns row i of a numeric column as float64 and whether it is valid.
func Float(arr arrow.Array, i int) (float64, bool) {
	if arr.IsNull(i) {
		return 0, false
	}
	switch a := arr.(type) {
	case *array.Float64:
		return a.Value(i), true
	case *array.Int64:
		return float64(a.Value(i)), true
	case *array.Float32:
		return float64(a.Value(i)), true
	case *array.Int32:
		return float64(a.Value(i)), true
	case *array.Int16:
		return float64(a.Value(i)), true
	case *array.Int8:
		return float64(a.Value(i)), true
	case *array.Uint64:
		return float64(a.Value(i)), true
	case *array.Uint32:
		return float64(a.Value(i)), true
	case *array.Uint16:
		return float64(a.Value(i)), true
	case *array.Uint8:
		return float64(a.Value(i)), true
	case *array.Boolean:
		if a.Value(i) {
			return 1, true
		}
		return 0, true
	}
	return 0, false
}

// IsNumeric reports whether Float can read the type.
func IsNumeric(dt arrow.DataType) bool {
	switch dt.ID() {
	case arrow.FLOAT64, arrow.FLOAT32, arrow.INT64, arrow.INT32, arrow.INT16, arrow.INT8,
		arrow.UINT64, arrow.UINT32, arrow.UINT16, arrow.UINT8, arrow.BOOL:
		return true
	}
	return false
}

// RowRef names row Row of source record Src.
type RowRef struct {
	Src int32
	Row int32
}

// Gather builds a record from rows of several records sharing a schema, in
// the order of refs, copying each value once. Numeric, boolean and string
// columns take a direct path; other types fall back to concatenate+take.
func Gather(mem memory.Allocator, schema *arrow.Schema, srcs []arrow.Record, refs []RowRef) (arrow.Record, error) {
	cols := make([]arrow.Array, schema.NumFields())
	defer releaseAll(cols)
	parts := make([]arrow.Array, len(srcs))
	for c := range cols {
		for s, r := range srcs {
			parts[s] = r.Column(c)
		}
		arr, err := gatherColumn(mem, schema.Field(c).Type, parts, refs)
		if err != nil {
			return nil, fmt.Errorf("gather column %q: %w", schema.Field(c).Name, err)
		}
		cols[c] = arr
	}
	return array.NewRecord(schema, cols, int64(len(refs))), nil
}

func anyNulls(parts []arrow.Array) bool {
	for _, p := range parts {
		if p.NullN() > 0 {
			return true
		}
	}
	return false
}

func gatherColumn(mem memory.Allocator, dt arrow.DataType, parts []arrow.Array, refs []RowRef) (arrow.Array, error) {
	nulls := anyNulls(parts)
	switch dt.ID() {
	case arrow.FLOAT64:
		vals := make([][]float64, len(parts))
		for i, p := range parts {
			vals[i] = p.(*array.Float64).Float64Values()
		}
		b := array.NewFloat64Builder(mem)
		defer b.Release()
		b.Reserve(len(refs))
		for _, r := range refs {
			if nulls && parts[r.Src].IsNull(int(r.Row)) {
				b.UnsafeAppendBoolToBitmap(false)
				continue
			}
			b.UnsafeAppend(vals[r.Src][r.Row])
		}
		return b.NewArray(), nil
	case arrow.INT64:
		vals := make([][]int64, len(parts))
		for i, p := range parts {
			vals[i] = p.(*array.Int64).Int64Values()
		}
		b := array.NewInt64Builder(mem)
		defer b.Release()
		b.Reserve(len(refs))
		for _, r := range refs {
			if nulls && parts[r.Src].IsNull(int(r.Row)) {
				b.UnsafeAppendBoolToBitmap(false)
				continue
			}
			b.UnsafeAppend(vals[r.Src][r.Row])
		}
		return b.NewArray(), nil
	case arrow.STRING:
		b := array.NewStringBuilder(mem)
		defer b.Release()
		b.Reserve(len(refs))
		var total int
		for _, r := range refs {
			total += len(parts[r.Src].(*array.String).Value(int(r.Row)))
		}
		b.ReserveData(total)
		for _, r := range refs {
			a := parts[r.Src].(*array.String)
			if nulls && a.IsNull(int(r.Row)) {
				b.AppendNull()
				continue
			}
			b.Append(a.Value(int(r.Row)))
		}
		return b.NewArray(), nil
	case arrow.BINARY:
		b := array.NewBinaryBuilder(mem, arrow.BinaryTypes.Binary)
		defer b.Release()
		b.Reserve(len(refs))
		var total int
		for _, r := range refs {
			total += len(parts[r.Src].(*array.Binary).Value(int(r.Row)))
		}
		b.ReserveData(total)
		for _, r := range refs {
			a := parts[r.Src].(*array.Binary)
			if nulls && a.IsNull(int(r.Row)) {
				b.AppendNull()
				continue
			}
			b.Append(a.Value(int(r.Row)))
		}
		return b.NewArray(), nil
	case arrow.BOOL:
		b := array.NewBooleanBuilder(mem)
		defer b.Release()
		b.Reserve(len(refs))
		for _, r := range refs {
			a := parts[r.Src].(*array.Boolean)
			if nulls && a.IsNull(int(r.Row)) {
				b.AppendNull()
				continue
			}
			b.UnsafeAppend(a.Value(int(r.Row)))
		}
		return b.NewArray(), nil
	}
	// Generic: concatenate, then take by global index.
	whole, err := array.Concatenate(parts, mem)
	if err != nil {
		return nil, err
	}
	defer whole.Release()
	offs := make([]int, len(parts)+1)
	for i, p := range parts {
		offs[i+1] = offs[i] + p.Len()
	}
	ib := array.NewInt64Builder(mem)
	defer ib.Release()
	ib.Reserve(len(refs))
	for _, r := range refs {
		ib.UnsafeAppend(int64(offs[r.Src] + int(r.Row)))
	}
	ind := ib.NewArray()
	defer ind.Release()
	return compute.TakeArray(compute.WithAllocator(context.Background(), mem), whole, ind)
}
