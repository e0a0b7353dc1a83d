// Command breast_cancer is goray's main job: the whole lifecycle of a
// model on the Wisconsin breast cancer data, on the embedded runtime.
//
//	read the CSV → TrainTestSplit(0.2) → StandardScaler → GBDT trainer on
//	2 workers → HyperBand sweep over max_depth → best checkpoint →
//	BatchPredictor over the test set → HTTP endpoint on :8000 → one POST
//
// Run it with `make demo`, or `go run ./examples/breast_cancer --serve` to
// keep the endpoint up for curl.
package main

import (
	"bytes"
	"context"
	_ "embed"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"math"
	"net/http"
	"os"
	"os/signal"
	"path/filepath"
	"sort"
	"syscall"
	"time"

	"github.com/apache/arrow/go/v15/arrow"
	"github.com/apache/arrow/go/v15/arrow/array"

	"github.com/goray/goray/core"
	"github.com/goray/goray/data"
	"github.com/goray/goray/preprocess"
	"github.com/goray/goray/serve"
	"github.com/goray/goray/train"
	"github.com/goray/goray/train/gbdt"
	"github.com/goray/goray/tune"
)

//go:embed data/breast_cancer.csv
var bundledCSV []byte

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, os.Stdout, os.Args[1:]); err != nil {
		fmt.Fprintln(os.Stderr, "breast_cancer:", err)
		var ue *usageError
		if errors.As(err, &ue) {
			os.Exit(2)
		}
		os.Exit(1)
	}
}

type usageError struct{ error }

// Summary is what a run found, for the example test.
type Summary struct {
	Accuracy, AUC float64
	BestDepth     int
	Served        string
	Checkpoint    string
}

func run(ctx context.Context, stdout io.Writer, args []string) error {
	_, err := runJob(ctx, stdout, args)
	return err
}

