package nn

// Custom gorgonia operations for the layers. Gorgonia's built-in Conv2d,
// MaxPool2D and Mul transpose and copy tensors on every call and allocate a
// fresh output for every run of the tape machine; these operations call BLAS
// directly on the row-major data, keep their output buffers between runs and
// skip the input gradient of the first layer. Every operation is checked
// against finite differences in grad_test.go.
//
// An operation value belongs to exactly one graph (it owns its output buffer),
// which is why each replica builds its own graph.

import (
	"fmt"
	"hash"
	"hash/fnv"
	"math"
	"sync/atomic"

	"github.com/chewxy/hm"
	"gonum.org/v1/gonum/blas"
	"gonum.org/v1/gonum/blas/gonum"
	G "gorgonia.org/gorgonia"
	"gorgonia.org/tensor"

	"github.com/goray/goray/train/nn/internal/sgemm"
)

type float interface{ ~float32 | ~float64 }

var opIDs atomic.Uint64

// opBase gives every operation a unique identity, so gorgonia never merges two
// operation nodes, and an output buffer reused across runs.
type opBase struct {
	id  uint64
	out *tensor.Dense
}

func newBase() opBase { return opBase{id: opIDs.Add(1)} }

func (o *opBase) ReturnsPtr() bool     { return false }
func (o *opBase) CallsExtern() bool    { return false }
func (o *opBase) OverwritesInput() int { return -1 }

func (o *opBase) hash(h hash.Hash, name string) { fmt.Fprintf(h, "goray.nn.%s#%d", name, o.id) }

func hashOf(op G.Op) uint32 {
	h := fnv.New32a()
	op.WriteHash(h)
	return h.Sum32()
}

// buffer returns the operation's output tensor with the given shape, reusing
// the previous run's backing array when it fits. Contents are unspecified.
func (o *opBase) buffer(dt tensor.Dtype, shape ...int) *tensor.Dense {
	n := 1
	for _, s := range shape {
		n *= s
	}
	if o.out != nil && o.out.Dtype() == dt && o.out.DataSize() == n {
		if !o.out.Shape().Eq(tensor.Shape(shape)) {
			if err := o.out.Reshape(shape...); err != nil {
				panic(err)
			}
		}
		return o.out
	}
	o.out = tensor.New(tensor.Of(dt), tensor.WithShape(shape...))
	return o.out
}

func tensorT(dims int) hm.Type {
	return &G.TensorType{Dims: dims, Of: hm.TypeVariable('a')}
}

func dense(v G.Value) *tensor.Dense { return v.(*tensor.Dense) }

// gemm is C = alpha·op(A)·op(B) + beta·C on row-major matrices: float32
// through sgemm.Impl (the assembly kernel, or OpenBLAS with -tags openblas),
// float64 (gradient checks) through gonum.
func gemm[T float](tA, tB bool, m, n, k int, alpha T, a []T, lda int, b []T, ldb int, beta T, c []T, ldc int) {
	ta, tb := blas.NoTrans, blas.NoTrans
	if tA {
		ta = blas.Trans
	}
	if tB {
		tb = blas.Trans
	}
	switch a := any(a).(type) {
	case []float32:
		sgemm.Impl(tA, tB, m, n, k, float32(alpha), a, lda, any(b).([]float32), ldb, float32(beta), any(c).([]float32), ldc)
	case []float64:
		gonum.Implementation{}.Dgemm(ta, tb, m, n, k, float64(alpha), a, lda, any(b).([]float64), ldb, float64(beta), any(c).([]float64), ldc)
	}
}

// ---------------------------------------------------------------------------
// Dense: y = x·W + b, x (N×in), W (in×out), b (out).

type denseOp struct {
	opBase
	inputGrad bool
}

func (o *denseOp) Arity() int            { return 3 }
func (o *denseOp) Type() hm.Type         { return hm.NewFnType(tensorT(2), tensorT(2), tensorT(1), tensorT(2)) }
func (o *denseOp) String() string        { return "Dense" }
func (o *denseOp) Hashcode() uint32      { return hashOf(o) }
func (o *denseOp) WriteHash(h hash.Hash) { o.hash(h, "Dense") }
func (o *denseOp) InferShape(in ...G.DimSizer) (tensor.Shape, error) {
	x, w := in[0].(tensor.Shape), in[1].(tensor.Shape)
	return tensor.Shape{x[0], w[1]}, nil
}

func (o *denseOp) Do(in ...G.Value) (G.Value, error) {
	x, w, b := dense(in[0]), dense(in[1]), dense(in[2])
	n, k, m := x.Shape()[0], x.Shape()[1], w.Shape()[1]
	out := o.buffer(x.Dtype(), n, m)
	switch xd := x.Data().(type) {
	case []float32:
		denseFwd(xd, w.Data().([]float32), b.Data().([]float32), out.Data().([]float32), n, k, m)
	case []float64:
		denseFwd(xd, w.Data().([]float64), b.Data().([]float64), out.Data().([]float64), n, k, m)
	}
	return out, nil
}

