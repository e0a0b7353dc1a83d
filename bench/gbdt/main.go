// Command gbdt benchmarks train/gbdt against XGBoost on generated data, on
// the path a user runs: the data is written as a CSV into a temporary
// directory (removed at the end), read back with data.ReadCSV and split
// 80/20 with Dataset.SplitAt; then, in alternating turns,
//
//   - gbdt.Trainer.Fit on the "train" dataset (default per-round metrics),
//     1 worker x -threads threads and -threads workers x 1 thread;
//   - gbdt.Train on the same rows already in memory (the second mode);
//   - XGBoost's xgboost.train (hist) from numpy arrays, which includes its
//     DMatrix construction as Fit includes reading the dataset's records;
//
// and, for prediction on the 200k test rows: train.BatchPredictor over the
// CSV-read test dataset (-threads concurrency), Model.PredictDense over
// row-major floats, beside XGBoost's predict with its own DMatrix.
//
//	go run ./bench/gbdt                 # 1M rows x 28 features, 100 rounds, 2 threads
//	go run ./bench/gbdt -rows 200000 -xgboost=false
//
// Every turn prints its wall seconds, the process's CPU seconds (user +
// system, getrusage; XGBoost's are its own process's) and /proc/loadavg,
// since the machine may be shared; the table keeps each contender's
// fastest turn and gives ratios to XGBoost for both wall and CPU time.
//
// The yardstick is XGBoost through Python (the Debian package
// python3-xgboost: `apt-get install -y python3-xgboost`, run as
// /usr/bin/python3 in a subprocess); where it is not installed the bench
// says so and measures goray alone. Data: 28 float32 features, the first
// 21 N(0,1) "low-level" ones, 7 "high-level" nonlinear functions of them,
// and a label drawn from a logistic model with interactions (like HIGGS).
package main

import (
	"bufio"
	"context"
	"encoding/binary"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"math"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"runtime/pprof"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"text/tabwriter"
	"time"

	"github.com/apache/arrow/go/v15/arrow/array"

	"github.com/goray/goray/core"
	"github.com/goray/goray/data"
	"github.com/goray/goray/train"
	"github.com/goray/goray/train/gbdt"
)

func main() {
	if err := run(context.Background(), os.Stdout, os.Args[1:]); err != nil {
		fmt.Fprintln(os.Stderr, "bench/gbdt:", err)
		os.Exit(1)
	}
}

type config struct {
	rows, rounds, threads, depth, maxBin int
	seed                                 uint64
	repeat                               int
	eta                                  float64
	xgboost, fit                         bool
	python                               string
	cpuprofile                           string
}

const xgbPackage = "python3-xgboost"

