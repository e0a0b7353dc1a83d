package nn

import "github.com/goray/goray/train/nn/internal/sgemm"

// BLAS names the float32 matrix-product implementation in use: the Go
// assembly kernel (default on amd64 with AVX2/FMA), gonum, or OpenBLAS when
// built with -tags openblas.
func BLAS() string { return sgemm.Name }
