package gbdt

import (
	"bufio"
	"bytes"
	"math"
	"math/rand/v2"
	"testing"

	"github.com/dmitryikh/leaves"
)

// randomMatrix has NaNs, duplicated values, a constant and an all-NaN
// column, and values outside any training range when shifted.
func randomMatrix(seed uint64, n int, shift float64) *Matrix {
	rng := rand.New(rand.NewPCG(seed, 1))
	F := 6
	cols := make([][]float64, F)
	labels := make([]float64, n)
	for j := range cols {
		cols[j] = make([]float64, n)
	}
	for i := range n {
		cols[0][i] = rng.NormFloat64() + shift
		cols[1][i] = math.Round(rng.NormFloat64()*3) + shift // few distinct values
		cols[2][i] = rng.ExpFloat64() * 1000
		cols[3][i] = 7
		cols[4][i] = math.NaN()
		cols[5][i] = rng.NormFloat64()
		if rng.Float64() < 0.2 {
			cols[0][i] = math.NaN()
		}
		if rng.Float64() < 0.3 {
			cols[5][i] = math.NaN()
		}
		s := cols[0][i]
		if math.IsNaN(s) {
			s = 1.5
		}
		v := s + 0.3*cols[1][i] + math.Log1p(cols[2][i])/5
		if math.IsNaN(cols[5][i]) {
			v -= 1
		}
		labels[i] = float64(btoi(v+0.5*rng.NormFloat64() > 1))
	}
	m, _ := NewMatrix([]string{"a", "b c", "d", "const", "nan", "e"}, cols, labels)
	return m
}

func btoi(b bool) int {
	if b {
		return 1
	}
	return 0
}

// internalMargins scores m by walking the trees over binned rows, the way
// training does.
func internalMargins(b *Booster, m *Matrix) []float64 {
	K, F := b.cfg.numClass, len(b.features)
	bins := binMatrix(m, b.cuts, 1)
	out := make([]float64, m.nrows*K)
	for i := range out {
		out[i] = b.baseMargin
	}
	for ti, t := range b.trees {
		for i := range m.nrows {
			out[i*K+ti%K] += t.nodes[t.leafBinned(bins[i*F:(i+1)*F])].value
		}
	}
	return out
}

// TestLeavesAgreesWithTraining checks that the LightGBM file, read by
// leaves on raw values, reproduces the training-time tree walk on bins:
// thresholds, default directions for NaN, node numbering, base score.
func TestLeavesAgreesWithTraining(t *testing.T) {
	train := randomMatrix(1, 3000, 0)
	for name, params := range map[string]Params{
		"binary depth-wise": {"objective": BinaryLogistic, "max_depth": 5, "max_bin": 32},
		"binary leaf-wise":  {"objective": BinaryLogistic, "max_leaves": 12, "max_depth": 0, "base_score": 0.3},
		"regression":        {"objective": RegSquaredError, "max_depth": 3, "subsample": 0.7, "colsample_bytree": 0.5},
		"multiclass":        {"objective": MultiSoftprob, "num_class": 2, "max_depth": 4},
	} {
		t.Run(name, func(t *testing.T) {
			b, err := Train(t.Context(), train, nil, params, 12)
			if err != nil {
				t.Fatal(err)
			}
			var buf bytes.Buffer
			if err := b.SaveLightGBM(&buf); err != nil {
				t.Fatal(err)
			}
			ens, err := leaves.LGEnsembleFromReader(bufio.NewReader(bytes.NewReader(buf.Bytes())), false)
			if err != nil {
				t.Fatalf("leaves cannot read the model: %v\n%s", err, buf.String())
			}
			for _, test := range []*Matrix{train, randomMatrix(2, 500, 0), randomMatrix(3, 500, 10)} {
				want := internalMargins(b, test)
				got, err := b.PredictMargin(test)
				if err != nil {
					t.Fatal(err)
				}
				K := b.cfg.numClass
				direct := make([]float64, K)
				for i := range test.nrows {
					row := make([]float64, len(b.features))
					for j := range row {
						row[j] = test.cols[j][i]
					}
					if err := ens.Predict(row, 0, direct); err != nil {
						t.Fatal(err)
					}
					for k := range K {
						if math.Abs(got[i*K+k]-want[i*K+k]) > 1e-9 || math.Abs(direct[k]-want[i*K+k]) > 1e-9 {
							t.Fatalf("row %d class %d: leaves %v / %v, training walk %v", i, k, got[i*K+k], direct[k], want[i*K+k])
						}
					}
				}
			}
		})
	}
}

func TestCutsAreExactlyMergeable(t *testing.T) {
	rng := rand.New(rand.NewPCG(9, 9))
	col := make([]float64, 20000)
	for i := range col {
		switch i % 3 {
		case 0:
			col[i] = rng.NormFloat64() * 1e3
		case 1:
			col[i] = float64(rng.IntN(5))
		default:
			col[i] = math.NaN()
		}
	}
	whole := cutsFromSummary(summarize(col), 64)
	parts := []featureSummary{summarize(col[:7]), summarize(col[7:12000]), summarize(col[12000:])}
	merged := cutsFromSummary(mergeSummaries(parts), 64)
	if len(whole.cuts) != len(merged.cuts) || len(whole.cuts) > 63 || !whole.hasMissing {
		t.Fatalf("cuts: whole %d, merged %d", len(whole.cuts), len(merged.cuts))
	}
	for i := range whole.cuts {
		if whole.cuts[i] != merged.cuts[i] {
			t.Fatalf("cut %d: %v vs %v", i, whole.cuts[i], merged.cuts[i])
		}
	}
	// Bins hold about equal numbers of rows (the 5 integer values are heavy).
	counts := make([]int, whole.nb())
	for _, v := range col {
		if !math.IsNaN(v) {
			counts[whole.bin(v)]++
		}
	}
	for b, c := range counts {
		if c == 0 || c > 20000/3+1 {
			t.Errorf("bin %d holds %d rows", b, c)
		}
	}
	dec, err := decodeSummaries(encodeSummaries(parts))
	if err != nil || len(dec) != 3 || dec[1].missing != parts[1].missing || len(dec[2].buckets) != len(parts[2].buckets) {
		t.Errorf("summary encoding round trip: %v", err)
	}
}
