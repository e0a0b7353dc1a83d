package data

import (
	"context"
	"fmt"
	"math"
	"reflect"
	"slices"
	"sort"
	"strings"

	"github.com/apache/arrow/go/v15/arrow"
	"github.com/apache/arrow/go/v15/arrow/array"
	"github.com/apache/arrow/go/v15/arrow/memory"
	"github.com/goray/goray/data/internal/block"
)

// recordRows converts every row of rec to a Row.
func recordRows(rec arrow.Record) []Row {
	n := int(rec.NumRows())
	rows := make([]Row, n)
	names := block.Names(rec.Schema())
	cols := rec.Columns()
	for i := range rows {
		r := make(Row, len(names))
		for c, name := range names {
			r[name] = block.Value(cols[c], i)
		}
		rows[i] = r
	}
	return rows
}

// inferType picks an Arrow type for a Go value.
func inferType(v any) (arrow.DataType, error) {
	switch x := v.(type) {
	case int, int8, int16, int32, int64, uint8, uint16, uint32:
		return arrow.PrimitiveTypes.Int64, nil
	case uint, uint64:
		return arrow.PrimitiveTypes.Uint64, nil
	case float32, float64:
		return arrow.PrimitiveTypes.Float64, nil
	case string:
		return arrow.BinaryTypes.String, nil
	case bool:
		return arrow.FixedWidthTypes.Boolean, nil
	case []byte:
		return arrow.BinaryTypes.Binary, nil
	case []float64, []float32:
		return arrow.ListOf(arrow.PrimitiveTypes.Float64), nil
	case []int64, []int, []int32:
		return arrow.ListOf(arrow.PrimitiveTypes.Int64), nil
	case []string:
		return arrow.ListOf(arrow.BinaryTypes.String), nil
	case []any:
		for _, e := range x {
			if e != nil {
				et, err := inferType(e)
				if err != nil {
					return nil, err
				}
				return arrow.ListOf(et), nil
			}
		}
		return arrow.ListOf(arrow.PrimitiveTypes.Float64), nil
	}
	rv := reflect.ValueOf(v)
	if rv.Kind() == reflect.Slice {
		return nil, fmt.Errorf("unsupported slice type %T", v)
	}
	return nil, fmt.Errorf("unsupported value type %T", v)
}

// appendGo appends a Go value to b, converting between numeric kinds.
func appendGo(b array.Builder, v any) error {
	if v == nil {
		b.AppendNull()
		return nil
	}
	switch bb := b.(type) {
	case *array.Int64Builder:
		i, ok := toInt64(v)
		if !ok {
			return fmt.Errorf("cannot store %T (%v) in an int64 column", v, v)
		}
		bb.Append(i)
	case *array.Uint64Builder:
		i, ok := toInt64(v)
		if !ok || i < 0 {
			if u, isU := v.(uint64); isU {
				bb.Append(u)
				return nil
			}
			return fmt.Errorf("cannot store %T (%v) in a uint64 column", v, v)
		}
		bb.Append(uint64(i))
	case *array.Int32Builder:
		i, ok := toInt64(v)
		if !ok {
			return fmt.Errorf("cannot store %T in an int32 column", v)
		}
		bb.Append(int32(i))
	case *array.Float64Builder:
		f, ok := toFloat64(v)
		if !ok {
			return fmt.Errorf("cannot store %T (%v) in a float64 column", v, v)
		}
		bb.Append(f)
	case *array.Float32Builder:
		f, ok := toFloat64(v)
		if !ok {
			return fmt.Errorf("cannot store %T in a float32 column", v)
		}
		bb.Append(float32(f))
	case *array.StringBuilder:
		s, ok := v.(string)
		if !ok {
			return fmt.Errorf("cannot store %T (%v) in a string column", v, v)
		}
		bb.Append(s)
	case *array.BooleanBuilder:
		x, ok := v.(bool)
		if !ok {
			return fmt.Errorf("cannot store %T (%v) in a bool column", v, v)
		}
		bb.Append(x)
	case *array.BinaryBuilder:
		switch x := v.(type) {
		case []byte:
			bb.Append(x)
		case string:
			bb.AppendString(x)
		default:
			return fmt.Errorf("cannot store %T in a binary column", v)
		}
	case *array.ListBuilder:
		rv := reflect.ValueOf(v)
		if rv.Kind() != reflect.Slice {
			return fmt.Errorf("cannot store %T in a list column", v)
		}
		bb.Append(true)
		for i := 0; i < rv.Len(); i++ {
			if err := appendGo(bb.ValueBuilder(), rv.Index(i).Interface()); err != nil {
				return err
			}
		}
	case *array.StructBuilder:
		m, ok := v.(map[string]any)
		if !ok {
			return fmt.Errorf("cannot store %T in a struct column", v)
		}
		bb.Append(true)
		st := bb.Type().(*arrow.StructType)
		for i := 0; i < st.NumFields(); i++ {
			if err := appendGo(bb.FieldBuilder(i), m[st.Field(i).Name]); err != nil {
				return err
			}
		}
	default:
		return fmt.Errorf("unsupported column builder %T", b)
	}
	return nil
}

