package preprocess

import (
	"context"
	"fmt"
	"math"

	"github.com/apache/arrow/go/v15/arrow"
	"github.com/apache/arrow/go/v15/arrow/array"
	"github.com/apache/arrow/go/v15/arrow/memory"

	"github.com/goray/goray/data"
)

// Ways to handle a value at transform time that was not seen at fit.
const (
	// UnknownIgnore: all zeros in one-hot and multi-hot encodings, null in
	// label, ordinal and categorical encodings. The default.
	UnknownIgnore = "ignore"
	// UnknownError: TransformBatch fails, naming the column and value.
	UnknownError = "error"
	// UnknownUseEncodedValue (OrdinalEncoder only): the code
	// OrdinalEncoder.UnknownValue (scikit-learn's
	// handle_unknown="use_encoded_value").
	UnknownUseEncodedValue = "use_encoded_value"
)

func checkUnknown(typ, h string) error {
	switch h {
	case "", UnknownIgnore, UnknownError:
		return nil
	}
	return fmt.Errorf("%w: %s: HandleUnknown %q must be %q or %q", ErrInvalidInput, typ, h, UnknownIgnore, UnknownError)
}

// countsPlan fits sorted categories per column from value counts merged
// across blocks; max limits a column to its most frequent categories.
func countsPlan(typ string, cols []string, lists bool, max map[string]int, set func(map[string]*Categories) error) *fitPlan {
	return &fitPlan{
		columns: cols,
		block: func(rec arrow.Record) (any, error) {
			out := make([]*Counts, len(cols))
			for i, c := range cols {
				arr, _, err := column(rec, typ, c)
				if err != nil {
					return nil, err
				}
				kind, err := kindOf(typ, c, arr.DataType(), lists)
				if err != nil {
					return nil, err
				}
				out[i] = newCounts(kind)
				out[i].add(arr)
			}
			return out, nil
		},
		merge: func(a, b any) any {
			x, y := a.([]*Counts), b.([]*Counts)
			for i := range x {
				if x[i].Kind != y[i].Kind {
					// Blocks disagree on the column's type: keep the
					// first and let transform report mismatches.
					continue
				}
				x[i] = x[i].Merge(y[i])
			}
			return x
		},
		finish: func(total any, _ int64) error {
			cs := total.([]*Counts)
			stats := make(map[string]*Categories, len(cs))
			for i, c := range cs {
				if c.Len() == 0 {
					return noValues(typ, cols[i])
				}
				stats[cols[i]] = c.categories(max[cols[i]])
			}
			return set(stats)
		},
	}
}

func checkCategories(typ string, cols []string, stats map[string]*Categories) error {
	if err := checkConfig(typ, cols); err != nil {
		return err
	}
	if stats == nil {
		return nil
	}
	for _, c := range cols {
		cat, ok := stats[c]
		if !ok || cat == nil {
			return fmt.Errorf("%w: %s: no fitted categories for column %q", ErrInvalidInput, typ, c)
		}
		if _, err := cat.index(); err != nil {
			return fmt.Errorf("%s: column %q: %w", typ, c, err)
		}
	}
	return nil
}

// unseen is the error for a value not seen at fit.
func unseen(typ, col string, arr arrow.Array, row int) error {
	if d, ok := arr.(*array.Dictionary); ok {
		// Not d.ValueStr, which would fill d's unsynchronised cache.
		values := dictionaryValues(d)
		defer values.Release()
		return fmt.Errorf("%w: %s: column %q has value %s (row %d of the batch) that was not seen at fit", ErrInvalidInput, typ, col, values.ValueStr(d.GetValueIndex(row)), row)
	}
	return fmt.Errorf("%w: %s: column %q has value %s (row %d of the batch) that was not seen at fit", ErrInvalidInput, typ, col, arr.ValueStr(row), row)
}

// ---- OneHotEncoder ----

