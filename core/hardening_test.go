package core_test

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"runtime"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/goray/goray/core"
)

// shutdownProbe reports what a task still running during Shutdown gets
// from Remote and Put.
var (
	probeStarted = make(chan struct{}, 1)
	probeErrs    = make(chan []error, 1)
)

var shutdownProbe = core.Func0("test.shutdownProbe", func(ctx context.Context) (int, error) {
	probeStarted <- struct{}{}
	<-ctx.Done() // Shutdown has begun
	var errs []error
	_, err := core.Get(context.Background(), square.Remote(ctx, 2))
	errs = append(errs, err)
	_, err = core.Get(context.Background(), square.Remote(context.Background(), 2))
	errs = append(errs, err)
	// What a dataset reader does with each block it reads.
	_, err = core.Put(ctx, make([]byte, 1<<20))
	errs = append(errs, err)
	_, err = core.Put(context.Background(), 1)
	errs = append(errs, err)
	probeErrs <- errs
	return 0, nil
})

// A task that submits work or puts objects while Shutdown waits for it used
// to deadlock: Shutdown held the global lock while waiting, and the task's
// call waited for that lock (and would then have started a new runtime).
func TestShutdownWhileATaskSubmitsReturns(t *testing.T) {
	ctx := setup(t)
	ref := shutdownProbe.Remote(ctx)
	select {
	case <-probeStarted:
	case <-ctx.Done():
		t.Fatal("probe task did not start")
	}
	done := make(chan struct{})
	go func() { core.Shutdown(); close(done) }()
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		t.Fatal("Shutdown hangs while a running task calls Remote and Put")
	}
	errs := <-probeErrs
	for i, err := range errs {
		if !errors.Is(err, core.ErrShutdown) {
			t.Errorf("call %d from the stopping task: got %v, want ErrShutdown", i, err)
		}
	}
	if core.IsInitialized() {
		t.Fatal("a call from a stopping task started a new runtime")
	}
	if _, err := core.Get(ctx, ref); !errors.Is(err, core.ErrShutdown) {
		t.Fatalf("probe ref: %v", err)
	}
}

// After Shutdown, calls fail with ErrShutdown instead of silently starting a
// new runtime, until Init.
func TestSubmitAfterShutdownFails(t *testing.T) {
	ctx := setup(t)
	stop := make(chan struct{})
	var submitted atomic.Int64
	errs := make(chan error, 4)
	for range 4 {
		go func() {
			var last core.Ref[int]
			for i := 0; ; i++ {
				select {
				case <-stop:
					// Submitted after Shutdown returned: must fail.
					_, err := core.Get(ctx, square.Remote(ctx, i))
					if !errors.Is(err, core.ErrShutdown) {
						err = fmt.Errorf("Remote after Shutdown: Get returned %v, want ErrShutdown", err)
					} else {
						err = nil
					}
					errs <- err
					return
				default:
				}
				last = square.Remote(ctx, i)
				submitted.Add(1)
				_ = last
			}
		}()
	}
	for submitted.Load() < 100 && ctx.Err() == nil {
		runtime.Gosched()
	}
	core.Shutdown()
	close(stop)
	for range 4 {
		if err := <-errs; err != nil {
			t.Error(err)
		}
	}
	if _, err := core.Get(ctx, square.Remote(ctx, 3)); !errors.Is(err, core.ErrShutdown) {
		t.Fatalf("Remote after Shutdown: %v", err)
	}
	if _, err := core.Put(ctx, 3); !errors.Is(err, core.ErrShutdown) {
		t.Fatalf("Put after Shutdown: %v", err)
	}
	if _, err := counterClass.Remote(ctx, 0); !errors.Is(err, core.ErrShutdown) {
		t.Fatalf("actor after Shutdown: %v", err)
	}
	if core.IsInitialized() {
		t.Fatal("a call after Shutdown started a new runtime")
	}
	if err := core.Init(); err != nil {
		t.Fatal(err)
	}
	if v, err := core.Get(ctx, square.Remote(ctx, 3)); err != nil || v != 9 {
		t.Fatalf("after Init again: %v, %v", v, err)
	}
}

