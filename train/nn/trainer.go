package nn

import (
	"context"
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"os"
	"runtime"

	"github.com/apache/arrow/go/v15/arrow"
	"github.com/apache/arrow/go/v15/arrow/array"

	"github.com/goray/goray/checkpoint"
	"github.com/goray/goray/data"
	"github.com/goray/goray/train"
)

// TrainerConfig is what an nn.Trainer trains and how.
type TrainerConfig struct {
	Spec      Spec
	Optimizer OptimizerConfig
	// Schedule sets each step's learning rate (the zero Schedule:
	// Optimizer.LR).
	Schedule Schedule
	// BatchSize is the global batch, split evenly across workers (default 64).
	BatchSize int
	// Epochs to train (default 1). Every epoch ends with a Report carrying
	// a checkpoint.
	Epochs int
	// Seed shuffles the shards and draws dropout masks.
	Seed uint64
	// Replicas is the number of graphs per worker run at once (default
	// GOMAXPROCS ÷ workers, at least 1).
	Replicas int
	// InputColumn holds the examples (a list of Spec.InputSize() numbers
	// per row, or one number for a 1-input model); default "x".
	InputColumn string
	// LabelColumn holds class indices (integer column) for softmax
	// cross-entropy, or targets (number or list) for mse; default "label".
	LabelColumn string
	// Normalization is applied to inputs (and saved for the Predictor).
	// If nil and FitNormalizationScale > 0, it is fitted on the training
	// shards (per-channel mean and std across all workers) after scaling
	// inputs by FitNormalizationScale.
	Normalization         *Normalization
	FitNormalizationScale float64
	// Classes names the outputs, saved in checkpoints.
	Classes []string
	// ValidDataset names the dataset evaluated after every epoch
	// (default "valid"; skipped when absent).
	ValidDataset string
}

// Trainer trains a model data-parallel on a train.DataParallelTrainer: each
// worker computes gradients on its shard of Datasets["train"], gradients are
// averaged with the group's AllReduce and every worker applies the same
// update. After each epoch it reports train_loss, train_accuracy,
// valid_loss, valid_accuracy and epoch with a checkpoint (Learner.Save).
type Trainer struct {
	Config        TrainerConfig
	ScalingConfig train.ScalingConfig
	RunConfig     train.RunConfig
	Datasets      map[string]*data.Dataset
	// Preprocessor is fitted and applied by the DataParallelTrainer and
	// saved in checkpoints (the Predictor applies it too).
	Preprocessor train.Preprocessor
	// ResumeFromCheckpoint continues a run saved by this Trainer.
	ResumeFromCheckpoint *checkpoint.Checkpoint
}

var _ train.RunConfigurableTrainer = (*Trainer)(nil)

// WithRunConfig returns a copy of the trainer whose RunConfig is edit
// applied to a copy of its own (train.RunConfigurableTrainer): a tuner sets
// the run directory and adds its report callback this way.
func (t *Trainer) WithRunConfig(edit func(*train.RunConfig)) train.Trainer {
	c := *t
	c.RunConfig = t.RunConfig.Clone()
	edit(&c.RunConfig)
	return &c
}

// Fit trains and returns the run's result; Result.Checkpoint loads with
// NewPredictor.
func (t *Trainer) Fit(ctx context.Context) (*train.Result, error) {
	cfg, err := t.config()
	if err != nil {
		return nil, err
	}
	if t.Datasets["train"] == nil {
		return nil, fmt.Errorf("%w: nn.Trainer.Datasets has no \"train\" dataset", train.ErrInvalidConfig)
	}
	dp := &train.DataParallelTrainer{
		TrainLoop:            trainerLoop,
		Config:               map[string]any{"trainer": cfg},
		ScalingConfig:        t.ScalingConfig,
		RunConfig:            t.RunConfig,
		Datasets:             t.Datasets,
		Preprocessor:         t.Preprocessor,
		ResumeFromCheckpoint: t.ResumeFromCheckpoint,
		Kind:                 "nn.Trainer",
	}
	return dp.Fit(ctx)
}

