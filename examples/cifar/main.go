// Command cifar trains a CNN on CIFAR-10 with goray: the binary files of
// --data-dir become a Dataset, nn.Trainer trains on 2 workers
// (gradients averaged with AllReduce), ASHA tunes the learning rate, the best
// checkpoint is scored on the test set and served on :8000 (an upload page
// at / and POST /predict).
//
//	go run ./examples/cifar --data-dir cifar-10-batches-bin
//
// The data is the "CIFAR-10 binary version" from
// https://www.cs.toronto.edu/~kriz/cifar.html: download
// cifar-10-binary.tar.gz yourself (nothing downloads at run time) and unpack
// it; --data-dir is the cifar-10-batches-bin folder it holds. A --data-dir
// that does not exist, or lacks one of the files, is an error. Without
// --data-dir the example says so loudly and generates a small learnable
// synthetic set written in the same binary format, then runs the same code
// path on it.
//
// Runs, checkpoints and generated data go under --storage; by default a new
// temporary directory, removed when the example exits.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"path/filepath"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/apache/arrow/go/v15/arrow"

	"github.com/goray/goray/checkpoint"
	"github.com/goray/goray/core"
	"github.com/goray/goray/data"
	"github.com/goray/goray/examples/cifar/cifar10"
	"github.com/goray/goray/serve"
	"github.com/goray/goray/train"
	"github.com/goray/goray/train/nn"
	"github.com/goray/goray/tune"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	if err := run(ctx, os.Stdout, os.Args[1:], nil); err != nil {
		fmt.Fprintln(os.Stderr, "cifar:", err)
		if errors.Is(err, errUsage) {
			os.Exit(2)
		}
		os.Exit(1)
	}
}

// cnn is the example's architecture: conv 3→32 3×3 pad 1, ReLU, max-pool 2;
// conv 32→64 3×3 pad 1, ReLU, max-pool 2; dense 4096→128, ReLU; dense 128→10.
func cnn() nn.Spec {
	return nn.Sequential([]int{3, 32, 32},
		nn.Conv2D(3, 32, 3, 1, 1), nn.ReLU(), nn.MaxPool2D(2),
		nn.Conv2D(32, 64, 3, 1, 1), nn.ReLU(), nn.MaxPool2D(2),
		nn.Flatten(), nn.Dense(4096, 128), nn.ReLU(), nn.Dense(128, 10))
}

type options struct {
	dataDir, out, serveAddr string
	workers, epochs, batch  int
	samples                 int
	trainImages             int
	synthPerFile, synthTest int
	lrMin, lrMax, fixedLR   float64
	seed                    uint64
}

// errUsage marks a bad command line.
var errUsage = errors.New("usage")

// dataSource says where CIFAR-10's files come from, for --help and the
// synthetic-data banner.
const dataSource = `CIFAR-10 data: download the "CIFAR-10 binary version" (cifar-10-binary.tar.gz)
from https://www.cs.toronto.edu/~kriz/cifar.html yourself and unpack it
(tar xzf cifar-10-binary.tar.gz); pass the cifar-10-batches-bin folder as
--data-dir (make cifar DATA=path/to/cifar-10-batches-bin). Nothing is
downloaded at run time.`