func run(ctx context.Context, out io.Writer, args []string) error {
	fs := flag.NewFlagSet("gbdt", flag.ContinueOnError)
	var c config
	fs.IntVar(&c.rows, "rows", 1_000_000, "rows generated (80% train, 20% test)")
	fs.IntVar(&c.rounds, "rounds", 100, "boosting rounds")
	fs.IntVar(&c.threads, "threads", 2, "threads for both libraries")
	fs.IntVar(&c.depth, "max_depth", 6, "max_depth")
	fs.IntVar(&c.maxBin, "max_bin", 256, "max_bin")
	fs.Float64Var(&c.eta, "eta", 0.3, "eta")
	fs.Uint64Var(&c.seed, "seed", 1, "data seed")
	fs.IntVar(&c.repeat, "repeat", 2, "turns per contender, alternating (fastest reported)")
	fs.BoolVar(&c.xgboost, "xgboost", true, "also run XGBoost (if /usr/bin/python3 imports xgboost)")
	fs.BoolVar(&c.fit, "fit", true, "also time Trainer.Fit")
	fs.StringVar(&c.python, "python", "/usr/bin/python3", "python interpreter with xgboost and numpy")
	fs.StringVar(&c.cpuprofile, "cpuprofile", "", "write CPU profiles of the first turn's timed calls to FILE.fit-WxT (Trainer.Fit, W workers x T threads) and FILE.train (gbdt.Train)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if c.rows < 10 || c.rounds < 1 || c.threads < 1 || c.repeat < 1 {
		return errors.New("-rows >= 10, -rounds, -threads and -repeat >= 1 required")
	}
	const F = 28
	t0 := time.Now()
	cols, labels := generate(c.rows, F, c.seed)
	nTrain := c.rows * 8 / 10
	fmt.Fprintf(out, "data: %d rows x %d features (train %d, test %d), generated in %.1fs; %d rounds, max_depth %d, eta %g, max_bin %d, %d threads, GOMAXPROCS %d, NumCPU %d\n",
		c.rows, F, nTrain, c.rows-nTrain, time.Since(t0).Seconds(), c.rounds, c.depth, c.eta, c.maxBin, c.threads, runtime.GOMAXPROCS(0), runtime.NumCPU())

	dir, err := os.MkdirTemp("", "goray-bench-gbdt-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)

	py := ""
	var xgbNote string
	if c.xgboost {
		if py = findPython(c.python); py == "" {
			xgbNote = fmt.Sprintf("XGBoost not measured: %s cannot import xgboost and numpy (install the Debian package: apt-get install -y %s)", c.python, xgbPackage)
		}
	} else {
		xgbNote = "XGBoost not measured (-xgboost=false)"
	}

	sides := map[string]*result{}
	keepAs := func(key string, r result) {
		fmt.Fprintf(out, "  %-52s wall %7.3fs  cpu %7.3fs  load %s\n", r.name, r.seconds, r.cpu, r.load)
		r.name = key
		sides[key] = best(sides[key], r)
	}
	keep := func(r result) { keepAs(r.name, r) }
	var order []string
	note := func(name string) {
		if !slices.Contains(order, name) {
			order = append(order, name)
		}
	}

	var trainDS, testDS *data.Dataset
	if c.fit {
		t0 := time.Now()
		path := filepath.Join(dir, "higgs_like.csv")
		if err := writeCSV(path, cols, labels); err != nil {
			return err
		}
		st, _ := os.Stat(path)
		// The runtime is started before the first dataset call, which would
		// otherwise start it with defaults.
		cpus := max(2, c.threads, runtime.NumCPU())
		if err := core.Init(core.WithNumCPUs(float64(cpus))); err != nil {
			return err
		}
		defer core.Shutdown()
		t1 := time.Now()
		if trainDS, testDS, err = readSplit(ctx, path, nTrain); err != nil {
			return err
		}
		fmt.Fprintf(out, "csv: %d MiB written in %.1fs, read with data.ReadCSV and SplitAt(%d) in %.1fs\n",
			st.Size()>>20, t1.Sub(t0).Seconds(), nTrain, time.Since(t1).Seconds())
	}
	yTest := make([]float64, c.rows-nTrain)
	for i := range yTest {
		yTest[i] = float64(labels[nTrain+i])
	}
	xTest := rowMajor(cols, nTrain, c.rows)

	for turn := range c.repeat {
		fmt.Fprintf(out, "turn %d:\n", turn+1)
		if c.fit {
			shapes := [][2]int{{1, c.threads}}
			if c.threads > 1 {
				shapes = append(shapes, [2]int{c.threads, 1})
			}
			for _, shape := range shapes {
				fr, preds, err := runFit(ctx, c, dir, trainDS, testDS, yTest, xTest, shape[0], shape[1], turn == 0 && c.cpuprofile != "")
				if err != nil {
					return err
				}
				keep(fr)
				note(fr.name)
				for _, p := range preds {
					keep(p)
					note(p.name)
				}
			}
		}
		r, err := runGoray(ctx, c, cols, labels, nTrain, turn == 0 && c.cpuprofile != "")
		if err != nil {
			return err
		}
		keep(r)
		note(r.name)
		if xgbNote == "" {
			// XGBoost's OpenMP threads spin while waiting by default, which
			// costs it dearly on a shared machine; run it both ways and keep
			// its best.
			for _, passive := range []bool{false, true} {
				tr, pr, err := runXGBoost(ctx, c, py, dir, cols, labels, nTrain, passive)
				if err != nil {
					xgbNote = "XGBoost run failed: " + err.Error()
					break
				}
				keepAs("XGBoost xgboost.train", tr)
				keepAs("XGBoost predict (DMatrix + predict)", pr)
			}
		}
	}

	xTrain, xPred := sides["XGBoost xgboost.train"], sides["XGBoost predict (DMatrix + predict)"]
	fmt.Fprintf(out, "\nfastest of %d turn(s) each; wall = seconds of the call, cpu = process user+system CPU seconds in it; load = /proc/loadavg at the turn's start\n", c.repeat)
	tw := tabwriter.NewWriter(out, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "contender\twall s\tcpu s\tAUC\twall / XGBoost\tcpu / XGBoost\tAUC - XGBoost\tload\t")
	row := func(r, x *result) {
		ratio, cratio, dAUC := "-", "-", "-"
		if x != nil {
			ratio = fmt.Sprintf("%.2fx", r.seconds/x.seconds)
			cratio = fmt.Sprintf("%.2fx", r.cpu/x.cpu)
			if !math.IsNaN(r.auc) {
				dAUC = fmt.Sprintf("%+.4f", r.auc-x.auc)
			}
		}
		aucS := "-"
		if !math.IsNaN(r.auc) {
			aucS = fmt.Sprintf("%.5f", r.auc)
		}
		fmt.Fprintf(tw, "%s\t%.3f\t%.3f\t%s\t%s\t%s\t%s\t%s\t\n", r.name, r.seconds, r.cpu, aucS, ratio, cratio, dAUC, r.load)
	}
	for _, name := range order {
		r := sides[name]
		if strings.Contains(name, "predict") || strings.Contains(name, "Predict") {
			row(r, xPred)
		} else {
			row(r, xTrain)
		}
	}
	if xTrain != nil {
		row(xTrain, xTrain)
		row(xPred, xPred)
	}
	tw.Flush()
	if xgbNote != "" {
		fmt.Fprintln(out, xgbNote)
	}
	return nil
}

// best keeps the faster turn (by wall time), counting turns.
func best(cur *result, r result) *result {
	if cur == nil {
		r.runs = 1
		return &r
	}
	r.runs = cur.runs + 1
	if r.seconds < cur.seconds {
		return &r
	}
	cur.runs = r.runs
	return cur
}

type result struct {
	name    string
	seconds float64 // wall
	cpu     float64 // process CPU (user+system)
	auc     float64 // NaN: not a model
	load    string  // /proc/loadavg at the start
	runs    int
}

// loadavg returns the first three fields of /proc/loadavg ("?" if unreadable).
func loadavg() string {
	b, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		return "?"
	}
	f := strings.Fields(string(b))
	if len(f) < 3 {
		return "?"
	}
	return strings.Join(f[:3], " ")
}

