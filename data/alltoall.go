package data

import (
	"context"
	"fmt"
	"math"
	"math/rand"
	"slices"
	"sync"

	"github.com/apache/arrow/go/v15/arrow"
	"github.com/apache/arrow/go/v15/arrow/array"
	"github.com/goray/goray/data/internal/block"
)

func (ds *Dataset) allToAll(name string, fn func(ctx context.Context, ex *execution, in []blockRef) ([]blockRef, error)) *Dataset {
	return ds.child(&node{kind: kindAllToAll, name: name, a2a: fn})
}

// putRecs stores records (taking ownership) as blocks no larger than the
// target size.
func putRecs(ctx context.Context, dc *Context, recs []arrow.Record) ([]blockRef, error) {
	res, err := finishBlocks(ctx, dc, recs)
	if err != nil {
		return nil, err
	}
	return res.Blocks, nil
}

func totalRows(in []blockRef) int64 {
	var n int64
	for _, r := range in {
		n += r.Rows
	}
	return n
}

// SortKey orders by a column; nulls sort last in both directions.
type SortKey struct {
	Column     string
	Descending bool
}

// Sort sorts by one column.
func (ds *Dataset) Sort(column string, descending bool) *Dataset {
	return ds.SortBy(SortKey{Column: column, Descending: descending})
}

// SortBy sorts by several keys (a distributed range-partitioned sort:
// sample, partition every block by key ranges, sort each range).
func (ds *Dataset) SortBy(keys ...SortKey) *Dataset {
	bkeys := make([]block.SortKey, len(keys))
	for i, k := range keys {
		bkeys[i] = block.SortKey(k)
	}
	return ds.allToAll("Sort", func(ctx context.Context, ex *execution, in []blockRef) ([]blockRef, error) {
		if len(keys) == 0 {
			return nil, invalid("Sort: no keys")
		}
		if totalRows(in) == 0 {
			return passThrough(ctx, in)
		}
		// Sample keys.
		var samples [][]any
		for _, r := range in {
			rec, err := getRec(ctx, r)
			if err != nil {
				return nil, err
			}
			n := int(rec.NumRows())
			for s := 0; s < min(n, 64); s++ {
				k, err := block.RowKey(rec, bkeys, s*n/min(n, 64))
				if err != nil {
					return nil, fmt.Errorf("%w: %v", ErrInvalidInput, err)
				}
				samples = append(samples, k)
			}
		}
		slices.SortFunc(samples, func(a, b []any) int { return block.CompareKeys(a, b, bkeys) })
		parts := max(1, len(in))
		var bounds [][]any
		for p := 1; p < parts; p++ {
			bounds = append(bounds, samples[p*len(samples)/parts])
		}
		// Map: assign each row of each block to a key range (row indices
		// only; no data moves yet).
		mapFns := make([]func(context.Context) ([][]int32, error), len(in))
		for i, r := range in {
			mapFns[i] = func(ctx context.Context) ([][]int32, error) {
				rec, err := getRec(ctx, r)
				if err != nil {
					return nil, err
				}
				idx, err := block.RangePartition(rec, bkeys, bounds)
				if err != nil {
					return nil, fmt.Errorf("%w: %v", ErrInvalidInput, err)
				}
				return toInt32(idx), nil
			}
		}
		pieces, err := runTasks(ctx, mapFns)
		if err != nil {
			return nil, err
		}
		keyNames := make([]string, len(keys))
		for i, k := range keys {
			keyNames[i] = k.Column
		}
		// Reduce: sort each range by its keys, then copy its rows once.
		redFns := make([]func(context.Context) ([]blockRef, error), parts)
		for p := range redFns {
			redFns[p] = func(ctx context.Context) ([]blockRef, error) {
				srcs, refs, err := gatherInputs(ctx, in, pieces, p)
				if err != nil {
					return nil, err
				}
				keySrcs := make([]arrow.Record, len(srcs))
				for i, r := range srcs {
					if keySrcs[i], err = block.Select(r, keyNames); err != nil {
						return nil, fmt.Errorf("%w: %v", ErrInvalidInput, err)
					}
				}
				defer releaseRecs(keySrcs)
				keyRec, err := block.Gather(ex.dc.Allocator, keySrcs[0].Schema(), keySrcs, refs)
				if err != nil {
					return nil, err
				}
				order, err := block.SortIndices(keyRec, bkeys)
				keyRec.Release()
				if err != nil {
					return nil, err
				}
				sorted := make([]block.RowRef, len(order))
				for i, o := range order {
					sorted[i] = refs[o]
				}
				out, err := block.Gather(ex.dc.Allocator, srcs[0].Schema(), srcs, sorted)
				if err != nil {
					return nil, err
				}
				return putRecs(ctx, ex.dc, []arrow.Record{out})
			}
		}
		outs, err := runTasks(ctx, redFns)
		if err != nil {
			return nil, err
		}
		return dropEmpty(slices.Concat(outs...)), nil
	})
}

