package core_test

// Actor behaviour checked against what Ray documents for its actors: kill,
// restarts, retries, argument resolution and ordering, cancellation,
// namespaces, lifetimes and resources.

import (
	"context"
	"errors"
	"fmt"
	"runtime"
	"slices"
	"sync"
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

// StateHolder keeps a ref to a large object and a value watched by a cleanup.
type StateHolder struct {
	big    core.Ref[[]byte]
	marker *[64]byte
}

var holderFreed atomic.Bool

var holderClass = core.Actor0("parity.Holder", func(ctx context.Context) (*StateHolder, error) {
	big, err := core.Put(ctx, make([]byte, 256<<10))
	if err != nil {
		return nil, err
	}
	h := &StateHolder{big: big, marker: new([64]byte)}
	runtime.AddCleanup(h.marker, func(*atomic.Bool) { holderFreed.Store(true) }, &holderFreed)
	return h, nil
})
var holderSize = core.Method0("parity.Holder.Size", func(h *StateHolder, ctx context.Context) (int, error) {
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

// Phoenix's constructor panics while phoenixPanics is above zero.
type Phoenix struct{ gen int64 }

var (
	phoenixPanics atomic.Int64
	phoenixBuilt  atomic.Int64
	errNoConfig   = errors.New("no config")
	phoenixErrs   atomic.Int64 // constructor errors left to return
)

var phoenixClass = core.Actor0("parity.Phoenix", func(ctx context.Context) (*Phoenix, error) {
	n := phoenixBuilt.Add(1)
	if phoenixPanics.Add(-1) >= 0 {
		panic("constructor crash")
	}
	if phoenixErrs.Add(-1) >= 0 {
		return nil, errNoConfig
	}
	return &Phoenix{gen: n}, nil
})
var phoenixGen = core.Method0("parity.Phoenix.Gen", func(p *Phoenix, ctx context.Context) (int64, error) {
	return p.gen, nil
})

// Ray restarts an actor whose process dies in its constructor within
// max_restarts; a panic is goray's crash.
func TestParityConstructorPanicRestarts(t *testing.T) {
	ctx := setup(t)
	phoenixBuilt.Store(0)
	phoenixPanics.Store(2)
	phoenixErrs.Store(0)
	h, err := phoenixClass.Options(core.MaxRestarts(2)).Remote(ctx)
	if err != nil {
		t.Fatal(err)
	}
	r := phoenixGen.Remote(ctx, h) // queued while the constructor crashes
	if err := h.Ready(ctx); err != nil {
		t.Fatalf("Ready after two constructor crashes with MaxRestarts(2): %v", err)
	}
	if v, err := core.Get(ctx, r); err != nil || v != 3 {
		t.Fatalf("call: %v %v; want the third instance", v, err)
	}
	if n := h.Restarts(); n != 2 {
		t.Fatalf("restarts %d, want 2", n)
	}
}

// Out of restarts, the actor is dead and its calls fail with ErrActorDied
// carrying the constructor's panic.
func TestParityConstructorPanicOutOfRestarts(t *testing.T) {
	ctx := setup(t)
	phoenixBuilt.Store(0)
	phoenixPanics.Store(100)
	phoenixErrs.Store(0)
	h, err := phoenixClass.Options(core.MaxRestarts(1)).Remote(ctx)
	if err != nil {
		t.Fatal(err)
	}
	_, err = core.Get(ctx, phoenixGen.Remote(ctx, h))
	var te *core.TaskError
	if !errors.Is(err, core.ErrActorDied) || !errors.As(err, &te) || te.Panic != "constructor crash" {
		t.Fatalf("call on an actor whose constructor always panics: %v", err)
	}
	if err := h.Ready(ctx); !errors.Is(err, core.ErrActorDied) {
		t.Fatalf("Ready: %v", err)
	}
	if n := phoenixBuilt.Load(); n != 2 {
		t.Fatalf("constructor ran %d times, want 2 (MaxRestarts(1))", n)
	}
}

// Ray does not restart an actor whose constructor raised an application
// error, whatever max_restarts says: the actor is dead with that error.
func TestParityConstructorErrorIsNotRestarted(t *testing.T) {
	ctx := setup(t)
	phoenixBuilt.Store(0)
	phoenixPanics.Store(0)
	phoenixErrs.Store(1)
	h, err := phoenixClass.Options(core.MaxRestarts(3)).Remote(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if err := h.Ready(ctx); !errors.Is(err, core.ErrActorDied) || !errors.Is(err, errNoConfig) {
		t.Fatalf("Ready: %v", err)
	}
	if _, err := core.Get(ctx, phoenixGen.Remote(ctx, h)); !errors.Is(err, core.ErrActorDied) || !errors.Is(err, errNoConfig) {
		t.Fatalf("call: %v", err)
	}
	if n := phoenixBuilt.Load(); n != 1 {
		t.Fatalf("constructor ran %d times, want 1", n)
	}
}

func init() { core.RegisterError("parity.errNoConfig", errNoConfig) }

// Ray: ray.kill(actor, no_restart=False) kills the actor's process and
// restarts it within max_restarts; tasks running on it fail with
// RayActorError, queued ones run on the new instance. Out of restarts, the
// actor dies. The default (no_restart=True) never restarts.
func TestParityKillWithRestart(t *testing.T) {
	ctx := setup(t)
	blockerBuilt.Store(0)
	h, err := blockerClass.Options(core.MaxRestarts(1)).Remote(ctx)
	if err != nil {
		t.Fatal(err)
	}
	running := blockerBlock.Remote(ctx, h)
	<-blockerStarted
	queued := blockerCalls.Remote(ctx, h)
	if err := core.Kill(h, core.NoRestart(false)); err != nil {
		t.Fatal(err)
	}
	if _, err := core.Get(ctx, running); !errors.Is(err, core.ErrActorDied) {
		t.Fatalf("call running at the kill: %v, want ErrActorDied", err)
	}
	if n, err := core.Get(ctx, queued); err != nil || n != 0 {
		t.Fatalf("queued call on the restarted actor: %v %v, want 0 calls seen (fresh state)", n, err)
	}
	if got, built := h.Restarts(), blockerBuilt.Load(); got != 1 || built != 2 {
		t.Fatalf("restarts %d, constructor runs %d; want 1 and 2", got, built)
	}
	// No restart left: the same kill is final.
	if err := core.Kill(h, core.NoRestart(false)); err != nil {
		t.Fatal(err)
	}
	if _, err := core.Get(ctx, blockerCalls.Remote(ctx, h)); !errors.Is(err, core.ErrActorDied) {
		t.Fatalf("call after the restarts ran out: %v", err)
	}
	if got := h.Restarts(); got != 1 {
		t.Fatalf("restarts %d after the final kill, want 1", got)
	}
}

func TestParityKillDefaultsToNoRestart(t *testing.T) {
	ctx := setup(t)
	h, err := blockerClass.Options(core.MaxRestarts(5)).Remote(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if err := core.Kill(h); err != nil {
		t.Fatal(err)
	}
	if _, err := core.Get(ctx, blockerCalls.Remote(ctx, h)); !errors.Is(err, core.ErrActorDied) {
		t.Fatalf("call after a plain Kill of a restartable actor: %v", err)
	}
	if got := h.Restarts(); got != 0 {
		t.Fatalf("restarts %d, want 0", got)
	}
}

// Flaky's Try fails with errFlaky (or errOther) until it has been called
// more than n times.
type Flaky struct{ calls int }

var (
	errFlaky = errors.New("flaky")
	errOther = errors.New("other")
)

func init() {
	core.RegisterError("parity.errFlaky", errFlaky)
	core.RegisterError("parity.errOther", errOther)
}

var flakyClass = core.Actor0("parity.Flaky", func(ctx context.Context) (*Flaky, error) { return &Flaky{}, nil })
var flakyTry = core.Method2("parity.Flaky.Try", func(f *Flaky, ctx context.Context, n int, other bool) (int, error) {
	f.calls++
	if f.calls <= n {
		if other {
			return 0, errOther
		}
		return 0, fmt.Errorf("attempt %d: %w", f.calls, errFlaky)
	}
	return f.calls, nil
})

// Ray's retry_exceptions=[...] on an actor method: an error of a listed
// kind is retried up to max_task_retries; other errors fail at once.
func TestParityActorRetryOn(t *testing.T) {
	ctx := setup(t)
	cls := flakyClass.Options(core.MaxTaskRetries(3), core.RetryOn(errFlaky))
	h, err := cls.Remote(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if v, err := core.Get(ctx, flakyTry.Remote(ctx, h, 2, false)); err != nil || v != 3 {
		t.Fatalf("two flaky errors with MaxTaskRetries(3): %v %v, want success on the third attempt", v, err)
	}

	h, _ = cls.Remote(ctx)
	_, err = core.Get(ctx, flakyTry.Remote(ctx, h, 1, true))
	var te *core.TaskError
	if !errors.Is(err, core.ErrTaskFailed) || !errors.Is(err, errOther) || !errors.As(err, &te) || te.Attempts != 1 {
		t.Fatalf("an error of another kind: %v, want one attempt", err)
	}

	h, _ = flakyClass.Options(core.MaxTaskRetries(1), core.RetryOn(errFlaky)).Remote(ctx)
	_, err = core.Get(ctx, flakyTry.Remote(ctx, h, 10, false))
	if !errors.Is(err, errFlaky) || !errors.As(err, &te) || te.Attempts != 2 {
		t.Fatalf("always flaky with MaxTaskRetries(1): %v, want two attempts", err)
	}

	// Without RetryOn a returned error is never retried, MaxTaskRetries or not.
	h, _ = flakyClass.Options(core.MaxTaskRetries(3)).Remote(ctx)
	_, err = core.Get(ctx, flakyTry.Remote(ctx, h, 1, false))
	if !errors.Is(err, errFlaky) || !errors.As(err, &te) || te.Attempts != 1 {
		t.Fatalf("no RetryOn: %v, want one attempt", err)
	}

	// RetryExceptions(true) retries every returned error (retry_exceptions=True).
	h, _ = flakyClass.Options(core.MaxTaskRetries(2), core.RetryExceptions(true)).Remote(ctx)
	if v, err := core.Get(ctx, flakyTry.Remote(ctx, h, 2, true)); err != nil || v != 3 {
		t.Fatalf("RetryExceptions(true): %v %v", v, err)
	}
}

// A constructor error of a kind listed in RetryOn counts as a crash: the
// actor is restarted within MaxRestarts (Ray keeps such errors final; this
// is goray's opt-in).
func TestParityConstructorErrorRetryOn(t *testing.T) {
	ctx := setup(t)
	phoenixBuilt.Store(0)
	phoenixPanics.Store(0)
	phoenixErrs.Store(1)
	h, err := phoenixClass.Options(core.MaxRestarts(2), core.RetryOn(errNoConfig)).Remote(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if v, err := core.Get(ctx, phoenixGen.Remote(ctx, h)); err != nil || v != 2 {
		t.Fatalf("call: %v %v, want the second instance", v, err)
	}
	if n := h.Restarts(); n != 1 {
		t.Fatalf("restarts %d, want 1", n)
	}
}

// Ray's ray.cancel on an actor task: a queued task is removed and never
// runs; a running one is interrupted where the actor can be (here: its
// context is cancelled). Either fails with TaskCancelledError. force=True
// is refused for actor tasks.
func TestParityCancelActorCalls(t *testing.T) {
	ctx := setup(t)
	h, err := blockerClass.Remote(ctx)
	if err != nil {
		t.Fatal(err)
	}
	running := blockerBlock.Remote(ctx, h)
	<-blockerStarted
	queued := blockerBlock.Remote(ctx, h)
	if err := core.Cancel(queued); err != nil {
		t.Fatal(err)
	}
	short, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	if _, err := core.Get(short, queued); !errors.Is(err, core.ErrTaskCancelled) {
		t.Fatalf("cancelled queued call: %v, want ErrTaskCancelled while the running call still runs", err)
	}
	if err := core.Cancel(running, core.Force()); !errors.Is(err, core.ErrInvalidInput) {
		t.Fatalf("Force on an actor call: %v, want ErrInvalidInput", err)
	}
	if err := core.Cancel(running); err != nil {
		t.Fatal(err)
	}
	if _, err := core.Get(short, running); !errors.Is(err, core.ErrTaskCancelled) {
		t.Fatalf("cancelled running call: %v", err)
	}
	// The actor lives on; the cancelled queued call never ran.
	if n, err := core.Get(short, blockerCalls.Remote(ctx, h)); err != nil || n != 1 {
		t.Fatalf("calls run: %v %v, want 1", n, err)
	}
}

// Log records the order its calls ran in.
type Log struct{ seen []int }

var logClass = core.Actor0("parity.Log", func(ctx context.Context) (*Log, error) { return &Log{}, nil })
var logAdd = core.Method1("parity.Log.Add", func(l *Log, ctx context.Context, v int) (int, error) {
	l.seen = append(l.seen, v)
	return v, nil
})
var logSeen = core.Method0("parity.Log.Seen", func(l *Log, ctx context.Context) ([]int, error) {
	return append([]int(nil), l.seen...), nil
})

var (
	gateOpenCh = make(chan struct{})
	// gated returns v once the test closes gateOpenCh (or a minute passes).
	gated = core.Func1("parity.gated", func(ctx context.Context, v int) (int, error) {
		select {
		case <-gateOpenCh:
		case <-time.After(time.Minute):
		case <-ctx.Done():
			return 0, ctx.Err()
		}
		return v, nil
	})
	// logFrom makes a call on the actor from a task: another submitter.
	logFrom = core.Func2("parity.logFrom", func(ctx context.Context, h string, v int) (int, error) {
		a, err := core.GetActor[*Log](ctx, h)
		if err != nil {
			return 0, err
		}
		return core.Get(ctx, logAdd.Remote(ctx, a, v))
	})
)

// Ray resolves an actor task's ref arguments before the task goes to the
// actor. A call whose arguments are not ready holds back the later calls
// of the same submitter (they run in submission order) but not those of
// another submitter.
func TestParityActorArgsResolvedBeforeQueueing(t *testing.T) {
	ctx := setup(t)
	gateOpenCh = make(chan struct{})
	h, err := logClass.Options(core.Name("parity-log")).Remote(ctx)
	if err != nil {
		t.Fatal(err)
	}
	slow := logAdd.RemoteArgs(ctx, h, gated.Remote(ctx, 1))
	after := logAdd.Remote(ctx, h, 2) // same submitter: waits for the first
	// A task is another submitter: its call runs while ours wait.
	short, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	if v, err := core.Get(short, logFrom.Remote(ctx, "parity-log", 3)); err != nil || v != 3 {
		t.Fatalf("call from another submitter while the driver's first call waits for its argument: %v %v", v, err)
	}
	if _, _, err := core.Wait(ctx, []core.Ref[int]{after}, core.WaitOptions{Timeout: 50 * time.Millisecond}); err != nil {
		t.Fatal(err)
	}
	close(gateOpenCh)
	for _, r := range []core.Ref[int]{slow, after} {
		if _, err := core.Get(ctx, r); err != nil {
			t.Fatal(err)
		}
	}
	// A failed ref argument fails the call without running it.
	if _, err := core.Get(ctx, logAdd.RemoteArgs(ctx, h, statusFail.Remote(ctx, 4))); !errors.Is(err, errBadRow) {
		t.Fatalf("call with a failed argument: %v", err)
	}
	seen, err := core.Get(ctx, logSeen.Remote(ctx, h))
	if err != nil {
		t.Fatal(err)
	}
	if want := []int{3, 1, 2}; !slices.Equal(seen, want) {
		t.Fatalf("order %v, want %v", seen, want)
	}
}

// AllowOutOfOrderExecution (Ray's allow_out_of_order_execution) lets a
// call whose arguments are ready run before an earlier one of the same
// submitter whose arguments are not.
func TestParityActorOutOfOrder(t *testing.T) {
	ctx := setup(t)
	gateOpenCh = make(chan struct{})
	h, err := logClass.Options(core.AllowOutOfOrderExecution(true)).Remote(ctx)
	if err != nil {
		t.Fatal(err)
	}
	slow := logAdd.RemoteArgs(ctx, h, gated.Remote(ctx, 1))
	short, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	if v, err := core.Get(short, logAdd.Remote(ctx, h, 2)); err != nil || v != 2 {
		t.Fatalf("ready call behind one waiting for its argument: %v %v", v, err)
	}
	close(gateOpenCh)
	if _, err := core.Get(ctx, slow); err != nil {
		t.Fatal(err)
	}
	if seen, _ := core.Get(ctx, logSeen.Remote(ctx, h)); !slices.Equal(seen, []int{2, 1}) {
		t.Fatalf("order %v, want [2 1]", seen)
	}
}

// Ray's namespaces: ray.init(namespace=...) sets the job's namespace, a
// named actor lives in one namespace (its own option or the job's), the
// same name in two namespaces is two actors, and get_actor looks in the
// job's namespace unless told another.
func TestParityNamespaces(t *testing.T) {
	ctx := setup(t, core.WithNamespace("ns1"))
	a, err := counterClass.Options(core.Name("c")).Remote(ctx, 10)
	if err != nil {
		t.Fatal(err)
	}
	b, err := counterClass.Options(core.Name("c"), core.Namespace("ns2")).Remote(ctx, 20)
	if err != nil {
		t.Fatalf("the same name in another namespace: %v", err)
	}
	if _, err := counterClass.Options(core.Name("c"), core.Namespace("ns1")).Remote(ctx, 0); !errors.Is(err, core.ErrInvalidInput) {
		t.Fatalf("the same name twice in one namespace: %v", err)
	}
	if a.Namespace() != "ns1" || b.Namespace() != "ns2" {
		t.Fatalf("namespaces %q %q", a.Namespace(), b.Namespace())
	}
	for _, tc := range []struct {
		opts []core.GetActorOption
		want int
	}{
		{nil, 11},
		{[]core.GetActorOption{core.Namespace("ns1")}, 12},
		{[]core.GetActorOption{core.Namespace("ns2")}, 21},
	} {
		h, err := core.GetActor[*Counter](ctx, "c", tc.opts...)
		if err != nil {
			t.Fatal(err)
		}
		if v, err := core.Get(ctx, counterIncr.Remote(ctx, h)); err != nil || v != tc.want {
			t.Fatalf("GetActor(%d options): %v %v, want %d", len(tc.opts), v, err, tc.want)
		}
	}
	if _, err := core.GetActor[*Counter](ctx, "c", core.Namespace("ns3")); !errors.Is(err, core.ErrNotRegistered) {
		t.Fatalf("GetActor in a namespace without it: %v", err)
	}
	if _, err := counterClass.Options(core.Name("d"), core.Namespace("")).Remote(ctx, 0); !errors.Is(err, core.ErrInvalidInput) {
		t.Fatalf("empty namespace: %v", err)
	}
	core.Kill(a)
	if _, err := core.GetActor[*Counter](ctx, "c", core.Namespace("ns2")); err != nil {
		t.Fatalf("killing ns1's actor freed ns2's: %v", err)
	}
	core.Shutdown()
	if err := core.Init(core.WithNamespace("")); !errors.Is(err, core.ErrInvalidInput) {
		t.Fatalf("Init with an empty namespace: %v", err)
	}
}

// Parent makes two named actors from its constructor and keeps their
// handles: one detached, one it owns.
type Parent struct{ kept, owned *core.ActorHandle[*Counter] }

var parentClass = core.Actor0("parity.Parent", func(ctx context.Context) (*Parent, error) {
	kept, err := counterClass.Options(core.Name("parity-kept"), core.Detached()).Remote(ctx, 100)
	if err != nil {
		return nil, err
	}
	owned, err := counterClass.Options(core.Name("parity-owned")).Remote(ctx, 200)
	if err != nil {
		return nil, err
	}
	return &Parent{kept: kept, owned: owned}, nil
})

// Ray: an actor dies with the actor that created it (its owner), unless
// it is detached (lifetime="detached"), which lives on, findable by name.
func TestParityDetachedOutlivesItsCreator(t *testing.T) {
	ctx := setup(t)
	p, err := parentClass.Remote(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if err := p.Ready(ctx); err != nil {
		t.Fatal(err)
	}
	if err := core.KillAndWait(ctx, p); err != nil {
		t.Fatal(err)
	}
	if _, err := core.GetActor[*Counter](ctx, "parity-owned"); !errors.Is(err, core.ErrNotRegistered) {
		t.Fatalf("the owned actor after its creator died: %v, want it gone", err)
	}
	runtime.GC()
	runtime.GC()
	kept, err := core.GetActor[*Counter](ctx, "parity-kept")
	if err != nil {
		t.Fatalf("the detached actor after its creator died: %v", err)
	}
	if v, err := core.Get(ctx, counterIncr.Remote(ctx, kept)); err != nil || v != 101 {
		t.Fatalf("detached actor call: %v %v", v, err)
	}
}

type Single struct{}

var singleBuilt atomic.Int64
var singleClass = core.Actor0("parity.Single", func(ctx context.Context) (*Single, error) {
	singleBuilt.Add(1)
	time.Sleep(10 * time.Millisecond) // widen the window a racy get-or-create would lose
	return &Single{}, nil
})

// Ray's get_if_exists=True: creating a named actor that exists returns
// it; many at once make exactly one.
func TestParityGetIfExistsRaceFree(t *testing.T) {
	ctx := setup(t)
	singleBuilt.Store(0)
	const n = 100
	hs := make([]*core.ActorHandle[*Single], n)
	errs := make([]error, n)
	var wg sync.WaitGroup
	start := make(chan struct{})
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			<-start
			hs[i], errs[i] = singleClass.Options(core.Name("parity-single"), core.GetIfExists()).Remote(ctx)
		}()
	}
	close(start)
	wg.Wait()
	for i, err := range errs {
		if err != nil {
			t.Fatalf("creation %d: %v", i, err)
		}
	}
	for _, h := range hs {
		if err := h.Ready(ctx); err != nil {
			t.Fatal(err)
		}
	}
	if got := singleBuilt.Load(); got != 1 {
		t.Fatalf("%d constructor runs for %d get-or-create calls, want 1", got, n)
	}
	if _, err := singleClass.Options(core.Name("parity-single")).Remote(ctx); !errors.Is(err, core.ErrInvalidInput) {
		t.Fatalf("a second creation without GetIfExists: %v", err)
	}
	if _, err := counterClass.Options(core.Name("parity-single"), core.GetIfExists()).Remote(ctx, 0); !errors.Is(err, core.ErrInvalidInput) {
		t.Fatalf("GetIfExists of another type: %v", err)
	}
	if _, err := singleClass.Options(core.GetIfExists()).Remote(ctx); !errors.Is(err, core.ErrInvalidInput) {
		t.Fatalf("GetIfExists without a name: %v", err)
	}
	core.Kill(hs[0])
	// Killed, the name is free: get-or-create makes a new one.
	h, err := singleClass.Options(core.Name("parity-single"), core.GetIfExists()).Remote(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if err := h.Ready(ctx); err != nil || singleBuilt.Load() != 2 {
		t.Fatalf("get-or-create after the kill: %v, %d constructor runs", err, singleBuilt.Load())
	}
}

// Ray stops an actor once every handle to it is gone, after the calls
// already submitted to it, and its resources go back to the node.
func TestParityHandleGoneStopsActorAndFreesResources(t *testing.T) {
	ctx := setup(t, core.WithNumCPUs(2))
	h, err := counterClass.Options(core.NumCPUs(2)).Remote(ctx, 0)
	if err != nil {
		t.Fatal(err)
	}
	if err := h.Ready(ctx); err != nil {
		t.Fatal(err)
	}
	if got := core.AvailableResources()["CPU"]; got != 0 {
		t.Fatalf("available CPU %v while the actor holds 2", got)
	}
	var refs []core.Ref[int]
	for range 3 {
		refs = append(refs, counterIncr.Remote(ctx, h))
	}
	h = nil
	if !gcUntil(func() bool { return core.AvailableResources()["CPU"] == 2 }) {
		t.Fatalf("available CPU %v after the last handle went", core.AvailableResources()["CPU"])
	}
	got, err := core.GetAll(ctx, refs)
	if err != nil || !slices.Equal(got, []int{1, 2, 3}) {
		t.Fatalf("calls submitted before the handle went: %v %v", got, err)
	}
	short, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	if v, err := core.Get(short, work.Options(core.NumCPUs(2)).Remote(ctx, 7)); err != nil || v != 7 {
		t.Fatalf("a 2-CPU task after the actor's handle went: %v %v", v, err)
	}
}

// Ray: a named actor is still garbage collected once no handle to it is
// left (the directory does not keep it); a detached one is not.
func TestParityNamedActorLifetime(t *testing.T) {
	ctx := setup(t)
	if _, err := counterClass.Options(core.Name("parity-gc-named")).Remote(ctx, 0); err != nil {
		t.Fatal(err)
	}
	if !gcUntil(func() bool {
		_, err := core.GetActor[*Counter](ctx, "parity-gc-named")
		return errors.Is(err, core.ErrNotRegistered)
	}) {
		t.Fatal("a named actor without handles was never stopped")
	}
	if _, err := counterClass.Options(core.Name("parity-gc-detached"), core.Detached()).Remote(ctx, 5); err != nil {
		t.Fatal(err)
	}
	for range 5 {
		runtime.GC()
		time.Sleep(20 * time.Millisecond)
	}
	h, err := core.GetActor[*Counter](ctx, "parity-gc-detached")
	if err != nil {
		t.Fatalf("a detached actor without handles: %v", err)
	}
	if v, err := core.Get(ctx, counterIncr.Remote(ctx, h)); err != nil || v != 6 {
		t.Fatalf("detached actor call: %v %v", v, err)
	}
}

// Ray places an actor with default resources only where a CPU is free (1
// CPU to schedule it) and then holds none (0 CPUs to run it): none fits a
// 0-CPU node, any number run on a 1-CPU one. Explicit resources are held
// for both.
func TestParityDefaultActorNeedsACPUToBePlaced(t *testing.T) {
	ctx := setup(t, core.WithNumCPUs(0))
	if _, err := counterClass.Remote(ctx, 0); !errors.Is(err, core.ErrInfeasible) {
		t.Fatalf("default actor on a 0-CPU runtime: %v, want ErrInfeasible", err)
	}
	h, err := counterClass.Options(core.NumCPUs(0)).Remote(ctx, 0)
	if err != nil {
		t.Fatal(err)
	}
	if err := h.Ready(ctx); err != nil {
		t.Fatalf("NumCPUs(0) actor on a 0-CPU runtime: %v", err)
	}

	ctx = setup(t, core.WithNumCPUs(1))
	var hs []*core.ActorHandle[*Counter]
	for range 10 {
		h, err := counterClass.Remote(ctx, 0)
		if err != nil {
			t.Fatal(err)
		}
		hs = append(hs, h)
	}
	for _, h := range hs {
		if err := h.Ready(ctx); err != nil {
			t.Fatal(err)
		}
	}
	if got := core.AvailableResources()["CPU"]; got != 1 {
		t.Fatalf("available CPU %v with 10 default actors running, want 1", got)
	}

	// With the one CPU taken by a task, a new default actor waits for it.
	gateOpenCh = make(chan struct{})
	busy := gated.Remote(ctx, 1)
	for i := 0; core.AvailableResources()["CPU"] != 0; i++ {
		if i > 500 {
			t.Fatal("the task never started")
		}
		time.Sleep(10 * time.Millisecond)
	}
	late, err := counterClass.Remote(ctx, 0)
	if err != nil {
		t.Fatal(err)
	}
	wait, cancel := context.WithTimeout(ctx, 100*time.Millisecond)
	defer cancel()
	if err := late.Ready(wait); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("default actor placed while no CPU is free: Ready %v", err)
	}
	close(gateOpenCh)
	if _, err := core.Get(ctx, busy); err != nil {
		t.Fatal(err)
	}
	if err := late.Ready(ctx); err != nil {
		t.Fatal(err)
	}
	runtime.KeepAlive(hs)
}

// A deliberate difference from Ray, which keeps an actor's resources held
// while one of its calls blocks in ray.get: here an actor gives its CPUs
// back while a call waits in Get (or Wait, or Ready), as a task does, and
// takes them back after. An actor holding every CPU can then wait on the
// tasks it submits (a data-parallel trainer's workers streaming a dataset,
// gbdt workers on a 2-CPU runtime) instead of deadlocking the runtime.
func TestParityActorGivesCPUsBackWhileBlockedInGet(t *testing.T) {
	ctx := setup(t, core.WithNumCPUs(1))
	h, err := driverClass.Options(core.NumCPUs(1)).Remote(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if err := h.Ready(ctx); err != nil {
		t.Fatal(err)
	}
	if got := core.AvailableResources()["CPU"]; got != 0 {
		t.Fatalf("available CPU %v while the idle actor holds the only one", got)
	}
	short, cancel := context.WithTimeout(ctx, 20*time.Second)
	defer cancel()
	// FanOut submits 1-CPU tasks and Gets them: they need the actor's CPU.
	if v, err := core.Get(short, driverFanOut.Remote(ctx, h, 5)); err != nil || v != 30 {
		t.Fatalf("actor holding the only CPU waiting on its tasks: %v %v", v, err)
	}
	// The tasks' workers give their CPU back just after their results are
	// stored, so the count settles shortly after the call returns.
	for i := 0; core.AvailableResources()["CPU"] != 0; i++ {
		if i > 500 {
			t.Fatalf("available CPU %v after the call: want 0, the actor holding its CPU again", core.AvailableResources()["CPU"])
		}
		time.Sleep(10 * time.Millisecond)
	}
}
