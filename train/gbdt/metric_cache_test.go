package gbdt_test

import (
	"context"
	"math"
	"math/rand/v2"
	"testing"

	"github.com/goray/goray/train/gbdt"
)

// TestRoundMetricsMatchPredictions: every round's metrics, computed from
// the margins training keeps (train) and caches (validation), equal the
// metrics of that round's model predicting the same rows, on any nthread.
func TestRoundMetricsMatchPredictions(t *testing.T) {
	fn := func(x []float64, rng *rand.Rand) float64 {
		if x[0]-x[1]*x[2]+0.5*rng.NormFloat64() > 0 {
			return 1
		}
		return 0
	}
	dtrain := synthetic(t, 21, 40_000, 5, 0.05, fn)
	dvalid := synthetic(t, 22, 9_000, 5, 0.05, fn)
	for _, threads := range []int{1, 3} {
		params := gbdt.Params{"objective": "binary:logistic", "max_depth": 5, "eta": 0.3, "nthread": threads,
			"eval_metric": []string{"logloss", "error", "rmse", "mae"}}
		rounds := 0
		_, err := gbdt.Train(context.Background(), dtrain, map[string]*gbdt.Matrix{"train": dtrain, "valid": dvalid}, params, 8,
			gbdt.WithSnapshot(func(round int, b *gbdt.Booster) error {
				rounds++
				got := b.EvalHistory()[round]
				for name, m := range map[string]*gbdt.Matrix{"train": dtrain, "valid": dvalid} {
					p, err := b.Predict(m)
					if err != nil {
						return err
					}
					var ll, errs, se, ae float64
					for i, y := range m.Labels() {
						q := math.Min(math.Max(p[i], 1e-16), 1-1e-16)
						ll -= y*math.Log(q) + (1-y)*math.Log(1-q)
						if (p[i] > 0.5) != (y == 1) {
							errs++
						}
						se += (p[i] - y) * (p[i] - y)
						ae += math.Abs(p[i] - y)
					}
					n := float64(m.NumRows())
					want := map[string]float64{"logloss": ll / n, "error": errs / n, "rmse": math.Sqrt(se / n), "mae": ae / n}
					for k, w := range want {
						if g := got[name+"-"+k]; math.Abs(g-w) > 1e-12*math.Max(1, math.Abs(w)) {
							t.Errorf("nthread %d round %d %s-%s = %.17g, predictions give %.17g", threads, round, name, k, g, w)
						}
					}
				}
				return nil
			}))
		if err != nil {
			t.Fatal(err)
		}
		if rounds != 8 {
			t.Fatalf("%d snapshots, want 8", rounds)
		}
	}
}
