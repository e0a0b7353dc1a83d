package data

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/apache/arrow/go/v15/arrow"
	"github.com/goray/goray/core"
	"github.com/goray/goray/data/internal/block"
)

// This file is the streaming executor. A plan (a tree of nodes) is turned
// into stages connected by channels of block refs: a source stage fused with
// the map operators that follow it runs one core task per read task; a map
// stage after a barrier runs one task (or actor call) per bundle of input
// blocks; all-to-all stages (sort, shuffle, group-by...) collect their input
// and run their own tasks. A shared budget counts the bytes of blocks
// produced and not yet consumed; stages launch no task that would push it
// over Context.MemoryBudget (a stage with nothing running may always launch
// one, so a single oversized block cannot deadlock the pipeline).

// item is a block travelling between stages. owned: the consumer releases
// the ref once done (false for blocks of a materialized dataset, which may
// be read again).
type item struct {
	b     blockRef
	owned bool
}

type budget struct {
	mu       sync.Mutex
	limit    int64
	used     int64
	reserved int64
	peak     int64
	changed  chan struct{}
}

func newBudget(limit int64) *budget {
	return &budget{limit: limit, changed: make(chan struct{})}
}

func (b *budget) notify() {
	close(b.changed)
	b.changed = make(chan struct{})
}

// wait returns a channel closed at the next release.
func (b *budget) wait() <-chan struct{} {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.changed
}

// tryReserve reserves est bytes for a task about to launch. force lets a
// stage with nothing running launch regardless of the budget.
func (b *budget) tryReserve(est int64, force bool) bool {
	b.mu.Lock()
	defer b.mu.Unlock()
	if !force && b.used+b.reserved+est > b.limit {
		return false
	}
	b.reserved += est
	return true
}

// settle turns a reservation into actual usage.
func (b *budget) settle(est, actual int64) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.reserved -= est
	b.used += actual
	b.peak = max(b.peak, b.used)
	b.notify()
}

func (b *budget) add(n int64) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.used += n
	b.peak = max(b.peak, b.used)
	if n < 0 {
		b.notify()
	}
}

func (b *budget) idle() bool {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.used == 0 && b.reserved == 0
}

type execution struct {
	ctx    context.Context
	cancel context.CancelFunc
	dc     *Context
	budget *budget
	stats  *statsCollector
	wg     sync.WaitGroup

	errMu sync.Mutex
	err   error
}

// newExecution starts an execution whose context ends with parent's but
// carries none of its values: a consumer running inside a core task or
// actor lends its CPUs back only while it itself waits for a block (see
// recv), not whenever one of the executor's goroutines waits on a task.
func newExecution(parent context.Context, dc *Context) *execution {
	ctx, cancel := context.WithCancel(context.Background())
	stop := context.AfterFunc(parent, cancel)
	return &execution{ctx: ctx, cancel: func() { stop(); cancel() }, dc: dc, budget: newBudget(dc.MemoryBudget), stats: newStatsCollector()}
}

func (ex *execution) fail(err error) {
	ex.errMu.Lock()
	if ex.err == nil {
		ex.err = err
	}
	ex.errMu.Unlock()
	ex.cancel()
}

// stageFail records err unless the stage's ctx already ended (then err is
// only a consequence of the cancellation).
func (ex *execution) stageFail(ctx context.Context, err error) {
	if ctx.Err() != nil {
		return
	}
	ex.fail(unwrapTask(err))
}

// unwrapTask strips core's task wrapper from errors raised by this package,
// so that users see "file ... line ..." or "MapBatches(f): ..." first.
func unwrapTask(err error) error {
	var de *dataError
	if errors.As(err, &de) {
		return de.err
	}
	return err
}

// dataError marks an error produced inside a data task.
type dataError struct{ err error }

func (e *dataError) Error() string { return e.err.Error() }
func (e *dataError) Unwrap() error { return e.err }

func (ex *execution) firstErr() error {
	ex.errMu.Lock()
	defer ex.errMu.Unlock()
	return ex.err
}

func (ex *execution) goStage(fn func()) {
	ex.wg.Add(1)
	go func() {
		defer ex.wg.Done()
		fn()
	}()
}

// release drops a consumed item: its bytes leave the budget and an owned
// ref is released.
func (ex *execution) release(it item) {
	ex.budget.add(-it.b.Size)
	if it.owned {
		it.b.Ref.Release()
	}
}

