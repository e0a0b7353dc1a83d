// Package sgemm is a float32 matrix product for the nn layers: packed panels
// and a 6×16 AVX2/FMA micro-kernel in Go assembly on amd64 (pure Go, no cgo),
// gonum's Sgemm elsewhere. Matrices are row-major.
package sgemm

import (
	"sync"

	"gonum.org/v1/gonum/blas"
	"gonum.org/v1/gonum/blas/gonum"
)

const (
	mr = 6   // rows of the micro-kernel tile
	nr = 16  // columns of the micro-kernel tile
	kc = 384 // depth of a packed block (a 16-column B panel is 24 KiB: L1)
	mc = 96  // rows of a packed A block (multiple of mr)
	nc = 384 // columns of a packed B block (multiple of nr; 576 KiB: L2)
)

// Impl computes C = alpha·op(A)·op(B) + beta·C, op(X) = Xᵀ when the flag is
// set; op(A) is m×k, op(B) is k×n. It may be replaced (the openblas build tag
// does) before any use.
var Impl func(tA, tB bool, m, n, k int, alpha float32, a []float32, lda int, b []float32, ldb int, beta float32, c []float32, ldc int) = defaultImpl

// Name says which implementation Impl is, for benchmark reports.
var Name = "gonum (pure Go)"

func defaultImpl(tA, tB bool, m, n, k int, alpha float32, a []float32, lda int, b []float32, ldb int, beta float32, c []float32, ldc int) {
	if haveKernel {
		Packed(tA, tB, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc)
		return
	}
	Gonum(tA, tB, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc)
}

// Gonum calls gonum's pure-Go Sgemm.
func Gonum(tA, tB bool, m, n, k int, alpha float32, a []float32, lda int, b []float32, ldb int, beta float32, c []float32, ldc int) {
	ta, tb := blas.NoTrans, blas.NoTrans
	if tA {
		ta = blas.Trans
	}
	if tB {
		tb = blas.Trans
	}
	gonum.Implementation{}.Sgemm(ta, tb, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc)
}

type buffers struct{ a, b []float32 }

var pool = sync.Pool{New: func() any {
	return &buffers{a: make([]float32, mc*kc), b: make([]float32, kc*nc)}
}}

// Packed is the blocked product with the assembly micro-kernel; it runs on
// the calling goroutine only (callers parallelise across graphs).
func Packed(tA, tB bool, m, n, k int, alpha float32, a []float32, lda int, b []float32, ldb int, beta float32, c []float32, ldc int) {
	if m == 0 || n == 0 {
		return
	}
	if beta != 1 {
		for i := 0; i < m; i++ {
			row := c[i*ldc : i*ldc+n]
			if beta == 0 {
				clear(row)
			} else {
				for j := range row {
					row[j] *= beta
				}
			}
		}
	}
	if k == 0 || alpha == 0 {
		return
	}
	buf := pool.Get().(*buffers)
	defer pool.Put(buf)
	var tile [mr * nr]float32
	for jc := 0; jc < n; jc += nc {
		nb := min(nc, n-jc)
		for pc := 0; pc < k; pc += kc {
			kb := min(kc, k-pc)
			packB(tB, b, ldb, pc, jc, kb, nb, buf.b)
			for ic := 0; ic < m; ic += mc {
				mb := min(mc, m-ic)
				packA(tA, a, lda, ic, pc, mb, kb, alpha, buf.a)
				for jr := 0; jr < nb; jr += nr {
					bp := buf.b[jr*kb:]
					cols := min(nr, nb-jr)
					for ir := 0; ir < mb; ir += mr {
						ap := buf.a[ir*kb:]
						rows := min(mr, mb-ir)
						ci := (ic+ir)*ldc + jc + jr
						if rows == mr && cols == nr {
							kernel(kb, &ap[0], &bp[0], &c[ci], ldc)
							continue
						}
						clear(tile[:])
						kernel(kb, &ap[0], &bp[0], &tile[0], nr)
						for r := 0; r < rows; r++ {
							dst := c[ci+r*ldc : ci+r*ldc+cols]
							for j := range dst {
								dst[j] += tile[r*nr+j]
							}
						}
					}
				}
			}
		}
	}
}

// packA stores alpha·op(A)[i0:i0+mb, p0:p0+kb] as panels of mr rows: panel
// q holds, for each p, the mr values of rows q·mr.., zero-padded.
func packA(tA bool, a []float32, lda, i0, p0, mb, kb int, alpha float32, dst []float32) {
	for q := 0; q < mb; q += mr {
		panel := dst[q*kb : q*kb+mr*kb]
		rows := min(mr, mb-q)
		for r := 0; r < mr; r++ {
			if r >= rows {
				for p := 0; p < kb; p++ {
					panel[p*mr+r] = 0
				}
				continue
			}
			i := i0 + q + r
			switch {
			case tA: // op(A)[i][p] = A[p][i]
				for p := 0; p < kb; p++ {
					panel[p*mr+r] = alpha * a[(p0+p)*lda+i]
				}
			case alpha == 1:
				src := a[i*lda+p0 : i*lda+p0+kb]
				dst := panel[r:]
				for p, v := range src {
					dst[p*mr] = v
				}
			default:
				src := a[i*lda+p0 : i*lda+p0+kb]
				for p, v := range src {
					panel[p*mr+r] = alpha * v
				}
			}
		}
	}
}

