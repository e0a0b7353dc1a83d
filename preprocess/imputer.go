package preprocess

import (
	"fmt"
	"math"
	"strconv"

	"github.com/apache/arrow/go/v15/arrow"
	"github.com/apache/arrow/go/v15/arrow/array"
	"github.com/apache/arrow/go/v15/arrow/memory"
)

// Strategies for SimpleImputer.
const (
	ImputeMean         = "mean"
	ImputeMedian       = "median"
	ImputeMostFrequent = "most_frequent"
	ImputeConstant     = "constant"
)

// What a fitting SimpleImputer does with a column that has no values to
// learn from (all null or NaN); see SimpleImputer.AllMissing.
const (
	// AllMissingError: Fit fails naming the column. The default.
	AllMissingError = "error"
	// AllMissingDrop: the column is left out of the output of every
	// transform (scikit-learn's default, keep_empty_features=False).
	AllMissingDrop = "drop"
	// AllMissingKeep: the column is kept and its gaps filled with 0
	// (scikit-learn's keep_empty_features=True); a string column is filled
	// with "0", the text of scikit-learn's 0.
	AllMissingKeep = "keep"
)

// SimpleImputer fills missing values (null, and NaN in float columns) of
// each column with one value: the column's mean, exact median, most
// frequent value (ties go to the smallest, as scikit-learn does; Ray takes
// the first it meets) or a constant. Mean and median need numeric columns;
// most frequent and constant also work on string columns. A constant
// imputer learns nothing and needs no Fit (as in Ray).
//
// Numeric columns come out as float64, string columns as strings, in
// place. A column with no values to learn from (all missing) is an error at
// Fit unless AllMissing says to drop it (scikit-learn's default) or keep it
// filled with 0 (scikit-learn's keep_empty_features=True).
type SimpleImputer struct {
	Columns []string `json:"columns"`
	// Strategy is ImputeMean (the default when empty), ImputeMedian,
	// ImputeMostFrequent or ImputeConstant.
	Strategy string `json:"strategy"`
	// FillValue is the constant for ImputeConstant: a number (float64 or
	// any Go integer) for numeric columns, a string for string columns.
	FillValue any `json:"fill_value,omitempty"`
	// AllMissing is AllMissingError (the default when empty),
	// AllMissingDrop or AllMissingKeep: what Fit does with a column that
	// has no values. A constant imputer fills every column regardless.
	AllMissing string `json:"all_missing,omitempty"`
	// Stats holds each column's fitted fill value; nil until Fit.
	Stats map[string]Fill `json:"stats,omitempty"`
}

// Fill is the value a SimpleImputer writes into one column's gaps: exactly
// one of Number and String is set, or, for a column that had no values at
// fit under AllMissingDrop, Empty alone.
type Fill struct {
	Number *float64 `json:"number,omitempty"`
	String *string  `json:"string,omitempty"`
	// Empty marks a column dropped from the output.
	Empty bool `json:"empty,omitempty"`
}

// describe formats f for error messages.
func (f Fill) describe() string {
	if f.Number != nil {
		return strconv.FormatFloat(*f.Number, 'g', -1, 64)
	}
	if f.String != nil {
		return strconv.Quote(*f.String)
	}
	if f.Empty {
		return "<dropped>"
	}
	return "<none>"
}

// NewSimpleImputer returns a SimpleImputer using strategy ("" for mean).
func NewSimpleImputer(strategy string, columns ...string) *SimpleImputer {
	return &SimpleImputer{Columns: columns, Strategy: strategy}
}

// NewConstantImputer returns a SimpleImputer that fills with value.
func NewConstantImputer(value any, columns ...string) *SimpleImputer {
	return &SimpleImputer{Columns: columns, Strategy: ImputeConstant, FillValue: value}
}

// TypeName is "SimpleImputer".
func (s *SimpleImputer) TypeName() string { return "SimpleImputer" }

// Fitted reports whether Stats is set; a constant imputer is always fitted.
func (s *SimpleImputer) Fitted() bool {
	st, _ := s.strategy()
	return st == ImputeConstant || s.Stats != nil
}

func (s *SimpleImputer) strategy() (string, error) {
	switch s.Strategy {
	case "":
		return ImputeMean, nil
	case ImputeMean, ImputeMedian, ImputeMostFrequent, ImputeConstant:
		return s.Strategy, nil
	}
	return "", fmt.Errorf("%w: %s: Strategy %q must be %q, %q, %q or %q", ErrInvalidInput,
		s.TypeName(), s.Strategy, ImputeMean, ImputeMedian, ImputeMostFrequent, ImputeConstant)
}