// measure times fn, wall and process CPU; with profile not empty, it
// writes a CPU profile of fn to that file.
func measure(name, profile string, fn func() error) (result, error) {
	runtime.GC()
	r := result{name: name, load: loadavg(), auc: math.NaN()}
	if profile != "" {
		f, err := os.Create(profile)
		if err != nil {
			return r, err
		}
		defer f.Close()
		if err := pprof.StartCPUProfile(f); err != nil {
			return r, err
		}
	}
	start, cpu0 := time.Now(), cpuSeconds()
	err := fn()
	r.seconds, r.cpu = time.Since(start).Seconds(), cpuSeconds()-cpu0
	if profile != "" {
		pprof.StopCPUProfile()
	}
	if err != nil {
		return r, fmt.Errorf("%s: %w", name, err)
	}
	return r, nil
}

// writeCSV writes the columns and label as a CSV with a header f0..f27,label.
func writeCSV(path string, cols [][]float32, labels []float32) error {
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	w := bufio.NewWriterSize(f, 1<<20)
	var line []byte
	for j := range cols {
		line = append(line, "f"+strconv.Itoa(j)+","...)
	}
	line = append(line, "label\n"...)
	for i := range labels {
		for j := range cols {
			line = strconv.AppendFloat(line, float64(cols[j][i]), 'g', -1, 32)
			line = append(line, ',')
		}
		line = strconv.AppendFloat(line, float64(labels[i]), 'g', -1, 32)
		line = append(line, '\n')
		if len(line) > 1<<16 {
			if _, err := w.Write(line); err != nil {
				f.Close()
				return err
			}
			line = line[:0]
		}
	}
	if _, err := w.Write(line); err != nil {
		f.Close()
		return err
	}
	if err := w.Flush(); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}

// readSplit reads the CSV as a user would and splits it at nTrain rows;
// both parts are materialized so that every turn starts from the same
// in-memory dataset.
func readSplit(ctx context.Context, path string, nTrain int) (*data.Dataset, *data.Dataset, error) {
	ds, err := data.ReadCSV(ctx, path)
	if err != nil {
		return nil, nil, err
	}
	parts, err := ds.SplitAt(int64(nTrain))
	if err != nil {
		return nil, nil, err
	}
	tr, err := parts[0].Materialize(ctx)
	if err != nil {
		return nil, nil, err
	}
	te, err := parts[1].Materialize(ctx)
	if err != nil {
		return nil, nil, err
	}
	return tr, te, nil
}

