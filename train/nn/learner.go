package nn

import (
	"context"
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"runtime"
	"sync"
	"sync/atomic"

	"gorgonia.org/tensor"

	"github.com/goray/goray/train"
)

// chunksPerCore is how many pieces per core a worker's batch is cut into.
const chunksPerCore = 2

// ErrInvalidBatch reports a batch whose sizes or labels do not fit the model.
var ErrInvalidBatch = errors.New("nn: invalid batch")

// Batch is one worker's share of a global batch.
type Batch struct {
	// X holds the examples row-major: len(X) = n·Spec.InputSize().
	X []float32
	// Labels are class indices for softmax cross-entropy (len n).
	Labels []int32
	// Targets are the regression targets for mean squared error
	// (len n·Spec.OutputSize()).
	Targets []float32
	// Offset is the index of X's first example in the global batch. It
	// seeds dropout masks, so that a run gives the same result on any
	// number of workers.
	Offset int64
}

func (b Batch) size(spec Spec) (int, error) {
	in, out := spec.InputSize(), spec.OutputSize()
	if len(b.X) == 0 || len(b.X)%in != 0 {
		return 0, fmt.Errorf("%w: X has %d values, not a positive multiple of the input size %d", ErrInvalidBatch, len(b.X), in)
	}
	n := len(b.X) / in
	if spec.Loss == MeanSquaredError {
		if len(b.Targets) != n*out {
			return 0, fmt.Errorf("%w: %d examples need %d targets, got %d", ErrInvalidBatch, n, n*out, len(b.Targets))
		}
		return n, nil
	}
	if len(b.Labels) != n {
		return 0, fmt.Errorf("%w: %d examples but %d labels", ErrInvalidBatch, n, len(b.Labels))
	}
	for i, y := range b.Labels {
		if y < 0 || int(y) >= out {
			return 0, fmt.Errorf("%w: example %d: label %d outside [0, %d)", ErrInvalidBatch, i, y, out)
		}
	}
	return n, nil
}

// LearnerConfig configures a Learner.
type LearnerConfig struct {
	Optimizer OptimizerConfig
	// Schedule sets the learning rate of each step; the zero Schedule
	// uses Optimizer.LR.
	Schedule Schedule
	// Replicas is the number of graphs run at once on one worker (one per
	// core), each with its own copy of the weights. With more than one, the
	// batch is cut into 2 chunks per graph, taken by whichever graph is
	// free. 0 means min(GOMAXPROCS, 4).
	Replicas int
	// Seed draws dropout masks.
	Seed uint64
}

// Learner trains a model: one Step computes the gradient of the mean loss over
// the batch (split across Replicas graphs running at once, each with its own
// copy of the weights), averages it across workers through a train.Collective and
// applies the optimizer, so every worker holds identical weights after each
// step. It is what one worker of a data-parallel trainer runs.
//
// A Learner is not safe for concurrent use.
type Learner struct {
	model    *Model
	opt      *Optimizer
	schedule Schedule
	seed     uint64
	cores    int

	graphs  []map[int]*replica // per core, by batch size
	bnIdx   []int              // layer index of each batch-norm layer
	vec     []float64          // reduced vector: grads | bn stats | loss, correct, n
	parts   [][]float64
	infer   *inferencer
	version int64
}

// NewLearner takes ownership of m (its weights change with every step).
func NewLearner(m *Model, cfg LearnerConfig) (*Learner, error) {
	opt, err := NewOptimizer(cfg.Optimizer, len(m.Params))
	if err != nil {
		return nil, err
	}
	return newLearner(m, opt, cfg)
}

func newLearner(m *Model, opt *Optimizer, cfg LearnerConfig) (*Learner, error) {
	cores := cfg.Replicas
	if cores <= 0 {
		cores = min(runtime.GOMAXPROCS(0), 4)
	}
	if err := cfg.Schedule.Validate(); err != nil {
		return nil, err
	}
	l := &Learner{model: m, opt: opt, schedule: cfg.Schedule, seed: cfg.Seed, cores: cores}
	if l.schedule.Kind == "" {
		l.schedule = ConstantLR(opt.Config.LR)
	}
	for i, ly := range m.spec.Layers {
		if ly.Kind == KindBatchNorm {
			l.bnIdx = append(l.bnIdx, i)
		}
	}
	l.graphs = make([]map[int]*replica, cores)
	for i := range l.graphs {
		l.graphs[i] = map[int]*replica{}
	}
	l.infer = newInferencer(m, cores, func() int64 { return l.version })
	return l, nil
}

// Model returns the model being trained (shared, not a copy).
func (l *Learner) Model() *Model { return l.model }

// Optimizer returns the optimizer and its state (shared, not a copy).
func (l *Learner) Optimizer() *Optimizer { return l.opt }

// Steps is the number of steps taken, the index of the next one.
func (l *Learner) Steps() int64 { return l.opt.Steps }

