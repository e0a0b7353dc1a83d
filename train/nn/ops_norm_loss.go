package nn

import (
	"hash"
	"math"

	"github.com/chewxy/hm"
	G "gorgonia.org/gorgonia"
	"gorgonia.org/tensor"
)

// ---------------------------------------------------------------------------
// Element-wise product with a constant mask (dropout). The mask is an input
// node filled by the caller, so dropout is reproducible from the seed.

type maskOp struct{ opBase }

func (o *maskOp) Arity() int            { return 2 }
func (o *maskOp) Type() hm.Type         { a := hm.TypeVariable('a'); return hm.NewFnType(a, a, a) }
func (o *maskOp) String() string        { return "Mask" }
func (o *maskOp) Hashcode() uint32      { return hashOf(o) }
func (o *maskOp) WriteHash(h hash.Hash) { o.hash(h, "Mask") }
func (o *maskOp) InferShape(in ...G.DimSizer) (tensor.Shape, error) {
	return in[0].(tensor.Shape).Clone(), nil
}
func (o *maskOp) Do(in ...G.Value) (G.Value, error) {
	x, m := dense(in[0]), dense(in[1])
	out := o.buffer(x.Dtype(), x.Shape()...)
	switch d := x.Data().(type) {
	case []float32:
		mulInto(d, m.Data().([]float32), out.Data().([]float32))
	case []float64:
		mulInto(d, m.Data().([]float64), out.Data().([]float64))
	}
	return out, nil
}

func mulInto[T float](a, b, c []T) {
	b, c = b[:len(a)], c[:len(a)]
	for i := range a {
		c[i] = a[i] * b[i]
	}
}

func (o *maskOp) DiffWRT(int) []bool { return []bool{true, false} }
func (o *maskOp) SymDiff(in G.Nodes, _, grad *G.Node) (G.Nodes, error) {
	dx, err := G.ApplyOp(&maskOp{opBase: newBase()}, grad, in[1])
	return G.Nodes{dx, nil}, err
}

// ---------------------------------------------------------------------------
// BatchNorm over N (and H, W for images), per channel (axis 1).
// Training: y = γ·(x−μ_B)/√(σ²_B+ε) + β with the batch's statistics, which are
// kept on the op for the caller's running averages. Inference: the running
// mean and variance are inputs 3 and 4.

type batchNormOp struct {
	opBase
	train bool
	eps   float64
	dims  int // of x: 2 or 4

	// Set by the forward pass in training mode, read by the backward ops and
	// by the replica (running statistics).
	mean, variance []float64
	invStd         []float64
	xhat           any
}

func (o *batchNormOp) Arity() int {
	if o.train {
		return 3
	}
	return 5
}
func (o *batchNormOp) Type() hm.Type {
	x, v := tensorT(o.dims), tensorT(1)
	if o.train {
		return hm.NewFnType(x, v, v, x)
	}
	return hm.NewFnType(x, v, v, v, v, x)
}
func (o *batchNormOp) String() string        { return "BatchNorm" }
func (o *batchNormOp) Hashcode() uint32      { return hashOf(o) }
func (o *batchNormOp) WriteHash(h hash.Hash) { o.hash(h, "BatchNorm") }
func (o *batchNormOp) InferShape(in ...G.DimSizer) (tensor.Shape, error) {
	return in[0].(tensor.Shape).Clone(), nil
}

func bnDims(s tensor.Shape) (n, c, hw int) {
	n, c, hw = s[0], s[1], 1
	for _, d := range s[2:] {
		hw *= d
	}
	return
}

