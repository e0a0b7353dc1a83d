package tune

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"testing"

	"github.com/goray/goray/checkpoint"
	"github.com/goray/goray/train"
)

// dpTestLoop is a GBDT-like loop: its loss is lowest at max_depth 4, and
// it resumes from the round in its checkpoint.
var dpTestLoop = train.RegisterLoop("tune.dpTestLoop", func(tc train.Context, config map[string]any) error {
	params := config["params"].(map[string]any)
	depth, ok := params["max_depth"].(int)
	if !ok || params["eta"] != 0.3 {
		return fmt.Errorf("params %v: max_depth not sampled or eta lost in the merge", params)
	}
	start := 0
	if ck := tc.Checkpoint(); ck != nil {
		b, err := ck.ReadFile("round")
		if err != nil {
			return err
		}
		start, _ = strconv.Atoi(string(b))
	}
	for round := start + 1; round <= 9; round++ {
		loss := float64((depth-4)*(depth-4)) + 1/float64(round)
		var ck *checkpoint.Checkpoint
		if tc.WorldRank() == 0 {
			dir, err := os.MkdirTemp("", "dp-ckpt-")
			if err != nil {
				return err
			}
			defer os.RemoveAll(dir)
			if ck, err = checkpoint.New(dir, checkpoint.Metadata{Framework: "dp-test"}); err != nil {
				return err
			}
			if err := ck.WriteFile("round", []byte(strconv.Itoa(round))); err != nil {
				return err
			}
		}
		if err := tc.Report(map[string]float64{"train-logloss": loss}, ck); err != nil {
			return err
		}
	}
	return nil
})

// TestDataParallelTrainer tunes a 2-worker train.DataParallelTrainer the
// way the GBDT seed flow does: a nested param sampled with RandInt merges
// into the trainer's config, every round reaches HyperBand through the
// callback tune adds to its RunConfig, and paused trials resume from their
// checkpoints.
func TestDataParallelTrainer(t *testing.T) {
	trainer := &train.DataParallelTrainer{
		TrainLoop:     dpTestLoop,
		Config:        map[string]any{"params": map[string]any{"eta": 0.3, "max_depth": 6}},
		ScalingConfig: train.ScalingConfig{NumWorkers: 2},
		Kind:          "TestTrainer",
	}
	tuner := Tuner{
		Trainable:  trainer,
		ParamSpace: map[string]any{"params": map[string]any{"max_depth": RandInt(1, 9)}},
		TuneConfig: TuneConfig{Metric: "train-logloss", Mode: "min", NumSamples: 6, Seed: 2,
			Scheduler: &HyperBandScheduler{MaxT: 9, ReductionFactor: 3}},
		RunConfig: RunConfig{StoragePath: t.TempDir(), Name: "dp"},
	}
	g, err := tuner.Fit(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	if errs := g.Errors(); len(errs) > 0 {
		t.Fatal(errors.Join(errs...))
	}
	best, err := g.GetBestResult("", "", "")
	if err != nil {
		t.Fatal(err)
	}
	if best.Checkpoint == nil {
		t.Fatal("best result has no checkpoint")
	}
	round, err := best.Checkpoint.ReadFile("round")
	if err != nil || string(round) != "9" {
		t.Errorf("best checkpoint round %q, %v; want 9", round, err)
	}
	for _, r := range g.Results() {
		for i, m := range r.MetricsHistory {
			if int(m["training_iteration"]) != i+1 {
				t.Fatalf("trial %s: result %d is iteration %v (resume failed)", r.TrialID, i, m["training_iteration"])
			}
		}
		if runs, _ := filepath.Glob(filepath.Join(r.Path, "train_from_iter_*")); len(runs) == 0 {
			t.Errorf("trial %s: the trainer's files are not in the trial directory", r.TrialID)
		}
	}
	if n := totalIterations(g); n >= 6*9 {
		t.Errorf("HyperBand ran %d iterations, no fewer than FIFO's %d", n, 6*9)
	}
}
