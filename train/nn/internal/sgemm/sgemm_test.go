package sgemm

import (
	"fmt"
	"math"
	"math/rand/v2"
	"testing"
)

func naive(tA, tB bool, m, n, k int, alpha float32, a []float32, lda int, b []float32, ldb int, beta float32, c []float32, ldc int) {
	for i := 0; i < m; i++ {
		for j := 0; j < n; j++ {
			var s float64
			for p := 0; p < k; p++ {
				av, bv := a[i*lda+p], b[p*ldb+j]
				if tA {
					av = a[p*lda+i]
				}
				if tB {
					bv = b[j*ldb+p]
				}
				s += float64(av) * float64(bv)
			}
			c[i*ldc+j] = alpha*float32(s) + beta*c[i*ldc+j]
		}
	}
}

func TestPackedMatchesNaive(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 1))
	for _, sz := range [][3]int{{1, 1, 1}, {6, 16, 3}, {7, 17, 5}, {13, 40, 300}, {100, 530, 70}, {64, 256, 288}, {3, 2, 600}} {
		for _, tA := range []bool{false, true} {
			for _, tB := range []bool{false, true} {
				for _, beta := range []float32{0, 1, 0.5} {
					m, n, k := sz[0], sz[1], sz[2]
					lda, ldb, ldc := k+1, n+2, n+3
					if tA {
						lda = m + 1
					}
					if tB {
						ldb = k + 2
					}
					a := make([]float32, max(m, k)*lda)
					b := make([]float32, max(k, n)*ldb)
					c := make([]float32, m*ldc)
					for i := range a {
						a[i] = float32(rng.NormFloat64())
					}
					for i := range b {
						b[i] = float32(rng.NormFloat64())
					}
					for i := range c {
						c[i] = float32(rng.NormFloat64())
					}
					want := append([]float32(nil), c...)
					naive(tA, tB, m, n, k, 1.5, a, lda, b, ldb, beta, want, ldc)
					Packed(tA, tB, m, n, k, 1.5, a, lda, b, ldb, beta, c, ldc)
					for i := range c {
						if math.Abs(float64(c[i]-want[i])) > 1e-3*math.Sqrt(float64(k)) {
							t.Fatalf("%v tA=%v tB=%v beta=%v: c[%d]=%v want %v", sz, tA, tB, beta, i, c[i], want[i])
						}
					}
				}
			}
		}
	}
}

func BenchmarkSgemm(b *testing.B) {
	for _, sz := range [][3]int{{64, 256, 288}, {32, 128, 4096}, {256, 256, 256}} {
		m, n, k := sz[0], sz[1], sz[2]
		x, y, z := make([]float32, m*k), make([]float32, k*n), make([]float32, m*n)
		for i := range x {
			x[i] = float32(i%7) - 3
		}
		for i := range y {
			y[i] = float32(i%5) - 2
		}
		for name, f := range map[string]func(bool, bool, int, int, int, float32, []float32, int, []float32, int, float32, []float32, int){"packed": Packed, "gonum": Gonum} {
			b.Run(fmt.Sprintf("%s/%dx%dx%d", name, m, n, k), func(b *testing.B) {
				b.ReportAllocs()
				for b.Loop() {
					f(false, false, m, n, k, 1, x, k, y, n, 0, z, n)
				}
				b.ReportMetric(2*float64(m*n*k)*float64(b.N)/b.Elapsed().Seconds()/1e9, "GFLOPS")
			})
		}
	}
}

func TestMulPackedMatchesNaive(t *testing.T) {
	if !HaveKernel() {
		t.Skip("no kernel")
	}
	rng := rand.New(rand.NewPCG(2, 2))
	for _, sz := range [][3]int{{1, 1, 1}, {7, 17, 5}, {64, 256, 289}, {32, 1024, 28}, {13, 40, 800}} {
		for _, acc := range []bool{false, true} {
			m, n, k := sz[0], sz[1], sz[2]
			a, b := make([]float32, m*k), make([]float32, k*n)
			c := make([]float32, m*(n+1))
			for i := range a {
				a[i] = float32(rng.NormFloat64())
			}
			for i := range b {
				b[i] = float32(rng.NormFloat64())
			}
			for i := range c {
				c[i] = float32(rng.NormFloat64())
			}
			want := append([]float32(nil), c...)
			beta := float32(0)
			if acc {
				beta = 1
			}
			naive(false, false, m, n, k, 1, a, k, b, n, beta, want, n+1)
			var pa PackedA
			var pb PackedB
			PackA(&pa, false, m, k, a, k, 1)
			PackB(&pb, false, k, n, b, n)
			MulPacked(&pa, &pb, c, n+1, acc)
			for i := range c {
				if math.Abs(float64(c[i]-want[i])) > 1e-3*math.Sqrt(float64(k)) {
					t.Fatalf("%v acc=%v: c[%d]=%v want %v", sz, acc, i, c[i], want[i])
				}
			}
		}
	}
}
