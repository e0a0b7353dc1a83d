package core_test

import (
	"context"
	"errors"
	"fmt"
	"os"
	"testing"
	"time"

	"github.com/goray/goray/core"
)

var sharedPoint = &Point{X: 1}

var movePoint = core.Func1("test.encodeAll.move", func(ctx context.Context, p *Point) (*Point, error) {
	p.X += 100 // a copy on a cluster: the caller's value must not change
	return sharedPoint, nil
})

var invalidRow = core.Func1("test.encodeAll.invalid", func(ctx context.Context, row int) (int, error) {
	return 0, fmt.Errorf("%w: row %d", core.ErrInvalidInput, row)
})

type Box struct{ P *Point }

var boxClass = core.Actor1("test.encodeAll.Box", func(ctx context.Context, p *Point) (*Box, error) {
	p.Y = -1
	return &Box{P: p}, nil
})

var boxGet = core.Method1("test.encodeAll.Box.Get", func(b *Box, ctx context.Context, when time.Time) (*Point, error) {
	b.P.Tag = when.Format(time.RFC3339Nano)
	return b.P, nil
})

// In encode-all mode every call crosses the codec: arguments and results
// are copies, errors come back as RemoteError with their categories.
func TestEncodeAllCopiesAtEveryBoundary(t *testing.T) {
	ctx := setup(t, core.WithEncodeAll())
	p := &Point{X: 1, Tag: "caller"}
	got, err := core.Get(ctx, movePoint.Remote(ctx, p))
	if err != nil {
		t.Fatal(err)
	}
	if p.X != 1 {
		t.Errorf("the task changed the caller's argument: X=%v", p.X)
	}
	if got == sharedPoint || *got != *sharedPoint {
		t.Errorf("result %p %+v: want a copy of %p %+v", got, got, sharedPoint, sharedPoint)
	}

	_, err = core.Get(ctx, invalidRow.Remote(ctx, 7))
	var re *core.RemoteError
	if !errors.Is(err, core.ErrTaskFailed) || !errors.Is(err, core.ErrInvalidInput) || !errors.As(err, &re) {
		t.Fatalf("error %v (%T): want ErrTaskFailed, ErrInvalidInput and a RemoteError inside", err, err)
	}
	if re.Message != "invalid input: row 7" {
		t.Errorf("remote message %q", re.Message)
	}

	start := &Point{X: 5}
	h, err := boxClass.Remote(ctx, start)
	if err != nil {
		t.Fatal(err)
	}
	when := time.Date(2026, 1, 2, 3, 4, 5, 6, time.UTC)
	bp, err := core.Get(ctx, boxGet.Remote(ctx, h, when))
	if err != nil {
		t.Fatal(err)
	}
	if start.Y != 0 {
		t.Errorf("the constructor changed the caller's argument: %+v", start)
	}
	if bp.X != 5 || bp.Y != -1 || bp.Tag != "2026-01-02T03:04:05.000000006Z" {
		t.Errorf("method result %+v", bp)
	}
	bp.X = 99
	if again, err := core.Get(ctx, boxGet.Remote(ctx, h, when)); err != nil || again.X != 5 {
		t.Errorf("changing a result reached the actor's state: %+v %v", again, err)
	}

	put := &Point{X: 3}
	r, err := core.Put(ctx, put)
	if err != nil {
		t.Fatal(err)
	}
	put.X = 4
	if v, err := core.Get(ctx, r); err != nil || v == put || v.X != 3 {
		t.Errorf("Put kept the caller's pointer: %p %+v (caller %p)", v, v, put)
	}
}

// LocalOnly registrations keep the in-process path and are counted.
func TestEncodeAllBypassesLocalOnly(t *testing.T) {
	ctx := setup(t, core.WithEncodeAll())
	before := core.EncodeAllBypassed()["function test.reg.localHandler"]
	if v, err := core.Get(ctx, localHandler.Remote(ctx, Handler{Fn: func(x int) int { return x + 1 }})); err != nil || v != 3 {
		t.Fatalf("got %d, %v", v, err)
	}
	if n := core.EncodeAllBypassed()["function test.reg.localHandler"]; n != before+1 {
		t.Fatalf("bypass count %d, want %d", n, before+1)
	}
	// A crash is still a crash, retried like any other.
	if _, err := core.Get(ctx, statusPanic.Remote(ctx, 0)); !errors.Is(err, core.ErrWorkerCrashed) {
		t.Fatalf("panic in encode-all mode: %v", err)
	}
}

// The normal mode passes values in-process (and encode-all is off).
func TestNormalModeDoesNotCopy(t *testing.T) {
	if os.Getenv("GORAY_ENCODE_ALL") == "1" {
		t.Skip("GORAY_ENCODE_ALL=1: every runtime encodes")
	}
	ctx := setup(t)
	p := &Point{X: 1}
	got, err := core.Get(ctx, movePoint.Remote(ctx, p))
	if err != nil {
		t.Fatal(err)
	}
	if p.X != 101 || got != sharedPoint {
		t.Fatalf("normal mode copied: X=%v, same result pointer %v", p.X, got == sharedPoint)
	}
	sharedPoint.X = 1
}

func BenchmarkSyncTaskEncodeAll(b *testing.B) {
	core.Shutdown()
	if err := core.Init(core.WithEncodeAll()); err != nil {
		b.Fatal(err)
	}
	b.Cleanup(core.Shutdown)
	ctx := context.Background()
	b.ReportAllocs()
	for i := 0; b.Loop(); i++ {
		if _, err := core.Get(ctx, benchNoop.Remote(ctx, i)); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkActorCallsEncodeAll(b *testing.B) {
	core.Shutdown()
	if err := core.Init(core.WithEncodeAll()); err != nil {
		b.Fatal(err)
	}
	b.Cleanup(core.Shutdown)
	ctx := context.Background()
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

func BenchmarkPutGetSmallEncodeAll(b *testing.B) {
	core.Shutdown()
	if err := core.Init(core.WithEncodeAll()); err != nil {
		b.Fatal(err)
	}
	b.Cleanup(core.Shutdown)
	ctx := context.Background()
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