// Categories a OneHotEncoder drops (scikit-learn's drop=).
const (
	// DropNone keeps every category. The default (empty Drop).
	DropNone = "none"
	// DropFirst drops each column's first category (in sorted order): a
	// column with k categories gives k-1 indicator columns, and one with a
	// single category none.
	DropFirst = "first"
	// DropIfBinary drops the first category of columns with exactly two
	// categories and keeps every category of the others.
	DropIfBinary = "if_binary"
)

// OneHotEncoder replaces each column by one int64 indicator column per
// fitted category, named "<column>_<category>" (Ray 2.x; floats print as
// Python does, e.g. "x_1.0", booleans as "x_True"), appended after the
// other columns in sorted category order; the original column is dropped.
// A value not seen at fit (and a null) gives all zeros, or an error with
// HandleUnknown = UnknownError. Columns may be strings, integers, floats
// or booleans.
//
// Drop (scikit-learn's drop=) leaves out one indicator column per column:
// with DropFirst or DropIfBinary the first category is then encoded as all
// zeros, as are unseen values and nulls under UnknownIgnore (scikit-learn
// also encodes unknowns as zeros with drop).
type OneHotEncoder struct {
	Columns []string `json:"columns"`
	// MaxCategories keeps only the most frequent categories of a column
	// (ties go to the smaller value); others encode as unseen. Drop applies
	// to the categories kept.
	MaxCategories map[string]int `json:"max_categories,omitempty"`
	// HandleUnknown is UnknownIgnore (default) or UnknownError.
	HandleUnknown string `json:"handle_unknown,omitempty"`
	// Drop is DropNone (default when empty), DropFirst or DropIfBinary.
	Drop string `json:"drop,omitempty"`
	// Stats holds each column's categories; nil until Fit.
	Stats map[string]*Categories `json:"stats,omitempty"`
}

// NewOneHotEncoder returns a OneHotEncoder for columns.
func NewOneHotEncoder(columns ...string) *OneHotEncoder {
	return &OneHotEncoder{Columns: columns}
}

// TypeName is "OneHotEncoder".
func (e *OneHotEncoder) TypeName() string { return "OneHotEncoder" }

// Fitted reports whether Stats is set.
func (e *OneHotEncoder) Fitted() bool { return e.Stats != nil }

func (e *OneHotEncoder) validate() error {
	if err := checkUnknown(e.TypeName(), e.HandleUnknown); err != nil {
		return err
	}
	switch e.Drop {
	case "", DropNone, DropFirst, DropIfBinary:
	default:
		return fmt.Errorf("%w: %s: Drop %q must be %q, %q or %q", ErrInvalidInput, e.TypeName(), e.Drop, DropNone, DropFirst, DropIfBinary)
	}
	return checkCategories(e.TypeName(), e.Columns, e.Stats)
}

// dropped is the code of the category Drop leaves out of a column with n
// categories, or -1.
func (e *OneHotEncoder) dropped(n int) int32 {
	switch {
	case e.Drop == DropFirst && n > 0, e.Drop == DropIfBinary && n == 2:
		return 0
	}
	return -1
}

func (e *OneHotEncoder) plan() (*fitPlan, error) {
	if err := e.validate(); err != nil {
		return nil, err
	}
	return countsPlan(e.TypeName(), e.Columns, false, e.MaxCategories, func(m map[string]*Categories) error { e.Stats = m; return nil }), nil
}

// OutputColumns returns the names of the columns a fitted encoder adds for
// column, in order (without the one Drop leaves out).
func (e *OneHotEncoder) OutputColumns(column string) []string {
	cat := e.Stats[column]
	if cat == nil {
		return nil
	}
	drop := e.dropped(len(cat.Values))
	out := make([]string, 0, len(cat.Values))
	for i := range cat.Values {
		if int32(i) != drop {
			out = append(out, column+"_"+cat.display(i))
		}
	}
	return out
}