func denseFwd[T float](x, w, b, y []T, n, k, m int) {
	for i := 0; i < n; i++ {
		copy(y[i*m:(i+1)*m], b)
	}
	gemm(false, false, n, m, k, 1, x, k, w, m, 1, y, m)
}

func (o *denseOp) DiffWRT(int) []bool { return []bool{o.inputGrad, true, true} }

func (o *denseOp) SymDiff(in G.Nodes, _, grad *G.Node) (G.Nodes, error) {
	var dx *G.Node
	var err error
	if o.inputGrad {
		if dx, err = G.ApplyOp(&denseGradXOp{opBase: newBase()}, grad, in[1]); err != nil {
			return nil, err
		}
	}
	dw, err := G.ApplyOp(&denseGradWOp{opBase: newBase()}, in[0], grad)
	if err != nil {
		return nil, err
	}
	db, err := G.ApplyOp(&colSumOp{opBase: newBase(), dims: 2}, grad)
	if err != nil {
		return nil, err
	}
	return G.Nodes{dx, dw, db}, nil
}

// denseGradXOp: dx = dy·Wᵀ.
type denseGradXOp struct{ opBase }

func (o *denseGradXOp) Arity() int            { return 2 }
func (o *denseGradXOp) Type() hm.Type         { return hm.NewFnType(tensorT(2), tensorT(2), tensorT(2)) }
func (o *denseGradXOp) String() string        { return "DenseGradX" }
func (o *denseGradXOp) Hashcode() uint32      { return hashOf(o) }
func (o *denseGradXOp) WriteHash(h hash.Hash) { o.hash(h, "DenseGradX") }
func (o *denseGradXOp) InferShape(in ...G.DimSizer) (tensor.Shape, error) {
	dy, w := in[0].(tensor.Shape), in[1].(tensor.Shape)
	return tensor.Shape{dy[0], w[0]}, nil
}
func (o *denseGradXOp) Do(in ...G.Value) (G.Value, error) {
	dy, w := dense(in[0]), dense(in[1])
	n, m, k := dy.Shape()[0], dy.Shape()[1], w.Shape()[0]
	out := o.buffer(dy.Dtype(), n, k)
	switch d := dy.Data().(type) {
	case []float32:
		gemm(false, true, n, k, m, 1, d, m, w.Data().([]float32), m, 0, out.Data().([]float32), k)
	case []float64:
		gemm(false, true, n, k, m, 1, d, m, w.Data().([]float64), m, 0, out.Data().([]float64), k)
	}
	return out, nil
}

// denseGradWOp: dW = xᵀ·dy.
type denseGradWOp struct{ opBase }

func (o *denseGradWOp) Arity() int            { return 2 }
func (o *denseGradWOp) Type() hm.Type         { return hm.NewFnType(tensorT(2), tensorT(2), tensorT(2)) }
func (o *denseGradWOp) String() string        { return "DenseGradW" }
func (o *denseGradWOp) Hashcode() uint32      { return hashOf(o) }
func (o *denseGradWOp) WriteHash(h hash.Hash) { o.hash(h, "DenseGradW") }
func (o *denseGradWOp) InferShape(in ...G.DimSizer) (tensor.Shape, error) {
	x, dy := in[0].(tensor.Shape), in[1].(tensor.Shape)
	return tensor.Shape{x[1], dy[1]}, nil
}
func (o *denseGradWOp) Do(in ...G.Value) (G.Value, error) {
	x, dy := dense(in[0]), dense(in[1])
	n, k, m := x.Shape()[0], x.Shape()[1], dy.Shape()[1]
	out := o.buffer(x.Dtype(), k, m)
	switch d := x.Data().(type) {
	case []float32:
		gemm(true, false, k, m, n, 1, d, k, dy.Data().([]float32), m, 0, out.Data().([]float32), m)
	case []float64:
		gemm(true, false, k, m, n, 1, d, k, dy.Data().([]float64), m, 0, out.Data().([]float64), m)
	}
	return out, nil
}

// colSumOp sums a (N×M) matrix over its rows, or a (N×C×H×W) tensor over N,
// H and W: the gradient of a bias.
type colSumOp struct {
	opBase
	dims int // of the input: 2 or 4
}

func (o *colSumOp) Arity() int            { return 1 }
func (o *colSumOp) Type() hm.Type         { return hm.NewFnType(tensorT(o.dims), tensorT(1)) }
func (o *colSumOp) String() string        { return "BiasGrad" }
func (o *colSumOp) Hashcode() uint32      { return hashOf(o) }
func (o *colSumOp) WriteHash(h hash.Hash) { o.hash(h, "BiasGrad") }
func (o *colSumOp) InferShape(in ...G.DimSizer) (tensor.Shape, error) {
	return tensor.Shape{in[0].(tensor.Shape)[1]}, nil
}
func (o *colSumOp) Do(in ...G.Value) (G.Value, error) {
	dy := dense(in[0])
	s := dy.Shape()
	n, c, hw := s[0], s[1], 1
	for _, d := range s[2:] {
		hw *= d
	}
	out := o.buffer(dy.Dtype(), c)
	switch d := dy.Data().(type) {
	case []float32:
		biasGrad(d, out.Data().([]float32), n, c, hw)
	case []float64:
		biasGrad(d, out.Data().([]float64), n, c, hw)
	}
	return out, nil
}