func (t *Trainer) config() (TrainerConfig, error) {
	c := t.Config
	if err := c.Spec.Validate(); err != nil {
		return c, err
	}
	if err := c.Optimizer.Validate(); err != nil {
		return c, err
	}
	if err := c.Schedule.Validate(); err != nil {
		return c, err
	}
	workers := max(t.ScalingConfig.NumWorkers, 1)
	if c.BatchSize == 0 {
		c.BatchSize = 64
	}
	if c.BatchSize < workers || c.BatchSize%workers != 0 {
		return c, fmt.Errorf("%w: nn.TrainerConfig.BatchSize = %d: must be a positive multiple of the %d workers", train.ErrInvalidConfig, c.BatchSize, workers)
	}
	if c.Epochs == 0 {
		c.Epochs = 1
	}
	if c.Epochs < 0 {
		return c, fmt.Errorf("%w: nn.TrainerConfig.Epochs = %d: must be positive", train.ErrInvalidConfig, c.Epochs)
	}
	if c.Replicas == 0 {
		c.Replicas = max(1, runtime.GOMAXPROCS(0)/workers)
	}
	if c.InputColumn == "" {
		c.InputColumn = "x"
	}
	if c.LabelColumn == "" {
		c.LabelColumn = "label"
	}
	if c.ValidDataset == "" {
		c.ValidDataset = "valid"
	}
	if nm := c.Normalization; nm != nil && (len(nm.Mean) != c.Spec.Input[0] || len(nm.Std) != c.Spec.Input[0]) {
		return c, fmt.Errorf("%w: nn.TrainerConfig.Normalization has %d means and %d stds, the input has %d channels", train.ErrInvalidConfig, len(nm.Mean), len(nm.Std), c.Spec.Input[0])
	}
	return c, nil
}

// shard is a worker's examples in memory.
type shard struct {
	x       []float32
	labels  []int32
	targets []float32
	n       int
}

func (s *shard) batch(spec Spec, idx []int, offset int64) Batch {
	in, out := spec.InputSize(), spec.OutputSize()
	b := Batch{X: make([]float32, len(idx)*in), Offset: offset}
	for i, j := range idx {
		copy(b.X[i*in:(i+1)*in], s.x[j*in:(j+1)*in])
	}
	if s.labels != nil {
		b.Labels = make([]int32, len(idx))
		for i, j := range idx {
			b.Labels[i] = s.labels[j]
		}
	} else {
		b.Targets = make([]float32, len(idx)*out)
		for i, j := range idx {
			copy(b.Targets[i*out:(i+1)*out], s.targets[j*out:(j+1)*out])
		}
	}
	return b
}

// loadShard reads a dataset shard into memory.
func loadShard(ctx context.Context, ds *data.Dataset, cfg TrainerConfig) (*shard, error) {
	s := &shard{}
	spec := cfg.Spec
	for rec, err := range ds.IterBatches(ctx) {
		if err != nil {
			return nil, err
		}
		x, err := columnFloats(rec, cfg.InputColumn, spec.InputSize())
		if err != nil {
			return nil, err
		}
		s.x = append(s.x, x...)
		n := int(rec.NumRows())
		if spec.Loss == SoftmaxCrossEntropy {
			l, err := columnLabels(rec, cfg.LabelColumn, spec.OutputSize())
			if err != nil {
				return nil, err
			}
			s.labels = append(s.labels, l...)
		} else {
			t, err := columnFloats(rec, cfg.LabelColumn, spec.OutputSize())
			if err != nil {
				return nil, err
			}
			s.targets = append(s.targets, t...)
		}
		s.n += n
	}
	return s, nil
}

func columnOf(rec arrow.Record, name string) (arrow.Array, error) {
	idx := rec.Schema().FieldIndices(name)
	if len(idx) == 0 {
		return nil, fmt.Errorf("%w: dataset has no column %q (columns: %v)", ErrInvalidBatch, name, rec.Schema())
	}
	return rec.Column(idx[0]), nil
}

// columnFloats reads `per` numbers per row from a list column (or a numeric
// column when per is 1).
func columnFloats(rec arrow.Record, name string, per int) ([]float32, error) {
	a, err := columnOf(rec, name)
	if err != nil {
		return nil, err
	}
	n := int(rec.NumRows())
	out := make([]float32, n*per)
	var values arrow.Array
	var first int64
	switch l := a.(type) {
	case *array.FixedSizeList:
		first = int64(l.Data().Offset() * per)
		values = l.ListValues()
	case *array.List:
		first, _ = l.ValueOffsets(0)
		values = l.ListValues()
	default:
		if per != 1 {
			return nil, fmt.Errorf("%w: column %q is %s, want a list of %d numbers per row", ErrInvalidBatch, name, a.DataType(), per)
		}
		return out, copyNumbers(out, a, name)
	}
	if ll, ok := a.(interface{ ValueOffsets(int) (int64, int64) }); ok {
		for i := 0; i < n; i++ {
			if s, e := ll.ValueOffsets(i); e-s != int64(per) || s != first+int64(i*per) || a.IsNull(i) {
				return nil, fmt.Errorf("%w: column %q row %d has %d values, want %d", ErrInvalidBatch, name, i, e-s, per)
			}
		}
	}
	sl := array.NewSlice(values, first, first+int64(n*per))
	defer sl.Release()
	return out, copyNumbers(out, sl, name)
}