// TransformBatch encodes one batch. It does not release batch; the caller
// releases the result.
func (e *OneHotEncoder) TransformBatch(batch arrow.Record) (arrow.Record, error) {
	if !e.Fitted() {
		return nil, fmt.Errorf("%w: %s", ErrNotFitted, e.TypeName())
	}
	if err := e.validate(); err != nil {
		return nil, err
	}
	idx, err := resolve(batch, e.TypeName(), e.Columns)
	if err != nil {
		return nil, err
	}
	rows := int(batch.NumRows())
	codes := make([]int32, rows)
	drop := make(map[int]bool, len(idx))
	var extra []newCol
	for k, i := range idx {
		c := e.Columns[k]
		cat := e.Stats[c]
		arr := batch.Column(i)
		if err := cat.codes(e.TypeName(), c, arr, codes); err != nil {
			releaseCols(extra)
			return nil, err
		}
		// Column j of the output is category j, or j+1 past a dropped
		// first category.
		dropCode := e.dropped(len(cat.Values))
		width := len(cat.Values)
		if dropCode >= 0 {
			width--
		}
		outs := make([][]int64, width)
		backing := make([]int64, rows*width)
		for j := range outs {
			outs[j] = backing[j*rows : (j+1)*rows : (j+1)*rows]
		}
		for r, code := range codes {
			switch {
			case code >= 0 && code != dropCode:
				if dropCode >= 0 && code > dropCode {
					code--
				}
				outs[code][r] = 1
			case code == codeUnseen && e.HandleUnknown == UnknownError:
				releaseCols(extra)
				return nil, unseen(e.TypeName(), c, arr, r)
			}
		}
		names := e.OutputColumns(c)
		for j, o := range outs {
			extra = append(extra, newCol{name: names[j], arr: int64Array(o, nil)})
		}
		drop[i] = true
	}
	return assemble(batch, nil, drop, extra), nil
}

func releaseCols(cols []newCol) {
	for _, c := range cols {
		c.arr.Release()
	}
}

// ---- LabelEncoder ----

// LabelEncoder replaces a label column, in place, by the int64 index of
// each value among the sorted distinct labels seen at fit (Ray's
// LabelEncoder). An unseen label becomes null (Ray gives NaN), or an error
// with HandleUnknown = UnknownError.
type LabelEncoder struct {
	LabelColumn string `json:"label_column"`
	// HandleUnknown is UnknownIgnore (default) or UnknownError.
	HandleUnknown string `json:"handle_unknown,omitempty"`
	// Stats holds the label column's categories; nil until Fit.
	Stats map[string]*Categories `json:"stats,omitempty"`
}

// NewLabelEncoder returns a LabelEncoder for labelColumn.
func NewLabelEncoder(labelColumn string) *LabelEncoder {
	return &LabelEncoder{LabelColumn: labelColumn}
}

// TypeName is "LabelEncoder".
func (e *LabelEncoder) TypeName() string { return "LabelEncoder" }

// Fitted reports whether Stats is set.
func (e *LabelEncoder) Fitted() bool { return e.Stats != nil }

func (e *LabelEncoder) validate() error {
	if err := checkUnknown(e.TypeName(), e.HandleUnknown); err != nil {
		return err
	}
	return checkCategories(e.TypeName(), []string{e.LabelColumn}, e.Stats)
}

func (e *LabelEncoder) plan() (*fitPlan, error) {
	if err := e.validate(); err != nil {
		return nil, err
	}
	return countsPlan(e.TypeName(), []string{e.LabelColumn}, false, nil, func(m map[string]*Categories) error { e.Stats = m; return nil }), nil
}

// Classes returns the fitted labels in code order (string, int64, float64
// or bool values).
func (e *LabelEncoder) Classes() []any {
	cat := e.Stats[e.LabelColumn]
	if cat == nil {
		return nil
	}
	out := make([]any, len(cat.Values))
	for i := range out {
		out[i] = cat.value(i)
	}
	return out
}

