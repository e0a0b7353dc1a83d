package gbdt_test

import (
	"bytes"
	"math"
	"math/rand/v2"
	"sync"
	"testing"

	"github.com/goray/goray/train"
	"github.com/goray/goray/train/gbdt"
)

// trainSharded trains with n in-process workers, each holding a contiguous
// row shard of dtrain and of every evaluation set, and checks that all
// workers return the same model.
func trainSharded(t *testing.T, n int, dtrain *gbdt.Matrix, evals map[string]*gbdt.Matrix, params gbdt.Params, rounds int) (*gbdt.Booster, [][]map[string]float64) {
	t.Helper()
	group := train.NewLocalGroup(n)
	boosters := make([]*gbdt.Booster, n)
	errs := make([]error, n)
	hist := make([][]map[string]float64, n)
	shard := func(m *gbdt.Matrix, w int) *gbdt.Matrix {
		// Uneven shards: worker w gets rows [lo, hi).
		lo, hi := m.NumRows()*w*w/(n*n), m.NumRows()*(w+1)*(w+1)/(n*n)
		return m.Slice(lo, hi)
	}
	var wg sync.WaitGroup
	for w := range n {
		wg.Go(func() {
			ev := map[string]*gbdt.Matrix{}
			for name, m := range evals {
				ev[name] = shard(m, w)
			}
			boosters[w], errs[w] = gbdt.Train(t.Context(), shard(dtrain, w), ev, params, rounds,
				gbdt.WithCollective(group[w]),
				gbdt.WithCallback(func(round int, m map[string]float64) error {
					hist[w] = append(hist[w], m)
					return nil
				}))
		})
	}
	wg.Wait()
	for w, err := range errs {
		if err != nil {
			t.Fatalf("worker %d: %v", w, err)
		}
	}
	first := modelText(t, boosters[0])
	for w := 1; w < n; w++ {
		if !bytes.Equal(first, modelText(t, boosters[w])) {
			t.Fatalf("worker %d built another model than worker 0", w)
		}
	}
	return boosters[0], hist
}

func modelText(t *testing.T, b *gbdt.Booster) []byte {
	t.Helper()
	var buf bytes.Buffer
	if err := b.SaveLightGBM(&buf); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

func TestDistributedBuildsSameTrees(t *testing.T) {
	bcTrain, bcTest := breastCancer(t)
	nanData := synthetic(t, 5, 3000, 6, 0.1, func(x []float64, _ *rand.Rand) float64 {
		return math.Sin(x[0]) + x[1]*x[2]
	})
	multi := synthetic(t, 6, 2000, 4, 0.05, func(x []float64, _ *rand.Rand) float64 {
		return float64(btoi(x[0] > 0) + btoi(x[1] > 0.5))
	})
	cases := map[string]struct {
		train, test *gbdt.Matrix
		params      gbdt.Params
	}{
		"breast cancer": {bcTrain, bcTest, gbdt.Params{"objective": "binary:logistic", "max_depth": 6, "eta": 0.3, "eval_metric": []string{"logloss", "auc"}}},
		"regression with NaN, leaf-wise": {nanData.Slice(0, 2400), nanData.Slice(2400, 3000),
			gbdt.Params{"objective": "reg:squarederror", "max_leaves": 16, "max_depth": 0, "max_bin": 64, "lambda": 2, "alpha": 0.1, "eval_metric": []string{"rmse", "mae"}}},
		"multiclass colsample": {multi.Slice(0, 1500), multi.Slice(1500, 2000),
			gbdt.Params{"objective": "multi:softprob", "num_class": 3, "max_depth": 4, "colsample_bytree": 0.5, "eval_metric": []string{"mlogloss", "merror"}}},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			evals := map[string]*gbdt.Matrix{"train": tc.train, "test": tc.test}
			one, err := gbdt.Train(t.Context(), tc.train, evals, tc.params, 15)
			if err != nil {
				t.Fatal(err)
			}
			want, err := one.Predict(tc.test)
			if err != nil {
				t.Fatal(err)
			}
			for _, n := range []int{2, 3} {
				b, hist := trainSharded(t, n, tc.train, evals, tc.params, 15)
				got, err := b.Predict(tc.test)
				if err != nil {
					t.Fatal(err)
				}
				for i := range want {
					if math.Abs(got[i]-want[i]) > 1e-6 {
						t.Fatalf("%d workers: prediction %d = %v, 1 worker %v", n, i, got[i], want[i])
					}
				}
				if !bytes.Equal(modelText(t, one), modelText(t, b)) {
					t.Errorf("%d workers: model text differs from 1 worker", n)
				}
				// Metrics are computed over all shards.
				oneHist := one.EvalHistory()
				for r, m := range hist[0] {
					for k, v := range m {
						if math.Abs(v-oneHist[r][k]) > 1e-9 {
							t.Errorf("%d workers: round %d %s = %v, 1 worker %v", n, r, k, v, oneHist[r][k])
						}
					}
				}
			}
		})
	}
}

func btoi(b bool) int {
	if b {
		return 1
	}
	return 0
}
