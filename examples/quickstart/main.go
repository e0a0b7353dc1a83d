// Command quickstart shows goray's core runtime: remote functions, a
// dependency graph, an actor and a parallel map, on the embedded runtime.
package main

import (
	"context"
	"fmt"
	"os"
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
	if err := run(context.Background()); err != nil {
		fmt.Fprintln(os.Stderr, "quickstart:", err)
		os.Exit(1)
	}
}

func run(ctx context.Context) error {
	if err := core.Init(); err != nil {
		return err
	}
	defer core.Shutdown()
	fmt.Printf("goray runtime up: %v CPUs\n", core.ClusterResources()["CPU"])

	var refs []core.Ref[int]
	for i := range 4 {
		refs = append(refs, Square.Remote(ctx, i))
	}
	squares, err := core.GetAll(ctx, refs)
	if err != nil {
		return err
	}
	fmt.Println("squares over range(4):", squares)

	sum := Add.RemoteArgs(ctx, refs[2], refs[3])
	v, err := core.Get(ctx, sum)
	if err != nil {
		return err
	}
	fmt.Println("square(2) + square(3) as a task graph:", v)

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
	fmt.Println("counter actor:", got)

	items := make([]int, 10_000)
	for i := range items {
		items[i] = i
	}
	start := time.Now()
	mapped, err := core.Map(ctx, Square, items)
	if err != nil {
		return err
	}
	fmt.Printf("core.Map over %d items in %v, last = %d\n", len(mapped), time.Since(start).Round(time.Millisecond), mapped[len(mapped)-1])
	return nil
}
