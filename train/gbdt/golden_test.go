package gbdt_test

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"flag"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"testing"

	"github.com/goray/goray/train/gbdt"
)

var updateGolden = flag.Bool("update", false, "rewrite the golden files under testdata/golden")

// goldenCases are fixed training configs whose model text and prediction
// bits must never change unless the learning algorithm itself does: speed
// work (metrics, prediction layout, evaluation caches) must leave them
// identical.
func goldenCases(t *testing.T) []struct {
	name        string
	train, test *gbdt.Matrix
	evals       bool
	params      gbdt.Params
	rounds      int
} {
	bcTrain, bcTest := breastCancer(t)
	nanTrain := synthetic(t, 5, 3000, 6, 0.1, func(x []float64, rng *rand.Rand) float64 {
		if x[0]*x[1]+math.Sin(x[2])+0.3*rng.NormFloat64() > 0 {
			return 1
		}
		return 0
	})
	nanTest := synthetic(t, 6, 1000, 6, 0.1, func(x []float64, rng *rand.Rand) float64 { return 0 })
	multi := synthetic(t, 7, 2000, 5, 0.05, func(x []float64, rng *rand.Rand) float64 {
		switch {
		case x[0]+0.2*rng.NormFloat64() > 0.5:
			return 2
		case x[1] > 0:
			return 1
		}
		return 0
	})
	reg := synthetic(t, 8, 2000, 4, 0, func(x []float64, rng *rand.Rand) float64 {
		return 2*x[0] - x[1]*x[2] + 0.1*rng.NormFloat64()
	})
	return []struct {
		name        string
		train, test *gbdt.Matrix
		evals       bool
		params      gbdt.Params
		rounds      int
	}{
		{"breast_cancer", bcTrain, bcTest, true, gbdt.Params{"objective": "binary:logistic", "max_depth": 6, "eta": 0.3, "nthread": 2}, 30},
		{"nan_binary_sampled", nanTrain, nanTest, true, gbdt.Params{"objective": "binary:logistic", "max_depth": 5, "eta": 0.2, "subsample": 0.8, "colsample_bytree": 0.7, "max_bin": 64, "nthread": 2, "seed": 3}, 20},
		{"nan_lossguide", nanTrain, nanTest, false, gbdt.Params{"objective": "binary:logistic", "max_leaves": 12, "grow_policy": "lossguide", "eta": 0.3, "lambda": 2, "alpha": 0.1, "nthread": 1}, 15},
		{"multiclass", multi, multi.Slice(0, 500), true, gbdt.Params{"objective": "multi:softprob", "num_class": 3, "max_depth": 4, "eta": 0.3, "nthread": 2}, 10},
		{"regression", reg, reg.Slice(0, 500), true, gbdt.Params{"objective": "reg:squarederror", "max_depth": 5, "eta": 0.1, "nthread": 2, "eval_metric": []string{"rmse", "mae"}}, 25},
	}
}

// TestGoldenModels checks that fixed configs train the same trees (model
// text byte for byte) and the same predictions (float64 bits) as recorded
// in testdata/golden. Regenerate with -update only when the learning
// algorithm changes on purpose.
func TestGoldenModels(t *testing.T) {
	for _, c := range goldenCases(t) {
		t.Run(c.name, func(t *testing.T) {
			var evals map[string]*gbdt.Matrix
			if c.evals {
				evals = map[string]*gbdt.Matrix{"train": c.train, "test": c.test}
			}
			b, err := gbdt.Train(context.Background(), c.train, evals, c.params, c.rounds)
			if err != nil {
				t.Fatal(err)
			}
			var model bytes.Buffer
			if err := b.SaveLightGBM(&model); err != nil {
				t.Fatal(err)
			}
			p, err := b.Predict(c.test)
			if err != nil {
				t.Fatal(err)
			}
			h := sha256.New()
			for _, v := range p {
				h.Write(binary.LittleEndian.AppendUint64(nil, math.Float64bits(v)))
			}
			predHash := hex.EncodeToString(h.Sum(nil)) + "\n"
			modelFile := filepath.Join("testdata", "golden", c.name+".model.txt")
			predFile := filepath.Join("testdata", "golden", c.name+".pred.sha256")
			if *updateGolden {
				if err := os.MkdirAll(filepath.Dir(modelFile), 0o755); err != nil {
					t.Fatal(err)
				}
				if err := os.WriteFile(modelFile, model.Bytes(), 0o644); err != nil {
					t.Fatal(err)
				}
				if err := os.WriteFile(predFile, []byte(predHash), 0o644); err != nil {
					t.Fatal(err)
				}
				return
			}
			want, err := os.ReadFile(modelFile)
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(model.Bytes(), want) {
				t.Errorf("model text differs from %s (%d vs %d bytes)", modelFile, model.Len(), len(want))
			}
			wantHash, err := os.ReadFile(predFile)
			if err != nil {
				t.Fatal(err)
			}
			if predHash != string(wantHash) {
				t.Errorf("prediction bits differ from %s: got %s want %s", predFile, predHash, wantHash)
			}
		})
	}
}
