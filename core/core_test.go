package core_test

import (
	"context"
	"errors"
	"fmt"
	"os"
	"runtime"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/goray/goray/core"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

// setup starts a fresh default runtime for one test and stops it after.
func setup(t *testing.T, opts ...core.InitOption) context.Context {
	t.Helper()
	core.Shutdown()
	if err := core.Init(opts...); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(core.Shutdown)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	t.Cleanup(cancel)
	return ctx
}

var square = core.Func1("test.square", func(ctx context.Context, x int) (int, error) {
	return x * x, nil
})

func TestSquaresOverRange(t *testing.T) {
	ctx := setup(t)
	var refs []core.Ref[int]
	for i := range 4 {
		refs = append(refs, square.Remote(ctx, i))
	}
	got, err := core.GetAll(ctx, refs)
	if err != nil {
		t.Fatal(err)
	}
	if want := []int{0, 1, 4, 9}; !slices.Equal(got, want) {
		t.Fatalf("got %v, want %v", got, want)
	}
}

var sleepFor = core.Func1("test.sleepFor", func(ctx context.Context, ms int) (int, error) {
	select {
	case <-time.After(time.Duration(ms) * time.Millisecond):
		return ms, nil
	case <-ctx.Done():
		return 0, ctx.Err()
	}
})

func TestWaitHandlesResultsInCompletionOrder(t *testing.T) {
	ctx := setup(t, core.WithNumCPUs(4))
	durations := []int{300, 10, 150, 60}
	var pending []core.Ref[int]
	for _, d := range durations {
		pending = append(pending, sleepFor.Remote(ctx, d))
	}
	var order []int
	for len(pending) > 0 {
		ready, rest, err := core.Wait(ctx, pending, core.WaitOptions{NumReturns: 1})
		if err != nil {
			t.Fatal(err)
		}
		for _, r := range ready {
			v, err := core.Get(ctx, r)
			if err != nil {
				t.Fatal(err)
			}
			order = append(order, v)
		}
		pending = rest
	}
	if want := []int{10, 60, 150, 300}; !slices.Equal(order, want) {
		t.Fatalf("completion order %v, want %v", order, want)
	}
}

func TestWaitTimeoutReturnsWhatIsReady(t *testing.T) {
	ctx := setup(t, core.WithNumCPUs(2))
	fast := sleepFor.Remote(ctx, 1)
	slow := sleepFor.Remote(ctx, 5000)
	if _, err := core.Get(ctx, fast); err != nil {
		t.Fatal(err)
	}
	ready, notReady, err := core.Wait(ctx, []core.Ref[int]{fast, slow}, core.WaitOptions{NumReturns: 2, Timeout: 20 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	if len(ready) != 1 || ready[0].ID() != fast.ID() || len(notReady) != 1 {
		t.Fatalf("ready %d notReady %d", len(ready), len(notReady))
	}
	if err := core.Cancel(slow); err != nil {
		t.Fatal(err)
	}
	if _, err := core.Get(ctx, slow); !errors.Is(err, core.ErrTaskCancelled) {
		t.Fatalf("cancelled task: got %v, want ErrTaskCancelled", err)
	}
}

type Counter struct{ n int }

var counterClass = core.Actor1("test.Counter", func(ctx context.Context, start int) (*Counter, error) {
	return &Counter{n: start}, nil
})

var counterIncr = core.Method0("test.Counter.Incr", func(c *Counter, ctx context.Context) (int, error) {
	c.n++
	return c.n, nil
})

var counterAdd = core.Method1("test.Counter.Add", func(c *Counter, ctx context.Context, d int) (int, error) {
	c.n += d
	return c.n, nil
})

func TestCounterActorReturnsOneToFive(t *testing.T) {
	ctx := setup(t)
	h, err := counterClass.Remote(ctx, 0)
	if err != nil {
		t.Fatal(err)
	}
	var refs []core.Ref[int]
	for range 5 {
		refs = append(refs, counterIncr.Remote(ctx, h))
	}
	got, err := core.GetAll(ctx, refs)
	if err != nil {
		t.Fatal(err)
	}
	if want := []int{1, 2, 3, 4, 5}; !slices.Equal(got, want) {
		t.Fatalf("got %v, want %v", got, want)
	}
}

func TestNamedActorAndKill(t *testing.T) {
	ctx := setup(t)
	h, err := counterClass.Options(core.Name("global-counter")).Remote(ctx, 10)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := counterClass.Options(core.Name("global-counter")).Remote(ctx, 0); !errors.Is(err, core.ErrInvalidInput) {
		t.Fatalf("duplicate actor name: got %v", err)
	}
	h2, err := core.GetActor[*Counter](ctx, "global-counter")
	if err != nil {
		t.Fatal(err)
	}
	if v, err := core.Get(ctx, counterAdd.Remote(ctx, h2, 5)); err != nil || v != 15 {
		t.Fatalf("got %v, %v; want 15", v, err)
	}
	if _, err := core.GetActor[*Counter](ctx, "nobody"); !errors.Is(err, core.ErrNotRegistered) {
		t.Fatalf("unknown actor: got %v", err)
	}
	if _, err := core.GetActor[string](ctx, "global-counter"); !errors.Is(err, core.ErrInvalidInput) {
		t.Fatalf("wrong actor type: got %v", err)
	}
	if err := core.Kill(h); err != nil {
		t.Fatal(err)
	}
	if _, err := core.Get(ctx, counterIncr.Remote(ctx, h)); !errors.Is(err, core.ErrActorDied) {
		t.Fatalf("call after kill: got %v, want ErrActorDied", err)
	}
	if _, err := core.GetActor[*Counter](ctx, "global-counter"); err == nil {
		t.Fatal("killed actor still found by name")
	}
}

func TestPutGetSlice(t *testing.T) {
	ctx := setup(t)
	want := []float64{1.5, 2.5, 3.5}
	ref, err := core.Put(ctx, want)
	if err != nil {
		t.Fatal(err)
	}
	got, err := core.Get(ctx, ref)
	if err != nil || !slices.Equal(got, want) {
		t.Fatalf("got %v, %v", got, err)
	}
}

// Two experiments, each running N simulations as nested tasks.
var simulation = core.Func1("test.simulation", func(ctx context.Context, seed int) (int, error) {
	return seed % 7, nil
})

var experiment = core.Func2("test.experiment", func(ctx context.Context, id, n int) (int, error) {
	refs := make([]core.Ref[int], n)
	for i := range n {
		refs[i] = simulation.Remote(ctx, id*1000+i)
	}
	vals, err := core.GetAll(ctx, refs)
	if err != nil {
		return 0, err
	}
	sum := 0
	for _, v := range vals {
		sum += v
	}
	return sum, nil
})

func TestNestedExperimentsDoNotDeadlock(t *testing.T) {
	// One CPU: each experiment must give it back while it waits.
	ctx := setup(t, core.WithNumCPUs(1))
	const n = 50
	a, b := experiment.Remote(ctx, 1, n), experiment.Remote(ctx, 2, n)
	for id, r := range map[int]core.Ref[int]{1: a, 2: b} {
		got, err := core.Get(ctx, r)
		if err != nil {
			t.Fatal(err)
		}
		want := 0
		for i := range n {
			want += (id*1000 + i) % 7
		}
		if got != want {
			t.Fatalf("experiment %d: got %d want %d", id, got, want)
		}
	}
}

// A parameter server actor updated by 4 worker tasks.
type ParamServer struct{ params []float64 }

var psClass = core.Actor1("test.ParamServer", func(ctx context.Context, dim int) (*ParamServer, error) {
	return &ParamServer{params: make([]float64, dim)}, nil
})

var psUpdate = core.Method1("test.ParamServer.Update", func(p *ParamServer, ctx context.Context, grad []float64) ([]float64, error) {
	for i := range p.params {
		p.params[i] += grad[i]
	}
	return slices.Clone(p.params), nil
})

var psGet = core.Method0("test.ParamServer.Get", func(p *ParamServer, ctx context.Context) ([]float64, error) {
	return slices.Clone(p.params), nil
})

var psWorker = core.Func2("test.psWorker", func(ctx context.Context, name string, steps int) (int, error) {
	ps, err := core.GetActor[*ParamServer](ctx, name)
	if err != nil {
		return 0, err
	}
	for range steps {
		if _, err := core.Get(ctx, psUpdate.Remote(ctx, ps, []float64{1, 2})); err != nil {
			return 0, err
		}
	}
	return steps, nil
})

func TestParameterServer(t *testing.T) {
	ctx := setup(t)
	ps, err := psClass.Options(core.Name("ps")).Remote(ctx, 2)
	if err != nil {
		t.Fatal(err)
	}
	var refs []core.Ref[int]
	for range 4 {
		refs = append(refs, psWorker.Remote(ctx, "ps", 25))
	}
	if _, err := core.GetAll(ctx, refs); err != nil {
		t.Fatal(err)
	}
	got, err := core.Get(ctx, psGet.Remote(ctx, ps))
	if err != nil {
		t.Fatal(err)
	}
	if want := []float64{100, 200}; !slices.Equal(got, want) {
		t.Fatalf("params %v, want %v", got, want)
	}
}

// zeros -> zeros -> multiply as a dependency chain.
type Matrix struct {
	N    int
	Vals []float64
}

var zeros = core.Func2("test.zeros", func(ctx context.Context, n int, fill float64) (Matrix, error) {
	m := Matrix{N: n, Vals: make([]float64, n*n)}
	for i := range m.Vals {
		m.Vals[i] = fill
	}
	return m, nil
})

var multiply = core.Func2("test.multiply", func(ctx context.Context, a, b Matrix) (Matrix, error) {
	if a.N != b.N {
		return Matrix{}, fmt.Errorf("shape mismatch %d vs %d", a.N, b.N)
	}
	n := a.N
	out := Matrix{N: n, Vals: make([]float64, n*n)}
	for i := range n {
		for k := range n {
			for j := range n {
				out.Vals[i*n+j] += a.Vals[i*n+k] * b.Vals[k*n+j]
			}
		}
	}
	return out, nil
})

func TestDependencyChain(t *testing.T) {
	ctx := setup(t)
	a := zeros.Remote(ctx, 8, 1)
	b := zeros.Remote(ctx, 8, 2)
	c := multiply.RemoteArgs(ctx, a, b)
	d := multiply.RemoteArgs(ctx, c, core.Val(Matrix{N: 8, Vals: make([]float64, 64)}))
	m, err := core.Get(ctx, c)
	if err != nil {
		t.Fatal(err)
	}
	for _, v := range m.Vals {
		if v != 16 { // 8 * 1 * 2
			t.Fatalf("product entry %v, want 16", v)
		}
	}
	z, err := core.Get(ctx, d)
	if err != nil || z.Vals[0] != 0 {
		t.Fatalf("got %v, %v", z.Vals[:1], err)
	}
	// A failing dependency fails the dependent task and names the argument.
	bad := zeros.Remote(ctx, 3, 0)
	e := multiply.RemoteArgs(ctx, a, bad)
	f := multiply.RemoteArgs(ctx, e, a)
	if _, err := core.Get(ctx, f); !errors.Is(err, core.ErrTaskFailed) || !strings.Contains(err.Error(), "shape mismatch") || !strings.Contains(err.Error(), "argument 0") {
		t.Fatalf("chained failure: %v", err)
	}
}

var flakyCalls atomic.Int32
var flaky = core.Func0("test.flaky", func(ctx context.Context) (string, error) {
	if flakyCalls.Add(1) <= 2 {
		panic("worker died")
	}
	return "ok", nil
}, core.MaxRetries(3))

func TestPanicRetriedThenSucceeds(t *testing.T) {
	ctx := setup(t)
	flakyCalls.Store(0)
	calls := &flakyCalls
	v, err := core.Get(ctx, flaky.Remote(ctx))
	if err != nil || v != "ok" || calls.Load() != 3 {
		t.Fatalf("got %q, %v after %d calls", v, err, calls.Load())
	}
}

var boom = core.Func0("test.boom", func(ctx context.Context) (int, error) { panic("kaboom") }, core.MaxRetries(0))

func TestPanicWithoutRetriesNamesTask(t *testing.T) {
	ctx := setup(t)
	_, err := core.Get(ctx, boom.Remote(ctx))
	var te *core.TaskError
	if !errors.Is(err, core.ErrWorkerCrashed) || !errors.As(err, &te) {
		t.Fatalf("got %v, want a crashed-worker TaskError", err)
	}
	if te.Task != "test.boom" || te.Panic != "kaboom" || !strings.Contains(te.Stack, "core_test") {
		t.Fatalf("task error %q %v stack:%v", te.Task, te.Panic, len(te.Stack))
	}
}

var errApp = errors.New("bad row")

var failCalls atomic.Int32
var fails = core.Func0("test.fails", func(ctx context.Context) (int, error) {
	failCalls.Add(1)
	return 0, errApp
})

func TestApplicationErrorRetriedOnlyWhenAsked(t *testing.T) {
	ctx := setup(t)
	failCalls.Store(0)
	calls := &failCalls
	_, err := core.Get(ctx, fails.Remote(ctx))
	if !errors.Is(err, core.ErrTaskFailed) || !errors.Is(err, errApp) || calls.Load() != 1 {
		t.Fatalf("got %v after %d calls", err, calls.Load())
	}
	calls.Store(0)
	_, err = core.Get(ctx, fails.Options(core.RetryExceptions(true), core.MaxRetries(2)).Remote(ctx))
	if !errors.Is(err, errApp) || calls.Load() != 3 {
		t.Fatalf("with RetryExceptions: %v after %d calls, want 3", err, calls.Load())
	}
}

type Fragile struct{ calls int }

var fragileClass = core.Actor0("test.Fragile", func(ctx context.Context) (*Fragile, error) { return &Fragile{}, nil })
var fragileHit = core.Method1("test.Fragile.Hit", func(f *Fragile, ctx context.Context, crash bool) (int, error) {
	if crash {
		panic("actor crash")
	}
	f.calls++
	return f.calls, nil
})

func TestActorRestartsThenDies(t *testing.T) {
	ctx := setup(t)
	h, err := fragileClass.Options(core.MaxRestarts(2)).Remote(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if v, _ := core.Get(ctx, fragileHit.Remote(ctx, h, false)); v != 1 {
		t.Fatalf("first call %d", v)
	}
	for i := range 2 {
		if _, err := core.Get(ctx, fragileHit.Remote(ctx, h, true)); !errors.Is(err, core.ErrActorDied) {
			t.Fatalf("crash %d: %v", i, err)
		}
		// Restarted: state is fresh, calls work again.
		if v, err := core.Get(ctx, fragileHit.Remote(ctx, h, false)); err != nil || v != 1 {
			t.Fatalf("after restart %d: %v, %v", i, v, err)
		}
	}
	if h.Restarts() != 2 {
		t.Fatalf("restarts %d", h.Restarts())
	}
	if _, err := core.Get(ctx, fragileHit.Remote(ctx, h, true)); !errors.Is(err, core.ErrActorDied) {
		t.Fatalf("third crash: %v", err)
	}
	_, err = core.Get(ctx, fragileHit.Remote(ctx, h, false))
	if !errors.Is(err, core.ErrActorDied) || !strings.Contains(err.Error(), "MaxRestarts=2") {
		t.Fatalf("call on dead actor: %v", err)
	}
}

type Once struct{}

var onceCrashed atomic.Bool
var onceClass = core.Actor0("test.Once", func(ctx context.Context) (*Once, error) { return &Once{}, nil }, core.MaxRestarts(1), core.MaxTaskRetries(1))
var onceDo = core.Method0("test.Once.Do", func(o *Once, ctx context.Context) (string, error) {
	if onceCrashed.CompareAndSwap(false, true) {
		panic("first time")
	}
	return "done", nil
})

func TestActorTaskRetryAfterRestart(t *testing.T) {
	ctx := setup(t)
	onceCrashed.Store(false)
	h, err := onceClass.Remote(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if v, err := core.Get(ctx, onceDo.Remote(ctx, h)); err != nil || v != "done" {
		t.Fatalf("got %q, %v", v, err)
	}
}

type Gate struct{ inside atomic.Int32 }

var (
	gatePeak atomic.Int32
	gateOpen chan struct{} // closed once 4 calls are inside at once
	gateOnce *sync.Once
)

var gateClass = core.Actor0("test.Gate", func(ctx context.Context) (*Gate, error) { return &Gate{}, nil })
var gateEnter = core.Method0("test.Gate.Enter", func(g *Gate, ctx context.Context) (int32, error) {
	n := g.inside.Add(1)
	defer g.inside.Add(-1)
	storeMax(&gatePeak, n)
	if n == 4 {
		gateOnce.Do(func() { close(gateOpen) })
	}
	select {
	case <-gateOpen:
		return n, nil
	case <-ctx.Done():
		return n, ctx.Err()
	}
})

func storeMax(p *atomic.Int32, n int32) {
	for {
		cur := p.Load()
		if n <= cur || p.CompareAndSwap(cur, n) {
			return
		}
	}
}

func TestActorMaxConcurrency(t *testing.T) {
	ctx := setup(t)
	gatePeak.Store(0)
	gateOpen, gateOnce = make(chan struct{}), &sync.Once{}
	h, err := gateClass.Options(core.MaxConcurrency(4)).Remote(ctx)
	if err != nil {
		t.Fatal(err)
	}
	// Every call waits until four are inside at once: with fewer than four
	// slots this never happens and the test fails on its deadline.
	var refs []core.Ref[int32]
	for range 8 {
		refs = append(refs, gateEnter.Remote(ctx, h))
	}
	if _, err := core.GetAll(ctx, refs); err != nil {
		t.Fatal(err)
	}
	if p := gatePeak.Load(); p != 4 {
		t.Fatalf("peak concurrency %d, want 4", p)
	}
}

type Bad struct{}

var badClass = core.Actor0("test.Bad", func(ctx context.Context) (*Bad, error) { return nil, errors.New("no model file") })
var badM = core.Method0("test.Bad.M", func(b *Bad, ctx context.Context) (int, error) { return 1, nil })

func TestConstructorErrorKillsActor(t *testing.T) {
	ctx := setup(t)
	h, err := badClass.Remote(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if err := h.Ready(ctx); !errors.Is(err, core.ErrActorDied) || !strings.Contains(err.Error(), "no model file") {
		t.Fatalf("Ready: %v", err)
	}
	if _, err := core.Get(ctx, badM.Remote(ctx, h)); !errors.Is(err, core.ErrActorDied) {
		t.Fatalf("call: %v", err)
	}
}

var workRunning, workPeak atomic.Int32
var work = core.Func1("test.work", func(ctx context.Context, i int) (int, error) {
	storeMax(&workPeak, workRunning.Add(1))
	time.Sleep(5 * time.Millisecond)
	workRunning.Add(-1)
	return i, nil
})

func TestResourcesNeverOversubscribed(t *testing.T) {
	ctx := setup(t, core.WithNumCPUs(3))
	workPeak.Store(0)
	peak := &workPeak
	var refs []core.Ref[int]
	for i := range 20 {
		refs = append(refs, work.Remote(ctx, i))
	}
	// Two-CPU tasks mixed in: at most one of them plus one single at a time.
	for i := range 4 {
		refs = append(refs, work.Options(core.NumCPUs(2)).Remote(ctx, 100+i))
	}
	if _, err := core.GetAll(ctx, refs); err != nil {
		t.Fatal(err)
	}
	if p := peak.Load(); p > 3 {
		t.Fatalf("peak %d tasks on 3 CPUs", p)
	}
	// A custom resource limits concurrency too.
	core.Shutdown()
	ctx = setup(t, core.WithNumCPUs(8), core.WithResources(map[string]float64{"gpu-slot": 1}))
	peak.Store(0)
	refs = refs[:0]
	for i := range 6 {
		refs = append(refs, work.Options(core.Resources(map[string]float64{"gpu-slot": 1})).Remote(ctx, i))
	}
	if _, err := core.GetAll(ctx, refs); err != nil {
		t.Fatal(err)
	}
	if peak.Load() != 1 {
		t.Fatalf("peak %d with one gpu-slot", peak.Load())
	}
}

func TestBadInput(t *testing.T) {
	ctx := setup(t, core.WithNumCPUs(2))
	t.Run("duplicate registration panics with the name", func(t *testing.T) {
		defer func() {
			r := recover()
			if r == nil || !strings.Contains(fmt.Sprint(r), `"test.square" registered twice`) {
				t.Fatalf("recover: %v", r)
			}
		}()
		core.Func1("test.square", func(ctx context.Context, x int) (int, error) { return x, nil })
	})
	t.Run("unregistered name", func(t *testing.T) {
		_, err := core.Get(ctx, core.Call(ctx, "no.such.func", 1))
		if !errors.Is(err, core.ErrNotRegistered) || !strings.Contains(err.Error(), "no.such.func") {
			t.Fatalf("got %v", err)
		}
	})
	t.Run("call by name", func(t *testing.T) {
		v, err := core.Get(ctx, core.Call(ctx, "test.square", 7))
		if err != nil || v != 49 {
			t.Fatalf("got %v, %v", v, err)
		}
		_, err = core.Get(ctx, core.Call(ctx, "test.square", "seven"))
		if !errors.Is(err, core.ErrInvalidInput) {
			t.Fatalf("wrong arg type: %v", err)
		}
	})
	t.Run("negative resources", func(t *testing.T) {
		_, err := core.Get(ctx, square.Options(core.NumCPUs(-1)).Remote(ctx, 2))
		if !errors.Is(err, core.ErrInvalidInput) || !strings.Contains(err.Error(), "NumCPUs = -1") {
			t.Fatalf("got %v", err)
		}
	})
	t.Run("impossible resources fail at once", func(t *testing.T) {
		_, err := core.Get(ctx, square.Options(core.NumCPUs(64)).Remote(ctx, 2))
		if !errors.Is(err, core.ErrInfeasible) || !strings.Contains(err.Error(), "CPU=64") || !strings.Contains(err.Error(), "CPU=2") {
			t.Fatalf("got %v", err)
		}
		_, err = counterClass.Options(core.NumGPUs(1)).Remote(ctx, 0)
		if !errors.Is(err, core.ErrInfeasible) {
			t.Fatalf("actor: got %v", err)
		}
	})
	t.Run("bad Init option", func(t *testing.T) {
		core.Shutdown()
		if err := core.Init(core.WithNumCPUs(-2)); !errors.Is(err, core.ErrInvalidInput) {
			t.Fatalf("got %v", err)
		}
	})
}

func TestGetAfterShutdown(t *testing.T) {
	ctx := setup(t)
	ref := square.Remote(ctx, 3)
	if v, _ := core.Get(ctx, ref); v != 9 {
		t.Fatal(v)
	}
	core.Shutdown()
	core.Shutdown() // idempotent
	if _, err := core.Get(ctx, ref); !errors.Is(err, core.ErrShutdown) {
		t.Fatalf("Get after Shutdown: %v", err)
	}
}

func TestShutdownCancelsRunningAndQueuedWork(t *testing.T) {
	ctx := setup(t, core.WithNumCPUs(1))
	running := sleepFor.Remote(ctx, 60_000)
	queued := sleepFor.Remote(ctx, 60_000)
	time.Sleep(10 * time.Millisecond)
	done := make(chan struct{})
	go func() { core.Shutdown(); close(done) }()
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		t.Fatal("Shutdown did not return")
	}
	for _, r := range []core.Ref[int]{running, queued} {
		if _, err := core.Get(ctx, r); !errors.Is(err, core.ErrShutdown) {
			t.Fatalf("got %v", err)
		}
	}
}

var maybePanic = core.Func1("test.maybePanic", func(ctx context.Context, i int) (int, error) {
	if i%3 == 0 {
		panic(fmt.Sprintf("item %d", i))
	}
	return i, nil
}, core.MaxRetries(0))

func TestTaskPanicNeverCrashesProcessUnderLoad(t *testing.T) {
	ctx := setup(t)
	p := maybePanic
	var wg sync.WaitGroup
	for g := range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range 30 {
				_, err := core.Get(ctx, p.Remote(ctx, g*100+i))
				if ((g*100+i)%3 == 0) != (err != nil) {
					t.Errorf("item %d: %v", g*100+i, err)
				}
			}
		}()
	}
	wg.Wait()
}

var failAtRan atomic.Int32
var failAt = core.Func1("test.failAt", func(ctx context.Context, i int) (int, error) {
	failAtRan.Add(1)
	if i == 1 {
		return 0, errApp
	}
	select {
	case <-time.After(20 * time.Millisecond):
	case <-ctx.Done():
	}
	return i, nil
})

func TestMapInOrderAndFirstErrorCancels(t *testing.T) {
	ctx := setup(t, core.WithNumCPUs(2))
	items := make([]int, 100)
	for i := range items {
		items[i] = i
	}
	got, err := core.Map(ctx, square, items)
	if err != nil {
		t.Fatal(err)
	}
	for i, v := range got {
		if v != i*i {
			t.Fatalf("item %d: %d", i, v)
		}
	}
	failAtRan.Store(0)
	ran := &failAtRan
	_, err = core.Map(ctx, failAt, items)
	if !errors.Is(err, errApp) || !strings.Contains(err.Error(), "item 1") {
		t.Fatalf("got %v", err)
	}
	if ran.Load() == int32(len(items)) {
		t.Fatalf("all %d items ran; the error should cancel the rest", ran.Load())
	}
}

func TestSpillingPastMemoryBudget(t *testing.T) {
	dir := t.TempDir()
	ctx := setup(t, core.WithMemoryBudget(4<<20), core.WithSpillDir(dir))
	const n = 40 // 40 MiB through a 4 MiB budget
	var refs []core.Ref[[]byte]
	for i := range n {
		b := make([]byte, 1<<20)
		for j := range b {
			b[j] = byte(i + j)
		}
		r, err := core.Put(ctx, b)
		if err != nil {
			t.Fatal(err)
		}
		refs = append(refs, r)
	}
	st := core.ObjectStoreStats()
	if st.MemoryBytes > 4<<20 || st.PeakMemory > 5<<20 || st.SpilledFiles < n-4 {
		t.Fatalf("budget not held: %+v", st)
	}
	// Every value reads back intact, spilled or not.
	for i, r := range refs {
		b, err := core.Get(ctx, r)
		if err != nil {
			t.Fatal(err)
		}
		if len(b) != 1<<20 || b[0] != byte(i) || b[1000] != byte(i+1000) {
			t.Fatalf("object %d corrupted", i)
		}
	}
	if files := spillFiles(t); files == 0 {
		t.Fatal("no spill files on disk")
	}
	for _, r := range refs {
		r.Release()
	}
	if files := spillFiles(t); files != 0 {
		t.Fatalf("%d spill files left after releasing every ref", files)
	}
	if st := core.ObjectStoreStats(); st.MemoryBytes != 0 || st.SpilledBytes != 0 {
		t.Fatalf("store not empty: %+v", st)
	}
}

func spillFiles(t *testing.T) int {
	t.Helper()
	entries, err := os.ReadDir(core.SpillDir())
	if err != nil && !os.IsNotExist(err) {
		t.Fatal(err)
	}
	return len(entries)
}

func TestGarbageCollectedRefsFreeObjects(t *testing.T) {
	ctx := setup(t, core.WithMemoryBudget(1<<20))
	func() {
		for range 8 {
			if _, err := core.Put(ctx, make([]byte, 512<<10)); err != nil {
				t.Fatal(err)
			}
		}
	}()
	for ctx.Err() == nil {
		runtime.GC()
		if st := core.ObjectStoreStats(); st.MemoryBytes == 0 && st.SpilledFiles == 0 {
			return
		}
		time.Sleep(10 * time.Millisecond)
	}
	t.Fatalf("unreachable refs not freed: %+v", core.ObjectStoreStats())
}

var mkBytes = core.Func1("test.mkBytes", func(ctx context.Context, i int) ([]byte, error) {
	b := make([]byte, 1<<20)
	b[0] = byte(i)
	return b, nil
})

func TestTaskResultsSpillToo(t *testing.T) {
	ctx := setup(t, core.WithMemoryBudget(2<<20))
	mk := mkBytes
	var refs []core.Ref[[]byte]
	for i := range 10 {
		refs = append(refs, mk.Remote(ctx, i))
	}
	for i, r := range refs {
		b, err := core.Get(ctx, r)
		if err != nil || b[0] != byte(i) {
			t.Fatalf("object %d: %v", i, err)
		}
	}
	if st := core.ObjectStoreStats(); st.SpillsTotal == 0 || st.PeakMemory > 3<<20 {
		t.Fatalf("results not spilled: %+v", st)
	}
}

func TestPutTooLarge(t *testing.T) {
	ctx := setup(t, core.WithMemoryBudget(1<<20), core.WithSpillLimit(2<<20))
	_, err := core.Put(ctx, make([]byte, 4<<20))
	if !errors.Is(err, core.ErrObjectTooLarge) || !strings.Contains(err.Error(), "4194304 bytes") {
		t.Fatalf("got %v", err)
	}
	// A value that fits on disk but not in memory goes straight to disk.
	r, err := core.Put(ctx, make([]byte, 1536<<10))
	if err != nil {
		t.Fatal(err)
	}
	if b, err := core.Get(ctx, r); err != nil || len(b) != 1536<<10 {
		t.Fatalf("got %d bytes, %v", len(b), err)
	}
}

func TestCancelQueuedTask(t *testing.T) {
	ctx := setup(t, core.WithNumCPUs(1))
	blocker := sleepFor.Remote(ctx, 200)
	queued := sleepFor.Remote(ctx, 1)
	if err := core.Cancel(queued); err != nil {
		t.Fatal(err)
	}
	if _, err := core.Get(ctx, queued); !errors.Is(err, core.ErrTaskCancelled) {
		t.Fatalf("got %v", err)
	}
	if v, err := core.Get(ctx, blocker); err != nil || v != 200 {
		t.Fatalf("blocker: %v %v", v, err)
	}
}

func TestActorsHoldResourcesAndQueueForThem(t *testing.T) {
	ctx := setup(t, core.WithNumCPUs(2))
	a, err := counterClass.Options(core.NumCPUs(2)).Remote(ctx, 0)
	if err != nil {
		t.Fatal(err)
	}
	if err := a.Ready(ctx); err != nil {
		t.Fatal(err)
	}
	if got := core.AvailableResources()["CPU"]; got != 0 {
		t.Fatalf("available CPU %v while actor holds 2", got)
	}
	b, err := counterClass.Options(core.NumCPUs(1)).Remote(ctx, 100)
	if err != nil {
		t.Fatal(err)
	}
	r := counterIncr.Remote(ctx, b)
	if _, _, err := core.Wait(ctx, []core.Ref[int]{r}, core.WaitOptions{Timeout: 30 * time.Millisecond}); err != nil {
		t.Fatal(err)
	}
	core.Kill(a)
	if v, err := core.Get(ctx, r); err != nil || v != 101 {
		t.Fatalf("second actor after first freed its CPUs: %v %v", v, err)
	}
}

type Driver struct{}

var driverClass = core.Actor0("test.Driver", func(ctx context.Context) (*Driver, error) { return &Driver{}, nil })
var driverFanOut = core.Method1("test.Driver.FanOut", func(d *Driver, ctx context.Context, n int) (int, error) {
	refs := make([]core.Ref[int], n)
	for i := range refs {
		refs[i] = square.Remote(ctx, i)
	}
	vals, err := core.GetAll(ctx, refs)
	if err != nil {
		return 0, err
	}
	s := 0
	for _, v := range vals {
		s += v
	}
	return s, nil
})

func TestKillAndWaitStopsTheLoop(t *testing.T) {
	ctx := setup(t)
	h, err := counterClass.Remote(ctx, 0)
	if err != nil {
		t.Fatal(err)
	}
	r := counterIncr.Remote(ctx, h)
	if _, err := core.Get(ctx, r); err != nil {
		t.Fatal(err)
	}
	if err := core.KillAndWait(ctx, h); err != nil {
		t.Fatal(err)
	}
	if _, err := core.Get(ctx, counterIncr.Remote(ctx, h)); !errors.Is(err, core.ErrActorDied) {
		t.Fatalf("call after KillAndWait: %v", err)
	}
}

func TestRepeatedWaitDoesNotLeak(t *testing.T) {
	ctx := setup(t, core.WithNumCPUs(1))
	slow := sleepFor.Remote(ctx, 300)
	for range 2000 {
		if _, _, err := core.Wait(ctx, []core.Ref[int]{slow}, core.WaitOptions{Timeout: time.Microsecond}); err != nil {
			t.Fatal(err)
		}
	}
	if v, err := core.Get(ctx, slow); err != nil || v != 300 {
		t.Fatalf("got %v %v", v, err)
	}
}

func TestActorHoldingAllCPUsCanWaitOnTasks(t *testing.T) {
	ctx := setup(t, core.WithNumCPUs(2))
	var hs []*core.ActorHandle[*Driver]
	for range 2 {
		h, err := driverClass.Options(core.NumCPUs(1)).Remote(ctx)
		if err != nil {
			t.Fatal(err)
		}
		hs = append(hs, h)
	}
	var refs []core.Ref[int]
	for _, h := range hs {
		refs = append(refs, driverFanOut.Remote(ctx, h, 20))
	}
	got, err := core.GetAll(ctx, refs)
	if err != nil {
		t.Fatal(err)
	}
	if got[0] != 2470 || got[1] != 2470 {
		t.Fatalf("got %v", got)
	}
}

type Shaky struct{}

var shakyClass = core.Actor0("test.Shaky", func(ctx context.Context) (*Shaky, error) { return &Shaky{}, nil })
var shakyHit = core.Method1("test.Shaky.Hit", func(s *Shaky, ctx context.Context, crash bool) (int, error) {
	if crash {
		panic("concurrent actor crash")
	}
	return 1, nil
})

// A concurrent actor that runs out of restarts fails every queued call and
// its workers exit (KillAndWait returns at once).
func TestConcurrentActorDiesAndStops(t *testing.T) {
	ctx := setup(t)
	h, err := shakyClass.Options(core.MaxConcurrency(3), core.MaxRestarts(1)).Remote(ctx)
	if err != nil {
		t.Fatal(err)
	}
	for range 2 {
		if _, err := core.Get(ctx, shakyHit.Remote(ctx, h, true)); !errors.Is(err, core.ErrActorDied) {
			t.Fatalf("crash: %v", err)
		}
	}
	if _, err := core.Get(ctx, shakyHit.Remote(ctx, h, false)); !errors.Is(err, core.ErrActorDied) {
		t.Fatalf("call on the dead actor: %v", err)
	}
	stopCtx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	if err := core.KillAndWait(stopCtx, h); err != nil {
		t.Fatalf("the dead actor's workers did not stop: %v", err)
	}
}
