// Command tune-bench measures Tune's scheduling overhead on a core runtime
// of 2 CPUs (one CPU per trial, so 2 trials at a time), beside baselines
// run in the same process:
//
//   - 1,000 trials of one no-op iteration, against a plain loop of 2
//     goroutines calling the same no-op function 1,000 times;
//   - 200 trials of one 10 ms iteration, against 2 goroutines sleeping
//     10 ms 200 times (the overhead as a share of useful time, scaled down
//     from Ray Tune's 10,000 one-second trials);
//   - 100 trials reporting 100 results each: results per second.
//
// Every trial writes its params.json, result.json, progress.csv and
// TensorBoard events, as in a real sweep, so the no-op trials are bound by
// file creation: the table also shows that floor (the same directory and
// four files per trial created by one goroutine) and, where /dev/shm
// exists, the no-op sweep with its results on tmpfs, which is the
// scheduling cost alone.
//
//	go run ./bench/tune [-trials 1000] [-cpus 2] [-storage DIR]
package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"sync"
	"sync/atomic"
	"text/tabwriter"
	"time"

	"github.com/goray/goray/core"
	"github.com/goray/goray/tune"
)

func main() {
	if err := run(context.Background(), os.Stdout, os.Args[1:]); err != nil {
		fmt.Fprintln(os.Stderr, "tune-bench:", err)
		os.Exit(1)
	}
}

var sink atomic.Int64

// noop is the trial body of the first benchmark.
func noop(i int) float64 {
	sink.Add(1)
	return float64(i)
}

// baseline runs body n times on workers goroutines.
func baseline(n, workers int, body func(i int)) time.Duration {
	start := time.Now()
	var next atomic.Int64
	var wg sync.WaitGroup
	for range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := int(next.Add(1)); i <= n; i = int(next.Add(1)) {
				body(i)
			}
		}()
	}
	wg.Wait()
	return time.Since(start)
}

// fileFloor creates what n trials write at least (a directory and four
// small files each) from one goroutine.
func fileFloor(dir string, n int) (time.Duration, error) {
	root := filepath.Join(dir, "floor")
	if err := os.Mkdir(root, 0o755); err != nil {
		return 0, err
	}
	defer os.RemoveAll(root)
	start := time.Now()
	for i := range n {
		d := filepath.Join(root, strconv.Itoa(i))
		if err := os.Mkdir(d, 0o755); err != nil {
			return 0, err
		}
		for _, name := range []string{"params.json", "result.json", "progress.csv", "events.out.tfevents"} {
			if err := os.WriteFile(filepath.Join(d, name), []byte("{}\n"), 0o644); err != nil {
				return 0, err
			}
		}
	}
	return time.Since(start), nil
}

func sweep(ctx context.Context, dir, name string, trials int, fn tune.TrainableFunc) (time.Duration, *tune.ResultGrid, error) {
	tuner := tune.Tuner{
		Trainable:  fn,
		ParamSpace: map[string]any{"i": tune.RandInt(0, 1_000_000)},
		TuneConfig: tune.TuneConfig{NumSamples: trials, Seed: 1},
		RunConfig:  tune.RunConfig{StoragePath: dir, Name: name},
	}
	start := time.Now()
	g, err := tuner.Fit(ctx)
	d := time.Since(start)
	if err == nil && len(g.Errors()) > 0 {
		err = g.Errors()[0]
	}
	if err == nil && g.Len() != trials {
		err = fmt.Errorf("%s: %d trials ran, want %d", name, g.Len(), trials)
	}
	return d, g, err
}

