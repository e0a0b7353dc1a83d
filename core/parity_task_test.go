package core_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"runtime"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/goray/goray/core"
)

// Ray's wait requires unique object refs ("Wait requires a list of unique
// object refs"): a duplicate is an invalid input that names its index.
func TestWaitRejectsDuplicateRefs(t *testing.T) {
	ctx := setup(t, core.WithNumCPUs(2))
	a, err := core.Put(ctx, 1)
	if err != nil {
		t.Fatal(err)
	}
	b := square.Remote(ctx, 3)
	for name, refs := range map[string][]core.Ref[int]{
		"same ref twice": {a, b, a},
		"copy of a ref":  {b, a, func() core.Ref[int] { c := a; return c }()},
	} {
		_, _, err := core.Wait(ctx, refs, core.WaitOptions{NumReturns: 1})
		if !errors.Is(err, core.ErrInvalidInput) || !strings.Contains(err.Error(), "ref 2") {
			t.Errorf("%s: Wait: %v, want ErrInvalidInput naming ref 2", name, err)
		}
	}
	var many []core.Ref[int]
	for i := range 20 {
		r, err := core.Put(ctx, i)
		if err != nil {
			t.Fatal(err)
		}
		many = append(many, r)
	}
	many[19] = many[5]
	if _, _, err := core.Wait(ctx, many, core.WaitOptions{}); !errors.Is(err, core.ErrInvalidInput) || !strings.Contains(err.Error(), "ref 19") {
		t.Errorf("20 refs: Wait: %v, want ErrInvalidInput naming ref 19", err)
	}
	if ready, _, err := core.Wait(ctx, []core.Ref[int]{a, b}, core.WaitOptions{NumReturns: 2}); err != nil || len(ready) != 2 {
		t.Errorf("unique refs: ready %d, %v", len(ready), err)
	}
}

// Errors a task may retry on. errTransient crosses processes by name, so
// that RetryOn matches it after the error's wire round trip too.
var (
	errTransient = errors.New("transient")
	errFatal     = errors.New("fatal")
)

func init() { core.RegisterError("core_test.errTransient", errTransient) }

// runSeq tells the runs of one test apart (go test -count=N).
var runSeq atomic.Int64

// attempts counts calls per key, for tasks that fail a given number of times.
var attempts struct {
	sync.Mutex
	n map[string]int
}

func attempt(key string) int {
	attempts.Lock()
	defer attempts.Unlock()
	if attempts.n == nil {
		attempts.n = map[string]int{}
	}
	attempts.n[key]++
	return attempts.n[key]
}

// failing fails its first failures calls (per key) with the error kind names,
// then returns the number of the call that succeeded.
var failing = core.Func3("test.parity.failing", func(ctx context.Context, key, kind string, failures int) (int, error) {
	n := attempt(key)
	if n > failures {
		return n, nil
	}
	switch kind {
	case "transient":
		return 0, fmt.Errorf("%w: call %d", errTransient, n)
	case "invalid":
		return 0, fmt.Errorf("%w: call %d", core.ErrInvalidInput, n)
	}
	return 0, fmt.Errorf("%w: call %d", errFatal, n)
})

// Ray's retry_exceptions=[...]: a task retries, up to max_retries, only on
// the listed exceptions; any other one fails it at once.
func TestRetryOnRetriesOnlyListedErrors(t *testing.T) {
	ctx := setup(t, core.WithNumCPUs(2))
	key := fmt.Sprintf("%s/%d", t.Name(), runSeq.Add(1))
	// A listed error is retried until the task succeeds.
	f := failing.Options(core.RetryOn(errTransient), core.MaxRetries(3))
	if n, err := core.Get(ctx, f.Remote(ctx, key+"/ok", "transient", 2)); err != nil || n != 3 {
		t.Errorf("listed error: got %d, %v; want success on call 3", n, err)
	}
	// A category is a kind too.
	g := failing.Options(core.RetryOn(errTransient, core.ErrInvalidInput), core.MaxRetries(3))
	if n, err := core.Get(ctx, g.Remote(ctx, key+"/category", "invalid", 1)); err != nil || n != 2 {
		t.Errorf("listed category: got %d, %v; want success on call 2", n, err)
	}
	// Another error fails at once, even with RetryExceptions.
	h := failing.Options(core.RetryOn(errTransient), core.RetryExceptions(true), core.MaxRetries(3))
	_, err := core.Get(ctx, h.Remote(ctx, key+"/fatal", "fatal", 1))
	var te *core.TaskError
	if !errors.Is(err, core.ErrTaskFailed) || !strings.Contains(err.Error(), "fatal: call 1") || !errors.As(err, &te) || te.Attempts != 1 {
		t.Errorf("unlisted error: %v; want it after 1 attempt", err)
	}
	// A listed error past MaxRetries is the task's error.
	k := failing.Options(core.RetryOn(errTransient), core.MaxRetries(1))
	_, err = core.Get(ctx, k.Remote(ctx, key+"/exhausted", "transient", 5))
	if !errors.Is(err, errTransient) || !errors.Is(err, core.ErrTaskFailed) || !errors.As(err, &te) || te.Attempts != 2 {
		t.Errorf("listed error past MaxRetries(1): %v; want errTransient after 2 attempts", err)
	}
	attempts.Lock()
	got := [4]int{attempts.n[key+"/ok"], attempts.n[key+"/category"], attempts.n[key+"/fatal"], attempts.n[key+"/exhausted"]}
	attempts.Unlock()
	if got != [4]int{3, 2, 1, 2} {
		t.Errorf("calls made (ok, category, fatal, exhausted) = %v, want [3 2 1 2]", got)
	}
}