func (o *batchNormOp) Do(in ...G.Value) (G.Value, error) {
	x := dense(in[0])
	out := o.buffer(x.Dtype(), x.Shape()...)
	n, c, hw := bnDims(x.Shape())
	if len(o.mean) != c {
		o.mean, o.variance, o.invStd = make([]float64, c), make([]float64, c), make([]float64, c)
	}
	switch d := x.Data().(type) {
	case []float32:
		if o.train {
			bnTrain(o, d, dense(in[1]).Data().([]float32), dense(in[2]).Data().([]float32), out.Data().([]float32), scratch[float32](&o.xhat, len(d)), n, c, hw)
		} else {
			bnInfer(o.eps, d, dense(in[1]).Data().([]float32), dense(in[2]).Data().([]float32), dense(in[3]).Data().([]float32), dense(in[4]).Data().([]float32), out.Data().([]float32), n, c, hw)
		}
	case []float64:
		if o.train {
			bnTrain(o, d, dense(in[1]).Data().([]float64), dense(in[2]).Data().([]float64), out.Data().([]float64), scratch[float64](&o.xhat, len(d)), n, c, hw)
		} else {
			bnInfer(o.eps, d, dense(in[1]).Data().([]float64), dense(in[2]).Data().([]float64), dense(in[3]).Data().([]float64), dense(in[4]).Data().([]float64), out.Data().([]float64), n, c, hw)
		}
	}
	return out, nil
}

func bnTrain[T float](o *batchNormOp, x, gamma, beta, y, xhat []T, n, c, hw int) {
	m := float64(n * hw)
	for j := 0; j < c; j++ {
		var s float64
		for i := 0; i < n; i++ {
			for _, v := range x[(i*c+j)*hw : (i*c+j+1)*hw] {
				s += float64(v)
			}
		}
		mu := s / m
		var ss float64
		for i := 0; i < n; i++ {
			for _, v := range x[(i*c+j)*hw : (i*c+j+1)*hw] {
				d := float64(v) - mu
				ss += d * d
			}
		}
		v := ss / m
		inv := 1 / math.Sqrt(v+o.eps)
		o.mean[j], o.variance[j], o.invStd[j] = mu, v, inv
		g, b := float64(gamma[j]), float64(beta[j])
		for i := 0; i < n; i++ {
			off := (i*c + j) * hw
			for k, v := range x[off : off+hw] {
				h := (float64(v) - mu) * inv
				xhat[off+k] = T(h)
				y[off+k] = T(g*h + b)
			}
		}
	}
}

func bnInfer[T float](eps float64, x, gamma, beta, mean, variance, y []T, n, c, hw int) {
	for j := 0; j < c; j++ {
		scale := float64(gamma[j]) / math.Sqrt(float64(variance[j])+eps)
		shift := float64(beta[j]) - float64(mean[j])*scale
		sc, sh := T(scale), T(shift)
		for i := 0; i < n; i++ {
			off := (i*c + j) * hw
			for k, v := range x[off : off+hw] {
				y[off+k] = v*sc + sh
			}
		}
	}
}

func (o *batchNormOp) DiffWRT(int) []bool {
	if o.train {
		return []bool{true, true, true}
	}
	return []bool{false, false, false, false, false}
}

func (o *batchNormOp) SymDiff(in G.Nodes, out, grad *G.Node) (G.Nodes, error) {
	// dγ first: its op computes Σdy·x̂ per channel, which the dx op reads.
	gop := &bnGradGammaOp{opBase: newBase(), fwd: o}
	dgamma, err := G.ApplyOp(gop, out, grad)
	if err != nil {
		return nil, err
	}
	dbeta, err := G.ApplyOp(&colSumOp{opBase: newBase(), dims: o.dims}, grad)
	if err != nil {
		return nil, err
	}
	dx, err := G.ApplyOp(&bnGradXOp{opBase: newBase(), fwd: o}, in[1], grad, dgamma, dbeta)
	if err != nil {
		return nil, err
	}
	return G.Nodes{dx, dgamma, dbeta}, nil
}

// bnGradGammaOp: dγ_j = Σ dy·x̂ over channel j. Its first input (the forward
// output) only orders it after the forward pass.
type bnGradGammaOp struct {
	opBase
	fwd *batchNormOp
}

