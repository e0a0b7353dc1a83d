package nn

import (
	"bytes"
	"encoding/json"
	"fmt"
	"math"
	"slices"
	"sort"

	"github.com/goray/goray/checkpoint"
)

// Framework is the checkpoint framework name of nn models.
const Framework = "nn"

// FormatVersion is the version of the checkpoint files this package writes.
const FormatVersion = 1

// Checkpoint file names.
const (
	ModelFile         = "model.json"
	WeightsFile       = "weights.bin"
	OptimizerFile     = "optimizer.json"
	OptimizerSlotFile = "optimizer.bin"
)

// Normalization is a fitted per-channel input scaling, applied to raw inputs
// before the model: x' = (x·Scale − Mean[c]) / Std[c], where c is the index
// along the first input axis (the channel of a [C,H,W] image; the feature of
// a flat input).
type Normalization struct {
	Scale float64   `json:"scale"`
	Mean  []float64 `json:"mean"`
	Std   []float64 `json:"std"`
}

// FitNormalization computes per-channel mean and standard deviation of the
// scaled inputs x (n examples of shape input, row-major).
func FitNormalization(x []float32, input []int, scale float64) Normalization {
	c := input[0]
	per := prod(input[1:])
	size := c * per
	nm := Normalization{Scale: scale, Mean: make([]float64, c), Std: make([]float64, c)}
	n := len(x) / size
	if n == 0 {
		for j := range nm.Std {
			nm.Std[j] = 1
		}
		return nm
	}
	for j := 0; j < c; j++ {
		var s, ss float64
		for i := 0; i < n; i++ {
			for _, v := range x[i*size+j*per : i*size+(j+1)*per] {
				f := float64(v) * scale
				s += f
				ss += f * f
			}
		}
		cnt := float64(n * per)
		mu := s / cnt
		nm.Mean[j] = mu
		nm.Std[j] = math.Sqrt(math.Max(ss/cnt-mu*mu, 0))
		if nm.Std[j] < 1e-8 {
			nm.Std[j] = 1
		}
	}
	return nm
}

// Apply normalises x (examples of shape input) in place.
func (nm *Normalization) Apply(x []float32, input []int) {
	if nm == nil {
		return
	}
	c := input[0]
	per := prod(input[1:])
	for i := 0; i+c*per <= len(x); i += c * per {
		for j := 0; j < c; j++ {
			sc := float32(nm.Scale / nm.Std[j])
			sh := float32(nm.Mean[j] / nm.Std[j])
			for k, v := range x[i+j*per : i+(j+1)*per] {
				x[i+j*per+k] = v*sc - sh
			}
		}
	}
}

// ModelInfo is what model.json holds besides the architecture.
type ModelInfo struct {
	Spec Spec `json:"spec"`
	// Classes names the outputs of a classifier (optional).
	Classes []string `json:"classes,omitempty"`
	// Normalization is applied to raw inputs by the Predictor (optional).
	Normalization *Normalization `json:"normalization,omitempty"`
}

// SaveOptions says what a checkpoint holds besides weights.
type SaveOptions struct {
	Classes       []string
	Normalization *Normalization
	// Features are the raw input columns a Predictor reads. Default: one
	// column "x" of fixed-size lists of float32 holding a whole example.
	Features []checkpoint.Feature
	// Preprocessor is the state of a fitted preprocess-package
	// preprocessor, written as preprocessor.json (optional).
	Preprocessor []byte
	Metrics      map[string]float64
}

type optimizerJSON struct {
	Config OptimizerConfig `json:"config"`
	Steps  int64           `json:"steps"`
	Seed   uint64          `json:"seed"`
	Slots  []string        `json:"slots"`
}

// DefaultFeatures is the default input column: one fixed-size list of
// float32 per example.
func DefaultFeatures(spec Spec) []checkpoint.Feature {
	return []checkpoint.Feature{{Name: "x", Type: fmt.Sprintf("fixed_size_list<float32>[%d]", spec.InputSize())}}
}

// SaveModel writes a checkpoint holding m's architecture and weights to dir.
func SaveModel(dir string, m *Model, opts SaveOptions) (*checkpoint.Checkpoint, error) {
	return save(dir, m, nil, 0, opts)
}