func biasGrad[T float](dy, db []T, n, c, hw int) {
	clear(db)
	for i := 0; i < n; i++ {
		for j := 0; j < c; j++ {
			var s T
			for _, v := range dy[(i*c+j)*hw : (i*c+j+1)*hw] {
				s += v
			}
			db[j] += s
		}
	}
}

// ---------------------------------------------------------------------------
// Conv2D over NCHW with square kernel, stride and zero padding.
// x (N×C×H×W), W (O×C×K×K), b (O) → y (N×O×OH×OW), computed per image as
// W(O × C·K·K) · im2col(x)(C·K·K × OH·OW).

type convGeom struct{ c, h, w, o, k, stride, pad, oh, ow int }

func (g convGeom) colRows() int { return g.c * g.k * g.k }
func (g convGeom) colCols() int { return g.oh * g.ow }

type conv2dOp struct {
	opBase
	g         convGeom
	inputGrad bool
	col       any // scratch im2col buffer ([]float32 or []float64)

	// float32 fast path: [W | b] packed once per run, each image's im2col
	// written straight into packed panels (with a row of ones for the bias).
	wb []float32
	pa sgemm.PackedA
	pb sgemm.PackedB
}

func (o *conv2dOp) Arity() int { return 3 }
func (o *conv2dOp) Type() hm.Type {
	return hm.NewFnType(tensorT(4), tensorT(4), tensorT(1), tensorT(4))
}
func (o *conv2dOp) String() string        { return "Conv2D" }
func (o *conv2dOp) Hashcode() uint32      { return hashOf(o) }
func (o *conv2dOp) WriteHash(h hash.Hash) { o.hash(h, "Conv2D") }
func (o *conv2dOp) InferShape(in ...G.DimSizer) (tensor.Shape, error) {
	x := in[0].(tensor.Shape)
	return tensor.Shape{x[0], o.g.o, o.g.oh, o.g.ow}, nil
}

func scratch[T float](p *any, n int) []T {
	if s, ok := (*p).([]T); ok && len(s) >= n {
		return s[:n]
	}
	s := make([]T, n)
	*p = s
	return s
}

func (o *conv2dOp) Do(in ...G.Value) (G.Value, error) {
	x, w, b := dense(in[0]), dense(in[1]), dense(in[2])
	n := x.Shape()[0]
	out := o.buffer(x.Dtype(), n, o.g.o, o.g.oh, o.g.ow)
	switch xd := x.Data().(type) {
	case []float32:
		if sgemm.HaveKernel() {
			o.fwd32(xd, w.Data().([]float32), b.Data().([]float32), out.Data().([]float32), n)
			break
		}
		convFwd(o.g, xd, w.Data().([]float32), b.Data().([]float32), out.Data().([]float32), scratch[float32](&o.col, o.g.colRows()*o.g.colCols()), n)
	case []float64:
		convFwd(o.g, xd, w.Data().([]float64), b.Data().([]float64), out.Data().([]float64), scratch[float64](&o.col, o.g.colRows()*o.g.colCols()), n)
	}
	return out, nil
}

// fwd32 computes y_i = [W | b]·[im2col(x_i); 1] for every image.
func (o *conv2dOp) fwd32(x, w, b, y []float32, n int) {
	g := o.g
	k := g.colRows()
	if len(o.wb) != g.o*(k+1) {
		o.wb = make([]float32, g.o*(k+1))
	}
	for r := 0; r < g.o; r++ {
		copy(o.wb[r*(k+1):r*(k+1)+k], w[r*k:(r+1)*k])
		o.wb[r*(k+1)+k] = b[r]
	}
	sgemm.PackA(&o.pa, false, g.o, k+1, o.wb, k+1, 1)
	in, outSz := g.c*g.h*g.w, g.o*g.oh*g.ow
	row := scratch[float32](&o.col, g.colCols())
	for i := 0; i < n; i++ {
		im2colPacked(g, x[i*in:(i+1)*in], &o.pb, row)
		sgemm.MulPacked(&o.pa, &o.pb, y[i*outSz:(i+1)*outSz], g.colCols(), false)
	}
}

