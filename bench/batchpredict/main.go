// Command batchpredict measures train.BatchPredictor against its ceiling:
// rows/s scoring 1,000,000 rows with a breast cancer GBDT, beside a plain
// loop over the same Arrow columns that calls leaves directly, both
// measured in one run, with the ratio (target: BatchPredictor >= 0.90 of
// the plain loop) and each side's peak heap.
//
//	go run ./bench/batchpredict                  # 1M rows, batches of 8192, 2 workers, GOMAXPROCS=2
//	go run ./bench/batchpredict -rows 200000 -cpuprofile bp.pprof
//
// The model: gbdt.Train on the 569 breast cancer rows (binary:logistic,
// 100 rounds, max_depth 6), saved with Booster.SaveCheckpoint. The rows:
// the 569 resampled (seeded) to -rows rows of 30 float64 columns, as Arrow
// records of -block rows, wrapped with data.FromArrow.
//
// The contenders, each on -concurrency workers (both cores by default):
//   - BatchPredictor: train.BatchPredictorFromCheckpoint(ckpt,
//     gbdt.PredictorFactory), Predict with PredictOptions{BatchSize,
//     Concurrency}, every prediction consumed through IterBatches (copied
//     into one []float64).
//   - plain loop: the checkpoint's model.txt loaded with
//     leaves.LGEnsembleFromReader; -concurrency goroutines take chunks of
//     -batch rows, gather each row from the Arrow columns into a []float64
//     and call Ensemble.Predict, writing into the same kind of []float64.
//
// Each side runs once to warm up, then the sides take -repeat alternating
// turns (load on a shared machine changes by the second) and the best turn
// of each is reported, by wall time and by the process's CPU time (user +
// system, from getrusage), which other processes' load disturbs less; the
// two must give the same float64 bits on every row (gbdt compiles the
// trees of checkpoints it wrote into its own flat layout, which predicts
// leaves' bits, so the plain leaves loop is no longer a ceiling but the
// reference reader).
// Peak heap is sampled (runtime/metrics, heap objects) every millisecond
// during a side's turns; the input records (rows x 30 x 8 bytes) are live
// throughout and counted in both.
//
// For `make bench`: about 10 s on 2 idle cores, 20-40 s on a busy machine.
package main

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"runtime"
	"runtime/metrics"
	"runtime/pprof"
	"slices"
	"sync"
	"sync/atomic"
	"syscall"
	"text/tabwriter"
	"time"

	"github.com/apache/arrow/go/v15/arrow"
	"github.com/apache/arrow/go/v15/arrow/array"
	"github.com/apache/arrow/go/v15/arrow/memory"
	"github.com/dmitryikh/leaves"

	"github.com/goray/goray/checkpoint"
	"github.com/goray/goray/core"
	"github.com/goray/goray/data"
	"github.com/goray/goray/train"
	"github.com/goray/goray/train/gbdt"
)

func main() {
	if err := run(context.Background(), os.Stdout, os.Args[1:]); err != nil {
		fmt.Fprintln(os.Stderr, "bench/batchpredict:", err)
		os.Exit(1)
	}
}

type config struct {
	rows, block, batch, concurrency int
	rounds, depth, repeat, procs    int
	seed                            uint64
	csv, cpuprofile                 string
}

