package core_test

// Actor methods with several returns and streaming generator methods,
// checked against what Ray documents for num_returns on actor methods and
// for streaming generator actor methods (ObjectRefGenerator).

import (
	"context"
	"errors"
	"fmt"
	"io"
	"slices"
	"testing"
	"time"

	"github.com/goray/goray/core"
)

// Calc is an actor whose calls count themselves, so a test sees that every
// result of a call comes from one run of it.
type Calc struct{ calls int }

var calcClass = core.Actor0("parity.method.Calc", func(ctx context.Context) (*Calc, error) { return &Calc{}, nil })

var calcDivmod = core.Method2x2("parity.method.Calc.Divmod", func(c *Calc, ctx context.Context, a, b int) (int, int, error) {
	c.calls++
	if b == 0 {
		return 0, 0, fmt.Errorf("%w: divide %d by zero", core.ErrInvalidInput, a)
	}
	return a / b, a % b, nil
})

var calcStats = core.Method0x3("parity.method.Calc.Stats", func(c *Calc, ctx context.Context) (int, string, []int, error) {
	c.calls++
	return c.calls, "calls", []int{c.calls}, nil
})

var calcAdd = core.Method1("parity.method.Calc.Add", func(c *Calc, ctx context.Context, x int) (int, error) {
	c.calls++
	return x + 100, nil
})

var calcCalls = core.Method0("parity.method.Calc.Calls", func(c *Calc, ctx context.Context) (int, error) {
	return c.calls, nil
})

func newCalc(t *testing.T, ctx context.Context) *core.ActorHandle[*Calc] {
	t.Helper()
	h, err := calcClass.Remote(ctx)
	if err != nil {
		t.Fatal(err)
	}
	return h
}

// Ray's num_returns on an actor method: the call runs once and its
// results are separate objects, each its own ref, waited on and passed on
// alone, named by the call's task ID and the return index.
func TestMethodSeveralReturnsAreSeparateRefs(t *testing.T) {
	ctx := setup(t, core.WithNumCPUs(2))
	h := newCalc(t, ctx)
	q, r := calcDivmod.Remote(ctx, h, 17, 5)
	if ready, _, err := core.Wait(ctx, []core.Ref[int]{r}, core.WaitOptions{}); err != nil || len(ready) != 1 {
		t.Fatalf("Wait on the second return alone: %d ready, %v", len(ready), err)
	}
	if v, err := core.Get(ctx, calcAdd.RemoteArgs(ctx, h, r)); err != nil || v != 102 {
		t.Errorf("second return passed on to another call: %v, %v", v, err)
	}
	if v, err := core.Get(ctx, q); err != nil || v != 3 {
		t.Errorf("first return: %v, %v", v, err)
	}
	qid, err1 := core.ParseObjectID(q.ID())
	rid, err2 := core.ParseObjectID(r.ID())
	if err1 != nil || err2 != nil || qid.Task() != rid.Task() || qid.Index() != 1 || rid.Index() != 2 {
		t.Errorf("IDs %s and %s (%v, %v): want one call's returns 1 and 2", q.ID(), r.ID(), err1, err2)
	}

	n, what, list := calcStats.Remote(ctx, h)
	if v, err := core.Get(ctx, n); err != nil || v != 3 {
		t.Errorf("first of 3 returns: %v, %v; want the third call", v, err)
	}
	if v, err := core.Get(ctx, what); err != nil || v != "calls" {
		t.Errorf("second of 3 returns: %q, %v", v, err)
	}
	if v, err := core.Get(ctx, list); err != nil || !slices.Equal(v, []int{3}) {
		t.Errorf("third of 3 returns: %v, %v", v, err)
	}

	// An error fails every return.
	eq, er := calcDivmod.Remote(ctx, h, 1, 0)
	for i, ref := range []core.Ref[int]{eq, er} {
		if _, err := core.Get(ctx, ref); !errors.Is(err, core.ErrTaskFailed) || !errors.Is(err, core.ErrInvalidInput) {
			t.Errorf("return %d of a failed call: %v", i+1, err)
		}
	}
	// Ref arguments.
	a, _ := core.Put(ctx, 9)
	dq, dr := calcDivmod.RemoteArgs(ctx, h, a, core.Val(4))
	if got, err := core.GetAll(ctx, []core.Ref[int]{dq, dr}); err != nil || !slices.Equal(got, []int{2, 1}) {
		t.Errorf("RemoteArgs: %v, %v", got, err)
	}
	// Each call ran once: divmod, add, stats, divmod (failed), divmod.
	if v, err := core.Get(ctx, calcCalls.Remote(ctx, h)); err != nil || v != 5 {
		t.Errorf("calls run: %v, %v; want 5", v, err)
	}
}

