package data_test

import (
	"context"
	"errors"
	"fmt"
	"math"
	"slices"
	"sort"
	"testing"

	"github.com/apache/arrow/go/v15/arrow"
	"github.com/apache/arrow/go/v15/arrow/array"
	"github.com/apache/arrow/go/v15/arrow/memory"
	"github.com/goray/goray/data"
)

// testRow is the plain-Go twin of the test dataset.
type testRow struct {
	id int64
	x  *float64 // null every 7th row
	s  *string  // null every 5th row
	g  int64
}

func genRows(n int) []testRow {
	rows := make([]testRow, n)
	for i := range rows {
		r := testRow{id: int64(i), g: int64((i * 7) % 5)}
		if i%7 != 3 {
			x := math.Sin(float64(i)) * 100
			r.x = &x
		}
		if i%5 != 2 {
			s := fmt.Sprintf("s%03d", (i*13)%97)
			r.s = &s
		}
		rows[i] = r
	}
	return rows
}

var testSchema = arrow.NewSchema([]arrow.Field{
	{Name: "id", Type: arrow.PrimitiveTypes.Int64},
	{Name: "x", Type: arrow.PrimitiveTypes.Float64, Nullable: true},
	{Name: "s", Type: arrow.BinaryTypes.String, Nullable: true},
	{Name: "g", Type: arrow.PrimitiveTypes.Int64},
}, nil)

// multiBlock builds the dataset from rows as several records of blockRows.
func multiBlock(t *testing.T, rows []testRow, blockRows int) *data.Dataset {
	t.Helper()
	var recs []arrow.Record
	for start := 0; start < len(rows) || start == 0; start += blockRows {
		end := min(start+blockRows, len(rows))
		b := array.NewRecordBuilder(memory.DefaultAllocator, testSchema)
		for _, r := range rows[start:end] {
			b.Field(0).(*array.Int64Builder).Append(r.id)
			if r.x == nil {
				b.Field(1).AppendNull()
			} else {
				b.Field(1).(*array.Float64Builder).Append(*r.x)
			}
			if r.s == nil {
				b.Field(2).AppendNull()
			} else {
				b.Field(2).(*array.StringBuilder).Append(*r.s)
			}
			b.Field(3).(*array.Int64Builder).Append(r.g)
		}
		recs = append(recs, b.NewRecord())
		b.Release()
		if end >= len(rows) {
			break
		}
	}
	ds := data.FromArrow(recs...)
	for _, r := range recs {
		r.Release()
	}
	return ds
}

func ids(t *testing.T, ctx context.Context, ds *data.Dataset) []int64 {
	t.Helper()
	rows, err := ds.TakeAll(ctx)
	if err != nil {
		t.Fatal(err)
	}
	out := make([]int64, len(rows))
	for i, r := range rows {
		out[i] = r["id"].(int64)
	}
	return out
}

var sizes = map[string]struct{ n, blockRows int }{
	"empty":       {0, 10},
	"one block":   {50, 100},
	"multi block": {1000, 97},
}