func toInt64(v any) (int64, bool) {
	switch x := v.(type) {
	case int:
		return int64(x), true
	case int8:
		return int64(x), true
	case int16:
		return int64(x), true
	case int32:
		return int64(x), true
	case int64:
		return x, true
	case uint8:
		return int64(x), true
	case uint16:
		return int64(x), true
	case uint32:
		return int64(x), true
	case uint:
		return int64(x), x <= math.MaxInt64
	case uint64:
		return int64(x), x <= math.MaxInt64
	case float64:
		return int64(x), x == math.Trunc(x)
	case bool:
		if x {
			return 1, true
		}
		return 0, true
	}
	return 0, false
}

func toFloat64(v any) (float64, bool) {
	switch x := v.(type) {
	case float64:
		return x, true
	case float32:
		return float64(x), true
	}
	if i, ok := toInt64(v); ok {
		return float64(i), true
	}
	if u, ok := v.(uint64); ok {
		return float64(u), true
	}
	return 0, false
}

// rowsToRecord builds a record from rows. Columns of hint keep their type
// and order; new columns follow in sorted order with inferred types.
func rowsToRecord(mem memory.Allocator, rows []Row, hint *arrow.Schema) (arrow.Record, error) {
	var names []string
	types := map[string]arrow.DataType{}
	if hint != nil {
		for _, f := range hint.Fields() {
			types[f.Name] = f.Type
		}
	}
	present := map[string]bool{}
	for _, r := range rows {
		for k := range r {
			present[k] = true
		}
	}
	if hint != nil {
		for _, f := range hint.Fields() {
			if present[f.Name] {
				names = append(names, f.Name)
			}
		}
	}
	var extra []string
	for k := range present {
		if hint == nil || len(hint.FieldIndices(k)) == 0 {
			extra = append(extra, k)
		}
	}
	sort.Strings(extra)
	names = append(names, extra...)
	return buildRecord(mem, names, len(rows), func(i int, name string) any { return rows[i][name] }, types)
}

func buildRecord(mem memory.Allocator, names []string, n int, get func(i int, name string) any, types map[string]arrow.DataType) (arrow.Record, error) {
	fields := make([]arrow.Field, len(names))
	for c, name := range names {
		dt := types[name]
		if dt == nil {
			for i := 0; i < n && dt == nil; i++ {
				if v := get(i, name); v != nil {
					t, err := inferType(v)
					if err != nil {
						return nil, fmt.Errorf("column %q row %d: %w", name, i, err)
					}
					dt = t
				}
			}
		}
		if dt == nil {
			dt = arrow.BinaryTypes.String
		}
		fields[c] = arrow.Field{Name: name, Type: dt, Nullable: true}
	}
	schema := arrow.NewSchema(fields, nil)
	rb := array.NewRecordBuilder(mem, schema)
	defer rb.Release()
	for c, name := range names {
		b := rb.Field(c)
		b.Reserve(n)
		for i := 0; i < n; i++ {
			v := get(i, name)
			if err := appendGo(b, v); err != nil {
				// A value of another kind than the inferred type.
				return nil, fmt.Errorf("column %q row %d: %w", name, i, err)
			}
		}
	}
	return rb.NewRecord(), nil
}

// RecordToColumns converts a record into typed column slices: int64 columns
// (and other integers) to []int64, float columns to []float64 (nulls become
// NaN), strings to []string, booleans to []bool, anything else to []any.
// Integer, string and bool nulls become zero values.
func RecordToColumns(rec arrow.Record) map[string]any {
	out := make(map[string]any, rec.NumCols())
	n := int(rec.NumRows())
	for c, col := range rec.Columns() {
		name := rec.ColumnName(c)
		switch a := col.(type) {
		case *array.Float64:
			v := slices.Clone(a.Float64Values())
			for i := range v {
				if a.IsNull(i) {
					v[i] = math.NaN()
				}
			}
			out[name] = v
		case *array.Float32:
			v := make([]float64, n)
			for i := range v {
				v[i], _ = block.Float(a, i)
				if a.IsNull(i) {
					v[i] = math.NaN()
				}
			}
			out[name] = v
		case *array.Int64, *array.Int32, *array.Int16, *array.Int8, *array.Uint32, *array.Uint16, *array.Uint8:
			v := make([]int64, n)
			for i := range v {
				if x, ok := block.Value(col, i).(int64); ok {
					v[i] = x
				} else if x, ok := block.Value(col, i).(uint64); ok {
					v[i] = int64(x)
				}
			}
			out[name] = v
		case *array.String:
			v := make([]string, n)
			for i := range v {
				v[i] = a.Value(i)
			}
			out[name] = v
		case *array.Boolean:
			v := make([]bool, n)
			for i := range v {
				v[i] = a.Value(i)
			}
			out[name] = v
		default:
			v := make([]any, n)
			for i := range v {
				v[i] = block.Value(col, i)
			}
			out[name] = v
		}
	}
	return out
}

