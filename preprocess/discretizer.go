package preprocess

import (
	"fmt"
	"math"
	"sort"

	"github.com/apache/arrow/go/v15/arrow"
)

// Strategies for KBinsDiscretizer.
const (
	BinsUniform  = "uniform"
	BinsQuantile = "quantile"
)

// KBinsDiscretizer replaces each numeric column, in place, by the float64
// index of the bin each value falls in, with edges fitted as
// scikit-learn's KBinsDiscretizer (encode="ordinal") fits them: NBins
// equal-width bins between the column's min and max (BinsUniform, the
// default), or bins holding equal numbers of values (BinsQuantile: edges
// at exact percentiles, bins narrower than 1e-8 removed). Bins are closed
// on the left, [e_i, e_i+1), the last one on both sides; values outside the
// fitted range go to the first or last bin. A constant column gets one bin
// (index 0). NaN and null are ignored at fit and stay NaN/null. Quantile
// edges need every value (see RobustScaler); uniform edges only min and max.
// For fixed edges with pandas/Ray cut semantics see CustomKBinsDiscretizer.
type KBinsDiscretizer struct {
	Columns []string `json:"columns"`
	// NBins is the number of bins per column (at least 2).
	NBins int `json:"n_bins"`
	// Strategy is BinsUniform (default when empty) or BinsQuantile.
	Strategy string `json:"strategy"`
	// Stats holds each column's fitted bin edges (NBins+1 values, fewer if
	// quantile bins were merged); nil until Fit.
	Stats map[string][]float64 `json:"stats,omitempty"`
}

// NewKBinsDiscretizer returns a KBinsDiscretizer.
func NewKBinsDiscretizer(nBins int, strategy string, columns ...string) *KBinsDiscretizer {
	return &KBinsDiscretizer{Columns: columns, NBins: nBins, Strategy: strategy}
}

// TypeName is "KBinsDiscretizer".
func (d *KBinsDiscretizer) TypeName() string { return "KBinsDiscretizer" }

// Fitted reports whether Stats is set.
func (d *KBinsDiscretizer) Fitted() bool { return d.Stats != nil }

func (d *KBinsDiscretizer) strategy() (string, error) {
	switch d.Strategy {
	case "":
		return BinsUniform, nil
	case BinsUniform, BinsQuantile:
		return d.Strategy, nil
	}
	return "", fmt.Errorf("%w: %s: Strategy %q must be %q or %q", ErrInvalidInput, d.TypeName(), d.Strategy, BinsUniform, BinsQuantile)
}

func (d *KBinsDiscretizer) validate() error {
	if _, err := d.strategy(); err != nil {
		return err
	}
	if d.NBins < 2 {
		return fmt.Errorf("%w: %s: NBins %d must be at least 2", ErrInvalidInput, d.TypeName(), d.NBins)
	}
	if err := checkConfig(d.TypeName(), d.Columns); err != nil {
		return err
	}
	if d.Stats != nil {
		st, err := statsFor(d.TypeName(), d.Columns, d.Stats)
		if err != nil {
			return err
		}
		for i, e := range st {
			if len(e) < 2 {
				return fmt.Errorf("%w: %s: column %q has %d bin edges, want at least 2", ErrInvalidInput, d.TypeName(), d.Columns[i], len(e))
			}
		}
	}
	return nil
}

// linspace is numpy.linspace(start, stop, num).
func linspace(start, stop float64, num int) []float64 {
	out := make([]float64, num)
	div := float64(num - 1)
	step := (stop - start) / div
	for i := range out {
		if step == 0 {
			out[i] = float64(i)/div*(stop-start) + start
		} else {
			out[i] = float64(i)*step + start
		}
	}
	out[num-1] = stop
	return out
}

func (d *KBinsDiscretizer) plan() (*fitPlan, error) {
	if err := d.validate(); err != nil {
		return nil, err
	}
	st, _ := d.strategy()
	typ := d.TypeName()
	set := func(edges [][]float64) error {
		d.Stats = make(map[string][]float64, len(edges))
		for i, e := range edges {
			d.Stats[d.Columns[i]] = e
		}
		return nil
	}
	if st == BinsUniform {
		return perColumn(typ, d.Columns, ExtentOf, Extent.Merge, func(es []Extent) error {
			edges := make([][]float64, len(es))
			for i, e := range es {
				switch {
				case e.N == 0:
					return noValues(typ, d.Columns[i])
				case math.IsInf(e.MaxAbs, 0):
					return notFinite(typ, d.Columns[i])
				case e.Min == e.Max:
					edges[i] = []float64{math.Inf(-1), math.Inf(1)}
				default:
					edges[i] = linspace(e.Min, e.Max, d.NBins+1)
				}
			}
			return set(edges)
		}), nil
	}
	return perColumn(typ, d.Columns, SortedOf, Sorted.Merge, func(ss []Sorted) error {
		edges := make([][]float64, len(ss))
		for i, s := range ss {
			n := s.N()
			switch {
			case n == 0:
				return noValues(typ, d.Columns[i])
			case s.hasInf():
				return notFinite(typ, d.Columns[i])
			case s.Kth(0) == s.Kth(n-1):
				edges[i] = []float64{math.Inf(-1), math.Inf(1)}
				continue
			}
			var e []float64
			prev := math.Inf(-1)
			for _, pct := range linspace(0, 100, d.NBins+1) {
				q := s.Quantile(pct / 100)
				// Drop edges within 1e-8 of the one before (scikit-learn's
				// ediff1d mask, which compares unmerged neighbours).
				if q-prev > 1e-8 {
					e = append(e, q)
				}
				prev = q
			}
			edges[i] = e
		}
		return set(edges)
	}), nil
}

