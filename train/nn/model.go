package nn

import (
	"fmt"
	"math"
	"math/rand/v2"
	"slices"
)

// Model is an architecture with its weights. The weights live in two flat
// float64 vectors in the order of Spec.Params(): Params holds the trainable
// tensors (the vector the optimizer updates and workers average gradients
// for), State the batch-norm running statistics. Graphs compute in float32 and
// copy from these vectors before each step, so every graph has its own copy.
type Model struct {
	spec    Spec
	infos   []ParamInfo
	offsets []int // offset of infos[i] in Params or State

	Params []float64
	State  []float64
}

// NewModel validates spec and initialises the weights from seed: weights
// uniform in ±√(6/fan_in) (He), biases and batch-norm β zero, γ one, running
// variance one.
func NewModel(spec Spec, seed uint64) (*Model, error) {
	m, err := newEmptyModel(spec)
	if err != nil {
		return nil, err
	}
	rng := rand.New(rand.NewPCG(seed, 0x9e3779b97f4a7c15))
	for i, p := range m.infos {
		v := m.tensor(i)
		switch {
		case hasSuffix(p.Name, ".weight"):
			fanIn := prod(p.Shape[1:])
			if m.spec.Layers[p.Layer].Kind == KindDense {
				fanIn = p.Shape[0]
			}
			bound := math.Sqrt(6 / float64(fanIn))
			for j := range v {
				v[j] = (2*rng.Float64() - 1) * bound
			}
		case hasSuffix(p.Name, ".gamma"), hasSuffix(p.Name, ".running_var"):
			for j := range v {
				v[j] = 1
			}
		}
	}
	return m, nil
}

func hasSuffix(s, suf string) bool { return len(s) >= len(suf) && s[len(s)-len(suf):] == suf }

func newEmptyModel(spec Spec) (*Model, error) {
	infos, err := spec.Params()
	if err != nil {
		return nil, err
	}
	m := &Model{spec: cloneSpec(spec), infos: infos, offsets: make([]int, len(infos))}
	var np, ns int
	for i, p := range infos {
		if p.Trainable {
			m.offsets[i], np = np, np+prod(p.Shape)
		} else {
			m.offsets[i], ns = ns, ns+prod(p.Shape)
		}
	}
	m.Params, m.State = make([]float64, np), make([]float64, ns)
	return m, nil
}

func cloneSpec(s Spec) Spec {
	s.Input = slices.Clone(s.Input)
	s.Layers = slices.Clone(s.Layers)
	return s
}

// Spec returns the model's architecture.
func (m *Model) Spec() Spec { return cloneSpec(m.spec) }

// ParamInfos lists the model's tensors in order.
func (m *Model) ParamInfos() []ParamInfo { return slices.Clone(m.infos) }

// NumParams is the number of trainable values.
func (m *Model) NumParams() int { return len(m.Params) }

func (m *Model) tensor(i int) []float64 {
	n := prod(m.infos[i].Shape)
	if m.infos[i].Trainable {
		return m.Params[m.offsets[i] : m.offsets[i]+n]
	}
	return m.State[m.offsets[i] : m.offsets[i]+n]
}

// Tensor returns the named tensor's values (a view into Params or State).
func (m *Model) Tensor(name string) ([]float64, error) {
	for i, p := range m.infos {
		if p.Name == name {
			return m.tensor(i), nil
		}
	}
	return nil, fmt.Errorf("nn: model has no tensor %q", name)
}

// Clone returns a deep copy.
func (m *Model) Clone() *Model {
	c := *m
	c.spec = cloneSpec(m.spec)
	c.Params, c.State = slices.Clone(m.Params), slices.Clone(m.State)
	return &c
}
