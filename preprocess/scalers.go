package preprocess

import (
	"fmt"
	"math"

	"github.com/apache/arrow/go/v15/arrow"
)

// mapNumeric replaces each of cols in rec with a float64 column computed by
// f from the column's values (NaN for null); nulls stay null.
func mapNumeric(rec arrow.Record, typ string, cols []string, f func(k int, in, out []float64)) (arrow.Record, error) {
	idx, err := resolve(rec, typ, cols)
	if err != nil {
		return nil, err
	}
	replace := make(map[int]arrow.Array, len(idx))
	for k, i := range idx {
		in, err := floats(typ, cols[k], rec.Column(i))
		if err != nil {
			for _, a := range replace {
				a.Release()
			}
			return nil, err
		}
		out := make([]float64, len(in))
		f(k, in, out)
		replace[i] = float64Array(out, rec.Column(i))
	}
	return assemble(rec, replace, nil, nil), nil
}

// ---- StandardScaler ----

// StandardScaler centres each column on its mean and divides by its
// population standard deviation: (x - mean) / std. A constant column (std
// zero, or rounding noise of zero as scikit-learn judges it) is only
// centred. Columns are replaced in place by float64 columns.
type StandardScaler struct {
	Columns []string `json:"columns"`
	// Stats holds the fitted mean and std of each column; nil until Fit.
	Stats map[string]MeanStd `json:"stats,omitempty"`
}

// MeanStd is a StandardScaler's fitted state for one column. Scale is what
// values are divided by: Std, or 1 for a constant column.
type MeanStd struct {
	Mean  float64 `json:"mean"`
	Std   float64 `json:"std"`
	Scale float64 `json:"scale"`
}

// NewStandardScaler returns a StandardScaler for columns.
func NewStandardScaler(columns ...string) *StandardScaler {
	return &StandardScaler{Columns: columns}
}

// TypeName is "StandardScaler".
func (s *StandardScaler) TypeName() string { return "StandardScaler" }

// Fitted reports whether Stats is set.
func (s *StandardScaler) Fitted() bool { return s.Stats != nil }

func (s *StandardScaler) plan() (*fitPlan, error) {
	if err := checkConfig(s.TypeName(), s.Columns); err != nil {
		return nil, err
	}
	return perColumn(s.TypeName(), s.Columns, MomentsOf, Moments.Merge, func(ms []Moments) error {
		stats := make(map[string]MeanStd, len(ms))
		for i, m := range ms {
			c := s.Columns[i]
			if m.N == 0 {
				return noValues(s.TypeName(), c)
			}
			if math.IsInf(m.Mean, 0) || math.IsNaN(m.Mean) || math.IsInf(m.M2, 0) || math.IsNaN(m.M2) {
				return notFinite(s.TypeName(), c)
			}
			std := math.Sqrt(m.Var())
			scale := std
			if isConstant(m) {
				scale = 1
			}
			stats[c] = MeanStd{Mean: m.Mean, Std: std, Scale: scale}
		}
		s.Stats = stats
		return nil
	}), nil
}

// TransformBatch scales one batch. It does not release batch; the caller
// releases the result.
func (s *StandardScaler) TransformBatch(batch arrow.Record) (arrow.Record, error) {
	if !s.Fitted() {
		return nil, fmt.Errorf("%w: %s", ErrNotFitted, s.TypeName())
	}
	st, err := statsFor(s.TypeName(), s.Columns, s.Stats)
	if err != nil {
		return nil, err
	}
	return mapNumeric(batch, s.TypeName(), s.Columns, func(k int, in, out []float64) {
		mean, scale := st[k].Mean, st[k].Scale
		for i, v := range in {
			out[i] = (v - mean) / scale
		}
	})
}

func (s *StandardScaler) validate() error {
	if s.Stats == nil {
		return checkConfig(s.TypeName(), s.Columns)
	}
	_, err := statsFor(s.TypeName(), s.Columns, s.Stats)
	return err
}

// statsFor returns the fitted state of each column, in column order.
func statsFor[S any](typ string, cols []string, stats map[string]S) ([]S, error) {
	out := make([]S, len(cols))
	for i, c := range cols {
		st, ok := stats[c]
		if !ok {
			return nil, fmt.Errorf("%w: %s: no fitted state for column %q", ErrInvalidInput, typ, c)
		}
		out[i] = st
	}
	return out, nil
}