func toInt32(idx [][]int) [][]int32 {
	out := make([][]int32, len(idx))
	for p, rows := range idx {
		out[p] = make([]int32, len(rows))
		for i, r := range rows {
			out[p][i] = int32(r)
		}
	}
	return out
}

// gatherInputs fetches the input blocks and lists the rows of partition p
// (pieces[block][partition] holds row indices).
func gatherInputs(ctx context.Context, in []blockRef, pieces [][][]int32, p int) ([]arrow.Record, []block.RowRef, error) {
	srcs := make([]arrow.Record, len(in))
	var refs []block.RowRef
	for i, r := range in {
		rec, err := getRec(ctx, r)
		if err != nil {
			return nil, nil, err
		}
		srcs[i] = rec
		for _, row := range pieces[i][p] {
			refs = append(refs, block.RowRef{Src: int32(i), Row: row})
		}
	}
	return srcs, refs, nil
}

// dropEmpty removes zero-row blocks but keeps one if all are empty (so the
// schema survives).
func dropEmpty(refs []blockRef) []blockRef {
	var out []blockRef
	for _, r := range refs {
		if r.Rows > 0 {
			out = append(out, r)
		}
	}
	if len(out) == 0 && len(refs) > 0 {
		out = refs[:1]
	}
	return out
}

// passThrough re-stores input blocks unchanged (the caller releases the
// inputs).
func passThrough(ctx context.Context, in []blockRef) ([]blockRef, error) {
	out := make([]blockRef, 0, len(in))
	for _, r := range in {
		rec, err := getRec(ctx, r)
		if err != nil {
			return nil, err
		}
		rec.Retain()
		ref, err := putBlock(ctx, rec)
		if err != nil {
			return nil, err
		}
		out = append(out, ref)
	}
	return out, nil
}

// RandomShuffle shuffles all rows (a map/reduce shuffle, deterministic for a
// seed).
func (ds *Dataset) RandomShuffle(seed int64) *Dataset {
	return ds.allToAll("RandomShuffle", func(ctx context.Context, ex *execution, in []blockRef) ([]blockRef, error) {
		if totalRows(in) == 0 {
			return passThrough(ctx, in)
		}
		parts := max(1, len(in))
		mapFns := make([]func(context.Context) ([][]int32, error), len(in))
		for i, r := range in {
			mapFns[i] = func(ctx context.Context) ([][]int32, error) {
				rng := rand.New(rand.NewSource(seed*1_000_003 + int64(i)))
				idx := make([][]int32, parts)
				for row := int64(0); row < r.Rows; row++ {
					p := rng.Intn(parts)
					idx[p] = append(idx[p], int32(row))
				}
				return idx, nil
			}
		}
		pieces, err := runTasks(ctx, mapFns)
		if err != nil {
			return nil, err
		}
		redFns := make([]func(context.Context) ([]blockRef, error), parts)
		for p := range redFns {
			redFns[p] = func(ctx context.Context) ([]blockRef, error) {
				srcs, refs, err := gatherInputs(ctx, in, pieces, p)
				if err != nil {
					return nil, err
				}
				rng := rand.New(rand.NewSource(seed*7_919 + int64(p) + 1<<40))
				rng.Shuffle(len(refs), func(i, j int) { refs[i], refs[j] = refs[j], refs[i] })
				out, err := block.Gather(ex.dc.Allocator, srcs[0].Schema(), srcs, refs)
				if err != nil {
					return nil, err
				}
				return putRecs(ctx, ex.dc, []arrow.Record{out})
			}
		}
		outs, err := runTasks(ctx, redFns)
		if err != nil {
			return nil, err
		}
		return dropEmpty(slices.Concat(outs...)), nil
	})
}