// stream compiles node n (and its ancestors) into running stages and returns
// the channel of its output blocks, in order. The channel is closed when n is
// exhausted or ctx ends.
func (ex *execution) stream(ctx context.Context, n *node) <-chan item {
	out := make(chan item)
	switch n.kind {
	case kindSource:
		ex.goStage(func() { ex.runTaskStage(ctx, n, nil, nil, out) })
	case kindRefs:
		ex.goStage(func() { ex.runRefs(ctx, n, out) })
	case kindMap:
		// Fuse the chain of task-based map operators above n into one stage.
		ops := []*node{n}
		base := n.parents[0]
		if n.op.newActor == nil {
			for base.kind == kindMap && base.op.newActor == nil {
				ops = append([]*node{base}, ops...)
				base = base.parents[0]
			}
		}
		if base.kind == kindSource && n.op.newActor == nil {
			ex.goStage(func() { ex.runTaskStage(ctx, base, ops, nil, out) })
		} else {
			in := ex.stream(ctx, base)
			ex.goStage(func() { ex.runTaskStage(ctx, nil, ops, in, out) })
		}
	case kindAllToAll:
		in := ex.stream(ctx, n.parents[0])
		ex.goStage(func() { ex.runAllToAll(ctx, n, in, out) })
	case kindLimit:
		ex.goStage(func() { ex.runLimit(ctx, n, out) })
	case kindUnion:
		ex.goStage(func() { ex.runUnion(ctx, n, out) })
	case kindShard:
		ex.goStage(func() {
			defer close(out)
			err := n.shard(ctx, ex, func(r blockRef) bool {
				ex.budget.add(r.Size)
				return ex.send(ctx, out, item{b: r, owned: true})
			})
			if err != nil && ctx.Err() == nil {
				ex.stageFail(ctx, err)
			}
		})
	default:
		panic(fmt.Sprintf("data: unknown node kind %d", n.kind))
	}
	return out
}

// sendOrDrop sends it on out, or releases it if ctx ends first.
func (ex *execution) send(ctx context.Context, out chan<- item, it item) bool {
	select {
	case out <- it:
		return true
	case <-ctx.Done():
		ex.release(it)
		return false
	}
}

func (ex *execution) runRefs(ctx context.Context, n *node, out chan<- item) {
	defer close(out)
	refs, err := n.refs(ctx)
	if err != nil {
		ex.stageFail(ctx, err)
		return
	}
	for _, r := range refs {
		ex.budget.add(r.Size)
		if !ex.send(ctx, out, item{b: r}) {
			return
		}
	}
}

func (ex *execution) runUnion(ctx context.Context, n *node, out chan<- item) {
	defer close(out)
	for _, p := range n.parents {
		// Parents run one after another so that a later one cannot fill the
		// budget while the consumer waits on an earlier one.
		for it := range ex.stream(ctx, p) {
			if !ex.send(ctx, out, it) {
				return
			}
		}
		if ctx.Err() != nil {
			return
		}
	}
}

func (ex *execution) runLimit(ctx context.Context, n *node, out chan<- item) {
	defer close(out)
	upCtx, cancel := context.WithCancel(ctx)
	defer cancel()
	in := ex.stream(upCtx, n.parents[0])
	defer func() {
		cancel()
		for it := range in {
			ex.release(it)
		}
	}()
	left := n.limit
	emitted := false
	for left > 0 || !emitted {
		var it item
		var ok bool
		select {
		case it, ok = <-in:
		case <-ctx.Done():
			return
		}
		if !ok {
			return
		}
		if it.b.Rows > left {
			// Slice the block; a zero-row slice keeps the schema when the
			// limit is 0.
			b, err := core.Get(ctx, it.b.Ref)
			if err != nil {
				ex.release(it)
				ex.stageFail(ctx, err)
				return
			}
			ex.release(it)
			ref, err := putBlock(ctx, b.Rec.NewSlice(0, left))
			if err != nil {
				ex.stageFail(ctx, err)
				return
			}
			ex.budget.add(ref.Size)
			it = item{b: ref, owned: true}
		}
		left -= it.b.Rows
		emitted = true
		if !ex.send(ctx, out, it) {
			return
		}
	}
}

func putBlock(ctx context.Context, rec arrow.Record) (blockRef, error) {
	b := newBlock(rec)
	ref, err := core.Put(ctx, b)
	if err != nil {
		return blockRef{}, err
	}
	return blockRef{Ref: ref, Rows: rec.NumRows(), Size: b.Size}, nil
}