// im2colPacked writes [im2col(x); 1] (colRows+1 × colCols) into pb's panels.
// With stride 1 and output rows a multiple of the panel width, each panel
// row is a run of consecutive input pixels copied directly; otherwise each
// im2col row goes through the scratch row.
func im2colPacked(g convGeom, x []float32, pb *sgemm.PackedB, row []float32) {
	k, cols := g.colRows(), g.colCols()
	const nr = sgemm.NR
	data := sgemm.ResizeB(pb, k+1, cols)
	depth := (k + 1) * nr // floats per panel
	direct := g.stride == 1 && g.ow%nr == 0
	for c := 0; c < g.c; c++ {
		xc := x[c*g.h*g.w : (c+1)*g.h*g.w]
		for ki := 0; ki < g.k; ki++ {
			for kj := 0; kj < g.k; kj++ {
				r := (c*g.k+ki)*g.k + kj
				if !direct {
					im2colRow(g, xc, ki, kj, row)
					for q := 0; q*nr < cols; q++ {
						d := data[q*depth+r*nr : q*depth+r*nr+nr]
						m := copy(d, row[q*nr:min(cols, q*nr+nr)])
						clear(d[m:])
					}
					continue
				}
				for oy := 0; oy < g.oh; oy++ {
					iy := oy - g.pad + ki
					for ox0 := 0; ox0 < g.ow; ox0 += nr {
						q := (oy*g.ow + ox0) / nr
						d := data[q*depth+r*nr : q*depth+r*nr+nr]
						if iy < 0 || iy >= g.h {
							clear(d)
							continue
						}
						src := xc[iy*g.w : (iy+1)*g.w]
						// ix = ox0+t-pad+kj for t < nr; copy the part inside the row.
						lo := max(0, g.pad-kj-ox0)
						hi := min(nr, g.w+g.pad-kj-ox0)
						if lo == 0 && hi == nr { // interior: a fixed-size move, no calls
							*(*[nr]float32)(d) = *(*[nr]float32)(src[ox0-g.pad+kj:])
							continue
						}
						clear(d[:lo])
						if hi > lo {
							copy(d[lo:hi], src[ox0+lo-g.pad+kj:ox0+hi-g.pad+kj])
						} else {
							hi = lo
						}
						clear(d[hi:])
					}
				}
			}
		}
	}
	for q := 0; q*nr < cols; q++ {
		d := data[q*depth+k*nr : q*depth+k*nr+nr]
		for j := range d {
			d[j] = 1
		}
	}
}

// im2colRow writes row (c, ki, kj) of im2col for channel plane xc.
func im2colRow(g convGeom, xc []float32, ki, kj int, d []float32) {
	for oy := 0; oy < g.oh; oy++ {
		iy := oy*g.stride - g.pad + ki
		dr := d[oy*g.ow : (oy+1)*g.ow]
		if iy < 0 || iy >= g.h {
			clear(dr)
			continue
		}
		src := xc[iy*g.w : (iy+1)*g.w]
		for ox := range dr {
			ix := ox*g.stride - g.pad + kj
			if ix < 0 || ix >= g.w {
				dr[ox] = 0
			} else {
				dr[ox] = src[ix]
			}
		}
	}
}

func convFwd[T float](g convGeom, x, w, b, y, col []T, n int) {
	in, outSz := g.c*g.h*g.w, g.o*g.oh*g.ow
	cols := g.colCols()
	for i := 0; i < n; i++ {
		yi := y[i*outSz : (i+1)*outSz]
		for o := 0; o < g.o; o++ {
			row := yi[o*cols : (o+1)*cols]
			for j := range row {
				row[j] = b[o]
			}
		}
		if g.k == 1 && g.stride == 1 && g.pad == 0 {
			gemm(false, false, g.o, cols, g.c, 1, w, g.c, x[i*in:(i+1)*in], cols, 1, yi, cols)
			continue
		}
		im2col(g, x[i*in:(i+1)*in], col)
		gemm(false, false, g.o, cols, g.colRows(), 1, w, g.colRows(), col, cols, 1, yi, cols)
	}
}

// im2col writes col[(c·K+ki)·K+kj][oy·OW+ox] = x[c][oy·s-p+ki][ox·s-p+kj] (0 outside).
func im2col[T float](g convGeom, x, col []T) {
	cols := g.colCols()
	for c := 0; c < g.c; c++ {
		xc := x[c*g.h*g.w : (c+1)*g.h*g.w]
		for ki := 0; ki < g.k; ki++ {
			for kj := 0; kj < g.k; kj++ {
				dst := col[((c*g.k+ki)*g.k+kj)*cols:]
				for oy := 0; oy < g.oh; oy++ {
					iy := oy*g.stride - g.pad + ki
					d := dst[oy*g.ow : (oy+1)*g.ow]
					if iy < 0 || iy >= g.h {
						clear(d)
						continue
					}
					src := xc[iy*g.w : (iy+1)*g.w]
					if g.stride == 1 {
						// ix = ox - pad + kj: copy the valid run, zero the edges.
						lo, hi := g.pad-kj, g.w+g.pad-kj // ox range with 0 <= ix < w
						lo, hi = max(lo, 0), min(hi, g.ow)
						clear(d[:lo])
						if hi > lo {
							copy(d[lo:hi], src[lo-g.pad+kj:hi-g.pad+kj])
						} else {
							hi = lo
						}
						clear(d[hi:])
						continue
					}
					for ox := range d {
						ix := ox*g.stride - g.pad + kj
						if ix < 0 || ix >= g.w {
							d[ox] = 0
						} else {
							d[ox] = src[ix]
						}
					}
				}
			}
		}
	}
}