func TestInitWithOptionsWhileRunningFails(t *testing.T) {
	setup(t, core.WithNumCPUs(3))
	if err := core.Init(); err != nil {
		t.Fatalf("Init without options on a running runtime: %v", err)
	}
	err := core.Init(core.WithNumCPUs(1))
	if !errors.Is(err, core.ErrInvalidInput) || !strings.Contains(err.Error(), "already running") || !strings.Contains(err.Error(), "CPU=3") {
		t.Fatalf("Init with options on a running runtime: %v", err)
	}
	if got := core.ClusterResources()["CPU"]; got != 3 {
		t.Fatalf("CPU %v after the refused Init, want 3", got)
	}
}

var makeBlob = core.Func1("test.makeBlob", func(ctx context.Context, i int) ([]byte, error) {
	b := make([]byte, 1<<20)
	b[0] = byte(i)
	return b, nil
})

var sumBlob = core.Func1("test.sumBlob", func(ctx context.Context, b []byte) (int, error) {
	s := 0
	for _, x := range b[:16] {
		s += int(x)
	}
	return s, nil
})

// A finished task used to keep its closure, and so its argument refs,
// alive for as long as its result was held.
func TestFinishedTaskDoesNotPinItsArguments(t *testing.T) {
	ctx := setup(t, core.WithMemoryBudget(8<<20), core.WithSpillDir(t.TempDir()))
	const n = 100
	sums := make([]core.Ref[int], n)
	for i := range n {
		sums[i] = sumBlob.RemoteArgs(ctx, makeBlob.Remote(ctx, i))
	}
	got, err := core.GetAll(ctx, sums)
	if err != nil {
		t.Fatal(err)
	}
	for i, v := range got {
		if v != i%256 {
			t.Fatalf("sum %d = %d", i, v)
		}
	}
	// Only the small sums are held: every blob must go.
	for ctx.Err() == nil {
		runtime.GC()
		if st := core.ObjectStoreStats(); st.Objects == 0 && st.SpilledFiles == 0 && st.MemoryBytes == 0 {
			runtime.KeepAlive(sums)
			return
		}
		time.Sleep(10 * time.Millisecond)
	}
	t.Fatalf("holding %d small results keeps their arguments alive: %+v", n, core.ObjectStoreStats())
}

// WithSpillLimit used to hold only for values too large for memory: objects
// evicted to make room went to disk past the limit.
func TestSpillLimitHoldsWhenEvicting(t *testing.T) {
	const limit = 3 << 20
	ctx := setup(t, core.WithMemoryBudget(2<<20), core.WithSpillLimit(limit), core.WithSpillDir(t.TempDir()))
	var refs []core.Ref[[]byte]
	var refused int
	left := regexp.MustCompile(`spill space left \((-?\d+) bytes\)`)
	for i := range 20 {
		b := make([]byte, 1<<20)
		b[0] = byte(i)
		r, err := core.Put(ctx, b)
		if err != nil {
			if !errors.Is(err, core.ErrObjectTooLarge) {
				t.Fatalf("put %d: %v", i, err)
			}
			m := left.FindStringSubmatch(err.Error())
			if m == nil {
				t.Fatalf("put %d: error does not say the spill space left: %v", i, err)
			}
			if n, _ := strconv.Atoi(m[1]); n < 0 {
				t.Fatalf("put %d: negative spill space left: %v", i, err)
			}
			refused++
			continue
		}
		refs = append(refs, r)
	}
	st := core.ObjectStoreStats()
	onDisk := spillBytes(t)
	if st.SpilledBytes > limit || onDisk > limit+4096 {
		t.Fatalf("spill limit %d bytes: %d bytes spilled, %d bytes of spill files: %+v", limit, st.SpilledBytes, onDisk, st)
	}
	if st.MemoryBytes > 2<<20 {
		t.Fatalf("memory budget not held: %+v", st)
	}
	if refused == 0 || len(refs) != 5 {
		t.Fatalf("%d puts stored, %d refused; want 5 stored (2 in memory, 3 on disk)", len(refs), refused)
	}
	for _, r := range refs {
		if _, err := core.Get(ctx, r); err != nil {
			t.Fatal(err)
		}
	}
	if st := core.ObjectStoreStats(); st.SpilledBytes > limit || st.MemoryBytes > 2<<20 {
		t.Fatalf("after reading every object back: %+v", st)
	}
	// Space released is space to use again.
	for _, r := range refs {
		r.Release()
	}
	if _, err := core.Put(ctx, make([]byte, 1<<20)); err != nil {
		t.Fatalf("put after releasing: %v", err)
	}
}