func TestRowTransformsMatchGo(t *testing.T) {
	ctx := testCtx(t)
	for name, sz := range sizes {
		t.Run(name, func(t *testing.T) {
			rows := genRows(sz.n)
			ds := multiBlock(t, rows, sz.blockRows)

			// Filter: x not null and > 0.
			var want []int64
			for _, r := range rows {
				if r.x != nil && *r.x > 0 {
					want = append(want, r.id)
				}
			}
			got := ids(t, ctx, ds.Filter(func(r data.Row) (bool, error) {
				x, ok := r["x"].(float64)
				return ok && x > 0, nil
			}))
			if !slices.Equal(got, want) && !(len(got) == 0 && len(want) == 0) {
				t.Fatalf("Filter: got %d rows, want %d", len(got), len(want))
			}

			// Map: add y = id*2, keep nulls in s.
			mapped, err := ds.Map(func(r data.Row) (data.Row, error) {
				r["y"] = r["id"].(int64) * 2
				return r, nil
			}).TakeAll(ctx)
			if err != nil {
				t.Fatal(err)
			}
			if len(mapped) != len(rows) {
				t.Fatalf("Map rows %d", len(mapped))
			}
			for i, r := range mapped {
				if r["y"].(int64) != rows[i].id*2 || (rows[i].s == nil) != (r["s"] == nil) {
					t.Fatalf("Map row %d: %v", i, r)
				}
			}

			// FlatMap: each row twice when g == 0.
			var wantFlat int
			for _, r := range rows {
				if r.g == 0 {
					wantFlat += 2
				}
			}
			n, err := ds.FlatMap(func(r data.Row) ([]data.Row, error) {
				if r["g"].(int64) == 0 {
					return []data.Row{r, r}, nil
				}
				return nil, nil
			}).Count(ctx)
			if err != nil || int(n) != wantFlat {
				t.Fatalf("FlatMap count %d want %d (%v)", n, wantFlat, err)
			}

			// Select / Drop / Rename / AddColumn.
			sel := ds.SelectColumns("g", "id").RenameColumns(map[string]string{"g": "group"}).
				AddColumn("twice", func(ctx context.Context, b arrow.Record) (arrow.Array, error) {
					bld := array.NewInt64Builder(memory.DefaultAllocator)
					defer bld.Release()
					for _, v := range b.Column(1).(*array.Int64).Int64Values() {
						bld.Append(2 * v)
					}
					return bld.NewArray(), nil
				}).DropColumns("id")
			srows, err := sel.TakeAll(ctx)
			if err != nil {
				t.Fatal(err)
			}
			for i, r := range srows {
				if len(r) != 2 || r["group"].(int64) != rows[i].g || r["twice"].(int64) != 2*rows[i].id {
					t.Fatalf("select/rename/add row %d: %v", i, r)
				}
			}
			if sz.n > 0 {
				cols, err := sel.Columns(ctx)
				if err != nil || !slices.Equal(cols, []string{"group", "twice"}) {
					t.Fatalf("columns %v %v", cols, err)
				}
			}

			// Limit, Take.
			lim := ids(t, ctx, ds.Limit(123))
			if len(lim) != min(123, sz.n) {
				t.Fatalf("Limit: %d", len(lim))
			}
			for i, v := range lim {
				if v != int64(i) {
					t.Fatalf("Limit order")
				}
			}
			cnt, err := ds.Count(ctx)
			if err != nil || cnt != int64(sz.n) {
				t.Fatalf("Count %d %v", cnt, err)
			}
		})
	}
}

func TestSortMatchesGo(t *testing.T) {
	ctx := testCtx(t)
	for name, sz := range sizes {
		t.Run(name, func(t *testing.T) {
			rows := genRows(sz.n)
			ds := multiBlock(t, rows, sz.blockRows)
			want := slices.Clone(rows)
			sort.SliceStable(want, func(i, j int) bool {
				a, b := want[i].x, want[j].x
				switch {
				case a == nil:
					return false
				case b == nil:
					return true
				}
				return *a > *b
			})
			got, err := ds.Sort("x", true).TakeAll(ctx)
			if err != nil {
				t.Fatal(err)
			}
			if len(got) != len(want) {
				t.Fatalf("rows %d want %d", len(got), len(want))
			}
			for i := range got {
				w := want[i].x
				g := got[i]["x"]
				if (w == nil) != (g == nil) || (w != nil && *w != g.(float64)) {
					t.Fatalf("row %d: got %v want %v", i, g, w)
				}
			}
			// Multi-key: g ascending, then id descending.
			got, err = ds.SortBy(data.SortKey{Column: "g"}, data.SortKey{Column: "id", Descending: true}).TakeAll(ctx)
			if err != nil {
				t.Fatal(err)
			}
			for i := 1; i < len(got); i++ {
				a, b := got[i-1], got[i]
				if a["g"].(int64) > b["g"].(int64) || (a["g"] == b["g"] && a["id"].(int64) < b["id"].(int64)) {
					t.Fatalf("multi-key order broken at %d", i)
				}
			}
		})
	}
	_, err := multiBlock(t, genRows(10), 5).Sort("nope", false).Count(ctx)
	if !errors.Is(err, data.ErrInvalidInput) {
		t.Fatalf("unknown sort column: %v", err)
	}
}

