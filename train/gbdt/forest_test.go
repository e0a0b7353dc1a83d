package gbdt

import (
	"bufio"
	"bytes"
	"context"
	"encoding/csv"
	"math"
	"math/rand/v2"
	"os"
	"strconv"
	"testing"

	"github.com/dmitryikh/leaves"
)

// leavesOf reads b's LightGBM text with leaves, with and without the
// output transformation.
func leavesOf(t *testing.T, b *Booster) (ens, raw *leaves.Ensemble) {
	t.Helper()
	var buf bytes.Buffer
	if err := b.SaveLightGBM(&buf); err != nil {
		t.Fatal(err)
	}
	ens, err := leaves.LGEnsembleFromReader(bufio.NewReader(bytes.NewReader(buf.Bytes())), true)
	if err != nil {
		t.Fatal(err)
	}
	return ens, ens.EnsembleWithRawPredictions()
}

// sameBits fails unless got and want hold the same float64 bits.
func sameBits(t *testing.T, what string, got, want []float64) {
	t.Helper()
	if len(got) != len(want) {
		t.Fatalf("%s: %d values, want %d", what, len(got), len(want))
	}
	for i := range got {
		if math.Float64bits(got[i]) != math.Float64bits(want[i]) {
			t.Fatalf("%s: value %d is %v (%#x), leaves gives %v (%#x)", what, i, got[i], math.Float64bits(got[i]), want[i], math.Float64bits(want[i]))
		}
	}
}

// checkForest scores x (row-major, n rows) through the compiled forest in
// every way this package does (Model.PredictDense on one and on several
// threads, raw and transformed, and from columns as Predictor does) and
// requires leaves' bits on the same model text.
func checkForest(t *testing.T, b *Booster, x []float64, n int, full bool) {
	t.Helper()
	m, err := b.Model()
	if err != nil {
		t.Fatal(err)
	}
	if m.flat == nil {
		t.Fatal("Booster.Model did not compile the trees")
	}
	F := len(b.features)
	ens, raw := leavesOf(t, b)
	K := b.cfg.numClass
	want := make([]float64, n*K)
	if err := ens.PredictDense(x, n, F, want, 0, 2); err != nil {
		t.Fatal(err)
	}
	threads := []int{2}
	if full {
		threads = []int{1, 3}
		wantRaw := make([]float64, n*K)
		if err := raw.PredictDense(x, n, F, wantRaw, 0, 2); err != nil {
			t.Fatal(err)
		}
		got, err := m.PredictDense(x, n, F, 3, true)
		if err != nil {
			t.Fatal(err)
		}
		sameBits(t, "PredictDense raw", got, wantRaw)
	}
	for _, th := range threads {
		got, err := m.PredictDense(x, n, F, th, false)
		if err != nil {
			t.Fatal(err)
		}
		sameBits(t, "PredictDense", got, want)
	}
	cols := make([][]float64, F)
	for j := range cols {
		cols[j] = make([]float64, n)
		for i := range n {
			cols[j][i] = x[i*F+j]
		}
	}
	p := &Predictor{model: m, threads: 2, numClass: K}
	got, err := p.predictColumns(cols, n)
	if err != nil {
		t.Fatal(err)
	}
	sameBits(t, "Predictor columns", got, want)
}

// withThresholds overwrites some values with the model's own thresholds
// (the edge of every split), NaN, ±Inf and -0.
func withThresholds(b *Booster, x []float64, F int, seed uint64) {
	thr := make([][]float64, F)
	for _, t := range b.trees {
		for _, nd := range t.nodes {
			if nd.left >= 0 {
				thr[nd.feature] = append(thr[nd.feature], nd.threshold)
			}
		}
	}
	rng := rand.New(rand.NewPCG(seed, 3))
	special := []float64{math.NaN(), math.Inf(1), math.Inf(-1), math.Copysign(0, -1), 0}
	for i := range x {
		j := i % F
		switch u := rng.Float64(); {
		case u < 0.15 && len(thr[j]) > 0:
			x[i] = thr[j][rng.IntN(len(thr[j]))]
		case u < 0.2:
			x[i] = special[rng.IntN(len(special))]
		}
	}
}

