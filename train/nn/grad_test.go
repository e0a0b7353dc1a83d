package nn

import (
	"math"
	"math/rand/v2"
	"testing"

	"gorgonia.org/tensor"
)

// gradCheck compares the float64 graph's gradients with central finite
// differences of its loss, for every trainable value of a small model.
func gradCheck(t *testing.T, spec Spec, batch int) {
	t.Helper()
	m, err := NewModel(spec, 7)
	if err != nil {
		t.Fatal(err)
	}
	rng := rand.New(rand.NewPCG(1, 2))
	for i := range m.Params { // break symmetry in biases too
		m.Params[i] += 0.1 * rng.NormFloat64()
	}
	r, err := newReplica(m.spec, batch, tensor.Float64, true)
	if err != nil {
		t.Fatal(err)
	}
	x := r.x.Value().Data().([]float64)
	for i := range x {
		x[i] = rng.NormFloat64()
	}
	tg := r.target.Value().Data().([]float64)
	k := len(tg) / batch
	for i := 0; i < batch; i++ {
		if spec.Loss == MeanSquaredError {
			for j := 0; j < k; j++ {
				tg[i*k+j] = rng.NormFloat64()
			}
		} else {
			tg[i*k+rng.IntN(k)] = 1
		}
	}
	for _, mk := range r.masks {
		d := mk.node.Value().Data().([]float64)
		for i := range d {
			if rng.Float64() >= mk.rate {
				d[i] = 1 / (1 - mk.rate)
			}
		}
	}
	lossAt := func() float64 {
		r.load(m)
		if err := r.run(); err != nil {
			t.Fatal(err)
		}
		return r.lossValue()
	}
	lossAt()
	analytic := make([]float64, len(m.Params))
	off := 0
	for _, gn := range r.grads {
		n := gn.Value().Shape().TotalSize()
		addValues(analytic[off:off+n], gn, 1)
		off += n
	}
	const h = 1e-6
	var worst float64
	for i := range m.Params {
		orig := m.Params[i]
		m.Params[i] = orig + h
		lp := lossAt()
		m.Params[i] = orig - h
		lm := lossAt()
		m.Params[i] = orig
		num := (lp - lm) / (2 * h)
		rel := math.Abs(num-analytic[i]) / math.Max(1e-4, math.Abs(num)+math.Abs(analytic[i]))
		worst = math.Max(worst, rel)
		if rel > 1e-4 {
			t.Fatalf("param %d: analytic %.8g, numeric %.8g (rel err %.2g)", i, analytic[i], num, rel)
		}
	}
	t.Logf("%d params, worst relative error %.2g", len(m.Params), worst)
}

func TestGradients(t *testing.T) {
	tests := map[string]struct {
		spec  Spec
		batch int
	}{
		"dense":                   {Sequential([]int{5}, Dense(5, 4), Dense(4, 3)), 3},
		"dense+relu":              {Sequential([]int{5}, Dense(5, 6), ReLU(), Dense(6, 3)), 4},
		"mse":                     {Sequential([]int{4}, Dense(4, 5), ReLU(), Dense(5, 2)).WithLoss(MeanSquaredError), 3},
		"conv":                    {Sequential([]int{2, 5, 5}, Conv2D(2, 3, 3, 1, 1), Flatten(), Dense(75, 3)), 2},
		"conv stride 2 no pad":    {Sequential([]int{2, 6, 6}, Conv2D(2, 3, 3, 2, 0), Conv2D(3, 2, 1, 1, 0), Flatten(), Dense(8, 2)), 2},
		"conv+relu+maxpool":       {Sequential([]int{1, 6, 6}, Conv2D(1, 2, 3, 1, 1), ReLU(), MaxPool2D(2), Conv2D(2, 2, 3, 1, 1), Flatten(), Dense(18, 3)), 2},
		"relu+maxpool not tiling": {Sequential([]int{1, 5, 5}, Conv2D(1, 2, 3, 1, 1), ReLU(), MaxPool2D(2), Flatten(), Dense(8, 3)), 3},
		"maxpool 3 stride 3":      {Sequential([]int{1, 6, 6}, Conv2D(1, 2, 3, 1, 1), MaxPool2D(3), ReLU(), Flatten(), Dense(8, 2)), 2},
		"dropout":                 {Sequential([]int{6}, Dense(6, 8), ReLU(), Dropout(0.5), Dense(8, 3)), 3},
		"batchnorm dense":         {Sequential([]int{4}, Dense(4, 5), BatchNorm(5), ReLU(), Dense(5, 3)), 4},
		"batchnorm conv":          {Sequential([]int{2, 4, 4}, Conv2D(2, 3, 3, 1, 1), BatchNorm(3), ReLU(), Flatten(), Dense(48, 2)), 3},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) { gradCheck(t, tc.spec, tc.batch) })
	}
}