func run(ctx context.Context, out io.Writer, args []string) error {
	fs := flag.NewFlagSet("batchpredict", flag.ContinueOnError)
	var c config
	fs.IntVar(&c.rows, "rows", 1_000_000, "rows scored")
	fs.IntVar(&c.block, "block", 64<<10, "rows per Arrow record (dataset block)")
	fs.IntVar(&c.batch, "batch", 8192, "rows per Predict call (PredictOptions.BatchSize) and per plain-loop chunk")
	fs.IntVar(&c.concurrency, "concurrency", 2, "model workers (PredictOptions.Concurrency) and plain-loop goroutines")
	fs.IntVar(&c.rounds, "rounds", 100, "boosting rounds")
	fs.IntVar(&c.depth, "max_depth", 6, "max_depth")
	fs.IntVar(&c.repeat, "repeat", 5, "timed turns per side, alternating (best reported)")
	fs.IntVar(&c.procs, "procs", 2, "GOMAXPROCS (0: leave as is)")
	fs.Uint64Var(&c.seed, "seed", 1, "resampling seed")
	fs.StringVar(&c.csv, "csv", "train/gbdt/testdata/breast_cancer.csv", "breast cancer CSV (30 features, then target)")
	fs.StringVar(&c.cpuprofile, "cpuprofile", "", "after the timed turns, write a CPU profile of three more BatchPredictor runs to this file")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if c.rows <= 0 || c.block <= 0 || c.batch <= 0 || c.concurrency <= 0 || c.repeat <= 0 {
		return errors.New("-rows, -block, -batch, -concurrency and -repeat must be > 0")
	}
	if c.procs > 0 {
		runtime.GOMAXPROCS(c.procs)
	}
	if err := core.Init(); err != nil {
		return err
	}
	defer core.Shutdown()
	dir, err := os.MkdirTemp("", "goray-bench-batchpredict")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)

	t0 := time.Now()
	ckpt, names, src, nTrees, err := trainModel(ctx, c, dir)
	if err != nil {
		return err
	}
	fmt.Fprintf(out, "model: gbdt.Train on %s (%d rows x %d features), binary:logistic, %d trees, max_depth %d, in %.1fs\n",
		filepath.Base(c.csv), len(src[0]), len(names), nTrees, c.depth, time.Since(t0).Seconds())

	recs := resample(names, src, c.rows, c.block, c.seed)
	defer func() {
		for _, r := range recs {
			r.Release()
		}
	}()
	fmt.Fprintf(out, "data: %d rows resampled (seed %d) into %d Arrow records of <= %d rows, %d MiB of float64 columns; batch %d, concurrency %d, GOMAXPROCS %d\n\n",
		c.rows, c.seed, len(recs), c.block, c.rows*len(names)*8>>20, c.batch, c.concurrency, runtime.GOMAXPROCS(0))

	bp, err := train.BatchPredictorFromCheckpoint(ckpt, gbdt.PredictorFactory)
	if err != nil {
		return err
	}
	modelTxt, err := ckpt.ReadFile("model.txt")
	if err != nil {
		return err
	}
	ens, err := leaves.LGEnsembleFromReader(bufio.NewReader(bytes.NewReader(modelTxt)), true)
	if err != nil {
		return err
	}
	ds := data.FromArrow(recs...)
	opts := train.PredictOptions{BatchSize: c.batch, Concurrency: c.concurrency}

	gorayOut := make([]float64, c.rows)
	plainOut := make([]float64, c.rows)
	sides := []*side{
		{name: "plain leaves loop (ceiling)", fn: func() error { return plainLoop(ens, names, recs, c.batch, c.concurrency, plainOut) }},
		{name: "BatchPredictor", fn: func() error { return batchPredict(ctx, bp, ds, opts, gorayOut) }},
	}
	for _, s := range sides { // warm-up
		if err := s.fn(); err != nil {
			return fmt.Errorf("%s: %w", s.name, err)
		}
	}
	for range c.repeat {
		for _, s := range sides {
			if err := s.turn(); err != nil {
				return fmt.Errorf("%s: %w", s.name, err)
			}
		}
	}
	if c.cpuprofile != "" {
		if err := profile(c.cpuprofile, sides[1].fn); err != nil {
			return err
		}
	}

	maxDiff := 0.0
	for i := range plainOut {
		if math.Float64bits(plainOut[i]) != math.Float64bits(gorayOut[i]) {
			return fmt.Errorf("predictions disagree at row %d: BatchPredictor %v, plain leaves loop %v (they must be bit-identical)", i, gorayOut[i], plainOut[i])
		}
	}

	tw := tabwriter.NewWriter(out, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "contender\tbest s\tmedian s\trows/s\tratio\tCPU s\tCPU ratio\tpeak heap MiB\theap at start MiB\t")
	ceiling := float64(c.rows) / sides[0].best().Seconds()
	ceilingCPU := sides[0].bestCPU().Seconds()
	for _, s := range sides {
		rate := float64(c.rows) / s.best().Seconds()
		fmt.Fprintf(tw, "%s\t%.3f\t%.3f\t%.0f\t%.3f\t%.3f\t%.3f\t%d\t%d\t\n", s.name, s.best().Seconds(), s.median().Seconds(), rate, rate/ceiling,
			s.bestCPU().Seconds(), ceilingCPU/s.bestCPU().Seconds(), s.peak>>20, s.start>>20)
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	fmt.Fprintf(out, "\npredictions agree (max |difference| %g over %d rows); ratio = rows/s over the plain loop's, best of %d turns each (target >= 0.90); CPU ratio = the plain loop's CPU seconds over the side's, least of its turns (steadier on a shared machine)\n",
		maxDiff, c.rows, c.repeat)
	return nil
}