// col2im adds col back into dx (the adjoint of im2col).
func col2im[T float](g convGeom, col, dx []T) {
	cols := g.colCols()
	for c := 0; c < g.c; c++ {
		xc := dx[c*g.h*g.w : (c+1)*g.h*g.w]
		for ki := 0; ki < g.k; ki++ {
			for kj := 0; kj < g.k; kj++ {
				src := col[((c*g.k+ki)*g.k+kj)*cols:]
				for oy := 0; oy < g.oh; oy++ {
					iy := oy*g.stride - g.pad + ki
					if iy < 0 || iy >= g.h {
						continue
					}
					s := src[oy*g.ow : (oy+1)*g.ow]
					d := xc[iy*g.w : (iy+1)*g.w]
					for ox, v := range s {
						ix := ox*g.stride - g.pad + kj
						if ix >= 0 && ix < g.w {
							d[ix] += v
						}
					}
				}
			}
		}
	}
}

func (o *conv2dOp) DiffWRT(int) []bool { return []bool{o.inputGrad, true, true} }

func (o *conv2dOp) SymDiff(in G.Nodes, _, grad *G.Node) (G.Nodes, error) {
	var dx *G.Node
	var err error
	if o.inputGrad {
		if dx, err = G.ApplyOp(&convGradXOp{opBase: newBase(), g: o.g}, in[1], grad); err != nil {
			return nil, err
		}
	}
	dw, err := G.ApplyOp(&convGradWOp{opBase: newBase(), g: o.g}, in[0], grad)
	if err != nil {
		return nil, err
	}
	db, err := G.ApplyOp(&colSumOp{opBase: newBase(), dims: 4}, grad)
	if err != nil {
		return nil, err
	}
	return G.Nodes{dx, dw, db}, nil
}

// convGradXOp: dx = col2im(Wᵀ·dy) per image.
type convGradXOp struct {
	opBase
	g   convGeom
	col any
	pa  sgemm.PackedA // Wᵀ, packed once per run (float32 fast path)
	pb  sgemm.PackedB
}

func (o *convGradXOp) Arity() int            { return 2 }
func (o *convGradXOp) Type() hm.Type         { return hm.NewFnType(tensorT(4), tensorT(4), tensorT(4)) }
func (o *convGradXOp) String() string        { return "Conv2DGradX" }
func (o *convGradXOp) Hashcode() uint32      { return hashOf(o) }
func (o *convGradXOp) WriteHash(h hash.Hash) { o.hash(h, "Conv2DGradX") }
func (o *convGradXOp) InferShape(in ...G.DimSizer) (tensor.Shape, error) {
	dy := in[1].(tensor.Shape)
	return tensor.Shape{dy[0], o.g.c, o.g.h, o.g.w}, nil
}
func (o *convGradXOp) Do(in ...G.Value) (G.Value, error) {
	w, dy := dense(in[0]), dense(in[1])
	n := dy.Shape()[0]
	out := o.buffer(dy.Dtype(), n, o.g.c, o.g.h, o.g.w)
	switch d := dy.Data().(type) {
	case []float32:
		col := scratch[float32](&o.col, o.g.colRows()*o.g.colCols())
		if sgemm.HaveKernel() && !(o.g.k == 1 && o.g.stride == 1 && o.g.pad == 0) {
			o.gradX32(w.Data().([]float32), d, out.Data().([]float32), col, n)
			break
		}
		convGradX(o.g, w.Data().([]float32), d, out.Data().([]float32), col, n)
	case []float64:
		convGradX(o.g, w.Data().([]float64), d, out.Data().([]float64), scratch[float64](&o.col, o.g.colRows()*o.g.colCols()), n)
	}
	return out, nil
}

// gradX32 is convGradX with Wᵀ packed once for all images.
func (o *convGradXOp) gradX32(w, dy, dx, col []float32, n int) {
	g := o.g
	in, outSz := g.c*g.h*g.w, g.o*g.oh*g.ow
	cols, rows := g.colCols(), g.colRows()
	sgemm.PackA(&o.pa, true, rows, g.o, w, rows, 1)
	clear(dx)
	for i := 0; i < n; i++ {
		sgemm.PackB(&o.pb, false, g.o, cols, dy[i*outSz:(i+1)*outSz], cols)
		sgemm.MulPacked(&o.pa, &o.pb, col, cols, false)
		col2im(g, col, dx[i*in:(i+1)*in])
	}
}

func convGradX[T float](g convGeom, w, dy, dx, col []T, n int) {
	in, outSz := g.c*g.h*g.w, g.o*g.oh*g.ow
	cols, rows := g.colCols(), g.colRows()
	clear(dx)
	for i := 0; i < n; i++ {
		if g.k == 1 && g.stride == 1 && g.pad == 0 {
			gemm(true, false, g.c, cols, g.o, 1, w, g.c, dy[i*outSz:(i+1)*outSz], cols, 0, dx[i*in:(i+1)*in], cols)
			continue
		}
		gemm(true, false, rows, cols, g.o, 1, w, rows, dy[i*outSz:(i+1)*outSz], cols, 0, col, cols)
		col2im(g, col, dx[i*in:(i+1)*in])
	}
}

// convGradWOp: dW = Σ_images dy·im2col(x)ᵀ.
type convGradWOp struct {
	opBase
	g   convGeom
	col any
}

