package gbdt_test

import (
	"bytes"
	"encoding/csv"
	"math"
	"math/rand/v2"
	"os"
	"strconv"
	"strings"
	"testing"

	"github.com/goray/goray/train/gbdt"
)

// breastCancer reads testdata/breast_cancer.csv and returns a seeded 80/20
// split as (train, test) matrices.
func breastCancer(t testing.TB) (train, test *gbdt.Matrix) {
	t.Helper()
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
	perm := rand.New(rand.NewPCG(splitSeed, 7)).Perm(len(rows))
	nTest := len(rows) / 5
	build := func(idx []int) *gbdt.Matrix {
		cols := make([][]float64, F)
		labels := make([]float64, len(idx))
		for j := range cols {
			cols[j] = make([]float64, len(idx))
		}
		for i, r := range idx {
			for j := 0; j <= F; j++ {
				v, err := strconv.ParseFloat(rows[r][j], 64)
				if err != nil {
					t.Fatal(err)
				}
				if j == F {
					labels[i] = v
				} else {
					cols[j][i] = v
				}
			}
		}
		m, err := gbdt.NewMatrix(header[:F], cols, labels)
		if err != nil {
			t.Fatal(err)
		}
		return m
	}
	return build(perm[nTest:]), build(perm[:nTest])
}

func aucOf(labels, scores []float64) float64 {
	var wins, np, nn float64
	for i, yi := range labels {
		if yi != 1 {
			continue
		}
		np++
		for j, yj := range labels {
			if yj != 0 {
				continue
			}
			switch {
			case scores[i] > scores[j]:
				wins++
			case scores[i] == scores[j]:
				wins += 0.5
			}
		}
	}
	for _, y := range labels {
		if y == 0 {
			nn++
		}
	}
	return wins / (np * nn)
}

func loglossOf(labels, p []float64) float64 {
	var s float64
	for i, y := range labels {
		q := math.Min(math.Max(p[i], 1e-16), 1-1e-16)
		s -= y*math.Log(q) + (1-y)*math.Log(1-q)
	}
	return s / float64(len(labels))
}

// splitSeed picks the 80/20 split: on it XGBoost 1.7.4 (hist, same params, 20
// rounds) gets test AUC 0.9962 and logloss 0.0849; over seeds 1..12 XGBoost
// averages AUC 0.9942 / logloss 0.091 and this package 0.9946 / 0.088.
const splitSeed uint64 = 8

// synthetic returns n rows of F features drawn from N(0,1) (a fraction
// nanFrac of them NaN) and a label from fn applied to the clean row.
func synthetic(t testing.TB, seed uint64, n, F int, nanFrac float64, fn func(x []float64, rng *rand.Rand) float64) *gbdt.Matrix {
	t.Helper()
	rng := rand.New(rand.NewPCG(seed, 11))
	cols := make([][]float64, F)
	for j := range cols {
		cols[j] = make([]float64, n)
	}
	labels := make([]float64, n)
	x := make([]float64, F)
	for i := range n {
		for j := range F {
			x[j] = rng.NormFloat64()
			cols[j][i] = x[j]
			if rng.Float64() < nanFrac {
				cols[j][i] = math.NaN()
			}
		}
		labels[i] = fn(x, rng)
	}
	names := make([]string, F)
	for j := range names {
		names[j] = "x" + strconv.Itoa(j)
	}
	m, err := gbdt.NewMatrix(names, cols, labels)
	if err != nil {
		t.Fatal(err)
	}
	return m
}

type bytesBuffer = bytes.Buffer

// numLeaves lists num_leaves of every tree in a LightGBM model text.
func numLeaves(model string) []int {
	var out []int
	for _, line := range strings.Split(model, "\n") {
		if v, ok := strings.CutPrefix(line, "num_leaves="); ok {
			n, _ := strconv.Atoi(v)
			out = append(out, n)
		}
	}
	return out
}
