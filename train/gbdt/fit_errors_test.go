package gbdt_test

import (
	"errors"
	"strings"
	"testing"

	"github.com/goray/goray/core"
	"github.com/goray/goray/data"
	"github.com/goray/goray/train"
	"github.com/goray/goray/train/gbdt"
)

// Fit on a dataset with no blocks, or on a stopped runtime, is an error
// that says so; it used to panic on the missing schema.
func TestFitWithoutRowsOrRuntimeIsAnError(t *testing.T) {
	ctx := trainerSetup(t)
	type row struct{ X, Target float64 }
	rows, err := data.FromItems([]row{{1, 0}, {2, 1}, {3, 0}, {4, 1}})
	if err != nil {
		t.Fatal(err)
	}
	newTrainer := func(ds *data.Dataset) *gbdt.Trainer {
		tr, err := gbdt.NewTrainer(gbdt.Config{
			LabelColumn: "Target", NumBoostRound: 2,
			Params:    map[string]any{"objective": "binary:logistic"},
			Datasets:  map[string]*data.Dataset{"train": ds},
			RunConfig: train.RunConfig{StoragePath: t.TempDir()},
		})
		if err != nil {
			t.Fatal(err)
		}
		return tr
	}
	_, err = newTrainer(data.FromArrow()).Fit(ctx) // no blocks, so no schema
	if !errors.Is(err, core.ErrInvalidInput) || !strings.Contains(err.Error(), `"train" has no rows`) {
		t.Fatalf("Fit on an empty dataset: %v", err)
	}
	tr := newTrainer(rows)
	core.Shutdown()
	if _, err := tr.Fit(ctx); !errors.Is(err, core.ErrShutdown) {
		t.Fatalf("Fit after Shutdown: %v; want ErrShutdown", err)
	}
}
