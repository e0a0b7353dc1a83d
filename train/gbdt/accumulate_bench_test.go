package gbdt

import (
	"fmt"
	"math/rand/v2"
	"syscall"
	"testing"
)

// BenchmarkAccumulate measures the histogram kernel on 800k x 28 bins for
// a node holding every row, or a random 1/4, 1/16 of them.
func BenchmarkAccumulate(b *testing.B) {
	const n, F = 800000, 28
	rng := rand.New(rand.NewPCG(1, 2))
	bins := make([]uint8, n*F, n*F+8)
	for i := range bins {
		bins[i] = uint8(rng.IntN(255))
	}
	gh := make([]ghPair, n)
	for i := range gh {
		gh[i] = ghPair{int32(rng.IntN(1 << 30)), int32(rng.IntN(1 << 30))}
	}
	for _, frac := range []float64{1, 0.25, 1.0 / 16} {
		var rows []int32
		for i := range n {
			if rng.Float64() < frac {
				rows = append(rows, int32(i))
			}
		}
		b.Run(fmt.Sprintf("rows=%.4f", frac), func(b *testing.B) {
			h := make(hist, F)
			b.ReportAllocs()
			cpu0 := cpuNanos()
			for b.Loop() {
				clear(h)
				accumulate(h, bins, F, rows, gh)
			}
			// CPU time is steadier than wall time on a shared machine.
			b.ReportMetric(float64(cpuNanos()-cpu0)/float64(b.N*len(rows)*F), "cpu-ns/row-feature")
		})
	}
}

func cpuNanos() int64 {
	var ru syscall.Rusage
	syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return ru.Utime.Nano() + ru.Stime.Nano()
}

func TestAccumulateGatherMatchesDirect(t *testing.T) {
	const n, F = 5000, 13
	rng := rand.New(rand.NewPCG(3, 4))
	bins := make([]uint8, n*F, n*F+8)
	for i := range bins {
		bins[i] = uint8(rng.IntN(256))
	}
	gh := make([]ghPair, n)
	for i := range gh {
		gh[i] = ghPair{int32(rng.IntN(2000) - 1000), int32(rng.IntN(1000))}
	}
	var sparse []int32
	for i := range n {
		if rng.IntN(10) == 0 || i == n-1 {
			sparse = append(sparse, int32(i))
		}
	}
	got := make(hist, F)
	accumulate(got, bins, F, sparse, gh) // gathers: rows are sparse
	want := make(hist, F)
	for _, r := range sparse {
		for f := range F {
			e := &want[f][bins[int(r)*F+f]]
			e.g += int64(gh[r].g)
			e.h += int64(gh[r].h)
		}
	}
	for f := range F {
		if got[f] != want[f] {
			t.Fatalf("feature %d histogram differs", f)
		}
	}
}