func TestGroupByMatchesGo(t *testing.T) {
	ctx := testCtx(t)
	for name, sz := range sizes {
		t.Run(name, func(t *testing.T) {
			rows := genRows(sz.n)
			ds := multiBlock(t, rows, sz.blockRows)
			type acc struct {
				n, nx  int64
				sum    float64
				mn, mx float64
				vals   []float64
				sumID  int64
			}
			groups := map[int64]*acc{}
			for _, r := range rows {
				a := groups[r.g]
				if a == nil {
					a = &acc{mn: math.Inf(1), mx: math.Inf(-1)}
					groups[r.g] = a
				}
				a.n++
				a.sumID += r.id
				if r.x != nil {
					a.nx++
					a.sum += *r.x
					a.mn, a.mx = math.Min(a.mn, *r.x), math.Max(a.mx, *r.x)
					a.vals = append(a.vals, *r.x)
				}
			}
			got, err := ds.GroupBy("g").Aggregate(data.Count(), data.Sum("x"), data.Mean("x"), data.Min("x"), data.Max("x"), data.Std("x"), data.Sum("id"), data.Count("x")).TakeAll(ctx)
			if err != nil {
				t.Fatal(err)
			}
			if len(got) != len(groups) {
				t.Fatalf("groups %d want %d", len(got), len(groups))
			}
			near := func(a, b float64) bool { return math.Abs(a-b) <= 1e-9*math.Max(1, math.Abs(b)) }
			for i, r := range got {
				g := r["g"].(int64)
				if i > 0 && got[i-1]["g"].(int64) >= g {
					t.Fatal("groups not sorted by key")
				}
				a := groups[g]
				mean := a.sum / float64(a.nx)
				var ss float64
				for _, v := range a.vals {
					ss += (v - mean) * (v - mean)
				}
				std := math.Sqrt(ss / float64(a.nx-1))
				if r["count()"].(int64) != a.n || r["count(x)"].(int64) != a.nx || r["sum(id)"].(int64) != a.sumID ||
					!near(r["sum(x)"].(float64), a.sum) || !near(r["mean(x)"].(float64), mean) ||
					r["min(x)"].(float64) != a.mn || r["max(x)"].(float64) != a.mx || !near(r["std(x)"].(float64), std) {
					t.Fatalf("group %d: got %v", g, r)
				}
			}
			// Whole-dataset aggregate.
			all, err := ds.Aggregate(data.Count(), data.Max("id")).TakeAll(ctx)
			if err != nil || len(all) != 1 || all[0]["count()"].(int64) != int64(sz.n) {
				t.Fatalf("global aggregate %v %v", all, err)
			}
		})
	}
}

