package preprocess

import (
	"cmp"
	"fmt"
	"math"
	"slices"
	"strconv"
	"strings"
	"sync"

	"github.com/apache/arrow/go/v15/arrow"
	"github.com/apache/arrow/go/v15/arrow/array"
)

// Category kinds: the type family of a categorical column.
const (
	KindString = "string"
	KindInt    = "int"
	KindFloat  = "float"
	KindBool   = "bool"
)

// kindOf returns the category kind of values of type dt. With lists set, a
// list column's element kind is returned.
func kindOf(typ, name string, dt arrow.DataType, lists bool) (string, error) {
	switch t := dt.(type) {
	case *arrow.DictionaryType:
		return kindOf(typ, name, t.ValueType, lists)
	case *arrow.ListType, *arrow.LargeListType, *arrow.FixedSizeListType:
		if lists {
			return kindOf(typ, name, t.(arrow.ListLikeType).Elem(), false)
		}
	}
	switch dt.ID() {
	case arrow.STRING, arrow.LARGE_STRING, arrow.STRING_VIEW:
		return KindString, nil
	case arrow.INT8, arrow.INT16, arrow.INT32, arrow.INT64,
		arrow.UINT8, arrow.UINT16, arrow.UINT32, arrow.UINT64:
		return KindInt, nil
	case arrow.FLOAT32, arrow.FLOAT64:
		return KindFloat, nil
	case arrow.BOOL:
		return KindBool, nil
	}
	want := "string, integer, float or boolean"
	if lists {
		want += " values or lists of them"
	}
	return "", fmt.Errorf("%w: %s: column %q has type %s, want %s", ErrInvalidInput, typ, name, dt, want)
}

// Counts is a mergeable count of each distinct non-null value of a column
// (NaN counts as null). Only the map of the column's kind is used.
type Counts struct {
	Kind  string
	Str   map[string]int64
	Int   map[int64]int64
	Float map[float64]int64
	Bool  [2]int64
}

func newCounts(kind string) *Counts {
	c := &Counts{Kind: kind}
	switch kind {
	case KindString:
		c.Str = map[string]int64{}
	case KindInt:
		c.Int = map[int64]int64{}
	case KindFloat:
		c.Float = map[float64]int64{}
	}
	return c
}

// Merge adds o's counts to c.
func (c *Counts) Merge(o *Counts) *Counts {
	if o == nil {
		return c
	}
	if c == nil {
		return o
	}
	for k, v := range o.Str {
		c.Str[k] += v
	}
	for k, v := range o.Int {
		c.Int[k] += v
	}
	for k, v := range o.Float {
		c.Float[k] += v
	}
	c.Bool[0] += o.Bool[0]
	c.Bool[1] += o.Bool[1]
	return c
}

// Len is the number of distinct values.
func (c *Counts) Len() int {
	n := len(c.Str) + len(c.Int) + len(c.Float)
	for _, b := range c.Bool {
		if b > 0 {
			n++
		}
	}
	return n
}

// add counts the values of arr (a scalar column, a dictionary column or,
// with lists, the elements of a list column).
func (c *Counts) add(arr arrow.Array) {
	switch a := arr.(type) {
	case *array.Dictionary:
		// Count dictionary indices, then credit each dictionary value.
		values := dictionaryValues(a)
		defer values.Release()
		idx := make([]int64, values.Len())
		for i := 0; i < a.Len(); i++ {
			if a.IsValid(i) {
				idx[a.GetValueIndex(i)]++
			}
		}
		c.addWeighted(values, idx)
		return
	case array.ListLike:
		if a.Len() == 0 {
			return
		}
		if a.NullN() == 0 {
			start, _ := a.ValueOffsets(0)
			_, end := a.ValueOffsets(a.Len() - 1)
			c.addRange(a.ListValues(), start, end)
			return
		}
		for i := 0; i < a.Len(); i++ {
			if a.IsValid(i) {
				start, end := a.ValueOffsets(i)
				c.addRange(a.ListValues(), start, end)
			}
		}
		return
	}
	c.addWeighted(arr, nil)
}

func (c *Counts) addRange(arr arrow.Array, start, end int64) {
	if start == end {
		return
	}
	child := array.NewSlice(arr, start, end)
	defer child.Release()
	c.add(child)
}