func (ex *execution) runAllToAll(ctx context.Context, n *node, in <-chan item, out chan<- item) {
	defer close(out)
	var inputs []item
	for it := range in {
		// The barrier holds every input in the object store (which spills);
		// they no longer count as in flight.
		ex.budget.add(-it.b.Size)
		inputs = append(inputs, it)
	}
	if ctx.Err() != nil {
		return
	}
	refs := make([]blockRef, len(inputs))
	for i, it := range inputs {
		refs[i] = it.b
	}
	start := time.Now()
	outs, err := n.a2a(ctx, ex, refs)
	for _, it := range inputs {
		if it.owned {
			it.b.Ref.Release()
		}
	}
	if err != nil {
		ex.stageFail(ctx, fmt.Errorf("%s: %w", n.name, err))
		return
	}
	st := ex.stats.op(n, n.name)
	st.record(time.Since(start), outs)
	for i, r := range outs {
		ex.budget.add(r.Size)
		if !ex.send(ctx, out, item{b: r, owned: true}) {
			for _, r := range outs[i+1:] {
				r.Ref.Release()
			}
			return
		}
	}
}

// work is one task's input: a read task or a bundle of upstream blocks.
type work struct {
	read   *readTask
	inputs []item
	est    int64 // estimated output bytes (reserved in the budget)
	raw    int64 // input bytes (or the read task's estimate)
}

type pendingTask struct {
	ref   core.Ref[*taskResult]
	w     work
	done  chan struct{}
	res   *taskResult
	err   error
	actor int
}