// spillBytes sums the sizes of the files in the spill directory.
func spillBytes(t *testing.T) int64 {
	t.Helper()
	entries, err := os.ReadDir(core.SpillDir())
	if err != nil && !os.IsNotExist(err) {
		t.Fatal(err)
	}
	var n int64
	for _, e := range entries {
		fi, err := os.Stat(filepath.Join(core.SpillDir(), e.Name()))
		if err != nil {
			t.Fatal(err)
		}
		n += fi.Size()
	}
	return n
}

// nested submits a chain of depth tasks; the innermost waits for its
// context. Each level sends its child's ref on nestedRefs.
var nestedRefs = make(chan core.Ref[int], 16)

var nested *core.RemoteFunc1[int, int]

func init() {
	nested = core.Func1("test.nested", func(ctx context.Context, depth int) (int, error) {
		if depth == 0 {
			<-ctx.Done()
			return 0, ctx.Err()
		}
		r := nested.Remote(ctx, depth-1)
		nestedRefs <- r
		return core.Get(ctx, r)
	})
}

func TestCancelIsRecursive(t *testing.T) {
	ctx := setup(t, core.WithNumCPUs(2))
	top := nested.Remote(ctx, 2)
	mid, leaf := <-nestedRefs, <-nestedRefs
	if err := core.Cancel(top); err != nil {
		t.Fatal(err)
	}
	wctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	for name, r := range map[string]core.Ref[int]{"top": top, "child": mid, "grandchild": leaf} {
		if _, err := core.Get(wctx, r); !errors.Is(err, core.ErrTaskCancelled) {
			t.Fatalf("%s after cancelling the top task: %v, want ErrTaskCancelled", name, err)
		}
	}
}

var parentOfShort = core.Func0("test.parentOfShort", func(ctx context.Context) (int, error) {
	nestedRefs <- sleepFor.Remote(ctx, 50)
	<-ctx.Done()
	return 0, ctx.Err()
})

func TestCancelNotRecursive(t *testing.T) {
	ctx := setup(t, core.WithNumCPUs(2))
	parent := parentOfShort.Remote(ctx)
	child := <-nestedRefs
	if err := core.Cancel(parent, core.Recursive(false)); err != nil {
		t.Fatal(err)
	}
	if _, err := core.Get(ctx, parent); !errors.Is(err, core.ErrTaskCancelled) {
		t.Fatalf("parent: %v", err)
	}
	if v, err := core.Get(ctx, child); err != nil || v != 50 {
		t.Fatalf("child with Recursive(false): %v, %v; want it to finish", v, err)
	}
}

var (
	stubbornStarted = make(chan struct{}, 1)
	stubbornRelease = make(chan struct{})
)

// stubborn ignores its context.
var stubborn = core.Func0("test.stubborn", func(ctx context.Context) (int, error) {
	stubbornStarted <- struct{}{}
	<-stubbornRelease
	return 1, nil
})