// addWeighted counts each valid value of arr once, or w[i] times.
func (c *Counts) addWeighted(arr arrow.Array, w []int64) {
	weight := func(i int) int64 {
		if w == nil {
			return 1
		}
		return w[i]
	}
	switch a := arr.(type) {
	case *array.String:
		if w == nil && a.NullN() == 0 {
			countPlainStrings(c.Str, a)
			return
		}
		countStrings(c.Str, a, a.Len(), a.Value, weight)
	case *array.LargeString:
		countStrings(c.Str, a, a.Len(), a.Value, weight)
	case *array.StringView:
		countStrings(c.Str, a, a.Len(), a.Value, weight)
	case *array.Boolean:
		for i := 0; i < a.Len(); i++ {
			if a.IsValid(i) && weight(i) > 0 {
				if a.Value(i) {
					c.Bool[1] += weight(i)
				} else {
					c.Bool[0] += weight(i)
				}
			}
		}
	default:
		if c.Kind == KindInt {
			vals := ints(arr)
			for i, v := range vals {
				if arr.IsValid(i) && weight(i) > 0 {
					c.Int[v] += weight(i)
				}
			}
			return
		}
		vals, _ := floats("", "", arr)
		for i, v := range vals {
			if v == v && weight(i) > 0 {
				c.Float[v] += weight(i)
			}
		}
	}
}

// countPlainStrings is countStrings for the common case: a string array
// without nulls, each value counted once (no indirect calls per row).
// Values are numbered on first sight so that a repeated value costs one
// map lookup.
func countPlainStrings(m map[string]int64, a *array.String) {
	index := make(map[string]int32)
	var keys []string
	var counts []int64
	for i, n := 0, a.Len(); i < n; i++ {
		s := a.Value(i)
		if k, ok := index[s]; ok {
			counts[k]++
			continue
		}
		s = strings.Clone(s)
		index[s] = int32(len(keys))
		keys = append(keys, s)
		counts = append(counts, 1)
	}
	for k, s := range keys {
		m[s] += counts[k]
	}
}

func countStrings(m map[string]int64, arr arrow.Array, n int, value func(int) string, weight func(int) int64) {
	nulls := arr.NullN() > 0
	for i := 0; i < n; i++ {
		if nulls && arr.IsNull(i) {
			continue
		}
		w := weight(i)
		if w == 0 {
			continue
		}
		s := value(i)
		if p, ok := m[s]; ok {
			m[s] = p + w
		} else {
			// The string aliases the array's buffer: copy it before keeping it.
			m[strings.Clone(s)] = w
		}
	}
}

// ints returns an integer array's values as int64.
func ints(arr arrow.Array) []int64 {
	if a, ok := arr.(*array.Int64); ok {
		return a.Int64Values()
	}
	out := make([]int64, arr.Len())
	switch a := arr.(type) {
	case *array.Int8:
		convertInt(out, a.Int8Values())
	case *array.Int16:
		convertInt(out, a.Int16Values())
	case *array.Int32:
		convertInt(out, a.Int32Values())
	case *array.Uint8:
		convertInt(out, a.Uint8Values())
	case *array.Uint16:
		convertInt(out, a.Uint16Values())
	case *array.Uint32:
		convertInt(out, a.Uint32Values())
	case *array.Uint64:
		convertInt(out, a.Uint64Values())
	}
	return out
}

func convertInt[T number](dst []int64, src []T) {
	for i, v := range src {
		dst[i] = int64(v)
	}
}

// catEntry is one distinct value with its count, used to choose and order
// categories.
type catEntry struct {
	key   string
	s     string
	i     int64
	f     float64
	count int64
}

func (c *Counts) entries() []catEntry {
	var es []catEntry
	switch c.Kind {
	case KindString:
		for k, v := range c.Str {
			es = append(es, catEntry{s: k, key: k, count: v})
		}
	case KindInt:
		for k, v := range c.Int {
			es = append(es, catEntry{i: k, key: strconv.FormatInt(k, 10), count: v})
		}
	case KindFloat:
		for k, v := range c.Float {
			es = append(es, catEntry{f: k, key: strconv.FormatFloat(k, 'g', -1, 64), count: v})
		}
	case KindBool:
		for b, v := range c.Bool {
			if v > 0 {
				es = append(es, catEntry{i: int64(b), key: strconv.FormatBool(b == 1), count: v})
			}
		}
	}
	return es
}

