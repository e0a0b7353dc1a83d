package gbdt_test

import (
	"context"
	"errors"
	"math"
	"math/rand/v2"
	"slices"
	"testing"

	"github.com/goray/goray/train/gbdt"
)

func TestEarlyStoppingAndCallback(t *testing.T) {
	// Noisy labels: the validation loss bottoms out early.
	data := synthetic(t, 7, 2000, 5, 0, func(x []float64, rng *rand.Rand) float64 {
		return btof(x[0]+rng.NormFloat64()*1.5 > 0)
	})
	train, valid := data.Slice(0, 1500), data.Slice(1500, 2000)
	var names []string
	rounds := 0
	b, err := gbdt.Train(t.Context(), train, map[string]*gbdt.Matrix{"train": train, "valid": valid},
		gbdt.Params{"max_depth": 6, "eta": 0.5, "eval_metric": []string{"error", "logloss"}, "early_stopping_rounds": 5}, 500,
		gbdt.WithCallback(func(round int, m map[string]float64) error {
			if round != rounds {
				t.Errorf("callback round %d, want %d", round, rounds)
			}
			rounds++
			if names == nil {
				for k := range m {
					names = append(names, k)
				}
				slices.Sort(names)
			}
			return nil
		}))
	if err != nil {
		t.Fatal(err)
	}
	if want := []string{"train-error", "train-logloss", "valid-error", "valid-logloss"}; !slices.Equal(names, want) {
		t.Errorf("metric names %v, want %v", names, want)
	}
	best, score := b.BestIteration()
	h := b.EvalHistory()
	if rounds >= 500 || rounds != best+6 || b.NumRounds() != best+1 {
		t.Fatalf("ran %d rounds, best %d, kept %d", rounds, best, b.NumRounds())
	}
	for _, m := range h {
		if m["valid-logloss"] < score {
			t.Errorf("best score %v, but a round reached %v", score, m["valid-logloss"])
		}
	}
	// The kept model is the best round's.
	p, _ := b.Predict(valid)
	var ll float64
	for i, y := range valid.Labels() {
		ll -= y*math.Log(p[i]) + (1-y)*math.Log(1-p[i])
	}
	if got := ll / float64(valid.NumRows()); math.Abs(got-score) > 1e-9 {
		t.Errorf("kept model logloss %v, best score %v", got, score)
	}

	// A callback can stop training, or fail it.
	b, err = gbdt.Train(t.Context(), train, nil, nil, 50, gbdt.WithCallback(func(round int, _ map[string]float64) error {
		if round == 2 {
			return gbdt.ErrStopTraining
		}
		return nil
	}))
	if err != nil || b.NumRounds() != 3 {
		t.Errorf("stopped by callback: %v, %d rounds", err, b.NumRounds())
	}
	boom := errors.New("boom")
	if _, err := gbdt.Train(t.Context(), train, nil, nil, 50, gbdt.WithCallback(func(int, map[string]float64) error { return boom })); !errors.Is(err, boom) {
		t.Errorf("failing callback: %v", err)
	}
	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	if _, err := gbdt.Train(ctx, train, nil, nil, 50); !errors.Is(err, context.Canceled) {
		t.Errorf("cancelled: %v", err)
	}
}

func TestFeatureImportanceKinds(t *testing.T) {
	data := synthetic(t, 8, 1000, 3, 0, func(x []float64, _ *rand.Rand) float64 { return btof(x[1] > 0.3) })
	b, err := gbdt.Train(t.Context(), data, nil, gbdt.Params{"max_depth": 2}, 5)
	if err != nil {
		t.Fatal(err)
	}
	w, _ := b.FeatureImportance("weight")
	g, _ := b.FeatureImportance("gain")
	tg, _ := b.FeatureImportance("total_gain")
	if w["x1"] < 5 || math.Abs(g["x1"]*w["x1"]-tg["x1"]) > 1e-9*tg["x1"] {
		t.Errorf("weight %v gain %v total_gain %v", w, g, tg)
	}
	if _, err := b.FeatureImportance("shap"); !errors.Is(err, gbdt.ErrInvalidParam) {
		t.Errorf("unknown kind: %v", err)
	}
}
