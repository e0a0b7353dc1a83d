// Command core prints goray's core runtime benchmarks as one table: each
// figure beside a plain-goroutine baseline measured in the same run.
package main

import (
	"context"
	"fmt"
	"os"
	"runtime"
	"sync"
	"text/tabwriter"
	"time"

	"github.com/goray/goray/core"
)

var noop = core.Func1("bench.noop", func(ctx context.Context, x int) (int, error) { return x, nil })

type Sink struct{ n int }

var sinkActor = core.Actor0("bench.Sink", func(ctx context.Context) (*Sink, error) { return &Sink{}, nil })
var sinkPush = core.Method1("bench.Sink.Push", func(s *Sink, ctx context.Context, x int) (int, error) {
	s.n += x
	return s.n, nil
})

type row struct {
	name, unit      string
	goray, baseline float64
	higherIsBetter  bool
	target          string
}

func main() {
	if err := run(); err != nil {
		fmt.Fprintln(os.Stderr, "bench/core:", err)
		os.Exit(1)
	}
}

func run() error {
	ctx := context.Background()
	if err := core.Init(); err != nil {
		return err
	}
	defer core.Shutdown()
	var rows []row
	var ms runtime.MemStats

	// Sync task round trip: submit, wait, repeat.
	const syncN = 50_000
	d := timeIt(func() {
		for i := range syncN {
			if _, err := core.Get(ctx, noop.Remote(ctx, i)); err != nil {
				panic(err)
			}
		}
	})
	base := timeIt(func() {
		for i := range syncN {
			ch := make(chan int, 1)
			go func() { ch <- i }()
			<-ch
		}
	})
	rows = append(rows, row{"sync task round trip", "µs", us(d, syncN), us(base, syncN), false, "< 20 µs"})

	// Async tasks from one submitter and from four.
	for _, submitters := range []int{1, 4} {
		const n = 400_000
		per := n / submitters
		d := timeIt(func() {
			var wg sync.WaitGroup
			for range submitters {
				wg.Add(1)
				go func() {
					defer wg.Done()
					refs := make([]core.Ref[int], per)
					for i := range per {
						refs[i] = noop.Remote(ctx, i)
					}
					if _, err := core.GetAll(ctx, refs); err != nil {
						panic(err)
					}
				}()
			}
			wg.Wait()
		})
		base := timeIt(func() {
			var wg sync.WaitGroup
			for range submitters {
				wg.Add(1)
				go func() {
					defer wg.Done()
					chans := make([]chan int, per)
					for i := range per {
						ch := make(chan int, 1)
						chans[i] = ch
						go func() { ch <- i }()
					}
					for _, ch := range chans {
						<-ch
					}
				}()
			}
			wg.Wait()
		})
		rows = append(rows, row{fmt.Sprintf("async tasks/s, %d submitter(s)", submitters), "ops/s", rate(d, n), rate(base, n), true, "> 500k"})
	}

	// Actor calls.
	h, err := sinkActor.Remote(ctx)
	if err != nil {
		return err
	}
	const syncCalls = 100_000
	d = timeIt(func() {
		for i := range syncCalls {
			if _, err := core.Get(ctx, sinkPush.Remote(ctx, h, i)); err != nil {
				panic(err)
			}
		}
	})
	base = timeIt(func() { chanActorSync(syncCalls) })
	rows = append(rows, row{"actor calls/s, 1:1 sync", "ops/s", rate(d, syncCalls), rate(base, syncCalls), true, ""})

	const asyncCalls = 1_000_000
	d = timeIt(func() {
		refs := make([]core.Ref[int], asyncCalls)
		for i := range asyncCalls {
			refs[i] = sinkPush.Remote(ctx, h, 1)
		}
		if _, err := core.Get(ctx, refs[len(refs)-1]); err != nil {
			panic(err)
		}
	})
	base = timeIt(func() { chanActorAsync(asyncCalls) })
	rows = append(rows, row{"actor calls/s, 1:1 async", "ops/s", rate(d, asyncCalls), rate(base, asyncCalls), true, "> 1M"})

	const actors = 4
	hs := make([]*core.ActorHandle[*Sink], actors)
	for i := range hs {
		if hs[i], err = sinkActor.Remote(ctx); err != nil {
			return err
		}
	}
	d = timeIt(func() {
		var wg sync.WaitGroup
		for a := range actors {
			wg.Add(1)
			go func() {
				defer wg.Done()
				per := asyncCalls / actors
				var last core.Ref[int]
				for range per {
					last = sinkPush.Remote(ctx, hs[a], 1)
				}
				if _, err := core.Get(ctx, last); err != nil {
					panic(err)
				}
			}()
		}
		wg.Wait()
	})
	base = timeIt(func() {
		var wg sync.WaitGroup
		for range actors {
			wg.Add(1)
			go func() { defer wg.Done(); chanActorAsync(asyncCalls / actors) }()
		}
		wg.Wait()
	})
	rows = append(rows, row{fmt.Sprintf("actor calls/s, %d:%d async", actors, actors), "ops/s", rate(d, asyncCalls), rate(base, asyncCalls), true, ""})

	// Small Put/Get.
	const puts = 500_000
	d = timeIt(func() {
		for i := range puts {
			r, err := core.Put(ctx, i)
			if err != nil {
				panic(err)
			}
			if _, err := core.Get(ctx, r); err != nil {
				panic(err)
			}
			r.Release()
		}
	})
	base = timeIt(func() {
		var mu sync.Mutex
		m := map[int]any{}
		for i := range puts {
			mu.Lock()
			m[i] = i
			_ = m[i]
			delete(m, i)
			mu.Unlock()
		}
	})
	rows = append(rows, row{"small Put+Get ops/s", "ops/s", rate(d, puts), rate(base, puts), true, ""})

	// Large Put: 256 MiB, not copied.
	big := make([]byte, 256<<20)
	for i := range big {
		big[i] = byte(i)
	}
	const bigPuts = 20
	d = timeIt(func() {
		for range bigPuts {
			r, err := core.Put(ctx, big)
			if err != nil {
				panic(err)
			}
			r.Release()
		}
	})
	dst := make([]byte, len(big))
	base = timeIt(func() {
		for range bigPuts {
			copy(dst, big)
		}
	})
	gb := float64(len(big)) * bigPuts / 1e9
	rows = append(rows, row{"large Put GB/s (256 MiB), baseline memcpy", "GB/s", gb / d.Seconds(), gb / base.Seconds(), true, "no copy"})

	runtime.ReadMemStats(&ms)
	st := core.ObjectStoreStats()

	tw := tabwriter.NewWriter(os.Stdout, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintf(tw, "benchmark\tgoray\tplain Go baseline\tratio (goray/baseline)\tunit\ttarget\t\n")
	for _, r := range rows {
		fmt.Fprintf(tw, "%s\t%s\t%s\t%.2f\t%s\t%s\t\n", r.name, num(r.goray), num(r.baseline), r.goray/r.baseline, r.unit, r.target)
	}
	tw.Flush()
	fmt.Println("each figure: second of two runs (the first warms the heap); baseline = the same work with plain goroutines and channels")
	fmt.Printf("peak heap in use: %.1f MiB (Sys %.1f MiB); object store peak %.1f MiB; GOMAXPROCS=%d\n",
		float64(ms.HeapInuse)/(1<<20), float64(ms.Sys)/(1<<20), float64(st.PeakMemory)/(1<<20), runtime.GOMAXPROCS(0))
	return nil
}

// chanActorSync and chanActorAsync are the baseline actor: one goroutine
// owning state, fed through a channel, replying on a channel per call.
func chanActorSync(n int) {
	type call struct {
		x   int
		out chan int
	}
	in := make(chan call)
	done := make(chan struct{})
	go func() {
		s := 0
		for c := range in {
			s += c.x
			c.out <- s
		}
		close(done)
	}()
	for i := range n {
		c := call{i, make(chan int, 1)}
		in <- c
		<-c.out
	}
	close(in)
	<-done
}

func chanActorAsync(n int) {
	type call struct {
		x   int
		out chan int
	}
	in := make(chan call, 1024)
	done := make(chan struct{})
	go func() {
		s := 0
		for c := range in {
			s += c.x
			c.out <- s
		}
		close(done)
	}()
	outs := make([]chan int, n)
	for i := range n {
		outs[i] = make(chan int, 1)
		in <- call{1, outs[i]}
	}
	close(in)
	<-done
	<-outs[n-1]
}

// timeIt runs f once to warm up (heap grown, goroutine stacks cached: on a
// VM the first touch of fresh memory costs more than the work measured),
// then times a second run.
func timeIt(f func()) time.Duration {
	f()
	runtime.GC()
	start := time.Now()
	f()
	return time.Since(start)
}

func us(d time.Duration, n int) float64 { return float64(d.Microseconds()) / float64(n) }
func rate(d time.Duration, n int) float64 {
	return float64(n) / d.Seconds()
}

func num(v float64) string {
	switch {
	case v >= 1e6:
		return fmt.Sprintf("%.2fM", v/1e6)
	case v >= 1e3:
		return fmt.Sprintf("%.1fk", v/1e3)
	default:
		return fmt.Sprintf("%.2f", v)
	}
}
