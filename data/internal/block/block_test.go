package block

import (
	"math"
	"slices"
	"testing"

	"github.com/apache/arrow/go/v15/arrow"
	"github.com/apache/arrow/go/v15/arrow/array"
	"github.com/apache/arrow/go/v15/arrow/memory"
)

func mkRec(mem memory.Allocator, xs []float64, nulls []bool, ss []string) arrow.Record {
	schema := arrow.NewSchema([]arrow.Field{{Name: "x", Type: arrow.PrimitiveTypes.Float64, Nullable: true}, {Name: "s", Type: arrow.BinaryTypes.String}}, nil)
	b := array.NewRecordBuilder(mem, schema)
	defer b.Release()
	valid := make([]bool, len(nulls))
	for i, n := range nulls {
		valid[i] = !n
	}
	b.Field(0).(*array.Float64Builder).AppendValues(xs, valid)
	b.Field(1).(*array.StringBuilder).AppendValues(ss, nil)
	return b.NewRecord()
}

func TestKernelsNoLeaks(t *testing.T) {
	mem := memory.NewCheckedAllocator(memory.NewGoAllocator())
	defer mem.AssertSize(t, 0)
	a := mkRec(mem, []float64{3, 1, 2}, []bool{false, false, true}, []string{"c", "a", "b"})
	defer a.Release()
	b := mkRec(mem, []float64{0, math.NaN()}, []bool{false, false}, []string{"z", "y"})
	defer b.Release()

	c, err := Concat(mem, a.Schema(), []arrow.Record{a, b})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Release()
	if c.NumRows() != 5 {
		t.Fatal(c.NumRows())
	}
	idx, err := SortIndices(c, []SortKey{{Column: "x"}})
	if err != nil {
		t.Fatal(err)
	}
	// 0 (b0), 1 (a1), 3 (a0), NaN (b1), null (a2)
	if !slices.Equal(idx, []int{3, 1, 0, 4, 2}) {
		t.Fatalf("asc %v", idx)
	}
	idx, _ = SortIndices(c, []SortKey{{Column: "x", Descending: true}})
	if !slices.Equal(idx, []int{4, 0, 1, 3, 2}) {
		t.Fatalf("desc %v", idx)
	}
	s, err := Take(mem, c, idx)
	if err != nil {
		t.Fatal(err)
	}
	if s.Column(1).(*array.String).Value(0) != "y" || !s.Column(0).IsNull(4) {
		t.Fatal("take")
	}
	s.Release()
	f, err := Filter(mem, c, []bool{true, false, true, false, true})
	if err != nil {
		t.Fatal(err)
	}
	if f.NumRows() != 3 {
		t.Fatal("filter")
	}
	f.Release()
	parts := SplitBySize(c, Size(c)/2)
	var rows int64
	for _, p := range parts {
		rows += p.NumRows()
		p.Release()
	}
	if len(parts) < 2 || rows != 5 {
		t.Fatalf("split %d parts %d rows", len(parts), rows)
	}
	sel, err := Select(c, []string{"s"})
	if err != nil || sel.NumCols() != 1 {
		t.Fatal(err)
	}
	sel.Release()
	if _, err := Select(c, []string{"nope"}); err == nil {
		t.Fatal("unknown column accepted")
	}
	p, err := NewPartial(c.Schema(), []string{"s"}, []Agg{{Kind: AggCount, Name: "n"}, {Kind: AggMax, Column: "x", Name: "mx"}})
	if err != nil {
		t.Fatal(err)
	}
	if err := p.Add(c); err != nil {
		t.Fatal(err)
	}
	out := p.Finish(mem)
	if out.NumRows() != 5 || !out.Column(2).IsNull(1) { // group "b" has only a null x
		t.Fatalf("groupby %v", out)
	}
	out.Release()
}

func TestPartialMergeInt32Keys(t *testing.T) {
	mem := memory.NewGoAllocator()
	schema := arrow.NewSchema([]arrow.Field{{Name: "k", Type: arrow.PrimitiveTypes.Int32}, {Name: "v", Type: arrow.PrimitiveTypes.Float64}}, nil)
	mk := func(ks []int32, vs []float64) arrow.Record {
		b := array.NewRecordBuilder(mem, schema)
		defer b.Release()
		b.Field(0).(*array.Int32Builder).AppendValues(ks, nil)
		b.Field(1).(*array.Float64Builder).AppendValues(vs, nil)
		return b.NewRecord()
	}
	aggs := []Agg{{Kind: AggSum, Column: "v", Name: "s"}, {Kind: AggStd, Column: "v", Name: "sd", DDOF: 1}}
	p1, _ := NewPartial(schema, []string{"k"}, aggs)
	p2, _ := NewPartial(schema, []string{"k"}, aggs)
	r1, r2 := mk([]int32{1, 2, 1}, []float64{1, 2, 3}), mk([]int32{2, 3, 1}, []float64{4, 5, 5})
	p1.Add(r1)
	p2.Add(r2)
	p1.Merge(p2)
	p1.Add(r2) // after a merge, the index is rebuilt
	out := p1.Finish(mem)
	if out.NumRows() != 3 {
		t.Fatalf("groups %d", out.NumRows())
	}
	sums := out.Column(1).(*array.Float64).Float64Values()
	if !slices.Equal(sums, []float64{1 + 3 + 5 + 5, 2 + 4 + 4, 5 + 5}) {
		t.Fatalf("sums %v", sums)
	}
	// std of {1,3,5,5}: mean 3.5, ss = 6.25+0.25+2.25+2.25 = 11, /3
	if sd := out.Column(2).(*array.Float64).Value(0); math.Abs(sd-math.Sqrt(11.0/3)) > 1e-12 {
		t.Fatalf("std %v", sd)
	}
}