// runTaskStage runs a source (src != nil) or the blocks from in through the
// fused map operators ops.
func (ex *execution) runTaskStage(ctx context.Context, src *node, ops []*node, in <-chan item, out chan<- item) {
	defer close(out)
	var queue []work
	isSource := src != nil
	if isSource {
		tasks, err := src.plan(ctx, ex.dc)
		if err != nil {
			ex.stageFail(ctx, err)
			return
		}
		for i := range tasks {
			queue = append(queue, work{read: &tasks[i], est: tasks[i].est})
		}
	}
	name := stageName(src, ops)
	var mops []*mapOp
	maxTasks := ex.dc.MaxTasksPerOperator
	batchRows := 0
	var newActor func(context.Context) (BatchFunc, error)
	for i, n := range ops {
		mops = append(mops, n.op)
		if n.op.concurrency > 0 {
			maxTasks = min(maxTasks, n.op.concurrency)
		}
		if i == 0 {
			batchRows = n.op.batchSize
		}
		if n.op.newActor != nil {
			// One actor unless Concurrency asks for more: each holds a copy
			// of the state (a model), so the default is conservative.
			newActor = n.op.newActor
			maxTasks = max(1, n.op.concurrency)
		}
	}
	// A stage of registered operators over blocks runs by name: its
	// tasks' arguments are encodable (mapSpec), as on a cluster.
	byName := len(ops) > 0
	for _, w := range queue {
		if w.read.spec == nil {
			byName = false
		}
	}
	for _, n := range ops {
		if n.op.reg == nil {
			byName = false
			continue
		}
		if n.op.reg.err != nil {
			ex.stageFail(ctx, n.op.reg.err)
			return
		}
	}
	var classOp *opFn
	if byName && newActor != nil {
		classOp = ops[0].op.reg
	}
	var srcStats *opStats
	if isSource {
		srcStats = ex.stats.op(src, src.name)
	}
	opSt := make([]*opStats, len(ops))
	for i, n := range ops {
		opSt[i] = ex.stats.op(n, n.name)
	}

	// Actor pool, created lazily.
	var actors []*core.ActorHandle[*poolWorker]
	var named []*core.ActorHandle[*namedWorker]
	var busy []bool
	defer func() {
		for _, a := range actors {
			_ = core.Kill(a)
		}
		for _, a := range named {
			_ = core.Kill(a)
		}
	}()

	var bundle []item
	var bundleRows, bundleSize int64
	flush := func() {
		if len(bundle) > 0 {
			queue = append(queue, work{inputs: bundle, est: bundleSize})
			bundle, bundleRows, bundleSize = nil, 0, 0
		}
	}
	var pending []*pendingTask
	var ready []item
	inOpen := in != nil
	ratio := 1.0 // observed output/input bytes, for estimates

	cleanup := func() {
		for _, it := range bundle {
			ex.release(it)
		}
		for _, w := range queue {
			for _, it := range w.inputs {
				ex.release(it)
			}
		}
		for _, p := range pending {
			_ = core.Cancel(p.ref) // a running task sees its ctx end
			ex.budget.settle(p.w.est, 0)
			for _, it := range p.w.inputs {
				ex.release(it)
			}
		}
		for _, it := range ready {
			ex.release(it)
		}
	}

	for {
		// Launch what the budget and the concurrency cap allow.
		for len(queue) > 0 && len(pending) < maxTasks {
			w := queue[0]
			est := int64(float64(w.est) * ratio)
			if !ex.budget.tryReserve(est, len(pending) == 0 && (!isSource || ex.budget.idle())) {
				break
			}
			w.raw, w.est = w.est, est
			queue = queue[1:]
			t := &mapTask{read: w.read, ops: mops, dc: ex.dc, stats: opSt, srcStats: srcStats}
			for _, it := range w.inputs {
				t.inputs = append(t.inputs, it.b.Ref)
			}
			var spec *mapSpec
			if byName {
				spec = newMapSpec(t)
			}
			p := &pendingTask{w: w, done: make(chan struct{}), actor: -1}
			var ref core.Ref[*taskResult]
			if newActor != nil {
				if len(busy) < maxTasks && !anyFree(busy) {
					var err error
					if classOp != nil {
						var h *core.ActorHandle[*namedWorker]
						h, err = namedWorkerClass.Remote(ctx, classSpec{Operator: ops[0].op.name, Name: classOp.name, Args: classOp.enc})
						named = append(named, h)
					} else {
						var h *core.ActorHandle[*poolWorker]
						h, err = poolWorkerClass.Remote(ctx, newActor)
						actors = append(actors, h)
					}
					if err != nil {
						ex.stageFail(ctx, fmt.Errorf("%s: starting actor: %w", name, err))
						cleanup()
						return
					}
					busy = append(busy, false)
				}
				a := freeIndex(busy)
				busy[a] = true
				p.actor = a
				if classOp != nil {
					ref = namedWorkerRun.Remote(ctx, named[a], spec)
				} else {
					ref = poolWorkerRun.Remote(ctx, actors[a], t)
				}
			} else if byName {
				ref = mapBlocksFn.Remote(ctx, spec)
			} else {
				ref = mapTaskFn.Remote(ctx, t)
			}
			p.ref = ref
			pending = append(pending, p)
			ex.wg.Add(1)
			go func() {
				defer ex.wg.Done()
				p.res, p.err = core.Get(ctx, ref)
				close(p.done)
			}()
		}
		if !inOpen && len(queue) == 0 && len(pending) == 0 && len(ready) == 0 && len(bundle) == 0 {
			return
		}
		var sendCh chan<- item
		var next item
		if len(ready) > 0 {
			sendCh, next = out, ready[0]
		}
		var headDone <-chan struct{}
		if len(pending) > 0 {
			headDone = pending[0].done
		}
		var inCh <-chan item
		if inOpen {
			inCh = in
		}
		budgetCh := ex.budget.wait()
		select {
		case sendCh <- next:
			ready = ready[1:]
		case it, ok := <-inCh:
			if !ok {
				inOpen = false
				flush()
				continue
			}
			bundle = append(bundle, it)
			bundleRows += it.b.Rows
			bundleSize += it.b.Size
			if (batchRows > 0 && bundleRows >= int64(batchRows)) || (batchRows <= 0 && bundleSize >= ex.dc.TargetMinBlockSize) {
				flush()
			}
		case <-headDone:
			p := pending[0]
			pending = pending[1:]
			if p.actor >= 0 {
				busy[p.actor] = false
			}
			if p.err != nil {
				ex.budget.settle(p.w.est, 0)
				for _, it := range p.w.inputs {
					ex.release(it)
				}
				if ctx.Err() == nil {
					ex.stageFail(ctx, p.err)
				}
				cleanup()
				return
			}
			var outBytes, inBytes int64
			for _, b := range p.res.Blocks {
				outBytes += b.Size
			}
			ex.budget.settle(p.w.est, outBytes)
			for _, it := range p.w.inputs {
				inBytes += it.b.Size
				ex.release(it)
			}
			if isSource {
				inBytes = p.w.raw
			}
			if inBytes > 0 {
				// Estimate outputs from inputs by the ratio seen so far,
				// erring high.
				ratio = max(0.01, 0.5*ratio+0.5*float64(outBytes)/float64(inBytes), float64(outBytes)/float64(inBytes))
			}
			for _, b := range p.res.Blocks {
				ready = append(ready, item{b: b, owned: true})
			}
			if p.res.Source != nil && srcStats != nil {
				srcStats.addRun(*p.res.Source)
			}
			for i, r := range p.res.Ops {
				if i < len(opSt) {
					opSt[i].addRun(r)
				}
			}
			for _, w := range p.res.Warnings {
				ex.dc.Warn("%s", w)
			}
		case <-budgetCh:
		case <-ctx.Done():
			cleanup()
			return
		}
	}
}

