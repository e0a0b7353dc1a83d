package train

import (
	"bytes"
	"context"
	"fmt"
	"math"
	"slices"
	"sync"

	"github.com/goray/goray/core"
)

// ReduceOp combines values across workers.
type ReduceOp int

const (
	// Sum adds the workers' values.
	Sum ReduceOp = iota
	// Mean averages them (AllReduce only: an integer mean is not exact).
	Mean
	// Max keeps the largest.
	Max
)

func (op ReduceOp) String() string {
	switch op {
	case Sum:
		return "sum"
	case Mean:
		return "mean"
	case Max:
		return "max"
	}
	return fmt.Sprintf("ReduceOp(%d)", int(op))
}

// Collective is how one worker of a data-parallel group talks to the
// others: the one collective API of goray's training libraries (the gbdt
// and nn trainers, and any training loop, use it).
//
// Every worker of a group calls the same collectives in the same order; a
// call returns once every worker has made its own. Contributions are
// combined in rank order, so every worker gets bit-identical results,
// whatever order the workers arrive in and wherever they run. A call fails
// when its ctx ends, and then every other worker's pending and later calls
// fail too (with ErrGroupAborted), so no worker waits forever for one that
// gave up.
//
// A Context's Collective connects the workers of a DataParallelTrainer;
// NewLocalGroup connects goroutines of one process (tests, single-process
// data-parallel training); Solo is the group of one.
type Collective interface {
	// Rank is this worker's index in [0, Size()).
	Rank() int
	// Size is the number of workers in the group.
	Size() int
	// AllReduce replaces vals with their element-wise combination over
	// the workers (Sum, Mean or Max). Every worker passes as many values.
	AllReduce(ctx context.Context, vals []float64, op ReduceOp) error
	// AllReduceInt64 is AllReduce on integers (Sum or Max). Sums are
	// exact (two's-complement, wrapping on overflow), so fixed-point sums
	// do not depend on how values are spread over the workers.
	AllReduceInt64(ctx context.Context, vals []int64, op ReduceOp) error
	// Broadcast returns root's blob on every worker (the others' blobs
	// are ignored).
	Broadcast(ctx context.Context, blob []byte, root int) ([]byte, error)
	// AllGather returns every worker's blob, indexed by rank.
	AllGather(ctx context.Context, blob []byte) ([][]byte, error)
	// Barrier waits until every worker has reached it.
	Barrier(ctx context.Context) error
}

// The kinds of collective calls.
const (
	kindAllReduce      = "AllReduce"
	kindAllReduceInt64 = "AllReduceInt64"
	kindBroadcast      = "Broadcast"
	kindAllGather      = "AllGather"
	kindBarrier        = "Barrier"
)

// collectiveArgs is one worker's call of a collective.
type collectiveArgs struct {
	Seq  int // the call's number on its worker, from 1
	Rank int
	Kind string
	Op   ReduceOp
	Vals []float64
	Ints []int64
	Root int
	Blob []byte
}

// collectiveResult is what every worker's call returns.
type collectiveResult struct {
	Vals  []float64
	Ints  []int64
	Blob  []byte
	Blobs [][]byte
}

// checkCall refuses a call that no group could complete, before it waits
// for the other workers.
func checkCall(a collectiveArgs, size int) error {
	switch a.Kind {
	case kindAllReduce:
		if a.Op < Sum || a.Op > Max {
			return fmt.Errorf("%w: AllReduce: unknown op %v", ErrInvalidConfig, a.Op)
		}
	case kindAllReduceInt64:
		if a.Op != Sum && a.Op != Max {
			return fmt.Errorf("%w: AllReduceInt64: op %v: want sum or max", ErrInvalidConfig, a.Op)
		}
	case kindBroadcast:
		if a.Root < 0 || a.Root >= size {
			return fmt.Errorf("%w: Broadcast root %d: world size is %d", ErrInvalidConfig, a.Root, size)
		}
	}
	return nil
}

