package gbdt

import (
	"context"
	"fmt"
	"math"
	"math/rand/v2"
	"slices"
	"sync"
	"testing"

	"github.com/goray/goray/train"
)

// TestMergeSummariesIsTheWholeSummary: merging the summaries of row
// shards gives exactly the summary of all the rows (same buckets, same
// counts, same missing count), for shards of every size including empty
// ones, and whatever the order of the parts; the summaries survive their
// wire encoding unchanged.
func TestMergeSummariesIsTheWholeSummary(t *testing.T) {
	rng := rand.New(rand.NewPCG(5, 6))
	col := make([]float64, 30000)
	for i := range col {
		switch i % 4 {
		case 0:
			col[i] = rng.NormFloat64()
		case 1:
			col[i] = float64(rng.IntN(7))
		case 2:
			col[i] = math.Ldexp(rng.Float64(), rng.IntN(2000)-1000) // very many binades
		default:
			col[i] = math.NaN()
		}
	}
	whole := summarize(col)
	for _, cuts := range [][]int{{0, 30000}, {0, 0, 30000}, {0, 7, 12000, 12000, 30000}, {0, 15000, 30000}, {0, 1, 2, 3, 29999, 30000}} {
		var parts []featureSummary
		for i := 1; i < len(cuts); i++ {
			parts = append(parts, summarize(col[cuts[i-1]:cuts[i]]))
		}
		reversed := slices.Clone(parts)
		slices.Reverse(reversed)
		for _, ps := range [][]featureSummary{parts, reversed} {
			dec, err := decodeSummaries(encodeSummaries(ps))
			if err != nil || len(dec) != len(ps) {
				t.Fatalf("shards %v: decode(encode(summaries)): %d summaries, %v", cuts, len(dec), err)
			}
			for i := range ps {
				if dec[i].missing != ps[i].missing || !slices.Equal(dec[i].buckets, ps[i].buckets) {
					t.Errorf("shards %v: summary %d changed in its encoding round trip", cuts, i)
				}
			}
			got := mergeSummaries(ps)
			if got.missing != whole.missing || !slices.Equal(got.buckets, whole.buckets) {
				t.Errorf("shards %v: merged summary has %d buckets (%d missing), the whole column %d (%d missing)",
					cuts, len(got.buckets), got.missing, len(whole.buckets), whole.missing)
			}
		}
	}
}

// BenchmarkComputeCutsTwoWorkers: the bin boundaries of 2 workers x 400k
// rows x 28 float32-valued features, through a local group.
func BenchmarkComputeCutsTwoWorkers(b *testing.B) {
	const n, F = 400_000, 28
	rng := rand.New(rand.NewPCG(1, 2))
	ms := make([]*Matrix, 2)
	for w := range ms {
		cols := make([][]float64, F)
		names := make([]string, F)
		for j := range cols {
			names[j] = fmt.Sprint("f", j)
			cols[j] = make([]float64, n)
			for i := range cols[j] {
				cols[j][i] = float64(float32(rng.NormFloat64()))
			}
		}
		m, err := NewMatrix(names, cols, nil)
		if err != nil {
			b.Fatal(err)
		}
		ms[w] = m
	}
	for b.Loop() {
		group := train.NewLocalGroup(2)
		var wg sync.WaitGroup
		for w := range 2 {
			wg.Go(func() {
				if _, err := computeCuts(context.Background(), ms[w], 256, 1, group[w]); err != nil {
					b.Error(err)
				}
			})
		}
		wg.Wait()
	}
}
