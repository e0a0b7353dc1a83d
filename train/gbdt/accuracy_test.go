package gbdt_test

import (
	"math"
	"math/rand/v2"
	"testing"

	"github.com/goray/goray/train/gbdt"
)

// leastSquares fits y ~ b0 + X b by the normal equations and returns
// predictions for test: the linear baseline trees should beat.
func leastSquares(train, test *gbdt.Matrix) []float64 {
	F := len(train.Features())
	d := F + 1
	a := make([][]float64, d)
	for i := range a {
		a[i] = make([]float64, d+1)
	}
	row := make([]float64, d)
	for i := range train.NumRows() {
		row[0] = 1
		for j := range F {
			row[j+1] = train.Column(j)[i]
		}
		for p := range d {
			for q := range d {
				a[p][q] += row[p] * row[q]
			}
			a[p][d] += row[p] * train.Labels()[i]
		}
	}
	for p := range d { // Gauss-Jordan
		piv := p
		for r := p + 1; r < d; r++ {
			if math.Abs(a[r][p]) > math.Abs(a[piv][p]) {
				piv = r
			}
		}
		a[p], a[piv] = a[piv], a[p]
		for r := range d {
			if r != p {
				f := a[r][p] / a[p][p]
				for c := p; c <= d; c++ {
					a[r][c] -= f * a[p][c]
				}
			}
		}
	}
	out := make([]float64, test.NumRows())
	for i := range out {
		out[i] = a[0][d] / a[0][0]
		for j := range F {
			out[i] += a[j+1][d] / a[j+1][j+1] * test.Column(j)[i]
		}
	}
	return out
}

func rmse(a, b []float64) float64 {
	var s float64
	for i := range a {
		s += (a[i] - b[i]) * (a[i] - b[i])
	}
	return math.Sqrt(s / float64(len(a)))
}

func TestRegression(t *testing.T) {
	const noise = 0.3
	truth := func(x []float64) float64 { return 2*math.Sin(x[0]) + x[1]*x[1] - 1.5*x[2]*btof(x[3] > 0) }
	data := synthetic(t, 1, 6000, 6, 0, func(x []float64, rng *rand.Rand) float64 { return truth(x) + noise*rng.NormFloat64() })
	train, test := data.Slice(0, 4000), data.Slice(4000, 6000)
	b, err := gbdt.Train(t.Context(), train, map[string]*gbdt.Matrix{"test": test},
		gbdt.Params{"objective": "reg:squarederror", "max_depth": 4, "eta": 0.1}, 200)
	if err != nil {
		t.Fatal(err)
	}
	pred, err := b.Predict(test)
	if err != nil {
		t.Fatal(err)
	}
	got, lin := rmse(pred, test.Labels()), rmse(leastSquares(train, test), test.Labels())
	h := b.EvalHistory()
	t.Logf("test RMSE %.3f (noise %.2f, least squares %.3f, reported %.3f)", got, noise, lin, h[len(h)-1]["test-rmse"])
	if got > 0.4*lin || got > 1.6*noise {
		t.Errorf("test RMSE %.3f: want < 0.4 x least squares (%.3f) and < 1.6 x noise sd %.2f", got, lin, noise)
	}
	if math.Abs(h[len(h)-1]["test-rmse"]-got) > 1e-9 {
		t.Errorf("reported test-rmse %v != RMSE of predictions %v", h[len(h)-1]["test-rmse"], got)
	}
	imp, err := b.FeatureImportance("total_gain")
	if err != nil {
		t.Fatal(err)
	}
	for _, noiseFeature := range []string{"x4", "x5"} {
		if imp[noiseFeature] > 0.02*imp["x0"] {
			t.Errorf("noise feature %s has gain %v vs x0 %v", noiseFeature, imp[noiseFeature], imp["x0"])
		}
	}
}

func btof(b bool) float64 { return float64(btoi(b)) }