// packB stores op(B)[p0:p0+kb, j0:j0+nb] as panels of nr columns: panel q
// holds, for each p, the nr values of columns q·nr.., zero-padded.
func packB(tB bool, b []float32, ldb, p0, j0, kb, nb int, dst []float32) {
	for q := 0; q < nb; q += nr {
		panel := dst[q*kb : q*kb+nr*kb]
		cols := min(nr, nb-q)
		if !tB {
			for p := 0; p < kb; p++ {
				src := b[(p0+p)*ldb+j0+q : (p0+p)*ldb+j0+q+cols]
				d := panel[p*nr : p*nr+nr]
				copy(d, src)
				clear(d[cols:])
			}
			continue
		}
		// op(B)[p][j] = B[j][p]
		for j := 0; j < nr; j++ {
			if j >= cols {
				for p := 0; p < kb; p++ {
					panel[p*nr+j] = 0
				}
				continue
			}
			src := b[(j0+q+j)*ldb+p0 : (j0+q+j)*ldb+p0+kb]
			for p, v := range src {
				panel[p*nr+j] = v
			}
		}
	}
}

// PackedA is op(A) (m×k) stored as panels of mr rows over the whole depth:
// panel q holds, for each p < k, the mr values of rows q·mr.., zero-padded.
// Pack it once and reuse it across products (a layer's weights across the
// images of a batch).
type PackedA struct {
	M, K int
	Data []float32
}

// PackedB is op(B) (k×n) stored as panels of nr columns over the whole
// depth: panel q holds, for each p < k, the nr values of columns q·nr..,
// zero-padded. Layers may fill it directly (im2col into panels).
type PackedB struct {
	K, N int
	Data []float32
}

// PanelsA is the number of mr-row panels of an m-row matrix; PanelsB the
// number of nr-column panels of an n-column one.
func PanelsA(m int) int { return (m + mr - 1) / mr }
func PanelsB(n int) int { return (n + nr - 1) / nr }

// NR is the width of a B panel.
const NR = nr

// PackA packs alpha·op(A) into p, reusing p.Data when it is large enough.
func PackA(p *PackedA, tA bool, m, k int, a []float32, lda int, alpha float32) {
	p.M, p.K = m, k
	need := PanelsA(m) * mr * k
	if cap(p.Data) < need {
		p.Data = make([]float32, need)
	}
	p.Data = p.Data[:need]
	packA(tA, a, lda, 0, 0, m, k, alpha, p.Data)
}

// ResizeB sizes p for a k×n matrix and returns its data for the caller to
// fill panel by panel (panel q starts at q·k·NR; element (p, j) of the
// panel at p·NR+j).
func ResizeB(p *PackedB, k, n int) []float32 {
	p.K, p.N = k, n
	need := PanelsB(n) * nr * k
	if cap(p.Data) < need {
		p.Data = make([]float32, need)
	}
	p.Data = p.Data[:need]
	return p.Data
}

// PackB packs op(B) into p.
func PackB(p *PackedB, tB bool, k, n int, b []float32, ldb int) {
	packB(tB, b, ldb, 0, 0, k, n, ResizeB(p, k, n))
}

// MulPacked computes C = A·B (accumulate false) or C += A·B (true) from
// packed operands with the assembly kernel; callers check HaveKernel.
func MulPacked(a *PackedA, b *PackedB, c []float32, ldc int, accumulate bool) {
	m, n, k := a.M, b.N, a.K
	if a.K != b.K {
		panic("sgemm: MulPacked depth mismatch")
	}
	if k == 0 {
		if !accumulate {
			for i := 0; i < m; i++ {
				clear(c[i*ldc : i*ldc+n])
			}
		}
		return
	}
	var tile [mr * nr]float32
	for pc := 0; pc < k; pc += kc {
		kb := min(kc, k-pc)
		add := accumulate || pc > 0
		for q := 0; q*nr < n; q++ {
			bp := b.Data[q*nr*k+pc*nr:]
			cols := min(nr, n-q*nr)
			for r := 0; r*mr < m; r++ {
				ap := a.Data[r*mr*k+pc*mr:]
				rows := min(mr, m-r*mr)
				ci := r*mr*ldc + q*nr
				if rows == mr && cols == nr {
					if add {
						kernel(kb, &ap[0], &bp[0], &c[ci], ldc)
					} else {
						kernelStore(kb, &ap[0], &bp[0], &c[ci], ldc)
					}
					continue
				}
				kernelStore(kb, &ap[0], &bp[0], &tile[0], nr)
				for i := 0; i < rows; i++ {
					dst := c[ci+i*ldc : ci+i*ldc+cols]
					if add {
						for j := range dst {
							dst[j] += tile[i*nr+j]
						}
					} else {
						copy(dst, tile[i*nr:i*nr+cols])
					}
				}
			}
		}
	}
}

// HaveKernel reports whether the packed products (MulPacked) are the ones in
// use: amd64 with AVX2 and FMA, and Impl not replaced.
func HaveKernel() bool { return haveKernel && !replaced }

var replaced bool

// Replace installs another implementation (OpenBLAS) for every product,
// packed ones included; call it from an init function.
func Replace(impl func(tA, tB bool, m, n, k int, alpha float32, a []float32, lda int, b []float32, ldb int, beta float32, c []float32, ldc int), name string) {
	Impl, Name, replaced = impl, name, true
}