func TestForceCancelFailsTheRefAtOnce(t *testing.T) {
	ctx := setup(t, core.WithNumCPUs(1))
	r := stubborn.Remote(ctx)
	<-stubbornStarted
	if err := core.Cancel(r, core.Force()); err != nil {
		t.Fatal(err)
	}
	wctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	if _, err := core.Get(wctx, r); !errors.Is(err, core.ErrTaskCancelled) {
		t.Fatalf("force-cancelled task that ignores its context: %v", err)
	}
	stubbornRelease <- struct{}{} // let the abandoned code return
	if _, err := core.Get(ctx, r); !errors.Is(err, core.ErrTaskCancelled) {
		t.Fatalf("the abandoned task's result must be dropped: %v", err)
	}
	// Its CPU comes back once it returns.
	if v, err := core.Get(ctx, square.Remote(ctx, 4)); err != nil || v != 16 {
		t.Fatalf("after the abandoned task returned: %v, %v", v, err)
	}
}

var alwaysPanicsRuns atomic.Int64
var alwaysPanics = core.Func0("test.alwaysPanics", func(ctx context.Context) (int, error) {
	alwaysPanicsRuns.Add(1)
	panic("always")
}, core.MaxRetries(-1))

// MaxRetries(-1) on a task that always panics used to spin (tens of
// thousands of attempts in half a second); retries back off.
func TestInfiniteRetriesBackOff(t *testing.T) {
	ctx := setup(t, core.WithNumCPUs(1))
	alwaysPanicsRuns.Store(0)
	r := alwaysPanics.Remote(ctx)
	time.Sleep(300 * time.Millisecond)
	// The backoff waits 1+2+...+128 ms before the ninth attempt: a spinning
	// retry loop does thousands here.
	if n := alwaysPanicsRuns.Load(); n > 50 {
		t.Fatalf("%d attempts in 300 ms with MaxRetries(-1): retries do not back off", n)
	}
	// The waiting task holds no CPU.
	if v, err := core.Get(ctx, square.Remote(ctx, 5)); err != nil || v != 25 {
		t.Fatalf("a task beside the retrying one: %v, %v", v, err)
	}
	if err := core.Cancel(r); err != nil {
		t.Fatal(err)
	}
	if _, err := core.Get(ctx, r); !errors.Is(err, core.ErrTaskCancelled) {
		t.Fatalf("cancel during backoff: %v", err)
	}
}

func TestShutdownStopsRetryBackoff(t *testing.T) {
	ctx := setup(t)
	alwaysPanicsRuns.Store(0)
	r := alwaysPanics.Remote(ctx)
	for alwaysPanicsRuns.Load() < 3 && ctx.Err() == nil {
		time.Sleep(time.Millisecond)
	}
	core.Shutdown()
	if _, err := core.Get(ctx, r); !errors.Is(err, core.ErrShutdown) {
		t.Fatalf("retrying task at shutdown: %v", err)
	}
}

type Crasher struct{}

var crasherBuilt atomic.Int64
var crasherClass = core.Actor0("test.Crasher", func(ctx context.Context) (*Crasher, error) {
	crasherBuilt.Add(1)
	return &Crasher{}, nil
}, core.MaxRestarts(-1), core.MaxTaskRetries(-1))
var crasherHit = core.Method0("test.Crasher.Hit", func(c *Crasher, ctx context.Context) (int, error) {
	panic("crash on every call")
})

// The same spin for actors: unlimited restarts and call retries of a call
// that always crashes restart with a backoff too.
func TestActorRestartsBackOff(t *testing.T) {
	ctx := setup(t)
	crasherBuilt.Store(0)
	h, err := crasherClass.Remote(ctx)
	if err != nil {
		t.Fatal(err)
	}
	r := crasherHit.Remote(ctx, h)
	time.Sleep(300 * time.Millisecond)
	if n := crasherBuilt.Load(); n > 50 {
		t.Fatalf("%d constructor runs in 300 ms: restarts do not back off", n)
	}
	if err := core.KillAndWait(ctx, h); err != nil {
		t.Fatal(err)
	}
	if _, err := core.Get(ctx, r); !errors.Is(err, core.ErrActorDied) {
		t.Fatalf("call on the killed actor: %v", err)
	}
}

