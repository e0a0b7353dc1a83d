package data

import (
	"context"

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
// them. ok is false once ch is closed; err is set when ctx ends.
func recv[T any](ctx context.Context, ch <-chan T) (v T, ok bool, err error) {
	select {
	case v, ok = <-ch:
		return v, ok, nil
	default:
	}
	ref := waitTask.Remote(ctx, func(tctx context.Context) error {
		select {
		case v, ok = <-ch:
			return nil
		case <-tctx.Done():
			return tctx.Err()
		}
	})
	if _, err := core.Get(ctx, ref); err != nil {
		_ = core.Cancel(ref)
		var zero T
		if ctx.Err() != nil {
			return zero, false, ctx.Err()
		}
		return zero, false, err
	}
	return v, ok, nil
}