func compareEntries(kind string) func(a, b catEntry) int {
	switch kind {
	case KindString:
		return func(a, b catEntry) int { return strings.Compare(a.s, b.s) }
	case KindFloat:
		return func(a, b catEntry) int { return cmp.Compare(a.f, b.f) }
	default:
		return func(a, b catEntry) int { return cmp.Compare(a.i, b.i) }
	}
}

// categories turns counts into sorted categories, keeping only the max most
// frequent when max > 0 (ties go to the smaller value).
func (c *Counts) categories(max int) *Categories {
	es := c.entries()
	byValue := compareEntries(c.Kind)
	if max > 0 && len(es) > max {
		slices.SortFunc(es, func(a, b catEntry) int {
			if a.count != b.count {
				return cmp.Compare(b.count, a.count)
			}
			return byValue(a, b)
		})
		es = es[:max]
	}
	slices.SortFunc(es, byValue)
	cats := &Categories{Kind: c.Kind, Values: make([]string, len(es))}
	for i, e := range es {
		cats.Values[i] = e.key
	}
	return cats
}

// Categories are the fitted categories of one column, in sorted order
// (strings by bytes, numbers by value, false before true). Values holds
// each category's canonical text: the string itself, a base-10 integer, a
// float in Go's shortest round-trip form, or "true"/"false". A category's
// code is its index in Values.
type Categories struct {
	Kind   string   `json:"kind"`
	Values []string `json:"values"`

	once sync.Once
	ix   catIndex
	err  error
}

type catIndex struct {
	str   map[string]int32
	int   map[int64]int32
	float map[float64]int32
	bool  [2]int32
}

func (c *Categories) index() (*catIndex, error) {
	c.once.Do(func() {
		ix := catIndex{bool: [2]int32{-1, -1}}
		switch c.Kind {
		case KindString:
			ix.str = make(map[string]int32, len(c.Values))
		case KindInt:
			ix.int = make(map[int64]int32, len(c.Values))
		case KindFloat:
			ix.float = make(map[float64]int32, len(c.Values))
		case KindBool:
		default:
			c.err = fmt.Errorf("%w: unknown category kind %q", ErrInvalidInput, c.Kind)
			return
		}
		for i, v := range c.Values {
			code := int32(i)
			var err error
			switch c.Kind {
			case KindString:
				ix.str[v] = code
			case KindInt:
				var n int64
				n, err = strconv.ParseInt(v, 10, 64)
				ix.int[n] = code
			case KindFloat:
				var f float64
				f, err = strconv.ParseFloat(v, 64)
				ix.float[f] = code
			case KindBool:
				var b bool
				b, err = strconv.ParseBool(v)
				if b {
					ix.bool[1] = code
				} else {
					ix.bool[0] = code
				}
			}
			if err != nil {
				c.err = fmt.Errorf("%w: bad %s category %q", ErrInvalidInput, c.Kind, v)
				return
			}
		}
		c.ix = ix
	})
	return &c.ix, c.err
}

// Code sentinels returned by codes.
const (
	codeUnseen = -1
	codeNull   = -2
)