// constantFill converts FillValue.
func (s *SimpleImputer) constantFill() (Fill, error) {
	switch v := s.FillValue.(type) {
	case string:
		return Fill{String: &v}, nil
	case float64:
		return Fill{Number: &v}, nil
	case float32:
		f := float64(v)
		return Fill{Number: &f}, nil
	case int, int8, int16, int32, int64, uint, uint8, uint16, uint32, uint64:
		f, _ := strconv.ParseFloat(fmt.Sprint(v), 64)
		return Fill{Number: &f}, nil
	}
	return Fill{}, fmt.Errorf("%w: %s: FillValue %v (%T) must be a number or a string", ErrInvalidInput, s.TypeName(), s.FillValue, s.FillValue)
}

func (s *SimpleImputer) validate() error {
	st, err := s.strategy()
	if err != nil {
		return err
	}
	if err := checkConfig(s.TypeName(), s.Columns); err != nil {
		return err
	}
	switch s.AllMissing {
	case "", AllMissingError, AllMissingDrop, AllMissingKeep:
	default:
		return fmt.Errorf("%w: %s: AllMissing %q must be %q, %q or %q", ErrInvalidInput, s.TypeName(), s.AllMissing, AllMissingError, AllMissingDrop, AllMissingKeep)
	}
	if st == ImputeConstant {
		_, err := s.constantFill()
		return err
	}
	if s.Stats != nil {
		fills, err := statsFor(s.TypeName(), s.Columns, s.Stats)
		if err != nil {
			return err
		}
		for i, f := range fills {
			n := 0
			for _, set := range []bool{f.Number != nil, f.String != nil, f.Empty} {
				if set {
					n++
				}
			}
			if n != 1 {
				return fmt.Errorf("%w: %s: fitted fill of column %q must have exactly one of number, string and empty", ErrInvalidInput, s.TypeName(), s.Columns[i])
			}
			if f.Empty && s.AllMissing != AllMissingDrop {
				return fmt.Errorf("%w: %s: column %q is fitted as empty but AllMissing is %q, not %q", ErrInvalidInput, s.TypeName(), s.Columns[i], s.AllMissing, AllMissingDrop)
			}
		}
	}
	return nil
}

// allMissing is the fill of column c, of the given kind, that had no
// values at fit, or the error that says so.
func (s *SimpleImputer) allMissing(c, kind string) (Fill, error) {
	switch s.AllMissing {
	case AllMissingDrop:
		return Fill{Empty: true}, nil
	case AllMissingKeep:
		if kind == KindString {
			z := "0"
			return Fill{String: &z}, nil
		}
		z := 0.0
		return Fill{Number: &z}, nil
	}
	return Fill{}, noValues(s.TypeName(), c)
}

func (s *SimpleImputer) plan() (*fitPlan, error) {
	if err := s.validate(); err != nil {
		return nil, err
	}
	typ := s.TypeName()
	st, _ := s.strategy()
	setStats := func(fills []Fill) error {
		s.Stats = make(map[string]Fill, len(fills))
		for i, f := range fills {
			s.Stats[s.Columns[i]] = f
		}
		return nil
	}
	number := func(c string, v float64) (Fill, error) {
		if math.IsNaN(v) {
			return s.allMissing(c, KindFloat)
		}
		if math.IsInf(v, 0) {
			return Fill{}, notFinite(typ, c)
		}
		return Fill{Number: &v}, nil
	}
	switch st {
	case ImputeConstant:
		// Nothing to learn: fitting only checks the columns.
		return &fitPlan{
			columns: s.Columns,
			block:   func(arrow.Record) (any, error) { return nil, nil },
			merge:   func(a, _ any) any { return a },
			finish:  func(any, int64) error { return nil },
		}, nil
	case ImputeMean:
		return perColumn(typ, s.Columns, MomentsOf, Moments.Merge, func(ms []Moments) error {
			fills := make([]Fill, len(ms))
			for i, m := range ms {
				v := m.Mean
				if m.N == 0 {
					v = math.NaN()
				}
				f, err := number(s.Columns[i], v)
				if err != nil {
					return err
				}
				fills[i] = f
			}
			return setStats(fills)
		}), nil
	case ImputeMedian:
		return perColumn(typ, s.Columns, SortedOf, Sorted.Merge, func(ss []Sorted) error {
			fills := make([]Fill, len(ss))
			for i, so := range ss {
				if so.hasInf() {
					return notFinite(typ, s.Columns[i])
				}
				f, err := number(s.Columns[i], so.Median())
				if err != nil {
					return err
				}
				fills[i] = f
			}
			return setStats(fills)
		}), nil
	}
	// Most frequent: counts of each value, numbers or strings.
	return &fitPlan{
		columns: s.Columns,
		block: func(rec arrow.Record) (any, error) {
			out := make([]*Counts, len(s.Columns))
			for i, c := range s.Columns {
				arr, _, err := column(rec, typ, c)
				if err != nil {
					return nil, err
				}
				kind, err := imputeKind(typ, c, arr.DataType())
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
				x[i] = x[i].Merge(y[i])
			}
			return x
		},
		finish: func(total any, _ int64) error {
			cs := total.([]*Counts)
			fills := make([]Fill, len(cs))
			for i, c := range cs {
				es := c.entries()
				if len(es) == 0 {
					f, err := s.allMissing(s.Columns[i], c.Kind)
					if err != nil {
						return err
					}
					fills[i] = f
					continue
				}
				byValue := compareEntries(c.Kind)
				best := es[0]
				for _, e := range es[1:] {
					if e.count > best.count || e.count == best.count && byValue(e, best) < 0 {
						best = e
					}
				}
				switch c.Kind {
				case KindString:
					v := best.s
					fills[i] = Fill{String: &v}
				case KindInt:
					v := float64(best.i)
					fills[i] = Fill{Number: &v}
				default:
					v := best.f
					fills[i] = Fill{Number: &v}
				}
			}
			return setStats(fills)
		},
	}, nil
}