// RandomSample keeps each row with probability fraction (seeded).
func (ds *Dataset) RandomSample(fraction float64, seed int64) *Dataset {
	return ds.allToAll("RandomSample", func(ctx context.Context, ex *execution, in []blockRef) ([]blockRef, error) {
		if fraction < 0 || fraction > 1 || math.IsNaN(fraction) {
			return nil, invalid("RandomSample: fraction %v not in [0, 1]", fraction)
		}
		fns := make([]func(context.Context) ([]blockRef, error), len(in))
		for i, r := range in {
			fns[i] = func(ctx context.Context) ([]blockRef, error) {
				rec, err := getRec(ctx, r)
				if err != nil {
					return nil, err
				}
				rng := rand.New(rand.NewSource(seed*1_000_003 + int64(i)))
				mask := make([]bool, rec.NumRows())
				for j := range mask {
					mask[j] = rng.Float64() < fraction
				}
				f, err := block.Filter(ex.dc.Allocator, rec, mask)
				if err != nil {
					return nil, err
				}
				return putRecs(ctx, ex.dc, []arrow.Record{f})
			}
		}
		outs, err := runTasks(ctx, fns)
		if err != nil {
			return nil, err
		}
		return dropEmpty(slices.Concat(outs...)), nil
	})
}

// Repartition redistributes rows into n blocks of (nearly) equal rows,
// keeping the row order.
func (ds *Dataset) Repartition(n int) *Dataset {
	return ds.allToAll(fmt.Sprintf("Repartition(%d)", n), func(ctx context.Context, ex *execution, in []blockRef) ([]blockRef, error) {
		if n <= 0 {
			return nil, invalid("Repartition: n = %d, must be > 0", n)
		}
		total := totalRows(in)
		bounds := make([]int64, n+1)
		for k := range bounds {
			bounds[k] = int64(k) * total / int64(n)
		}
		return rangeSlices(ctx, ex.dc, in, bounds)
	})
}

// rangeSlices builds one output block per row range [bounds[k],
// bounds[k+1]) of the concatenated inputs, as tasks.
func rangeSlices(ctx context.Context, dc *Context, in []blockRef, bounds []int64) ([]blockRef, error) {
	var schemaRef *blockRef
	if len(in) > 0 {
		schemaRef = &in[0]
	}
	fns := make([]func(context.Context) (blockRef, error), len(bounds)-1)
	for k := range fns {
		lo, hi := bounds[k], bounds[k+1]
		fns[k] = func(ctx context.Context) (blockRef, error) {
			var parts []arrow.Record
			var off int64
			var schema *arrow.Schema
			for _, r := range in {
				s, e := off, off+r.Rows
				off = e
				if schema == nil && schemaRef != nil {
					rec, err := getRec(ctx, *schemaRef)
					if err != nil {
						return blockRef{}, err
					}
					schema = rec.Schema()
				}
				if e <= lo || s >= hi {
					continue
				}
				rec, err := getRec(ctx, r)
				if err != nil {
					return blockRef{}, err
				}
				parts = append(parts, rec.NewSlice(max(lo, s)-s, min(hi, e)-s))
			}
			if schema == nil {
				return blockRef{}, invalid("no schema: dataset has no blocks")
			}
			c, err := block.Concat(dc.Allocator, schema, parts)
			releaseRecs(parts)
			if err != nil {
				return blockRef{}, err
			}
			return putBlock(ctx, c)
		}
	}
	return runTasks(ctx, fns)
}

// Zip combines the columns of ds and other row by row; both must have the
// same number of rows. Duplicate column names from other get a "_1" suffix.
func (ds *Dataset) Zip(other *Dataset) *Dataset {
	return ds.allToAll("Zip", func(ctx context.Context, ex *execution, in []blockRef) ([]blockRef, error) {
		right, _, err := other.collect(ctx)
		if err != nil {
			return nil, err
		}
		lt, rt := totalRows(in), totalRows(right)
		if lt != rt {
			return nil, invalid("Zip: datasets have %d and %d rows", lt, rt)
		}
		bounds := []int64{0}
		for _, r := range in {
			bounds = append(bounds, bounds[len(bounds)-1]+r.Rows)
		}
		aligned, err := rangeSlices(ctx, ex.dc, right, bounds)
		if err != nil {
			return nil, err
		}
		fns := make([]func(context.Context) (blockRef, error), len(in))
		for i := range in {
			fns[i] = func(ctx context.Context) (blockRef, error) {
				l, err := getRec(ctx, in[i])
				if err != nil {
					return blockRef{}, err
				}
				r, err := getRec(ctx, aligned[i])
				if err != nil {
					return blockRef{}, err
				}
				fields := slices.Clone(l.Schema().Fields())
				cols := slices.Clone(l.Columns())
				for c, f := range r.Schema().Fields() {
					for len(l.Schema().FieldIndices(f.Name)) > 0 {
						f.Name += "_1"
					}
					fields = append(fields, f)
					cols = append(cols, r.Column(c))
				}
				return putBlock(ctx, array.NewRecord(arrow.NewSchema(fields, nil), cols, l.NumRows()))
			}
		}
		return runTasks(ctx, fns)
	})
}