// TransformBatch encodes one batch. It does not release batch; the caller
// releases the result.
func (e *LabelEncoder) TransformBatch(batch arrow.Record) (arrow.Record, error) {
	if !e.Fitted() {
		return nil, fmt.Errorf("%w: %s", ErrNotFitted, e.TypeName())
	}
	if err := e.validate(); err != nil {
		return nil, err
	}
	return ordinalColumns(batch, e.TypeName(), []string{e.LabelColumn}, e.Stats, e.HandleUnknown, nil, false)
}

// InverseTransformBatch maps the label column of batch, holding codes as
// TransformBatch writes them, back to the fitted labels, in place
// (scikit-learn's LabelEncoder.inverse_transform): a string, int64,
// float64 or boolean column as the labels were. A null stays null. The
// codes may be any integer column or a float column of whole numbers (as a
// model's predictions may be); anything else, and a code that is no fitted
// label's (sklearn: "y contains previously unseen labels"), is an
// ErrInvalidInput naming the column and row. It does not release batch;
// the caller releases the result.
func (e *LabelEncoder) InverseTransformBatch(batch arrow.Record) (arrow.Record, error) {
	typ := e.TypeName()
	if !e.Fitted() {
		return nil, fmt.Errorf("%w: %s", ErrNotFitted, typ)
	}
	if err := e.validate(); err != nil {
		return nil, err
	}
	idx, err := resolve(batch, typ, []string{e.LabelColumn})
	if err != nil {
		return nil, err
	}
	c, i := e.LabelColumn, idx[0]
	arr := batch.Column(i)
	codes, err := floats(typ, c, arr)
	if err != nil {
		return nil, fmt.Errorf("%w (inverse transform wants integer codes)", err)
	}
	cat := e.Stats[c]
	n := len(cat.Values)
	valid := make([]bool, len(codes))
	ints := make([]int, len(codes))
	for r, v := range codes {
		if arr.IsNull(r) {
			continue
		}
		if v != math.Trunc(v) || v < 0 || v >= float64(n) {
			return nil, fmt.Errorf("%w: %s: column %q row %d has code %v, not one of the %d fitted labels' codes 0 to %d", ErrInvalidInput, typ, c, r, v, n, n-1)
		}
		valid[r], ints[r] = true, int(v)
	}
	mem := memory.DefaultAllocator
	var out arrow.Array
	switch cat.Kind {
	case KindString:
		b := array.NewStringBuilder(mem)
		defer b.Release()
		for r, ok := range valid {
			if ok {
				b.Append(cat.Values[ints[r]])
			} else {
				b.AppendNull()
			}
		}
		out = b.NewArray()
	case KindInt:
		vals := make([]int64, n)
		for j := range vals {
			vals[j] = cat.value(j).(int64)
		}
		b := array.NewInt64Builder(mem)
		defer b.Release()
		for r, ok := range valid {
			if ok {
				b.Append(vals[ints[r]])
			} else {
				b.AppendNull()
			}
		}
		out = b.NewArray()
	case KindFloat:
		vals := make([]float64, n)
		for j := range vals {
			vals[j] = cat.value(j).(float64)
		}
		b := array.NewFloat64Builder(mem)
		defer b.Release()
		for r, ok := range valid {
			if ok {
				b.Append(vals[ints[r]])
			} else {
				b.AppendNull()
			}
		}
		out = b.NewArray()
	default:
		b := array.NewBooleanBuilder(mem)
		defer b.Release()
		for r, ok := range valid {
			if ok {
				b.Append(cat.value(ints[r]).(bool))
			} else {
				b.AppendNull()
			}
		}
		out = b.NewArray()
	}
	return assemble(batch, map[int]arrow.Array{i: out}, nil, nil), nil
}

// InverseTransform returns ds with the label column's codes mapped back to
// labels, lazily: InverseTransformBatch over every block.
func (e *LabelEncoder) InverseTransform(_ context.Context, ds *data.Dataset) (*data.Dataset, error) {
	if ds == nil {
		return nil, fmt.Errorf("%w: %s: InverseTransform of a nil dataset", ErrInvalidInput, e.TypeName())
	}
	if !e.Fitted() {
		return nil, fmt.Errorf("%w: %s", ErrNotFitted, e.TypeName())
	}
	if err := e.validate(); err != nil {
		return nil, err
	}
	return ds.MapBatches(func(_ context.Context, batch arrow.Record) (arrow.Record, error) {
		return e.InverseTransformBatch(batch)
	}, data.Name(e.TypeName()+".InverseTransform")), nil
}