func runJob(ctx context.Context, stdout io.Writer, args []string) (*Summary, error) {
	fs := flag.NewFlagSet("breast_cancer", flag.ContinueOnError)
	fs.SetOutput(stdout)
	dataPath := fs.String("data", "", "breast cancer CSV (default: the copy shipped with the example)")
	port := fs.Int("port", serve.DefaultPort, "HTTP port for the endpoint (-1 picks a free one)")
	workers := fs.Int("workers", 2, "training workers per trial")
	samples := fs.Int("samples", 6, "tuning trials")
	keep := fs.Bool("serve", false, "keep serving after the demo POST, until interrupted")
	storage := fs.String("storage", "", "where results and checkpoints go, created if needed; each run adds an experiment directory (default: a new temp directory, printed)")
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return nil, nil
		}
		return nil, &usageError{err}
	}
	if *workers < 1 {
		return nil, &usageError{fmt.Errorf("flag --workers = %d: must be >= 1", *workers)}
	}
	if *samples < 1 {
		return nil, &usageError{fmt.Errorf("flag --samples = %d: must be >= 1", *samples)}
	}
	start := time.Now()
	stage := func(format string, a ...any) {
		fmt.Fprintf(stdout, "[%5.1fs] %s\n", time.Since(start).Seconds(), fmt.Sprintf(format, a...))
	}

	if *storage == "" {
		dir, err := os.MkdirTemp("", "goray-breast-cancer-")
		if err != nil {
			return nil, err
		}
		*storage = dir
		stage("no --storage given: results go to %s", dir)
	} else if err := os.MkdirAll(*storage, 0o755); err != nil {
		return nil, fmt.Errorf("--storage %q: %w", *storage, err)
	}
	// Each run is its own experiment, so runs can share a --storage.
	expName, err := newExperimentName(*storage, "breast_cancer_tune")
	if err != nil {
		return nil, err
	}
	if *dataPath == "" {
		// The bundled copy goes inside the experiment directory.
		if err := os.MkdirAll(filepath.Join(*storage, expName), 0o755); err != nil {
			return nil, err
		}
		*dataPath = filepath.Join(*storage, expName, "breast_cancer.csv")
		if err := os.WriteFile(*dataPath, bundledCSV, 0o644); err != nil {
			return nil, err
		}
	}

	if err := core.Init(); err != nil {
		return nil, err
	}
	defer core.Shutdown()
	stage("goray runtime up: %v CPUs", core.ClusterResources()["CPU"])

	// Data.
	ds, err := data.ReadCSV(ctx, *dataPath)
	if err != nil {
		return nil, err
	}
	n, err := ds.Count(ctx)
	if err != nil {
		return nil, err
	}
	trainDS, validDS, err := ds.TrainTestSplit(0.2, true, 42)
	if err != nil {
		return nil, err
	}
	trainDS, err = trainDS.Materialize(ctx)
	if err != nil {
		return nil, err
	}
	validDS, err = validDS.Materialize(ctx)
	if err != nil {
		return nil, err
	}
	nTrain, _ := trainDS.Count(ctx)
	nValid, _ := validDS.Count(ctx)
	testDS := validDS.DropColumns("target")
	stage("read %s: %d rows; split %d train / %d test", filepath.Base(*dataPath), n, nTrain, nValid)

	// Preprocessing and training, tuned.
	scaler := &preprocess.StandardScaler{Columns: []string{"mean radius", "mean texture"}}
	trainer, err := gbdt.NewTrainer(gbdt.Config{
		LabelColumn: "target",
		Params: map[string]any{
			"objective":   "binary:logistic",
			"eval_metric": []string{"logloss", "error"},
			"eta":         0.3,
		},
		NumBoostRound:       20,
		Datasets:            map[string]*data.Dataset{"train": trainDS, "valid": validDS},
		Preprocessor:        scaler,
		ScalingConfig:       train.ScalingConfig{NumWorkers: *workers},
		CheckpointFrequency: 1,
	})
	if err != nil {
		return nil, err
	}
	stage("tuning max_depth in RandInt(1, 9) over %d trials, HyperBand, %d workers per trial", *samples, *workers)
	tuner := tune.Tuner{
		Trainable:  trainer,
		ParamSpace: map[string]any{"params": map[string]any{"max_depth": tune.RandInt(1, 9)}},
		TuneConfig: tune.TuneConfig{
			Metric: "train-logloss", Mode: "min", NumSamples: *samples, Seed: 7,
			Scheduler: &tune.HyperBandScheduler{MaxT: 20, ReductionFactor: 3},
		},
		RunConfig: tune.RunConfig{Name: expName, StoragePath: *storage, Verbose: 1, Progress: stdout},
	}
	grid, err := tuner.Fit(ctx)
	if err != nil {
		return nil, err
	}
	best, err := grid.GetBestResult("train-logloss", "min", "last")
	if err != nil {
		return nil, err
	}
	if best.Checkpoint == nil {
		return nil, fmt.Errorf("the best trial %s reported no checkpoint", best.TrialID)
	}
	depth := 0
	if p, ok := best.Config["params"].(map[string]any); ok {
		depth = toInt(p["max_depth"])
	}
	stage("best trial %s: max_depth=%d train-logloss=%.4f valid-error=%.4f; checkpoint %s",
		best.TrialID, depth, best.Metrics["train-logloss"], best.Metrics["valid-error"], best.Checkpoint.Path())

	// Batch scoring on the held-out rows.
	bp, err := train.BatchPredictorFromCheckpoint(best.Checkpoint, gbdt.PredictorFactory)
	if err != nil {
		return nil, err
	}
	preds, err := bp.Predict(ctx, validDS, train.PredictOptions{Concurrency: 2, KeepColumns: []string{"target"}})
	if err != nil {
		return nil, err
	}
	labels, probs, err := collect(ctx, preds)
	if err != nil {
		return nil, err
	}
	acc, auc := accuracy(labels, probs), rocAUC(labels, probs)
	stage("BatchPredictor over %d test rows: accuracy %.4f, AUC %.4f", len(labels), acc, auc)

	// Serving.
	dep := serve.PredictorDeployment(best.Checkpoint, gbdt.PredictorFactory, nil)
	dep.Name, dep.RoutePrefix, dep.NumReplicas = "breast_cancer", "/predict", 2
	srv, err := serve.Start(ctx, serve.NewApp(dep), serve.HTTPOptions{Port: *port})
	if err != nil {
		return nil, err
	}
	url := "http://" + srv.Addr() + "/predict"
	stage("serving the best model at %s", url)
	row, err := testDS.Take(ctx, 1)
	if err != nil {
		srv.Close()
		return nil, err
	}
	body, _ := json.Marshal(row)
	resp, err := http.Post(url, "application/json", bytes.NewReader(body))
	if err != nil {
		srv.Close()
		return nil, err
	}
	answer, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		srv.Close()
		return nil, fmt.Errorf("POST %s: %s: %s", url, resp.Status, answer)
	}
	stage("POST first test row → %s", bytes.TrimSpace(answer))
	curl := fmt.Sprintf("curl -s -X POST %s -H 'Content-Type: application/json' -d '%s'", url, shortRow(row[0]))
	if *keep {
		fmt.Fprintf(stdout, "\ntry it:\n  %s\n\n", curl)
	} else {
		fmt.Fprintf(stdout, "\nto try it yourself, keep the endpoint up with\n  go run ./examples/breast_cancer --serve\nthen, from another shell:\n  %s\n\n", curl)
	}

	sum := &Summary{Accuracy: acc, AUC: auc, BestDepth: depth, Served: string(bytes.TrimSpace(answer)), Checkpoint: best.Checkpoint.Path()}
	if *keep {
		stage("serving until interrupted (Ctrl-C)")
		<-ctx.Done()
	}
	shutCtx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := srv.Shutdown(shutCtx); err != nil {
		return sum, err
	}
	stage("shut down cleanly; results in %s", *storage)
	return sum, nil
}

