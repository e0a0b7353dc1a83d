package tune_test

import (
	"bytes"
	"errors"
	"strings"
	"testing"

	"github.com/goray/goray/tune"
)

func TestLoadResultsAndWriteTable(t *testing.T) {
	ctx := t.Context()
	dir := t.TempDir()
	tuner := tune.Tuner{
		Trainable: func(tc tune.Context, cfg tune.Config) error {
			x, _ := cfg.Float("x")
			for i := range 3 {
				if err := tc.Report(map[string]float64{"score": x * float64(i+1)}, nil); err != nil {
					return err
				}
			}
			return nil
		},
		ParamSpace: map[string]any{"x": tune.GridSearch(1.0, 2.0, 3.0)},
		TuneConfig: tune.TuneConfig{Metric: "score", Mode: "max"},
		RunConfig:  tune.RunConfig{Name: "show", StoragePath: dir},
	}
	grid, err := tuner.Fit(ctx)
	if err != nil {
		t.Fatal(err)
	}
	loaded, err := tune.LoadResults(grid.Path())
	if err != nil {
		t.Fatal(err)
	}
	if loaded.Len() != 3 || loaded.Metric() != "score" || loaded.Mode() != "max" {
		t.Fatalf("loaded %d trials, metric %q mode %q", loaded.Len(), loaded.Metric(), loaded.Mode())
	}
	best, err := loaded.GetBestResult("", "", tune.ScopeLast)
	if err != nil || best.Metrics["score"] != 9 {
		t.Fatalf("best %v, %v", best.Metrics, err)
	}
	var buf bytes.Buffer
	if err := loaded.WriteTable(&buf); err != nil {
		t.Fatal(err)
	}
	out := buf.String()
	for _, want := range []string{"TERMINATED", "x=3", "best trial", "max score = 9"} {
		if !strings.Contains(out, want) {
			t.Errorf("table lacks %q:\n%s", want, out)
		}
	}
	if _, err := tune.LoadResults(t.TempDir()); !errors.Is(err, tune.ErrNotFound) {
		t.Fatalf("empty dir: %v", err)
	}
}