// gates lets a test hold tasks running until it opens their gate.
var gates struct {
	sync.Mutex
	m map[string]chan struct{}
}

func gate(key string) chan struct{} {
	gates.Lock()
	defer gates.Unlock()
	if gates.m == nil {
		gates.m = map[string]chan struct{}{}
	}
	c, ok := gates.m[key]
	if !ok {
		c = make(chan struct{})
		gates.m[key] = c
	}
	return c
}

func open(key string) { close(gate(key)) }

// hold signals key+"/entered" and runs until key's gate opens.
var hold = core.Func1("test.parity.hold", func(ctx context.Context, key string) (int, error) {
	open(key + "/entered")
	select {
	case <-gate(key):
		return 0, nil
	case <-ctx.Done():
		return 0, ctx.Err()
	}
})

func entered(t *testing.T, ctx context.Context, key string) {
	t.Helper()
	select {
	case <-gate(key + "/entered"):
	case <-ctx.Done():
		t.Fatalf("task %s never started: %v", key, ctx.Err())
	}
}

// promptly bounds a wait that only a scheduling bug makes long.
func promptly(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(t.Context(), 5*time.Second)
	t.Cleanup(cancel)
	return ctx
}

// A request waiting for resources does not hold up the ones behind it
// that fit: Ray's raylet queues each resource shape apart. Here 4 CPUs,
// an actor holding 2 and one waiting for 4.
func TestWaitingActorDoesNotBlockSmallerWork(t *testing.T) {
	ctx := setup(t, core.WithNumCPUs(4))
	a, err := counterClass.Options(core.NumCPUs(2)).Remote(ctx, 0)
	if err != nil {
		t.Fatal(err)
	}
	if err := a.Ready(ctx); err != nil {
		t.Fatal(err)
	}
	b, err := counterClass.Options(core.NumCPUs(4)).Remote(ctx, 0)
	if err != nil {
		t.Fatal(err)
	}
	// Give b the time to start waiting (it cannot be seen from outside).
	short, cancel := context.WithTimeout(ctx, 100*time.Millisecond)
	defer cancel()
	if err := b.Ready(short); err == nil {
		t.Fatal("an actor asking for 4 CPUs started while another held 2 of 4")
	}
	if v, err := core.Get(promptly(t), square.Remote(ctx, 7)); err != nil || v != 49 {
		t.Fatalf("1-CPU task behind an actor waiting for 4 CPUs: %v, %v", v, err)
	}
	c, err := counterClass.Options(core.NumCPUs(1)).Remote(ctx, 10)
	if err != nil {
		t.Fatal(err)
	}
	if v, err := core.Get(promptly(t), counterIncr.Remote(ctx, c)); err != nil || v != 11 {
		t.Fatalf("1-CPU actor behind an actor waiting for 4 CPUs: %v, %v", v, err)
	}
	// Once the first actor is gone, the big one gets its CPUs.
	core.Kill(a)
	core.Kill(c)
	if v, err := core.Get(promptly(t), counterIncr.Remote(ctx, b)); err != nil || v != 1 {
		t.Fatalf("4-CPU actor once the CPUs are free: %v, %v", v, err)
	}
}

