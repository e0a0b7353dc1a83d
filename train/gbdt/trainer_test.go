package gbdt_test

import (
	"bytes"
	"context"
	"errors"
	"math"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/apache/arrow/go/v15/arrow/array"

	"github.com/goray/goray/checkpoint"
	"github.com/goray/goray/core"
	"github.com/goray/goray/data"
	"github.com/goray/goray/preprocess"
	"github.com/goray/goray/train"
	"github.com/goray/goray/train/gbdt"
)

func trainerSetup(t *testing.T) context.Context {
	t.Helper()
	core.Shutdown()
	if err := core.Init(core.WithNumCPUs(2)); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(core.Shutdown)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	t.Cleanup(cancel)
	return ctx
}

func splitBreastCancer(t *testing.T, ctx context.Context) (trainDS, testDS *data.Dataset) {
	t.Helper()
	ds, err := data.ReadCSV(ctx, "testdata/breast_cancer.csv")
	if err != nil {
		t.Fatal(err)
	}
	tr, te, err := ds.TrainTestSplit(0.2, true, 42)
	if err != nil {
		t.Fatal(err)
	}
	if tr, err = tr.Materialize(ctx); err != nil {
		t.Fatal(err)
	}
	if te, err = te.Materialize(ctx); err != nil {
		t.Fatal(err)
	}
	return tr, te
}

func bcTrainer(t *testing.T, trainDS, testDS *data.Dataset, workers int, dir string) *gbdt.Trainer {
	t.Helper()
	tr, err := gbdt.NewTrainer(gbdt.Config{
		LabelColumn:   "target",
		Params:        map[string]any{"objective": "binary:logistic", "max_depth": 6, "eta": 0.3, "eval_metric": []string{"logloss", "error"}},
		NumBoostRound: 20,
		Datasets:      map[string]*data.Dataset{"train": trainDS, "valid": testDS},
		Preprocessor:  &preprocess.StandardScaler{Columns: []string{"mean radius", "mean texture"}},
		ScalingConfig: train.ScalingConfig{NumWorkers: workers},
		RunConfig:     train.RunConfig{StoragePath: dir, FailureConfig: train.FailureConfig{MaxFailures: 1}},

		CheckpointFrequency: 5,
	})
	if err != nil {
		t.Fatal(err)
	}
	return tr
}

// scoreCheckpoint predicts the test rows with a checkpoint loaded from disk.
func scoreCheckpoint(t *testing.T, ctx context.Context, ckpt *checkpoint.Checkpoint, testDS *data.Dataset) (labels, probs []float64) {
	t.Helper()
	loaded, err := checkpoint.FromDirectory(ckpt.Path())
	if err != nil {
		t.Fatal(err)
	}
	bp, err := train.BatchPredictorFromCheckpoint(loaded, gbdt.PredictorFactory)
	if err != nil {
		t.Fatal(err)
	}
	preds, err := bp.Predict(ctx, testDS, train.PredictOptions{KeepColumns: []string{"target"}})
	if err != nil {
		t.Fatal(err)
	}
	for rec, err := range preds.IterBatches(ctx) {
		if err != nil {
			t.Fatal(err)
		}
		for i := 0; i < int(rec.NumRows()); i++ {
			labels = append(labels, float64(rec.Column(0).(*array.Int64).Value(i)))
			probs = append(probs, rec.Column(1).(*array.Float64).Value(i))
		}
	}
	return labels, probs
}

func TestTrainerBreastCancerOneAndTwoWorkers(t *testing.T) {
	ctx := trainerSetup(t)
	trainDS, testDS := splitBreastCancer(t, ctx)
	var runs [][]float64
	var models [][]byte
	for _, workers := range []int{1, 2} {
		res, err := bcTrainer(t, trainDS, testDS, workers, t.TempDir()).Fit(ctx)
		if err != nil {
			t.Fatalf("%d workers: %v", workers, err)
		}
		if len(res.MetricsHistory) != 20 || res.Metrics["valid-logloss"] == 0 || res.Metrics["train-error"] > 0.05 {
			t.Fatalf("%d workers: %d reports, last %v", workers, len(res.MetricsHistory), res.Metrics)
		}
		if !res.Checkpoint.HasFile(checkpoint.PreprocessorFile) {
			t.Fatal("the checkpoint does not carry the fitted preprocessor")
		}
		labels, probs := scoreCheckpoint(t, ctx, res.Checkpoint, testDS)
		if len(labels) != 114 {
			t.Fatalf("%d test rows, want 114", len(labels))
		}
		if auc, ll := aucOf(labels, probs), loglossOf(labels, probs); auc < 0.99 || ll > 0.10 {
			t.Errorf("%d workers: test AUC %.4f (want >= 0.99), logloss %.4f (want <= 0.10)", workers, auc, ll)
		}
		runs = append(runs, probs)
		b, err := gbdt.BoosterFromCheckpoint(res.Checkpoint)
		if err != nil {
			t.Fatal(err)
		}
		models = append(models, modelText(t, b))
	}
	// The workers' collective sums histograms exactly: 2 workers build
	// the very trees 1 worker builds.
	if !bytes.Equal(models[0], models[1]) {
		t.Error("the 2-worker model differs from the 1-worker model")
	}
	for i := range runs[0] {
		if d := math.Abs(runs[0][i] - runs[1][i]); d > 1e-6 {
			t.Fatalf("row %d: 1 worker %v, 2 workers %v", i, runs[0][i], runs[1][i])
		}
	}
}

