package core_test

import (
	"context"
	"fmt"
	"testing"

	"github.com/goray/goray/core"
)

var benchNoop = core.Func1("test.bench.noop", func(ctx context.Context, x int) (int, error) { return x, nil })

// Every benchmark here times the whole round trip: an operation counts once
// its result has been fetched with Get inside the timed region, so the
// figures are comparable with bench/core's table.

// BenchmarkSyncTask is one task at a time: submit, Get, repeat.
func BenchmarkSyncTask(b *testing.B) {
	ctx := setupB(b)
	b.ReportAllocs()
	for i := 0; b.Loop(); i++ {
		r := benchNoop.Remote(ctx, i)
		if _, err := core.Get(ctx, r); err != nil {
			b.Fatal(err)
		}
		r.Release()
	}
}

// BenchmarkAsyncTasks keeps a window of tasks in flight from one submitter:
// each iteration submits a task and, once the window is full, Gets the
// oldest. The remaining results are fetched before the timer stops.
func BenchmarkAsyncTasks(b *testing.B) {
	for _, window := range []int{16, 256} {
		b.Run(fmt.Sprintf("window=%d", window), func(b *testing.B) {
			ctx := setupB(b)
			windowed(b, ctx, window, func(i int) core.Ref[int] { return benchNoop.Remote(ctx, i) })
		})
	}
}

// BenchmarkActorCallsAsync is BenchmarkAsyncTasks for calls on one actor.
func BenchmarkActorCallsAsync(b *testing.B) {
	for _, window := range []int{16, 256} {
		b.Run(fmt.Sprintf("window=%d", window), func(b *testing.B) {
			ctx := setupB(b)
			h, err := counterClass.Remote(ctx, 0)
			if err != nil {
				b.Fatal(err)
			}
			windowed(b, ctx, window, func(int) core.Ref[int] { return counterIncr.Remote(ctx, h) })
		})
	}
}

// windowed runs b.N submissions with at most window results outstanding and
// fetches every result inside the timed region.
func windowed(b *testing.B, ctx context.Context, window int, submit func(i int) core.Ref[int]) {
	b.Helper()
	ring := make([]core.Ref[int], window)
	get := func(r core.Ref[int]) {
		if _, err := core.Get(ctx, r); err != nil {
			b.Fatal(err)
		}
		r.Release()
	}
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if i >= window {
			get(ring[i%window])
		}
		ring[i%window] = submit(i)
	}
	for i := max(0, b.N-window); i < b.N; i++ {
		get(ring[i%window])
	}
}

// BenchmarkPutGetSmall is a Put of an int followed by its Get.
func BenchmarkPutGetSmall(b *testing.B) {
	ctx := setupB(b)
	b.ReportAllocs()
	for i := 0; b.Loop(); i++ {
		r, err := core.Put(ctx, i)
		if err != nil {
			b.Fatal(err)
		}
		if _, err := core.Get(ctx, r); err != nil {
			b.Fatal(err)
		}
		r.Release()
	}
}

func setupB(b *testing.B) context.Context {
	b.Helper()
	core.Shutdown()
	if err := core.Init(); err != nil {
		b.Fatal(err)
	}
	b.Cleanup(core.Shutdown)
	return context.Background()
}
