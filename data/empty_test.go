package data_test

import (
	"context"
	"fmt"
	"slices"
	"sort"
	"testing"

	"github.com/apache/arrow/go/v15/arrow"
	"github.com/goray/goray/data"
)

// rowKey renders a row (nulls included) for multiset comparisons.
func rowKey(r map[string]any) string {
	keys := make([]string, 0, len(r))
	for k := range r {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	s := ""
	for _, k := range keys {
		s += fmt.Sprintf("%s=%v;", k, r[k])
	}
	return s
}

func multiset(t *testing.T, ctx context.Context, ds *data.Dataset) []string {
	t.Helper()
	rows, err := ds.TakeAll(ctx)
	if err != nil {
		t.Fatal(err)
	}
	out := make([]string, len(rows))
	for i, r := range rows {
		out[i] = rowKey(r)
	}
	slices.Sort(out)
	return out
}

// TestEveryOperatorEmptyAndNulls runs every operator on an empty dataset
// (no rows, one or more blocks) and checks that reordering operators keep
// every row, nulls included, on a multi-block input.
func TestEveryOperatorEmptyAndNulls(t *testing.T) {
	ctx := testCtx(t)
	id := func(ctx context.Context, b arrow.Record) (arrow.Record, error) { b.Retain(); return b, nil }
	ops := map[string]func(*data.Dataset) *data.Dataset{
		"MapBatches": func(d *data.Dataset) *data.Dataset { return d.MapBatches(id, data.BatchSize(7)) },
		"MapColumns": func(d *data.Dataset) *data.Dataset {
			return d.MapColumns(func(ctx context.Context, c map[string]any) (map[string]any, error) { return c, nil })
		},
		"Map": func(d *data.Dataset) *data.Dataset {
			return d.Map(func(r data.Row) (data.Row, error) { return r, nil })
		},
		"FlatMap": func(d *data.Dataset) *data.Dataset {
			return d.FlatMap(func(r data.Row) ([]data.Row, error) { return []data.Row{r}, nil })
		},
		"Filter": func(d *data.Dataset) *data.Dataset {
			return d.Filter(func(r data.Row) (bool, error) { return true, nil })
		},
		"SelectColumns": func(d *data.Dataset) *data.Dataset { return d.SelectColumns("id", "x", "s", "g") },
		"RandomShuffle": func(d *data.Dataset) *data.Dataset { return d.RandomShuffle(3) },
		"RandomSample":  func(d *data.Dataset) *data.Dataset { return d.RandomSample(1, 3) },
		"Sort":          func(d *data.Dataset) *data.Dataset { return d.Sort("s", false) },
		"Repartition":   func(d *data.Dataset) *data.Dataset { return d.Repartition(3) },
		"Union":         func(d *data.Dataset) *data.Dataset { return d.Union(d.Limit(0)) },
		"Limit":         func(d *data.Dataset) *data.Dataset { return d.Limit(1 << 30) },
		"Materialized": func(d *data.Dataset) *data.Dataset {
			m, err := d.Materialize(ctx)
			if err != nil {
				t.Fatal(err)
			}
			return m
		},
		"Split": func(d *data.Dataset) *data.Dataset {
			p, err := d.Split(2)
			if err != nil {
				t.Fatal(err)
			}
			return p[0].Union(p[1])
		},
		"TrainTestSplit": func(d *data.Dataset) *data.Dataset {
			a, b, err := d.TrainTestSplit(0.25, true, 1)
			if err != nil {
				t.Fatal(err)
			}
			return a.Union(b)
		},
	}
	full := multiBlock(t, genRows(300), 41)
	want := multiset(t, ctx, full)
	empty := multiBlock(t, nil, 10)
	for name, op := range ops {
		t.Run(name, func(t *testing.T) {
			// MapColumns hands out typed slices, where nulls become NaN or
			// zero values by design; it is checked on empty input only.
			if got := multiset(t, ctx, op(full)); name != "MapColumns" && !slices.Equal(got, want) {
				t.Fatalf("rows changed: %d rows, want %d", len(got), len(want))
			}
			n, err := op(empty).Count(ctx)
			if err != nil || n != 0 {
				t.Fatalf("empty: count %d, %v", n, err)
			}
		})
	}
	// Aggregations and Zip on empty input.
	g, err := empty.GroupBy("g").Aggregate(data.Count(), data.Mean("x")).TakeAll(ctx)
	if err != nil || len(g) != 0 {
		t.Fatalf("empty group-by: %v %v", g, err)
	}
	z, err := empty.Zip(empty.SelectColumns("id")).Count(ctx)
	if err != nil || z != 0 {
		t.Fatalf("empty zip: %d %v", z, err)
	}
	agg, err := empty.Aggregate(data.Count(), data.Sum("id"), data.Mean("x")).TakeAll(ctx)
	if err != nil || len(agg) != 1 || agg[0]["count()"] != int64(0) || agg[0]["mean(x)"] != nil {
		t.Fatalf("empty aggregate: %v %v", agg, err)
	}
}
