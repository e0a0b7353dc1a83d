// Command core prints goray's core runtime benchmarks as one table: each
// figure beside a plain-goroutine baseline measured in the same run.
package main

import (
	"context"
	"fmt"
	"os"
	"runtime"
	"strings"
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
	fmt.Printf("load average at the start: %s\n", loadavg())
	defer func() { fmt.Printf("load average at the end: %s\n", loadavg()) }()

	// Sync task round trip: submit, wait, repeat.
	const syncN = 50_000
	d, base := syncRoundTrip(ctx, syncN)
	rows = append(rows, row{"sync task round trip", "µs", us(d, syncN), us(base, syncN), false, "< 20 µs"})

	// Async tasks from one submitter and from four.
	for _, submitters := range []int{1, 4} {
		const n = 400_000
		d, base := asyncTasks(ctx, n, submitters)
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
	d, base = actorCallsAsync(ctx, h, asyncCalls)
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
	d, base = putGet(ctx, puts)
	rows = append(rows, row{"small Put+Get ops/s", "ops/s", rate(d, puts), rate(base, puts), true, ""})

	runtime.ReadMemStats(&ms)
	st := core.ObjectStoreStats()

	// Large Put, zero-copy: the embedded store keeps a reference to the
	// caller's slice, so this is the cost of accounting one object, not a
	// transfer rate. Reported as latency, with no baseline.
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
	rows = append(rows, row{"large Put zero-copy (256 MiB []byte, reference kept)", "µs/Put", us(d, bigPuts), 0, false, "not a copy"})

	// Large Put, copied: what a Put costs when the value has to be copied
	// into the store, as it will be in a cluster. A store whose memory
	// budget is below the value's size encodes it (with the store's codec:
	// CBOR for these types) into a file under
	// /dev/shm, shared memory like Ray's plasma store. Baseline: memcpy of
	// the same bytes into a buffer already touched.
	copied, err := largePutCopied(ctx, big)
	if err != nil {
		return err
	}
	rows = append(rows, copied...)

	// The same core figures with encode-all on: every argument and result
	// through the codec, every call dispatched by name through its wire
	// spec, as on a cluster. They are the floor of what a cluster can do.
	core.Shutdown()
	if err := core.Init(core.WithEncodeAll()); err != nil {
		return err
	}
	ea, err := encodeAllRows(ctx)
	if err != nil {
		return err
	}
	rows = append(rows, ea...)
	tw := tabwriter.NewWriter(os.Stdout, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintf(tw, "benchmark\tgoray\tplain Go baseline\tratio (goray/baseline)\tunit\ttarget\t\n")
	for _, r := range rows {
		if r.baseline == 0 {
			fmt.Fprintf(tw, "%s\t%s\t-\t-\t%s\t%s\t\n", r.name, num(r.goray), r.unit, r.target)
			continue
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%.2f\t%s\t%s\t\n", r.name, num(r.goray), num(r.baseline), r.goray/r.baseline, r.unit, r.target)
	}
	tw.Flush()
	fmt.Println("each figure: second of two runs (the first warms the heap); baseline = the same work with plain goroutines and channels (memcpy for the copied Puts)")
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

// largePutCopied restarts the runtime with a memory budget smaller than the
// values and its spill directory in /dev/shm, so that each Put encodes the
// value into the store; it measures a []byte and a []float64 of 256 MiB
// against memcpy, then restores the default runtime.
func largePutCopied(ctx context.Context, big []byte) ([]row, error) {
	shm := "/dev/shm"
	if st, err := os.Stat(shm); err != nil || !st.IsDir() {
		shm = os.TempDir() // no shared memory: a disk store, slower than a real one
	}
	dir, err := os.MkdirTemp(shm, "goray-bench-store")
	if err != nil {
		return nil, err
	}
	defer os.RemoveAll(dir)
	core.Shutdown()
	defer func() {
		core.Shutdown()
		if err := core.Init(); err != nil {
			panic(err)
		}
	}()
	if err := core.Init(core.WithMemoryBudget(64<<20), core.WithSpillDir(dir), core.WithSpillLimit(4<<30)); err != nil {
		return nil, err
	}
	floats := make([]float64, len(big)/8)
	for i := range floats {
		floats[i] = float64(i) * 0.5
	}
	const puts = 3
	dst := make([]byte, len(big))
	base := timeIt(func() {
		for range puts {
			copy(dst, big)
		}
	})
	gb := float64(len(big)) * puts / 1e9
	var rows []row
	for _, c := range []struct {
		name string
		put  func() (func(), error)
	}{
		{"large Put copied into the store, 256 MiB []byte", func() (func(), error) {
			r, err := core.Put(ctx, big)
			return r.Release, err
		}},
		{"large Put copied into the store, 256 MiB []float64", func() (func(), error) {
			r, err := core.Put(ctx, floats)
			return r.Release, err
		}},
	} {
		var perr error
		before := core.ObjectStoreStats().SpillsTotal
		d := timeIt(func() {
			for range puts {
				release, err := c.put()
				if err != nil {
					perr = err
					return
				}
				release()
			}
		})
		if perr != nil {
			return nil, fmt.Errorf("%s: %w", c.name, perr)
		}
		if core.ObjectStoreStats().SpillsTotal-before < 2*puts {
			return nil, fmt.Errorf("%s: the store kept the value in memory (no spill), so nothing was copied", c.name)
		}
		rows = append(rows, row{c.name + " (store in " + shm + "), baseline memcpy", "GB/s", gb / d.Seconds(), gb / base.Seconds(), true, ""})
	}
	return rows, nil
}

func loadavg() string {
	b, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		return "unknown (" + err.Error() + ")"
	}
	return strings.TrimSpace(string(b))
}

// encodeAllRows measures the sync round trip, async tasks from one
// submitter, actor calls and small Put+Get on the running (encode-all)
// runtime, each beside its plain-goroutine baseline.
func encodeAllRows(ctx context.Context) ([]row, error) {
	var rows []row
	const syncN = 20_000
	d, base := syncRoundTrip(ctx, syncN)
	rows = append(rows, row{"encode-all: sync task round trip", "µs", us(d, syncN), us(base, syncN), false, "report"})
	const n = 200_000
	d, base = asyncTasks(ctx, n, 1)
	rows = append(rows, row{"encode-all: async tasks/s, 1 submitter", "ops/s", rate(d, n), rate(base, n), true, "report"})
	h, err := sinkActor.Remote(ctx)
	if err != nil {
		return nil, err
	}
	const calls = 200_000
	d, base = actorCallsAsync(ctx, h, calls)
	rows = append(rows, row{"encode-all: actor calls/s, 1:1 async", "ops/s", rate(d, calls), rate(base, calls), true, "report"})
	const puts = 200_000
	d, base = putGet(ctx, puts)
	rows = append(rows, row{"encode-all: small Put+Get ops/s", "ops/s", rate(d, puts), rate(base, puts), true, "report"})
	return rows, nil
}

// syncRoundTrip times n submit-and-wait task calls, and the baseline: n
// goroutines started and waited for one at a time.
func syncRoundTrip(ctx context.Context, n int) (d, base time.Duration) {
	d = timeIt(func() {
		for i := range n {
			if _, err := core.Get(ctx, noop.Remote(ctx, i)); err != nil {
				panic(err)
			}
		}
	})
	base = timeIt(func() {
		for i := range n {
			ch := make(chan int, 1)
			go func() { ch <- i }()
			<-ch
		}
	})
	return d, base
}

// asyncTasks times n tasks submitted by submitters goroutines before
// waiting for them, and the baseline with plain goroutines.
func asyncTasks(ctx context.Context, n, submitters int) (d, base time.Duration) {
	per := n / submitters
	d = timeIt(func() {
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
	base = timeIt(func() {
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
	return d, base
}

// actorCallsAsync times n calls to one actor made before waiting for the
// last, and the baseline channel actor.
func actorCallsAsync(ctx context.Context, h *core.ActorHandle[*Sink], n int) (d, base time.Duration) {
	d = timeIt(func() {
		refs := make([]core.Ref[int], n)
		for i := range n {
			refs[i] = sinkPush.Remote(ctx, h, 1)
		}
		if _, err := core.Get(ctx, refs[len(refs)-1]); err != nil {
			panic(err)
		}
	})
	base = timeIt(func() { chanActorAsync(n) })
	return d, base
}

// putGet times n small Put+Get+Release rounds, and the baseline: a locked
// map insert, read and delete.
func putGet(ctx context.Context, n int) (d, base time.Duration) {
	d = timeIt(func() {
		for i := range n {
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
		for i := range n {
			mu.Lock()
			m[i] = i
			_ = m[i]
			delete(m, i)
			mu.Unlock()
		}
	})
	return d, base
}
