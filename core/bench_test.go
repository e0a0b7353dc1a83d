package core_test

import (
	"context"
	"testing"

	"github.com/goray/goray/core"
)

var benchNoop = core.Func1("test.bench.noop", func(ctx context.Context, x int) (int, error) { return x, nil })

func BenchmarkSyncTask(b *testing.B) {
	ctx := setupB(b)
	b.ReportAllocs()
	for i := 0; b.Loop(); i++ {
		if _, err := core.Get(ctx, benchNoop.Remote(ctx, i)); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkAsyncTasks(b *testing.B) {
	ctx := setupB(b)
	b.ReportAllocs()
	refs := make([]core.Ref[int], 0, b.N)
	for i := 0; b.Loop(); i++ {
		refs = append(refs, benchNoop.Remote(ctx, i))
	}
	if _, err := core.GetAll(ctx, refs); err != nil {
		b.Fatal(err)
	}
}

func BenchmarkActorCallsAsync(b *testing.B) {
	ctx := setupB(b)
	h, err := counterClass.Remote(ctx, 0)
	if err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	var last core.Ref[int]
	for b.Loop() {
		last = counterIncr.Remote(ctx, h)
	}
	if _, err := core.Get(ctx, last); err != nil {
		b.Fatal(err)
	}
}

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