func (o *convGradWOp) Arity() int            { return 2 }
func (o *convGradWOp) Type() hm.Type         { return hm.NewFnType(tensorT(4), tensorT(4), tensorT(4)) }
func (o *convGradWOp) String() string        { return "Conv2DGradW" }
func (o *convGradWOp) Hashcode() uint32      { return hashOf(o) }
func (o *convGradWOp) WriteHash(h hash.Hash) { o.hash(h, "Conv2DGradW") }
func (o *convGradWOp) InferShape(...G.DimSizer) (tensor.Shape, error) {
	return tensor.Shape{o.g.o, o.g.c, o.g.k, o.g.k}, nil
}
func (o *convGradWOp) Do(in ...G.Value) (G.Value, error) {
	x, dy := dense(in[0]), dense(in[1])
	n := x.Shape()[0]
	out := o.buffer(x.Dtype(), o.g.o, o.g.c, o.g.k, o.g.k)
	switch d := x.Data().(type) {
	case []float32:
		convGradW(o.g, d, dy.Data().([]float32), out.Data().([]float32), scratch[float32](&o.col, o.g.colRows()*o.g.colCols()), n)
	case []float64:
		convGradW(o.g, d, dy.Data().([]float64), out.Data().([]float64), scratch[float64](&o.col, o.g.colRows()*o.g.colCols()), n)
	}
	return out, nil
}

func convGradW[T float](g convGeom, x, dy, dw, col []T, n int) {
	in, outSz := g.c*g.h*g.w, g.o*g.oh*g.ow
	cols, rows := g.colCols(), g.colRows()
	clear(dw)
	for i := 0; i < n; i++ {
		xi := x[i*in : (i+1)*in]
		if !(g.k == 1 && g.stride == 1 && g.pad == 0) {
			im2col(g, xi, col)
			xi = col
		}
		gemm(false, true, g.o, rows, cols, 1, dy[i*outSz:(i+1)*outSz], cols, xi, cols, 1, dw, rows)
	}
}

// ---------------------------------------------------------------------------
// MaxPool2D with a square window of size k and stride s, no padding.

type poolGeom struct{ c, h, w, k, s, oh, ow int }

type maxPoolOp struct {
	opBase
	g     poolGeom
	relu  bool    // computes max-pool(ReLU(x)) = ReLU(max-pool(x))
	infer bool    // no gradient: skip recording the maxima's positions
	arg   []int32 // index into the input plane of each output's maximum, set by Do
}

func (o *maxPoolOp) Arity() int            { return 1 }
func (o *maxPoolOp) Type() hm.Type         { return hm.NewFnType(tensorT(4), tensorT(4)) }
func (o *maxPoolOp) String() string        { return "MaxPool2D" }
func (o *maxPoolOp) Hashcode() uint32      { return hashOf(o) }
func (o *maxPoolOp) WriteHash(h hash.Hash) { o.hash(h, "MaxPool2D") }
func (o *maxPoolOp) InferShape(in ...G.DimSizer) (tensor.Shape, error) {
	x := in[0].(tensor.Shape)
	return tensor.Shape{x[0], o.g.c, o.g.oh, o.g.ow}, nil
}
func (o *maxPoolOp) Do(in ...G.Value) (G.Value, error) {
	x := dense(in[0])
	n := x.Shape()[0]
	out := o.buffer(x.Dtype(), n, o.g.c, o.g.oh, o.g.ow)
	if len(o.arg) != n*o.g.c*o.g.oh*o.g.ow {
		o.arg = make([]int32, n*o.g.c*o.g.oh*o.g.ow)
	}
	switch d := x.Data().(type) {
	case []float32:
		if o.infer && o.g.k == 2 && o.g.s == 2 {
			maxPool2x2Infer(o.g, d, out.Data().([]float32), n, o.relu)
			break
		}
		maxPool(o.g, d, out.Data().([]float32), o.arg, n)
		if o.relu {
			relu32(out.Data().([]float32), out.Data().([]float32))
		}
	case []float64:
		maxPool(o.g, d, out.Data().([]float64), o.arg, n)
		if o.relu {
			relu(out.Data().([]float64), out.Data().([]float64))
		}
	}
	return out, nil
}

// maxPool writes the window maxima into y and the index (within the input
// plane) of each window's first maximum into arg.
func maxPool[T float](g poolGeom, x, y []T, arg []int32, n int) {
	plane, oplane := g.h*g.w, g.oh*g.ow
	for p := 0; p < n*g.c; p++ {
		xp := x[p*plane : (p+1)*plane]
		yp, ap := y[p*oplane:(p+1)*oplane], arg[p*oplane:(p+1)*oplane]
		if g.k == 2 && g.s == 2 {
			maxPool2x2(g, xp, yp, ap)
			continue
		}
		for oy := 0; oy < g.oh; oy++ {
			for ox := 0; ox < g.ow; ox++ {
				bi := (oy*g.s)*g.w + ox*g.s
				best := xp[bi]
				for ki := 0; ki < g.k; ki++ {
					row := (oy*g.s + ki) * g.w
					for kj := 0; kj < g.k; kj++ {
						idx := row + ox*g.s + kj
						if v := xp[idx]; v > best {
							best, bi = v, idx
						}
					}
				}
				yp[oy*g.ow+ox] = best
				ap[oy*g.ow+ox] = int32(bi)
			}
		}
	}
}