// TransformBatch bins one batch. It does not release batch; the caller
// releases the result.
func (d *KBinsDiscretizer) TransformBatch(batch arrow.Record) (arrow.Record, error) {
	if !d.Fitted() {
		return nil, fmt.Errorf("%w: %s", ErrNotFitted, d.TypeName())
	}
	if err := d.validate(); err != nil {
		return nil, err
	}
	st, _ := statsFor(d.TypeName(), d.Columns, d.Stats)
	return mapNumeric(batch, d.TypeName(), d.Columns, func(k int, in, out []float64) {
		inner := st[k][1 : len(st[k])-1]
		for i, v := range in {
			if v != v {
				out[i] = v
				continue
			}
			// numpy.searchsorted(inner, v, side="right").
			out[i] = float64(sort.Search(len(inner), func(j int) bool { return inner[j] > v }))
		}
	})
}

// CustomKBinsDiscretizer bins numeric columns with edges given per column,
// as Ray's CustomKBinsDiscretizer does with pandas.cut(labels=False):
// bins are (e_i, e_i+1] (or [e_i, e_i+1) with LeftClosed), IncludeLowest
// closes the first bin's outer edge, and values outside every bin (and NaN,
// null) give NaN. Each column is replaced in place by a float64 column of
// bin indices. It learns nothing.
type CustomKBinsDiscretizer struct {
	Columns []string `json:"columns"`
	// Bins holds each column's strictly increasing edges.
	Bins map[string][]float64 `json:"bins"`
	// LeftClosed makes bins [a, b) instead of Ray's default (a, b].
	LeftClosed bool `json:"left_closed,omitempty"`
	// IncludeLowest includes the first edge in the first bin (pandas'
	// include_lowest; no effect with LeftClosed, whose first bin holds it).
	IncludeLowest bool `json:"include_lowest,omitempty"`
}

// NewCustomKBinsDiscretizer returns a CustomKBinsDiscretizer with the same
// edges for every column.
func NewCustomKBinsDiscretizer(edges []float64, columns ...string) *CustomKBinsDiscretizer {
	bins := make(map[string][]float64, len(columns))
	for _, c := range columns {
		bins[c] = edges
	}
	return &CustomKBinsDiscretizer{Columns: columns, Bins: bins}
}

// TypeName is "CustomKBinsDiscretizer".
func (d *CustomKBinsDiscretizer) TypeName() string { return "CustomKBinsDiscretizer" }

// Fitted is always true: the edges are given.
func (d *CustomKBinsDiscretizer) Fitted() bool { return true }

func (d *CustomKBinsDiscretizer) validate() error {
	if err := checkConfig(d.TypeName(), d.Columns); err != nil {
		return err
	}
	st, err := statsFor(d.TypeName(), d.Columns, d.Bins)
	if err != nil {
		return fmt.Errorf("%w (set Bins)", err)
	}
	for i, e := range st {
		if len(e) < 2 {
			return fmt.Errorf("%w: %s: column %q has %d bin edges, want at least 2", ErrInvalidInput, d.TypeName(), d.Columns[i], len(e))
		}
		for j := 1; j < len(e); j++ {
			if !(e[j] > e[j-1]) {
				return fmt.Errorf("%w: %s: column %q bin edges must increase strictly, got %v", ErrInvalidInput, d.TypeName(), d.Columns[i], e)
			}
		}
	}
	return nil
}

// TransformBatch bins one batch. It does not release batch; the caller
// releases the result.
func (d *CustomKBinsDiscretizer) TransformBatch(batch arrow.Record) (arrow.Record, error) {
	if err := d.validate(); err != nil {
		return nil, err
	}
	st, _ := statsFor(d.TypeName(), d.Columns, d.Bins)
	return mapNumeric(batch, d.TypeName(), d.Columns, func(k int, in, out []float64) {
		e := st[k]
		nb := len(e) - 1
		for i, v := range in {
			var b int
			if d.LeftClosed {
				// [e_j, e_j+1): the j with e_j <= v < e_j+1.
				b = sort.Search(len(e), func(j int) bool { return e[j] > v }) - 1
			} else {
				// (e_j, e_j+1]: the j with e_j < v <= e_j+1.
				b = sort.Search(len(e), func(j int) bool { return e[j] >= v }) - 1
				if d.IncludeLowest && v == e[0] {
					b = 0
				}
			}
			if v != v || b < 0 || b >= nb {
				out[i] = math.NaN()
			} else {
				out[i] = float64(b)
			}
		}
	})
}