// codes writes the category code of each value of arr into dst (len
// arr.Len()): codeUnseen for a value not seen at fit, codeNull for null or
// NaN. typ and name only label errors.
func (c *Categories) codes(typ, name string, arr arrow.Array, dst []int32) error {
	ix, err := c.index()
	if err != nil {
		return err
	}
	if d, ok := arr.(*array.Dictionary); ok {
		values := dictionaryValues(d)
		defer values.Release()
		dict := make([]int32, values.Len())
		if err := c.codes(typ, name, values, dict); err != nil {
			return err
		}
		for i := range dst {
			if d.IsNull(i) {
				dst[i] = codeNull
			} else {
				dst[i] = dict[d.GetValueIndex(i)]
			}
		}
		return nil
	}
	kind, err := kindOf(typ, name, arr.DataType(), false)
	if err != nil {
		return err
	}
	mismatch := func() error {
		return fmt.Errorf("%w: %s: column %q has type %s but was fitted on %s values", ErrInvalidInput, typ, name, arr.DataType(), c.Kind)
	}
	nulls := arr.NullN() > 0
	switch {
	case kind == KindString && c.Kind == KindString:
		switch a := arr.(type) {
		case *array.String:
			if !nulls {
				for i := range dst {
					if code, ok := ix.str[a.Value(i)]; ok {
						dst[i] = code
					} else {
						dst[i] = codeUnseen
					}
				}
				break
			}
			stringCodes(ix.str, a, a.Value, nulls, dst)
		case *array.LargeString:
			stringCodes(ix.str, a, a.Value, nulls, dst)
		case *array.StringView:
			stringCodes(ix.str, a, a.Value, nulls, dst)
		}
	case kind == KindBool && c.Kind == KindBool:
		a := arr.(*array.Boolean)
		for i := range dst {
			switch {
			case a.IsNull(i):
				dst[i] = codeNull
			case a.Value(i):
				dst[i] = ix.bool[1]
			default:
				dst[i] = ix.bool[0]
			}
		}
	case kind == KindInt && c.Kind == KindInt:
		for i, v := range ints(arr) {
			if nulls && arr.IsNull(i) {
				dst[i] = codeNull
			} else if code, ok := ix.int[v]; ok {
				dst[i] = code
			} else {
				dst[i] = codeUnseen
			}
		}
	case (kind == KindInt || kind == KindFloat) && (c.Kind == KindInt || c.Kind == KindFloat):
		vals, _ := floats(typ, name, arr)
		for i, v := range vals {
			var code int32
			var ok bool
			switch {
			case v != v:
				code, ok = codeNull, true
			case c.Kind == KindFloat:
				code, ok = ix.float[v]
			case v == math.Trunc(v) && math.Abs(v) < 1<<63:
				code, ok = ix.int[int64(v)]
			}
			if !ok {
				code = codeUnseen
			}
			dst[i] = code
		}
	default:
		return mismatch()
	}
	return nil
}

func stringCodes(m map[string]int32, arr arrow.Array, value func(int) string, nulls bool, dst []int32) {
	for i := range dst {
		if nulls && arr.IsNull(i) {
			dst[i] = codeNull
			continue
		}
		if code, ok := m[value(i)]; ok {
			dst[i] = code
		} else {
			dst[i] = codeUnseen
		}
	}
}

// display returns category i as Ray (Python) prints it in column names:
// floats as Python's repr (1.0, 1e-05), booleans as True/False.
func (c *Categories) display(i int) string {
	v := c.Values[i]
	switch c.Kind {
	case KindFloat:
		f, err := strconv.ParseFloat(v, 64)
		if err != nil {
			return v
		}
		return pyFloat(f)
	case KindBool:
		if v == "true" {
			return "True"
		}
		return "False"
	}
	return v
}

// pyFloat formats f as Python's repr does.
func pyFloat(f float64) string {
	switch {
	case math.IsNaN(f):
		return "nan"
	case math.IsInf(f, 1):
		return "inf"
	case math.IsInf(f, -1):
		return "-inf"
	}
	e := strconv.FormatFloat(f, 'e', -1, 64)
	exp, _ := strconv.Atoi(e[strings.IndexByte(e, 'e')+1:])
	if exp < -4 || exp >= 16 {
		return e
	}
	s := strconv.FormatFloat(f, 'f', -1, 64)
	if !strings.ContainsAny(s, ".") {
		s += ".0"
	}
	return s
}

// value returns category i as a Go value: string, int64, float64 or bool.
func (c *Categories) value(i int) any {
	v := c.Values[i]
	switch c.Kind {
	case KindInt:
		n, _ := strconv.ParseInt(v, 10, 64)
		return n
	case KindFloat:
		f, _ := strconv.ParseFloat(v, 64)
		return f
	case KindBool:
		return v == "true"
	}
	return v
}

// dictionaryValues returns the values of a dictionary array as a new array
// that the caller releases. It does not call d.Dictionary(), which builds
// that array on first use and caches it in d without synchronisation: the
// batch given to TransformBatch may be shared by goroutines.
func dictionaryValues(d *array.Dictionary) arrow.Array {
	return array.MakeFromData(d.Data().Dictionary())
}
