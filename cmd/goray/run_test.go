package main

import (
	"bytes"
	"context"
	"encoding/csv"
	"errors"
	"os"
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
	"github.com/goray/goray/tune"
)

func testCtx(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	t.Cleanup(cancel)
	return ctx
}

// trainCheckpoint trains the way the demo does (80/20 split,
// StandardScaler on two columns, 2-worker GBDT trainer) and returns the
// checkpoint directory: model plus fitted preprocessor.
func trainCheckpoint(t *testing.T, ctx context.Context) string {
	t.Helper()
	core.Shutdown()
	if err := core.Init(); err != nil { // calls after Shutdown fail until Init
		t.Fatal(err)
	}
	t.Cleanup(core.Shutdown)
	ds, err := data.ReadCSV(ctx, "testdata/breast_cancer.csv")
	if err != nil {
		t.Fatal(err)
	}
	trainDS, _, err := ds.TrainTestSplit(0.2, true, 42)
	if err != nil {
		t.Fatal(err)
	}
	tr, err := gbdt.NewTrainer(gbdt.Config{
		LabelColumn:   "target",
		Params:        map[string]any{"objective": "binary:logistic", "max_depth": 3},
		NumBoostRound: 5,
		Datasets:      map[string]*data.Dataset{"train": trainDS},
		Preprocessor:  &preprocess.StandardScaler{Columns: []string{"mean radius", "mean texture"}},
		ScalingConfig: train.ScalingConfig{NumWorkers: 2},
		RunConfig:     train.RunConfig{StoragePath: t.TempDir()},
	})
	if err != nil {
		t.Fatal(err)
	}
	res, err := tr.Fit(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if !res.Checkpoint.HasFile(checkpoint.PreprocessorFile) {
		t.Fatal("checkpoint without the preprocessor")
	}
	return res.Checkpoint.Path()
}

func TestVersionAndUsage(t *testing.T) {
	ctx := testCtx(t)
	var out bytes.Buffer
	if err := run(ctx, &out, []string{"version"}); err != nil || !strings.HasPrefix(out.String(), "goray ") {
		t.Fatalf("version: %q %v", out.String(), err)
	}
	for _, args := range [][]string{nil, {"nope"}, {"predict"}, {"predict", "--workers", "0", "--checkpoint", "c", "--input", "i", "--output", "o"}, {"tune"}, {"serve", "run"}, {"checkpoint", "inspect"}, {"predict", "--bogus"}} {
		var ue *usageError
		if err := run(ctx, &bytes.Buffer{}, args); !errors.As(err, &ue) {
			t.Errorf("%v: got %v, want a usage error (exit 2)", args, err)
		}
	}
	for _, args := range [][]string{{"--help"}, {"predict", "--help"}, {"serve", "run", "--help"}, {"tune", "show", "--help"}, {"checkpoint", "inspect", "--help"}} {
		if err := run(ctx, &bytes.Buffer{}, args); err != nil {
			t.Errorf("%v: %v", args, err)
		}
	}
}

func TestPredictMatchesBatchPredictor(t *testing.T) {
	ctx := testCtx(t)
	ckptDir := trainCheckpoint(t, ctx)
	outPath := filepath.Join(t.TempDir(), "preds.csv")
	var out bytes.Buffer
	err := run(ctx, &out, []string{"predict", "--checkpoint", ckptDir, "--input", "testdata/breast_cancer.csv", "--output", outPath, "--workers", "2", "--batch-size", "100", "--quiet"})
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(out.String(), "wrote 569 predictions") {
		t.Fatalf("output %q", out.String())
	}
	got := readPredictions(t, outPath)
	if len(got) != 569 {
		t.Fatalf("%d predictions, want 569", len(got))
	}
	// Same rows through BatchPredictor in this process.
	ckpt, err := checkpoint.FromDirectory(ckptDir)
	if err != nil {
		t.Fatal(err)
	}
	bp, err := train.BatchPredictorFromCheckpoint(ckpt, gbdt.PredictorFactory)
	if err != nil {
		t.Fatal(err)
	}
	ds, err := data.ReadCSV(ctx, "testdata/breast_cancer.csv")
	if err != nil {
		t.Fatal(err)
	}
	preds, err := bp.Predict(ctx, ds, train.PredictOptions{})
	if err != nil {
		t.Fatal(err)
	}
	var want []float64
	for rec, err := range preds.IterBatches(ctx) {
		if err != nil {
			t.Fatal(err)
		}
		col := rec.Column(0).(*array.Float64)
		want = append(want, col.Float64Values()...)
	}
	for i := range want {
		if got[i] != want[i] {
			t.Fatalf("row %d: goray predict %v, BatchPredictor %v", i, got[i], want[i])
		}
	}
}

func readPredictions(t *testing.T, path string) []float64 {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	rows, err := csv.NewReader(f).ReadAll()
	if err != nil {
		t.Fatal(err)
	}
	if rows[0][0] != "predictions" {
		t.Fatalf("header %v", rows[0])
	}
	var out []float64
	for _, r := range rows[1:] {
		v, err := strconv.ParseFloat(r[0], 64)
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, v)
	}
	return out
}