// StepStats summarises one step over the global batch.
type StepStats struct {
	Step     int64   // index of this step (0 for the first)
	Loss     float64 // mean loss over the global batch, before the update
	Accuracy float64 // fraction of correct argmax predictions (classification; NaN for mse)
	Examples int     // examples in the global batch
	LR       float64 // learning rate applied
}

// Step runs one data-parallel training step on this worker's batch: every
// worker of the group c calls it with its share of the global batch, the
// gradients are averaged with c.AllReduce (train.Mean, combined in rank
// order, so every worker applies the same update) and applied. A single
// worker passes train.Solo().
func (l *Learner) Step(ctx context.Context, b Batch, c train.Collective) (StepStats, error) {
	stats := StepStats{Step: l.opt.Steps}
	v, err := l.Gradients(ctx, b)
	if err != nil {
		return stats, err
	}
	if err := c.AllReduce(ctx, v, train.Mean); err != nil {
		return stats, fmt.Errorf("nn: step %d: all-reduce: %w", stats.Step, err)
	}
	stats.LR = l.schedule.Rate(stats.Step)
	stats.Loss, stats.Accuracy, stats.Examples = l.Apply(v, stats.LR)
	if l.model.spec.Loss != SoftmaxCrossEntropy {
		stats.Accuracy = math.NaN()
	}
	return stats, nil
}

// Gradients computes this worker's contribution to one step: the vector that
// workers average with Collective.AllReduce (train.Mean) and then pass to Apply. Its layout is
// the gradient sums over the batch (Model.Params order), then per batch-norm
// layer the sums of the batch means and second moments, then the loss sum,
// the number of correct predictions and the number of examples. The vector
// is reused by the next call.
func (l *Learner) Gradients(ctx context.Context, b Batch) ([]float64, error) {
	spec := l.model.spec
	n, err := b.size(spec)
	if err != nil {
		return nil, err
	}
	np := len(l.model.Params)
	size := np + 3
	for _, i := range l.bnIdx {
		size += 2 * spec.Layers[i].In
	}
	// With several cores the batch is cut into chunksPerCore chunks per core,
	// taken by whichever core is free, so a core slowed down by other work
	// on the machine does not hold the whole step back. Chunk c always
	// covers the same examples and the sums are added in chunk order, so
	// the result does not depend on which core ran which chunk.
	parts := 1
	if l.cores > 1 {
		parts = min(n, l.cores*chunksPerCore)
	}
	for len(l.parts) < parts {
		l.parts = append(l.parts, nil)
	}
	los, cnts := make([]int, parts), make([]int, parts)
	lo := 0
	for p := 0; p < parts; p++ {
		cnt := n / parts
		if p < n%parts {
			cnt++
		}
		los[p], cnts[p] = lo, cnt
		lo += cnt
		if len(l.parts[p]) != size {
			l.parts[p] = make([]float64, size)
		}
		clear(l.parts[p])
	}
	var wg sync.WaitGroup
	var next atomic.Int64
	errs := make([]error, parts)
	for w := 0; w < min(l.cores, parts); w++ {
		wg.Add(1)
		go func(core int) {
			defer wg.Done()
			for {
				p := int(next.Add(1) - 1)
				if p >= parts {
					return
				}
				if errs[p] = l.runPart(ctx, core, b, los[p], cnts[p], l.parts[p]); errs[p] != nil {
					return
				}
			}
		}(w)
	}
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	if len(l.vec) != size {
		l.vec = make([]float64, size)
	}
	copy(l.vec, l.parts[0])
	for p := 1; p < parts; p++ {
		for i, v := range l.parts[p] {
			l.vec[i] += v
		}
	}
	return l.vec, nil
}

// runPart runs core p's graph on examples [lo, lo+cnt) of b and adds its sums
// into acc.
func (l *Learner) runPart(ctx context.Context, p int, b Batch, lo, cnt int, acc []float64) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	spec := l.model.spec
	r := l.graphs[p][cnt]
	if r == nil {
		var err error
		if r, err = newReplica(spec, cnt, tensor.Float32, true); err != nil {
			return err
		}
		l.graphs[p][cnt] = r
	}
	if r.version != l.version {
		r.load(l.model)
		r.version = l.version
	}
	in, out := spec.InputSize(), spec.OutputSize()
	setValues(r.x, b.X[lo*in:(lo+cnt)*in])
	tg := r.target.Value().Data().([]float32)
	if spec.Loss == MeanSquaredError {
		copy(tg, b.Targets[lo*out:(lo+cnt)*out])
	} else {
		clear(tg)
		for i, y := range b.Labels[lo : lo+cnt] {
			tg[i*out+int(y)] = 1
		}
	}
	for _, mk := range r.masks {
		fillMask(mk, l.seed, l.opt.Steps, b.Offset+int64(lo), cnt)
	}
	if err := r.run(); err != nil {
		return err
	}
	np := len(l.model.Params)
	off := 0
	for _, g := range r.grads {
		k := g.Shape().TotalSize()
		addValues(acc[off:off+k], g, float64(cnt))
		off += k
	}
	off = np
	for _, bn := range r.bns {
		for j, mu := range bn.mean {
			acc[off+j] += float64(cnt) * mu
			acc[off+len(bn.mean)+j] += float64(cnt) * (bn.variance[j] + mu*mu)
		}
		off += 2 * len(bn.mean)
	}
	acc[off] += float64(cnt) * r.lossValue()
	if spec.Loss == SoftmaxCrossEntropy {
		scores := r.outputs().([]float32)
		for i, y := range b.Labels[lo : lo+cnt] {
			if argmax(scores[i*out:(i+1)*out]) == int(y) {
				acc[off+1]++
			}
		}
	}
	acc[off+2] += float64(cnt)
	return nil
}