// profile writes a CPU profile of three more (untimed) runs of fn to path.
func profile(path string, fn func() error) error {
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	defer f.Close()
	if err := pprof.StartCPUProfile(f); err != nil {
		return err
	}
	defer pprof.StopCPUProfile()
	for range 3 {
		if err := fn(); err != nil {
			return err
		}
	}
	return nil
}

// side is one contender: its turns' wall times and its peak heap.
type side struct {
	name  string
	fn    func() error
	times []time.Duration
	cpu   []time.Duration // process CPU time (user+system) of each turn
	start uint64          // heap after the GC before the turn that peaked highest
	peak  uint64
}

// turn runs fn once after a GC, timing it and sampling the heap.
func (s *side) turn() error {
	runtime.GC()
	sample := []metrics.Sample{{Name: "/memory/classes/heap/objects:bytes"}}
	metrics.Read(sample)
	start := sample[0].Value.Uint64()
	stop := make(chan struct{})
	var peak atomic.Uint64
	var wg sync.WaitGroup
	wg.Go(func() {
		sample := []metrics.Sample{{Name: "/memory/classes/heap/objects:bytes"}}
		tick := time.NewTicker(time.Millisecond)
		defer tick.Stop()
		for {
			metrics.Read(sample)
			if v := sample[0].Value.Uint64(); v > peak.Load() {
				peak.Store(v)
			}
			select {
			case <-stop:
				return
			case <-tick.C:
			}
		}
	})
	t, c := time.Now(), cpuTime()
	err := s.fn()
	d, dc := time.Since(t), cpuTime()-c
	close(stop)
	wg.Wait()
	s.times = append(s.times, d)
	s.cpu = append(s.cpu, dc)
	if p := peak.Load(); p > s.peak {
		s.peak, s.start = p, start
	}
	return err
}

func (s *side) best() time.Duration { return sorted(s.times)[0] }

func (s *side) bestCPU() time.Duration { return sorted(s.cpu)[0] }

// cpuTime is the user+system CPU time of this process so far.
func cpuTime() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

func (s *side) median() time.Duration { t := sorted(s.times); return t[len(t)/2] }

func sorted(d []time.Duration) []time.Duration {
	out := slices.Clone(d)
	slices.Sort(out)
	return out
}

// batchPredict scores ds with bp and copies every prediction into dst.
func batchPredict(ctx context.Context, bp *train.BatchPredictor, ds *data.Dataset, opts train.PredictOptions, dst []float64) error {
	preds, err := bp.Predict(ctx, ds, opts)
	if err != nil {
		return err
	}
	n := 0
	for b, err := range preds.IterBatches(ctx, data.BatchSize(0)) {
		if err != nil {
			return err
		}
		col, ok := b.Column(0).(*array.Float64)
		if !ok {
			return fmt.Errorf("predictions column is %s, want float64", b.Column(0).DataType())
		}
		if n+col.Len() > len(dst) {
			return fmt.Errorf("more than %d predictions", len(dst))
		}
		n += copy(dst[n:], col.Float64Values())
	}
	if n != len(dst) {
		return fmt.Errorf("%d predictions for %d rows", n, len(dst))
	}
	return nil
}

// plainLoop scores recs with ens on workers goroutines, each taking chunks
// of chunk rows, gathering a row from the columns and predicting it.
func plainLoop(ens *leaves.Ensemble, names []string, recs []arrow.Record, chunk, workers int, dst []float64) error {
	type task struct {
		cols   [][]float64
		lo, hi int // rows of the record
		out    []float64
	}
	tasks := make(chan task)
	errc := make(chan error, workers)
	var wg sync.WaitGroup
	for range workers {
		wg.Go(func() {
			fvals := make([]float64, len(names))
			var one [1]float64
			for t := range tasks {
				for i := t.lo; i < t.hi; i++ {
					for j, col := range t.cols {
						fvals[j] = col[i]
					}
					if err := ens.Predict(fvals, 0, one[:]); err != nil {
						errc <- err
						for range tasks {
						}
						return
					}
					t.out[i-t.lo] = one[0]
				}
			}
		})
	}
	base := 0
	for _, r := range recs {
		cols := make([][]float64, len(names))
		for j, name := range names {
			idx := r.Schema().FieldIndices(name)
			if len(idx) == 0 {
				close(tasks)
				wg.Wait()
				return fmt.Errorf("record has no column %q", name)
			}
			cols[j] = r.Column(idx[0]).(*array.Float64).Float64Values()
		}
		n := int(r.NumRows())
		for lo := 0; lo < n; lo += chunk {
			hi := min(lo+chunk, n)
			tasks <- task{cols: cols, lo: lo, hi: hi, out: dst[base+lo : base+hi]}
		}
		base += n
	}
	close(tasks)
	wg.Wait()
	select {
	case err := <-errc:
		return err
	default:
		return nil
	}
}