func TestPredictMissingFeatureNamesColumn(t *testing.T) {
	ctx := testCtx(t)
	ckptDir := trainCheckpoint(t, ctx)
	// Drop the "mean texture" column from the CSV.
	b, err := os.ReadFile("testdata/breast_cancer.csv")
	if err != nil {
		t.Fatal(err)
	}
	var sb strings.Builder
	for _, line := range strings.Split(strings.TrimSpace(string(b)), "\n") {
		cells := strings.Split(line, ",")
		sb.WriteString(strings.Join(append(cells[:1:1], cells[2:]...), ",") + "\n")
	}
	in := filepath.Join(t.TempDir(), "missing.csv")
	if err := os.WriteFile(in, []byte(sb.String()), 0o644); err != nil {
		t.Fatal(err)
	}
	err = run(ctx, &bytes.Buffer{}, []string{"predict", "--checkpoint", ckptDir, "--input", in, "--output", filepath.Join(t.TempDir(), "o.csv"), "--quiet"})
	var ue *usageError
	if err == nil || errors.As(err, &ue) || !strings.Contains(err.Error(), `"mean texture"`) {
		t.Fatalf("got %v, want an exit-1 error naming the column", err)
	}
}

func TestCheckpointInspect(t *testing.T) {
	ctx := testCtx(t)
	ckptDir := trainCheckpoint(t, ctx)
	var out bytes.Buffer
	if err := run(ctx, &out, []string{"checkpoint", "inspect", ckptDir}); err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"framework", "gbdt", "mean radius", "model.txt"} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("inspect output lacks %q:\n%s", want, out.String())
		}
	}
	if err := run(ctx, &bytes.Buffer{}, []string{"checkpoint", "inspect", t.TempDir()}); !errors.Is(err, checkpoint.ErrCorrupt) {
		t.Fatalf("not a checkpoint: %v", err)
	}
}

func TestTuneShow(t *testing.T) {
	ctx := testCtx(t)
	core.Shutdown()
	t.Cleanup(core.Shutdown)
	tuner := tune.Tuner{
		Trainable: func(tc tune.Context, cfg tune.Config) error {
			x, _ := cfg.Float("x")
			return tc.Report(map[string]float64{"loss": x * x}, nil)
		},
		ParamSpace: map[string]any{"x": tune.GridSearch(-1.0, 0.5, 2.0)},
		TuneConfig: tune.TuneConfig{Metric: "loss", Mode: "min"},
		RunConfig:  tune.RunConfig{Name: "exp", StoragePath: t.TempDir()},
	}
	grid, err := tuner.Fit(ctx)
	if err != nil {
		t.Fatal(err)
	}
	var out bytes.Buffer
	if err := run(ctx, &out, []string{"tune", "show", grid.Path()}); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(out.String(), "3 trial(s)") || !strings.Contains(out.String(), "x=0.5") || !strings.Contains(out.String(), "best trial") {
		t.Fatalf("tune show:\n%s", out.String())
	}
}

func TestServeCheck(t *testing.T) {
	ctx := testCtx(t)
	ckptDir := trainCheckpoint(t, ctx)
	dir := t.TempDir()
	good := filepath.Join(dir, "serve.yaml")
	os.WriteFile(good, []byte("deployments:\n  - name: bc\n    checkpoint: "+ckptDir+"\n    num_replicas: 1\n"), 0o644)
	var out bytes.Buffer
	if err := run(ctx, &out, []string{"serve", "run", "--check", good}); err != nil {
		t.Fatalf("%v\n%s", err, out.String())
	}
	bad := filepath.Join(dir, "bad.yaml")
	os.WriteFile(bad, []byte("deployments:\n  - name: bc\n    checkpoint: "+ckptDir+"\n    num_replicas: -3\n"), 0o644)
	if err := run(ctx, &bytes.Buffer{}, []string{"serve", "run", bad}); err == nil || !strings.Contains(err.Error(), "num_replicas") {
		t.Fatalf("bad field: %v", err)
	}
}