var calcHalves = core.Method0x2("parity.method.Calc.Halves", func(c *Calc, ctx context.Context) ([]byte, []byte, error) {
	return make([]byte, 300<<10), make([]byte, 200<<10), nil
})

// Releasing one result of a method call frees it alone.
func TestMethodReleasingOneReturnKeepsTheOther(t *testing.T) {
	ctx := setup(t, core.WithNumCPUs(1))
	h := newCalc(t, ctx)
	a, b := calcHalves.Remote(ctx, h)
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
}

var calcHold2 = core.Method1x2("parity.method.Calc.Hold2", func(c *Calc, ctx context.Context, key string) (int, int, error) {
	open(key + "/entered")
	<-ctx.Done()
	return 0, 0, ctx.Err()
})

// Ray's ray.cancel on an actor task through one of its refs cancels the
// call: every result fails with TaskCancelledError; the actor lives on.
func TestMethodCancelThroughOneReturn(t *testing.T) {
	ctx := setup(t, core.WithNumCPUs(1))
	h := newCalc(t, ctx)
	key := fmt.Sprintf("%s/%d", t.Name(), runSeq.Add(1))
	a, b := calcHold2.Remote(ctx, h, key)
	entered(t, ctx, key)
	if err := core.Cancel(b); err != nil {
		t.Fatal(err)
	}
	for i, r := range []core.Ref[int]{a, b} {
		if _, err := core.Get(promptly(t), r); !errors.Is(err, core.ErrTaskCancelled) {
			t.Errorf("return %d: %v", i+1, err)
		}
	}
	if v, err := core.Get(promptly(t), calcAdd.Remote(ctx, h, 1)); err != nil || v != 101 {
		t.Errorf("next call after the cancel: %v, %v", v, err)
	}
	// A queued call cancelled through its second ref never runs.
	key2 := key + "/2"
	running, _ := calcHold2.Remote(ctx, h, key2)
	entered(t, ctx, key2)
	qa, qb := calcDivmod.Remote(ctx, h, 7, 2)
	if err := core.Cancel(qb); err != nil {
		t.Fatal(err)
	}
	if _, err := core.Get(promptly(t), qa); !errors.Is(err, core.ErrTaskCancelled) {
		t.Errorf("queued call cancelled through its second ref, first ref: %v", err)
	}
	if err := core.Cancel(running); err != nil {
		t.Fatal(err)
	}
	if v, err := core.Get(promptly(t), calcCalls.Remote(ctx, h)); err != nil || v != 1 {
		t.Errorf("calls run: %v, %v; want only the Add", v, err)
	}
}

var calcTwoPoints = core.Method1x2("parity.method.Calc.TwoPoints", func(c *Calc, ctx context.Context, p *Point) (*Point, *Point, error) {
	p.X++ // a copy in encode-all mode
	return sharedPoint, sharedPoint, nil
})

// In encode-all mode each result of a method call crosses the codec.
func TestMethodSeveralReturnsCrossTheCodec(t *testing.T) {
	ctx := setup(t, core.WithEncodeAll())
	h := newCalc(t, ctx)
	in := &Point{X: 1}
	a, b := calcTwoPoints.Remote(ctx, h, in)
	pa, err1 := core.Get(ctx, a)
	pb, err2 := core.Get(ctx, b)
	if err1 != nil || err2 != nil {
		t.Fatal(err1, err2)
	}
	if in.X != 1 || pa == sharedPoint || pb == sharedPoint || pa == pb || *pa != *sharedPoint {
		t.Errorf("argument %+v, returns %p %p of %p: want copies", in, pa, pb, sharedPoint)
	}
	p, _ := core.Put(ctx, &Point{X: 5})
	c, d := calcTwoPoints.RemoteArgs(ctx, h, p)
	pc, err1 := core.Get(ctx, c)
	pd, err2 := core.Get(ctx, d)
	if err1 != nil || err2 != nil || pc == sharedPoint || pc == pd {
		t.Errorf("RemoteArgs: %p %p (%v, %v) of %p: want copies", pc, pd, err1, err2, sharedPoint)
	}
}

// Streamer is an actor with generator methods; seen records the values
// its generators yielded, so the next call can read them.
type Streamer struct{ seen []int }

