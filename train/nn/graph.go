package nn

import (
	"fmt"
	"hash"
	"sync"

	"github.com/chewxy/hm"
	G "gorgonia.org/gorgonia"
	"gorgonia.org/tensor"
)

// replica is one gorgonia graph of a model for a fixed batch size: its own
// copy of the weights, inputs, and a tape machine. Gorgonia graphs have fixed
// shapes, so a learner or predictor keeps one replica per batch size (and per
// core).
type replica struct {
	spec  Spec
	batch int
	dt    tensor.Dtype
	train bool

	g  *G.ExprGraph
	vm G.VM

	x, target *G.Node
	out, loss *G.Node
	params    []*G.Node // trainable tensors, Spec.Params() order
	grads     []*G.Node // d loss / d params (training only)
	state     []*G.Node // running statistics (inference only)
	masks     []dropoutMask
	bns       []*batchNormOp // training only, in layer order
	version   int64          // weights version loaded (Learner), -1 before the first load
}

type dropoutMask struct {
	layer int
	rate  float64
	node  *G.Node
}

func newTensorNode(g *G.ExprGraph, dt tensor.Dtype, name string, shape ...int) *G.Node {
	t := tensor.New(tensor.Of(dt), tensor.WithShape(shape...))
	return G.NewTensor(g, dt, len(shape), G.WithShape(shape...), G.WithName(name), G.WithValue(t))
}

// graphBuild serialises graph construction: gorgonia shares constant nodes
// (the 1 that Grad starts the backward pass from) between graphs and caches
// their hashes on first use, a write that races when two graphs are built
// at once.
var graphBuild sync.Mutex

// newReplica builds the graph of m's architecture for batch examples. train
// selects batch statistics, dropout and the backward pass.
func newReplica(spec Spec, batch int, dt tensor.Dtype, train bool) (r *replica, err error) {
	graphBuild.Lock()
	defer graphBuild.Unlock()
	defer func() {
		// Gorgonia panics on some malformed graphs; the spec is validated
		// first, so a panic here is a bug, reported as an error.
		if p := recover(); p != nil {
			r, err = nil, fmt.Errorf("nn: building graph: %v", p)
		}
	}()
	shapes, err := spec.shapes()
	if err != nil {
		return nil, err
	}
	infos, _ := spec.Params()
	r = &replica{spec: spec, batch: batch, dt: dt, train: train, g: G.NewGraph(), version: -1}
	g := r.g
	r.x = newTensorNode(g, dt, "x", append([]int{batch}, spec.Input...)...)
	pi := 0
	nextParam := func() *G.Node {
		p := infos[pi]
		pi++
		n := newTensorNode(g, dt, p.Name, p.Shape...)
		if p.Trainable {
			r.params = append(r.params, n)
		} else {
			r.state = append(r.state, n)
		}
		return n
	}
	h := r.x
	firstWeighted := true
	fuseNext := false // the next max-pool applies the ReLU before it
	for i, l := range spec.Layers {
		in := shapes[i]
		switch l.Kind {
		case KindDense:
			w, b := nextParam(), nextParam()
			h, err = G.ApplyOp(&denseOp{opBase: newBase(), inputGrad: !firstWeighted}, h, w, b)
			firstWeighted = false
		case KindConv2D:
			w, b := nextParam(), nextParam()
			out := shapes[i+1]
			geom := convGeom{c: in[0], h: in[1], w: in[2], o: l.Out, k: l.Kernel, stride: l.Stride, pad: l.Pad, oh: out[1], ow: out[2]}
			h, err = G.ApplyOp(&conv2dOp{opBase: newBase(), g: geom, inputGrad: !firstWeighted}, h, w, b)
			firstWeighted = false
		case KindMaxPool2D:
			out := shapes[i+1]
			geom := poolGeom{c: in[0], h: in[1], w: in[2], k: l.Kernel, s: l.Stride, oh: out[1], ow: out[2]}
			h, err = G.ApplyOp(&maxPoolOp{opBase: newBase(), g: geom, relu: fuseNext, infer: !train}, h)
			fuseNext = false
		case KindReLU:
			// ReLU then max-pool is computed as one pass (the maximum
			// commutes with ReLU): one read of the activations instead of
			// three, and no ReLU gradient pass.
			if i+1 < len(spec.Layers) && spec.Layers[i+1].Kind == KindMaxPool2D {
				fuseNext = true
				continue
			}
			h, err = G.ApplyOp(&reluOp{opBase: newBase()}, h)
		case KindDropout:
			if !train || l.Rate == 0 {
				continue
			}
			m := newTensorNode(g, dt, fmt.Sprintf("%d.dropout.mask", i), append([]int{batch}, in...)...)
			r.masks = append(r.masks, dropoutMask{layer: i, rate: l.Rate, node: m})
			h, err = G.ApplyOp(&maskOp{opBase: newBase()}, h, m)
		case KindFlatten:
			if len(in) == 1 {
				continue
			}
			h, err = G.ApplyOp(&reshapeOp{opBase: newBase(), from: len(in) + 1, to: []int{batch, prod(in)}}, h)
		case KindBatchNorm:
			gamma, beta := nextParam(), nextParam()
			op := &batchNormOp{opBase: newBase(), train: train, eps: l.Eps, dims: len(in) + 1}
			if train {
				pi += 2 // running statistics are not graph inputs while training
				r.bns = append(r.bns, op)
				h, err = G.ApplyOp(op, h, gamma, beta)
			} else {
				mean, variance := nextParam(), nextParam()
				h, err = G.ApplyOp(op, h, gamma, beta, mean, variance)
			}
			firstWeighted = false
		}
		if err != nil {
			return nil, fmt.Errorf("nn: layer %d (%s): %w", i, l.Kind, err)
		}
	}
	r.out = h
	outSize := shapes[len(shapes)-1][0]
	if train {
		r.target = newTensorNode(g, dt, "target", batch, outSize)
		kind := lossXent
		if spec.Loss == MeanSquaredError {
			kind = lossMSE
		}
		if r.loss, err = G.ApplyOp(&lossOp{opBase: newBase(), kind: kind}, h, r.target); err != nil {
			return nil, fmt.Errorf("nn: loss: %w", err)
		}
		if r.grads, err = G.Grad(r.loss, r.params...); err != nil {
			return nil, fmt.Errorf("nn: gradients: %w", err)
		}
	}
	r.vm = G.NewTapeMachine(g)
	return r, nil
}