// ordinalColumns replaces each column by its int64 category codes (null
// for null; an unseen value is an error under UnknownError, unknown under
// UnknownUseEncodedValue and null otherwise). With lists, list columns
// become list<int64> columns.
func ordinalColumns(batch arrow.Record, typ string, cols []string, stats map[string]*Categories, handle string, unknown *int64, lists bool) (arrow.Record, error) {
	idx, err := resolve(batch, typ, cols)
	if err != nil {
		return nil, err
	}
	replace := make(map[int]arrow.Array, len(idx))
	fail := func(err error) (arrow.Record, error) {
		for _, a := range replace {
			a.Release()
		}
		return nil, err
	}
	for k, i := range idx {
		c := cols[k]
		arr := batch.Column(i)
		if l, ok := arr.(array.ListLike); ok && lists {
			out, err := ordinalList(typ, c, l, stats[c], handle, unknown)
			if err != nil {
				return fail(err)
			}
			replace[i] = out
			continue
		}
		codes := make([]int32, arr.Len())
		if err := stats[c].codes(typ, c, arr, codes); err != nil {
			return fail(err)
		}
		vals := make([]int64, len(codes))
		var valid []bool
		for r, code := range codes {
			if code >= 0 {
				vals[r] = int64(code)
				continue
			}
			if code == codeUnseen && handle == UnknownError {
				return fail(unseen(typ, c, arr, r))
			}
			if code == codeUnseen && handle == UnknownUseEncodedValue {
				vals[r] = *unknown
				continue
			}
			if valid == nil {
				valid = make([]bool, len(codes))
				for j := range valid {
					valid[j] = true
				}
			}
			valid[r] = false
		}
		replace[i] = int64Array(vals, valid)
	}
	return assemble(batch, replace, nil, nil), nil
}

func ordinalList(typ, col string, l array.ListLike, cat *Categories, handle string, unknown *int64) (arrow.Array, error) {
	child := l.ListValues()
	codes := make([]int32, child.Len())
	if err := cat.codes(typ, col, child, codes); err != nil {
		return nil, err
	}
	b := array.NewListBuilder(memory.DefaultAllocator, arrow.PrimitiveTypes.Int64)
	defer b.Release()
	vb := b.ValueBuilder().(*array.Int64Builder)
	for r := 0; r < l.Len(); r++ {
		if l.IsNull(r) {
			b.AppendNull()
			continue
		}
		b.Append(true)
		start, end := l.ValueOffsets(r)
		for j := start; j < end; j++ {
			switch code := codes[j]; {
			case code >= 0:
				vb.Append(int64(code))
			case code == codeUnseen && handle == UnknownError:
				return nil, unseen(typ, col, child, int(j))
			case code == codeUnseen && handle == UnknownUseEncodedValue:
				vb.Append(*unknown)
			default:
				vb.AppendNull()
			}
		}
	}
	return b.NewArray(), nil
}

// ---- OrdinalEncoder ----

// OrdinalEncoder replaces each column, in place, by the int64 index of each
// value among the column's sorted distinct values seen at fit. List columns
// (Ray's encode_lists, on by default here as in Ray) have each element
// encoded and become list<int64>. An unseen value becomes null, an error
// with HandleUnknown = UnknownError, or the code UnknownValue with
// HandleUnknown = UnknownUseEncodedValue (scikit-learn's
// handle_unknown="use_encoded_value", unknown_value=UnknownValue; its
// unknown_value=np.nan is UnknownIgnore here). A null stays null.
type OrdinalEncoder struct {
	Columns []string `json:"columns"`
	// HandleUnknown is UnknownIgnore (default), UnknownError or
	// UnknownUseEncodedValue.
	HandleUnknown string `json:"handle_unknown,omitempty"`
	// UnknownValue is the code of unseen values under
	// UnknownUseEncodedValue, and must be set exactly then. As in
	// scikit-learn it may not be the code of a fitted category (0 to the
	// number of categories of any column, less one): use a negative value
	// such as -1, or one past the largest code.
	UnknownValue *int64 `json:"unknown_value,omitempty"`
	// Stats holds each column's categories; nil until Fit.
	Stats map[string]*Categories `json:"stats,omitempty"`
}