func TestWaitingTaskDoesNotBlockSmallerTasks(t *testing.T) {
	ctx := setup(t, core.WithNumCPUs(4))
	a, err := counterClass.Options(core.NumCPUs(2)).Remote(ctx, 0)
	if err != nil {
		t.Fatal(err)
	}
	if err := a.Ready(ctx); err != nil {
		t.Fatal(err)
	}
	big := square.Options(core.NumCPUs(4)).Remote(ctx, 2)
	if v, err := core.Get(promptly(t), square.Remote(ctx, 7)); err != nil || v != 49 {
		t.Fatalf("1-CPU task behind a task waiting for 4 CPUs: %v, %v", v, err)
	}
	core.Kill(a)
	if v, err := core.Get(promptly(t), big); err != nil || v != 4 {
		t.Fatalf("4-CPU task once the CPUs are free: %v, %v", v, err)
	}
}

// order records the order in which its calls start, per key.
var order struct {
	sync.Mutex
	m map[string][]string
}

var record = core.Func2("test.parity.record", func(ctx context.Context, key, tag string) (int, error) {
	order.Lock()
	defer order.Unlock()
	if order.m == nil {
		order.m = map[string][]string{}
	}
	order.m[key] = append(order.m[key], tag)
	return len(order.m[key]), nil
})

func recorded(key string) []string {
	order.Lock()
	defer order.Unlock()
	return slices.Clone(order.m[key])
}

// Small requests may pass a big one that does not fit, but not for ever: a
// stream of them does not starve it. Two CPUs, one held; a 2-CPU task waits
// while 1-CPU tasks pass it on the free CPU, then on both.
func TestBigTaskNotStarvedBySmallOnes(t *testing.T) {
	ctx := setup(t, core.WithNumCPUs(2))
	key := fmt.Sprintf("%s/%d", t.Name(), runSeq.Add(1))
	s1, s2 := hold.Remote(ctx, key+"/s1"), hold.Remote(ctx, key+"/s2")
	entered(t, ctx, key+"/s1")
	entered(t, ctx, key+"/s2")
	big := record.Options(core.NumCPUs(2)).Remote(ctx, key, "big")
	const n = 300
	var small []core.Ref[int]
	for range n {
		small = append(small, record.Remote(ctx, key, "small"))
	}
	open(key + "/s1")
	for len(recorded(key)) < 10 {
		select {
		case <-ctx.Done():
			t.Fatal(ctx.Err())
		case <-time.After(time.Millisecond):
		}
	}
	open(key + "/s2")
	if _, err := core.GetAll(ctx, append(small, big, s1, s2)); err != nil {
		t.Fatal(err)
	}
	got := recorded(key)
	at := slices.Index(got, "big")
	t.Logf("the 2-CPU task started after %d 1-CPU tasks", at)
	if at < 0 || at > n/2 {
		t.Fatalf("the 2-CPU task started after %d of %d 1-CPU tasks submitted after it", at, n)
	}
}

// gpuParent waits for its gate, then runs a 1-CPU child and waits for it.
var gpuParent = core.Func1("test.parity.gpuParent", func(ctx context.Context, key string) (int, error) {
	open(key + "/entered")
	select {
	case <-gate(key):
	case <-ctx.Done():
		return 0, ctx.Err()
	}
	return core.Get(ctx, square.Remote(ctx, 5))
})

// The resources gathered for a starved request never wait on a task that
// is blocked in Get: it may wait for work queued behind that request.
// Here a parent holding the only GPU waits for a 1-CPU child while a task
// asking for the GPU and both CPUs is starved by 1-CPU tasks.
func TestStarvedRequestDoesNotDeadlockBlockedParent(t *testing.T) {
	ctx := setup(t, core.WithNumCPUs(2), core.WithNumGPUs(1))
	key := fmt.Sprintf("%s/%d", t.Name(), runSeq.Add(1))
	parent := gpuParent.Options(core.NumCPUs(1), core.NumGPUs(1)).Remote(ctx, key)
	entered(t, ctx, key)
	big := record.Options(core.NumCPUs(2), core.NumGPUs(1)).Remote(ctx, key, "big")
	var small []core.Ref[int]
	for range 100 {
		small = append(small, record.Remote(ctx, key, "small"))
	}
	for len(recorded(key)) < 64 {
		select {
		case <-ctx.Done():
			t.Fatal(ctx.Err())
		case <-time.After(time.Millisecond):
		}
	}
	open(key)
	if v, err := core.Get(promptly(t), parent); err != nil || v != 25 {
		t.Fatalf("parent: %v, %v", v, err)
	}
	if _, err := core.GetAll(promptly(t), append(small, big)); err != nil {
		t.Fatal(err)
	}
}

