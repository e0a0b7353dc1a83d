package gbdt

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"slices"
	"sync"

	"github.com/goray/goray/train"
)

// AllReducer is the collective communication a distributed training run
// needs. Every worker of a group calls the same methods in the same order;
// each call returns once all workers have made it. Results must be
// identical on every worker (sum in rank order, for example), which is what
// makes N workers build the same trees.
//
// Histograms travel as int64 (gradients are fixed-point, so sums are exact
// and independent of how rows are sharded); metrics as float64; the
// quantile summaries behind the bin boundaries as opaque bytes (AllGather),
// merged identically on every worker.
type AllReducer interface {
	// Size is the number of workers; Rank this worker's index in [0, Size).
	Size() int
	Rank() int
	// AllReduceSumInt64 replaces buf with the element-wise sum over workers.
	AllReduceSumInt64(ctx context.Context, buf []int64) error
	// AllReduceSum replaces buf with the element-wise sum over workers.
	AllReduceSum(ctx context.Context, buf []float64) error
	// AllGather returns every worker's b, indexed by rank.
	AllGather(ctx context.Context, b []byte) ([][]byte, error)
}

// ErrGroupBroken: a worker of a local group gave up (its context ended), so
// the collective can never complete.
var ErrGroupBroken = errors.New("gbdt: all-reduce group broken")

// NewLocalGroup returns n AllReducers connected in-process, one per worker
// goroutine: the reference implementation used by tests and single-machine
// data-parallel training.
func NewLocalGroup(n int) []AllReducer {
	if n < 1 {
		panic("gbdt: NewLocalGroup needs n >= 1")
	}
	g := &localGroup{n: n}
	g.cur = g.newRound()
	out := make([]AllReducer, n)
	for i := range out {
		out[i] = &localReducer{g: g, rank: i}
	}
	return out
}

type localGroup struct {
	n      int
	mu     sync.Mutex
	cur    *round
	broken error
}

type round struct {
	inputs  []any
	arrived int
	done    chan struct{}
	result  any
	err     error
}

func (g *localGroup) newRound() *round {
	return &round{inputs: make([]any, g.n), done: make(chan struct{})}
}

// exchange deposits in for rank and waits until all ranks have; the last
// one computes combine(inputs in rank order).
func (g *localGroup) exchange(ctx context.Context, rank int, in any, combine func([]any) (any, error)) (any, error) {
	g.mu.Lock()
	if g.broken != nil {
		g.mu.Unlock()
		return nil, g.broken
	}
	r := g.cur
	r.inputs[rank] = in
	r.arrived++
	if r.arrived == g.n {
		r.result, r.err = combine(r.inputs)
		g.cur = g.newRound()
		close(r.done)
		g.mu.Unlock()
		return r.result, r.err
	}
	g.mu.Unlock()
	select {
	case <-r.done:
		return r.result, r.err
	case <-ctx.Done():
		g.mu.Lock()
		defer g.mu.Unlock()
		select {
		case <-r.done: // completed meanwhile
			return r.result, r.err
		default:
		}
		if g.broken == nil {
			g.broken = fmt.Errorf("%w: worker %d: %w", ErrGroupBroken, rank, ctx.Err())
		}
		r.err = g.broken
		close(r.done)
		return nil, ctx.Err()
	}
}

type localReducer struct {
	g    *localGroup
	rank int
}

func (l *localReducer) Size() int { return l.g.n }
func (l *localReducer) Rank() int { return l.rank }

func (l *localReducer) AllReduceSumInt64(ctx context.Context, buf []int64) error {
	res, err := l.g.exchange(ctx, l.rank, buf, func(in []any) (any, error) {
		sum := slices.Clone(in[0].([]int64))
		for _, x := range in[1:] {
			b := x.([]int64)
			if len(b) != len(sum) {
				return nil, fmt.Errorf("gbdt: all-reduce length mismatch: %d vs %d", len(b), len(sum))
			}
			for i, v := range b {
				sum[i] += v
			}
		}
		return sum, nil
	})
	if err != nil {
		return err
	}
	copy(buf, res.([]int64))
	return nil
}

func (l *localReducer) AllReduceSum(ctx context.Context, buf []float64) error {
	res, err := l.g.exchange(ctx, l.rank, buf, func(in []any) (any, error) {
		sum := slices.Clone(in[0].([]float64))
		for _, x := range in[1:] {
			b := x.([]float64)
			if len(b) != len(sum) {
				return nil, fmt.Errorf("gbdt: all-reduce length mismatch: %d vs %d", len(b), len(sum))
			}
			for i, v := range b {
				sum[i] += v
			}
		}
		return sum, nil
	})
	if err != nil {
		return err
	}
	copy(buf, res.([]float64))
	return nil
}

func (l *localReducer) AllGather(ctx context.Context, b []byte) ([][]byte, error) {
	res, err := l.g.exchange(ctx, l.rank, slices.Clone(b), func(in []any) (any, error) {
		out := make([][]byte, len(in))
		for i, x := range in {
			out[i] = x.([]byte)
		}
		return out, nil
	})
	if err != nil {
		return nil, err
	}
	return res.([][]byte), nil
}

// NewContextReducer adapts a train.Context (the collectives of a
// DataParallelTrainer worker group) to an AllReducer. Integer sums go
// through AllGather and are added up in rank order on every worker, so they
// are exact and identical everywhere; float sums use the context's
// AllReduce.
func NewContextReducer(tc train.Context) AllReducer { return &contextReducer{tc: tc} }

type contextReducer struct{ tc train.Context }

func (c *contextReducer) Size() int { return c.tc.WorldSize() }
func (c *contextReducer) Rank() int { return c.tc.WorldRank() }

func (c *contextReducer) AllReduceSum(ctx context.Context, buf []float64) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	return c.tc.AllReduce(buf, train.Sum)
}

func (c *contextReducer) AllGather(ctx context.Context, b []byte) ([][]byte, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	return c.tc.AllGather(b)
}

func (c *contextReducer) AllReduceSumInt64(ctx context.Context, buf []int64) error {
	b := make([]byte, 8*len(buf))
	for i, v := range buf {
		binary.LittleEndian.PutUint64(b[8*i:], uint64(v))
	}
	all, err := c.AllGather(ctx, b)
	if err != nil {
		return err
	}
	clear(buf)
	for r, part := range all {
		if len(part) != len(b) {
			return fmt.Errorf("gbdt: all-reduce length mismatch: worker %d sent %d bytes, want %d", r, len(part), len(b))
		}
		for i := range buf {
			buf[i] += int64(binary.LittleEndian.Uint64(part[8*i:]))
		}
	}
	return nil
}
