package gbdt

import (
	"fmt"
	"math"
	"slices"

	"github.com/apache/arrow/go/v15/arrow"
	"github.com/apache/arrow/go/v15/arrow/array"
)

// Matrix is a dense table of float64 features (NaN = missing) with an
// optional label per row: the input to Train and Booster.Predict. It is
// read-only once built and may be shared between goroutines.
type Matrix struct {
	features []string
	cols     [][]float64 // one slice per feature, each nrows long
	labels   []float64   // nil when the matrix has no labels
	nrows    int
	rowBase  int // index of the first row in the data it was sliced from, for messages
}

// NewMatrix builds a Matrix from feature columns (column-major; NaN marks a
// missing value) and optional labels (nil for none). The slices are used,
// not copied: do not modify them afterwards.
func NewMatrix(features []string, cols [][]float64, labels []float64) (*Matrix, error) {
	if len(features) == 0 {
		return nil, fmt.Errorf("%w: no features", ErrInvalidInput)
	}
	if len(cols) != len(features) {
		return nil, fmt.Errorf("%w: %d feature names but %d columns", ErrInvalidInput, len(features), len(cols))
	}
	seen := map[string]bool{}
	n := len(cols[0])
	for j, name := range features {
		if seen[name] {
			return nil, fmt.Errorf("%w: feature %q given twice", ErrInvalidInput, name)
		}
		seen[name] = true
		if len(cols[j]) != n {
			return nil, fmt.Errorf("%w: feature %q has %d rows, feature %q has %d", ErrInvalidInput, name, len(cols[j]), features[0], n)
		}
	}
	if labels != nil {
		if len(labels) != n {
			return nil, fmt.Errorf("%w: %d labels for %d rows", ErrInvalidInput, len(labels), n)
		}
		for i, y := range labels {
			if math.IsNaN(y) {
				return nil, fmt.Errorf("%w: label of row %d is NaN", ErrInvalidInput, i)
			}
		}
	}
	return &Matrix{features: slices.Clone(features), cols: cols, labels: labels, nrows: n}, nil
}

// MatrixFromRecords copies the named feature columns and the label column
// of recs into a Matrix. features nil means every column except label, in
// schema order; label "" means no labels (for prediction). Feature columns
// may be any integer, float or boolean Arrow type; nulls become NaN
// (missing). Labels must be numeric and non-null; rows are numbered across
// recs from 0 in error messages. recs are not released.
func MatrixFromRecords(recs []arrow.Record, label string, features []string) (*Matrix, error) {
	if len(recs) == 0 {
		return nil, fmt.Errorf("%w: no records", ErrInvalidInput)
	}
	schema := recs[0].Schema()
	if label != "" && len(schema.FieldIndices(label)) == 0 {
		return nil, fmt.Errorf("%w: label column %q not found (columns: %v)", ErrInvalidInput, label, fieldNames(schema))
	}
	if features == nil {
		for _, f := range schema.Fields() {
			if f.Name != label {
				features = append(features, f.Name)
			}
		}
	}
	if slices.Contains(features, label) && label != "" {
		return nil, fmt.Errorf("%w: label column %q is also listed as a feature", ErrInvalidInput, label)
	}
	n := 0
	for _, r := range recs {
		n += int(r.NumRows())
	}
	cols := make([][]float64, len(features))
	for j := range cols {
		cols[j] = make([]float64, 0, n)
	}
	var labels []float64
	if label != "" {
		labels = make([]float64, 0, n)
	}
	base := 0
	for ri, r := range recs {
		for j, name := range features {
			col, err := column(r, name, ri)
			if err != nil {
				return nil, err
			}
			cols[j], err = appendFloats(cols[j], col, name, base, false)
			if err != nil {
				return nil, err
			}
		}
		if label != "" {
			col, err := column(r, label, ri)
			if err != nil {
				return nil, err
			}
			labels, err = appendFloats(labels, col, label, base, true)
			if err != nil {
				return nil, err
			}
		}
		base += int(r.NumRows())
	}
	return NewMatrix(features, cols, labels)
}

