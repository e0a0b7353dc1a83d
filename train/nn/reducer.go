package nn

import (
	"context"
	"fmt"
	"sync"
)

// NewInProcessGroup returns n AllReducers that average with each other, for n
// workers running as goroutines of one process (tests, single-machine runs).
// Each AllReduceMean call waits for the other n-1 workers' calls; the sum is
// taken in worker order, so the result does not depend on arrival order.
func NewInProcessGroup(n int) []AllReducer {
	g := &inProcGroup{n: n, vecs: make([][]float64, n)}
	g.cond = sync.NewCond(&g.mu)
	rs := make([]AllReducer, n)
	for i := range rs {
		rs[i] = &inProcReducer{g: g, rank: i}
	}
	return rs
}

type inProcGroup struct {
	n    int
	mu   sync.Mutex
	cond *sync.Cond
	vecs [][]float64
	in   int    // vectors deposited this round
	out  int    // workers that have read the result this round
	gen  uint64 // round number
	mean []float64
	err  error
}

type inProcReducer struct {
	g    *inProcGroup
	rank int
}

func (r *inProcReducer) AllReduceMean(ctx context.Context, v []float64) error {
	g := r.g
	g.mu.Lock()
	defer g.mu.Unlock()
	for g.out > 0 { // previous round still being read
		g.cond.Wait()
	}
	gen := g.gen
	g.vecs[r.rank] = v
	g.in++
	if g.in == g.n {
		g.mean, g.err = make([]float64, len(v)), nil
		for rank, w := range g.vecs {
			if len(w) != len(v) {
				g.err = fmt.Errorf("nn: all-reduce: worker %d sent %d values, worker %d sent %d", rank, len(w), r.rank, len(v))
				break
			}
			for i, x := range w {
				g.mean[i] += x
			}
		}
		for i := range g.mean {
			g.mean[i] /= float64(g.n)
		}
		g.in, g.out, g.gen = 0, g.n, g.gen+1
		g.cond.Broadcast()
	}
	for g.gen == gen {
		if err := ctx.Err(); err != nil {
			return err
		}
		g.cond.Wait()
	}
	err := g.err
	if err == nil {
		copy(v, g.mean)
	}
	g.out--
	if g.out == 0 {
		clear(g.vecs)
		g.cond.Broadcast()
	}
	return err
}