// TestForestMatchesLeavesBreastCancer: the compiled trees of a breast
// cancer model predict leaves' bits on the data, on thresholds and on
// missing and infinite values.
func TestForestMatchesLeavesBreastCancer(t *testing.T) {
	f, err := os.Open("testdata/breast_cancer.csv")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	recs, err := csv.NewReader(f).ReadAll()
	if err != nil {
		t.Fatal(err)
	}
	header, rows := recs[0], recs[1:]
	F := len(header) - 1
	cols := make([][]float64, F)
	labels := make([]float64, len(rows))
	x := make([]float64, 0, len(rows)*F)
	for j := range cols {
		cols[j] = make([]float64, len(rows))
	}
	for i, r := range rows {
		for j := 0; j <= F; j++ {
			v, err := strconv.ParseFloat(r[j], 64)
			if err != nil {
				t.Fatal(err)
			}
			if j == F {
				labels[i] = v
			} else {
				cols[j][i] = v
				x = append(x, v)
			}
		}
	}
	m, err := NewMatrix(header[:F], cols, labels)
	if err != nil {
		t.Fatal(err)
	}
	for _, params := range []Params{
		{"objective": "binary:logistic", "max_depth": 6, "eta": 0.3},
		{"objective": "reg:squarederror", "max_leaves": 20, "eta": 0.1},
		{"objective": "multi:softprob", "num_class": 2, "max_depth": 3},
	} {
		b, err := Train(context.Background(), m, nil, params, 40)
		if err != nil {
			t.Fatal(err)
		}
		checkForest(t, b, x, len(rows), true)
		edge := append([]float64(nil), x...)
		withThresholds(b, edge, F, 1)
		checkForest(t, b, edge, len(rows), true)
	}
}

// TestForestMatchesLeavesGenerated: the same on 1M generated rows with
// missing values, thresholds and infinities, for a binary and a
// multi-class model.
func TestForestMatchesLeavesGenerated(t *testing.T) {
	n := 1_000_000
	if testing.Short() || raceEnabled {
		n = 100_000
	}
	trainM := randomMatrix(3, 20_000, 0)
	F := len(trainM.features)
	for _, params := range []Params{
		{"objective": "binary:logistic", "max_depth": 6, "eta": 0.3, "max_bin": 64},
		{"objective": "multi:softmax", "num_class": 3, "max_depth": 4, "eta": 0.3},
	} {
		tm := trainM
		if params["objective"] != BinaryLogistic {
			labels := make([]float64, tm.nrows)
			for i, y := range tm.labels {
				labels[i] = float64(i%2) + y
			}
			var err error
			if tm, err = NewMatrix(tm.features, tm.cols, labels); err != nil {
				t.Fatal(err)
			}
		}
		b, err := Train(context.Background(), tm, nil, params, 30)
		if err != nil {
			t.Fatal(err)
		}
		gen := randomMatrix(4, n, 0.5)
		x := make([]float64, n*F)
		for j, c := range gen.cols {
			for i, v := range c {
				x[i*F+j] = v
			}
		}
		withThresholds(b, x, F, 2)
		checkForest(t, b, x, n, false)
	}
}

// TestForestFromCheckpoint: a checkpoint SaveCheckpoint wrote is compiled
// (and predicts leaves' bits); the same model text wrapped as a model
// trained elsewhere is scored by leaves.
func TestForestFromCheckpoint(t *testing.T) {
	m := randomMatrix(5, 3000, 0)
	b, err := Train(context.Background(), m, nil, Params{"objective": "binary:logistic", "max_depth": 5}, 20)
	if err != nil {
		t.Fatal(err)
	}
	ckpt, err := b.SaveCheckpoint(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	p, err := NewPredictor(ckpt)
	if err != nil {
		t.Fatal(err)
	}
	if p.model.flat == nil {
		t.Fatal("a checkpoint SaveCheckpoint wrote was not compiled")
	}
	ens, _ := leavesOf(t, b)
	F := len(b.features)
	x := make([]float64, m.nrows*F)
	for j, c := range m.cols {
		for i, v := range c {
			x[i*F+j] = v
		}
	}
	withThresholds(b, x, F, 9)
	want := make([]float64, m.nrows)
	if err := ens.PredictDense(x, m.nrows, F, want, 0, 1); err != nil {
		t.Fatal(err)
	}
	cols := make([][]float64, F)
	for j := range cols {
		cols[j] = make([]float64, m.nrows)
		for i := range cols[j] {
			cols[j][i] = x[i*F+j]
		}
	}
	got, err := p.predictColumns(cols, m.nrows)
	if err != nil {
		t.Fatal(err)
	}
	sameBits(t, "checkpoint Predictor", got, want)

	var buf bytes.Buffer
	if err := b.SaveLightGBM(&buf); err != nil {
		t.Fatal(err)
	}
	foreign, err := CheckpointFromModel(t.TempDir(), FormatLightGBM, buf.Bytes())
	if err != nil {
		t.Fatal(err)
	}
	fm, _, err := LoadCheckpoint(foreign)
	if err != nil {
		t.Fatal(err)
	}
	if fm.flat != nil {
		t.Error("a model file from elsewhere was compiled; leaves should read it")
	}
}
