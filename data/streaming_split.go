package data

import (
	"context"
	"fmt"
	"sync"

	"github.com/goray/goray/core"
)

// StreamingSplit returns n disjoint shards of ds for n training workers.
// One execution of ds feeds all shards: its blocks go round-robin to the
// shards (block i to shard i mod n) as they are produced, so the shards can
// be consumed concurrently (each by one worker) or one after another. Each
// new iteration of a shard joins the next epoch: the k-th iteration of every
// shard shares the k-th execution.
//
// With Equal(), as Ray's equal=True, every block is cut into n row slices
// instead, one per shard, so shards get the same number of rows (within
// one row per block) even when ds has fewer blocks than shards.
func (ds *Dataset) StreamingSplit(n int, opts ...SplitOption) ([]*Dataset, error) {
	if n <= 0 {
		return nil, invalid("StreamingSplit: n = %d, must be > 0", n)
	}
	c := &splitCoord{ds: ds, n: n, epochs: map[int]*splitEpoch{}, next: make([]int, n)}
	for _, o := range opts {
		o(c)
	}
	out := make([]*Dataset, n)
	for i := range out {
		out[i] = newDataset(&node{kind: kindShard, name: fmt.Sprintf("StreamingSplit[%d/%d]", i, n), shard: func(ctx context.Context, ex *execution, emit func(blockRef) bool) error {
			return c.consume(ctx, i, emit)
		}}, ds.dc)
	}
	return out, nil
}

// SplitOption configures StreamingSplit.
type SplitOption func(*splitCoord)

// Equal makes StreamingSplit give every shard the same number of rows.
func Equal() SplitOption { return func(c *splitCoord) { c.equal = true } }

type splitCoord struct {
	ds     *Dataset
	n      int
	equal  bool
	mu     sync.Mutex
	epochs map[int]*splitEpoch
	next   []int // next epoch per shard
}

type splitEpoch struct {
	mu       sync.Mutex
	cond     *sync.Cond
	queues   [][]blockRef
	finished bool
	err      error
	left     int // shards that have not finished this epoch
	cancel   context.CancelFunc
}

func (c *splitCoord) epochFor(shard int) (*splitEpoch, int) {
	c.mu.Lock()
	defer c.mu.Unlock()
	k := c.next[shard]
	c.next[shard]++
	e, ok := c.epochs[k]
	if !ok {
		e = &splitEpoch{queues: make([][]blockRef, c.n), left: c.n}
		e.cond = sync.NewCond(&e.mu)
		c.epochs[k] = e
		// The epoch's execution outlives any one consumer's ctx.
		ctx, cancel := context.WithCancel(context.Background())
		e.cancel = cancel
		go c.produce(ctx, e)
	}
	return e, k
}

func (c *splitCoord) produce(ctx context.Context, e *splitEpoch) {
	refs := 0
	dc := c.ds.dc.fill()
	ex := newExecution(ctx, dc)
	out := ex.stream(ex.ctx, c.ds.node)
	for it := range out {
		// Queued blocks live in the object store (which spills); they leave
		// the in-flight budget so that shards consumed one after another
		// cannot deadlock.
		ex.budget.add(-it.b.Size)
		if c.equal {
			parts, err := slicesOf(ctx, it.b, c.n, refs)
			if err != nil {
				ex.fail(fmt.Errorf("StreamingSplit: %w", err))
				break
			}
			if it.owned {
				it.b.Ref.Release() // the slices hold what they need
			}
			e.mu.Lock()
			for shard, p := range parts {
				if p.Rows > 0 {
					e.queues[shard] = append(e.queues[shard], p)
				}
			}
			e.cond.Broadcast()
			e.mu.Unlock()
			refs++
			continue
		}
		e.mu.Lock()
		e.queues[refs%c.n] = append(e.queues[refs%c.n], it.b)
		e.cond.Broadcast()
		e.mu.Unlock()
		refs++
	}
	ex.cancel()
	ex.wg.Wait()
	e.mu.Lock()
	e.finished = true
	e.err = ex.firstErr()
	e.cond.Broadcast()
	e.mu.Unlock()
}

func (c *splitCoord) consume(ctx context.Context, shard int, emit func(blockRef) bool) error {
	e, k := c.epochFor(shard)
	defer func() {
		c.mu.Lock()
		e.mu.Lock()
		e.left--
		if e.left == 0 {
			e.cancel()
			delete(c.epochs, k)
		}
		e.mu.Unlock()
		c.mu.Unlock()
	}()
	stop := context.AfterFunc(ctx, func() {
		e.mu.Lock()
		e.cond.Broadcast()
		e.mu.Unlock()
	})
	defer stop()
	for {
		e.mu.Lock()
		for len(e.queues[shard]) == 0 && !e.finished && ctx.Err() == nil {
			e.cond.Wait()
		}
		if err := ctx.Err(); err != nil {
			e.mu.Unlock()
			return err
		}
		if len(e.queues[shard]) == 0 {
			err := e.err
			e.mu.Unlock()
			return err
		}
		r := e.queues[shard][0]
		e.queues[shard] = e.queues[shard][1:]
		e.mu.Unlock()
		if !emit(r) {
			return nil
		}
	}
}

// slicesOf cuts block b into n contiguous row slices, one per shard. The
// remainder rows go to shards chosen by rotating with the block's index, so
// shards stay within one row of each other per block.
func slicesOf(ctx context.Context, b blockRef, n, index int) ([]blockRef, error) {
	blk, err := core.Get(ctx, b.Ref)
	if err != nil {
		return nil, err
	}
	rows := blk.Rec.NumRows()
	base, extra := rows/int64(n), rows%int64(n)
	out := make([]blockRef, n)
	var lo int64
	for j := 0; j < n; j++ {
		shard := (j + index) % n
		size := base
		if int64(j) < extra {
			size++
		}
		if size == 0 {
			continue
		}
		part := blk.Rec.NewSlice(lo, lo+size)
		ref, err := putBlock(ctx, part)
		if err != nil {
			return nil, err
		}
		out[shard] = ref
		lo += size
	}
	return out, nil
}