func b2i(b bool) int32 {
	if b {
		return 1
	}
	return 0
}

// maxPool2x2Infer is the inference pass: maxima only, ReLU folded in.
func maxPool2x2Infer(g poolGeom, x, y []float32, n int, relu bool) {
	plane, oplane := g.h*g.w, g.oh*g.ow
	floor := float32(math.Inf(-1))
	if relu {
		floor = 0
	}
	for p := 0; p < n*g.c; p++ {
		xp, yp := x[p*plane:(p+1)*plane], y[p*oplane:(p+1)*oplane]
		for oy := 0; oy < g.oh; oy++ {
			r0 := xp[2*oy*g.w : 2*oy*g.w+2*g.ow]
			r1 := xp[(2*oy+1)*g.w : (2*oy+1)*g.w+2*g.ow]
			yr := yp[oy*g.ow : (oy+1)*g.ow]
			for ox := range yr {
				yr[ox] = max(r0[2*ox], r0[2*ox+1], r1[2*ox], r1[2*ox+1], floor)
			}
		}
	}
}

func maxPool2x2[T float](g poolGeom, xp, yp []T, ap []int32) {
	for oy := 0; oy < g.oh; oy++ {
		r0 := xp[2*oy*g.w : 2*oy*g.w+2*g.ow]
		r1 := xp[(2*oy+1)*g.w : (2*oy+1)*g.w+2*g.ow]
		yr, ar := yp[oy*g.ow:(oy+1)*g.ow], ap[oy*g.ow:(oy+1)*g.ow]
		base := int32(2 * oy * g.w)
		w := int32(g.w)
		for ox := range yr {
			a, b, c, d := r0[2*ox], r0[2*ox+1], r1[2*ox], r1[2*ox+1]
			i1, i2 := b2i(b > a), b2i(d > c)
			m1, m2 := max(a, b), max(c, d)
			lower := b2i(m2 > m1)
			yr[ox] = max(m1, m2)
			// first maximum: top pair unless the bottom pair is strictly larger
			ar[ox] = base + int32(2*ox) + (1-lower)*i1 + lower*(w+i2)
		}
	}
}

func (o *maxPoolOp) DiffWRT(int) []bool { return []bool{true} }
func (o *maxPoolOp) SymDiff(in G.Nodes, out, grad *G.Node) (G.Nodes, error) {
	dx, err := G.ApplyOp(&maxPoolGradOp{opBase: newBase(), g: o.g, fwd: o}, in[0], out, grad)
	return G.Nodes{dx}, err
}

// maxPoolGradOp routes each output gradient to its window's maximum, found
// by the forward op (only where the output is positive when the op applies
// ReLU). Inputs: x (for the shape), the forward output y, and dy.
type maxPoolGradOp struct {
	opBase
	g   poolGeom
	fwd *maxPoolOp
}

func (o *maxPoolGradOp) Arity() int { return 3 }
func (o *maxPoolGradOp) Type() hm.Type {
	return hm.NewFnType(tensorT(4), tensorT(4), tensorT(4), tensorT(4))
}
func (o *maxPoolGradOp) String() string        { return "MaxPool2DGrad" }
func (o *maxPoolGradOp) Hashcode() uint32      { return hashOf(o) }
func (o *maxPoolGradOp) WriteHash(h hash.Hash) { o.hash(h, "MaxPool2DGrad") }
func (o *maxPoolGradOp) InferShape(in ...G.DimSizer) (tensor.Shape, error) {
	return in[0].(tensor.Shape).Clone(), nil
}
func (o *maxPoolGradOp) Do(in ...G.Value) (G.Value, error) {
	x, y, dy := dense(in[0]), dense(in[1]), dense(in[2])
	out := o.buffer(x.Dtype(), x.Shape()...)
	switch d := dy.Data().(type) {
	case []float32:
		poolScatter(o.g, y.Data().([]float32), d, out.Data().([]float32), o.fwd.arg, o.fwd.relu)
	case []float64:
		poolScatter(o.g, y.Data().([]float64), d, out.Data().([]float64), o.fwd.arg, o.fwd.relu)
	}
	return out, nil
}