func fieldNames(s *arrow.Schema) []string {
	out := make([]string, s.NumFields())
	for i, f := range s.Fields() {
		out[i] = f.Name
	}
	return out
}

func column(r arrow.Record, name string, ri int) (arrow.Array, error) {
	idx := r.Schema().FieldIndices(name)
	if len(idx) == 0 {
		return nil, fmt.Errorf("%w: column %q not found in record %d (columns: %v)", ErrInvalidInput, name, ri, fieldNames(r.Schema()))
	}
	return r.Column(idx[0]), nil
}

// appendFloats converts a numeric Arrow column to float64. Nulls become NaN
// for features and are an error for labels, as is NaN.
func appendFloats(dst []float64, a arrow.Array, name string, base int, isLabel bool) ([]float64, error) {
	what := "feature"
	if isLabel {
		what = "label"
	}
	n := a.Len()
	start := len(dst)
	switch c := a.(type) {
	case *array.Float64:
		dst = append(dst, c.Float64Values()...)
	case *array.Float32:
		for _, v := range c.Float32Values() {
			dst = append(dst, float64(v))
		}
	case *array.Int64:
		for _, v := range c.Int64Values() {
			dst = append(dst, float64(v))
		}
	case *array.Int32:
		for _, v := range c.Int32Values() {
			dst = append(dst, float64(v))
		}
	case *array.Int16:
		for _, v := range c.Int16Values() {
			dst = append(dst, float64(v))
		}
	case *array.Int8:
		for _, v := range c.Int8Values() {
			dst = append(dst, float64(v))
		}
	case *array.Uint64:
		for _, v := range c.Uint64Values() {
			dst = append(dst, float64(v))
		}
	case *array.Uint32:
		for _, v := range c.Uint32Values() {
			dst = append(dst, float64(v))
		}
	case *array.Uint16:
		for _, v := range c.Uint16Values() {
			dst = append(dst, float64(v))
		}
	case *array.Uint8:
		for _, v := range c.Uint8Values() {
			dst = append(dst, float64(v))
		}
	case *array.Boolean:
		for i := 0; i < n; i++ {
			v := 0.0
			if c.Value(i) {
				v = 1
			}
			dst = append(dst, v)
		}
	default:
		return nil, fmt.Errorf("%w: %s column %q has type %s; want a numeric or boolean column", ErrInvalidInput, what, name, a.DataType())
	}
	if a.NullN() > 0 {
		for i := 0; i < n; i++ {
			if a.IsNull(i) {
				if isLabel {
					return nil, fmt.Errorf("%w: label column %q is null in row %d", ErrInvalidInput, name, base+i)
				}
				dst[start+i] = math.NaN()
			}
		}
	}
	if isLabel {
		for i, v := range dst[start:] {
			if math.IsNaN(v) || math.IsInf(v, 0) {
				return nil, fmt.Errorf("%w: label column %q is %v in row %d", ErrInvalidInput, name, v, base+i)
			}
		}
	}
	return dst, nil
}

// NumRows returns the number of rows.
func (m *Matrix) NumRows() int { return m.nrows }

// Features returns the feature names in column order.
func (m *Matrix) Features() []string { return slices.Clone(m.features) }

// Labels returns the labels (nil if none). Do not modify them.
func (m *Matrix) Labels() []float64 { return m.labels }

// Column returns feature j's values. Do not modify them.
func (m *Matrix) Column(j int) []float64 { return m.cols[j] }

// Slice returns rows [lo, hi) as a Matrix sharing m's memory, e.g. one
// worker's shard. Row numbers in error messages stay those of m.
func (m *Matrix) Slice(lo, hi int) *Matrix {
	if lo < 0 || hi > m.nrows || lo > hi {
		panic(fmt.Sprintf("gbdt: Matrix.Slice(%d, %d) out of range [0, %d]", lo, hi, m.nrows))
	}
	s := &Matrix{features: m.features, cols: make([][]float64, len(m.cols)), nrows: hi - lo, rowBase: m.rowBase + lo}
	for j, c := range m.cols {
		s.cols[j] = c[lo:hi:hi]
	}
	if m.labels != nil {
		s.labels = m.labels[lo:hi:hi]
	}
	return s
}
