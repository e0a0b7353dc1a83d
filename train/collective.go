package train

import (
	"context"
	"fmt"
	"math"
	"sync"

	"github.com/goray/goray/core"
)

// ReduceOp combines values across workers.
type ReduceOp int

const (
	// Sum adds the workers' values.
	Sum ReduceOp = iota
	// Mean averages them.
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

// group is the rendezvous of one worker group's collectives. It lives in a
// core actor with one slot per worker: every worker calls the same sequence
// of collectives, the k-th call of each meets the k-th calls of the others.
type group struct {
	size int

	mu      sync.Mutex
	rounds  map[int]*round
	aborted chan struct{}
	err     error
}

type round struct {
	kind    string
	op      ReduceOp
	acc     []float64
	count   int
	done    chan struct{}
	err     error
	payload []byte   // broadcast
	blobs   [][]byte // allgather, by rank
}

type collectiveArgs struct {
	Seq  int
	Rank int
	Kind string // "allreduce", "broadcast", "barrier"
	Op   ReduceOp
	Vals []float64
	Root int
	Blob []byte
}

type collectiveResult struct {
	Vals  []float64
	Blob  []byte
	Blobs [][]byte
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
	g.mu.Lock()
	if g.err != nil {
		g.mu.Unlock()
		return collectiveResult{}, g.err
	}
	r := g.rounds[a.Seq]
	if r == nil {
		r = &round{kind: a.Kind, op: a.Op, done: make(chan struct{})}
		g.rounds[a.Seq] = r
	}
	switch {
	case r.kind != a.Kind:
		r.err = fmt.Errorf("%w: collective #%d: rank %d called %s while another rank called %s; every worker must call the same collectives in the same order",
			ErrInvalidConfig, a.Seq, a.Rank, a.Kind, r.kind)
	case a.Kind == "allreduce" && r.count > 0 && len(a.Vals) != len(r.acc):
		r.err = fmt.Errorf("%w: AllReduce #%d: rank %d passed %d values, another rank %d", ErrInvalidConfig, a.Seq, a.Rank, len(a.Vals), len(r.acc))
	case a.Kind == "allreduce" && r.op != a.Op:
		r.err = fmt.Errorf("%w: AllReduce #%d: rank %d asked for %v, another rank for %v", ErrInvalidConfig, a.Seq, a.Rank, a.Op, r.op)
	case a.Kind == "allreduce":
		if r.count == 0 {
			r.acc = append([]float64(nil), a.Vals...)
		} else {
			for i, v := range a.Vals {
				if r.op == Max {
					r.acc[i] = math.Max(r.acc[i], v)
				} else {
					r.acc[i] += v
				}
			}
		}
	case a.Kind == "broadcast" && a.Rank == a.Root:
		r.payload = a.Blob
	case a.Kind == "allgather":
		if r.blobs == nil {
			r.blobs = make([][]byte, g.size)
		}
		r.blobs[a.Rank] = a.Blob
	}
	r.count++
	if r.count == g.size {
		if r.op == Mean && r.kind == "allreduce" {
			for i := range r.acc {
				r.acc[i] /= float64(g.size)
			}
		}
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
	if r.err != nil {
		return collectiveResult{}, r.err
	}
	return collectiveResult{Vals: r.acc, Blob: r.payload, Blobs: r.blobs}, nil
}