// ---- MinMaxScaler ----

// MinMaxScaler maps each column onto [0, 1]: (x - min) / (max - min),
// computed as scikit-learn does (x * scale + offset, scale = 1 / (max -
// min)). A constant column becomes 0. Columns are replaced in place by
// float64 columns.
type MinMaxScaler struct {
	Columns []string `json:"columns"`
	// Stats holds the fitted min and max of each column; nil until Fit.
	Stats map[string]MinMax `json:"stats,omitempty"`
}

// MinMax is a MinMaxScaler's fitted state for one column.
type MinMax struct {
	Min float64 `json:"min"`
	Max float64 `json:"max"`
}

// NewMinMaxScaler returns a MinMaxScaler for columns.
func NewMinMaxScaler(columns ...string) *MinMaxScaler {
	return &MinMaxScaler{Columns: columns}
}

// TypeName is "MinMaxScaler".
func (s *MinMaxScaler) TypeName() string { return "MinMaxScaler" }

// Fitted reports whether Stats is set.
func (s *MinMaxScaler) Fitted() bool { return s.Stats != nil }

func (s *MinMaxScaler) plan() (*fitPlan, error) {
	if err := checkConfig(s.TypeName(), s.Columns); err != nil {
		return nil, err
	}
	return perColumn(s.TypeName(), s.Columns, ExtentOf, Extent.Merge, func(es []Extent) error {
		stats := make(map[string]MinMax, len(es))
		for i, e := range es {
			c := s.Columns[i]
			if e.N == 0 {
				return noValues(s.TypeName(), c)
			}
			if math.IsInf(e.MaxAbs, 0) {
				return notFinite(s.TypeName(), c)
			}
			stats[c] = MinMax{Min: e.Min, Max: e.Max}
		}
		s.Stats = stats
		return nil
	}), nil
}

// TransformBatch scales one batch. It does not release batch; the caller
// releases the result.
func (s *MinMaxScaler) TransformBatch(batch arrow.Record) (arrow.Record, error) {
	if !s.Fitted() {
		return nil, fmt.Errorf("%w: %s", ErrNotFitted, s.TypeName())
	}
	st, err := statsFor(s.TypeName(), s.Columns, s.Stats)
	if err != nil {
		return nil, err
	}
	return mapNumeric(batch, s.TypeName(), s.Columns, func(k int, in, out []float64) {
		scale := 1 / handleZero(st[k].Max-st[k].Min)
		offset := -st[k].Min * scale
		for i, v := range in {
			out[i] = v*scale + offset
		}
	})
}

func (s *MinMaxScaler) validate() error {
	if s.Stats == nil {
		return checkConfig(s.TypeName(), s.Columns)
	}
	_, err := statsFor(s.TypeName(), s.Columns, s.Stats)
	return err
}

// ---- MaxAbsScaler ----

// MaxAbsScaler divides each column by its largest absolute value, mapping
// it onto [-1, 1] without shifting it (zeros stay zeros). An all-zero
// column is left as is. Columns are replaced in place by float64 columns.
type MaxAbsScaler struct {
	Columns []string `json:"columns"`
	// Stats holds the fitted max |x| of each column; nil until Fit.
	Stats map[string]float64 `json:"stats,omitempty"`
}

// NewMaxAbsScaler returns a MaxAbsScaler for columns.
func NewMaxAbsScaler(columns ...string) *MaxAbsScaler {
	return &MaxAbsScaler{Columns: columns}
}

// TypeName is "MaxAbsScaler".
func (s *MaxAbsScaler) TypeName() string { return "MaxAbsScaler" }

// Fitted reports whether Stats is set.
func (s *MaxAbsScaler) Fitted() bool { return s.Stats != nil }

