package data

import (
	"context"
	"errors"
	"fmt"
	"slices"

	"github.com/apache/arrow/go/v15/arrow"
	"github.com/apache/arrow/go/v15/arrow/array"
	"github.com/apache/arrow/go/v15/arrow/memory"
	"github.com/goray/goray/data/internal/block"
)

// Dataset is a lazy plan over blocks of Arrow records. Methods that return
// a *Dataset only extend the plan; consuming methods (Count, Take,
// IterBatches, Materialize, Write*...) execute it. A Dataset is immutable and
// safe to share; each consumption runs the plan again unless it was
// materialized.
type Dataset struct {
	node  *node
	dc    *Context
	stats *statsBox
}

type nodeKind int

const (
	kindSource nodeKind = iota
	kindRefs
	kindMap
	kindAllToAll
	kindLimit
	kindUnion
	kindShard
)

type node struct {
	kind    nodeKind
	name    string
	parents []*node
	plan    func(ctx context.Context, dc *Context) ([]readTask, error) // kindSource
	refs    func(ctx context.Context) ([]blockRef, error)              // kindRefs
	op      *mapOp                                                     // kindMap
	a2a     func(ctx context.Context, ex *execution, in []blockRef) ([]blockRef, error)
	limit   int64
	shard   func(ctx context.Context, ex *execution, emit func(blockRef) bool) error // kindShard
}

// readTask produces the records of one piece of a source, inside a task.
type readTask struct {
	est  int64 // estimated output bytes, for the memory budget
	read func(ctx context.Context, dc *Context) ([]arrow.Record, error)
	// spec, when set, is the read in encodable form: a task can run it by
	// name (mapSpec.Read).
	spec *readSpec
}

// BatchFunc transforms one batch. It must not release batch and returns a
// record it owns (nil or zero rows drops the batch).
type BatchFunc func(ctx context.Context, batch arrow.Record) (arrow.Record, error)

type mapOp struct {
	name        string
	fn          BatchFunc
	batchSize   int
	concurrency int
	newActor    func(ctx context.Context) (BatchFunc, error)
	// reg is set for an operator built from a registered Fn: its tasks
	// can run by name, with encoded arguments (see runTaskStage).
	reg *opFn
}

func newDataset(n *node, dc *Context) *Dataset {
	return &Dataset{node: n, dc: dc, stats: &statsBox{}}
}

func (ds *Dataset) child(n *node) *Dataset {
	n.parents = append([]*node{ds.node}, n.parents...)
	return newDataset(n, ds.dc)
}

// WithContext returns the dataset executed with c instead of
// DefaultContext().
func (ds *Dataset) WithContext(c *Context) *Dataset {
	return &Dataset{node: ds.node, dc: c, stats: &statsBox{}}
}

// Stats returns the statistics of this dataset's last execution, or nil.
func (ds *Dataset) Stats() *Stats { return ds.stats.get() }

// String describes the plan.
func (ds *Dataset) String() string {
	var names []string
	for n := ds.node; n != nil; {
		names = append(names, n.name)
		if len(n.parents) == 0 {
			break
		}
		n = n.parents[0]
	}
	slices.Reverse(names)
	return fmt.Sprintf("Dataset(%v)", names)
}

func (op *mapOp) apply(ctx context.Context, mem memory.Allocator, fn BatchFunc, in []arrow.Record) ([]arrow.Record, error) {
	batches := in
	var tmp []arrow.Record
	defer func() { releaseRecs(tmp) }()
	if op.batchSize > 0 {
		src := in
		if len(in) > 1 {
			whole, err := block.Concat(mem, in[0].Schema(), in)
			if err != nil {
				return nil, fmt.Errorf("%w: %s: %v", ErrInvalidInput, op.name, err)
			}
			tmp = append(tmp, whole)
			src = []arrow.Record{whole}
		}
		batches = nil
		for _, r := range src {
			parts := block.SplitRows(r, int64(op.batchSize))
			tmp = append(tmp, parts...)
			batches = append(batches, parts...)
		}
	}
	var out []arrow.Record
	for _, b := range batches {
		if err := ctx.Err(); err != nil {
			releaseRecs(out)
			return nil, err
		}
		r, err := fn(ctx, b)
		if err != nil {
			releaseRecs(out)
			if errors.Is(err, ErrInvalidInput) {
				return nil, err // already names the operator and the problem
			}
			return nil, fmt.Errorf("%w: %s: %w", ErrOperatorFailed, op.name, err)
		}
		if r == nil {
			continue
		}
		out = append(out, r)
	}
	return out, nil
}

