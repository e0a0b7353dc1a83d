package core_test

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"testing"

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