// ColumnsToRecord builds a record from typed column slices (as produced by
// RecordToColumns, or []float32, []int, [][]float64...). Columns named in
// order come first in that order, the rest sorted by name. All columns must
// have the same length.
func ColumnsToRecord(mem memory.Allocator, cols map[string]any, order []string) (arrow.Record, error) {
	var names []string
	for _, n := range order {
		if _, ok := cols[n]; ok {
			names = append(names, n)
		}
	}
	var extra []string
	for n := range cols {
		if !slices.Contains(names, n) {
			extra = append(extra, n)
		}
	}
	sort.Strings(extra)
	names = append(names, extra...)
	fields := make([]arrow.Field, len(names))
	arrs := make([]arrow.Array, len(names))
	defer func() {
		for _, a := range arrs {
			if a != nil {
				a.Release()
			}
		}
	}()
	rows := -1
	for c, name := range names {
		v := reflect.ValueOf(cols[name])
		if v.Kind() != reflect.Slice {
			return nil, fmt.Errorf("%w: column %q: %T is not a slice", ErrInvalidInput, name, cols[name])
		}
		if rows >= 0 && v.Len() != rows {
			return nil, fmt.Errorf("%w: column %q has %d values, others %d", ErrInvalidInput, name, v.Len(), rows)
		}
		rows = v.Len()
		switch x := cols[name].(type) {
		case []float64:
			b := array.NewFloat64Builder(mem)
			b.AppendValues(x, nil)
			arrs[c] = b.NewArray()
			b.Release()
		case []int64:
			b := array.NewInt64Builder(mem)
			b.AppendValues(x, nil)
			arrs[c] = b.NewArray()
			b.Release()
		case []string:
			b := array.NewStringBuilder(mem)
			b.AppendValues(x, nil)
			arrs[c] = b.NewArray()
			b.Release()
		case []bool:
			b := array.NewBooleanBuilder(mem)
			b.AppendValues(x, nil)
			arrs[c] = b.NewArray()
			b.Release()
		default:
			var dt arrow.DataType
			for i := 0; i < v.Len() && dt == nil; i++ {
				e := v.Index(i).Interface()
				if e != nil {
					t, err := inferType(e)
					if err != nil {
						return nil, fmt.Errorf("%w: column %q: %v", ErrInvalidInput, name, err)
					}
					dt = t
				}
			}
			if dt == nil {
				dt = arrow.PrimitiveTypes.Float64
			}
			b := array.NewBuilder(mem, dt)
			for i := 0; i < v.Len(); i++ {
				if err := appendGo(b, v.Index(i).Interface()); err != nil {
					b.Release()
					return nil, fmt.Errorf("%w: column %q row %d: %v", ErrInvalidInput, name, i, err)
				}
			}
			arrs[c] = b.NewArray()
			b.Release()
		}
		fields[c] = arrow.Field{Name: name, Type: arrs[c].DataType(), Nullable: true}
	}
	if rows < 0 {
		rows = 0
	}
	return array.NewRecord(arrow.NewSchema(fields, nil), arrs, int64(rows)), nil
}

// itemsPerBlock bounds the rows of one block built by FromItems.
const itemsPerBlock = 64 << 10