// combine computes a collective from every worker's call (calls[r] is rank
// r's), in rank order, so that the result does not depend on the order in
// which the calls arrived.
func combine(calls []collectiveArgs) (collectiveResult, error) {
	first := calls[0]
	for r, c := range calls[1:] {
		r++
		switch {
		case c.Kind != first.Kind:
			return collectiveResult{}, fmt.Errorf("%w: collective #%d: rank %d called %s while rank 0 called %s; every worker must call the same collectives in the same order",
				ErrInvalidConfig, c.Seq, r, c.Kind, first.Kind)
		case c.Op != first.Op && (c.Kind == kindAllReduce || c.Kind == kindAllReduceInt64):
			return collectiveResult{}, fmt.Errorf("%w: %s #%d: rank %d asked for %v, rank 0 for %v", ErrInvalidConfig, c.Kind, c.Seq, r, c.Op, first.Op)
		case c.Kind == kindAllReduce && len(c.Vals) != len(first.Vals):
			return collectiveResult{}, fmt.Errorf("%w: AllReduce #%d: rank %d passed %d values, rank 0 %d", ErrInvalidConfig, c.Seq, r, len(c.Vals), len(first.Vals))
		case c.Kind == kindAllReduceInt64 && len(c.Ints) != len(first.Ints):
			return collectiveResult{}, fmt.Errorf("%w: AllReduceInt64 #%d: rank %d passed %d values, rank 0 %d", ErrInvalidConfig, c.Seq, r, len(c.Ints), len(first.Ints))
		case c.Kind == kindBroadcast && c.Root != first.Root:
			return collectiveResult{}, fmt.Errorf("%w: Broadcast #%d: rank %d named root %d, rank 0 root %d", ErrInvalidConfig, c.Seq, r, c.Root, first.Root)
		}
	}
	var res collectiveResult
	switch first.Kind {
	case kindAllReduce:
		acc := slices.Clone(first.Vals)
		for _, c := range calls[1:] {
			for i, v := range c.Vals {
				if first.Op == Max {
					acc[i] = math.Max(acc[i], v)
				} else {
					acc[i] += v
				}
			}
		}
		if first.Op == Mean {
			for i := range acc {
				acc[i] /= float64(len(calls))
			}
		}
		res.Vals = acc
	case kindAllReduceInt64:
		acc := slices.Clone(first.Ints)
		for _, c := range calls[1:] {
			for i, v := range c.Ints {
				if first.Op == Max {
					acc[i] = max(acc[i], v)
				} else {
					acc[i] += v
				}
			}
		}
		res.Ints = acc
	case kindBroadcast:
		res.Blob = calls[first.Root].Blob
	case kindAllGather:
		res.Blobs = make([][]byte, len(calls))
		for r, c := range calls {
			res.Blobs[r] = c.Blob
		}
	case kindBarrier:
	default:
		return collectiveResult{}, fmt.Errorf("%w: unknown collective %q", ErrInvalidConfig, first.Kind)
	}
	return res, nil
}

// caller turns the Collective methods into collectiveArgs for one
// transport (call) and copies the results back. It numbers the calls.
type caller struct {
	rank, size int
	call       func(ctx context.Context, a collectiveArgs) (collectiveResult, error)

	mu  sync.Mutex
	seq int
}

func (c *caller) Rank() int { return c.rank }
func (c *caller) Size() int { return c.size }

func (c *caller) do(ctx context.Context, a collectiveArgs) (collectiveResult, error) {
	if err := checkCall(a, c.size); err != nil {
		return collectiveResult{}, err
	}
	c.mu.Lock()
	c.seq++
	a.Seq = c.seq
	c.mu.Unlock()
	a.Rank = c.rank
	res, err := c.call(ctx, a)
	if err != nil {
		return collectiveResult{}, fmt.Errorf("%s #%d on rank %d: %w", a.Kind, a.Seq, c.rank, err)
	}
	return res, nil
}

func (c *caller) AllReduce(ctx context.Context, vals []float64, op ReduceOp) error {
	res, err := c.do(ctx, collectiveArgs{Kind: kindAllReduce, Op: op, Vals: vals})
	if err != nil {
		return err
	}
	copy(vals, res.Vals)
	return nil
}

func (c *caller) AllReduceInt64(ctx context.Context, vals []int64, op ReduceOp) error {
	res, err := c.do(ctx, collectiveArgs{Kind: kindAllReduceInt64, Op: op, Ints: vals})
	if err != nil {
		return err
	}
	copy(vals, res.Ints)
	return nil
}

func (c *caller) Broadcast(ctx context.Context, blob []byte, root int) ([]byte, error) {
	res, err := c.do(ctx, collectiveArgs{Kind: kindBroadcast, Root: root, Blob: blob})
	if err != nil {
		return nil, err
	}
	return bytes.Clone(res.Blob), nil
}

func (c *caller) AllGather(ctx context.Context, blob []byte) ([][]byte, error) {
	res, err := c.do(ctx, collectiveArgs{Kind: kindAllGather, Blob: blob})
	if err != nil {
		return nil, err
	}
	out := make([][]byte, len(res.Blobs))
	for i, b := range res.Blobs {
		out[i] = bytes.Clone(b)
	}
	return out, nil
}

func (c *caller) Barrier(ctx context.Context) error {
	_, err := c.do(ctx, collectiveArgs{Kind: kindBarrier})
	return err
}

var _ Collective = (*caller)(nil)

// Solo returns the Collective of a group of one worker: every collective
// returns this worker's own values at once.
func Solo() Collective {
	return &caller{rank: 0, size: 1, call: func(_ context.Context, a collectiveArgs) (collectiveResult, error) {
		return combine([]collectiveArgs{a})
	}}
}