func run(ctx context.Context, stdout io.Writer, args []string) error {
	fs := flag.NewFlagSet("tune-bench", flag.ContinueOnError)
	trials := fs.Int("trials", 1000, "no-op trials")
	sleepTrials := fs.Int("sleep-trials", 200, "10 ms trials")
	reportTrials := fs.Int("report-trials", 100, "trials of the reporting benchmark")
	reports := fs.Int("reports", 100, "results per trial of the reporting benchmark")
	cpus := fs.Float64("cpus", 2, "CPUs of the core runtime (trials hold 1 each)")
	storage := fs.String("storage", "", "where results go (default: the system temp dir)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if err := core.Init(core.WithNumCPUs(*cpus)); err != nil {
		return err
	}
	defer core.Shutdown()
	slots := int(*cpus)
	dir, err := os.MkdirTemp(*storage, "tune-bench-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	floor, err := fileFloor(dir, *trials)
	if err != nil {
		return err
	}

	// Warm up the runtime and the file system paths.
	if _, _, err := sweep(ctx, dir, "warmup", 20, func(tc tune.Context, c tune.Config) error {
		return tc.Report(map[string]float64{"x": 1}, nil)
	}); err != nil {
		return err
	}

	noopTrials, _, err := sweep(ctx, dir, "noop", *trials, func(tc tune.Context, c tune.Config) error {
		i, _ := c.Int("i")
		return tc.Report(map[string]float64{"x": noop(i)}, nil)
	})
	if err != nil {
		return err
	}
	noopBase := baseline(*trials, slots, func(i int) { noop(i) })
	var shm time.Duration
	if fi, err := os.Stat("/dev/shm"); err == nil && fi.IsDir() && *storage == "" {
		shmDir, err := os.MkdirTemp("/dev/shm", "tune-bench-")
		if err == nil {
			defer os.RemoveAll(shmDir)
			shm, _, err = sweep(ctx, shmDir, "noop", *trials, func(tc tune.Context, c tune.Config) error {
				i, _ := c.Int("i")
				return tc.Report(map[string]float64{"x": noop(i)}, nil)
			})
			if err != nil {
				return err
			}
		}
	}

	const iter = 10 * time.Millisecond
	sleepTune, _, err := sweep(ctx, dir, "sleep", *sleepTrials, func(tc tune.Context, c tune.Config) error {
		time.Sleep(iter)
		return tc.Report(map[string]float64{"x": 1}, nil)
	})
	if err != nil {
		return err
	}
	sleepBase := baseline(*sleepTrials, slots, func(int) { time.Sleep(iter) })

	reportTune, g, err := sweep(ctx, dir, "reports", *reportTrials, func(tc tune.Context, c tune.Config) error {
		for k := range *reports {
			if err := tc.Report(map[string]float64{"loss": 1 / float64(k+1), "acc": float64(k)}, nil); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return err
	}
	results := 0
	for _, r := range g.Results() {
		results += len(r.MetricsHistory)
	}
	reportBase := baseline(*reportTrials**reports, slots, func(i int) { noop(i) })

	perTrial := (noopTrials - noopBase) / time.Duration(*trials)
	// N one-second trials on `slots` slots take N/slots seconds ideally;
	// Tune adds its per-trial cost serially in the controller at worst.
	projected := perTrial.Seconds() * float64(slots) / 1.0 * 100

	tw := tabwriter.NewWriter(stdout, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintf(tw, "benchmark (%v CPUs, 1 per trial)\tTune\tbaseline\tratio\trate\t\n", *cpus)
	fmt.Fprintf(tw, "%d trials x 1 no-op iteration\t%.3f s\t%.6f s\t%.0fx\t%.0f trials/s\t\n",
		*trials, noopTrials.Seconds(), noopBase.Seconds(), noopTrials.Seconds()/noopBase.Seconds(),
		float64(*trials)/noopTrials.Seconds())
	fmt.Fprintf(tw, "  file floor: %d x (mkdir + 4 files), 1 goroutine\t\t%.3f s\t%.2fx\t\t\n",
		*trials, floor.Seconds(), noopTrials.Seconds()/floor.Seconds())
	if shm > 0 {
		fmt.Fprintf(tw, "  same sweep, results on tmpfs\t%.3f s\t%.6f s\t%.0fx\t%.0f trials/s\t\n",
			shm.Seconds(), noopBase.Seconds(), shm.Seconds()/noopBase.Seconds(), float64(*trials)/shm.Seconds())
	}
	fmt.Fprintf(tw, "%d trials x 1 iteration of %v\t%.3f s\t%.3f s\t%.3fx\t%.1f%% overhead\t\n",
		*sleepTrials, iter, sleepTune.Seconds(), sleepBase.Seconds(), sleepTune.Seconds()/sleepBase.Seconds(),
		(sleepTune.Seconds()/sleepBase.Seconds()-1)*100)
	fmt.Fprintf(tw, "%d trials x %d results\t%.3f s\t%.6f s\t%.0fx\t%.0f results/s\t\n",
		*reportTrials, *reports, reportTune.Seconds(), reportBase.Seconds(), reportTune.Seconds()/reportBase.Seconds(),
		float64(results)/reportTune.Seconds())
	tw.Flush()
	fmt.Fprintf(stdout, "\nper-trial scheduling cost %v; for one-second trials that is %.2f%% overhead "+
		"(goal < 2%%; Ray Tune: 10,000 one-second trials on 16 CPUs in 715 s vs 625 s ideal, 14%%)\n",
		perTrial.Round(time.Microsecond), projected)
	if noopTrials > 2*time.Second {
		fmt.Fprintf(stdout, "MISSED target: %d no-op trials took %.2f s (target < 2 s)\n", *trials, noopTrials.Seconds())
	}
	return nil
}