func anyFree(busy []bool) bool { return freeIndex(busy) >= 0 }

func freeIndex(busy []bool) int {
	for i, b := range busy {
		if !b {
			return i
		}
	}
	return -1
}

func stageName(src *node, ops []*node) string {
	s := ""
	if src != nil {
		s = src.name
	}
	for _, n := range ops {
		if s != "" {
			s += "->"
		}
		s += n.name
	}
	return s
}

// mapTask is the argument of one map task: read or fetch the input, apply
// the fused operators, split/coalesce and store the output blocks.
type mapTask struct {
	read     *readTask
	inputs   []core.Ref[*Block]
	ops      []*mapOp
	dc       *Context
	stats    []*opStats
	srcStats *opStats
	actorFn  BatchFunc
}

type taskResult struct {
	Blocks []blockRef
	// Ops and Warnings come from a task run by name (mapSpec): the stats
	// of each operator and the warnings raised, for the driver to record.
	Source   *opRun   `cbor:",omitempty"`
	Ops      []opRun  `cbor:",omitempty"`
	Warnings []string `cbor:",omitempty"`
}

// SizeBytes implements core.Sizer: the result only names blocks.
func (r *taskResult) SizeBytes() int64 { return int64(len(r.Blocks)) * 64 }

var mapTaskFn = core.Func1("goray.data.mapTask", func(ctx context.Context, t *mapTask) (*taskResult, error) {
	return wrapData(t.run(ctx))
}, core.NumCPUs(1), core.LocalOnly())

func wrapData[T any](v T, err error) (T, error) {
	if err != nil {
		return v, &dataError{err}
	}
	return v, nil
}

type poolWorker struct{ fn BatchFunc }

var poolWorkerClass = core.Actor1("goray.data.poolWorker", func(ctx context.Context, newFn func(context.Context) (BatchFunc, error)) (*poolWorker, error) {
	fn, err := newFn(ctx)
	if err != nil {
		return nil, err
	}
	return &poolWorker{fn: fn}, nil
}, core.LocalOnly())

var poolWorkerRun = core.Method1("goray.data.poolWorker.run", func(w *poolWorker, ctx context.Context, t *mapTask) (*taskResult, error) {
	cp := *t
	cp.actorFn = w.fn
	return wrapData(cp.run(ctx))
}, core.LocalOnly())

func (t *mapTask) run(ctx context.Context) (*taskResult, error) {
	mem := t.dc.Allocator
	var recs []arrow.Record
	owned := false // whether recs may be released here
	if t.read != nil {
		start := time.Now()
		rs, err := t.read.read(ctx, t.dc)
		if err != nil {
			return nil, err
		}
		recs, owned = rs, true
		if t.srcStats != nil {
			t.srcStats.add(time.Since(start), recs)
		}
	} else {
		bs, err := core.GetAll(ctx, t.inputs)
		if err != nil {
			return nil, err
		}
		for _, b := range bs {
			recs = append(recs, b.Rec)
		}
	}
	for i, op := range t.ops {
		start := time.Now()
		fn := op.fn
		switch {
		case op.newActor != nil:
			fn = t.actorFn
		case op.reg != nil:
			// A registered function gets its own copy of its arguments in
			// every task, as when it runs by name.
			f, err := batchFunc(op.name, op.reg.name, op.reg.enc)
			if err != nil {
				if owned {
					releaseRecs(recs)
				}
				return nil, err
			}
			fn = f
		}
		next, err := op.apply(ctx, mem, fn, recs)
		if owned {
			releaseRecs(recs)
		}
		if err != nil {
			return nil, err
		}
		recs, owned = next, true
		if i < len(t.stats) {
			t.stats[i].add(time.Since(start), recs)
		}
	}
	if !owned {
		for _, r := range recs {
			r.Retain()
		}
	}
	return finishBlocks(ctx, t.dc, recs)
}

