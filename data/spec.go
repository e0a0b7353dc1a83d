package data

import (
	"context"
	"fmt"
	"time"

	"github.com/apache/arrow/go/v15/arrow"
	"github.com/apache/arrow/go/v15/arrow/memory"
	"github.com/goray/goray/core"
	"github.com/goray/goray/data/internal/block"
)

func init() { core.RegisterError("data.ErrOperatorFailed", ErrOperatorFailed) }

// mapSpec is the argument of a map task that runs by name: everything in
// it can be encoded. The operators are registered functions named with
// their encoded arguments; the input blocks are refs; of the Context only
// the settings the task needs travel (the task allocates with the Go
// allocator and hands its warnings back to the driver's Context.Warn).
type mapSpec struct {
	Read               *readSpec `cbor:",omitempty"`
	Inputs             []core.Ref[*Block]
	Ops                []opSpec
	TargetMaxBlockSize int64
	TargetMinBlockSize int64
}

// readSpec is a source's read task in encodable form.
type readSpec struct {
	Range *[2]int64 `cbor:",omitempty"` // Range: ids [0] to [1]-1
}

func (r *readSpec) read(dc *Context) ([]arrow.Record, error) {
	if r.Range != nil {
		return rangeRecords(dc.Allocator, r.Range[0], r.Range[1]), nil
	}
	return nil, fmt.Errorf("%w: an empty read spec", ErrInvalidInput)
}

// opSpec is one fused operator of a mapSpec. Fn is empty for the operator
// of an actor pool: the actor's own function runs it.
type opSpec struct {
	Name      string // the operator, for errors
	Fn        string
	Args      []byte
	BatchSize int
}

// opRun is what one operator did in one task.
type opRun struct {
	Wall   time.Duration
	Blocks int
	Rows   int64
	Bytes  int64
}

func runOf(d time.Duration, recs []arrow.Record) *opRun {
	r := &opRun{Wall: d, Blocks: len(recs)}
	for _, rec := range recs {
		r.Rows += rec.NumRows()
		r.Bytes += block.Size(rec)
	}
	return r
}

// classSpec is what an actor of a registered class's pool is built from.
type classSpec struct {
	Operator string
	Name     string
	Args     []byte
}

func newMapSpec(t *mapTask) *mapSpec {
	s := &mapSpec{Inputs: t.inputs, TargetMaxBlockSize: t.dc.TargetMaxBlockSize, TargetMinBlockSize: t.dc.TargetMinBlockSize}
	if t.read != nil {
		s.Read = t.read.spec
	}
	for _, op := range t.ops {
		o := opSpec{Name: op.name, BatchSize: op.batchSize}
		if !op.reg.class {
			o.Fn, o.Args = op.reg.name, op.reg.enc
		}
		s.Ops = append(s.Ops, o)
	}
	return s
}

var mapBlocksFn = core.Func1("goray.data.mapBlocks", func(ctx context.Context, s *mapSpec) (*taskResult, error) {
	return wrapData(s.run(ctx, nil))
}, core.NumCPUs(1))

// namedWorker is an actor of a registered class's pool.
type namedWorker struct{ fn BatchFunc }

var namedWorkerClass = core.Actor1("goray.data.classWorker", func(ctx context.Context, c classSpec) (*namedWorker, error) {
	fn, err := constructClass(ctx, c.Operator, c.Name, c.Args)
	if err != nil {
		return nil, err
	}
	return &namedWorker{fn: fn}, nil
})

var namedWorkerRun = core.Method1("goray.data.classWorker.run", func(w *namedWorker, ctx context.Context, s *mapSpec) (*taskResult, error) {
	return wrapData(s.run(ctx, w.fn))
})

// run is the worker side of a mapSpec: fetch the input blocks, apply the
// operators (actorFn for the one without a Fn), split or coalesce and
// store the output blocks.
func (s *mapSpec) run(ctx context.Context, actorFn BatchFunc) (*taskResult, error) {
	res := &taskResult{}
	dc := &Context{
		TargetMaxBlockSize: s.TargetMaxBlockSize,
		TargetMinBlockSize: s.TargetMinBlockSize,
		Allocator:          memory.DefaultAllocator,
		Warn: func(format string, args ...any) {
			res.Warnings = append(res.Warnings, fmt.Sprintf(format, args...))
		},
	}
	fns := make([]BatchFunc, len(s.Ops))
	for i, o := range s.Ops {
		if o.Fn == "" {
			if actorFn == nil {
				return nil, fmt.Errorf("%w: %s: no function to run", ErrInvalidInput, o.Name)
			}
			fns[i] = actorFn
			continue
		}
		f, err := batchFunc(o.Name, o.Fn, o.Args)
		if err != nil {
			return nil, err
		}
		fns[i] = f
	}
	var recs []arrow.Record
	owned := false
	if s.Read != nil {
		start := time.Now()
		rs, err := s.Read.read(dc)
		if err != nil {
			return nil, err
		}
		recs, owned = rs, true
		res.Source = runOf(time.Since(start), recs)
	} else {
		bs, err := core.GetAll(ctx, s.Inputs)
		if err != nil {
			return nil, err
		}
		for _, b := range bs {
			recs = append(recs, b.Rec)
		}
	}
	for i, o := range s.Ops {
		start := time.Now()
		op := &mapOp{name: o.Name, batchSize: o.BatchSize}
		next, err := op.apply(ctx, dc.Allocator, fns[i], recs)
		if owned {
			releaseRecs(recs)
		}
		if err != nil {
			return nil, err
		}
		recs, owned = next, true
		res.Ops = append(res.Ops, *runOf(time.Since(start), recs))
	}
	if !owned {
		for _, r := range recs {
			r.Retain()
		}
	}
	out, err := finishBlocks(ctx, dc, recs)
	if err != nil {
		return nil, err
	}
	res.Blocks = out.Blocks
	return res, nil
}