// run parses args and runs the example. When serving, started (if not nil)
// receives the server's address, and run returns when ctx ends.
func run(ctx context.Context, stdout io.Writer, args []string, started func(addr string)) error {
	fs := flag.NewFlagSet("cifar", flag.ContinueOnError)
	fs.SetOutput(stdout)
	var o options
	fs.StringVar(&o.dataDir, "data-dir", "", "CIFAR-10 binary directory, cifar-10-batches-bin (data_batch_1.bin ... test_batch.bin); synthetic data when empty")
	fs.StringVar(&o.out, "storage", "", "directory for runs, checkpoints and generated data (default: a temporary directory, removed at exit)")
	fs.StringVar(&o.serveAddr, "serve", ":8000", "serve the best checkpoint on this address ('' to skip)")
	fs.IntVar(&o.workers, "workers", 2, "data-parallel workers")
	fs.IntVar(&o.epochs, "epochs", 4, "epochs per trial (ASHA's max_t)")
	fs.IntVar(&o.batch, "batch", 64, "global batch size")
	fs.IntVar(&o.samples, "samples", 4, "learning rates tried by ASHA (1 with --lr)")
	fs.IntVar(&o.trainImages, "train-images", 0, "use only the first N training images (0: all)")
	fs.IntVar(&o.synthPerFile, "synthetic-per-file", 1000, "synthetic images per training file")
	fs.IntVar(&o.synthTest, "synthetic-test", 1000, "synthetic test images")
	fs.Float64Var(&o.lrMin, "lr-min", 0.002, "smallest learning rate ASHA samples (log-uniform)")
	fs.Float64Var(&o.lrMax, "lr-max", 0.05, "largest learning rate ASHA samples")
	fs.Float64Var(&o.fixedLR, "lr", 0, "train once with this learning rate instead of tuning")
	seed := fs.Int64("seed", 1, "seed for weights, shuffling and the search")
	fs.Usage = func() {
		fmt.Fprintf(fs.Output(), "Usage: cifar [flags]\n\n%s\n\nFlags:\n", dataSource)
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return nil
		}
		return fmt.Errorf("%w: %w", errUsage, err)
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("%w: unexpected argument %q", errUsage, fs.Arg(0))
	}
	o.seed = uint64(*seed)
	if o.workers < 1 || o.epochs < 1 || o.batch < o.workers || o.samples < 1 {
		return fmt.Errorf("%w: --workers %d, --epochs %d, --batch %d, --samples %d: all must be positive and batch >= workers", errUsage, o.workers, o.epochs, o.batch, o.samples)
	}
	if o.dataDir != "" {
		if err := checkDataDir(o.dataDir); err != nil {
			return err
		}
	}
	out := o.out
	if out == "" {
		tmp, err := os.MkdirTemp("", "goray-cifar-")
		if err != nil {
			return err
		}
		defer os.RemoveAll(tmp)
		out = tmp
		fmt.Fprintf(stdout, "results: %s (temporary, removed at exit; --storage DIR keeps them)\n", out)
	} else {
		abs, err := filepath.Abs(out)
		if err != nil {
			return err
		}
		if err := os.MkdirAll(abs, 0o755); err != nil {
			return fmt.Errorf("--storage %q: %w", o.out, err)
		}
		out = abs
		fmt.Fprintf(stdout, "results: %s\n", out)
	}

	// The runtime, unless the caller runs one: its spill files go under
	// out too, and go when it shuts down.
	if !core.IsInitialized() {
		if err := core.Init(core.WithSpillDir(out)); err != nil {
			return err
		}
		defer core.Shutdown()
	}

	// 1. Data: the real files, or synthetic ones in the same format.
	dir := o.dataDir
	if dir == "" {
		dir = filepath.Join(out, "synthetic-cifar10")
		banner(stdout, dir)
		if err := cifar10.WriteSyntheticDir(dir, o.synthPerFile, o.synthTest, o.seed); err != nil {
			return err
		}
	}
	trainSet, testSet, err := cifar10.ReadDir(dir)
	if err != nil {
		return err
	}
	if o.trainImages > 0 && o.trainImages < trainSet.Len() {
		trainSet = &cifar10.Set{Pixels: trainSet.Pixels[:o.trainImages*cifar10.ImageSize], Labels: trainSet.Labels[:o.trainImages]}
	}
	nValid := trainSet.Len() / 10
	nTrain := trainSet.Len() - nValid
	fit := &cifar10.Set{Pixels: trainSet.Pixels[:nTrain*cifar10.ImageSize], Labels: trainSet.Labels[:nTrain]}
	valid := &cifar10.Set{Pixels: trainSet.Pixels[nTrain*cifar10.ImageSize:], Labels: trainSet.Labels[nTrain:]}
	fmt.Fprintf(stdout, "data: %s: %d training, %d validation, %d test images\n", dir, fit.Len(), valid.Len(), testSet.Len())
	trainDS, release1 := dataset(fit)
	defer release1()
	validDS, release2 := dataset(valid)
	defer release2()

	// 2. The trainer: 2 workers, half a CPU each so the data tasks feeding
	// the shards keep a core on a 2-core machine.
	spec := cnn()
	trainer := &nn.Trainer{
		Config: nn.TrainerConfig{
			Spec: spec, Optimizer: nn.SGD(0.01, 0.9), BatchSize: o.batch, Epochs: o.epochs, Seed: o.seed,
			InputColumn: "image", LabelColumn: "label", FitNormalizationScale: 1.0 / 255, Classes: cifar10.ClassNames,
		},
		ScalingConfig: train.ScalingConfig{NumWorkers: o.workers, ResourcesPerWorker: map[string]float64{"CPU": 0.5}},
		Datasets:      map[string]*data.Dataset{"train": trainDS, "valid": validDS},
	}

	// 3. Tune the learning rate with ASHA (one trial at a time: each uses
	// every core through its workers).
	space := map[string]any{"lr": tune.LogUniform(o.lrMin, o.lrMax)}
	samples := o.samples
	if o.fixedLR > 0 {
		space, samples = map[string]any{"lr": o.fixedLR}, 1
	}
	start := time.Now()
	tuner := tune.Tuner{
		Trainable:  tune.WithResources(trainer, tune.Resources{CPU: float64(o.workers) * 0.5}),
		ParamSpace: space,
		TuneConfig: tune.TuneConfig{Metric: "valid_accuracy", Mode: "max", NumSamples: samples, MaxConcurrentTrials: 1,
			Seed: int64(o.seed), Scheduler: &tune.ASHAScheduler{MaxT: float64(o.epochs), GracePeriod: 1, ReductionFactor: 2}},
		RunConfig: tune.RunConfig{StoragePath: out, Name: "cifar_asha_" + time.Now().Format("20060102_150405")},
	}
	grid, err := tuner.Fit(ctx)
	if err != nil {
		return err
	}
	if errs := grid.Errors(); len(errs) == grid.Len() {
		return fmt.Errorf("every trial failed: %w", errors.Join(errs...))
	}
	printTrials(stdout, grid)
	best, err := grid.GetBestResult("valid_accuracy", "max", "last")
	if err != nil {
		return err
	}
	if best.Checkpoint == nil {
		return fmt.Errorf("best trial %s has no checkpoint", best.TrialID)
	}
	fmt.Fprintf(stdout, "tuning took %s; best trial %s: lr=%v valid_accuracy=%.3f after %v epochs\n",
		time.Since(start).Round(time.Second), best.TrialID, best.Config["lr"], best.Metrics["valid_accuracy"], best.Metrics["epoch"])

	// 4. Test accuracy of the best checkpoint.
	p, err := nn.LoadPredictor(best.Checkpoint, &spec)
	if err != nil {
		return err
	}
	acc, err := accuracy(ctx, p, testSet)
	if err != nil {
		return err
	}
	fmt.Fprintf(stdout, "test accuracy: %.3f on %d images (chance: 0.100)\n", acc, testSet.Len())
	fmt.Fprintf(stdout, "best checkpoint: %s\n", best.Checkpoint.Path())

	// 5. Serve it.
	if o.serveAddr == "" {
		return nil
	}
	return serveCheckpoint(ctx, stdout, best.Checkpoint, o.serveAddr, started)
}

