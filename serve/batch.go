package serve

import (
	"context"
	"fmt"
	"sync"
	"time"
)

// BatchOptions configures a Batch.
type BatchOptions struct {
	// MaxBatchSize is the most items one call of the batch function gets
	// (default 10).
	MaxBatchSize int
	// BatchWaitTimeout is how long the first item of a batch waits for
	// more before the batch runs anyway (default 10ms).
	BatchWaitTimeout time.Duration
}

// Batch groups concurrent calls into one call of a batch function, like
// Ray Serve's @serve.batch: requests arriving within BatchWaitTimeout of
// each other (up to MaxBatchSize) are scored together. Make one per
// replica (in the Deployment's New) and Close it in the Handler's Close.
//
// Batches run one at a time, in arrival order. fn must return one output
// per input, in order; its error fails every call of the batch.
type Batch[In, Out any] struct {
	fn   func(ctx context.Context, in []In) ([]Out, error)
	opts BatchOptions

	items chan *batchItem[In, Out]
	quit  chan struct{}
	done  chan struct{}
	once  sync.Once
}

type batchItem[In, Out any] struct {
	ctx context.Context
	in  In
	out Out
	err error
	ok  chan struct{}
}

// NewBatch starts a Batch around fn. Close stops it.
func NewBatch[In, Out any](fn func(ctx context.Context, in []In) ([]Out, error), opts BatchOptions) *Batch[In, Out] {
	if opts.MaxBatchSize <= 0 {
		opts.MaxBatchSize = 10
	}
	if opts.BatchWaitTimeout <= 0 {
		opts.BatchWaitTimeout = 10 * time.Millisecond
	}
	b := &Batch[In, Out]{fn: fn, opts: opts,
		items: make(chan *batchItem[In, Out]), quit: make(chan struct{}), done: make(chan struct{})}
	go b.run()
	return b
}

// Call adds in to the next batch and waits for its output.
func (b *Batch[In, Out]) Call(ctx context.Context, in In) (Out, error) {
	it := &batchItem[In, Out]{ctx: ctx, in: in, ok: make(chan struct{})}
	var zero Out
	select {
	case b.items <- it:
	case <-b.quit:
		return zero, ErrStopped
	case <-ctx.Done():
		return zero, ctx.Err()
	}
	select {
	case <-it.ok:
		return it.out, it.err
	case <-ctx.Done():
		return zero, ctx.Err()
	}
}

// Close stops the batcher once the batch being collected or run is done;
// later calls fail with ErrStopped.
func (b *Batch[In, Out]) Close() error {
	b.once.Do(func() { close(b.quit) })
	<-b.done
	return nil
}

func (b *Batch[In, Out]) run() {
	defer close(b.done)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	timer := time.NewTimer(time.Hour)
	timer.Stop()
	batch := make([]*batchItem[In, Out], 0, b.opts.MaxBatchSize)
	for {
		select {
		case it := <-b.items:
			batch = append(batch[:0], it)
		case <-b.quit:
			return
		}
		timer.Reset(b.opts.BatchWaitTimeout)
	collect:
		for len(batch) < b.opts.MaxBatchSize {
			select {
			case it := <-b.items:
				batch = append(batch, it)
			case <-timer.C:
				break collect
			case <-b.quit:
				break collect
			}
		}
		timer.Stop()
		b.runBatch(ctx, batch)
		clear(batch)
	}
}

func (b *Batch[In, Out]) runBatch(ctx context.Context, batch []*batchItem[In, Out]) {
	ins := make([]In, 0, len(batch))
	live := batch[:0:0]
	for _, it := range batch {
		if it.ctx.Err() != nil { // its caller gave up; don't score it
			continue
		}
		ins = append(ins, it.in)
		live = append(live, it)
	}
	if len(live) == 0 {
		return
	}
	outs, err := b.callSafely(ctx, ins)
	if err == nil && len(outs) != len(ins) {
		err = fmt.Errorf("serve: batch function returned %d outputs for %d inputs", len(outs), len(ins))
	}
	for i, it := range live {
		if err != nil {
			it.err = err
		} else {
			it.out = outs[i]
		}
		close(it.ok)
	}
}

func (b *Batch[In, Out]) callSafely(ctx context.Context, ins []In) (outs []Out, err error) {
	defer func() {
		if p := recover(); p != nil {
			err = fmt.Errorf("%w: batch function panicked: %v", ErrReplicaFailed, p)
		}
	}()
	return b.fn(ctx, ins)
}
