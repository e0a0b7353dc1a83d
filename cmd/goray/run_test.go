package main

import (
	"bytes"
	"context"
	"encoding/csv"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/apache/arrow/go/v15/arrow/array"

	"github.com/goray/goray/checkpoint"
	"github.com/goray/goray/core"
	"github.com/goray/goray/data"
	"github.com/goray/goray/preprocess"
	"github.com/goray/goray/serve"
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
	for _, args := range [][]string{{"version"}, {"--version"}, {"-version"}} {
		var out bytes.Buffer
		if err := run(ctx, &out, args); err != nil || out.String() != "goray "+version+"\n" {
			t.Errorf("%v: %q %v, want %q", args, out.String(), err, "goray "+version+"\n")
		}
	}
	for _, args := range [][]string{nil, {"nope"}, {"predict"}, {"predict", "--workers", "0", "--checkpoint", "c", "--input", "i", "--output", "o"},
		{"tune"}, {"tune", "list"}, {"serve", "run"}, {"serve", "start"}, {"checkpoint", "inspect"}, {"predict", "--bogus"}, {"version", "extra"}} {
		var ue *usageError
		var out bytes.Buffer
		err := run(ctx, &out, args)
		if !errors.As(err, &ue) {
			t.Errorf("%v: got %v, want a usage error (exit 2)", args, err)
		}
		if len(args) > 0 && out.Len() > 0 {
			t.Errorf("%v: a usage error printed %q on stdout; it goes to stderr", args, out.String())
		}
	}
	// --help and -h exit 0 after every command and print its usage on stdout.
	for _, args := range [][]string{{"--help"}, {"-h"}, {"help"}, {"version", "--help"},
		{"predict", "--help"}, {"predict", "-h"},
		{"serve", "--help"}, {"serve", "-h"}, {"serve", "run", "--help"}, {"serve", "run", "-h"},
		{"tune", "--help"}, {"tune", "-h"}, {"tune", "show", "--help"}, {"tune", "show", "-h"},
		{"checkpoint", "--help"}, {"checkpoint", "-h"}, {"checkpoint", "inspect", "--help"}, {"checkpoint", "inspect", "-h"}} {
		var out bytes.Buffer
		if err := run(ctx, &out, args); err != nil {
			t.Errorf("%v: %v, want exit 0", args, err)
		}
		want := "usage: goray "
		if len(args) == 1 {
			want = "Usage:\n  goray version"
		}
		if !strings.Contains(out.String(), want) {
			t.Errorf("%v printed %q, want the usage (%q)", args, out.String(), want)
		}
	}
	var out bytes.Buffer
	run(ctx, &out, []string{"predict", "--help"})
	if !strings.Contains(out.String(), "-checkpoint string") {
		t.Errorf("predict --help lacks its flags:\n%s", out.String())
	}
}