var (
	waitCtxStarted = make(chan struct{}, 4)
	waitCtxSaw     = make(chan error, 4)
)

// waitCtx waits for its context (or a minute) and reports what it saw.
var waitCtx = core.Func0("test.waitCtx", func(ctx context.Context) (int, error) {
	waitCtxStarted <- struct{}{}
	select {
	case <-ctx.Done():
		waitCtxSaw <- ctx.Err()
		return 0, ctx.Err()
	case <-time.After(time.Minute):
		waitCtxSaw <- nil
		return 1, nil
	}
})

func TestCallerContextCancelsTask(t *testing.T) {
	ctx := setup(t, core.WithNumCPUs(1))
	cctx, cancel := context.WithCancel(ctx)
	running := waitCtx.Remote(cctx)
	<-waitCtxStarted
	queued := square.Remote(cctx, 3) // behind the running one on the one CPU
	cancel()
	for name, r := range map[string]core.Ref[int]{"running": running, "queued": queued} {
		_, err := core.Get(ctx, r)
		if !errors.Is(err, core.ErrTaskCancelled) || !errors.Is(err, context.Canceled) {
			t.Fatalf("%s task after its caller's context was cancelled: %v", name, err)
		}
	}
	if err := <-waitCtxSaw; !errors.Is(err, context.Canceled) {
		t.Fatalf("the task's context: %v", err)
	}
}

type Waiter struct{ calls atomic.Int64 }

var waiterClass = core.Actor0("test.Waiter", func(ctx context.Context) (*Waiter, error) { return &Waiter{}, nil })
var waiterWait = core.Method0("test.Waiter.Wait", func(w *Waiter, ctx context.Context) (int, error) {
	w.calls.Add(1)
	waitCtxStarted <- struct{}{}
	select {
	case <-ctx.Done():
		return 0, ctx.Err()
	case <-time.After(time.Minute):
		return 1, nil
	}
})
var waiterCalls = core.Method0("test.Waiter.Calls", func(w *Waiter, ctx context.Context) (int64, error) {
	return w.calls.Load(), nil
})

func TestCallerContextCancelsActorCall(t *testing.T) {
	ctx := setup(t)
	h, err := waiterClass.Remote(ctx)
	if err != nil {
		t.Fatal(err)
	}
	cctx, cancel := context.WithCancel(ctx)
	running := waiterWait.Remote(cctx, h)
	<-waitCtxStarted
	queued := waiterWait.Remote(cctx, h)
	cancel()
	for name, r := range map[string]core.Ref[int]{"running": running, "queued": queued} {
		if _, err := core.Get(ctx, r); !errors.Is(err, core.ErrTaskCancelled) || !errors.Is(err, context.Canceled) {
			t.Fatalf("%s call after its caller's context was cancelled: %v", name, err)
		}
	}
	// The actor lives on, and the queued call never ran.
	if n, err := core.Get(ctx, waiterCalls.Remote(ctx, h)); err != nil || n != 1 {
		t.Fatalf("calls run: %v, %v; want 1", n, err)
	}
}

func TestTaskErrorIsOneLine(t *testing.T) {
	ctx := setup(t)
	_, err := core.Get(ctx, boom.Remote(ctx))
	var te *core.TaskError
	if !errors.As(err, &te) {
		t.Fatalf("got %v", err)
	}
	if msg := te.Error(); strings.Contains(msg, "\n") || strings.Contains(msg, "goroutine") || !strings.Contains(msg, "kaboom") {
		t.Fatalf("Error() = %q, want one line naming the panic", msg)
	}
	if s := fmt.Sprintf("%v", te); s != te.Error() {
		t.Fatalf("%%v = %q", s)
	}
	if s := fmt.Sprintf("%+v", te); !strings.HasPrefix(s, te.Error()+"\n") || !strings.Contains(s, "goroutine") || !strings.Contains(s, "core_test") {
		t.Fatalf("%%+v does not print the stack: %q", s)
	}
	if !strings.Contains(te.Stack, "core_test") {
		t.Fatalf("Stack: %q", te.Stack)
	}
}