func (o *bnGradGammaOp) Arity() int { return 2 }
func (o *bnGradGammaOp) Type() hm.Type {
	return hm.NewFnType(tensorT(o.fwd.dims), tensorT(o.fwd.dims), tensorT(1))
}
func (o *bnGradGammaOp) String() string        { return "BatchNormGradGamma" }
func (o *bnGradGammaOp) Hashcode() uint32      { return hashOf(o) }
func (o *bnGradGammaOp) WriteHash(h hash.Hash) { o.hash(h, "BatchNormGradGamma") }
func (o *bnGradGammaOp) InferShape(in ...G.DimSizer) (tensor.Shape, error) {
	return tensor.Shape{in[0].(tensor.Shape)[1]}, nil
}
func (o *bnGradGammaOp) Do(in ...G.Value) (G.Value, error) {
	dy := dense(in[1])
	n, c, hw := bnDims(dy.Shape())
	out := o.buffer(dy.Dtype(), c)
	switch d := dy.Data().(type) {
	case []float32:
		bnGradGamma(d, o.fwd.xhat.([]float32), out.Data().([]float32), n, c, hw)
	case []float64:
		bnGradGamma(d, o.fwd.xhat.([]float64), out.Data().([]float64), n, c, hw)
	}
	return out, nil
}

func bnGradGamma[T float](dy, xhat, dg []T, n, c, hw int) {
	for j := 0; j < c; j++ {
		var s float64
		for i := 0; i < n; i++ {
			off := (i*c + j) * hw
			for k := off; k < off+hw; k++ {
				s += float64(dy[k]) * float64(xhat[k])
			}
		}
		dg[j] = T(s)
	}
}

// bnGradXOp: dx = γ·invStd/M · (M·dy − Σdy − x̂·Σ(dy·x̂)), inputs γ, dy, dγ, dβ.
type bnGradXOp struct {
	opBase
	fwd *batchNormOp
}

func (o *bnGradXOp) Arity() int { return 4 }
func (o *bnGradXOp) Type() hm.Type {
	x, v := tensorT(o.fwd.dims), tensorT(1)
	return hm.NewFnType(v, x, v, v, x)
}
func (o *bnGradXOp) String() string        { return "BatchNormGradX" }
func (o *bnGradXOp) Hashcode() uint32      { return hashOf(o) }
func (o *bnGradXOp) WriteHash(h hash.Hash) { o.hash(h, "BatchNormGradX") }
func (o *bnGradXOp) InferShape(in ...G.DimSizer) (tensor.Shape, error) {
	return in[1].(tensor.Shape).Clone(), nil
}
func (o *bnGradXOp) Do(in ...G.Value) (G.Value, error) {
	dy := dense(in[1])
	n, c, hw := bnDims(dy.Shape())
	out := o.buffer(dy.Dtype(), dy.Shape()...)
	switch d := dy.Data().(type) {
	case []float32:
		bnGradX(o.fwd, dense(in[0]).Data().([]float32), d, dense(in[2]).Data().([]float32), dense(in[3]).Data().([]float32), out.Data().([]float32), n, c, hw)
	case []float64:
		bnGradX(o.fwd, dense(in[0]).Data().([]float64), d, dense(in[2]).Data().([]float64), dense(in[3]).Data().([]float64), out.Data().([]float64), n, c, hw)
	}
	return out, nil
}

func bnGradX[T float](o *batchNormOp, gamma, dy, dgamma, dbeta, dx []T, n, c, hw int) {
	xhat := o.xhat.([]T)
	m := float64(n * hw)
	for j := 0; j < c; j++ {
		k := float64(gamma[j]) * o.invStd[j] / m
		sdy, sdyx := float64(dbeta[j]), float64(dgamma[j])
		for i := 0; i < n; i++ {
			off := (i*c + j) * hw
			for p := off; p < off+hw; p++ {
				dx[p] = T(k * (m*float64(dy[p]) - sdy - float64(xhat[p])*sdyx))
			}
		}
	}
}

// ---------------------------------------------------------------------------
// Losses: mean over the batch of softmax cross-entropy (targets are class
// probabilities, one-hot for labels), and mean squared error over all
// elements.

type lossKind int

const (
	lossXent lossKind = iota
	lossMSE
)

type lossOp struct {
	opBase
	kind lossKind
}

func (o *lossOp) Arity() int { return 2 }
func (o *lossOp) Type() hm.Type {
	a := hm.TypeVariable('a')
	return hm.NewFnType(&G.TensorType{Dims: 2, Of: a}, &G.TensorType{Dims: 2, Of: a}, a)
}
func (o *lossOp) String() string                                 { return "Loss" }
func (o *lossOp) Hashcode() uint32                               { return hashOf(o) }
func (o *lossOp) WriteHash(h hash.Hash)                          { o.hash(h, "Loss") }
func (o *lossOp) InferShape(...G.DimSizer) (tensor.Shape, error) { return tensor.ScalarShape(), nil }