// TestFloat32MatchesFloat64 checks the float32 kernels (assembly matrix
// product, branch-free ReLU, fused ReLU+max-pool) against the float64 graph
// that the finite-difference checks validate.
func TestFloat32MatchesFloat64(t *testing.T) {
	specs := map[string]Spec{
		"small images": Sequential([]int{3, 8, 8},
			Conv2D(3, 8, 3, 1, 1), ReLU(), MaxPool2D(2),
			Conv2D(8, 16, 3, 1, 1), ReLU(), MaxPool2D(2),
			Flatten(), Dense(64, 20), ReLU(), Dense(20, 5)),
		// Output rows of 16 and 32 take the direct packed-im2col path.
		"panel-wide rows": Sequential([]int{2, 32, 32},
			Conv2D(2, 4, 3, 1, 1), ReLU(), MaxPool2D(2),
			Conv2D(4, 6, 3, 1, 1), ReLU(), MaxPool2D(2),
			Flatten(), Dense(384, 5)),
		"pad 0, stride 2, 5x5": Sequential([]int{2, 18, 18},
			Conv2D(2, 3, 3, 1, 0), ReLU(), Conv2D(3, 4, 5, 2, 2), ReLU(),
			Flatten(), Dense(256, 5)),
	}
	for name, spec := range specs {
		t.Run(name, func(t *testing.T) { compareFloat32(t, spec) })
	}
}

func compareFloat32(t *testing.T, spec Spec) {
	m, _ := NewModel(spec, 3)
	rng := rand.New(rand.NewPCG(4, 4))
	for i := range m.Params { // non-zero biases
		m.Params[i] += 0.05 * rng.NormFloat64()
	}
	const batch = 7
	b := synthBatch(spec, batch, 5)
	grads := map[tensor.Dtype][]float64{}
	outs := map[tensor.Dtype][]float64{}
	for _, dt := range []tensor.Dtype{tensor.Float32, tensor.Float64} {
		r, err := newReplica(spec, batch, dt, true)
		if err != nil {
			t.Fatal(err)
		}
		r.load(m)
		setValues(r.x, b.X)
		tg := make([]float32, batch*5)
		for i, y := range b.Labels {
			tg[i*5+int(y)] = 1
		}
		setValues(r.target, tg)
		if err := r.run(); err != nil {
			t.Fatal(err)
		}
		g := make([]float64, len(m.Params))
		off := 0
		for _, n := range r.grads {
			k := n.Shape().TotalSize()
			addValues(g[off:off+k], n, 1)
			off += k
		}
		grads[dt] = g
		outs[dt] = make([]float64, batch*5)
		addValues(outs[dt], r.out, 1)
	}
	var scale, oscale float64
	for _, v := range grads[tensor.Float64] {
		scale = math.Max(scale, math.Abs(v))
	}
	for _, v := range outs[tensor.Float64] {
		oscale = math.Max(oscale, math.Abs(v))
	}
	if d := maxDiff(outs[tensor.Float32], outs[tensor.Float64]); d > 1e-4*oscale {
		t.Fatalf("float32 outputs differ from float64 by %g (largest output %g)", d, oscale)
	}
	if d := maxDiff(grads[tensor.Float32], grads[tensor.Float64]); d > 1e-4*scale {
		t.Fatalf("float32 gradients differ from float64 by %g (largest gradient %g)", d, scale)
	}
}

// TestInferenceMatchesTraining checks that inference graphs (max-pool
// without recorded positions, ReLU folded in) compute the training graphs'
// outputs.
func TestInferenceMatchesTraining(t *testing.T) {
	spec := Sequential([]int{2, 32, 32},
		Conv2D(2, 4, 3, 1, 1), ReLU(), MaxPool2D(2),
		Conv2D(4, 6, 3, 1, 1), MaxPool2D(2), ReLU(),
		Flatten(), Dense(384, 5))
	m, _ := NewModel(spec, 3)
	rng := rand.New(rand.NewPCG(6, 6))
	for i := range m.Params {
		m.Params[i] += 0.05 * rng.NormFloat64()
	}
	b := synthBatch(spec, 5, 8)
	for _, dt := range []tensor.Dtype{tensor.Float32, tensor.Float64} {
		var outs [2][]float64
		for i, train := range []bool{true, false} {
			r, err := newReplica(spec, 5, dt, train)
			if err != nil {
				t.Fatal(err)
			}
			r.load(m)
			setValues(r.x, b.X)
			if err := r.run(); err != nil {
				t.Fatal(err)
			}
			outs[i] = make([]float64, 25)
			addValues(outs[i], r.out, 1)
		}
		if d := maxDiff(outs[0], outs[1]); d != 0 {
			t.Fatalf("%v: inference outputs differ from training outputs by %g", dt, d)
		}
	}
}
