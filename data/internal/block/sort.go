package block

import (
	"cmp"
	"fmt"
	"math"
	"slices"
	"strings"

	"github.com/apache/arrow/go/v15/arrow"
	"github.com/apache/arrow/go/v15/arrow/array"
)

// SortKey names a column and its direction. Nulls sort last in both
// directions; NaN sorts after every number and before null.
type SortKey struct {
	Column     string
	Descending bool
}

// rowCmp compares rows i and j of one record.
type rowCmp func(i, j int) int

func columnCmp(arr arrow.Array) (rowCmp, error) {
	nulls := arr.NullN() > 0
	wrap := func(f rowCmp) rowCmp {
		if !nulls {
			return f
		}
		return func(i, j int) int {
			ni, nj := arr.IsNull(i), arr.IsNull(j)
			switch {
			case ni && nj:
				return 0
			case ni:
				return 1
			case nj:
				return -1
			}
			return f(i, j)
		}
	}
	switch a := arr.(type) {
	case *array.Int64:
		v := a.Int64Values()
		return wrap(func(i, j int) int { return cmp.Compare(v[i], v[j]) }), nil
	case *array.Float64:
		v := a.Float64Values()
		return wrap(func(i, j int) int { return cmpFloat(v[i], v[j]) }), nil
	case *array.String:
		return wrap(func(i, j int) int { return strings.Compare(a.Value(i), a.Value(j)) }), nil
	case *array.Boolean:
		return wrap(func(i, j int) int { return cmpBool(a.Value(i), a.Value(j)) }), nil
	}
	if IsNumeric(arr.DataType()) {
		return wrap(func(i, j int) int {
			x, _ := Float(arr, i)
			y, _ := Float(arr, j)
			return cmpFloat(x, y)
		}), nil
	}
	return nil, fmt.Errorf("cannot sort by column of type %s", arr.DataType())
}

func cmpFloat(x, y float64) int {
	xn, yn := math.IsNaN(x), math.IsNaN(y)
	switch {
	case xn && yn:
		return 0
	case xn:
		return 1
	case yn:
		return -1
	}
	return cmp.Compare(x, y)
}

func cmpBool(x, y bool) int {
	switch {
	case x == y:
		return 0
	case !x:
		return -1
	}
	return 1
}

// keyCmp builds a comparator over the sort keys of rec.
func keyCmp(rec arrow.Record, keys []SortKey) (rowCmp, error) {
	cmps := make([]rowCmp, len(keys))
	desc := make([]bool, len(keys))
	nullable := make([]arrow.Array, len(keys))
	for k, key := range keys {
		idx := rec.Schema().FieldIndices(key.Column)
		if len(idx) == 0 {
			return nil, fmt.Errorf("unknown sort column %q (have %v)", key.Column, Names(rec.Schema()))
		}
		arr := rec.Column(idx[0])
		c, err := columnCmp(arr)
		if err != nil {
			return nil, fmt.Errorf("column %q: %w", key.Column, err)
		}
		cmps[k], desc[k] = c, key.Descending
		if arr.NullN() > 0 {
			nullable[k] = arr
		}
	}
	return func(i, j int) int {
		for k, c := range cmps {
			r := c(i, j)
			if r == 0 {
				continue
			}
			if desc[k] {
				// Nulls stay last when descending.
				if a := nullable[k]; a != nil && (a.IsNull(i) || a.IsNull(j)) {
					return r
				}
				return -r
			}
			return r
		}
		return 0
	}, nil
}

// SortIndices returns the row order that sorts rec by keys (stable).
func SortIndices(rec arrow.Record, keys []SortKey) ([]int, error) {
	if len(keys) == 1 {
		if idx := rec.Schema().FieldIndices(keys[0].Column); len(idx) > 0 && rec.Column(idx[0]).NullN() == 0 {
			switch a := rec.Column(idx[0]).(type) {
			case *array.Float64:
				return sortTyped(a.Float64Values(), keys[0].Descending, cmpFloat), nil
			case *array.Int64:
				return sortTyped(a.Int64Values(), keys[0].Descending, cmp.Compare[int64]), nil
			}
		}
	}
	c, err := keyCmp(rec, keys)
	if err != nil {
		return nil, err
	}
	idx := make([]int, rec.NumRows())
	for i := range idx {
		idx[i] = i
	}
	// pdqsort with the row index as the last key: stable and fast.
	slices.SortFunc(idx, func(i, j int) int {
		if r := c(i, j); r != 0 {
			return r
		}
		return cmp.Compare(i, j)
	})
	return idx, nil
}

