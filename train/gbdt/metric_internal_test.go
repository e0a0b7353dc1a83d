package gbdt

import (
	"math"
	"math/rand/v2"
	"testing"
)

// TestLoglossTermsBitIdentical: the logloss kernel gives, bit for bit, the
// sum of the per-row terms computed one row at a time with math.Min and
// math.Max clamping and one log per 16 rows of 0/1 labels, with
// probabilities at and past the clamp (0, 1, 1e-17), from probabilities or
// margins, and with labels other than 0 and 1 (fractional, as a direct
// caller of the metric may pass) at any position.
func TestLoglossTermsBitIdentical(t *testing.T) {
	// want is the row-at-a-time definition.
	want := func(labels, prob []float64) float64 {
		var sum float64
		prod, in := 1.0, 0
		for i, y := range labels {
			p := math.Min(math.Max(prob[i], probEps), 1-probEps)
			switch y {
			case 1:
				prod *= p
			case 0:
				prod *= 1 - p
			default:
				sum -= y*math.Log(p) + (1-y)*math.Log(1-p)
				continue
			}
			if in++; in == 16 {
				sum -= math.Log(prod)
				prod, in = 1, 0
			}
		}
		return sum - math.Log(prod)
	}
	rng := rand.New(rand.NewPCG(3, 4))
	for _, tc := range []struct {
		name  string
		n     int
		other []int // rows whose label is 0.25
	}{
		{"binary", 5000, nil},
		{"binary, partial last group", 5011, nil},
		{"fractional label in the middle", 5000, []int{1000}},
		{"fractional labels late and first", 4099, []int{4090, 0}},
	} {
		labels, margin, prob := make([]float64, tc.n), make([]float64, tc.n), make([]float64, tc.n)
		for i := range tc.n {
			labels[i] = float64(rng.IntN(2))
			margin[i] = 80 * (rng.Float64() - 0.5)
			prob[i] = sigmoid(margin[i])
		}
		prob[1], prob[2], prob[3], prob[4] = 0, 1, 1e-17, 1-1e-17
		labels[1], labels[2], labels[3], labels[4] = 1, 0, 1, 0
		for _, i := range tc.other {
			labels[i] = 0.25
		}
		if got, w := metricTerms("logloss", BinaryLogistic, 1, labels, margin, prob), want(labels, prob); math.Float64bits(got) != math.Float64bits(w) {
			t.Errorf("%s: logloss from probabilities = %v, want %v", tc.name, got, w)
		}
		fromMargin := make([]float64, tc.n)
		for i, m := range margin {
			fromMargin[i] = sigmoid(m)
		}
		if got, w := metricTerms("logloss", BinaryLogistic, 1, labels, margin, nil), want(labels, fromMargin); math.Float64bits(got) != math.Float64bits(w) {
			t.Errorf("%s: logloss from margins = %v, want %v", tc.name, got, w)
		}
	}
}

// BenchmarkMetricLogloss: the per-round training logloss of 800k rows.
func BenchmarkMetricLogloss(b *testing.B) {
	rng := rand.New(rand.NewPCG(1, 2))
	const n = 800_000
	labels, margin, prob := make([]float64, n), make([]float64, n), make([]float64, n)
	for i := range n {
		labels[i] = float64(rng.IntN(2))
		margin[i] = 4 * rng.NormFloat64()
		prob[i] = sigmoid(margin[i])
	}
	for b.Loop() {
		metricSum("logloss", BinaryLogistic, 1, labels, margin, prob, 1)
	}
}
