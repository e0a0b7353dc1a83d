package preprocess

import (
	"encoding/csv"
	"math"
	"os"
	"strconv"
	"testing"

	"github.com/apache/arrow/go/v15/arrow"
	"github.com/apache/arrow/go/v15/arrow/array"
	"github.com/apache/arrow/go/v15/arrow/memory"
)

var nan = math.NaN()

type col struct {
	name string
	arr  arrow.Array
}

// floatCol builds a float64 column; NaN stays NaN (not null).
func floatCol(name string, v ...float64) col {
	b := array.NewFloat64Builder(memory.DefaultAllocator)
	defer b.Release()
	b.AppendValues(v, nil)
	return col{name, b.NewArray()}
}

// nullFloatCol builds a float64 column where nil is null.
func nullFloatCol(name string, v ...any) col {
	b := array.NewFloat64Builder(memory.DefaultAllocator)
	defer b.Release()
	for _, x := range v {
		if x == nil {
			b.AppendNull()
		} else {
			b.Append(toF(x))
		}
	}
	return col{name, b.NewArray()}
}

func toF(x any) float64 {
	switch v := x.(type) {
	case int:
		return float64(v)
	case float64:
		return v
	}
	panic("bad number")
}

func intCol(name string, v ...int64) col {
	b := array.NewInt64Builder(memory.DefaultAllocator)
	defer b.Release()
	b.AppendValues(v, nil)
	return col{name, b.NewArray()}
}

// strCol builds a string column where nil is null.
func strCol(name string, v ...any) col {
	b := array.NewStringBuilder(memory.DefaultAllocator)
	defer b.Release()
	for _, x := range v {
		if x == nil {
			b.AppendNull()
		} else {
			b.Append(x.(string))
		}
	}
	return col{name, b.NewArray()}
}

func boolCol(name string, v ...bool) col {
	b := array.NewBooleanBuilder(memory.DefaultAllocator)
	defer b.Release()
	b.AppendValues(v, nil)
	return col{name, b.NewArray()}
}

// listCol builds a list<string> column; a nil row is null.
func listCol(name string, rows ...[]string) col {
	b := array.NewListBuilder(memory.DefaultAllocator, arrow.BinaryTypes.String)
	defer b.Release()
	vb := b.ValueBuilder().(*array.StringBuilder)
	for _, r := range rows {
		if r == nil {
			b.AppendNull()
			continue
		}
		b.Append(true)
		vb.AppendValues(r, nil)
	}
	return col{name, b.NewArray()}
}

func record(cols ...col) arrow.Record {
	fields := make([]arrow.Field, len(cols))
	arrs := make([]arrow.Array, len(cols))
	n := int64(0)
	for i, c := range cols {
		fields[i] = arrow.Field{Name: c.name, Type: c.arr.DataType(), Nullable: true}
		arrs[i] = c.arr
		n = int64(c.arr.Len())
	}
	r := array.NewRecord(arrow.NewSchema(fields, nil), arrs, n)
	for _, a := range arrs {
		a.Release()
	}
	return r
}

// fitRecs fits p on recs as Fit does on a dataset whose blocks are recs:
// one partial per record, merged in order.
func fitRecs(p Preprocessor, recs ...arrow.Record) error {
	pl, ok := p.(planner)
	if !ok {
		if v, ok := p.(interface{ validate() error }); ok {
			return v.validate()
		}
		return nil
	}
	plan, err := pl.plan()
	if err != nil {
		return err
	}
	parts := make([]partial, 0, len(recs))
	for _, r := range recs {
		pt, err := plan.fitBlock(r)
		if err != nil {
			return err
		}
		parts = append(parts, pt)
	}
	return plan.finishParts(p.TypeName(), parts)
}

func mustFit(t *testing.T, p Preprocessor, recs ...arrow.Record) {
	t.Helper()
	if err := fitRecs(p, recs...); err != nil {
		t.Fatalf("fit %s: %v", p.TypeName(), err)
	}
}

func mustTransform(t *testing.T, p Preprocessor, rec arrow.Record) arrow.Record {
	t.Helper()
	out, err := p.TransformBatch(rec)
	if err != nil {
		t.Fatalf("transform %s: %v", p.TypeName(), err)
	}
	t.Cleanup(out.Release)
	return out
}

// colOf returns the named column of rec, failing the test if absent.
func colOf(t *testing.T, rec arrow.Record, name string) arrow.Array {
	t.Helper()
	i := colIndex(rec.Schema(), name)
	if i < 0 {
		t.Fatalf("no column %q in %v", name, rec.Schema())
	}
	return rec.Column(i)
}