// load copies the model's weights into the graph's tensors.
func (r *replica) load(m *Model) {
	pi, si := 0, 0
	for i, p := range m.infos {
		var n *G.Node
		if p.Trainable {
			n = r.params[pi]
			pi++
		} else {
			if r.train {
				continue
			}
			n = r.state[si]
			si++
		}
		setValues(n, m.tensor(i))
	}
}

func setValues[S float](n *G.Node, src []S) {
	switch d := n.Value().Data().(type) {
	case []float32:
		for i, v := range src {
			d[i] = float32(v)
		}
	case []float64:
		for i, v := range src {
			d[i] = float64(v)
		}
	}
}

// addValues adds scale·n's values to dst.
func addValues(dst []float64, n *G.Node, scale float64) {
	switch d := n.Value().Data().(type) {
	case []float32:
		for i, v := range d {
			dst[i] += scale * float64(v)
		}
	case []float64:
		for i, v := range d {
			dst[i] += scale * v
		}
	}
}

// run executes the graph once on the inputs already set.
func (r *replica) run() error {
	r.vm.Reset()
	if err := r.vm.RunAll(); err != nil {
		return fmt.Errorf("nn: running graph: %w", err)
	}
	return nil
}

// outputs returns the graph's output values (batch × outputs).
func (r *replica) outputs() any { return r.out.Value().Data() }

// lossValue returns the mean loss of the last run.
func (r *replica) lossValue() float64 {
	switch v := r.loss.Value().Data().(type) {
	case float32:
		return float64(v)
	case float64:
		return v
	}
	return 0
}

// ---------------------------------------------------------------------------
// reshapeOp returns a view of its input with another shape (flatten); its
// gradient is the view back.

type reshapeOp struct {
	opBase
	from int // dimensions of the input
	to   []int
}

func (o *reshapeOp) Arity() int { return 1 }
func (o *reshapeOp) Type() hm.Type {
	return hm.NewFnType(tensorT(o.from), tensorT(len(o.to)))
}
func (o *reshapeOp) String() string        { return fmt.Sprintf("Reshape%v", o.to) }
func (o *reshapeOp) Hashcode() uint32      { return hashOf(o) }
func (o *reshapeOp) WriteHash(h hash.Hash) { o.hash(h, "Reshape") }
func (o *reshapeOp) InferShape(...G.DimSizer) (tensor.Shape, error) {
	return tensor.Shape(o.to).Clone(), nil
}
func (o *reshapeOp) Do(in ...G.Value) (G.Value, error) {
	x := dense(in[0])
	if o.out == nil || !sameBacking(o.out, x) {
		o.out = tensor.New(tensor.Of(x.Dtype()), tensor.WithShape(o.to...), tensor.WithBacking(x.Data()))
	}
	return o.out, nil
}

func sameBacking(a, b *tensor.Dense) bool {
	return a.Uintptr() == b.Uintptr() && a.DataSize() == b.DataSize()
}

func (o *reshapeOp) DiffWRT(int) []bool { return []bool{true} }
func (o *reshapeOp) SymDiff(in G.Nodes, _, grad *G.Node) (G.Nodes, error) {
	dx, err := G.ApplyOp(&reshapeOp{opBase: newBase(), from: len(o.to), to: in[0].Shape().Clone()}, grad)
	return G.Nodes{dx}, err
}