func columnLabels(rec arrow.Record, name string, classes int) ([]int32, error) {
	a, err := columnOf(rec, name)
	if err != nil {
		return nil, err
	}
	f := make([]float32, a.Len())
	if err := copyNumbers(f, a, name); err != nil {
		return nil, err
	}
	out := make([]int32, len(f))
	for i, v := range f {
		if v != float32(int32(v)) || v < 0 || int(v) >= classes {
			return nil, fmt.Errorf("%w: column %q row %d: label %v is not a class index in [0, %d)", ErrInvalidBatch, name, i, v, classes)
		}
		out[i] = int32(v)
	}
	return out, nil
}

// TrainerConfig travels to the workers in the loop's config.
func init() { train.RegisterConfigType[TrainerConfig]() }

// trainerLoop is the per-worker loop of a Trainer; its config holds the
// checked TrainerConfig under "trainer".
var trainerLoop = train.RegisterLoop("nn.Trainer", func(tc train.Context, config map[string]any) error {
	cfg, ok := config["trainer"].(TrainerConfig)
	if !ok {
		return fmt.Errorf("%w: the nn.Trainer loop config \"trainer\" is a %T, want an nn.TrainerConfig", train.ErrInvalidConfig, config["trainer"])
	}
	return trainLoop(tc, cfg)
})

func trainLoop(tc train.Context, cfg TrainerConfig) error {
	ctx := tc.Context()
	rank, size := tc.WorldRank(), tc.WorldSize()
	spec := cfg.Spec
	sh, err := loadShard(ctx, tc.DatasetShard("train"), cfg)
	if err != nil {
		return fmt.Errorf("nn: rank %d reading its train shard: %w", rank, err)
	}
	var valid *shard
	if ds := tc.DatasetShard(cfg.ValidDataset); ds != nil {
		if valid, err = loadShard(ctx, ds, cfg); err != nil {
			return fmt.Errorf("nn: rank %d reading its %s shard: %w", rank, cfg.ValidDataset, err)
		}
	}
	local := cfg.BatchSize / size
	// Every worker takes the same number of steps: the smallest shard decides.
	cnt := []float64{-float64(sh.n)}
	if err := tc.Collective().AllReduce(ctx, cnt, train.Max); err != nil {
		return err
	}
	steps := int(-cnt[0]) / local
	if steps == 0 {
		return fmt.Errorf("%w: a worker's train shard has %d examples, fewer than the per-worker batch %d", train.ErrInvalidConfig, int(-cnt[0]), local)
	}

	norm := cfg.Normalization
	if norm == nil && cfg.FitNormalizationScale > 0 {
		nm, err := fitNormalization(tc, sh, spec, cfg.FitNormalizationScale)
		if err != nil {
			return err
		}
		norm = &nm
	}
	norm.Apply(sh.x, spec.Input)
	if valid != nil {
		norm.Apply(valid.x, spec.Input)
	}

	lcfg := LearnerConfig{Optimizer: cfg.Optimizer, Schedule: cfg.Schedule, Replicas: cfg.Replicas, Seed: cfg.Seed}
	var l *Learner
	if ck := tc.Checkpoint(); ck != nil {
		if l, err = Resume(ck, &spec, lcfg); err != nil {
			return fmt.Errorf("nn: rank %d resuming: %w", rank, err)
		}
	} else {
		m, err := NewModel(spec, cfg.Seed)
		if err != nil {
			return err
		}
		if l, err = NewLearner(m, lcfg); err != nil {
			return err
		}
	}
	for epoch := int(l.Steps()) / steps; epoch < cfg.Epochs; epoch++ {
		rng := rand.New(rand.NewPCG(cfg.Seed^uint64(rank+1)*0x9e3779b97f4a7c15, uint64(epoch)))
		perm := rng.Perm(sh.n)
		var lossSum, accSum float64
		for s := 0; s < steps; s++ {
			b := sh.batch(spec, perm[s*local:(s+1)*local], int64(rank*local))
			st, err := l.Step(ctx, b, tc.Collective())
			if err != nil {
				return fmt.Errorf("nn: rank %d epoch %d step %d: %w", rank, epoch, s, err)
			}
			lossSum += st.Loss
			accSum += st.Accuracy
		}
		metrics := map[string]float64{"epoch": float64(epoch + 1), "train_loss": lossSum / float64(steps)}
		if spec.Loss == SoftmaxCrossEntropy {
			metrics["train_accuracy"] = accSum / float64(steps)
		}
		if valid != nil {
			if err := evaluateShard(ctx, tc, l, valid, metrics); err != nil {
				return err
			}
		}
		var ck *checkpoint.Checkpoint
		var dir string
		if rank == 0 {
			if dir, err = train.TempDir(tc, "nn-ckpt-*"); err != nil {
				return err
			}
			ck, err = l.Save(dir+"/ckpt", SaveOptions{Classes: cfg.Classes, Normalization: norm, Metrics: metrics,
				Features: []checkpoint.Feature{{Name: cfg.InputColumn, Type: fmt.Sprintf("list<float32>[%d]", spec.InputSize())}}})
			if err != nil {
				os.RemoveAll(dir)
				return err
			}
		}
		err := tc.Report(metrics, ck)
		if dir != "" {
			os.RemoveAll(dir)
		}
		if err != nil {
			return err
		}
	}
	return nil
}