func TestErrorLine(t *testing.T) {
	for _, tc := range []struct {
		err  error
		want string
	}{
		{usagef("goray predict: flag --input is required"), "goray predict: flag --input is required"},
		{usagef("usage: goray tune show [--csv] DIR"), "usage: goray tune show [--csv] DIR"},
		{errors.New("--input x.csv: no such file"), "goray: --input x.csv: no such file"},
	} {
		if got := errorLine(tc.err); got != tc.want {
			t.Errorf("errorLine(%q) = %q, want %q", tc.err, got, tc.want)
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
	// Same rows through BatchPredictor in this process, on a runtime of
	// its own (the command stopped the one it used).
	if err := core.Init(); err != nil {
		t.Fatal(err)
	}
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
	if len(want) != len(got) {
		t.Fatalf("BatchPredictor gave %d predictions, goray predict %d", len(want), len(got))
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

// TestServeSampleConfig: the serve.yaml shipped in examples/ (the README's)
// passes `goray serve run --check` once its checkpoint is in place, and
// serves predictions.
func TestServeSampleConfig(t *testing.T) {
	ctx := testCtx(t)
	ckptDir := trainCheckpoint(t, ctx)
	sample, err := os.ReadFile("../../examples/serve.yaml")
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	yamlPath := filepath.Join(dir, "serve.yaml")
	if err := os.WriteFile(yamlPath, sample, 0o644); err != nil {
		t.Fatal(err)
	}
	// Without its checkpoint the file is refused, naming the field.
	err = run(ctx, &bytes.Buffer{}, []string{"serve", "run", "--check", yamlPath})
	if err == nil || !strings.Contains(err.Error(), "deployments[0] (breast_cancer).checkpoint") {
		t.Fatalf("sample without its checkpoint: %v", err)
	}
	// Put the checkpoint where the sample names it (relative to the file).
	cfg, err := serve.LoadConfig(yamlPath)
	if err != nil {
		t.Fatal(err)
	}
	dst := filepath.Join(dir, cfg.Deployments[0].Checkpoint)
	if err := os.MkdirAll(filepath.Dir(dst), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.CopyFS(dst, os.DirFS(ckptDir)); err != nil {
		t.Fatal(err)
	}
	var out bytes.Buffer
	if err := run(ctx, &out, []string{"serve", "run", "--check", yamlPath}); err != nil {
		t.Fatalf("goray serve run --check on the sample: %v", err)
	}
	if !strings.Contains(out.String(), "1 deployment(s), OK") {
		t.Fatalf("--check printed %q", out.String())
	}

	// Serve it (on a free port rather than the sample's 8000) and POST a row.
	app, err := serve.AppFromConfig(cfg, nil)
	if err != nil {
		t.Fatal(err)
	}
	opts := cfg.HTTPOptions()
	opts.Port = serve.AnyPort
	srv, err := serve.Start(ctx, app, opts, cfg.Options()...)
	if err != nil {
		t.Fatal(err)
	}
	defer srv.Close()
	ds, err := data.ReadCSV(ctx, "testdata/breast_cancer.csv")
	if err != nil {
		t.Fatal(err)
	}
	rows, err := ds.DropColumns("target").Take(ctx, 1)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := json.Marshal(rows)
	req, _ := http.NewRequestWithContext(ctx, http.MethodPost, "http://"+srv.Addr()+cfg.Deployments[0].RoutePrefix, bytes.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	answer, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	var got struct{ Predictions []float64 }
	if resp.StatusCode != 200 || json.Unmarshal(answer, &got) != nil || len(got.Predictions) != 1 {
		t.Fatalf("POST %s: %d %s", cfg.Deployments[0].RoutePrefix, resp.StatusCode, answer)
	}
}

// TestServeFrameworks: the goray binary knows every framework the project
// has, and an unknown one is refused with the list.
func TestServeFrameworks(t *testing.T) {
	ctx := testCtx(t)
	if got := train.Frameworks(); !slices.Equal(got, []string{"gbdt", "nn"}) {
		t.Fatalf("goray registers predictors for %v, want [gbdt nn]", got)
	}
	ckptDir := trainCheckpoint(t, ctx)
	bad := filepath.Join(t.TempDir(), "serve.yaml")
	os.WriteFile(bad, []byte("deployments:\n  - name: bc\n    checkpoint: "+ckptDir+"\n    framework: xgboost\n"), 0o644)
	err := run(ctx, &bytes.Buffer{}, []string{"serve", "run", "--check", bad})
	if err == nil || !strings.Contains(err.Error(), `no predictor for framework "xgboost" (known: gbdt, nn)`) {
		t.Fatalf("framework xgboost: %v", err)
	}
	good := filepath.Join(t.TempDir(), "serve.yaml")
	os.WriteFile(good, []byte("deployments:\n  - name: bc\n    checkpoint: "+ckptDir+"\n    framework: gbdt\n"), 0o644)
	if err := run(ctx, &bytes.Buffer{}, []string{"serve", "run", "--check", good}); err != nil {
		t.Fatalf("framework gbdt: %v", err)
	}
}
