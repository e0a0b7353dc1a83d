package data

import (
	"context"
	"fmt"
	"strings"

	"github.com/apache/arrow/go/v15/arrow"

	"github.com/goray/goray/data/internal/block"
)

// AggregateFn is an aggregation for GroupBy(...).Aggregate or
// Dataset.Aggregate. Nulls are ignored, as in Ray.
type AggregateFn struct{ agg block.Agg }

// Count counts rows (no column) or the non-null values of one column.
func Count(column ...string) AggregateFn {
	if len(column) == 0 {
		return AggregateFn{block.Agg{Kind: block.AggCount, Name: "count()"}}
	}
	return AggregateFn{block.Agg{Kind: block.AggCount, Column: column[0], Name: fmt.Sprintf("count(%s)", column[0])}}
}

// Sum sums a numeric column (int64 for integer columns, float64 otherwise).
func Sum(column string) AggregateFn { return mkAgg(block.AggSum, column) }

// Mean averages a numeric column.
func Mean(column string) AggregateFn { return mkAgg(block.AggMean, column) }

// Min is the smallest value of a numeric column.
func Min(column string) AggregateFn { return mkAgg(block.AggMin, column) }

// Max is the largest value of a numeric column.
func Max(column string) AggregateFn { return mkAgg(block.AggMax, column) }

// Std is the sample standard deviation (ddof 1) of a numeric column.
func Std(column string) AggregateFn {
	a := mkAgg(block.AggStd, column)
	a.agg.DDOF = 1
	return a
}

// As renames the output column.
func (a AggregateFn) As(name string) AggregateFn { a.agg.Name = name; return a }

func mkAgg(k block.AggKind, col string) AggregateFn {
	return AggregateFn{block.Agg{Kind: k, Column: col, Name: fmt.Sprintf("%s(%s)", k, col)}}
}

// GroupedData is a dataset grouped by key columns.
type GroupedData struct {
	ds   *Dataset
	keys []string
}

// GroupBy groups rows by the key columns.
func (ds *Dataset) GroupBy(keys ...string) *GroupedData { return &GroupedData{ds: ds, keys: keys} }

// Aggregate computes aggregations per group: one row per group, sorted by
// key, with the key columns then one column per aggregation. Partial
// aggregates are computed per block in tasks and merged.
func (g *GroupedData) Aggregate(aggs ...AggregateFn) *Dataset {
	return aggregate(g.ds, g.keys, aggs)
}

// Count is Aggregate(Count()).
func (g *GroupedData) Count() *Dataset { return g.Aggregate(Count()) }

// Sum is Aggregate(Sum(col)).
func (g *GroupedData) Sum(col string) *Dataset { return g.Aggregate(Sum(col)) }

// Mean is Aggregate(Mean(col)).
func (g *GroupedData) Mean(col string) *Dataset { return g.Aggregate(Mean(col)) }

// Aggregate computes aggregations over the whole dataset (one row).
func (ds *Dataset) Aggregate(aggs ...AggregateFn) *Dataset { return aggregate(ds, nil, aggs) }

func aggregate(ds *Dataset, keys []string, aggs []AggregateFn) *Dataset {
	baggs := make([]block.Agg, len(aggs))
	for i, a := range aggs {
		baggs[i] = a.agg
	}
	name := "Aggregate"
	if len(keys) > 0 {
		name = fmt.Sprintf("GroupBy(%s).Aggregate", strings.Join(keys, ","))
	}
	return ds.allToAll(name, func(ctx context.Context, ex *execution, in []blockRef) ([]blockRef, error) {
		if len(baggs) == 0 {
			return nil, invalid("%s: no aggregations", name)
		}
		fns := make([]func(context.Context) (*block.Partial, error), len(in))
		for i, r := range in {
			fns[i] = func(ctx context.Context) (*block.Partial, error) {
				rec, err := getRec(ctx, r)
				if err != nil {
					return nil, err
				}
				p, err := block.NewPartial(rec.Schema(), keys, baggs)
				if err != nil {
					return nil, fmt.Errorf("%w: %v", ErrInvalidInput, err)
				}
				if err := p.Add(rec); err != nil {
					return nil, fmt.Errorf("%w: %v", ErrInvalidInput, err)
				}
				return p, nil
			}
		}
		parts, err := runTasks(ctx, fns)
		if err != nil {
			return nil, err
		}
		if len(parts) == 0 {
			return nil, invalid("%s: dataset has no blocks", name)
		}
		// Merge into a fresh partial: task results are immutable.
		total := parts[0].Empty()
		for _, p := range parts {
			total.Merge(p)
		}
		if len(keys) == 0 && len(total.Keys) == 0 {
			// Whole-dataset aggregate over zero rows: one row of empty states.
			total.Keys = append(total.Keys, []any{})
			total.States = append(total.States, make([]block.AggState, len(baggs)))
		}
		return putRecs(ctx, ex.dc, []arrow.Record{total.Finish(ex.dc.Allocator)})
	})
}