// Save writes a checkpoint of the learner: architecture, weights, optimizer
// state and step count, so Resume continues the run exactly.
func (l *Learner) Save(dir string, opts SaveOptions) (*checkpoint.Checkpoint, error) {
	return save(dir, l.model, l.opt, l.seed, opts)
}

func save(dir string, m *Model, opt *Optimizer, seed uint64, opts SaveOptions) (*checkpoint.Checkpoint, error) {
	feats := opts.Features
	if feats == nil {
		feats = DefaultFeatures(m.spec)
	}
	ck, err := checkpoint.New(dir, checkpoint.Metadata{
		Framework: Framework, FormatVersion: FormatVersion, Features: feats, Metrics: opts.Metrics,
	})
	if err != nil {
		return nil, err
	}
	info, err := json.MarshalIndent(ModelInfo{Spec: m.Spec(), Classes: opts.Classes, Normalization: opts.Normalization}, "", "  ")
	if err != nil {
		return nil, err
	}
	if err := ck.WriteFile(ModelFile, info); err != nil {
		return nil, err
	}
	if err := ck.WriteFile(WeightsFile, m.MarshalWeights()); err != nil {
		return nil, err
	}
	if opts.Preprocessor != nil {
		if err := ck.WriteFile(checkpoint.PreprocessorFile, opts.Preprocessor); err != nil {
			return nil, err
		}
	}
	if opt == nil {
		return ck, nil
	}
	oj := optimizerJSON{Config: opt.Config, Steps: opt.Steps, Seed: seed}
	var ts []NamedTensor
	for name := range opt.Slots {
		oj.Slots = append(oj.Slots, name)
	}
	sort.Strings(oj.Slots)
	for _, name := range oj.Slots {
		ts = append(ts, NamedTensor{Name: name, Shape: []int{len(opt.Slots[name])}, Data: opt.Slots[name]})
	}
	b, err := json.MarshalIndent(oj, "", "  ")
	if err != nil {
		return nil, err
	}
	if err := ck.WriteFile(OptimizerFile, b); err != nil {
		return nil, err
	}
	var buf bytes.Buffer
	if err := EncodeTensors(&buf, ts, true); err != nil {
		return nil, err
	}
	return ck, ck.WriteFile(OptimizerSlotFile, buf.Bytes())
}

// LoadModel rebuilds the model stored in ckpt. If want is non-nil, the
// checkpoint's architecture must equal *want, else the error wraps
// ErrArchitectureMismatch and names the first differing layer.
func LoadModel(ckpt *checkpoint.Checkpoint, want *Spec) (*Model, ModelInfo, error) {
	var info ModelInfo
	if err := ckpt.Require(Framework, FormatVersion); err != nil {
		return nil, info, err
	}
	b, err := ckpt.ReadFile(ModelFile)
	if err != nil {
		return nil, info, err
	}
	if err := json.Unmarshal(b, &info); err != nil {
		return nil, info, fmt.Errorf("%w: %s/%s: %v", checkpoint.ErrCorrupt, ckpt.Path(), ModelFile, err)
	}
	if want != nil {
		if err := describeMismatch(*want, info.Spec); err != nil {
			return nil, info, fmt.Errorf("checkpoint %s: %w", ckpt.Path(), err)
		}
	}
	m, err := newEmptyModel(info.Spec)
	if err != nil {
		return nil, info, fmt.Errorf("checkpoint %s/%s: %w", ckpt.Path(), ModelFile, err)
	}
	if info.Normalization != nil && (len(info.Normalization.Mean) != info.Spec.Input[0] || len(info.Normalization.Std) != info.Spec.Input[0]) {
		return nil, info, fmt.Errorf("%w: %s/%s: normalization has %d means, input has %d channels",
			checkpoint.ErrCorrupt, ckpt.Path(), ModelFile, len(info.Normalization.Mean), info.Spec.Input[0])
	}
	wb, err := ckpt.ReadFile(WeightsFile)
	if err != nil {
		return nil, info, err
	}
	if err := m.UnmarshalWeights(wb, ckpt.Path()+"/"+WeightsFile); err != nil {
		return nil, info, err
	}
	return m, info, nil
}

