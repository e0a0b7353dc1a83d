//go:build openblas && cgo

// Package openblas, linked in by -tags openblas, sends the nn layers'
// float32 matrix products to OpenBLAS (Debian: apt-get install
// libopenblas-dev) with one thread per call (OPENBLAS_NUM_THREADS=1), since
// the layers already run one graph per core. The default build does not use
// it and stays free of cgo.
package openblas

/*
#cgo LDFLAGS: -lopenblas
#include <cblas-openblas.h>
*/
import "C"

import (
	"os"
	"unsafe"

	"github.com/goray/goray/train/nn/internal/sgemm"
)

func init() {
	os.Setenv("OPENBLAS_NUM_THREADS", "1")
	C.openblas_set_num_threads(1)
	sgemm.Replace(OpenBLAS, "OpenBLAS (cgo, 1 thread per call)")
}

// OpenBLAS calls cblas_sgemm on row-major matrices.
func OpenBLAS(tA, tB bool, m, n, k int, alpha float32, a []float32, lda int, b []float32, ldb int, beta float32, c []float32, ldc int) {
	if m == 0 || n == 0 {
		return
	}
	ta, tb := uint32(C.CblasNoTrans), uint32(C.CblasNoTrans)
	if tA {
		ta = C.CblasTrans
	}
	if tB {
		tb = C.CblasTrans
	}
	C.cblas_sgemm(C.CblasRowMajor, ta, tb, C.blasint(m), C.blasint(n), C.blasint(k), C.float(alpha),
		(*C.float)(unsafe.Pointer(&a[0])), C.blasint(lda), (*C.float)(unsafe.Pointer(&b[0])), C.blasint(ldb),
		C.float(beta), (*C.float)(unsafe.Pointer(&c[0])), C.blasint(ldc))
}
