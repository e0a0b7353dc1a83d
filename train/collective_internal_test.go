package train

import (
	"context"
	"sync"
	"testing"
	"time"
)

// Values whose float64 sum depends on the order of addition: in rank
// order (1 + 1e16) - 1e16 is 0, in reverse order (-1e16 + 1e16) + 1 is 1.
var orderSensitive = []float64{1, 1e16, -1e16}

// arriveInReverse makes the calls of a 3-worker round arrive rank 2 first,
// then 1, then 0: each starts once the previous one has been deposited
// (arrived reports how many calls the pending round holds).
func arriveInReverse(t *testing.T, call func(rank int) ([]float64, error), arrived func() int) [][]float64 {
	t.Helper()
	out := make([][]float64, 3)
	errs := make([]error, 3)
	var wg sync.WaitGroup
	for i, rank := range []int{2, 1, 0} {
		wg.Go(func() { out[rank], errs[rank] = call(rank) })
		if i == 2 {
			break
		}
		deadline := time.Now().Add(10 * time.Second)
		for arrived() < i+1 {
			if time.Now().After(deadline) {
				t.Fatalf("rank %d's call never arrived", rank)
			}
			time.Sleep(time.Millisecond)
		}
	}
	wg.Wait()
	for r, err := range errs {
		if err != nil {
			t.Fatalf("rank %d: %v", r, err)
		}
	}
	return out
}

// Reductions combine in rank order, not arrival order: every group, local
// or actor-backed, gives the result of the rank-order sum.
func TestReductionsAreInRankOrder(t *testing.T) {
	want := (orderSensitive[0] + orderSensitive[1]) + orderSensitive[2]
	if rev := (orderSensitive[2] + orderSensitive[1]) + orderSensitive[0]; rev == want {
		t.Fatal("test values are not order-sensitive")
	}
	args := func(rank int) collectiveArgs {
		return collectiveArgs{Seq: 1, Rank: rank, Kind: kindAllReduce, Op: Sum, Vals: []float64{orderSensitive[rank]}}
	}
	t.Run("local", func(t *testing.T) {
		lg, _ := newLocalGroup(3)
		out := arriveInReverse(t, func(rank int) ([]float64, error) {
			res, err := lg.exchange(t.Context(), args(rank))
			return res.Vals, err
		}, func() int {
			lg.mu.Lock()
			defer lg.mu.Unlock()
			return lg.cur.arrived
		})
		for r, v := range out {
			if v[0] != want {
				t.Errorf("rank %d: sum %v, want the rank-order sum %v", r, v[0], want)
			}
		}
	})
	t.Run("actor", func(t *testing.T) {
		g := &group{size: 3, rounds: map[int]*round{}, aborted: make(chan struct{})}
		out := arriveInReverse(t, func(rank int) ([]float64, error) {
			res, err := g.call(context.Background(), args(rank))
			return res.Vals, err
		}, func() int {
			g.mu.Lock()
			defer g.mu.Unlock()
			if r := g.rounds[1]; r != nil {
				return r.arrived
			}
			return 0
		})
		for r, v := range out {
			if v[0] != want {
				t.Errorf("rank %d: sum %v, want the rank-order sum %v", r, v[0], want)
			}
		}
	})
}