// FromItems builds a dataset from Go values: maps (map[string]any or Row)
// or structs (exported fields; the `data:"name"` tag renames a column and
// `data:"-"` skips it). Values are converted now so that type errors are
// reported at once.
func FromItems[T any](items []T) (*Dataset, error) {
	var names []string
	var get func(i int, name string) any
	rt := reflect.TypeFor[T]()
	for rt.Kind() == reflect.Pointer {
		rt = rt.Elem()
	}
	switch {
	case rt.Kind() == reflect.Map && rt.Key().Kind() == reflect.String:
		seen := map[string]bool{}
		var order []string
		for _, it := range items {
			rv := reflect.ValueOf(it)
			for _, k := range rv.MapKeys() {
				if !seen[k.String()] {
					seen[k.String()] = true
					order = append(order, k.String())
				}
			}
		}
		sort.Strings(order)
		names = order
		get = func(i int, name string) any {
			v := reflect.ValueOf(items[i]).MapIndex(reflect.ValueOf(name))
			if !v.IsValid() {
				return nil
			}
			return v.Interface()
		}
	case rt.Kind() == reflect.Struct:
		idx := map[string][]int{}
		for i := 0; i < rt.NumField(); i++ {
			f := rt.Field(i)
			if !f.IsExported() {
				continue
			}
			name := f.Name
			if tag, ok := f.Tag.Lookup("data"); ok {
				if tag == "-" {
					continue
				}
				name = strings.Split(tag, ",")[0]
			}
			names = append(names, name)
			idx[name] = f.Index
		}
		get = func(i int, name string) any {
			v := reflect.ValueOf(items[i])
			for v.Kind() == reflect.Pointer {
				if v.IsNil() {
					return nil
				}
				v = v.Elem()
			}
			return v.FieldByIndex(idx[name]).Interface()
		}
	default:
		// Plain values become one column "item", as in Ray.
		names = []string{"item"}
		get = func(i int, name string) any { return any(items[i]) }
	}
	var recs []arrow.Record
	var schema *arrow.Schema
	for start := 0; start < len(items) || start == 0; start += itemsPerBlock {
		end := min(start+itemsPerBlock, len(items))
		var types map[string]arrow.DataType
		if schema != nil {
			types = map[string]arrow.DataType{}
			for _, f := range schema.Fields() {
				types[f.Name] = f.Type
			}
		}
		rec, err := buildRecord(memory.DefaultAllocator, names, end-start, func(i int, name string) any { return get(start+i, name) }, types)
		if err != nil {
			return nil, fmt.Errorf("%w: FromItems: %v", ErrInvalidInput, err)
		}
		schema = rec.Schema()
		recs = append(recs, rec)
		if end >= len(items) {
			break
		}
	}
	return fromRecords("FromItems", recs), nil
}

// FromArrow builds a dataset over records (retained; the caller keeps its
// own references).
func FromArrow(recs ...arrow.Record) *Dataset {
	for _, r := range recs {
		r.Retain()
	}
	return fromRecords("FromArrow", recs)
}

// FromArrowTable builds a dataset over the record batches of a table.
func FromArrowTable(tbl arrow.Table) *Dataset {
	tr := array.NewTableReader(tbl, 0)
	defer tr.Release()
	var recs []arrow.Record
	for tr.Next() {
		r := tr.Record()
		r.Retain()
		recs = append(recs, r)
	}
	if len(recs) == 0 {
		b := array.NewRecordBuilder(memory.DefaultAllocator, tbl.Schema())
		recs = append(recs, b.NewRecord())
		b.Release()
	}
	return fromRecords("FromArrow", recs)
}

// fromRecords makes a source over records it owns (they live as long as the
// dataset; each read task hands out a new reference).
func fromRecords(name string, recs []arrow.Record) *Dataset {
	tasks := make([]readTask, len(recs))
	for i, r := range recs {
		tasks[i] = readTask{est: block.Size(r), read: func(ctx context.Context, dc *Context) ([]arrow.Record, error) {
			r.Retain()
			return []arrow.Record{r}, nil
		}}
	}
	return newDataset(&node{kind: kindSource, name: name, plan: func(ctx context.Context, dc *Context) ([]readTask, error) {
		return tasks, nil
	}}, nil)
}

// Range is the dataset of integers 0..n-1 in column "id", generated lazily
// in blocks.
func Range(n int) *Dataset {
	return rangeDataset(int64(n), 0)
}

// rangeRecords is the block of ids s..e-1.
func rangeRecords(mem memory.Allocator, s, e int64) []arrow.Record {
	b := array.NewInt64Builder(mem)
	defer b.Release()
	b.Reserve(int(e - s))
	for i := s; i < e; i++ {
		b.UnsafeAppend(i)
	}
	arr := b.NewArray()
	defer arr.Release()
	schema := arrow.NewSchema([]arrow.Field{{Name: "id", Type: arrow.PrimitiveTypes.Int64}}, nil)
	return []arrow.Record{array.NewRecord(schema, []arrow.Array{arr}, e-s)}
}

func rangeDataset(n int64, blockRows int64) *Dataset {
	return newDataset(&node{kind: kindSource, name: "Range", plan: func(ctx context.Context, dc *Context) ([]readTask, error) {
		per := blockRows
		if per <= 0 {
			per = max(1, min(dc.TargetMaxBlockSize/8, 1<<20))
			if n > 0 {
				// At least a few tasks per core for parallelism.
				per = max(1, min(per, (n+15)/16))
			}
		}
		var tasks []readTask
		for start := int64(0); start < n || (n == 0 && start == 0); start += per {
			s, e := start, min(start+per, n)
			tasks = append(tasks, readTask{est: (e - s) * 8, read: func(ctx context.Context, dc *Context) ([]arrow.Record, error) {
				return rangeRecords(dc.Allocator, s, e), nil
			}, spec: &readSpec{Range: &[2]int64{s, e}}})
			if n == 0 {
				break
			}
		}
		return tasks, nil
	}}, nil)
}
