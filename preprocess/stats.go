package preprocess

import (
	"math"
	"slices"
	"sort"
)

// This file holds the mergeable statistics that distributed fitting is built
// on: each block of a Dataset produces a partial statistic, and the partials
// are merged in block order. NaN values are skipped everywhere (the caller
// turns nulls into NaN first).

// Moments is a mergeable count, mean and sum of squared deviations of the
// non-NaN values seen (Chan, Golub and LeVeque's parallel algorithm).
type Moments struct {
	N    int64
	Mean float64
	M2   float64
}

// MomentsOf computes the moments of vals in two passes (mean, then squared
// deviations from it), which is exact to rounding for one block. Each pass
// first runs without a NaN test, with four accumulators; only a column that
// turns out to hold NaN is summed again skipping them.
func MomentsOf(vals []float64) Moments {
	n := int64(len(vals))
	sum := sum4(vals)
	if sum != sum { // NaN somewhere (or an Inf overflow): skip NaN values
		sum, n = 0, 0
		for _, v := range vals {
			if v == v {
				sum += v
				n++
			}
		}
	}
	if n == 0 {
		return Moments{}
	}
	mean := sum / float64(n)
	var m2 float64
	if n == int64(len(vals)) {
		m2 = sqdev4(vals, mean)
	} else {
		for _, v := range vals {
			if v == v {
				d := v - mean
				m2 += d * d
			}
		}
	}
	return Moments{N: n, Mean: mean, M2: m2}
}

func sum4(v []float64) float64 {
	var a, b, c, d float64
	i := 0
	for ; i+4 <= len(v); i += 4 {
		a += v[i]
		b += v[i+1]
		c += v[i+2]
		d += v[i+3]
	}
	for ; i < len(v); i++ {
		a += v[i]
	}
	return (a + b) + (c + d)
}

func sqdev4(v []float64, mean float64) float64 {
	var a, b, c, d float64
	i := 0
	for ; i+4 <= len(v); i += 4 {
		x0, x1, x2, x3 := v[i]-mean, v[i+1]-mean, v[i+2]-mean, v[i+3]-mean
		a += x0 * x0
		b += x1 * x1
		c += x2 * x2
		d += x3 * x3
	}
	for ; i < len(v); i++ {
		x := v[i] - mean
		a += x * x
	}
	return (a + b) + (c + d)
}

// Merge combines the moments of two disjoint sets of values.
func (m Moments) Merge(o Moments) Moments {
	switch {
	case o.N == 0:
		return m
	case m.N == 0:
		return o
	}
	n := m.N + o.N
	d := o.Mean - m.Mean
	fn, fm, fo := float64(n), float64(m.N), float64(o.N)
	return Moments{
		N:    n,
		Mean: m.Mean + d*fo/fn,
		M2:   m.M2 + o.M2 + d*d*fm*fo/fn,
	}
}

// Var is the population variance (ddof=0), as scikit-learn and Ray use.
func (m Moments) Var() float64 {
	if m.N == 0 {
		return math.NaN()
	}
	return m.M2 / float64(m.N)
}

// isConstant is scikit-learn's _is_constant_feature: a variance this small
// relative to the mean is rounding noise of a constant column.
func isConstant(m Moments) bool {
	eps := 0x1p-52
	n := float64(m.N)
	upper := n*eps*m.Var() + (n*m.Mean*eps)*(n*m.Mean*eps)
	return m.Var() <= upper
}

// handleZero is scikit-learn's _handle_zeros_in_scale: a scale that is zero
// (or rounding noise around it) becomes 1, so a constant column is left
// unscaled instead of divided by zero.
func handleZero(scale float64) float64 {
	if scale < 10*0x1p-52 {
		return 1
	}
	return scale
}

// Extent is a mergeable count, minimum, maximum and maximum absolute value
// of the non-NaN values seen.
type Extent struct {
	N      int64
	Min    float64
	Max    float64
	MaxAbs float64
}

// ExtentOf computes the extent of vals.
func ExtentOf(vals []float64) Extent {
	e := Extent{Min: math.Inf(1), Max: math.Inf(-1)}
	for _, v := range vals {
		if v != v {
			continue
		}
		e.N++
		if v < e.Min {
			e.Min = v
		}
		if v > e.Max {
			e.Max = v
		}
	}
	if e.N > 0 {
		e.MaxAbs = math.Max(math.Abs(e.Min), math.Abs(e.Max))
	}
	return e
}