func TestShuffleSampleRepartitionSplits(t *testing.T) {
	ctx := testCtx(t)
	rows := genRows(1000)
	ds := multiBlock(t, rows, 97)

	a := ids(t, ctx, ds.RandomShuffle(7))
	b := ids(t, ctx, ds.RandomShuffle(7))
	c := ids(t, ctx, ds.RandomShuffle(8))
	if !slices.Equal(a, b) || slices.Equal(a, c) {
		t.Fatal("shuffle not deterministic per seed")
	}
	s := slices.Clone(a)
	slices.Sort(s)
	for i, v := range s {
		if v != int64(i) {
			t.Fatal("shuffle is not a permutation")
		}
	}
	if slices.IsSorted(a) {
		t.Fatal("shuffle did not shuffle")
	}

	sample := ids(t, ctx, ds.RandomSample(0.3, 1))
	if len(sample) < 200 || len(sample) > 400 || !slices.IsSorted(sample) {
		t.Fatalf("sample of %d rows", len(sample))
	}
	if !slices.Equal(sample, ids(t, ctx, ds.RandomSample(0.3, 1))) {
		t.Fatal("sample not deterministic")
	}

	rep, err := ds.Repartition(4).Materialize(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if got := ids(t, ctx, rep); len(got) != 1000 || !slices.IsSorted(got) {
		t.Fatal("repartition changed rows")
	}
	var blockRows []int64
	for b, err := range rep.IterBatches(ctx, data.BatchSize(0)) {
		if err != nil {
			t.Fatal(err)
		}
		blockRows = append(blockRows, b.NumRows())
	}
	if !slices.Equal(blockRows, []int64{250, 250, 250, 250}) {
		t.Fatalf("repartition blocks %v", blockRows)
	}

	parts, err := ds.Split(3)
	if err != nil {
		t.Fatal(err)
	}
	var all []int64
	for _, p := range parts {
		got := ids(t, ctx, p)
		if len(got) < 333 || len(got) > 334 {
			t.Fatalf("split part %d rows", len(got))
		}
		all = append(all, got...)
	}
	if len(all) != 1000 || !slices.IsSorted(all) {
		t.Fatal("split lost rows")
	}
	at, err := ds.SplitAt(10, 500)
	if err != nil {
		t.Fatal(err)
	}
	for i, want := range []int{10, 490, 500} {
		if got := ids(t, ctx, at[i]); len(got) != want {
			t.Fatalf("SplitAt part %d: %d rows", i, len(got))
		}
	}

	u := ids(t, ctx, ds.Limit(5).Union(ds.Limit(3), data.Range(0).Map(func(r data.Row) (data.Row, error) { return r, nil })))
	if !slices.Equal(u, []int64{0, 1, 2, 3, 4, 0, 1, 2}) {
		t.Fatalf("union %v", u)
	}

	z, err := ds.SelectColumns("id").Zip(ds.SelectColumns("id", "g")).TakeAll(ctx)
	if err != nil {
		t.Fatal(err)
	}
	for i, r := range z {
		if r["id"].(int64) != int64(i) || r["id_1"].(int64) != int64(i) || r["g"].(int64) != rows[i].g {
			t.Fatalf("zip row %d %v", i, r)
		}
	}
	if _, err := ds.Zip(ds.Limit(3)).Count(ctx); !errors.Is(err, data.ErrInvalidInput) {
		t.Fatalf("zip of unequal datasets: %v", err)
	}
}

func TestIterBatchesAndMapBatches(t *testing.T) {
	ctx := testCtx(t)
	ds := multiBlock(t, genRows(1000), 97)
	var sizesSeen []int64
	var total int64
	for b, err := range ds.IterBatches(ctx, data.BatchSize(128), data.Prefetch(2)) {
		if err != nil {
			t.Fatal(err)
		}
		sizesSeen = append(sizesSeen, b.NumRows())
		for _, v := range b.Column(0).(*array.Int64).Int64Values() {
			if v != total {
				t.Fatal("IterBatches order")
			}
			total++
		}
	}
	if total != 1000 || len(sizesSeen) != 8 || sizesSeen[0] != 128 || sizesSeen[7] != 1000-7*128 {
		t.Fatalf("batches %v", sizesSeen)
	}
	// Early break does not hang.
	for range ds.IterBatches(ctx, data.BatchSize(10)) {
		break
	}

	// MapBatches with a batch size sees full batches; typed columns.
	var maxSeen int64
	doubled := ds.MapBatches(func(ctx context.Context, b arrow.Record) (arrow.Record, error) {
		if b.NumRows() > 200 {
			return nil, fmt.Errorf("batch of %d rows", b.NumRows())
		}
		b.Retain()
		return b, nil
	}, data.BatchSize(200)).MapColumns(func(ctx context.Context, cols map[string]any) (map[string]any, error) {
		id := cols["id"].([]int64)
		out := make([]float64, len(id))
		for i, v := range id {
			out[i] = float64(v) * 2
		}
		return map[string]any{"id": id, "d": out}, nil
	})
	rows, err := doubled.TakeAll(ctx)
	if err != nil {
		t.Fatal(err)
	}
	for i, r := range rows {
		if r["d"].(float64) != float64(2*i) {
			t.Fatalf("MapColumns row %d %v", i, r)
		}
	}
	_ = maxSeen

	// Actor pool: state is built once per actor.
	builds := make(chan struct{}, 10)
	pooled := ds.MapBatches(nil, data.WithActorPool(func(ctx context.Context) (data.BatchFunc, error) {
		builds <- struct{}{}
		return func(ctx context.Context, b arrow.Record) (arrow.Record, error) {
			b.Retain()
			return b, nil
		}, nil
	}), data.Concurrency(2), data.Name("model"))
	n, err := pooled.Count(ctx)
	if err != nil || n != 1000 {
		t.Fatalf("actor pool count %d %v", n, err)
	}
	if len(builds) < 1 || len(builds) > 2 {
		t.Fatalf("actor pool built %d workers", len(builds))
	}
	if st := pooled.Stats(); st == nil || len(st.Operators) == 0 {
		t.Fatal("no stats")
	}
}

func TestMapBatchesErrorFailsDataset(t *testing.T) {
	ctx := testCtx(t)
	boom := errors.New("boom")
	ds := data.Range(10000).MapBatches(func(ctx context.Context, b arrow.Record) (arrow.Record, error) {
		if b.Column(0).(*array.Int64).Value(0) >= 5000 {
			return nil, boom
		}
		b.Retain()
		return b, nil
	}, data.Name("explode"), data.BatchSize(100))
	_, err := ds.Count(ctx)
	if !errors.Is(err, boom) || !errors.Is(err, data.ErrOperatorFailed) {
		t.Fatalf("err = %v", err)
	}
	if want := "MapBatches(explode)"; !containsStr(err.Error(), want) {
		t.Fatalf("error %q does not name %s", err, want)
	}
	for _, err := range ds.IterBatches(ctx) {
		if err != nil {
			if !errors.Is(err, boom) {
				t.Fatalf("IterBatches err = %v", err)
			}
		}
	}
	// An actor pool function failing behaves the same.
	_, err = data.Range(100).MapBatches(nil, data.WithActorPool(func(ctx context.Context) (data.BatchFunc, error) {
		return func(ctx context.Context, b arrow.Record) (arrow.Record, error) { return nil, boom }, nil
	}), data.Name("pool")).Count(ctx)
	if !errors.Is(err, boom) || !containsStr(err.Error(), "MapBatches(pool)") {
		t.Fatalf("actor err = %v", err)
	}
}

func containsStr(s, sub string) bool {
	return len(s) >= len(sub) && (s == sub || len(sub) == 0 || indexOf(s, sub) >= 0)
}

func indexOf(s, sub string) int {
	for i := 0; i+len(sub) <= len(s); i++ {
		if s[i:i+len(sub)] == sub {
			return i
		}
	}
	return -1
}

func TestUnknownColumns(t *testing.T) {
	ctx := testCtx(t)
	ds := multiBlock(t, genRows(10), 5)
	for name, d := range map[string]*data.Dataset{
		"DropColumns":   ds.DropColumns("id", "nope"),
		"SelectColumns": ds.SelectColumns("nope"),
		"RenameColumns": ds.RenameColumns(map[string]string{"nope": "x"}),
	} {
		_, err := d.Count(ctx)
		if !errors.Is(err, data.ErrInvalidInput) || !containsStr(err.Error(), `"nope"`) || !containsStr(err.Error(), name) {
			t.Fatalf("%s: %v", name, err)
		}
	}
}

func TestFromItemsAndMapBlocks(t *testing.T) {
	ctx := testCtx(t)
	type item struct {
		Name  string  `data:"name"`
		Score float64 `data:"score"`
		Skip  int     `data:"-"`
		N     int
	}
	ds, err := data.FromItems([]item{{"a", 1.5, 0, 1}, {"b", 2.5, 0, 2}})
	if err != nil {
		t.Fatal(err)
	}
	rows, err := ds.TakeAll(ctx)
	if err != nil || len(rows) != 2 || rows[1]["name"] != "b" || rows[1]["score"] != 2.5 || rows[1]["N"] != int64(2) || len(rows[0]) != 3 {
		t.Fatalf("FromItems structs %v %v", rows, err)
	}
	mds, err := data.FromItems([]map[string]any{{"a": 1, "b": "x"}, {"a": 2}})
	if err != nil {
		t.Fatal(err)
	}
	rows, err = mds.TakeAll(ctx)
	if err != nil || rows[1]["b"] != nil || rows[0]["a"] != int64(1) {
		t.Fatalf("FromItems maps %v %v", rows, err)
	}
	if _, err := data.FromItems([]map[string]any{{"a": 1}, {"a": "x"}}); !errors.Is(err, data.ErrInvalidInput) {
		t.Fatalf("mixed types: %v", err)
	}

	sums, err := data.MapBlocks(ctx, data.Range(1000), func(ctx context.Context, b arrow.Record) (int64, error) {
		var s int64
		for _, v := range b.Column(0).(*array.Int64).Int64Values() {
			s += v
		}
		return s, nil
	})
	if err != nil {
		t.Fatal(err)
	}
	var total int64
	for _, s := range sums {
		total += s
	}
	if total != 999*1000/2 || len(sums) < 2 {
		t.Fatalf("MapBlocks: %d blocks, sum %d", len(sums), total)
	}
}

func TestStreamingSplit(t *testing.T) {
	ctx := testCtx(t)
	shards, err := data.Range(1000).StreamingSplit(3)
	if err != nil {
		t.Fatal(err)
	}
	for epoch := 0; epoch < 2; epoch++ {
		var all []int64
		counts := make([]int, 3)
		// Consumed one after another, as a single worker loop would.
		for i, sh := range shards {
			for b, err := range sh.IterBatches(ctx, data.BatchSize(64)) {
				if err != nil {
					t.Fatal(err)
				}
				all = append(all, b.Column(0).(*array.Int64).Int64Values()...)
				counts[i] += int(b.NumRows())
			}
		}
		slices.Sort(all)
		if len(all) != 1000 || all[0] != 0 || all[999] != 999 {
			t.Fatalf("epoch %d: %d rows", epoch, len(all))
		}
		for _, c := range counts {
			if c == 0 {
				t.Fatalf("epoch %d: empty shard %v", epoch, counts)
			}
		}
	}
}
