package core_test

import (
	"context"
	"errors"
	"fmt"
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