// describeMismatch returns nil if the specs are equal, else an
// ErrArchitectureMismatch naming the first difference.
func describeMismatch(want, got Spec) error {
	if want.Equal(got) {
		return nil
	}
	if !slices.Equal(want.Input, got.Input) {
		return fmt.Errorf("%w: input shape %v, want %v", ErrArchitectureMismatch, got.Input, want.Input)
	}
	for i := 0; i < max(len(want.Layers), len(got.Layers)); i++ {
		switch {
		case i >= len(got.Layers):
			return fmt.Errorf("%w: checkpoint has %d layers, want %d (missing layer %d %s)", ErrArchitectureMismatch, len(got.Layers), len(want.Layers), i, want.Layers[i].Kind)
		case i >= len(want.Layers):
			return fmt.Errorf("%w: checkpoint has %d layers, want %d (extra layer %d %s)", ErrArchitectureMismatch, len(got.Layers), len(want.Layers), i, got.Layers[i].Kind)
		case want.Layers[i] != got.Layers[i]:
			return fmt.Errorf("%w: layer %d is %+v, want %+v", ErrArchitectureMismatch, i, got.Layers[i], want.Layers[i])
		}
	}
	return fmt.Errorf("%w: loss %q, want %q", ErrArchitectureMismatch, got.Loss, want.Loss)
}

// Resume rebuilds a Learner from a checkpoint written by Learner.Save:
// weights, optimizer state, step count and dropout seed, so that training
// continues exactly as if it had not stopped. cfg.Schedule and cfg.Replicas
// apply; cfg.Seed is taken from the checkpoint. cfg.Optimizer, when set,
// replaces the saved hyperparameters (a tuner changing the learning rate of
// a resumed trial); it must be of the saved kind, whose state carries over.
// When unset the saved optimizer config is used. If want is non-nil the
// architecture must match it.
func Resume(ckpt *checkpoint.Checkpoint, want *Spec, cfg LearnerConfig) (*Learner, error) {
	m, _, err := LoadModel(ckpt, want)
	if err != nil {
		return nil, err
	}
	b, err := ckpt.ReadFile(OptimizerFile)
	if err != nil {
		return nil, fmt.Errorf("checkpoint %s has no optimizer state (saved with SaveModel?): %w", ckpt.Path(), err)
	}
	var oj optimizerJSON
	if err := json.Unmarshal(b, &oj); err != nil {
		return nil, fmt.Errorf("%w: %s/%s: %v", checkpoint.ErrCorrupt, ckpt.Path(), OptimizerFile, err)
	}
	oc := oj.Config
	if cfg.Optimizer.Kind != "" {
		if cfg.Optimizer.Kind != oc.Kind {
			return nil, fmt.Errorf("%w: checkpoint %s holds %s optimizer state, the config asks for %s",
				ErrArchitectureMismatch, ckpt.Path(), oc.Kind, cfg.Optimizer.Kind)
		}
		oc = cfg.Optimizer
	}
	opt, err := NewOptimizer(oc, len(m.Params))
	if err != nil {
		return nil, fmt.Errorf("%w: %s/%s: %v", checkpoint.ErrCorrupt, ckpt.Path(), OptimizerFile, err)
	}
	opt.Steps = oj.Steps
	sb, err := ckpt.ReadFile(OptimizerSlotFile)
	if err != nil {
		return nil, err
	}
	ts, err := DecodeTensors(sb, ckpt.Path()+"/"+OptimizerSlotFile)
	if err != nil {
		return nil, err
	}
	for _, t := range ts {
		if len(t.Data) != len(m.Params) {
			return nil, fmt.Errorf("%w: %s/%s: slot %q has %d values, the model has %d parameters",
				ErrArchitectureMismatch, ckpt.Path(), OptimizerSlotFile, t.Name, len(t.Data), len(m.Params))
		}
		if slot, ok := opt.Slots[t.Name]; ok { // a slot the new config does not use is dropped
			copy(slot, t.Data)
		}
	}
	cfg.Optimizer, cfg.Seed = oc, oj.Seed
	return newLearner(m, opt, cfg)
}
