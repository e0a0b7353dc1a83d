// Command quickstart shows goray's core runtime: remote functions, a
// dependency graph, Put, Wait, an actor and a parallel map, on the embedded
// runtime.
package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"slices"
	"time"

	"github.com/goray/goray/core"
)

// Square is a remote function: Square.Remote(ctx, 3) returns a Ref at once.
var Square = core.Func1("quickstart.square", func(ctx context.Context, x int) (int, error) {
	return x * x, nil
})

// Add combines two results; given refs, it waits for them.
var Add = core.Func2("quickstart.add", func(ctx context.Context, a, b int) (int, error) {
	return a + b, nil
})

// Total sums a slice that was put in the object store once and is shared
// by every task that takes its ref.
var Total = core.Func1("quickstart.total", func(ctx context.Context, xs []float64) (float64, error) {
	var t float64
	for _, x := range xs {
		t += x
	}
	return t, nil
})

// Sleepy returns its argument after that many milliseconds.
var Sleepy = core.Func1("quickstart.sleepy", func(ctx context.Context, ms int) (int, error) {
	select {
	case <-time.After(time.Duration(ms) * time.Millisecond):
		return ms, nil
	case <-ctx.Done():
		return 0, ctx.Err()
	}
})

// Counter is an actor: state that lives between calls.
type Counter struct{ n int }

var CounterActor = core.Actor1("quickstart.Counter", func(ctx context.Context, start int) (*Counter, error) {
	return &Counter{n: start}, nil
})

var Incr = core.Method0("quickstart.Counter.Incr", func(c *Counter, ctx context.Context) (int, error) {
	c.n++
	return c.n, nil
})

func main() {
	if err := run(context.Background(), os.Stdout); err != nil {
		fmt.Fprintln(os.Stderr, "quickstart:", err)
		os.Exit(1)
	}
}

func run(ctx context.Context, out io.Writer) error {
	if err := core.Init(); err != nil {
		return err
	}
	defer core.Shutdown()
	fmt.Fprintf(out, "goray runtime up: %v CPUs\n", core.ClusterResources()["CPU"])

	var refs []core.Ref[int]
	for i := range 4 {
		refs = append(refs, Square.Remote(ctx, i))
	}
	squares, err := core.GetAll(ctx, refs)
	if err != nil {
		return err
	}
	fmt.Fprintln(out, "squares over range(4):", squares)

	sum := Add.RemoteArgs(ctx, refs[2], refs[3])
	v, err := core.Get(ctx, sum)
	if err != nil {
		return err
	}
	fmt.Fprintln(out, "square(2) + square(3) as a task graph:", v)

	// Put stores a value once; tasks given its ref read it without a copy.
	xs := make([]float64, 1_000_000)
	for i := range xs {
		xs[i] = 1
	}
	big, err := core.Put(ctx, xs)
	if err != nil {
		return err
	}
	var totals []core.Ref[float64]
	for range 3 {
		totals = append(totals, Total.RemoteArgs(ctx, big))
	}
	ts, err := core.GetAll(ctx, totals)
	if err != nil {
		return err
	}
	fmt.Fprintln(out, "three tasks summed one Put of 1M floats:", ts)

	// Wait returns the refs that are ready (here the first 2 of 3) and the
	// rest, without fetching values.
	slow := []core.Ref[int]{Sleepy.Remote(ctx, 2000), Sleepy.Remote(ctx, 10), Sleepy.Remote(ctx, 20)}
	ready, notReady, err := core.Wait(ctx, slow, core.WaitOptions{NumReturns: 2, Timeout: 10 * time.Second})
	if err != nil {
		return err
	}
	fast, err := core.GetAll(ctx, ready)
	if err != nil {
		return err
	}
	slices.Sort(fast)
	fmt.Fprintf(out, "Wait for 2 of 3: ready %v, %d still running\n", fast, len(notReady))
	for _, r := range notReady {
		_ = core.Cancel(r)
	}

	h, err := CounterActor.Remote(ctx, 0)
	if err != nil {
		return err
	}
	var counts []core.Ref[int]
	for range 5 {
		counts = append(counts, Incr.Remote(ctx, h))
	}
	got, err := core.GetAll(ctx, counts)
	if err != nil {
		return err
	}
	fmt.Fprintln(out, "counter actor:", got)

	items := make([]int, 10_000)
	for i := range items {
		items[i] = i
	}
	start := time.Now()
	mapped, err := core.Map(ctx, Square, items)
	if err != nil {
		return err
	}
	fmt.Fprintf(out, "core.Map over %d items in %v, last = %d\n", len(mapped), time.Since(start).Round(time.Millisecond), mapped[len(mapped)-1])
	return nil
}