// rowMajor copies rows [lo, hi) of cols into one row-major []float64.
func rowMajor(cols [][]float32, lo, hi int) []float64 {
	F := len(cols)
	x := make([]float64, (hi-lo)*F)
	for j, c := range cols {
		for i, v := range c[lo:hi] {
			x[i*F+j] = float64(v)
		}
	}
	return x
}

// runFit times Trainer.Fit with workers x threads on the CSV-read "train"
// dataset, then times the two ways of scoring the test rows with the
// checkpoint Fit returned.
func runFit(ctx context.Context, c config, dir string, trainDS, testDS *data.Dataset, yTest, xTest []float64, workers, threads int, profile bool) (result, []result, error) {
	tr, err := gbdt.NewTrainer(gbdt.Config{
		LabelColumn:   "label",
		Params:        map[string]any{"objective": "binary:logistic", "max_depth": c.depth, "eta": c.eta, "max_bin": c.maxBin, "nthread": threads},
		NumBoostRound: c.rounds,
		Datasets:      map[string]*data.Dataset{"train": trainDS},
		ScalingConfig: train.ScalingConfig{NumWorkers: workers, ResourcesPerWorker: map[string]float64{"CPU": float64(threads)}},
		RunConfig:     train.RunConfig{StoragePath: filepath.Join(dir, "results")},
	})
	if err != nil {
		return result{}, nil, err
	}
	var res *train.Result
	name := fmt.Sprintf("goray Trainer.Fit, %d worker(s) x %d thread(s)", workers, threads)
	prof := ""
	if profile {
		prof = fmt.Sprintf("%s.fit-%dx%d", c.cpuprofile, workers, threads)
	}
	fr, err := measure(name, prof, func() error {
		var err error
		res, err = tr.Fit(ctx)
		return err
	})
	if err != nil {
		return result{}, nil, err
	}
	if res.Checkpoint == nil {
		return result{}, nil, errors.New("Trainer.Fit returned no checkpoint")
	}
	model, _, err := gbdt.LoadCheckpoint(res.Checkpoint)
	if err != nil {
		return result{}, nil, err
	}
	F := model.NumFeatures()
	n := len(yTest)
	var dense []float64
	pd, err := measure(fmt.Sprintf("goray Model.PredictDense, %d threads", c.threads), "", func() error {
		dense, err = model.PredictDense(xTest, n, F, c.threads, false)
		return err
	})
	if err != nil {
		return result{}, nil, err
	}
	fr.auc = auc(yTest, dense)
	bp, err := train.BatchPredictorFromCheckpoint(res.Checkpoint, gbdt.PredictorFactory)
	if err != nil {
		return result{}, nil, err
	}
	got := make([]float64, n)
	bpr, err := measure(fmt.Sprintf("goray BatchPredictor, concurrency %d", c.threads), "", func() error {
		return batchPredict(ctx, bp, testDS, train.PredictOptions{BatchSize: 8192, Concurrency: c.threads}, got)
	})
	if err != nil {
		return result{}, nil, err
	}
	for i := range got {
		if math.Float64bits(got[i]) != math.Float64bits(dense[i]) {
			return result{}, nil, fmt.Errorf("BatchPredictor and Model.PredictDense disagree at test row %d: %v vs %v", i, got[i], dense[i])
		}
	}
	return fr, []result{bpr, pd}, nil
}

// batchPredict runs the BatchPredictor over ds and copies every prediction
// into dst.
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

// cpuSeconds is the process's user+system CPU time so far.
func cpuSeconds() float64 {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return math.NaN()
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano()).Seconds()
}