// imputeKind accepts numeric and string columns.
func imputeKind(typ, col string, dt arrow.DataType) (string, error) {
	k, err := kindOf(typ, col, dt, false)
	if err != nil || k == KindBool {
		return "", fmt.Errorf("%w: %s: column %q has type %s, want a numeric or string column", ErrInvalidInput, typ, col, dt)
	}
	return k, nil
}

// TransformBatch fills the gaps of one batch. It does not release batch;
// the caller releases the result.
func (s *SimpleImputer) TransformBatch(batch arrow.Record) (arrow.Record, error) {
	if !s.Fitted() {
		return nil, fmt.Errorf("%w: %s", ErrNotFitted, s.TypeName())
	}
	if err := s.validate(); err != nil {
		return nil, err
	}
	st, _ := s.strategy()
	idx, err := resolve(batch, s.TypeName(), s.Columns)
	if err != nil {
		return nil, err
	}
	replace := make(map[int]arrow.Array, len(idx))
	var drop map[int]bool
	fail := func(err error) (arrow.Record, error) {
		for _, a := range replace {
			a.Release()
		}
		return nil, err
	}
	for k, i := range idx {
		c := s.Columns[k]
		var fill Fill
		if st == ImputeConstant {
			fill, _ = s.constantFill()
		} else {
			fill = s.Stats[c]
		}
		if fill.Empty {
			// No values at fit, AllMissingDrop: left out, as
			// scikit-learn leaves it out.
			if drop == nil {
				drop = map[int]bool{}
			}
			drop[i] = true
			continue
		}
		arr := batch.Column(i)
		kind, err := imputeKind(s.TypeName(), c, arr.DataType())
		if err != nil {
			return fail(err)
		}
		switch {
		case kind == KindString && fill.String != nil:
			replace[i] = fillStrings(arr, *fill.String)
		case kind != KindString && fill.Number != nil:
			vals, err := floats(s.TypeName(), c, arr)
			if err != nil {
				return fail(err)
			}
			out := make([]float64, len(vals))
			f := *fill.Number
			for j, v := range vals {
				if v != v {
					v = f
				}
				out[j] = v
			}
			replace[i] = float64Array(out, nil)
		default:
			return fail(fmt.Errorf("%w: %s: column %q has type %s but the fill value is %s", ErrInvalidInput, s.TypeName(), c, arr.DataType(), fill.describe()))
		}
	}
	return assemble(batch, replace, drop, nil), nil
}

// fillStrings returns arr (a string column) as a string array with nulls
// replaced by fill.
func fillStrings(arr arrow.Array, fill string) arrow.Array {
	b := array.NewStringBuilder(memory.DefaultAllocator)
	defer b.Release()
	b.Reserve(arr.Len())
	value, release := stringValue(arr)
	defer release()
	for i := 0; i < arr.Len(); i++ {
		if arr.IsNull(i) {
			b.Append(fill)
		} else {
			b.Append(value(i))
		}
	}
	return b.NewArray()
}

// stringValue returns the accessor of a string-typed array and a function
// to call once the accessor is no longer used.
func stringValue(arr arrow.Array) (value func(int) string, release func()) {
	switch a := arr.(type) {
	case *array.String:
		return a.Value, func() {}
	case *array.LargeString:
		return a.Value, func() {}
	case *array.StringView:
		return a.Value, func() {}
	case *array.Dictionary:
		values := dictionaryValues(a)
		dv, release := stringValue(values)
		return func(i int) string { return dv(a.GetValueIndex(i)) }, func() { release(); values.Release() }
	}
	return func(int) string { return "" }, func() {}
}