func releaseRecs(recs []arrow.Record) {
	for _, r := range recs {
		r.Release()
	}
}

// finishBlocks splits records larger than the target, coalesces tiny ones,
// and stores each block. It takes ownership of recs.
func finishBlocks(ctx context.Context, dc *Context, recs []arrow.Record) (*taskResult, error) {
	var sized []arrow.Record
	for _, r := range recs {
		if r.NumRows() == 0 && len(recs) > 1 {
			r.Release()
			continue
		}
		parts := block.SplitBySize(r, dc.TargetMaxBlockSize)
		r.Release()
		for _, p := range parts {
			if p.NumRows() == 1 && block.Size(p) > dc.TargetMaxBlockSize {
				dc.Warn("data: a row of %d bytes exceeds the target block size of %d bytes", block.Size(p), dc.TargetMaxBlockSize)
			}
		}
		sized = append(sized, parts...)
	}
	// Coalesce consecutive tiny records.
	var out []arrow.Record
	for i := 0; i < len(sized); {
		j, total := i, int64(0)
		for j < len(sized) && (j == i || total+block.Size(sized[j]) <= dc.TargetMinBlockSize) && sized[j].Schema().Equal(sized[i].Schema()) {
			total += block.Size(sized[j])
			j++
		}
		if j-i == 1 {
			out = append(out, sized[i])
		} else {
			c, err := block.Concat(dc.Allocator, sized[i].Schema(), sized[i:j])
			releaseRecs(sized[i:j])
			if err != nil {
				releaseRecs(sized[j:])
				releaseRecs(out)
				return nil, err
			}
			out = append(out, c)
		}
		i = j
	}
	res := &taskResult{}
	for i, r := range out {
		ref, err := putBlock(ctx, r)
		if err != nil {
			releaseRecs(out[i:])
			return nil, err
		}
		res.Blocks = append(res.Blocks, ref)
	}
	return res, nil
}

// run executes ds and returns its output blocks in order through yield.
// Each block is released after yield returns. Errors end the sequence.
func (ds *Dataset) run(ctx context.Context, yield func(*Block) bool) (*Stats, error) {
	dc := ds.dc.fill()
	ex := newExecution(ctx, dc)
	start := time.Now()
	out := ex.stream(ex.ctx, ds.node)
	finish := func() {
		ex.cancel()
		for it := range out {
			ex.release(it)
		}
		ex.wg.Wait()
	}
	for {
		it, ok, err := recv(ctx, out, ex.release)
		if err != nil {
			ex.stageFail(ctx, err) // e.g. the runtime shut down
			break
		}
		if !ok {
			break
		}
		b, err := core.Get(ctx, it.b.Ref)
		if err != nil {
			ex.release(it)
			ex.stageFail(ctx, err)
			break
		}
		cont := yield(b)
		ex.release(it)
		if !cont {
			break
		}
	}
	finish()
	st := ex.stats.snapshot(time.Since(start), ex.budget)
	ds.stats.set(st)
	if err := ex.firstErr(); err != nil {
		return st, err
	}
	if err := ctx.Err(); err != nil {
		return st, err
	}
	return st, nil
}

// collect executes ds and keeps its output blocks as refs (a
// materialization).
func (ds *Dataset) collect(ctx context.Context) ([]blockRef, *Stats, error) {
	dc := ds.dc.fill()
	ex := newExecution(ctx, dc)
	start := time.Now()
	out := ex.stream(ex.ctx, ds.node)
	var refs, owned []blockRef
	for {
		it, ok, err := recv(ctx, out, ex.release)
		if err != nil {
			ex.stageFail(ctx, err) // e.g. the runtime shut down
			break
		}
		if !ok {
			break
		}
		// Kept blocks leave the in-flight budget: they live in the store.
		ex.budget.add(-it.b.Size)
		refs = append(refs, it.b)
		if it.owned {
			owned = append(owned, it.b) // else shared with a materialized parent
		}
	}
	ex.cancel()
	ex.wg.Wait()
	st := ex.stats.snapshot(time.Since(start), ex.budget)
	ds.stats.set(st)
	err := ex.firstErr()
	if err == nil {
		err = ctx.Err()
	}
	if err != nil {
		for _, r := range owned {
			r.Ref.Release()
		}
		return nil, st, err
	}
	return refs, st, nil
}