// untilCancelled runs until its context ends.
var untilCancelled = core.Func0("test.untilCancelled", func(ctx context.Context) (int, error) {
	<-ctx.Done()
	return 0, ctx.Err()
})

var blobAndInt = core.Func2("test.blobAndInt", func(ctx context.Context, b []byte, x int) (int, error) {
	return len(b) + x, nil
})

// A task cancelled while it waits for an argument used to stay in that
// argument's callbacks, with its closure and its other arguments, until
// the argument was computed.
func TestCancelledWaitingTaskDoesNotPinItsArguments(t *testing.T) {
	ctx := setup(t, core.WithNumCPUs(2), core.WithMemoryBudget(8<<20), core.WithSpillDir(t.TempDir()))
	slow := untilCancelled.Remote(ctx)
	r := func() core.Ref[int] {
		blob, err := core.Put(ctx, make([]byte, 1<<20))
		if err != nil {
			t.Fatal(err)
		}
		return blobAndInt.RemoteArgs(ctx, blob, slow)
	}()
	if err := core.Cancel(r); err != nil {
		t.Fatal(err)
	}
	if _, err := core.Get(ctx, r); !errors.Is(err, core.ErrTaskCancelled) {
		t.Fatalf("got %v", err)
	}
	for ctx.Err() == nil {
		runtime.GC()
		if st := core.ObjectStoreStats(); st.Objects == 0 {
			runtime.KeepAlive(slow)
			return
		}
		time.Sleep(10 * time.Millisecond)
	}
	t.Fatalf("the cancelled task's argument is still held: %+v", core.ObjectStoreStats())
}

var shutdownFromTask = core.Func0("hardening.shutdownFromTask", func(ctx context.Context) (bool, error) {
	core.Shutdown() // must not wait for this very task
	<-ctx.Done()    // the stop cancelled us
	return true, nil
})

var shutdownFromActor = core.Method0("hardening.Counter.shutdown", func(c *Counter, ctx context.Context) (bool, error) {
	core.Shutdown()
	return true, nil
})

// Shutdown called from inside a task or an actor method used to wait for
// its own caller for ever. It now starts the stop and returns; the runtime
// finishes stopping once the caller returns, and a later Shutdown from the
// driver waits for that.
func TestShutdownFromInsideUserCodeReturns(t *testing.T) {
	for name, call := range map[string]func(ctx context.Context) core.Ref[bool]{
		"task": func(ctx context.Context) core.Ref[bool] { return shutdownFromTask.Remote(ctx) },
		"actor method": func(ctx context.Context) core.Ref[bool] {
			h, err := counterClass.Remote(ctx, 0)
			if err != nil {
				t.Fatal(err)
			}
			return shutdownFromActor.Remote(ctx, h)
		},
	} {
		t.Run(name, func(t *testing.T) {
			ctx := setup(t)
			ref := call(ctx)
			deadline := time.Now().Add(10 * time.Second)
			for core.IsInitialized() && time.Now().Before(deadline) {
				time.Sleep(5 * time.Millisecond)
			}
			if core.IsInitialized() {
				t.Fatal("Shutdown from user code did not stop the runtime")
			}
			done := make(chan struct{})
			go func() { core.Shutdown(); close(done) }()
			select {
			case <-done:
			case <-time.After(10 * time.Second):
				t.Fatal("Shutdown hangs after a task called Shutdown")
			}
			if _, err := core.Get(ctx, ref); err != nil && !errors.Is(err, core.ErrShutdown) && !errors.Is(err, core.ErrActorDied) {
				t.Fatalf("the caller's ref: %v", err)
			}
			if _, err := core.Put(ctx, 1); !errors.Is(err, core.ErrShutdown) {
				t.Fatalf("Put after Shutdown: %v", err)
			}
		})
	}
}
