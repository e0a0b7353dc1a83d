package core

import (
	"context"
	"fmt"
)

// Map runs fn over items on the runtime's scheduler, like Ray's drop-in
// multiprocessing.Pool.map: results come back in input order, and the first
// error (in completion order) cancels the calls still pending.
func Map[T, R any](ctx context.Context, fn *RemoteFunc1[T, R], items []T, opts ...FuncOption) ([]R, error) {
	f := fn
	if len(opts) > 0 {
		f = fn.Options(opts...)
	}
	refs := make([]Ref[R], len(items))
	for i, it := range items {
		refs[i] = f.Remote(ctx, it)
	}
	defer func() {
		for _, r := range refs {
			r.Release()
		}
	}()
	// Completions arrive on one channel, so the first failure is seen at
	// once whatever its position.
	doneCh := make(chan int, len(refs))
	for i, r := range refs {
		if r.h == nil {
			continue
		}
		defer r.h.obj.onDone(func() { doneCh <- i })()
	}
	for range refs {
		select {
		case i := <-doneCh:
			if _, err := refs[i].h.obj.result(); err != nil {
				cancelAll(refs)
				return nil, fmt.Errorf("core.Map %q item %d: %w", fn.name, i, err)
			}
		case <-ctx.Done():
			cancelAll(refs)
			return nil, ctx.Err()
		}
	}
	return GetAll(ctx, refs)
}

func cancelAll[R any](refs []Ref[R]) {
	for _, r := range refs {
		_ = Cancel(r)
	}
}