// MapOption configures MapBatches and friends.
type MapOption interface{ applyMap(*mapOp) }

// IterOption configures IterBatches.
type IterOption interface{ applyIter(*iterConfig) }

type iterConfig struct {
	batchSize        int
	prefetch         int
	dropLast         bool
	localShuffleSeed *int64
	localShuffleBuf  int
}

// BatchSizeOption sets a batch size for MapBatches or IterBatches.
type BatchSizeOption int

func (o BatchSizeOption) applyMap(m *mapOp)       { m.batchSize = int(o) }
func (o BatchSizeOption) applyIter(c *iterConfig) { c.batchSize = int(o) }

// BatchSize sets the rows per batch (the last batch may be smaller). For
// MapBatches, 0 means one call per block.
func BatchSize(n int) BatchSizeOption { return BatchSizeOption(n) }

type mapOptFunc func(*mapOp)

func (f mapOptFunc) applyMap(m *mapOp) { f(m) }

// Concurrency caps the tasks (or, with WithActorPool, sets the actors) of
// one operator.
func Concurrency(n int) MapOption { return mapOptFunc(func(m *mapOp) { m.concurrency = n }) }

// Name names the operator in stats and errors.
func Name(s string) MapOption { return mapOptFunc(func(m *mapOp) { m.name = s }) }

// WithActorPool runs the operator on a pool of actors (size: Concurrency,
// default 1), each built once with newFn: use it for stateful functions
// such as a model or a tokenizer. The function passed to MapBatches is
// ignored and may be nil. newFn runs in-process only; for a pool that can
// run on a cluster, register the class (RegisterBatchClass) and use
// MapBatchesFn with FnConstructorArgs.
func WithActorPool(newFn func(ctx context.Context) (BatchFunc, error)) MapOption {
	return mapOptFunc(func(m *mapOp) { m.newActor = newFn })
}

type iterOptFunc func(*iterConfig)

func (f iterOptFunc) applyIter(c *iterConfig) { f(c) }

// Prefetch sets how many batches IterBatches prepares ahead of the consumer.
func Prefetch(n int) IterOption { return iterOptFunc(func(c *iterConfig) { c.prefetch = n }) }

// DropLast drops a final batch smaller than the batch size.
func DropLast() IterOption { return iterOptFunc(func(c *iterConfig) { c.dropLast = true }) }

// LocalShuffle shuffles rows within a buffer of bufRows rows before
// batching (seeded).
func LocalShuffle(bufRows int, seed int64) IterOption {
	return iterOptFunc(func(c *iterConfig) { c.localShuffleBuf, c.localShuffleSeed = bufRows, &seed })
}

func (ds *Dataset) addMap(kind string, fn BatchFunc, opts []MapOption) *Dataset {
	op := &mapOp{name: kind, fn: fn}
	for _, o := range opts {
		o.applyMap(op)
	}
	if op.name != kind {
		op.name = fmt.Sprintf("%s(%s)", kind, op.name)
	}
	return ds.child(&node{kind: kindMap, name: op.name, op: op})
}

// MapBatches applies fn to batches of rows as Arrow records. fn must not
// release its input and returns a record it owns (the executor releases
// it). Options: BatchSize, Concurrency, WithActorPool, Name. If fn fails the
// dataset fails with ErrOperatorFailed naming the operator and wrapping fn's
// error.
//
// fn runs in-process only: the variables it captures are the driver's,
// shared by every task, and no cluster can run it. A function that must
// run on a cluster is registered (RegisterBatchFunc) and added with
// MapBatchesFn, its state passed as FnArgs.
func (ds *Dataset) MapBatches(fn func(ctx context.Context, batch arrow.Record) (arrow.Record, error), opts ...MapOption) *Dataset {
	return ds.addMap("MapBatches", fn, opts)
}

// MapBatchesFn is MapBatches for a registered batch function or class
// (RegisterBatchFunc, RegisterBatchClass) bound to its arguments: f.FnArgs(args)
// runs the function on every batch with args, fn.FnConstructorArgs(args)
// runs it on a pool of actors (size: Concurrency, default 1) that each
// build the function once from args. The arguments are encoded when the
// operator is added and every task (or actor) decodes its own copy, so the
// function sees the same values in-process as on a cluster, and changes a
// task makes to them stay in that task. A stage whose operators are all
// registered (and that reads blocks, not a file or other source) runs its
// tasks by name with encodable arguments only: what a cluster runs.
// Arguments that cannot be encoded fail the dataset, when it is consumed,
// with ErrInvalidInput naming the operator and the FnArgs. Options:
// BatchSize, Concurrency, Name.
func (ds *Dataset) MapBatchesFn(f Fn, opts ...MapOption) *Dataset {
	return ds.addFn("MapBatches", f.name, f, opts)
}