// NewOrdinalEncoder returns an OrdinalEncoder for columns.
func NewOrdinalEncoder(columns ...string) *OrdinalEncoder {
	return &OrdinalEncoder{Columns: columns}
}

// TypeName is "OrdinalEncoder".
func (e *OrdinalEncoder) TypeName() string { return "OrdinalEncoder" }

// Fitted reports whether Stats is set.
func (e *OrdinalEncoder) Fitted() bool { return e.Stats != nil }

func (e *OrdinalEncoder) validate() error {
	typ := e.TypeName()
	switch {
	case e.HandleUnknown == UnknownUseEncodedValue && e.UnknownValue == nil:
		return fmt.Errorf("%w: %s: HandleUnknown %q needs UnknownValue", ErrInvalidInput, typ, e.HandleUnknown)
	case e.HandleUnknown == UnknownUseEncodedValue:
	case e.UnknownValue != nil:
		return fmt.Errorf("%w: %s: UnknownValue %d is set but HandleUnknown is %q, not %q", ErrInvalidInput, typ, *e.UnknownValue, e.HandleUnknown, UnknownUseEncodedValue)
	default:
		if err := checkUnknown(typ, e.HandleUnknown); err != nil {
			return fmt.Errorf("%w (or %q)", err, UnknownUseEncodedValue)
		}
	}
	if err := checkCategories(typ, e.Columns, e.Stats); err != nil {
		return err
	}
	return e.checkUnknownValue(e.Stats)
}

// checkUnknownValue rejects an UnknownValue that is the code of a fitted
// category of some column.
func (e *OrdinalEncoder) checkUnknownValue(stats map[string]*Categories) error {
	if e.UnknownValue == nil {
		return nil
	}
	u := *e.UnknownValue
	for _, c := range e.Columns {
		if cat := stats[c]; cat != nil && u >= 0 && u < int64(len(cat.Values)) {
			return fmt.Errorf("%w: %s: UnknownValue %d is the code of category %q of column %q; use a negative value or one at least %d", ErrInvalidInput, e.TypeName(), u, cat.display(int(u)), c, len(cat.Values))
		}
	}
	return nil
}

func (e *OrdinalEncoder) plan() (*fitPlan, error) {
	if err := e.validate(); err != nil {
		return nil, err
	}
	return countsPlan(e.TypeName(), e.Columns, true, nil, func(m map[string]*Categories) error {
		if err := e.checkUnknownValue(m); err != nil {
			return err
		}
		e.Stats = m
		return nil
	}), nil
}

// TransformBatch encodes one batch. It does not release batch; the caller
// releases the result.
func (e *OrdinalEncoder) TransformBatch(batch arrow.Record) (arrow.Record, error) {
	if !e.Fitted() {
		return nil, fmt.Errorf("%w: %s", ErrNotFitted, e.TypeName())
	}
	if err := e.validate(); err != nil {
		return nil, err
	}
	return ordinalColumns(batch, e.TypeName(), e.Columns, e.Stats, e.HandleUnknown, e.UnknownValue, true)
}

// ---- Categorizer ----

// Categorizer turns each column, in place, into an Arrow dictionary column
// (int32 indices) whose dictionary is the sorted distinct values seen at
// fit: Arrow's equivalent of the pandas Categorical dtype Ray's
// Categorizer produces. Unseen values and nulls become null.
type Categorizer struct {
	Columns []string `json:"columns"`
	// Stats holds each column's categories; nil until Fit.
	Stats map[string]*Categories `json:"stats,omitempty"`
}