// sharedRefs materializes a dataset once for several consumers (splits).
type sharedRefs struct {
	ds   *Dataset
	mu   sync.Mutex
	refs []blockRef
	done bool
}

func (s *sharedRefs) get(ctx context.Context) ([]blockRef, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.done {
		return s.refs, nil
	}
	refs, _, err := s.ds.collect(ctx)
	if err != nil {
		return nil, err
	}
	s.refs, s.done = refs, true
	return refs, nil
}

// splitBy returns n datasets over row ranges of ds chosen by bounds(total),
// which returns n+1 boundaries. ds runs once, when the first split is
// consumed.
func (ds *Dataset) splitBy(name string, n int, bounds func(total int64) []int64) []*Dataset {
	shared := &sharedRefs{ds: ds}
	out := make([]*Dataset, n)
	for i := range out {
		var mu sync.Mutex
		var cached []blockRef
		out[i] = newDataset(&node{kind: kindRefs, name: fmt.Sprintf("%s[%d]", name, i), refs: func(ctx context.Context) ([]blockRef, error) {
			mu.Lock()
			defer mu.Unlock()
			if cached != nil {
				return cached, nil
			}
			refs, err := shared.get(ctx)
			if err != nil {
				return nil, err
			}
			b := bounds(totalRows(refs))
			lo, hi := b[i], b[i+1]
			var res []blockRef
			var off int64
			for _, r := range refs {
				s, e := off, off+r.Rows
				off = e
				if e <= lo || s >= hi {
					continue
				}
				if s >= lo && e <= hi {
					res = append(res, r)
					continue
				}
				rec, err := getRec(ctx, r)
				if err != nil {
					return nil, err
				}
				ref, err := putBlock(ctx, rec.NewSlice(max(lo, s)-s, min(hi, e)-s))
				if err != nil {
					return nil, err
				}
				res = append(res, ref)
			}
			if len(res) == 0 && len(refs) > 0 {
				// Keep the schema with an empty block.
				rec, err := getRec(ctx, refs[0])
				if err != nil {
					return nil, err
				}
				ref, err := putBlock(ctx, rec.NewSlice(0, 0))
				if err != nil {
					return nil, err
				}
				res = append(res, ref)
			}
			cached = res
			return res, nil
		}}, ds.dc)
	}
	return out
}

// Split divides the rows into n datasets of (nearly) equal size, in order.
func (ds *Dataset) Split(n int) ([]*Dataset, error) {
	if n <= 0 {
		return nil, invalid("Split: n = %d, must be > 0", n)
	}
	return ds.splitBy("Split", n, func(total int64) []int64 {
		b := make([]int64, n+1)
		for k := range b {
			b[k] = int64(k) * total / int64(n)
		}
		return b
	}), nil
}

// SplitAt splits at the given row indices (ascending), giving
// len(indices)+1 datasets.
func (ds *Dataset) SplitAt(indices ...int64) ([]*Dataset, error) {
	for i, x := range indices {
		if x < 0 || (i > 0 && x < indices[i-1]) {
			return nil, invalid("SplitAt: indices %v must be ascending and >= 0", indices)
		}
	}
	idx := slices.Clone(indices)
	return ds.splitBy("SplitAt", len(idx)+1, func(total int64) []int64 {
		b := []int64{0}
		for _, x := range idx {
			b = append(b, min(x, total))
		}
		return append(b, total)
	}), nil
}

// TrainTestSplit splits into train and test sets, test holding
// testSize (0 < testSize < 1) of the rows: train gets int(count *
// (1-testSize)) rows, as in Ray. With shuffle, rows are shuffled first with
// seed. Nothing runs until one of the two is consumed.
func (ds *Dataset) TrainTestSplit(testSize float64, shuffle bool, seed int64) (train, test *Dataset, err error) {
	if !(testSize > 0 && testSize < 1) {
		return nil, nil, invalid("TrainTestSplit: testSize = %v, must be in (0, 1)", testSize)
	}
	base := ds
	if shuffle {
		base = ds.RandomShuffle(seed)
	}
	parts := base.splitBy("TrainTestSplit", 2, func(total int64) []int64 {
		return []int64{0, int64(float64(total) * (1 - testSize)), total}
	})
	return parts[0], parts[1], nil
}