// generate draws n rows: 21 N(0,1) features, 7 nonlinear combinations,
// label ~ Bernoulli(sigmoid(f(x))). Values are float32 so both libraries
// see the same numbers.
func generate(n, F int, seed uint64) ([][]float32, []float32) {
	rng := rand.New(rand.NewPCG(seed, 2024))
	cols := make([][]float32, F)
	for j := range cols {
		cols[j] = make([]float32, n)
	}
	labels := make([]float32, n)
	x := make([]float64, F)
	for i := range n {
		for j := range 21 {
			x[j] = rng.NormFloat64()
		}
		x[21] = x[0] * x[1]
		x[22] = math.Hypot(x[2], x[3])
		x[23] = math.Sin(2 * x[4])
		x[24] = math.Abs(x[5] - x[6])
		x[25] = math.Max(x[7], x[8])
		x[26] = x[9] * x[9]
		x[27] = math.Exp(0.5*x[10]) + 0.3*rng.NormFloat64()
		for j := range F {
			cols[j][i] = float32(x[j])
			x[j] = float64(cols[j][i])
		}
		f := 0.8*x[0] - 0.6*x[1] + 0.9*x[0]*x[1] + math.Sin(2*x[4]) + 1.2*math.Abs(x[5]-x[6]) - 1.0 +
			0.5*x[2]*x[3] - 0.7*x[9]*x[9] + 0.7 + 0.4*math.Max(x[7], x[8]) - 0.3*x[11]*x[12] + 0.25*x[13]
		if rng.Float64() < 1/(1+math.Exp(-1.5*f)) {
			labels[i] = 1
		}
	}
	return cols, labels
}

// runGoray times gbdt.Train on the rows already in memory as float64
// columns (the second mode: no dataset, no per-round metrics).
func runGoray(ctx context.Context, c config, cols [][]float32, labels []float32, nTrain int, profile bool) (result, error) {
	F := len(cols)
	names := make([]string, F)
	trainCols := make([][]float64, F)
	testCols := make([][]float64, F)
	for j := range F {
		names[j] = fmt.Sprintf("f%d", j)
		all := make([]float64, len(cols[j]))
		for i, v := range cols[j] {
			all[i] = float64(v)
		}
		trainCols[j], testCols[j] = all[:nTrain], all[nTrain:]
	}
	yTrain := make([]float64, nTrain)
	for i := range yTrain {
		yTrain[i] = float64(labels[i])
	}
	yTest := make([]float64, len(labels)-nTrain)
	for i := range yTest {
		yTest[i] = float64(labels[nTrain+i])
	}
	dtrain, err := gbdt.NewMatrix(names, trainCols, yTrain)
	if err != nil {
		return result{}, err
	}
	dtest, err := gbdt.NewMatrix(names, testCols, yTest)
	if err != nil {
		return result{}, err
	}
	params := gbdt.Params{"objective": "binary:logistic", "max_depth": c.depth, "eta": c.eta, "max_bin": c.maxBin, "nthread": c.threads}
	var b *gbdt.Booster
	prof := ""
	if profile {
		prof = c.cpuprofile + ".train"
	}
	r, err := measure(fmt.Sprintf("goray gbdt.Train in memory, %d threads", c.threads), prof, func() error {
		var err error
		b, err = gbdt.Train(ctx, dtrain, nil, params, c.rounds)
		return err
	})
	if err != nil {
		return result{}, err
	}
	p, err := b.Predict(dtest)
	if err != nil {
		return result{}, err
	}
	r.auc = auc(yTest, p)
	return r, nil
}

// auc is the exact ROC AUC (ties count half).
func auc(labels, scores []float64) float64 {
	idx := make([]int, len(labels))
	for i := range idx {
		idx[i] = i
	}
	slices.SortFunc(idx, func(a, b int) int {
		switch {
		case scores[a] < scores[b]:
			return -1
		case scores[a] > scores[b]:
			return 1
		}
		return 0
	})
	var rankSum, npos float64
	for i := 0; i < len(idx); {
		j := i
		for j < len(idx) && scores[idx[j]] == scores[idx[i]] {
			j++
		}
		avg := float64(i+j+1) / 2 // ranks are 1-based
		for k := i; k < j; k++ {
			if labels[idx[k]] == 1 {
				rankSum += avg
				npos++
			}
		}
		i = j
	}
	nneg := float64(len(labels)) - npos
	return (rankSum - npos*(npos+1)/2) / (npos * nneg)
}

func findPython(py string) string {
	if exec.Command(py, "-c", "import xgboost, numpy").Run() == nil {
		return py
	}
	return ""
}