// NewCategorizer returns a Categorizer for columns.
func NewCategorizer(columns ...string) *Categorizer {
	return &Categorizer{Columns: columns}
}

// TypeName is "Categorizer".
func (e *Categorizer) TypeName() string { return "Categorizer" }

// Fitted reports whether Stats is set.
func (e *Categorizer) Fitted() bool { return e.Stats != nil }

func (e *Categorizer) validate() error {
	return checkCategories(e.TypeName(), e.Columns, e.Stats)
}

func (e *Categorizer) plan() (*fitPlan, error) {
	if err := e.validate(); err != nil {
		return nil, err
	}
	return countsPlan(e.TypeName(), e.Columns, false, nil, func(m map[string]*Categories) error { e.Stats = m; return nil }), nil
}

// TransformBatch encodes one batch. It does not release batch; the caller
// releases the result.
func (e *Categorizer) TransformBatch(batch arrow.Record) (arrow.Record, error) {
	if !e.Fitted() {
		return nil, fmt.Errorf("%w: %s", ErrNotFitted, e.TypeName())
	}
	if err := e.validate(); err != nil {
		return nil, err
	}
	idx, err := resolve(batch, e.TypeName(), e.Columns)
	if err != nil {
		return nil, err
	}
	replace := make(map[int]arrow.Array, len(idx))
	for k, i := range idx {
		c := e.Columns[k]
		cat := e.Stats[c]
		arr := batch.Column(i)
		codes := make([]int32, arr.Len())
		if err := cat.codes(e.TypeName(), c, arr, codes); err != nil {
			for _, a := range replace {
				a.Release()
			}
			return nil, err
		}
		replace[i] = dictionaryArray(cat, codes)
	}
	return assemble(batch, replace, nil, nil), nil
}

// dictionaryArray builds a dictionary<int32, kind> array from codes
// (negative codes become null).
func dictionaryArray(cat *Categories, codes []int32) arrow.Array {
	mem := memory.DefaultAllocator
	var dict arrow.Array
	switch cat.Kind {
	case KindString:
		b := array.NewStringBuilder(mem)
		b.AppendValues(cat.Values, nil)
		dict = b.NewArray()
		b.Release()
	case KindInt:
		b := array.NewInt64Builder(mem)
		for i := range cat.Values {
			b.Append(cat.value(i).(int64))
		}
		dict = b.NewArray()
		b.Release()
	case KindFloat:
		b := array.NewFloat64Builder(mem)
		for i := range cat.Values {
			b.Append(cat.value(i).(float64))
		}
		dict = b.NewArray()
		b.Release()
	default:
		b := array.NewBooleanBuilder(mem)
		for i := range cat.Values {
			b.Append(cat.value(i).(bool))
		}
		dict = b.NewArray()
		b.Release()
	}
	defer dict.Release()
	valid := make([]bool, len(codes))
	anyNull := false
	for i, c := range codes {
		valid[i] = c >= 0
		if c < 0 {
			codes[i] = 0
			anyNull = true
		}
	}
	if !anyNull {
		valid = nil
	}
	ib := array.NewInt32Builder(mem)
	defer ib.Release()
	ib.AppendValues(codes, valid)
	indices := ib.NewArray()
	defer indices.Release()
	dt := &arrow.DictionaryType{IndexType: arrow.PrimitiveTypes.Int32, ValueType: dict.DataType()}
	return array.NewDictionaryArray(dt, indices, dict)
}

// ---- MultiHotEncoder ----

// MultiHotEncoder replaces each list column, in place, by a fixed-size
// list<int64> of per-category counts: element j counts how often the j-th
// sorted category seen at fit occurs in the row's list (Ray's
// MultiHotEncoder). A scalar column is treated as one-element lists. A
// null list stays null; elements not seen at fit are not counted, or are
// an error with HandleUnknown = UnknownError.
type MultiHotEncoder struct {
	Columns []string `json:"columns"`
	// MaxCategories keeps only the most frequent categories of a column.
	MaxCategories map[string]int `json:"max_categories,omitempty"`
	// HandleUnknown is UnknownIgnore (default) or UnknownError.
	HandleUnknown string `json:"handle_unknown,omitempty"`
	// Stats holds each column's categories; nil until Fit.
	Stats map[string]*Categories `json:"stats,omitempty"`
}