var divmod = core.Func2x2("test.parity.divmod", func(ctx context.Context, a, b int) (int, int, error) {
	if b == 0 {
		return 0, 0, fmt.Errorf("%w: divide %d by zero", core.ErrInvalidInput, a)
	}
	return a / b, a % b, nil
})

var stats3 = core.Func1x3("test.parity.stats3", func(ctx context.Context, xs []float64) (float64, float64, int, error) {
	lo, hi := xs[0], xs[0]
	for _, x := range xs {
		lo, hi = min(lo, x), max(hi, x)
	}
	return lo, hi, len(xs), nil
})

// Ray's num_returns: a task's results are separate objects, each its own
// ref, passed on and waited on alone; their IDs are the task's ID and the
// return index.
func TestSeveralReturnsAreSeparateRefs(t *testing.T) {
	ctx := setup(t, core.WithNumCPUs(2))
	q, r := divmod.Remote(ctx, 17, 5)
	if ready, _, err := core.Wait(ctx, []core.Ref[int]{r}, core.WaitOptions{}); err != nil || len(ready) != 1 {
		t.Fatalf("Wait on the second return alone: %d ready, %v", len(ready), err)
	}
	if v, err := core.Get(ctx, square.RemoteArgs(ctx, r)); err != nil || v != 4 {
		t.Errorf("second return passed on: %v, %v", v, err)
	}
	if v, err := core.Get(ctx, q); err != nil || v != 3 {
		t.Errorf("first return: %v, %v", v, err)
	}
	qid, err1 := core.ParseObjectID(q.ID())
	rid, err2 := core.ParseObjectID(r.ID())
	if err1 != nil || err2 != nil || qid.Task() != rid.Task() || qid.Index() != 1 || rid.Index() != 2 || qid.IsPut() {
		t.Errorf("IDs %s and %s (%v, %v): want one task's returns 1 and 2", q.ID(), r.ID(), err1, err2)
	}
	q2, _ := divmod.Remote(ctx, 1, 2)
	if id, err := core.ParseObjectID(q2.ID()); err != nil || id.Task() == qid.Task() {
		t.Errorf("another call's ID %s: want another task", q2.ID())
	}

	lo, hi, n := stats3.Remote(ctx, []float64{3, -1, 7})
	if a, err := core.Get(ctx, lo); err != nil || a != -1 {
		t.Errorf("min: %v, %v", a, err)
	}
	if b, err := core.Get(ctx, hi); err != nil || b != 7 {
		t.Errorf("max: %v, %v", b, err)
	}
	if c, err := core.Get(ctx, n); err != nil || c != 3 {
		t.Errorf("count: %v, %v", c, err)
	}

	// An error fails every return.
	eq, er := divmod.Remote(ctx, 1, 0)
	for i, ref := range []core.Ref[int]{eq, er} {
		if _, err := core.Get(ctx, ref); !errors.Is(err, core.ErrTaskFailed) || !errors.Is(err, core.ErrInvalidInput) {
			t.Errorf("return %d of a failed task: %v", i+1, err)
		}
	}
	// A count that is not the function's is refused.
	for _, o := range []core.FuncOption{core.NumReturns(3), core.NumReturns(0)} {
		a, b := divmod.Options(o).Remote(ctx, 7, 2)
		if _, err := core.Get(ctx, b); !errors.Is(err, core.ErrInvalidInput) {
			t.Errorf("divmod with a bad NumReturns: %v", err)
		}
		a.Release()
	}
	if _, err := core.Get(ctx, core.Call(ctx, "test.parity.divmod", 9, 4)); err != nil {
		t.Errorf("by name: %v", err)
	}
}

var halves = core.Func0x2("test.parity.halves", func(ctx context.Context) ([]byte, []byte, error) {
	return make([]byte, 300<<10), make([]byte, 200<<10), nil
})