// addFn adds a map operator that runs registered f, named kind(label) in
// stats and errors (or kind(Name) with the Name option).
func (ds *Dataset) addFn(kind, label string, f Fn, opts []MapOption) *Dataset {
	op := &mapOp{name: label}
	for _, o := range opts {
		o.applyMap(op)
	}
	op.name = fmt.Sprintf("%s(%s)", kind, op.name)
	if op.name == kind+"()" {
		op.name = kind
	}
	op.newActor = nil // WithActorPool does not apply: a class is a BatchClass
	reg := newOpFn(op.name, f)
	op.reg = reg
	if reg.class {
		op.newActor = func(ctx context.Context) (BatchFunc, error) {
			if reg.err != nil {
				return nil, reg.err
			}
			return constructClass(ctx, op.name, reg.name, reg.enc)
		}
	}
	return ds.child(&node{kind: kindMap, name: op.name, op: op})
}

// MapColumns is MapBatches over typed column slices: each column is a
// []float64, []int64, []string, []bool or []any (see RecordToColumns); the
// returned map becomes the batch (columns in sorted name order, or in the
// input's order where names are kept).
func (ds *Dataset) MapColumns(fn func(ctx context.Context, cols map[string]any) (map[string]any, error), opts ...MapOption) *Dataset {
	return ds.addMap("MapColumns", func(ctx context.Context, batch arrow.Record) (arrow.Record, error) {
		out, err := fn(ctx, RecordToColumns(batch))
		if err != nil {
			return nil, err
		}
		return ColumnsToRecord(memory.DefaultAllocator, out, block.Names(batch.Schema()))
	}, opts)
}

// Row is one row as a map from column name to a plain Go value (int64,
// uint64, float64, string, bool, []byte, []any, map[string]any, or nil for
// null).
type Row = map[string]any

// Map applies fn to every row.
func (ds *Dataset) Map(fn func(row Row) (Row, error), opts ...MapOption) *Dataset {
	return ds.addMap("Map", func(ctx context.Context, batch arrow.Record) (arrow.Record, error) {
		rows := recordRows(batch)
		for i, r := range rows {
			o, err := fn(r)
			if err != nil {
				return nil, fmt.Errorf("row %d: %w", i, err)
			}
			rows[i] = o
		}
		return rowsToRecord(memory.DefaultAllocator, rows, batch.Schema())
	}, opts)
}

// FlatMap applies fn to every row and keeps all the rows it returns.
func (ds *Dataset) FlatMap(fn func(row Row) ([]Row, error), opts ...MapOption) *Dataset {
	return ds.addMap("FlatMap", func(ctx context.Context, batch arrow.Record) (arrow.Record, error) {
		var out []Row
		for i, r := range recordRows(batch) {
			o, err := fn(r)
			if err != nil {
				return nil, fmt.Errorf("row %d: %w", i, err)
			}
			out = append(out, o...)
		}
		if len(out) == 0 {
			return block.Empty(memory.DefaultAllocator, batch.Schema()), nil
		}
		return rowsToRecord(memory.DefaultAllocator, out, batch.Schema())
	}, opts)
}

// Filter keeps the rows for which fn returns true.
func (ds *Dataset) Filter(fn func(row Row) (bool, error), opts ...MapOption) *Dataset {
	return ds.addMap("Filter", func(ctx context.Context, batch arrow.Record) (arrow.Record, error) {
		mask := make([]bool, batch.NumRows())
		for i, r := range recordRows(batch) {
			keep, err := fn(r)
			if err != nil {
				return nil, fmt.Errorf("row %d: %w", i, err)
			}
			mask[i] = keep
		}
		return block.Filter(memory.DefaultAllocator, batch, mask)
	}, opts)
}

// FilterBatches keeps the rows for which the mask returned by fn is true:
// a vectorised Filter.
func (ds *Dataset) FilterBatches(fn func(ctx context.Context, batch arrow.Record) ([]bool, error), opts ...MapOption) *Dataset {
	return ds.addMap("Filter", func(ctx context.Context, batch arrow.Record) (arrow.Record, error) {
		mask, err := fn(ctx, batch)
		if err != nil {
			return nil, err
		}
		if len(mask) != int(batch.NumRows()) {
			return nil, fmt.Errorf("%w: mask has %d entries for %d rows", ErrInvalidInput, len(mask), batch.NumRows())
		}
		return block.Filter(memory.DefaultAllocator, batch, mask)
	}, opts)
}

