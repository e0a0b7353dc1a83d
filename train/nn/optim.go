package nn

import (
	"fmt"
	"math"

	"github.com/goray/goray/train"
)

// Optimizer kinds, as stored in OptimizerConfig.Kind.
const (
	KindSGD  = "sgd"
	KindAdam = "adam"
)

// OptimizerConfig is the serialisable description of an optimizer.
type OptimizerConfig struct {
	Kind        string  `json:"kind"`
	LR          float64 `json:"lr"`
	Momentum    float64 `json:"momentum,omitempty"` // sgd
	Nesterov    bool    `json:"nesterov,omitempty"` // sgd
	Beta1       float64 `json:"beta1,omitempty"`    // adam
	Beta2       float64 `json:"beta2,omitempty"`    // adam
	Eps         float64 `json:"eps,omitempty"`      // adam
	WeightDecay float64 `json:"weight_decay,omitempty"`
}

// SGD is stochastic gradient descent with (heavy-ball) momentum, as in
// PyTorch: v = μ·v + g; w -= lr·v.
func SGD(lr, momentum float64) OptimizerConfig {
	return OptimizerConfig{Kind: KindSGD, LR: lr, Momentum: momentum}
}

// Adam is Kingma & Ba's optimizer with bias correction; β1 0.9, β2 0.999,
// ε 1e-8.
func Adam(lr float64) OptimizerConfig {
	return OptimizerConfig{Kind: KindAdam, LR: lr, Beta1: 0.9, Beta2: 0.999, Eps: 1e-8}
}

// Validate names the first bad field.
func (c OptimizerConfig) Validate() error {
	switch {
	case c.Kind != KindSGD && c.Kind != KindAdam:
		return fmt.Errorf("nn: optimizer kind %q: want %q or %q", c.Kind, KindSGD, KindAdam)
	case !(c.LR > 0):
		return fmt.Errorf("nn: optimizer lr %v must be positive", c.LR)
	case c.Momentum < 0 || c.Momentum >= 1:
		return fmt.Errorf("nn: optimizer momentum %v must be in [0, 1)", c.Momentum)
	case c.WeightDecay < 0:
		return fmt.Errorf("nn: optimizer weight_decay %v must be non-negative", c.WeightDecay)
	case c.Kind == KindAdam && (c.Beta1 < 0 || c.Beta1 >= 1 || c.Beta2 < 0 || c.Beta2 >= 1 || !(c.Eps > 0)):
		return fmt.Errorf("nn: adam beta1=%v beta2=%v eps=%v: betas must be in [0, 1), eps positive", c.Beta1, c.Beta2, c.Eps)
	}
	return nil
}

// Optimizer updates a flat parameter vector from a gradient vector and keeps
// the per-parameter state (momentum, Adam moments) that a checkpoint saves.
type Optimizer struct {
	Config OptimizerConfig
	Steps  int64 // updates applied so far

	// Slots holds the state vectors, each as long as the parameter vector:
	// "velocity" for SGD with momentum, "m" and "v" for Adam.
	Slots map[string][]float64
}

// NewOptimizer returns an optimizer for n parameters.
func NewOptimizer(cfg OptimizerConfig, n int) (*Optimizer, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	o := &Optimizer{Config: cfg, Slots: map[string][]float64{}}
	for _, name := range o.slotNames() {
		o.Slots[name] = make([]float64, n)
	}
	return o, nil
}

func (o *Optimizer) slotNames() []string {
	switch {
	case o.Config.Kind == KindAdam:
		return []string{"m", "v"}
	case o.Config.Momentum > 0:
		return []string{"velocity"}
	}
	return nil
}