// Freeing one return does not free the other.
func TestReleasingOneReturnKeepsTheOther(t *testing.T) {
	ctx := setup(t, core.WithNumCPUs(1))
	a, b := halves.Remote(ctx)
	if _, err := core.GetAll(ctx, []core.Ref[[]byte]{a, b}); err != nil {
		t.Fatal(err)
	}
	before := core.ObjectStoreStats()
	if before.Objects != 2 || before.MemoryBytes != 500<<10 {
		t.Fatalf("store holds %d objects, %d bytes; want both returns, %d bytes", before.Objects, before.MemoryBytes, 500<<10)
	}
	a.Release()
	after := core.ObjectStoreStats()
	if after.Objects != 1 || after.MemoryBytes != 200<<10 {
		t.Errorf("after releasing the first: %d objects, %d bytes; want the second's %d", after.Objects, after.MemoryBytes, 200<<10)
	}
	if v, err := core.Get(ctx, b); err != nil || len(v) != 200<<10 {
		t.Errorf("second return after the first was released: %d bytes, %v", len(v), err)
	}
	if _, err := core.Get(ctx, a); !errors.Is(err, core.ErrObjectFreed) {
		t.Errorf("released return: %v", err)
	}
}

var split = core.Func1xN("test.parity.split", func(ctx context.Context, n int) ([]int, error) {
	out := make([]int, n)
	for i := range out {
		out[i] = i * 10
	}
	return out, nil
})

// Ray's num_returns set per call: the function's list becomes that many refs.
func TestNumReturnsSplitsAList(t *testing.T) {
	ctx := setup(t, core.WithNumCPUs(2))
	refs := split.Options(core.NumReturns(4)).Remote(ctx, 4)
	got, err := core.GetAll(ctx, refs)
	if err != nil || !slices.Equal(got, []int{0, 10, 20, 30}) {
		t.Fatalf("4 returns: %v, %v", got, err)
	}
	first, _ := core.ParseObjectID(refs[0].ID())
	last, _ := core.ParseObjectID(refs[3].ID())
	if first.Task() != last.Task() || last.Index() != 4 {
		t.Errorf("IDs %s, %s", refs[0].ID(), refs[3].ID())
	}
	if refs := split.Remote(ctx, 1); len(refs) != 1 {
		t.Errorf("default NumReturns: %d refs, want 1", len(refs))
	}
	bad := split.Options(core.NumReturns(3)).Remote(ctx, 4)
	if len(bad) != 3 {
		t.Fatalf("%d refs for NumReturns(3)", len(bad))
	}
	for i, r := range bad {
		if _, err := core.Get(ctx, r); !errors.Is(err, core.ErrTaskFailed) || !errors.Is(err, core.ErrInvalidInput) || !strings.Contains(err.Error(), "returned 4 values") {
			t.Errorf("ref %d of a call returning 4 values for 3: %v", i, err)
		}
	}
	x, _ := core.Put(ctx, 2)
	if got, err := core.GetAll(ctx, split.Options(core.NumReturns(2)).RemoteArgs(ctx, x)); err != nil || !slices.Equal(got, []int{0, 10}) {
		t.Errorf("RemoteArgs: %v, %v", got, err)
	}
}

var held2 = core.Func1x2("test.parity.held2", func(ctx context.Context, key string) (int, int, error) {
	open(key + "/entered")
	<-ctx.Done()
	return 0, 0, ctx.Err()
})

// Cancelling the task through one of its refs cancels every return.
func TestCancelThroughOneReturn(t *testing.T) {
	ctx := setup(t, core.WithNumCPUs(1))
	key := fmt.Sprintf("%s/%d", t.Name(), runSeq.Add(1))
	a, b := held2.Remote(ctx, key)
	entered(t, ctx, key)
	if err := core.Cancel(b); err != nil {
		t.Fatal(err)
	}
	for i, r := range []core.Ref[int]{a, b} {
		if _, err := core.Get(ctx, r); !errors.Is(err, core.ErrTaskCancelled) {
			t.Errorf("return %d: %v", i+1, err)
		}
	}
}

var twoPoints = core.Func1x2("test.parity.twoPoints", func(ctx context.Context, p *Point) (*Point, *Point, error) {
	p.X++ // a copy in encode-all mode
	return sharedPoint, sharedPoint, nil
})

// In encode-all mode each return crosses the codec on its own.
func TestSeveralReturnsCrossTheCodec(t *testing.T) {
	ctx := setup(t, core.WithEncodeAll())
	in := &Point{X: 1}
	a, b := twoPoints.Remote(ctx, in)
	pa, err1 := core.Get(ctx, a)
	pb, err2 := core.Get(ctx, b)
	if err1 != nil || err2 != nil {
		t.Fatal(err1, err2)
	}
	if in.X != 1 || pa == sharedPoint || pb == sharedPoint || pa == pb || *pa != *sharedPoint {
		t.Errorf("argument %+v, returns %p %p of %p: want copies", in, pa, pb, sharedPoint)
	}
}

