package data

import (
	"context"
	"errors"
	"sync"

	"github.com/goray/goray/core"
)

// waitTask runs a blocking wait as a zero-CPU core task.
var waitTask = core.Func1("goray.data.wait", func(ctx context.Context, wait func(context.Context) error) (struct{}, error) {
	return struct{}{}, wait(ctx)
}, core.NumCPUs(0), core.LocalOnly())

// recv receives from ch. When that would block, it waits through core.Get
// on a zero-CPU task, so that a caller running inside a core task or actor
// (a training worker holding its CPUs for life) lends its CPUs back while it
// waits, exactly as it would in core.Get: the data tasks it waits for need
// them. ok is false once ch is closed; err is set when ctx ends (or the wait
// task fails), and then no value was received.
//
// The value crosses from the task to the caller through a handoff that one
// of the two closes: the task delivers what it received unless the caller
// has already given up, in which case the task hands the value to drop (the
// caller's way to release it: a block must not be swallowed). drop may run
// on the task's goroutine after recv has returned.
func recv[T any](ctx context.Context, ch <-chan T, drop func(T)) (v T, ok bool, err error) {
	select {
	case v, ok = <-ch:
		return v, ok, nil
	default:
	}
	h := &handoff[T]{}
	ref := waitTask.Remote(ctx, func(tctx context.Context) error {
		select {
		case v, ok := <-ch:
			h.deliver(v, ok, drop)
			return nil
		case <-tctx.Done():
			return tctx.Err()
		}
	})
	defer ref.Release()
	_, err = core.Get(ctx, ref)
	if err != nil {
		_ = core.Cancel(ref)
		if ctx.Err() != nil {
			err = ctx.Err()
		}
		h.abandon(drop)
		var zero T
		return zero, false, err
	}
	v, ok, delivered := h.take()
	if !delivered {
		// The task returns nil only after delivering.
		var zero T
		return zero, false, errors.New("data: internal error: wait task finished without a value")
	}
	return v, ok, nil
}

// handoff passes one received value from a wait task to its caller. The
// first of deliver and abandon decides who owns the value.
type handoff[T any] struct {
	mu        sync.Mutex
	v         T
	ok        bool
	delivered bool
	abandoned bool
}

// deliver stores a received value, or drops it if the caller has gone.
func (h *handoff[T]) deliver(v T, ok bool, drop func(T)) {
	h.mu.Lock()
	if !h.abandoned {
		h.v, h.ok, h.delivered = v, ok, true
		h.mu.Unlock()
		return
	}
	h.mu.Unlock()
	if ok && drop != nil {
		drop(v)
	}
}

// abandon marks the caller gone; a value delivered already is dropped.
func (h *handoff[T]) abandon(drop func(T)) {
	h.mu.Lock()
	h.abandoned = true
	v, ok, delivered := h.v, h.ok, h.delivered
	var zero T
	h.v = zero
	h.mu.Unlock()
	if delivered && ok && drop != nil {
		drop(v)
	}
}

func (h *handoff[T]) take() (T, bool, bool) {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.v, h.ok, h.delivered
}