func (o *lossOp) Do(in ...G.Value) (G.Value, error) {
	p, t := dense(in[0]), dense(in[1])
	n, k := p.Shape()[0], p.Shape()[1]
	switch d := p.Data().(type) {
	case []float32:
		return G.NewF32(float32(lossValue(o.kind, d, t.Data().([]float32), n, k))), nil
	default:
		return G.NewF64(lossValue(o.kind, d.([]float64), t.Data().([]float64), n, k)), nil
	}
}

func lossValue[T float](kind lossKind, p, t []T, n, k int) float64 {
	var total float64
	if kind == lossMSE {
		for i := range p {
			d := float64(p[i]) - float64(t[i])
			total += d * d
		}
		return total / float64(n*k)
	}
	for i := 0; i < n; i++ {
		row, tr := p[i*k:(i+1)*k], t[i*k:(i+1)*k]
		lse := logSumExp(row)
		for j, v := range row {
			if tr[j] != 0 {
				total -= float64(tr[j]) * (float64(v) - lse)
			}
		}
	}
	return total / float64(n)
}

func logSumExp[T float](row []T) float64 {
	mx := math.Inf(-1)
	for _, v := range row {
		mx = math.Max(mx, float64(v))
	}
	var s float64
	for _, v := range row {
		s += math.Exp(float64(v) - mx)
	}
	return mx + math.Log(s)
}

func (o *lossOp) DiffWRT(int) []bool { return []bool{true, false} }
func (o *lossOp) SymDiff(in G.Nodes, _, grad *G.Node) (G.Nodes, error) {
	dp, err := G.ApplyOp(&lossGradOp{opBase: newBase(), kind: o.kind}, in[0], in[1], grad)
	return G.Nodes{dp, nil}, err
}

type lossGradOp struct {
	opBase
	kind lossKind
}

func (o *lossGradOp) Arity() int { return 3 }
func (o *lossGradOp) Type() hm.Type {
	a := hm.TypeVariable('a')
	t := &G.TensorType{Dims: 2, Of: a}
	return hm.NewFnType(t, t, a, t)
}
func (o *lossGradOp) String() string        { return "LossGrad" }
func (o *lossGradOp) Hashcode() uint32      { return hashOf(o) }
func (o *lossGradOp) WriteHash(h hash.Hash) { o.hash(h, "LossGrad") }
func (o *lossGradOp) InferShape(in ...G.DimSizer) (tensor.Shape, error) {
	return in[0].(tensor.Shape).Clone(), nil
}
func (o *lossGradOp) Do(in ...G.Value) (G.Value, error) {
	p, t := dense(in[0]), dense(in[1])
	n, k := p.Shape()[0], p.Shape()[1]
	out := o.buffer(p.Dtype(), n, k)
	switch d := p.Data().(type) {
	case []float32:
		lossGrad(o.kind, d, t.Data().([]float32), out.Data().([]float32), float64(in[2].Data().(float32)), n, k)
	case []float64:
		lossGrad(o.kind, d, t.Data().([]float64), out.Data().([]float64), in[2].Data().(float64), n, k)
	}
	return out, nil
}

func lossGrad[T float](kind lossKind, p, t, dp []T, g float64, n, k int) {
	if kind == lossMSE {
		s := 2 * g / float64(n*k)
		for i := range p {
			dp[i] = T(s * (float64(p[i]) - float64(t[i])))
		}
		return
	}
	s := g / float64(n)
	for i := 0; i < n; i++ {
		row, tr, dr := p[i*k:(i+1)*k], t[i*k:(i+1)*k], dp[i*k:(i+1)*k]
		lse := logSumExp(row)
		var tsum float64
		for _, v := range tr {
			tsum += float64(v)
		}
		for j, v := range row {
			dr[j] = T(s * (tsum*math.Exp(float64(v)-lse) - float64(tr[j])))
		}
	}
}