// newExperimentName returns base, or base_2, base_3, ...: the first name
// not yet used in storage.
func newExperimentName(storage, base string) (string, error) {
	name := base
	for k := 2; ; k++ {
		_, err := os.Lstat(filepath.Join(storage, name))
		if errors.Is(err, os.ErrNotExist) {
			return name, nil
		}
		if err != nil {
			return "", fmt.Errorf("--storage: %w", err)
		}
		name = fmt.Sprintf("%s_%d", base, k)
	}
}

func toInt(v any) int {
	switch x := v.(type) {
	case int:
		return x
	case int64:
		return int(x)
	case float64:
		return int(x)
	}
	return 0
}

// shortRow is the first row as JSON for the curl hint.
func shortRow(r map[string]any) string {
	b, _ := json.Marshal([]map[string]any{r})
	return string(b)
}

// collect reads labels and predicted probabilities from the predictions.
func collect(ctx context.Context, ds *data.Dataset) (labels, probs []float64, err error) {
	for rec, err := range ds.IterBatches(ctx) {
		if err != nil {
			return nil, nil, err
		}
		l, err := floats(rec, "target")
		if err != nil {
			return nil, nil, err
		}
		p, err := floats(rec, "predictions")
		if err != nil {
			return nil, nil, err
		}
		labels, probs = append(labels, l...), append(probs, p...)
	}
	return labels, probs, nil
}

func floats(rec arrow.Record, name string) ([]float64, error) {
	idx := rec.Schema().FieldIndices(name)
	if len(idx) == 0 {
		return nil, fmt.Errorf("column %q missing from predictions", name)
	}
	col := rec.Column(idx[0])
	out := make([]float64, col.Len())
	for i := range out {
		switch a := col.(type) {
		case *array.Float64:
			out[i] = a.Value(i)
		case *array.Int64:
			out[i] = float64(a.Value(i))
		default:
			return nil, fmt.Errorf("column %q is %v, want a number", name, col.DataType())
		}
	}
	return out, nil
}

func accuracy(labels, probs []float64) float64 {
	ok := 0
	for i, p := range probs {
		if (p >= 0.5) == (labels[i] == 1) {
			ok++
		}
	}
	return float64(ok) / float64(len(labels))
}

// rocAUC is the probability that a random positive scores above a random
// negative (ties count half).
func rocAUC(labels, probs []float64) float64 {
	idx := make([]int, len(probs))
	for i := range idx {
		idx[i] = i
	}
	sort.Slice(idx, func(a, b int) bool { return probs[idx[a]] < probs[idx[b]] })
	var pos, neg, rankSum float64
	for i := 0; i < len(idx); {
		j := i
		for j < len(idx) && probs[idx[j]] == probs[idx[i]] {
			j++
		}
		avgRank := float64(i+j+1) / 2
		for k := i; k < j; k++ {
			if labels[idx[k]] == 1 {
				rankSum += avgRank
				pos++
			} else {
				neg++
			}
		}
		i = j
	}
	if pos == 0 || neg == 0 {
		return math.NaN()
	}
	return (rankSum - pos*(pos+1)/2) / (pos * neg)
}