// CompareValues compares two plain Go values as produced by Value, nulls
// last. desc flips the order of non-null values.
func CompareValues(x, y any, desc bool) int {
	switch {
	case x == nil && y == nil:
		return 0
	case x == nil:
		return 1
	case y == nil:
		return -1
	}
	var r int
	switch a := x.(type) {
	case int64:
		switch b := y.(type) {
		case int64:
			r = cmp.Compare(a, b)
		default:
			r = cmpFloat(float64(a), toFloat(y))
		}
	case float64:
		r = cmpFloat(a, toFloat(y))
	case uint64:
		r = cmpFloat(float64(a), toFloat(y))
	case string:
		b, _ := y.(string)
		r = strings.Compare(a, b)
	case bool:
		b, _ := y.(bool)
		r = cmpBool(a, b)
	default:
		r = strings.Compare(fmt.Sprint(x), fmt.Sprint(y))
	}
	if desc {
		return -r
	}
	return r
}

func toFloat(v any) float64 {
	switch b := v.(type) {
	case int64:
		return float64(b)
	case float64:
		return b
	case uint64:
		return float64(b)
	}
	return math.NaN()
}

// RowKey returns the sort-key values of row i as plain Go values.
func RowKey(rec arrow.Record, keys []SortKey, i int) ([]any, error) {
	out := make([]any, len(keys))
	for k, key := range keys {
		idx := rec.Schema().FieldIndices(key.Column)
		if len(idx) == 0 {
			return nil, fmt.Errorf("unknown sort column %q (have %v)", key.Column, Names(rec.Schema()))
		}
		out[k] = Value(rec.Column(idx[0]), i)
	}
	return out, nil
}

// CompareKeys compares two key tuples under keys' directions.
func CompareKeys(a, b []any, keys []SortKey) int {
	for k := range keys {
		if r := CompareValues(a[k], b[k], keys[k].Descending); r != 0 {
			return r
		}
	}
	return 0
}

// RangePartition assigns each row of rec to the range of bounds it falls in:
// partition p holds rows with bounds[p-1] <= key < bounds[p] (p in
// 0..len(bounds)). It returns row indices per partition, each in row order.
func RangePartition(rec arrow.Record, keys []SortKey, bounds [][]any) ([][]int, error) {
	parts := make([][]int, len(bounds)+1)
	if len(keys) == 1 {
		idx := rec.Schema().FieldIndices(keys[0].Column)
		if len(idx) == 0 {
			return nil, fmt.Errorf("unknown sort column %q (have %v)", keys[0].Column, Names(rec.Schema()))
		}
		switch a := rec.Column(idx[0]).(type) {
		case *array.Float64:
			if ok := partitionTyped(parts, a, a.Float64Values(), bounds, keys[0].Descending, cmpFloat); ok {
				return parts, nil
			}
		case *array.Int64:
			if ok := partitionTyped(parts, a, a.Int64Values(), bounds, keys[0].Descending, cmp.Compare[int64]); ok {
				return parts, nil
			}
		}
	}
	for i := 0; i < int(rec.NumRows()); i++ {
		k, err := RowKey(rec, keys, i)
		if err != nil {
			return nil, err
		}
		p, _ := slices.BinarySearchFunc(bounds, k, func(b []any, t []any) int {
			if CompareKeys(b, t, keys) <= 0 {
				return -1
			}
			return 1
		})
		parts[p] = append(parts[p], i)
	}
	return parts, nil
}

// partitionTyped is RangePartition for one numeric key; it returns false
// (leaving parts untouched) when a bound is not of type T.
func partitionTyped[T int64 | float64](parts [][]int, arr arrow.Array, vals []T, bounds [][]any, desc bool, c func(a, b T) int) bool {
	bv := make([]T, len(bounds))
	bnull := make([]bool, len(bounds))
	for j, b := range bounds {
		switch x := b[0].(type) {
		case nil:
			bnull[j] = true
		case T:
			bv[j] = x
		default:
			return false
		}
	}
	// partition = number of bounds <= key (in sort order; nulls last).
	upper := func(x T) int {
		lo, hi := 0, len(bv)
		for lo < hi {
			m := (lo + hi) / 2
			var r int
			if bnull[m] {
				r = 1
			} else if r = c(bv[m], x); desc {
				r = -r
			}
			if r <= 0 {
				lo = m + 1
			} else {
				hi = m
			}
		}
		return lo
	}
	nulls := arr.NullN() > 0
	for i, x := range vals {
		p := len(bounds)
		if !nulls || !arr.IsNull(i) {
			p = upper(x)
		}
		parts[p] = append(parts[p], i)
	}
	return true
}

// sortTyped sorts row indices by one null-free numeric column (stable).
func sortTyped[T int64 | float64](vals []T, desc bool, c func(a, b T) int) []int {
	type pair struct {
		v T
		i int
	}
	ps := make([]pair, len(vals))
	for i, v := range vals {
		ps[i] = pair{v, i}
	}
	slices.SortFunc(ps, func(a, b pair) int {
		r := c(a.v, b.v)
		if desc {
			r = -r
		}
		if r != 0 {
			return r
		}
		return cmp.Compare(a.i, b.i)
	})
	idx := make([]int, len(ps))
	for i, p := range ps {
		idx[i] = p.i
	}
	return idx
}