func (s *MaxAbsScaler) plan() (*fitPlan, error) {
	if err := checkConfig(s.TypeName(), s.Columns); err != nil {
		return nil, err
	}
	return perColumn(s.TypeName(), s.Columns, ExtentOf, Extent.Merge, func(es []Extent) error {
		stats := make(map[string]float64, len(es))
		for i, e := range es {
			c := s.Columns[i]
			if e.N == 0 {
				return noValues(s.TypeName(), c)
			}
			if math.IsInf(e.MaxAbs, 0) {
				return notFinite(s.TypeName(), c)
			}
			stats[c] = e.MaxAbs
		}
		s.Stats = stats
		return nil
	}), nil
}

// TransformBatch scales one batch. It does not release batch; the caller
// releases the result.
func (s *MaxAbsScaler) TransformBatch(batch arrow.Record) (arrow.Record, error) {
	if !s.Fitted() {
		return nil, fmt.Errorf("%w: %s", ErrNotFitted, s.TypeName())
	}
	st, err := statsFor(s.TypeName(), s.Columns, s.Stats)
	if err != nil {
		return nil, err
	}
	return mapNumeric(batch, s.TypeName(), s.Columns, func(k int, in, out []float64) {
		scale := handleZero(st[k])
		for i, v := range in {
			out[i] = v / scale
		}
	})
}

func (s *MaxAbsScaler) validate() error {
	if s.Stats == nil {
		return checkConfig(s.TypeName(), s.Columns)
	}
	_, err := statsFor(s.TypeName(), s.Columns, s.Stats)
	return err
}

// ---- RobustScaler ----

// RobustScaler centres each column on its median and divides by an
// inter-quantile range (default the 25th to 75th percentile): (x - median)
// / (q_high - q_low). Quantiles and the median are exact (numpy's linear
// interpolation, as scikit-learn uses; Ray picks the nearest row instead),
// which needs every value of each column: each block sorts its values in
// parallel and the fit selects order statistics across the sorted blocks.
// A zero range is treated as 1. Columns are replaced in place by float64
// columns.
type RobustScaler struct {
	Columns []string `json:"columns"`
	// QuantileRange is the (low, high) pair of quantiles in [0, 1];
	// the zero value means (0.25, 0.75).
	QuantileRange [2]float64 `json:"quantile_range"`
	// Stats holds the fitted median and quantiles of each column; nil
	// until Fit.
	Stats map[string]RobustStats `json:"stats,omitempty"`
}

// RobustStats is a RobustScaler's fitted state for one column.
type RobustStats struct {
	Median float64 `json:"median"`
	Low    float64 `json:"low"`
	High   float64 `json:"high"`
}

// NewRobustScaler returns a RobustScaler for columns with the default
// quantile range (0.25, 0.75).
func NewRobustScaler(columns ...string) *RobustScaler {
	return &RobustScaler{Columns: columns, QuantileRange: [2]float64{0.25, 0.75}}
}

// TypeName is "RobustScaler".
func (s *RobustScaler) TypeName() string { return "RobustScaler" }

// Fitted reports whether Stats is set.
func (s *RobustScaler) Fitted() bool { return s.Stats != nil }

func (s *RobustScaler) qrange() ([2]float64, error) {
	q := s.QuantileRange
	if q == [2]float64{} {
		q = [2]float64{0.25, 0.75}
	}
	if !(0 <= q[0] && q[0] <= q[1] && q[1] <= 1) {
		return q, fmt.Errorf("%w: %s: QuantileRange %v must satisfy 0 <= low <= high <= 1", ErrInvalidInput, s.TypeName(), q)
	}
	return q, nil
}

func (s *RobustScaler) plan() (*fitPlan, error) {
	if err := checkConfig(s.TypeName(), s.Columns); err != nil {
		return nil, err
	}
	q, err := s.qrange()
	if err != nil {
		return nil, err
	}
	return perColumn(s.TypeName(), s.Columns, SortedOf, Sorted.Merge, func(ss []Sorted) error {
		stats := make(map[string]RobustStats, len(ss))
		for i, so := range ss {
			c := s.Columns[i]
			if so.N() == 0 {
				return noValues(s.TypeName(), c)
			}
			if so.hasInf() {
				return notFinite(s.TypeName(), c)
			}
			st := RobustStats{Median: so.Median(), Low: so.Quantile(q[0]), High: so.Quantile(q[1])}
			stats[c] = st
		}
		s.Stats = stats
		return nil
	}), nil
}

