package core_test

// Actor behaviour checked against what Ray documents for its actors: kill,
// restarts, retries, argument resolution and ordering, cancellation,
// namespaces, lifetimes and resources.

import (
	"context"
	"errors"
	"runtime"
	"sync/atomic"
	"testing"
	"time"

	"github.com/goray/goray/core"
)

// gcUntil runs the garbage collector until cond holds or about five
// seconds pass, and reports whether it held.
func gcUntil(cond func() bool) bool {
	for range 100 {
		if cond() {
			return true
		}
		runtime.GC()
		time.Sleep(50 * time.Millisecond)
	}
	return cond()
}

// Blocker's Block call runs until its context ends.
type Blocker struct{ calls atomic.Int64 }

var (
	blockerStarted = make(chan struct{}, 16)
	blockerBuilt   atomic.Int64
)

var blockerClass = core.Actor0("parity.Blocker", func(ctx context.Context) (*Blocker, error) {
	blockerBuilt.Add(1)
	return &Blocker{}, nil
})
var blockerBlock = core.Method0("parity.Blocker.Block", func(b *Blocker, ctx context.Context) (int, error) {
	b.calls.Add(1)
	blockerStarted <- struct{}{}
	select {
	case <-ctx.Done():
		return 0, ctx.Err()
	case <-time.After(time.Minute):
		return 1, nil
	}
})
var blockerCalls = core.Method0("parity.Blocker.Calls", func(b *Blocker, ctx context.Context) (int64, error) {
	return b.calls.Load(), nil
})

// Ray: a task running on an actor that is killed fails with RayActorError
// (here ErrActorDied), not with the error the call returned once its
// context was cancelled.
func TestParityKillFailsRunningCallWithActorDied(t *testing.T) {
	ctx := setup(t)
	h, err := blockerClass.Remote(ctx)
	if err != nil {
		t.Fatal(err)
	}
	running := blockerBlock.Remote(ctx, h)
	<-blockerStarted
	queued := blockerBlock.Remote(ctx, h)
	if err := core.Kill(h); err != nil {
		t.Fatal(err)
	}
	for name, r := range map[string]core.Ref[int]{"running": running, "queued": queued} {
		_, err := core.Get(ctx, r)
		if !errors.Is(err, core.ErrActorDied) {
			t.Fatalf("%s call on a killed actor: %v, want ErrActorDied", name, err)
		}
		if errors.Is(err, core.ErrTaskFailed) {
			t.Fatalf("%s call on a killed actor reads as an application error: %v", name, err)
		}
	}
}

// Holder keeps a ref to a large object and a value watched by a cleanup.
type Holder struct {
	big    core.Ref[[]byte]
	marker *[64]byte
}

var holderFreed atomic.Bool

var holderClass = core.Actor0("parity.Holder", func(ctx context.Context) (*Holder, error) {
	big, err := core.Put(ctx, make([]byte, 256<<10))
	if err != nil {
		return nil, err
	}
	h := &Holder{big: big, marker: new([64]byte)}
	runtime.AddCleanup(h.marker, func(*atomic.Bool) { holderFreed.Store(true) }, &holderFreed)
	return h, nil
})
var holderSize = core.Method0("parity.Holder.Size", func(h *Holder, ctx context.Context) (int, error) {
	v, err := core.Get(ctx, h.big)
	return len(v), err
})

// Ray frees a killed actor's state (its process exits, and the objects it
// owned go): a handle kept afterwards must not keep the instance alive.
func TestParityKillReleasesInstance(t *testing.T) {
	ctx := setup(t)
	holderFreed.Store(false)
	h, err := holderClass.Remote(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if n, err := core.Get(ctx, holderSize.Remote(ctx, h)); err != nil || n != 256<<10 {
		t.Fatalf("size: %v %v", n, err)
	}
	if got := core.ObjectStoreStats().Objects; got != 1 {
		t.Fatalf("store objects before kill: %d, want 1", got)
	}
	if err := core.KillAndWait(ctx, h); err != nil {
		t.Fatal(err)
	}
	if !gcUntil(func() bool { return holderFreed.Load() && core.ObjectStoreStats().Objects == 0 }) {
		t.Fatalf("after Kill with the handle held: instance freed %v, store objects %d",
			holderFreed.Load(), core.ObjectStoreStats().Objects)
	}
	runtime.KeepAlive(h)
}
