package nn

import (
	"encoding/json"
	"errors"
	"fmt"
	"slices"

	"github.com/goray/goray/core"
)

// ErrInvalidSpec reports an architecture that cannot be built: a layer whose
// input does not fit the previous layer's output, a bad parameter, or an
// unknown layer kind. Messages name the layer by index and kind.
var ErrInvalidSpec = errors.New("nn: invalid model spec")

// ErrArchitectureMismatch reports weights (or a checkpoint) whose
// architecture differs from the one asked for.
var ErrArchitectureMismatch = errors.New("nn: architecture mismatch")

// The sentinels keep their identity (errors.Is) when they cross from a
// training worker to the driver.
func init() {
	core.RegisterError("nn.ErrInvalidBatch", ErrInvalidBatch)
	core.RegisterError("nn.ErrInvalidSpec", ErrInvalidSpec)
	core.RegisterError("nn.ErrArchitectureMismatch", ErrArchitectureMismatch)
	core.RegisterError("nn.ErrCorruptWeights", ErrCorruptWeights)
}

// Layer kinds, as stored in Spec.Layers[i].Kind.
const (
	KindDense     = "dense"
	KindConv2D    = "conv2d"
	KindMaxPool2D = "maxpool2d"
	KindReLU      = "relu"
	KindDropout   = "dropout"
	KindFlatten   = "flatten"
	KindBatchNorm = "batchnorm"
)

// Loss names, as stored in Spec.Loss.
const (
	SoftmaxCrossEntropy = "softmax_cross_entropy"
	MeanSquaredError    = "mse"
)

// Layer is the serialisable configuration of one layer. Build layers with the
// constructors (Dense, Conv2D, ...); only the fields that the kind uses are
// set.
type Layer struct {
	Kind     string  `json:"kind"`
	In       int     `json:"in,omitempty"`       // dense: input features; conv2d: input channels; batchnorm: channels
	Out      int     `json:"out,omitempty"`      // dense: output features; conv2d: output channels
	Kernel   int     `json:"kernel,omitempty"`   // conv2d, maxpool2d: square window size
	Stride   int     `json:"stride,omitempty"`   // conv2d, maxpool2d
	Pad      int     `json:"pad,omitempty"`      // conv2d: zero padding on every side
	Rate     float64 `json:"rate,omitempty"`     // dropout: probability of dropping a unit
	Eps      float64 `json:"eps,omitempty"`      // batchnorm
	Momentum float64 `json:"momentum,omitempty"` // batchnorm: weight of the new batch in the running statistics
}

// Dense is a fully connected layer y = x·W + b with W of shape (in, out).
func Dense(in, out int) Layer { return Layer{Kind: KindDense, In: in, Out: out} }

// Conv2D is a 2-D convolution over NCHW input with a square kernel, the given
// stride and zero padding on every side; weights have shape (out, in, k, k).
func Conv2D(in, out, kernel, stride, pad int) Layer {
	return Layer{Kind: KindConv2D, In: in, Out: out, Kernel: kernel, Stride: stride, Pad: pad}
}

// MaxPool2D takes the maximum over non-overlapping size×size windows.
func MaxPool2D(size int) Layer { return Layer{Kind: KindMaxPool2D, Kernel: size, Stride: size} }

// ReLU is max(x, 0).
func ReLU() Layer { return Layer{Kind: KindReLU} }

// Dropout zeroes each unit with probability rate while training and scales the
// rest by 1/(1-rate); it is the identity at inference. Masks are drawn from the
// training seed, the step and the example's index in the global batch, so a
// run is reproducible whatever the number of workers.
func Dropout(rate float64) Layer { return Layer{Kind: KindDropout, Rate: rate} }

// Flatten reshapes (N, d1, d2, ...) to (N, d1·d2·...).
func Flatten() Layer { return Layer{Kind: KindFlatten} }

// BatchNorm normalises each channel (axis 1) with the batch's statistics while
// training and with running averages at inference; eps 1e-5, momentum 0.1.
func BatchNorm(channels int) Layer {
	return Layer{Kind: KindBatchNorm, In: channels, Eps: 1e-5, Momentum: 0.1}
}

// Spec is a model's architecture: the shape of one input example, the layers
// in order and the loss. It is what a checkpoint stores to rebuild the model.
type Spec struct {
	Input  []int   `json:"input"` // one example: [features] or [channels, height, width]
	Layers []Layer `json:"layers"`
	Loss   string  `json:"loss"`
}

// Sequential returns a spec with softmax cross-entropy loss.
func Sequential(input []int, layers ...Layer) Spec {
	return Spec{Input: slices.Clone(input), Layers: layers, Loss: SoftmaxCrossEntropy}
}

// WithLoss returns a copy of s with the given loss.
func (s Spec) WithLoss(loss string) Spec { s.Loss = loss; return s }

// Equal reports whether two specs describe the same architecture.
func (s Spec) Equal(o Spec) bool {
	a, _ := json.Marshal(s)
	b, _ := json.Marshal(o)
	return string(a) == string(b)
}

// InputSize is the number of values in one input example.
func (s Spec) InputSize() int { return prod(s.Input) }

// OutputSize is the number of outputs per example (classes for softmax
// cross-entropy). It is 0 for an invalid spec.
func (s Spec) OutputSize() int {
	shapes, err := s.shapes()
	if err != nil {
		return 0
	}
	return prod(shapes[len(shapes)-1])
}

func prod(s []int) int {
	n := 1
	for _, d := range s {
		n *= d
	}
	return n
}

// Validate checks that every layer fits its input and names the first that
// does not.
func (s Spec) Validate() error {
	_, err := s.shapes()
	return err
}