// Merge combines two extents.
func (e Extent) Merge(o Extent) Extent {
	switch {
	case o.N == 0:
		return e
	case e.N == 0:
		return o
	}
	return Extent{
		N:      e.N + o.N,
		Min:    math.Min(e.Min, o.Min),
		Max:    math.Max(e.Max, o.Max),
		MaxAbs: math.Max(e.MaxAbs, o.MaxAbs),
	}
}

// Sorted holds every non-NaN value of a column, as sorted runs (one per
// block). Exact quantiles and medians need all values, so fitting them
// moves each block's values to the caller; each block sorts its own run in
// parallel and the caller selects order statistics across the runs without
// merging them.
type Sorted struct {
	Runs [][]float64
}

// SortedOf copies the non-NaN values of vals and sorts them.
func SortedOf(vals []float64) Sorted {
	run := make([]float64, 0, len(vals))
	for _, v := range vals {
		if v == v {
			run = append(run, v)
		}
	}
	if len(run) == 0 {
		return Sorted{}
	}
	slices.Sort(run)
	return Sorted{Runs: [][]float64{run}}
}

// Merge appends o's runs.
func (s Sorted) Merge(o Sorted) Sorted {
	return Sorted{Runs: append(slices.Clip(s.Runs), o.Runs...)}
}

// N is the number of values.
func (s Sorted) N() int {
	n := 0
	for _, r := range s.Runs {
		n += len(r)
	}
	return n
}

// Kth returns the k-th smallest value (0-based) across the runs. Each round
// takes the middle of the longest remaining range as a pivot and discards,
// from every run, the values on the side of the pivot that cannot hold the
// answer, so it needs O(runs * log(n)) rounds of binary searches.
func (s Sorted) Kth(k int) float64 {
	runs := s.Runs
	lo := make([]int, len(runs))
	hi := make([]int, len(runs))
	for i, r := range runs {
		hi[i] = len(r)
	}
	less := make([]int, len(runs))
	lessEq := make([]int, len(runs))
	for {
		best, width := -1, 0
		for i := range runs {
			if w := hi[i] - lo[i]; w > width {
				best, width = i, w
			}
		}
		if best < 0 {
			panic("preprocess: Kth out of range") // callers check k < N()
		}
		pivot := runs[best][lo[best]+width/2]
		nLess, nLessEq := 0, 0
		for i, r := range runs {
			seg := r[lo[i]:hi[i]]
			a := sort.Search(len(seg), func(j int) bool { return seg[j] >= pivot })
			b := a + sort.Search(len(seg)-a, func(j int) bool { return seg[a+j] > pivot })
			less[i], lessEq[i] = lo[i]+a, lo[i]+b
			nLess += a
			nLessEq += b
		}
		switch {
		case k < nLess:
			copy(hi, less)
		case k < nLessEq:
			return pivot
		default:
			k -= nLessEq
			copy(lo, lessEq)
		}
	}
}

// hasInf reports whether the smallest or largest value is infinite.
func (s Sorted) hasInf() bool {
	n := s.N()
	return n > 0 && (math.IsInf(s.Kth(0), 0) || math.IsInf(s.Kth(n-1), 0))
}

// Quantile is numpy's percentile with the default "linear" method, for q in
// [0, 1]: the value at virtual index (n-1)*q, interpolated between its
// neighbours with numpy's _lerp. It returns NaN when there are no values.
func (s Sorted) Quantile(q float64) float64 {
	n := s.N()
	if n == 0 {
		return math.NaN()
	}
	h := float64(n-1) * q
	i := math.Floor(h)
	g := h - i
	lo := int(i)
	if lo >= n-1 {
		return s.Kth(n - 1)
	}
	if lo < 0 {
		return s.Kth(0)
	}
	a := s.Kth(lo)
	if g == 0 {
		return a
	}
	b := s.Kth(lo + 1)
	return lerp(a, b, g)
}

// lerp is numpy's _lerp.
func lerp(a, b, t float64) float64 {
	d := b - a
	if t >= 0.5 {
		return b - d*(1-t)
	}
	return a + d*t
}

// Median is numpy's median: the middle value, or the mean of the two middle
// values.
func (s Sorted) Median() float64 {
	n := s.N()
	if n == 0 {
		return math.NaN()
	}
	if n%2 == 1 {
		return s.Kth(n / 2)
	}
	return (s.Kth(n/2-1) + s.Kth(n/2)) / 2
}