var streamerClass = core.Actor0("parity.method.Streamer", func(ctx context.Context) (*Streamer, error) { return &Streamer{}, nil },
	core.MaxRestarts(1), core.MaxTaskRetries(1))

// streamSquares yields 0, 1, 4, ... (n values); after the first it waits
// for key's gate, unless key is empty.
var streamSquares = core.GenMethod2("parity.method.Streamer.Squares", func(s *Streamer, ctx context.Context, key string, n int, yield func(int) error) error {
	for i := range n {
		if err := yield(i * i); err != nil {
			return err
		}
		s.seen = append(s.seen, i*i)
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

var streamSeen = core.Method0("parity.method.Streamer.Seen", func(s *Streamer, ctx context.Context) ([]int, error) {
	return slices.Clone(s.seen), nil
})

func newStreamer(t *testing.T, ctx context.Context) *core.ActorHandle[*Streamer] {
	t.Helper()
	h, err := streamerClass.Remote(ctx)
	if err != nil {
		t.Fatal(err)
	}
	return h
}

// Ray's streaming generator actor method: the caller gets each value's ref
// as soon as it is yielded, in order, while the call runs on; the refs are
// the call's returns 1, 2, .... The call holds the actor as any call does:
// the next call starts once the generator returned.
func TestGenMethodStreamsRefsAsYielded(t *testing.T) {
	ctx := setup(t, core.WithNumCPUs(2))
	h := newStreamer(t, ctx)
	key := fmt.Sprintf("%s/%d", t.Name(), runSeq.Add(1))
	gen := streamSquares.Remote(ctx, h, key, 5)
	first, err := gen.Next(promptly(t))
	if err != nil {
		t.Fatalf("first value while the call still runs: %v", err)
	}
	if v, err := core.Get(ctx, first); err != nil || v != 0 {
		t.Fatalf("first value: %v, %v", v, err)
	}
	next := streamSeen.Remote(ctx, h)
	if ready, _, _ := core.Wait(ctx, []core.Ref[[]int]{next}, core.WaitOptions{Timeout: 30 * time.Millisecond}); len(ready) != 0 {
		t.Fatal("the actor's next call ran while its generator call was running")
	}
	if ready, _, _ := core.Wait(ctx, []core.Ref[struct{}]{gen.Completed()}, core.WaitOptions{Timeout: time.Millisecond}); len(ready) != 0 {
		t.Fatal("the call is over before its gate opened")
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
			t.Errorf("ref %d ID %s: want return %d of call %s", i, s, i+1, task0.Task())
		}
	}
	if _, err := gen.Next(ctx); err != io.EOF {
		t.Errorf("Next after the last value: %v, want io.EOF", err)
	}
	if _, err := core.Get(ctx, gen.Completed()); err != nil {
		t.Errorf("Completed: %v", err)
	}
	if seen, err := core.Get(promptly(t), next); err != nil || !slices.Equal(seen, []int{0, 1, 4, 9, 16}) {
		t.Errorf("the next call saw %v, %v; want every value of the generator before it", seen, err)
	}
	// Ref arguments.
	n, _ := core.Put(ctx, 3)
	var vals []int
	for ref, err := range streamSquares.RemoteArgs(ctx, h, core.Val(""), n).All(ctx) {
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

var streamFailAfter = core.GenMethod1("parity.method.Streamer.FailAfter", func(s *Streamer, ctx context.Context, k int, yield func(int) error) error {
	for i := range k {
		if err := yield(i); err != nil {
			return err
		}
	}
	return fmt.Errorf("%w: after %d values", errTransient, k)
})

// A generator method that fails after k yields gives k refs, then its
// error; the actor lives on.
func TestGenMethodErrorAfterKYields(t *testing.T) {
	ctx := setup(t, core.WithNumCPUs(2))
	h := newStreamer(t, ctx)
	gen := streamFailAfter.Remote(ctx, h, 3)
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
	if _, err := core.Get(promptly(t), streamSeen.Remote(ctx, h)); err != nil {
		t.Errorf("the actor after its generator failed: %v", err)
	}
}

var streamProduce = core.GenMethod2("parity.method.Streamer.Produce", func(s *Streamer, ctx context.Context, key string, n int, yield func(int) error) error {
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

// Ray's _generator_backpressure_num_objects on an actor method call: the
// producer waits while n values are not taken, giving the actor's CPU
// back meanwhile.
func TestGenMethodBackpressure(t *testing.T) {
	ctx := setup(t, core.WithNumCPUs(1))
	h := newStreamer(t, ctx)
	key := fmt.Sprintf("%s/%d", t.Name(), runSeq.Add(1))
	gen := streamProduce.WithBackpressure(2).Remote(ctx, h, key, 50)
	eventually(t, "2 values yielded", func() bool { return yielded(key) >= 2 })
	if v, err := core.Get(promptly(t), square.Remote(ctx, 3)); err != nil || v != 9 {
		t.Fatalf("a task while the only CPU's actor waits on backpressure: %v, %v", v, err)
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
	if _, err := streamProduce.WithBackpressure(-1).Remote(ctx, h, key, 1).Next(ctx); !errors.Is(err, core.ErrInvalidInput) {
		t.Errorf("WithBackpressure(-1): %v, want ErrInvalidInput", err)
	}
}

// streamForever yields until yield fails, then marks key's gate "returned".
var streamForever = core.GenMethod1("parity.method.Streamer.Forever", func(s *Streamer, ctx context.Context, key string, yield func(int) error) error {
	defer open(key + "/returned")
	for i := 0; ; i++ {
		if err := yield(i); err != nil {
			return err
		}
	}
})

// Leaving the loop early, Cancel, or the caller's context ending stops the
// generator call (Ray: the generator is cancelled); the actor lives on and
// runs its next call.
func TestGenMethodStopsWhenTheCallerStops(t *testing.T) {
	ctx := setup(t, core.WithNumCPUs(2))
	h := newStreamer(t, ctx)
	for _, how := range []string{"break", "break/backpressure", "Cancel", "context"} {
		key := fmt.Sprintf("%s/%d", t.Name(), runSeq.Add(1))
		cctx, cancel := context.WithCancel(ctx)
		m := streamForever
		if how != "break" {
			m = m.WithBackpressure(1)
		}
		gen := m.Remote(cctx, h, key)
		done := gen.Completed()
		n := 0
		for ref, err := range gen.All(ctx) {
			if err != nil {
				if n == 2 && errors.Is(err, core.ErrTaskCancelled) {
					break // cancelled before a third value
				}
				t.Fatalf("%s: %v", how, err)
			}
			if v, err := core.Get(ctx, ref); err != nil || v != n {
				t.Fatalf("%s: value %d: %v, %v", how, n, v, err)
			}
			if n++; n == 3 {
				break
			}
			if n == 2 {
				switch how {
				case "Cancel":
					if err := gen.Cancel(); err != nil {
						t.Fatal(err)
					}
				case "context":
					cancel()
				}
			}
		}
		returned(t, key)
		if _, err := core.Get(promptly(t), done); !errors.Is(err, core.ErrTaskCancelled) || errors.Is(err, core.ErrTaskFailed) {
			t.Errorf("%s: call after the caller stopped: %v, want ErrTaskCancelled", how, err)
		}
		if how == "Cancel" || how == "context" {
			var err error
			for range 10 {
				if _, err = gen.Next(ctx); err != nil {
					break
				}
			}
			if !errors.Is(err, core.ErrTaskCancelled) {
				t.Errorf("%s: Next after the cancel: %v", how, err)
			}
		}
		if _, err := core.Get(promptly(t), streamSeen.Remote(ctx, h)); err != nil {
			t.Errorf("%s: the actor's next call: %v", how, err)
		}
		cancel()
	}
}

// A generator waiting on something other than yield is stopped too: the
// call's context ends once the loop reading it breaks.
func TestGenMethodBreakCancelsAWaitingCall(t *testing.T) {
	ctx := setup(t, core.WithNumCPUs(2))
	h := newStreamer(t, ctx)
	key := fmt.Sprintf("%s/%d", t.Name(), runSeq.Add(1))
	gen := streamSquares.Remote(ctx, h, key, 5)
	done := gen.Completed()
	for _, err := range gen.All(ctx) {
		if err != nil {
			t.Fatal(err)
		}
		break // the generator now waits for its gate or its context
	}
	if _, err := core.Get(promptly(t), done); !errors.Is(err, core.ErrTaskCancelled) {
		t.Errorf("call after the loop broke: %v, want ErrTaskCancelled", err)
	}
	if seen, err := core.Get(promptly(t), streamSeen.Remote(ctx, h)); err != nil || !slices.Equal(seen, []int{0}) {
		t.Errorf("the actor's next call: %v, %v", seen, err)
	}
}

// streamTicker yields a value a millisecond, never looking at its context.
var streamTicker = core.GenMethod0("parity.method.Streamer.Ticker", func(s *Streamer, ctx context.Context, yield func(int) error) error {
	for i := range 10000 {
		if err := yield(i); err != nil {
			return err
		}
		time.Sleep(time.Millisecond)
	}
	return nil
})

// Ray: ray.kill on an actor fails its running generator with
// RayActorError after the values it yielded before; here ErrActorDied.
func TestGenMethodKillFailsTheStream(t *testing.T) {
	ctx := setup(t, core.WithNumCPUs(2))
	h := newStreamer(t, ctx)
	key := fmt.Sprintf("%s/%d", t.Name(), runSeq.Add(1))
	gen := streamSquares.Remote(ctx, h, key, 5)
	first, err := gen.Next(promptly(t))
	if err != nil {
		t.Fatal(err)
	}
	if err := core.Kill(h); err != nil {
		t.Fatal(err)
	}
	if v, err := core.Get(ctx, first); err != nil || v != 0 {
		t.Errorf("value yielded before the kill: %v, %v", v, err)
	}
	_, err = gen.Next(promptly(t))
	if !errors.Is(err, core.ErrActorDied) || errors.Is(err, core.ErrTaskFailed) {
		t.Errorf("Next after Kill: %v, want ErrActorDied", err)
	}
	// A generator that does not watch its context learns of the kill from
	// its next yield.
	h2 := newStreamer(t, ctx)
	ticks := streamTicker.Remote(ctx, h2)
	if _, err := ticks.Next(promptly(t)); err != nil {
		t.Fatal(err)
	}
	if err := core.Kill(h2); err != nil {
		t.Fatal(err)
	}
	wait := promptly(t)
	for {
		if _, err = ticks.Next(wait); err != nil {
			break
		}
	}
	if !errors.Is(err, core.ErrActorDied) {
		t.Errorf("ticker after Kill: %v, want ErrActorDied", err)
	}
	// A generator call on a dead actor fails at once.
	if _, err := streamSquares.Remote(ctx, h, "", 2).Next(promptly(t)); !errors.Is(err, core.ErrActorDied) {
		t.Errorf("generator call on a killed actor: %v", err)
	}
}

var streamCrashy = core.GenMethod1("parity.method.Streamer.Crashy", func(s *Streamer, ctx context.Context, key string, yield func(int) error) error {
	first := attempt(key) == 1
	for i := range 5 {
		if first && i == 2 {
			panic("actor process lost")
		}
		if err := yield(i); err != nil {
			return err
		}
	}
	return nil
})

// A generator call retried on the restarted actor (Ray's max_restarts and
// max_task_retries) does not deliver the values its failed attempt
// delivered twice.
func TestGenMethodRetryDeliversEachValueOnce(t *testing.T) {
	ctx := setup(t, core.WithNumCPUs(2))
	h := newStreamer(t, ctx)
	key := fmt.Sprintf("%s/%d", t.Name(), runSeq.Add(1))
	var got []int
	for ref, err := range streamCrashy.Remote(ctx, h, key).All(ctx) {
		if err != nil {
			t.Fatal(err)
		}
		v, _ := core.Get(ctx, ref)
		got = append(got, v)
	}
	if !slices.Equal(got, []int{0, 1, 2, 3, 4}) {
		t.Fatalf("values %v, want each of 0..4 once", got)
	}
	if n := h.Restarts(); n != 1 {
		t.Errorf("restarts %d, want 1", n)
	}
}

var streamPoints = core.GenMethod1("parity.method.Streamer.Points", func(s *Streamer, ctx context.Context, n int, yield func(*Point) error) error {
	for range n {
		if err := yield(sharedPoint); err != nil {
			return err
		}
	}
	return nil
})

// In encode-all mode each value a generator method yields crosses the codec.
func TestGenMethodValuesCrossTheCodec(t *testing.T) {
	ctx := setup(t, core.WithEncodeAll())
	h := newStreamer(t, ctx)
	n, _ := core.Put(ctx, 2)
	for name, gen := range map[string]*core.Generator[*Point]{
		"Remote":     streamPoints.Remote(ctx, h, 2),
		"RemoteArgs": streamPoints.RemoteArgs(ctx, h, n),
	} {
		var got []*Point
		for ref, err := range gen.All(ctx) {
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
			t.Errorf("%s: values %v of %p: want 2 copies", name, got, sharedPoint)
		}
	}
}