func TestMulticlass(t *testing.T) {
	// Rings around the origin: no linear boundary separates them; 5% label noise.
	class := func(x []float64) float64 {
		r := math.Hypot(x[0], x[1])
		switch {
		case r < 0.8:
			return 0
		case r < 1.6:
			return 1
		}
		return 2
	}
	data := synthetic(t, 2, 5000, 4, 0, func(x []float64, rng *rand.Rand) float64 {
		if rng.Float64() < 0.05 {
			return float64(rng.IntN(3))
		}
		return class(x)
	})
	train, test := data.Slice(0, 4000), data.Slice(4000, 5000)
	b, err := gbdt.Train(t.Context(), train, map[string]*gbdt.Matrix{"test": test},
		gbdt.Params{"objective": "multi:softprob", "num_class": 3, "max_depth": 5, "eta": 0.3, "eval_metric": []string{"merror", "mlogloss"}}, 40)
	if err != nil {
		t.Fatal(err)
	}
	p, err := b.Predict(test)
	if err != nil {
		t.Fatal(err)
	}
	correct, ll := 0, 0.0
	for i, y := range test.Labels() {
		row := p[3*i : 3*i+3]
		if s := row[0] + row[1] + row[2]; math.Abs(s-1) > 1e-9 {
			t.Fatalf("row %d probabilities sum to %v", i, s)
		}
		best := 0
		for k := range row {
			if row[k] > row[best] {
				best = k
			}
		}
		if best == int(y) {
			correct++
		}
		ll -= math.Log(row[int(y)])
	}
	acc := float64(correct) / float64(test.NumRows())
	h := b.EvalHistory()
	last := h[len(h)-1]
	// XGBoost 1.7.4 (hist, same params) on the same rows: merror 0.077, mlogloss 0.281.
	t.Logf("test accuracy %.3f (best possible ~0.967), mlogloss %.3f, reported %v", acc, ll/float64(test.NumRows()), last)
	if acc < 0.91 {
		t.Errorf("test accuracy %.3f, want >= 0.91", acc)
	}
	if math.Abs(last["test-merror"]-(1-acc)) > 1e-9 || math.Abs(last["test-mlogloss"]-ll/float64(test.NumRows())) > 1e-9 {
		t.Errorf("reported metrics %v disagree with predictions (acc %v)", last, acc)
	}
}

func TestLeafWiseAndRegularisation(t *testing.T) {
	data := synthetic(t, 3, 3000, 5, 0.05, func(x []float64, rng *rand.Rand) float64 {
		return btof(x[0]+x[1]*x[2]+0.3*rng.NormFloat64() > 0)
	})
	train, test := data.Slice(0, 2400), data.Slice(2400, 3000)
	base := gbdt.Params{"objective": "binary:logistic", "eval_metric": "auc"}
	run := func(extra gbdt.Params) (*gbdt.Booster, float64) {
		p := gbdt.Params{}
		for k, v := range base {
			p[k] = v
		}
		for k, v := range extra {
			p[k] = v
		}
		b, err := gbdt.Train(t.Context(), train, map[string]*gbdt.Matrix{"test": test}, p, 30)
		if err != nil {
			t.Fatal(err)
		}
		h := b.EvalHistory()
		return b, h[len(h)-1]["test-auc"]
	}
	_, depthwise := run(nil)
	lw, leafwise := run(gbdt.Params{"max_leaves": 8, "max_depth": 0})
	t.Logf("test AUC depth-wise %.4f, leaf-wise (8 leaves) %.4f", depthwise, leafwise)
	if depthwise < 0.9 || leafwise < 0.9 {
		t.Errorf("AUC depth-wise %.4f, leaf-wise %.4f; want >= 0.9", depthwise, leafwise)
	}
	var buf bytesBuffer
	if err := lw.SaveLightGBM(&buf); err != nil {
		t.Fatal(err)
	}
	for _, n := range numLeaves(buf.String()) {
		if n > 8 {
			t.Errorf("a tree has %d leaves, max_leaves is 8", n)
		}
	}
	// A huge gamma forbids every split: each tree is one leaf, all
	// predictions are equal.
	g, _ := run(gbdt.Params{"gamma": 1e9})
	p, err := g.Predict(test)
	if err != nil {
		t.Fatal(err)
	}
	for _, v := range p {
		if v != p[0] {
			t.Fatalf("gamma 1e9 still splits: predictions %v and %v", p[0], v)
		}
	}
	// Strong L1 shrinks leaves towards zero.
	a, _ := run(gbdt.Params{"alpha": 1e9})
	pa, _ := a.Predict(test)
	if math.Abs(pa[0]-0.5) > 1e-12 {
		t.Errorf("alpha 1e9: prediction %v, want base score 0.5", pa[0])
	}
}