// checkDataDir checks that dir holds every CIFAR-10 binary file, naming
// the first one missing.
func checkDataDir(dir string) error {
	fi, err := os.Stat(dir)
	if err != nil {
		return fmt.Errorf("--data-dir %q: %w\n%s", dir, err, dataSource)
	}
	if !fi.IsDir() {
		return fmt.Errorf("--data-dir %q is not a directory\n%s", dir, dataSource)
	}
	for _, f := range append(append([]string(nil), cifar10.TrainFiles...), cifar10.TestFile) {
		if _, err := os.Stat(filepath.Join(dir, f)); err != nil {
			return fmt.Errorf("--data-dir %q has no %s (is it the unpacked cifar-10-batches-bin folder?): %w\n%s", dir, f, err, dataSource)
		}
	}
	return nil
}

func banner(w io.Writer, dir string) {
	line := strings.Repeat("!", 78)
	src := "!! " + strings.ReplaceAll(dataSource, "\n", "\n!! ")
	fmt.Fprintf(w, "%s\n!! NO CIFAR-10 DATA (no --data-dir given).\n!! Generating a SYNTHETIC, learnable data set in the CIFAR-10 binary format at\n!!   %s\n!! and running the same code path on it. Accuracies below are NOT CIFAR-10's.\n%s\n%s\n", line, dir, src, line)
}