// squares yields 0, 1, 4, ... (n values); after the first it waits for
// key's gate, unless key is empty.
var squares = core.Gen2("test.parity.squares", func(ctx context.Context, key string, n int, yield func(int) error) error {
	for i := range n {
		if err := yield(i * i); err != nil {
			return err
		}
		if i == 0 && key != "" {
			select {
			case <-gate(key):
			case <-ctx.Done():
				return ctx.Err()
			}
		}
	}
	return nil
})

// Ray's streaming generator: the caller gets each value's ref as soon as
// it is yielded, while the task runs on; the refs are the task's returns
// 1, 2, ... in order.
func TestGeneratorStreamsRefsAsYielded(t *testing.T) {
	ctx := setup(t, core.WithNumCPUs(2))
	key := fmt.Sprintf("%s/%d", t.Name(), runSeq.Add(1))
	gen := squares.Remote(ctx, key, 5)
	first, err := gen.Next(promptly(t))
	if err != nil {
		t.Fatalf("first value while the task still runs: %v", err)
	}
	if v, err := core.Get(ctx, first); err != nil || v != 0 {
		t.Fatalf("first value: %v, %v", v, err)
	}
	if ready, _, _ := core.Wait(ctx, []core.Ref[struct{}]{gen.Completed()}, core.WaitOptions{Timeout: 20 * time.Millisecond}); len(ready) != 0 {
		t.Fatal("the task is over before its gate opened")
	}
	open(key)
	got := []int{0}
	ids := []string{first.ID()}
	for ref, err := range gen.All(ctx) {
		if err != nil {
			t.Fatal(err)
		}
		v, err := core.Get(ctx, ref)
		if err != nil {
			t.Fatal(err)
		}
		got = append(got, v)
		ids = append(ids, ref.ID())
	}
	if !slices.Equal(got, []int{0, 1, 4, 9, 16}) {
		t.Fatalf("values %v", got)
	}
	task0, _ := core.ParseObjectID(ids[0])
	for i, s := range ids {
		id, err := core.ParseObjectID(s)
		if err != nil || id.Task() != task0.Task() || id.Index() != uint32(i+1) {
			t.Errorf("ref %d ID %s: want return %d of task %s", i, s, i+1, task0.Task())
		}
	}
	if _, err := gen.Next(ctx); err != io.EOF {
		t.Errorf("Next after the last value: %v, want io.EOF", err)
	}
	if _, err := core.Get(ctx, gen.Completed()); err != nil {
		t.Errorf("Completed: %v", err)
	}
	// Ref arguments work as for functions.
	n, _ := core.Put(ctx, 3)
	var vals []int
	for ref, err := range squares.RemoteArgs(ctx, core.Val(""), n).All(ctx) {
		if err != nil {
			t.Fatal(err)
		}
		v, _ := core.Get(ctx, ref)
		vals = append(vals, v)
	}
	if !slices.Equal(vals, []int{0, 1, 4}) {
		t.Errorf("RemoteArgs: %v", vals)
	}
}

var failAfter = core.Gen1("test.parity.failAfter", func(ctx context.Context, k int, yield func(int) error) error {
	for i := range k {
		if err := yield(i); err != nil {
			return err
		}
	}
	return fmt.Errorf("%w: after %d values", errTransient, k)
})

// A generator that fails after k yields gives k refs, then its error.
func TestGeneratorErrorAfterKYields(t *testing.T) {
	ctx := setup(t, core.WithNumCPUs(2))
	gen := failAfter.Remote(ctx, 3)
	var got []int
	var last error
	for ref, err := range gen.All(ctx) {
		if err != nil {
			last = err
			break
		}
		v, err := core.Get(ctx, ref)
		if err != nil {
			t.Fatal(err)
		}
		got = append(got, v)
	}
	if !slices.Equal(got, []int{0, 1, 2}) || !errors.Is(last, core.ErrTaskFailed) || !errors.Is(last, errTransient) {
		t.Fatalf("values %v then %v; want [0 1 2] then the generator's error", got, last)
	}
	if _, err := core.Get(ctx, gen.Completed()); !errors.Is(err, errTransient) {
		t.Errorf("Completed: %v", err)
	}
	if _, err := gen.Next(ctx); !errors.Is(err, errTransient) {
		t.Errorf("Next after the error: %v", err)
	}
}

// yields counts, per key, the values a generator's yield accepted.
var yields struct {
	sync.Mutex
	n map[string]int
}