func TestTrainerWorkerCrashResumesFromCheckpoint(t *testing.T) {
	ctx := trainerSetup(t)
	trainDS, testDS := splitBreastCancer(t, ctx)
	clean, err := bcTrainer(t, trainDS, testDS, 2, t.TempDir()).Fit(ctx)
	if err != nil {
		t.Fatal(err)
	}
	tr := bcTrainer(t, trainDS, testDS, 2, t.TempDir()).WithCrashAfter(12)
	res, err := tr.Fit(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if !tr.Crashed() {
		t.Fatal("the injected crash did not happen")
	}
	// Rounds 1-12 reported, crash, resume from the round-10 checkpoint.
	if got := res.Metrics["training_iteration"]; got != 20 {
		t.Fatalf("last training_iteration %v, want 20", got)
	}
	_, want := scoreCheckpoint(t, ctx, clean.Checkpoint, testDS)
	_, got := scoreCheckpoint(t, ctx, res.Checkpoint, testDS)
	for i := range want {
		if math.Abs(want[i]-got[i]) > 1e-6 {
			t.Fatalf("row %d: resumed run predicts %v, uninterrupted %v", i, got[i], want[i])
		}
	}
}

func TestTrainerBadInput(t *testing.T) {
	ctx := trainerSetup(t)
	trainDS, _ := splitBreastCancer(t, ctx)
	base := gbdt.Config{LabelColumn: "target", Params: map[string]any{"objective": "binary:logistic"}, Datasets: map[string]*data.Dataset{"train": trainDS}}
	cases := map[string]struct {
		mod  func(c *gbdt.Config)
		want string
	}{
		"unknown param": {func(c *gbdt.Config) { c.Params = map[string]any{"max_dept": 3} }, "max_dept"},
		"max_depth 0":   {func(c *gbdt.Config) { c.Params = map[string]any{"max_depth": 0} }, "max_depth"},
		"no label":      {func(c *gbdt.Config) { c.LabelColumn = "" }, "LabelColumn"},
		"no train":      {func(c *gbdt.Config) { c.Datasets = nil }, "train"},
	}
	for name, tc := range cases {
		cfg := base
		tc.mod(&cfg)
		if _, err := gbdt.NewTrainer(cfg); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: got %v, want an error naming %q", name, err, tc.want)
		}
	}
	cfg := base
	cfg.LabelColumn = "diagnosis"
	tr, err := gbdt.NewTrainer(cfg)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := tr.Fit(ctx); !errors.Is(err, gbdt.ErrInvalidInput) || !strings.Contains(err.Error(), `"diagnosis"`) {
		t.Fatalf("missing label column: %v", err)
	}
}

func TestTrainerWithConfigMergesParams(t *testing.T) {
	ctx := trainerSetup(t)
	trainDS, _ := splitBreastCancer(t, ctx)
	tr, err := gbdt.NewTrainer(gbdt.Config{LabelColumn: "target", Params: map[string]any{"objective": "binary:logistic", "eta": 0.1}, Datasets: map[string]*data.Dataset{"train": trainDS}})
	if err != nil {
		t.Fatal(err)
	}
	got, err := tr.WithConfig(map[string]any{"params": map[string]any{"max_depth": 3}, "num_boost_round": 4})
	if err != nil {
		t.Fatal(err)
	}
	cfg := got.(*gbdt.Trainer).Config()
	if cfg.Params["max_depth"] != 3 || cfg.Params["eta"] != 0.1 || cfg.NumBoostRound != 4 {
		t.Fatalf("merged config %+v", cfg)
	}
	if _, err := tr.WithConfig(map[string]any{"params": map[string]any{"bogus": 1}}); !errors.Is(err, gbdt.ErrInvalidParam) {
		t.Fatalf("bad param via WithConfig: %v", err)
	}
}