// dataset turns a set into a Dataset of Arrow records of 500 images
// ("image": fixed_size_list<uint8>[3072], "label": int64).
func dataset(s *cifar10.Set) (*data.Dataset, func()) {
	var recs []arrow.Record
	for lo := 0; lo < s.Len(); lo += 500 {
		hi := min(lo+500, s.Len())
		part := &cifar10.Set{Pixels: s.Pixels[lo*cifar10.ImageSize : hi*cifar10.ImageSize], Labels: s.Labels[lo:hi]}
		recs = append(recs, part.Record(nil))
	}
	return data.FromArrow(recs...), func() {
		for _, r := range recs {
			r.Release()
		}
	}
}

func accuracy(ctx context.Context, p *nn.Predictor, s *cifar10.Set) (float64, error) {
	x := s.Float32()
	correct := 0
	const chunk = 256
	for lo := 0; lo < s.Len(); lo += chunk {
		hi := min(lo+chunk, s.Len())
		scores, err := p.Scores(ctx, x[lo*cifar10.ImageSize:hi*cifar10.ImageSize], hi-lo)
		if err != nil {
			return 0, err
		}
		for i := 0; i < hi-lo; i++ {
			row := scores[i*cifar10.NumClasses : (i+1)*cifar10.NumClasses]
			best := 0
			for j, v := range row {
				if v > row[best] {
					best = j
				}
			}
			if best == int(s.Labels[lo+i]) {
				correct++
			}
		}
	}
	return float64(correct) / float64(s.Len()), nil
}

func printTrials(w io.Writer, g *tune.ResultGrid) {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "trial\tlr\tepochs\tvalid_accuracy\tstatus")
	for _, r := range g.Results() {
		fmt.Fprintf(tw, "%s\t%.4g\t%v\t%.3f\t%v\n", r.TrialID, r.Config["lr"], r.Metrics["epoch"], r.Metrics["valid_accuracy"], r.Status)
	}
	tw.Flush()
}

func serveCheckpoint(ctx context.Context, stdout io.Writer, ckpt *checkpoint.Checkpoint, addr string, started func(string)) error {
	host, port := "127.0.0.1", serve.DefaultPort
	if h, p, ok := strings.Cut(addr, ":"); ok {
		if h != "" {
			host = h
		}
		n, err := strconv.Atoi(p)
		if err != nil {
			return fmt.Errorf("--serve %q: bad port: %w", addr, err)
		}
		port = n
		if n == 0 {
			port = serve.AnyPort
		}
	}
	s, err := serve.Start(ctx, serve.NewApp(classifierDeployment(ckpt)), serve.HTTPOptions{Host: host, Port: port})
	if err != nil {
		return err
	}
	fmt.Fprintf(stdout, "serving http://%s/ (upload page) and POST /predict; Ctrl-C stops\n", s.Addr())
	if started != nil {
		started(s.Addr())
	}
	<-ctx.Done()
	shutdown, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	return s.Shutdown(shutdown)
}