// AddColumn adds (or replaces) column name with the array fn computes from
// each batch; the array must have one entry per row. fn returns an array it
// owns.
func (ds *Dataset) AddColumn(name string, fn func(ctx context.Context, batch arrow.Record) (arrow.Array, error), opts ...MapOption) *Dataset {
	return ds.addMap("AddColumn", func(ctx context.Context, batch arrow.Record) (arrow.Record, error) {
		col, err := fn(ctx, batch)
		if err != nil {
			return nil, err
		}
		defer col.Release()
		if int64(col.Len()) != batch.NumRows() {
			return nil, fmt.Errorf("%w: column %q has %d values for %d rows", ErrInvalidInput, name, col.Len(), batch.NumRows())
		}
		fields := slices.Clone(batch.Schema().Fields())
		cols := slices.Clone(batch.Columns())
		f := arrow.Field{Name: name, Type: col.DataType(), Nullable: true}
		if idx := batch.Schema().FieldIndices(name); len(idx) > 0 {
			fields[idx[0]], cols[idx[0]] = f, col
		} else {
			fields, cols = append(fields, f), append(cols, col)
		}
		return array.NewRecord(arrow.NewSchema(fields, nil), cols, batch.NumRows()), nil
	}, opts)
}

// DropColumns removes columns. An unknown column fails the dataset with
// ErrInvalidInput naming it.
func (ds *Dataset) DropColumns(cols ...string) *Dataset {
	return ds.addFn("DropColumns", "", dropColumnsFn.FnArgs(cols), nil)
}

// SelectColumns keeps only cols, in that order. An unknown column fails the
// dataset with ErrInvalidInput naming it.
func (ds *Dataset) SelectColumns(cols ...string) *Dataset {
	return ds.addFn("SelectColumns", "", selectColumnsFn.FnArgs(cols), nil)
}

// RenameColumns renames columns by the map old -> new. An unknown column
// fails the dataset.
func (ds *Dataset) RenameColumns(names map[string]string) *Dataset {
	return ds.addFn("RenameColumns", "", renameColumnsFn.FnArgs(names), nil)
}

// The column operators are registered functions, so that a stage of them
// and of other registered operators runs by name.
var (
	dropColumnsFn = RegisterBatchFunc("goray.data.DropColumns", func(ctx context.Context, batch arrow.Record, cols []string) (arrow.Record, error) {
		names := block.Names(batch.Schema())
		for _, c := range cols {
			if !slices.Contains(names, c) {
				return nil, fmt.Errorf("%w: DropColumns: unknown column %q (have %v)", ErrInvalidInput, c, names)
			}
		}
		keep := slices.DeleteFunc(names, func(n string) bool { return slices.Contains(cols, n) })
		return block.Select(batch, keep)
	})
	selectColumnsFn = RegisterBatchFunc("goray.data.SelectColumns", func(ctx context.Context, batch arrow.Record, cols []string) (arrow.Record, error) {
		r, err := block.Select(batch, cols)
		if err != nil {
			return nil, fmt.Errorf("%w: SelectColumns: %v", ErrInvalidInput, err)
		}
		return r, nil
	})
	renameColumnsFn = RegisterBatchFunc("goray.data.RenameColumns", func(ctx context.Context, batch arrow.Record, names map[string]string) (arrow.Record, error) {
		have := block.Names(batch.Schema())
		for old := range names {
			if !slices.Contains(have, old) {
				return nil, fmt.Errorf("%w: RenameColumns: unknown column %q (have %v)", ErrInvalidInput, old, have)
			}
		}
		fields := slices.Clone(batch.Schema().Fields())
		for i := range fields {
			if nn, ok := names[fields[i].Name]; ok {
				fields[i].Name = nn
			}
		}
		batch.Retain()
		cols := batch.Columns()
		r := array.NewRecord(arrow.NewSchema(fields, nil), cols, batch.NumRows())
		batch.Release()
		return r, nil
	})
)

// Limit keeps the first n rows.
func (ds *Dataset) Limit(n int64) *Dataset {
	if n < 0 {
		n = 0
	}
	return ds.child(&node{kind: kindLimit, name: fmt.Sprintf("Limit(%d)", n), limit: n})
}

// Union concatenates datasets (ds first), which must share a schema.
func (ds *Dataset) Union(others ...*Dataset) *Dataset {
	n := &node{kind: kindUnion, name: "Union"}
	for _, o := range others {
		n.parents = append(n.parents, o.node)
	}
	return ds.child(n)
}