// WithRunConfig (what a tuner calls) moves the run directory and adds a
// report callback, which sees every round and can stop the run.
func TestTrainerWithRunConfig(t *testing.T) {
	ctx := trainerSetup(t)
	trainDS, _ := splitBreastCancer(t, ctx)
	orig, err := gbdt.NewTrainer(gbdt.Config{LabelColumn: "target", NumBoostRound: 10,
		Params:        map[string]any{"objective": "binary:logistic", "max_depth": 3},
		Datasets:      map[string]*data.Dataset{"train": trainDS},
		ScalingConfig: train.ScalingConfig{NumWorkers: 2},
		RunConfig:     train.RunConfig{Name: "orig", StoragePath: t.TempDir()}})
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	var rounds []float64
	tr := orig.WithRunConfig(func(c *train.RunConfig) {
		c.StoragePath, c.Name = dir, "moved"
		c.Callbacks = append(c.Callbacks, func(m map[string]float64, _ *checkpoint.Checkpoint) (bool, error) {
			rounds = append(rounds, m["training_iteration"])
			return len(rounds) == 4, nil
		})
	})
	if rc := orig.Config().RunConfig; rc.Name != "orig" || len(rc.Callbacks) != 0 {
		t.Fatalf("the original trainer's RunConfig changed: %+v", rc)
	}
	res, err := tr.Fit(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if len(rounds) != 4 || rounds[3] != 4 || len(res.MetricsHistory) != 4 {
		t.Fatalf("callback saw rounds %v, %d reports; want 1..4 and a stop", rounds, len(res.MetricsHistory))
	}
	if want := filepath.Join(dir, "moved"); res.Path != want || res.Checkpoint == nil || !strings.HasPrefix(res.Checkpoint.Path(), want) {
		t.Fatalf("run in %s (checkpoint %v), want %s", res.Path, res.Checkpoint, want)
	}
	b, err := gbdt.BoosterFromCheckpoint(res.Checkpoint)
	if err != nil {
		t.Fatal(err)
	}
	if b.NumRounds() != 4 {
		t.Fatalf("the stopped run's model has %d rounds, want 4", b.NumRounds())
	}
}

// TestCheckpointInFreshProcess loads a trainer's checkpoint (model plus the
// fitted StandardScaler) in a new process and checks that it predicts
// exactly what this process predicts.
func TestCheckpointInFreshProcess(t *testing.T) {
	if os.Getenv("GORAY_FRESH_CKPT") != "" {
		return // the child's half runs in TestFreshProcessChild
	}
	ctx := trainerSetup(t)
	trainDS, testDS := splitBreastCancer(t, ctx)
	tr := bcTrainer(t, trainDS, testDS, 2, t.TempDir())
	res, err := tr.Fit(ctx)
	if err != nil {
		t.Fatal(err)
	}
	_, want := scoreCheckpoint(t, ctx, res.Checkpoint, testDS)
	out := filepath.Join(t.TempDir(), "child.txt")
	cmd := exec.CommandContext(ctx, os.Args[0], "-test.run=^TestFreshProcessChild$", "-test.count=1")
	cmd.Env = append(os.Environ(), "GORAY_FRESH_CKPT="+res.Checkpoint.Path(), "GORAY_FRESH_OUT="+out)
	if b, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("child: %v\n%s", err, b)
	}
	b, err := os.ReadFile(out)
	if err != nil {
		t.Fatal(err)
	}
	lines := strings.Fields(string(b))
	if len(lines) != len(want) {
		t.Fatalf("child predicted %d rows, want %d", len(lines), len(want))
	}
	for i, l := range lines {
		got, err := strconv.ParseFloat(l, 64)
		if err != nil || got != want[i] {
			t.Fatalf("row %d: fresh process %v, this process %v (%v)", i, l, want[i], err)
		}
	}
}

// TestFreshProcessChild is the child of TestCheckpointInFreshProcess.
func TestFreshProcessChild(t *testing.T) {
	dir := os.Getenv("GORAY_FRESH_CKPT")
	if dir == "" {
		t.Skip("runs only as the child of TestCheckpointInFreshProcess")
	}
	ctx := trainerSetup(t)
	_, testDS := splitBreastCancer(t, ctx)
	ckpt, err := checkpoint.FromDirectory(dir)
	if err != nil {
		t.Fatal(err)
	}
	_, probs := scoreCheckpoint(t, ctx, ckpt, testDS)
	var sb strings.Builder
	for _, p := range probs {
		sb.WriteString(strconv.FormatFloat(p, 'g', -1, 64) + "\n")
	}
	if err := os.WriteFile(os.Getenv("GORAY_FRESH_OUT"), []byte(sb.String()), 0o644); err != nil {
		t.Fatal(err)
	}
}