// floatsIn reads a numeric column as float64; null reads as NaN.
func floatsIn(t *testing.T, rec arrow.Record, name string) []float64 {
	t.Helper()
	v, err := floats("test", name, colOf(t, rec, name))
	if err != nil {
		t.Fatal(err)
	}
	return append([]float64(nil), v...)
}

func int64sIn(t *testing.T, rec arrow.Record, name string) []int64 {
	t.Helper()
	a, ok := colOf(t, rec, name).(*array.Int64)
	if !ok {
		t.Fatalf("column %q is %s, want int64", name, colOf(t, rec, name).DataType())
	}
	return append([]int64(nil), a.Int64Values()...)
}

// close reports whether a and b agree to a relative tolerance (NaN equals
// NaN).
func closeTo(a, b, tol float64) bool {
	if math.IsNaN(a) || math.IsNaN(b) {
		return math.IsNaN(a) && math.IsNaN(b)
	}
	return math.Abs(a-b) <= tol*math.Max(1, math.Max(math.Abs(a), math.Abs(b)))
}

func assertClose(t *testing.T, what string, got, want []float64, tol float64) {
	t.Helper()
	if len(got) != len(want) {
		t.Fatalf("%s: got %d values %v, want %d %v", what, len(got), got, len(want), want)
	}
	for i := range got {
		if !closeTo(got[i], want[i], tol) {
			t.Errorf("%s[%d] = %.17g, want %.17g (all: %v)", what, i, got[i], want[i], got)
			return
		}
	}
}

// breastCancer reads testdata/breast_cancer.csv into one record (float64
// features, int64 target) and returns the feature names.
func breastCancer(t testing.TB) (arrow.Record, []string) {
	t.Helper()
	f, err := os.Open("testdata/breast_cancer.csv")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	rows, err := csv.NewReader(f).ReadAll()
	if err != nil {
		t.Fatal(err)
	}
	header := rows[0]
	cols := make([]col, len(header))
	for j, name := range header {
		if name == "target" {
			v := make([]int64, len(rows)-1)
			for i, r := range rows[1:] {
				v[i], _ = strconv.ParseInt(r[j], 10, 64)
			}
			cols[j] = intCol(name, v...)
			continue
		}
		v := make([]float64, len(rows)-1)
		for i, r := range rows[1:] {
			v[i], err = strconv.ParseFloat(r[j], 64)
			if err != nil {
				t.Fatal(err)
			}
		}
		cols[j] = floatCol(name, v...)
	}
	return record(cols...), header[:len(header)-1]
}

// split cuts rec into n slices of nearly equal size (to test merging).
func split(rec arrow.Record, n int) []arrow.Record {
	rows := rec.NumRows()
	out := make([]arrow.Record, 0, n)
	for i := 0; i < n; i++ {
		lo, hi := rows*int64(i)/int64(n), rows*int64(i+1)/int64(n)
		out = append(out, rec.NewSlice(lo, hi))
	}
	return out
}

func sliceOf(a arrow.Array, start, end int64) arrow.Array {
	return array.NewSlice(a, start, end)
}

// dictCol builds a dictionary<int32, string> column where nil is null. Its
// dictionary values are left unmaterialised (array.Dictionary builds and
// caches them on the first call to Dictionary()), as in a batch fresh from
// an IPC reader.
func dictCol(name string, v ...any) col {
	b := array.NewDictionaryBuilder(memory.DefaultAllocator, &arrow.DictionaryType{IndexType: arrow.PrimitiveTypes.Int32, ValueType: arrow.BinaryTypes.String}).(*array.BinaryDictionaryBuilder)
	defer b.Release()
	for _, x := range v {
		if x == nil {
			b.AppendNull()
		} else if err := b.AppendString(x.(string)); err != nil {
			panic(err)
		}
	}
	d := b.NewArray()
	defer d.Release()
	// Rebuild from the Data so that no cached dictionary array is carried.
	return col{name, array.MakeFromData(d.Data())}
}

// privateCopy returns a record over the same buffers as rec whose arrays
// are new objects. Arrow arrays cache some derived state on first use
// (array.Dictionary's values), so goroutines that read one record
// concurrently each need their own copy; TransformBatch itself must not
// rely on that cache.
func privateCopy(rec arrow.Record) arrow.Record {
	cols := make([]arrow.Array, rec.NumCols())
	for i := range cols {
		cols[i] = array.MakeFromData(rec.Column(i).Data())
	}
	out := array.NewRecord(rec.Schema(), cols, rec.NumRows())
	for _, c := range cols {
		c.Release()
	}
	return out
}