// NewLocalGroup returns the Collectives of n workers that are goroutines of
// one process, one per worker (element r has rank r). It is the group for
// tests and single-process data-parallel training; a DataParallelTrainer's
// workers get theirs from their Context. n < 1 panics.
func NewLocalGroup(n int) []Collective {
	if n < 1 {
		panic(fmt.Sprintf("train: NewLocalGroup(%d): a group needs at least one worker", n))
	}
	_, members := newLocalGroup(n)
	return members
}

func newLocalGroup(n int) (*localGroup, []Collective) {
	g := &localGroup{n: n}
	g.cur = g.newRound()
	members := make([]Collective, n)
	for r := range members {
		members[r] = &caller{rank: r, size: n, call: g.exchange}
	}
	return g, members
}

// localGroup is the rendezvous of an in-process group. Every worker calls
// the same collectives in order, so the calls of the current round are the
// k-th call of every worker.
type localGroup struct {
	n      int
	mu     sync.Mutex
	cur    *localRound
	broken error
}

type localRound struct {
	calls   []collectiveArgs
	arrived int
	done    chan struct{}
	res     collectiveResult
	err     error
}

func (g *localGroup) newRound() *localRound {
	return &localRound{calls: make([]collectiveArgs, g.n), done: make(chan struct{})}
}

// exchange deposits rank a.Rank's call and waits for the others'; the last
// to arrive combines them.
func (g *localGroup) exchange(ctx context.Context, a collectiveArgs) (collectiveResult, error) {
	// The caller may change its buffers once its call returns, while
	// slower workers still read the result: blobs are copied in.
	a.Blob = bytes.Clone(a.Blob)
	g.mu.Lock()
	if g.broken != nil {
		g.mu.Unlock()
		return collectiveResult{}, g.broken
	}
	r := g.cur
	r.calls[a.Rank] = a
	r.arrived++
	if r.arrived == g.n {
		r.res, r.err = combine(r.calls)
		g.cur = g.newRound()
		close(r.done)
		g.mu.Unlock()
		return r.res, r.err
	}
	g.mu.Unlock()
	select {
	case <-r.done:
		return r.res, r.err
	case <-ctx.Done():
		g.mu.Lock()
		defer g.mu.Unlock()
		select {
		case <-r.done: // completed meanwhile
			return r.res, r.err
		default:
		}
		if g.broken == nil {
			g.broken = fmt.Errorf("%w: rank %d gave up: %w", ErrGroupAborted, a.Rank, ctx.Err())
		}
		r.err = g.broken
		close(r.done)
		return collectiveResult{}, ctx.Err()
	}
}

// group is the rendezvous of one DataParallelTrainer worker group. It lives
// in a core actor with enough concurrency for every worker's pending call:
// the k-th call of each worker meets the k-th calls of the others.
type group struct {
	size int

	mu      sync.Mutex
	rounds  map[int]*round
	aborted chan struct{}
	err     error
}

type round struct {
	calls   []collectiveArgs
	arrived int
	done    chan struct{}
	res     collectiveResult
	err     error
}

var groupActor = core.Actor1("train.collectiveGroup", func(ctx context.Context, size int) (*group, error) {
	return &group{size: size, rounds: map[int]*round{}, aborted: make(chan struct{})}, nil
})

var groupCall = core.Method1("train.collectiveGroup.call", (*group).call)

var groupAbort = core.Method1("train.collectiveGroup.abort", func(g *group, ctx context.Context, reason string) (bool, error) {
	g.abort(fmt.Errorf("%w: %s", ErrGroupAborted, reason))
	return true, nil
})

func (g *group) abort(err error) {
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.err == nil {
		g.err = err
		close(g.aborted)
	}
}

func (g *group) call(ctx context.Context, a collectiveArgs) (collectiveResult, error) {
	if a.Rank < 0 || a.Rank >= g.size {
		return collectiveResult{}, fmt.Errorf("%w: collective from rank %d: world size is %d", ErrInvalidConfig, a.Rank, g.size)
	}
	g.mu.Lock()
	if g.err != nil {
		g.mu.Unlock()
		return collectiveResult{}, g.err
	}
	r := g.rounds[a.Seq]
	if r == nil {
		r = &round{calls: make([]collectiveArgs, g.size), done: make(chan struct{})}
		g.rounds[a.Seq] = r
	}
	r.calls[a.Rank] = a
	r.arrived++
	if r.arrived == g.size {
		r.res, r.err = combine(r.calls)
		delete(g.rounds, a.Seq)
		close(r.done)
	}
	g.mu.Unlock()

	select {
	case <-r.done:
	case <-g.aborted:
		return collectiveResult{}, g.err
	case <-ctx.Done():
		return collectiveResult{}, ctx.Err()
	}
	return r.res, r.err
}

// newGroupMember is rank's Collective over the group actor g.
func newGroupMember(rank, size int, g *core.ActorHandle[*group]) *caller {
	if size == 1 {
		return Solo().(*caller)
	}
	return &caller{rank: rank, size: size, call: func(ctx context.Context, a collectiveArgs) (collectiveResult, error) {
		return core.Get(ctx, groupCall.Remote(ctx, g, a))
	}}
}