// TransformBatch scales one batch. It does not release batch; the caller
// releases the result.
func (s *RobustScaler) TransformBatch(batch arrow.Record) (arrow.Record, error) {
	if !s.Fitted() {
		return nil, fmt.Errorf("%w: %s", ErrNotFitted, s.TypeName())
	}
	st, err := statsFor(s.TypeName(), s.Columns, s.Stats)
	if err != nil {
		return nil, err
	}
	return mapNumeric(batch, s.TypeName(), s.Columns, func(k int, in, out []float64) {
		center, scale := st[k].Median, handleZero(st[k].High-st[k].Low)
		for i, v := range in {
			out[i] = (v - center) / scale
		}
	})
}

func (s *RobustScaler) validate() error {
	if _, err := s.qrange(); err != nil {
		return err
	}
	if s.Stats == nil {
		return checkConfig(s.TypeName(), s.Columns)
	}
	_, err := statsFor(s.TypeName(), s.Columns, s.Stats)
	return err
}

// ---- Normalizer ----

// Norms for Normalizer.
const (
	NormL1  = "l1"
	NormL2  = "l2"
	NormMax = "max"
)

// Normalizer scales each row of the given columns to unit norm: l1 (sum of
// |x|), l2 (Euclidean, the default) or max (largest |x|). A row whose norm
// is zero is left as is. NaN and null values are left out of the norm and
// stay NaN/null. It learns nothing, so Fit only checks the columns and
// Transform needs no Fit (as in Ray). Columns are replaced in place by
// float64 columns.
type Normalizer struct {
	Columns []string `json:"columns"`
	// Norm is NormL1, NormL2 or NormMax; empty means NormL2.
	Norm string `json:"norm"`
}

// NewNormalizer returns a Normalizer with the given norm ("" for l2).
func NewNormalizer(norm string, columns ...string) *Normalizer {
	return &Normalizer{Columns: columns, Norm: norm}
}

// TypeName is "Normalizer".
func (n *Normalizer) TypeName() string { return "Normalizer" }

// Fitted is always true: a Normalizer learns nothing.
func (n *Normalizer) Fitted() bool { return true }

func (n *Normalizer) norm() (string, error) {
	switch n.Norm {
	case "":
		return NormL2, nil
	case NormL1, NormL2, NormMax:
		return n.Norm, nil
	}
	return "", fmt.Errorf("%w: %s: Norm %q must be %q, %q or %q", ErrInvalidInput, n.TypeName(), n.Norm, NormL1, NormL2, NormMax)
}

func (n *Normalizer) validate() error {
	if _, err := n.norm(); err != nil {
		return err
	}
	return checkConfig(n.TypeName(), n.Columns)
}

// TransformBatch normalises the rows of one batch. It does not release
// batch; the caller releases the result.
func (n *Normalizer) TransformBatch(batch arrow.Record) (arrow.Record, error) {
	if err := n.validate(); err != nil {
		return nil, err
	}
	norm, _ := n.norm()
	idx, err := resolve(batch, n.TypeName(), n.Columns)
	if err != nil {
		return nil, err
	}
	ins := make([][]float64, len(idx))
	for k, i := range idx {
		if ins[k], err = floats(n.TypeName(), n.Columns[k], batch.Column(i)); err != nil {
			return nil, err
		}
	}
	rows := int(batch.NumRows())
	norms := make([]float64, rows)
	for _, in := range ins {
		for r, v := range in {
			switch {
			case v != v:
			case norm == NormL1:
				norms[r] += math.Abs(v)
			case norm == NormL2:
				norms[r] += v * v
			default:
				norms[r] = math.Max(norms[r], math.Abs(v))
			}
		}
	}
	for r := range norms {
		if norm == NormL2 {
			norms[r] = math.Sqrt(norms[r])
		}
		norms[r] = handleZero(norms[r])
	}
	replace := make(map[int]arrow.Array, len(idx))
	for k, i := range idx {
		out := make([]float64, rows)
		for r, v := range ins[k] {
			out[r] = v / norms[r]
		}
		replace[i] = float64Array(out, batch.Column(i))
	}
	return assemble(batch, replace, nil, nil), nil
}
