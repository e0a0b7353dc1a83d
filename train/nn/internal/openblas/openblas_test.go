//go:build openblas && cgo

package openblas

import (
	"testing"

	"github.com/goray/goray/train/nn/internal/sgemm"
)

func TestOpenBLASMatchesPacked(t *testing.T) {
	m, n, k := 37, 53, 71
	a, b := make([]float32, m*k), make([]float32, k*n)
	for i := range a {
		a[i] = float32(i%13) - 6
	}
	for i := range b {
		b[i] = float32(i%7) - 3
	}
	for _, tA := range []bool{false, true} {
		for _, tB := range []bool{false, true} {
			lda, ldb := k, n
			if tA {
				lda = m
			}
			if tB {
				ldb = k
			}
			c1, c2 := make([]float32, m*n), make([]float32, m*n)
			OpenBLAS(tA, tB, m, n, k, 1, a, lda, b, ldb, 0, c1, n)
			sgemm.Packed(tA, tB, m, n, k, 1, a, lda, b, ldb, 0, c2, n)
			for i := range c1 {
				if c1[i] != c2[i] { // small integers: exact in float32
					t.Fatalf("tA=%v tB=%v: c[%d] %v vs %v", tA, tB, i, c1[i], c2[i])
				}
			}
		}
	}
}