// xgbScript trains like runFit (timed from numpy arrays, DMatrix
// construction included), then times DMatrix + predict on the test rows
// three times and keeps the fastest.
const xgbScript = `
import json, sys, time
import numpy as np, xgboost as xgb
d, n, F, ntrain, rounds, depth, eta, max_bin, threads = sys.argv[1], *map(int, sys.argv[2:5]), int(sys.argv[5]), int(sys.argv[6]), float(sys.argv[7]), int(sys.argv[8]), int(sys.argv[9])
X = np.fromfile(d + "/x.f32", dtype=np.float32).reshape(n, F)
y = np.fromfile(d + "/y.f32", dtype=np.float32)
params = {"objective": "binary:logistic", "tree_method": "hist", "max_depth": depth, "eta": eta, "max_bin": max_bin, "nthread": threads}
t, c = time.perf_counter(), time.process_time()
dtrain = xgb.DMatrix(X[:ntrain], label=y[:ntrain], nthread=threads)
bst = xgb.train(params, dtrain, rounds)
secs, cpu = time.perf_counter() - t, time.process_time() - c
Xt = np.ascontiguousarray(X[ntrain:])
best = None
for _ in range(3):
    t, c = time.perf_counter(), time.process_time()
    p = bst.predict(xgb.DMatrix(Xt, nthread=threads))
    ps, pc = time.perf_counter() - t, time.process_time() - c
    if best is None or ps < best[0]:
        best = (ps, pc)
json.dump({"seconds": secs, "cpu": cpu, "pred_seconds": best[0], "pred_cpu": best[1], "version": xgb.__version__, "pred": p.astype(float).tolist()}, sys.stdout)
`

// runXGBoost trains and predicts with XGBoost in a python subprocess; it
// returns the training and the prediction turn.
func runXGBoost(ctx context.Context, c config, py, dir string, cols [][]float32, labels []float32, nTrain int, passive bool) (result, result, error) {
	n, F := len(labels), len(cols)
	if _, err := os.Stat(filepath.Join(dir, "y.f32")); err != nil {
		x := make([]byte, 0, n*F*4)
		for i := range n {
			for j := range F {
				x = binary.LittleEndian.AppendUint32(x, math.Float32bits(cols[j][i]))
			}
		}
		if err := os.WriteFile(filepath.Join(dir, "x.f32"), x, 0o600); err != nil {
			return result{}, result{}, err
		}
		y := make([]byte, 0, n*4)
		for _, v := range labels {
			y = binary.LittleEndian.AppendUint32(y, math.Float32bits(v))
		}
		if err := os.WriteFile(filepath.Join(dir, "y.f32"), y, 0o600); err != nil {
			return result{}, result{}, err
		}
	}
	cmd := exec.CommandContext(ctx, py, "-c", xgbScript, dir, fmt.Sprint(n), fmt.Sprint(F), fmt.Sprint(nTrain),
		fmt.Sprint(c.rounds), fmt.Sprint(c.depth), fmt.Sprint(c.eta), fmt.Sprint(c.maxBin), fmt.Sprint(c.threads))
	if passive {
		cmd.Env = append(os.Environ(), "OMP_WAIT_POLICY=PASSIVE")
	}
	var stderr strings.Builder
	cmd.Stderr = &stderr
	load := loadavg()
	outb, err := cmd.Output()
	if err != nil {
		return result{}, result{}, fmt.Errorf("%v: %s", err, strings.TrimSpace(stderr.String()))
	}
	var r struct {
		Seconds     float64   `json:"seconds"`
		CPU         float64   `json:"cpu"`
		PredSeconds float64   `json:"pred_seconds"`
		PredCPU     float64   `json:"pred_cpu"`
		Version     string    `json:"version"`
		Pred        []float64 `json:"pred"`
	}
	if err := json.Unmarshal(outb, &r); err != nil {
		return result{}, result{}, err
	}
	if len(r.Pred) != n-nTrain {
		return result{}, result{}, errors.New("XGBoost returned the wrong number of predictions")
	}
	yTest := make([]float64, n-nTrain)
	for i := range yTest {
		yTest[i] = float64(labels[nTrain+i])
	}
	how := ""
	if passive {
		how = ", OMP_WAIT_POLICY=PASSIVE"
	}
	tr := result{name: "XGBoost " + r.Version + " train" + how, seconds: r.Seconds, cpu: r.CPU, auc: auc(yTest, r.Pred), load: load}
	pr := result{name: "XGBoost " + r.Version + " predict" + how, seconds: r.PredSeconds, cpu: r.PredCPU, auc: math.NaN(), load: load}
	return tr, pr, nil
}
