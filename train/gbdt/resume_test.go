package gbdt_test

import (
	"bytes"
	"errors"
	"math/rand/v2"
	"testing"

	"github.com/goray/goray/checkpoint"
	"github.com/goray/goray/train/gbdt"
)

// TestResumeEqualsUninterrupted trains 12 rounds straight, and 5 rounds,
// a checkpoint, a fresh load and 7 more: the models are the same.
func TestResumeEqualsUninterrupted(t *testing.T) {
	data := synthetic(t, 9, 3000, 6, 0.05, func(x []float64, rng *rand.Rand) float64 {
		return btof(x[0]*x[1]+0.5*rng.NormFloat64() > 0)
	})
	train, valid := data.Slice(0, 2400), data.Slice(2400, 3000)
	for name, params := range map[string]gbdt.Params{
		"binary":                {"max_depth": 4, "eval_metric": "auc"},
		"subsample, colsample":  {"max_depth": 3, "subsample": 0.8, "colsample_bytree": 0.5, "seed": 3},
		"multiclass, leaf-wise": {"objective": "multi:softprob", "num_class": 2, "max_leaves": 6, "max_depth": 0},
	} {
		t.Run(name, func(t *testing.T) {
			evals := map[string]*gbdt.Matrix{"valid": valid}
			straight, err := gbdt.Train(t.Context(), train, evals, params, 12)
			if err != nil {
				t.Fatal(err)
			}
			var snaps []int
			part, err := gbdt.Train(t.Context(), train, evals, params, 5, gbdt.WithSnapshot(func(round int, b *gbdt.Booster) error {
				snaps = append(snaps, b.NumRounds())
				return nil
			}))
			if err != nil {
				t.Fatal(err)
			}
			if len(snaps) != 5 || snaps[4] != 5 {
				t.Errorf("snapshots saw %v rounds", snaps)
			}
			ckpt, err := part.SaveCheckpoint(t.TempDir())
			if err != nil {
				t.Fatal(err)
			}
			fresh, err := checkpoint.FromDirectory(ckpt.Path())
			if err != nil {
				t.Fatal(err)
			}
			init, err := gbdt.BoosterFromCheckpoint(fresh)
			if err != nil {
				t.Fatal(err)
			}
			var rounds []int
			resumed, err := gbdt.Train(t.Context(), train, evals, params, 7, gbdt.WithInitModel(init),
				gbdt.WithCallback(func(r int, _ map[string]float64) error { rounds = append(rounds, r); return nil }))
			if err != nil {
				t.Fatal(err)
			}
			if rounds[0] != 5 || resumed.NumRounds() != 12 {
				t.Errorf("resumed rounds %v, %d kept", rounds, resumed.NumRounds())
			}
			if !bytes.Equal(modelText(t, straight), modelText(t, resumed)) {
				t.Errorf("resumed model differs from the uninterrupted one")
			}
		})
	}
	// Mismatched objective.
	b, _ := gbdt.Train(t.Context(), train, nil, nil, 2)
	if _, err := gbdt.Train(t.Context(), train, nil, gbdt.Params{"objective": "reg:squarederror"}, 2, gbdt.WithInitModel(b)); !errors.Is(err, gbdt.ErrInvalidParam) {
		t.Errorf("objective mismatch: %v", err)
	}
}