// shapes returns the per-example shape entering each layer and, last, the
// output shape.
func (s Spec) shapes() ([][]int, error) {
	if len(s.Input) == 0 {
		return nil, fmt.Errorf("%w: input shape is empty", ErrInvalidSpec)
	}
	for _, d := range s.Input {
		if d <= 0 {
			return nil, fmt.Errorf("%w: input shape %v has a non-positive dimension", ErrInvalidSpec, s.Input)
		}
	}
	if len(s.Layers) == 0 {
		return nil, fmt.Errorf("%w: no layers", ErrInvalidSpec)
	}
	switch s.Loss {
	case SoftmaxCrossEntropy, MeanSquaredError:
	default:
		return nil, fmt.Errorf("%w: unknown loss %q (want %q or %q)", ErrInvalidSpec, s.Loss, SoftmaxCrossEntropy, MeanSquaredError)
	}
	cur := slices.Clone(s.Input)
	out := [][]int{cur}
	for i, l := range s.Layers {
		bad := func(format string, args ...any) error {
			return fmt.Errorf("%w: layer %d (%s): %s", ErrInvalidSpec, i, l.Kind, fmt.Sprintf(format, args...))
		}
		var next []int
		switch l.Kind {
		case KindDense:
			if len(cur) != 1 {
				return nil, bad("needs flat input, got shape %v (add a flatten layer)", cur)
			}
			if l.In != cur[0] {
				return nil, bad("in=%d but the previous layer outputs %d features", l.In, cur[0])
			}
			if l.Out <= 0 {
				return nil, bad("out=%d must be positive", l.Out)
			}
			next = []int{l.Out}
		case KindConv2D:
			if len(cur) != 3 {
				return nil, bad("needs [channels height width] input, got shape %v", cur)
			}
			if l.In != cur[0] {
				return nil, bad("in=%d channels but the previous layer outputs %d", l.In, cur[0])
			}
			if l.Out <= 0 || l.Kernel <= 0 || l.Stride <= 0 || l.Pad < 0 {
				return nil, bad("out=%d kernel=%d stride=%d pad=%d: out, kernel and stride must be positive, pad non-negative", l.Out, l.Kernel, l.Stride, l.Pad)
			}
			oh := (cur[1]+2*l.Pad-l.Kernel)/l.Stride + 1
			ow := (cur[2]+2*l.Pad-l.Kernel)/l.Stride + 1
			if oh <= 0 || ow <= 0 {
				return nil, bad("kernel %d does not fit input %v with pad %d", l.Kernel, cur, l.Pad)
			}
			next = []int{l.Out, oh, ow}
		case KindMaxPool2D:
			if len(cur) != 3 {
				return nil, bad("needs [channels height width] input, got shape %v", cur)
			}
			if l.Kernel <= 0 || l.Stride <= 0 {
				return nil, bad("kernel=%d stride=%d must be positive", l.Kernel, l.Stride)
			}
			oh, ow := (cur[1]-l.Kernel)/l.Stride+1, (cur[2]-l.Kernel)/l.Stride+1
			if oh <= 0 || ow <= 0 {
				return nil, bad("window %d does not fit input %v", l.Kernel, cur)
			}
			next = []int{cur[0], oh, ow}
		case KindReLU:
			next = cur
		case KindDropout:
			if l.Rate < 0 || l.Rate >= 1 {
				return nil, bad("rate=%v must be in [0, 1)", l.Rate)
			}
			next = cur
		case KindFlatten:
			next = []int{prod(cur)}
		case KindBatchNorm:
			if l.In != cur[0] {
				return nil, bad("in=%d channels but the previous layer outputs %d (shape %v)", l.In, cur[0], cur)
			}
			if l.Eps <= 0 || l.Momentum <= 0 || l.Momentum > 1 {
				return nil, bad("eps=%v must be positive and momentum=%v in (0, 1]", l.Eps, l.Momentum)
			}
			next = cur
		default:
			return nil, bad("unknown layer kind")
		}
		cur = slices.Clone(next)
		out = append(out, cur)
	}
	if len(cur) != 1 {
		return nil, fmt.Errorf("%w: the last layer outputs shape %v; the loss needs a flat output (add flatten and dense)", ErrInvalidSpec, cur)
	}
	return out, nil
}

// ParamInfo describes one parameter or state tensor of a model.
type ParamInfo struct {
	Name  string // "<layer index>.<kind>.<weight|bias|gamma|beta|running_mean|running_var>"
	Shape []int
	Layer int
	// Trainable is false for batch-norm running statistics, which are
	// updated from batch statistics rather than by the optimizer.
	Trainable bool
}

// Params lists the model's tensors in their fixed order: the order of the
// flat weight vector, the gradient vector and the weight file.
func (s Spec) Params() ([]ParamInfo, error) {
	if err := s.Validate(); err != nil {
		return nil, err
	}
	var ps []ParamInfo
	add := func(i int, l Layer, name string, trainable bool, shape ...int) {
		ps = append(ps, ParamInfo{Name: fmt.Sprintf("%d.%s.%s", i, l.Kind, name), Shape: shape, Layer: i, Trainable: trainable})
	}
	for i, l := range s.Layers {
		switch l.Kind {
		case KindDense:
			add(i, l, "weight", true, l.In, l.Out)
			add(i, l, "bias", true, l.Out)
		case KindConv2D:
			add(i, l, "weight", true, l.Out, l.In, l.Kernel, l.Kernel)
			add(i, l, "bias", true, l.Out)
		case KindBatchNorm:
			add(i, l, "gamma", true, l.In)
			add(i, l, "beta", true, l.In)
			add(i, l, "running_mean", false, l.In)
			add(i, l, "running_var", false, l.In)
		}
	}
	return ps, nil
}