func yielded(key string) int {
	yields.Lock()
	defer yields.Unlock()
	return yields.n[key]
}

var produce = core.Gen2("test.parity.produce", func(ctx context.Context, key string, n int, yield func(int) error) error {
	for i := range n {
		if err := yield(i); err != nil {
			return err
		}
		yields.Lock()
		if yields.n == nil {
			yields.n = map[string]int{}
		}
		yields.n[key]++
		yields.Unlock()
	}
	return nil
})

func eventually(t *testing.T, what string, ok func() bool) {
	t.Helper()
	ctx := promptly(t)
	for !ok() {
		select {
		case <-ctx.Done():
			t.Fatalf("%s: %v", what, ctx.Err())
		case <-time.After(time.Millisecond):
		}
	}
}

// Ray's _generator_backpressure_num_objects: the producer waits while n
// values are not taken by the caller, and gives its CPU back meanwhile.
func TestGeneratorBackpressure(t *testing.T) {
	ctx := setup(t, core.WithNumCPUs(1))
	key := fmt.Sprintf("%s/%d", t.Name(), runSeq.Add(1))
	gen := produce.Options(core.GeneratorBackpressure(2)).Remote(ctx, key, 50)
	eventually(t, "2 values yielded", func() bool { return yielded(key) >= 2 })
	if v, err := core.Get(promptly(t), square.Remote(ctx, 3)); err != nil || v != 9 {
		t.Fatalf("a task while the only CPU's producer waits: %v, %v", v, err)
	}
	time.Sleep(50 * time.Millisecond)
	if n := yielded(key); n != 2 {
		t.Fatalf("%d values yielded with none taken; backpressure is 2", n)
	}
	if _, err := gen.Next(ctx); err != nil {
		t.Fatal(err)
	}
	eventually(t, "a third value once one was taken", func() bool { return yielded(key) >= 3 })
	time.Sleep(50 * time.Millisecond)
	if n := yielded(key); n != 3 {
		t.Fatalf("%d values yielded with one taken; backpressure is 2", n)
	}
	got := []int{0}
	for ref, err := range gen.All(ctx) {
		if err != nil {
			t.Fatal(err)
		}
		v, _ := core.Get(ctx, ref)
		got = append(got, v)
	}
	if len(got) != 50 || got[49] != 49 {
		t.Fatalf("%d values, last %d", len(got), got[len(got)-1])
	}
}

// forever yields until yield fails, then marks key's gate "returned".
var forever = core.Gen1("test.parity.forever", func(ctx context.Context, key string, yield func(int) error) error {
	defer open(key + "/returned")
	for i := 0; ; i++ {
		if err := yield(i); err != nil {
			return err
		}
	}
})

func returned(t *testing.T, key string) {
	t.Helper()
	select {
	case <-gate(key + "/returned"):
	case <-promptly(t).Done():
		t.Fatalf("generator %s still runs", key)
	}
}

// Leaving the loop early stops the producer: nothing outlives the loop.
func TestGeneratorStopsWhenTheLoopBreaks(t *testing.T) {
	ctx := setup(t, core.WithNumCPUs(2))
	for _, bp := range []int{0, 1} {
		key := fmt.Sprintf("%s/%d", t.Name(), runSeq.Add(1))
		before := runtime.NumGoroutine()
		gen := forever.Options(core.GeneratorBackpressure(bp)).Remote(ctx, key)
		done := gen.Completed()
		n := 0
		for ref, err := range gen.All(ctx) {
			if err != nil {
				t.Fatal(err)
			}
			if v, err := core.Get(ctx, ref); err != nil || v != n {
				t.Fatalf("value %d: %v, %v", n, v, err)
			}
			if n++; n == 3 {
				break
			}
		}
		returned(t, key)
		if _, err := core.Get(promptly(t), done); !errors.Is(err, core.ErrTaskCancelled) {
			t.Errorf("backpressure %d: task after the loop broke: %v", bp, err)
		}
		eventually(t, "goroutines back to where they were", func() bool { return runtime.NumGoroutine() <= before })
	}
}