func poolScatter[T float](g poolGeom, y, dy, dx []T, arg []int32, relu bool) {
	plane, oplane := g.h*g.w, g.oh*g.ow
	tiled := g.k == 2 && g.s == 2 && g.h == 2*g.oh && g.w == 2*g.ow
	if !tiled {
		clear(dx)
	}
	for p := 0; p*oplane < len(dy); p++ {
		dxp := dx[p*plane : (p+1)*plane]
		yp, dyp, ap := y[p*oplane:(p+1)*oplane], dy[p*oplane:(p+1)*oplane], arg[p*oplane:(p+1)*oplane]
		if !tiled {
			for i, v := range dyp {
				if !relu || yp[i] > 0 {
					dxp[ap[i]] += v
				}
			}
			continue
		}
		// 2×2 windows tile the plane: write every input position once,
		// without branches on the (unpredictable) position of the maximum.
		for oy := 0; oy < g.oh; oy++ {
			r0 := dxp[2*oy*g.w : 2*oy*g.w+g.w]
			r1 := dxp[(2*oy+1)*g.w : (2*oy+1)*g.w+g.w]
			base := 2 * oy * g.w
			for ox := 0; ox < g.ow; ox++ {
				i := oy*g.ow + ox
				v := dyp[i]
				if relu {
					v *= T(b2i(yp[i] > 0))
				}
				a := int(ap[i]) - base - 2*ox // 0, 1, w or w+1
				m := &onehot[a&1|int(b2i(a>>1 != 0))<<1]
				r0[2*ox], r0[2*ox+1] = v*T(m[0]), v*T(m[1])
				r1[2*ox], r1[2*ox+1] = v*T(m[2]), v*T(m[3])
			}
		}
	}
}

var onehot = [4][4]float32{{1, 0, 0, 0}, {0, 1, 0, 0}, {0, 0, 1, 0}, {0, 0, 0, 1}}

// ---------------------------------------------------------------------------
// ReLU and its gradient (which reads the forward output: y > 0 ⇔ x > 0).

type reluOp struct{ opBase }

func (o *reluOp) Arity() int            { return 1 }
func (o *reluOp) Type() hm.Type         { a := hm.TypeVariable('a'); return hm.NewFnType(a, a) }
func (o *reluOp) String() string        { return "ReLU" }
func (o *reluOp) Hashcode() uint32      { return hashOf(o) }
func (o *reluOp) WriteHash(h hash.Hash) { o.hash(h, "ReLU") }
func (o *reluOp) InferShape(in ...G.DimSizer) (tensor.Shape, error) {
	return in[0].(tensor.Shape).Clone(), nil
}
func (o *reluOp) Do(in ...G.Value) (G.Value, error) {
	x := dense(in[0])
	out := o.buffer(x.Dtype(), x.Shape()...)
	switch d := x.Data().(type) {
	case []float32:
		relu(d, out.Data().([]float32))
	case []float64:
		relu(d, out.Data().([]float64))
	}
	return out, nil
}

func relu[T float](x, y []T) {
	y = y[:len(x)]
	if x32, ok := any(x).([]float32); ok {
		relu32(x32, any(y).([]float32))
		return
	}
	for i, v := range x {
		y[i] = max(v, 0)
	}
}

// relu32 is branch-free: a negative float's sign bit clears all of its bits.
func relu32(x, y []float32) {
	y = y[:len(x)]
	for i, v := range x {
		b := math.Float32bits(v)
		y[i] = math.Float32frombits(b &^ uint32(int32(b)>>31))
	}
}

func (o *reluOp) DiffWRT(int) []bool { return []bool{true} }
func (o *reluOp) SymDiff(_ G.Nodes, out, grad *G.Node) (G.Nodes, error) {
	dx, err := G.ApplyOp(&reluGradOp{opBase: newBase()}, out, grad)
	return G.Nodes{dx}, err
}

type reluGradOp struct{ opBase }

func (o *reluGradOp) Arity() int            { return 2 }
func (o *reluGradOp) Type() hm.Type         { a := hm.TypeVariable('a'); return hm.NewFnType(a, a, a) }
func (o *reluGradOp) String() string        { return "ReLUGrad" }
func (o *reluGradOp) Hashcode() uint32      { return hashOf(o) }
func (o *reluGradOp) WriteHash(h hash.Hash) { o.hash(h, "ReLUGrad") }
func (o *reluGradOp) InferShape(in ...G.DimSizer) (tensor.Shape, error) {
	return in[0].(tensor.Shape).Clone(), nil
}
func (o *reluGradOp) Do(in ...G.Value) (G.Value, error) {
	y, dy := dense(in[0]), dense(in[1])
	out := o.buffer(y.Dtype(), y.Shape()...)
	switch d := y.Data().(type) {
	case []float32:
		reluGrad(d, dy.Data().([]float32), out.Data().([]float32))
	case []float64:
		reluGrad(d, dy.Data().([]float64), out.Data().([]float64))
	}
	return out, nil
}

func reluGrad[T float](y, dy, dx []T) {
	dy, dx = dy[:len(y)], dx[:len(y)]
	if y32, ok := any(y).([]float32); ok {
		reluGrad32(y32, any(dy).([]float32), any(dx).([]float32))
		return
	}
	for i, v := range y {
		if v > 0 {
			dx[i] = dy[i]
		} else {
			dx[i] = 0
		}
	}
}

// reluGrad32 is branch-free: y ≥ 0, so y > 0 exactly when its bits are
// non-zero, and (b | -b) then has the sign bit set.
func reluGrad32(y, dy, dx []float32) {
	dy, dx = dy[:len(y)], dx[:len(y)]
	for i, v := range y {
		b := int32(math.Float32bits(v))
		mask := uint32((b | -b) >> 31)
		dx[i] = math.Float32frombits(math.Float32bits(dy[i]) & mask)
	}
}
