package main

import (
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/goray/goray/checkpoint"
	"github.com/goray/goray/core"
	"github.com/goray/goray/data"
	"github.com/goray/goray/preprocess"
	"github.com/goray/goray/serve"
	"github.com/goray/goray/train"
	"github.com/goray/goray/train/gbdt"
	"github.com/goray/goray/tune"
)

// TestInvalidInputIsOneCategory: every package's ErrInvalidInput is
// core's, and the narrower input kinds match it.
func TestInvalidInputIsOneCategory(t *testing.T) {
	for name, err := range map[string]error{
		"data": data.ErrInvalidInput, "preprocess": preprocess.ErrInvalidInput, "gbdt": gbdt.ErrInvalidInput,
		"checkpoint": checkpoint.ErrInvalidInput, "tune": tune.ErrInvalidInput, "serve": serve.ErrInvalidInput,
	} {
		if err != core.ErrInvalidInput {
			t.Errorf("%s.ErrInvalidInput (%q) is not core.ErrInvalidInput", name, err)
		}
	}
	for name, err := range map[string]error{
		"gbdt.ErrInvalidParam": gbdt.ErrInvalidParam, "checkpoint.ErrCorrupt": checkpoint.ErrCorrupt,
		"checkpoint.ErrWrongFramework": checkpoint.ErrWrongFramework, "checkpoint.ErrNewerFormat": checkpoint.ErrNewerFormat,
	} {
		if !errors.Is(err, core.ErrInvalidInput) || strings.Contains(err.Error(), "invalid input") || strings.Contains(err.Error(), "goray") {
			t.Errorf("%s (%q) should match core.ErrInvalidInput without repeating its text", name, err)
		}
	}
}

// checkOneCategory fails unless msg names "invalid input" once and no
// package prefix twice.
func checkOneCategory(t *testing.T, what, msg string) {
	t.Helper()
	if n := strings.Count(msg, "invalid input"); n != 1 {
		t.Errorf("%s: %q names the category %d times, want once", what, msg, n)
	}
	for _, prefix := range []string{"goray: ", "data: ", "preprocess: ", "gbdt: ", "train: ", "checkpoint: "} {
		if n := strings.Count(msg, prefix); n > 1 {
			t.Errorf("%s: %q repeats the prefix %q %d times", what, msg, prefix, n)
		}
	}
}

// TestBadCellErrorChain walks a realistic failure through every layer: a
// CSV whose "mean radius" column holds a word, read by data, scaled by a
// preprocessor, trained by gbdt on train's workers, and scored by
// `goray predict`.
func TestBadCellErrorChain(t *testing.T) {
	ctx := testCtx(t)
	b, err := os.ReadFile("testdata/breast_cancer.csv")
	if err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(string(b), "\n")
	cells := strings.Split(lines[300], ",")
	cells[0] = "seventeen" // "mean radius"
	lines[300] = strings.Join(cells, ",")
	bad := filepath.Join(t.TempDir(), "bad.csv")
	if err := os.WriteFile(bad, []byte(strings.Join(lines, "\n")), 0o644); err != nil {
		t.Fatal(err)
	}
	ckptDir := trainCheckpoint(t, ctx) // (re)starts the runtime

	ds, err := data.ReadCSV(ctx, bad)
	if err != nil {
		t.Fatal(err)
	}
	tr, err := gbdt.NewTrainer(gbdt.Config{
		LabelColumn: "target", Params: map[string]any{"objective": "binary:logistic"}, NumBoostRound: 2,
		Datasets:      map[string]*data.Dataset{"train": ds},
		Preprocessor:  &preprocess.StandardScaler{Columns: []string{"mean radius", "mean texture"}},
		ScalingConfig: train.ScalingConfig{NumWorkers: 2}, RunConfig: train.RunConfig{StoragePath: t.TempDir()},
	})
	if err != nil {
		t.Fatal(err)
	}
	_, err = tr.Fit(ctx)
	if !errors.Is(err, core.ErrInvalidInput) || !errors.Is(err, preprocess.ErrInvalidInput) || !errors.Is(err, gbdt.ErrInvalidInput) {
		t.Fatalf("Fit on a bad cell: %v, want an error matching ErrInvalidInput", err)
	}
	if !strings.Contains(err.Error(), `StandardScaler: column "mean radius"`) {
		t.Errorf("Fit: %q does not name the preprocessor and column", err)
	}
	checkOneCategory(t, "Fit", err.Error())

	err = run(ctx, &bytes.Buffer{}, []string{"predict", "--checkpoint", ckptDir, "--input", bad, "--output", filepath.Join(t.TempDir(), "o.csv"), "--quiet"})
	if !errors.Is(err, core.ErrInvalidInput) {
		t.Fatalf("goray predict on a bad cell: %v, want ErrInvalidInput", err)
	}
	line := errorLine(err)
	if !strings.Contains(line, `column "mean radius"`) {
		t.Errorf("goray predict: %q does not name the column", line)
	}
	checkOneCategory(t, "goray predict", line)

	// Not a checkpoint: the kind, once, and still bad input.
	err = run(ctx, &bytes.Buffer{}, []string{"checkpoint", "inspect", t.TempDir()})
	if !errors.Is(err, checkpoint.ErrCorrupt) || !errors.Is(err, core.ErrInvalidInput) || strings.Count(errorLine(err), "corrupt") != 1 {
		t.Errorf("checkpoint inspect on an empty directory: %q", errorLine(err))
	}
}