// trainModel reads the CSV, trains the booster and saves its checkpoint.
// It returns the feature names and the source rows as columns.
func trainModel(ctx context.Context, c config, dir string) (*checkpoint.Checkpoint, []string, [][]float64, int, error) {
	ds, err := data.ReadCSV(ctx, c.csv)
	if err != nil {
		return nil, nil, nil, 0, err
	}
	var recs []arrow.Record
	for b, err := range ds.IterBatches(ctx, data.BatchSize(0)) {
		if err != nil {
			return nil, nil, nil, 0, err
		}
		b.Retain()
		recs = append(recs, b)
	}
	defer func() {
		for _, r := range recs {
			r.Release()
		}
	}()
	if len(recs) == 0 {
		return nil, nil, nil, 0, fmt.Errorf("%s: no rows", c.csv)
	}
	var names []string
	for _, f := range recs[0].Schema().Fields() {
		if f.Name != "target" {
			names = append(names, f.Name)
		}
	}
	src := make([][]float64, len(names))
	for _, r := range recs {
		for j, name := range names {
			col := r.Column(r.Schema().FieldIndices(name)[0])
			switch a := col.(type) {
			case *array.Float64:
				src[j] = append(src[j], a.Float64Values()...)
			case *array.Int64:
				for _, v := range a.Int64Values() {
					src[j] = append(src[j], float64(v))
				}
			default:
				return nil, nil, nil, 0, fmt.Errorf("%s: column %q has type %s, want numbers", c.csv, name, col.DataType())
			}
		}
	}
	m, err := gbdt.MatrixFromRecords(recs, "target", names)
	if err != nil {
		return nil, nil, nil, 0, err
	}
	b, err := gbdt.Train(ctx, m, nil, gbdt.Params{"objective": gbdt.BinaryLogistic, "max_depth": c.depth, "eta": 0.3}, c.rounds)
	if err != nil {
		return nil, nil, nil, 0, err
	}
	ckpt, err := b.SaveCheckpoint(filepath.Join(dir, "bc"))
	if err != nil {
		return nil, nil, nil, 0, err
	}
	return ckpt, names, src, b.NumRounds(), nil
}

// resample draws rows of src (columns) with replacement into records of
// block rows with float64 columns named names. The caller releases them.
func resample(names []string, src [][]float64, rows, block int, seed uint64) []arrow.Record {
	rng := rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15))
	fields := make([]arrow.Field, len(names))
	for j, n := range names {
		fields[j] = arrow.Field{Name: n, Type: arrow.PrimitiveTypes.Float64}
	}
	schema := arrow.NewSchema(fields, nil)
	var recs []arrow.Record
	idx := make([]int, 0, block)
	for lo := 0; lo < rows; lo += block {
		n := min(block, rows-lo)
		idx = idx[:0]
		for range n {
			idx = append(idx, rng.IntN(len(src[0])))
		}
		cols := make([]arrow.Array, len(names))
		for j := range names {
			vals := make([]float64, n)
			for i, k := range idx {
				vals[i] = src[j][k]
			}
			// Wrapped, not built: a builder's buffers are over-allocated.
			buf := memory.NewBufferBytes(arrow.Float64Traits.CastToBytes(vals))
			d := array.NewData(arrow.PrimitiveTypes.Float64, n, []*memory.Buffer{nil, buf}, nil, 0, 0)
			cols[j] = array.NewFloat64Data(d)
			d.Release()
		}
		recs = append(recs, array.NewRecord(schema, cols, int64(n)))
		for _, c := range cols {
			c.Release()
		}
	}
	return recs
}