// Update applies one step with learning rate lr to w given gradient g.
func (o *Optimizer) Update(w, g []float64, lr float64) {
	c := o.Config
	o.Steps++
	switch c.Kind {
	case KindSGD:
		vel := o.Slots["velocity"]
		for i := range w {
			gi := g[i] + c.WeightDecay*w[i]
			if vel != nil {
				vel[i] = c.Momentum*vel[i] + gi
				if c.Nesterov {
					gi += c.Momentum * vel[i]
				} else {
					gi = vel[i]
				}
			}
			w[i] -= lr * gi
		}
	case KindAdam:
		m, v := o.Slots["m"], o.Slots["v"]
		t := float64(o.Steps)
		bc1, bc2 := 1-math.Pow(c.Beta1, t), 1-math.Pow(c.Beta2, t)
		for i := range w {
			gi := g[i] + c.WeightDecay*w[i]
			m[i] = c.Beta1*m[i] + (1-c.Beta1)*gi
			v[i] = c.Beta2*v[i] + (1-c.Beta2)*gi*gi
			w[i] -= lr * (m[i] / bc1) / (math.Sqrt(v[i]/bc2) + c.Eps)
		}
	}
}

// Schedule kinds, as stored in Schedule.Kind.
const (
	ScheduleConstant = "constant"
	ScheduleStep     = "step"
	ScheduleCosine   = "cosine"
)

// Schedule sets the learning rate of every step (step 0 is the first
// update). It is plain data, not a func, so that it travels with a
// trainer's config to workers in other processes; ConstantLR, StepDecay and
// CosineDecay build one. The zero Schedule keeps the optimizer's LR.
type Schedule struct {
	// Kind is ScheduleConstant, ScheduleStep or ScheduleCosine; "" is the
	// optimizer's LR.
	Kind string `json:"kind,omitempty"`
	// LR is the rate of step 0.
	LR float64 `json:"lr,omitempty"`
	// Every and Factor: a step schedule multiplies LR by Factor every
	// Every steps.
	Every  int64   `json:"every,omitempty"`
	Factor float64 `json:"factor,omitempty"`
	// MinLR and Total: a cosine schedule anneals from LR to MinLR over
	// Total steps, then stays at MinLR.
	MinLR float64 `json:"min_lr,omitempty"`
	Total int64   `json:"total,omitempty"`
}

// ConstantLR always returns lr.
func ConstantLR(lr float64) Schedule { return Schedule{Kind: ScheduleConstant, LR: lr} }

// StepDecay multiplies lr by factor every `every` steps.
func StepDecay(lr float64, every int64, factor float64) Schedule {
	return Schedule{Kind: ScheduleStep, LR: lr, Every: every, Factor: factor}
}

// CosineDecay anneals from lr to minLR over total steps, then stays at minLR.
func CosineDecay(lr, minLR float64, total int64) Schedule {
	return Schedule{Kind: ScheduleCosine, LR: lr, MinLR: minLR, Total: total}
}

// Validate checks the schedule and names the bad field.
func (s Schedule) Validate() error {
	switch s.Kind {
	case "", ScheduleConstant:
	case ScheduleStep:
		if s.Every <= 0 {
			return fmt.Errorf("%w: Schedule.Every = %d: a step schedule needs a positive number of steps", train.ErrInvalidConfig, s.Every)
		}
	case ScheduleCosine:
		if s.Total <= 0 {
			return fmt.Errorf("%w: Schedule.Total = %d: a cosine schedule needs a positive number of steps", train.ErrInvalidConfig, s.Total)
		}
	default:
		return fmt.Errorf("%w: Schedule.Kind = %q: want %q, %q or %q", train.ErrInvalidConfig, s.Kind, ScheduleConstant, ScheduleStep, ScheduleCosine)
	}
	return nil
}

// Rate is the learning rate of step (for a valid schedule of a kind other
// than "").
func (s Schedule) Rate(step int64) float64 {
	switch s.Kind {
	case ScheduleStep:
		return s.LR * math.Pow(s.Factor, float64(step/s.Every))
	case ScheduleCosine:
		if step >= s.Total {
			return s.MinLR
		}
		return s.MinLR + (s.LR-s.MinLR)*0.5*(1+math.Cos(math.Pi*float64(step)/float64(s.Total)))
	}
	return s.LR
}