// NewMultiHotEncoder returns a MultiHotEncoder for columns.
func NewMultiHotEncoder(columns ...string) *MultiHotEncoder {
	return &MultiHotEncoder{Columns: columns}
}

// TypeName is "MultiHotEncoder".
func (e *MultiHotEncoder) TypeName() string { return "MultiHotEncoder" }

// Fitted reports whether Stats is set.
func (e *MultiHotEncoder) Fitted() bool { return e.Stats != nil }

func (e *MultiHotEncoder) validate() error {
	if err := checkUnknown(e.TypeName(), e.HandleUnknown); err != nil {
		return err
	}
	return checkCategories(e.TypeName(), e.Columns, e.Stats)
}

func (e *MultiHotEncoder) plan() (*fitPlan, error) {
	if err := e.validate(); err != nil {
		return nil, err
	}
	return countsPlan(e.TypeName(), e.Columns, true, e.MaxCategories, func(m map[string]*Categories) error { e.Stats = m; return nil }), nil
}

// TransformBatch encodes one batch. It does not release batch; the caller
// releases the result.
func (e *MultiHotEncoder) TransformBatch(batch arrow.Record) (arrow.Record, error) {
	if !e.Fitted() {
		return nil, fmt.Errorf("%w: %s", ErrNotFitted, e.TypeName())
	}
	if err := e.validate(); err != nil {
		return nil, err
	}
	idx, err := resolve(batch, e.TypeName(), e.Columns)
	if err != nil {
		return nil, err
	}
	replace := make(map[int]arrow.Array, len(idx))
	fail := func(err error) (arrow.Record, error) {
		for _, a := range replace {
			a.Release()
		}
		return nil, err
	}
	rows := int(batch.NumRows())
	for k, i := range idx {
		c := e.Columns[k]
		cat := e.Stats[c]
		arr := batch.Column(i)
		width := len(cat.Values)
		counts := make([]int64, rows*width)
		var valid []bool
		child, ranges := arr, func(r int) (int64, int64) { return int64(r), int64(r + 1) }
		if l, ok := arr.(array.ListLike); ok {
			child, ranges = l.ListValues(), l.ValueOffsets
		}
		codes := make([]int32, child.Len())
		if err := cat.codes(e.TypeName(), c, child, codes); err != nil {
			return fail(err)
		}
		for r := 0; r < rows; r++ {
			if arr.IsNull(r) {
				if valid == nil {
					valid = make([]bool, rows)
					for j := range valid {
						valid[j] = true
					}
				}
				valid[r] = false
				continue
			}
			start, end := ranges(r)
			for j := start; j < end; j++ {
				switch code := codes[j]; {
				case code >= 0:
					counts[r*width+int(code)]++
				case code == codeUnseen && e.HandleUnknown == UnknownError:
					return fail(unseen(e.TypeName(), c, child, int(j)))
				}
			}
		}
		replace[i] = fixedSizeList(int64Array(counts, nil), rows, width, valid)
	}
	return assemble(batch, replace, nil, nil), nil
}

// fixedSizeList wraps values (length rows*width; ownership taken) as a
// fixed-size list array of rows lists of width; valid (may be nil) marks non-null rows.
func fixedSizeList(values arrow.Array, rows, width int, valid []bool) arrow.Array {
	defer values.Release()
	buf, nulls := bitmapFromBools(valid)
	dt := arrow.FixedSizeListOf(int32(width), values.DataType())
	d := array.NewData(dt, rows, []*memory.Buffer{buf}, []arrow.ArrayData{values.Data()}, nulls, 0)
	defer d.Release()
	return array.NewFixedSizeListData(d)
}