// fillMask draws the dropout mask for examples first..first+cnt of the
// global batch at a step: each example's mask depends only on (seed, step,
// layer, global index).
func fillMask(mk dropoutMask, seed uint64, step int64, first int64, cnt int) {
	d := mk.node.Value().Data().([]float32)
	per := len(d) / mk.node.Shape()[0]
	keep := float32(1 / (1 - mk.rate))
	for i := 0; i < cnt; i++ {
		rng := rand.New(rand.NewPCG(seed^uint64(mk.layer)*0x9e3779b97f4a7c15, uint64(step)<<32^uint64(first+int64(i))))
		row := d[i*per : (i+1)*per]
		for j := range row {
			if rng.Float64() < mk.rate {
				row[j] = 0
			} else {
				row[j] = keep
			}
		}
	}
}

func argmax[T float](s []T) int {
	best := 0
	for i, v := range s {
		if v > s[best] {
			best = i
		}
	}
	return best
}

// Apply finishes a step from the averaged vector of Gradients: it updates the
// weights with learning rate lr and the batch-norm running statistics, and
// returns the global batch's mean loss, accuracy and size.
func (l *Learner) Apply(v []float64, lr float64) (loss, accuracy float64, examples int) {
	np := len(l.model.Params)
	cnt := v[len(v)-1]
	grads := v[:np]
	for i := range grads {
		grads[i] /= cnt
	}
	l.opt.Update(l.model.Params, grads, lr)
	off := np
	for _, li := range l.bnIdx {
		ly := l.model.spec.Layers[li]
		mean, _ := l.model.Tensor(fmt.Sprintf("%d.%s.running_mean", li, ly.Kind))
		variance, _ := l.model.Tensor(fmt.Sprintf("%d.%s.running_var", li, ly.Kind))
		c := ly.In
		hw := l.model.spec.shapesMust()[li]
		m := cnt * float64(prod(hw[1:]))
		for j := 0; j < c; j++ {
			mu := v[off+j] / cnt
			va := v[off+c+j]/cnt - mu*mu
			if m > 1 {
				va *= m / (m - 1)
			}
			mean[j] = (1-ly.Momentum)*mean[j] + ly.Momentum*mu
			variance[j] = (1-ly.Momentum)*variance[j] + ly.Momentum*va
		}
		off += 2 * c
	}
	l.version++
	return v[off] / cnt, v[off+1] / cnt, int(math.Round(cnt))
}

func (s Spec) shapesMust() [][]int {
	sh, err := s.shapes()
	if err != nil {
		panic(err)
	}
	return sh
}

// EvalStats summarises an evaluation.
type EvalStats struct {
	Loss     float64
	Accuracy float64 // NaN for mse
	Examples int
}

// Evaluate scores b with the current weights in inference mode (running
// batch-norm statistics, no dropout).
func (l *Learner) Evaluate(ctx context.Context, b Batch) (EvalStats, error) {
	spec := l.model.spec
	n, err := b.size(spec)
	if err != nil {
		return EvalStats{}, err
	}
	scores, err := l.infer.forward(ctx, b.X, n)
	if err != nil {
		return EvalStats{}, err
	}
	out := spec.OutputSize()
	st := EvalStats{Examples: n, Accuracy: math.NaN()}
	var correct int
	for i := 0; i < n; i++ {
		row := scores[i*out : (i+1)*out]
		if spec.Loss == MeanSquaredError {
			st.Loss += lossValue(lossMSE, row, b.Targets[i*out:(i+1)*out], 1, out)
			continue
		}
		st.Loss -= float64(row[b.Labels[i]]) - logSumExp(row)
		if argmax(row) == int(b.Labels[i]) {
			correct++
		}
	}
	st.Loss /= float64(n)
	if spec.Loss == SoftmaxCrossEntropy {
		st.Accuracy = float64(correct) / float64(n)
	}
	return st, nil
}