// evaluateShard scores the worker's validation shard and sums the results
// over the group into metrics.
func evaluateShard(ctx context.Context, tc train.Context, l *Learner, v *shard, metrics map[string]float64) error {
	spec := l.model.spec
	sums := make([]float64, 3) // loss sum, correct, n
	idx := make([]int, 0, 256)
	for lo := 0; lo < v.n; lo += 256 {
		idx = idx[:0]
		for i := lo; i < min(lo+256, v.n); i++ {
			idx = append(idx, i)
		}
		st, err := l.Evaluate(ctx, v.batch(spec, idx, 0))
		if err != nil {
			return err
		}
		sums[0] += st.Loss * float64(st.Examples)
		if !math.IsNaN(st.Accuracy) {
			sums[1] += st.Accuracy * float64(st.Examples)
		}
		sums[2] += float64(st.Examples)
	}
	if err := tc.Collective().AllReduce(ctx, sums, train.Sum); err != nil {
		return err
	}
	if sums[2] == 0 {
		return errors.New("nn: validation dataset is empty")
	}
	metrics["valid_loss"] = sums[0] / sums[2]
	if spec.Loss == SoftmaxCrossEntropy {
		metrics["valid_accuracy"] = sums[1] / sums[2]
	}
	return nil
}

// fitNormalization computes per-channel statistics over every worker's shard.
func fitNormalization(tc train.Context, sh *shard, spec Spec, scale float64) (Normalization, error) {
	c := spec.Input[0]
	per := spec.InputSize() / c
	sums := make([]float64, 2*c+1)
	for i := 0; i < sh.n; i++ {
		for j := 0; j < c; j++ {
			for _, v := range sh.x[i*spec.InputSize()+j*per : i*spec.InputSize()+(j+1)*per] {
				f := float64(v) * scale
				sums[j] += f
				sums[c+j] += f * f
			}
		}
	}
	sums[2*c] = float64(sh.n * per)
	if err := tc.Collective().AllReduce(tc.Context(), sums, train.Sum); err != nil {
		return Normalization{}, err
	}
	nm := Normalization{Scale: scale, Mean: make([]float64, c), Std: make([]float64, c)}
	for j := 0; j < c; j++ {
		mu := sums[j] / sums[2*c]
		nm.Mean[j] = mu
		nm.Std[j] = math.Sqrt(math.Max(sums[c+j]/sums[2*c]-mu*mu, 0))
		if nm.Std[j] < 1e-8 {
			nm.Std[j] = 1
		}
	}
	return nm, nil
}

// WithConfig returns a copy of the trainer with tuned values applied, for
// tune.Tuner (tune.ConfigurableTrainer). Keys: "lr", "momentum",
// "weight_decay", "batch_size", "epochs", "seed"; any other key is an error
// naming it.
func (t *Trainer) WithConfig(config map[string]any) (train.Trainer, error) {
	c := *t
	for k, v := range config {
		f, ok := toFloat(v)
		if !ok {
			return nil, fmt.Errorf("%w: nn.Trainer config %q = %v (%T): want a number", train.ErrInvalidConfig, k, v, v)
		}
		switch k {
		case "lr":
			c.Config.Optimizer.LR = f
		case "momentum":
			c.Config.Optimizer.Momentum = f
		case "weight_decay":
			c.Config.Optimizer.WeightDecay = f
		case "batch_size":
			c.Config.BatchSize = int(f)
		case "epochs":
			c.Config.Epochs = int(f)
		case "seed":
			c.Config.Seed = uint64(f)
		default:
			return nil, fmt.Errorf("%w: nn.Trainer has no tunable %q (want lr, momentum, weight_decay, batch_size, epochs or seed)", train.ErrInvalidConfig, k)
		}
	}
	if _, err := c.config(); err != nil {
		return nil, err
	}
	return &c, nil
}

// WithResumeFrom returns a copy that continues from a checkpoint it wrote
// (tune.ResumableTrainer).
func (t *Trainer) WithResumeFrom(ckpt *checkpoint.Checkpoint) train.Trainer {
	c := *t
	c.ResumeFromCheckpoint = ckpt
	return &c
}

func toFloat(v any) (float64, bool) {
	switch x := v.(type) {
	case float64:
		return x, true
	case float32:
		return float64(x), true
	case int:
		return float64(x), true
	case int64:
		return float64(x), true
	}
	return 0, false
}