// Cancelling the caller's context, or Cancel, stops the producer; Next
// then ends with ErrTaskCancelled.
func TestGeneratorCancel(t *testing.T) {
	ctx := setup(t, core.WithNumCPUs(2))
	for _, how := range []string{"context", "Cancel"} {
		key := fmt.Sprintf("%s/%d", t.Name(), runSeq.Add(1))
		cctx, cancel := context.WithCancel(ctx)
		gen := forever.Options(core.GeneratorBackpressure(1)).Remote(cctx, key)
		if _, err := gen.Next(ctx); err != nil {
			t.Fatal(err)
		}
		if how == "context" {
			cancel()
		} else if err := gen.Cancel(); err != nil {
			t.Fatal(err)
		}
		returned(t, key)
		var err error
		for range 10 {
			if _, err = gen.Next(ctx); err != nil {
				break
			}
		}
		if !errors.Is(err, core.ErrTaskCancelled) {
			t.Errorf("%s: Next after the cancel: %v", how, err)
		}
		cancel()
	}
}

var crashyGen = core.Gen1("test.parity.crashyGen", func(ctx context.Context, key string, yield func(int) error) error {
	first := attempt(key) == 1
	for i := range 5 {
		if first && i == 2 {
			panic("worker lost")
		}
		if err := yield(i); err != nil {
			return err
		}
	}
	return nil
})

// A retried generator (Ray's max_retries) does not deliver the values its
// failed attempt delivered twice.
func TestGeneratorRetryDeliversEachValueOnce(t *testing.T) {
	ctx := setup(t, core.WithNumCPUs(2))
	key := fmt.Sprintf("%s/%d", t.Name(), runSeq.Add(1))
	var got []int
	for ref, err := range crashyGen.Remote(ctx, key).All(ctx) {
		if err != nil {
			t.Fatal(err)
		}
		v, _ := core.Get(ctx, ref)
		got = append(got, v)
	}
	if !slices.Equal(got, []int{0, 1, 2, 3, 4}) {
		t.Fatalf("values %v, want each of 0..4 once", got)
	}
}

// A generator dropped unread stops its task once it is garbage collected.
func TestGeneratorDroppedUnreadStops(t *testing.T) {
	ctx := setup(t, core.WithNumCPUs(1))
	key := fmt.Sprintf("%s/%d", t.Name(), runSeq.Add(1))
	done := func() core.Ref[struct{}] {
		return forever.Options(core.GeneratorBackpressure(1)).Remote(ctx, key).Completed()
	}()
	for i := 0; i < 200; i++ {
		runtime.GC()
		if ready, _, _ := core.Wait(ctx, []core.Ref[struct{}]{done}, core.WaitOptions{Timeout: 5 * time.Millisecond}); len(ready) == 1 {
			break
		}
	}
	if _, err := core.Get(promptly(t), done); !errors.Is(err, core.ErrTaskCancelled) {
		t.Fatalf("task of a dropped generator: %v", err)
	}
	returned(t, key)
}

var sumSquares = core.Func1("test.parity.sumSquares", func(ctx context.Context, n int) (int, error) {
	s := 0
	for ref, err := range squares.Remote(ctx, "", n).All(ctx) {
		if err != nil {
			return 0, err
		}
		v, err := core.Get(ctx, ref)
		if err != nil {
			return 0, err
		}
		s += v
	}
	return s, nil
})

// A task reading a generator gives its CPU back while it waits, so the
// generator task can run on a runtime of one CPU.
func TestGeneratorReadInsideATask(t *testing.T) {
	ctx := setup(t, core.WithNumCPUs(1))
	if v, err := core.Get(promptly(t), sumSquares.Remote(ctx, 4)); err != nil || v != 14 {
		t.Fatalf("got %v, %v; want 0+1+4+9 = 14", v, err)
	}
}

var pointGen = core.Gen1("test.parity.pointGen", func(ctx context.Context, n int, yield func(*Point) error) error {
	for range n {
		if err := yield(sharedPoint); err != nil {
			return err
		}
	}
	return nil
})

// In encode-all mode each yielded value crosses the codec.
func TestGeneratorValuesCrossTheCodec(t *testing.T) {
	ctx := setup(t, core.WithEncodeAll())
	var got []*Point
	for ref, err := range pointGen.Remote(ctx, 2).All(ctx) {
		if err != nil {
			t.Fatal(err)
		}
		p, err := core.Get(ctx, ref)
		if err != nil {
			t.Fatal(err)
		}
		got = append(got, p)
	}
	if len(got) != 2 || got[0] == sharedPoint || got[0] == got[1] || *got[1] != *sharedPoint {
		t.Fatalf("values %v of %p: want 2 copies", got, sharedPoint)
	}
	if v, err := core.Get(ctx, core.Call(ctx, "test.parity.pointGen", 3)); err != nil || len(v.([]any)) != 3 {
		t.Errorf("by name: %v, %v", v, err)
	}
}
