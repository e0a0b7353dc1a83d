package gbdt

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"math"
	"os"
	"sort"
	"sync/atomic"

	"github.com/apache/arrow/go/v15/arrow"

	"github.com/goray/goray/checkpoint"
	"github.com/goray/goray/data"
	"github.com/goray/goray/train"
)

// Config configures a Trainer, the way XGBoostTrainer is configured in Ray.
type Config struct {
	// LabelColumn is the column to predict (required).
	LabelColumn string
	// Params are XGBoost-named booster parameters (objective, eta, max_depth, ...).
	Params map[string]any
	// NumBoostRound is the number of boosting rounds (default 10).
	NumBoostRound int
	// Datasets: "train" is required; every dataset is scored each round
	// and its metrics reported as "<name>-<metric>".
	Datasets map[string]*data.Dataset
	// Preprocessor is fitted on "train", applied to every dataset and
	// stored in every checkpoint.
	Preprocessor train.Preprocessor
	// ScalingConfig: the workers, each holding a disjoint shard of every
	// dataset; histograms are all-reduced so N workers build the trees one would.
	ScalingConfig train.ScalingConfig
	// RunConfig: name, storage, checkpoints kept, failures, stop conditions.
	RunConfig train.RunConfig
	// CheckpointFrequency writes a checkpoint every N rounds; 0 writes one
	// only at the end (also when training stops early).
	CheckpointFrequency int
	// ResumeFromCheckpoint continues boosting from a gbdt checkpoint.
	ResumeFromCheckpoint *checkpoint.Checkpoint
}

// Trainer trains a GBDT model on the train framework's workers.
type Trainer struct {
	cfg Config
	// crashAfter makes rank 1 panic once after that many rounds (tests of
	// worker failure); crashed records that it did.
	crashAfter int
	crashed    *atomic.Bool
}

var (
	_ train.ScaledTrainer          = (*Trainer)(nil)
	_ train.RunConfigurableTrainer = (*Trainer)(nil)
)

// NewTrainer checks cfg and returns a Trainer. Parameters are validated
// here, so an unknown or bad parameter fails before any work starts.
func NewTrainer(cfg Config) (*Trainer, error) {
	if cfg.LabelColumn == "" {
		return nil, fmt.Errorf("%w: gbdt.Config.LabelColumn is empty", ErrInvalidInput)
	}
	if cfg.NumBoostRound < 0 {
		return nil, fmt.Errorf("%w: gbdt.Config.NumBoostRound = %d: must be >= 1", ErrInvalidParam, cfg.NumBoostRound)
	}
	if cfg.NumBoostRound == 0 {
		cfg.NumBoostRound = 10
	}
	if cfg.CheckpointFrequency < 0 {
		return nil, fmt.Errorf("%w: gbdt.Config.CheckpointFrequency = %d: must be >= 0", ErrInvalidInput, cfg.CheckpointFrequency)
	}
	if cfg.Datasets["train"] == nil {
		return nil, fmt.Errorf("%w: gbdt.Config.Datasets has no \"train\" dataset", ErrInvalidInput)
	}
	if _, err := parseParams(cfg.Params); err != nil {
		return nil, err
	}
	if err := cfg.ScalingConfig.Validate(); err != nil {
		return nil, err
	}
	if err := cfg.RunConfig.Validate(); err != nil {
		return nil, err
	}
	return &Trainer{cfg: cfg}, nil
}

// Config returns a copy of the trainer's configuration.
func (t *Trainer) Config() Config { return t.cfg }

// WithConfig returns a trainer whose configuration is overridden by a
// tuner's sampled config: {"params": {...}} deep-merges into Params,
// "num_boost_round" replaces NumBoostRound.
func (t *Trainer) WithConfig(config map[string]any) (train.Trainer, error) {
	cfg := t.cfg
	cfg.Params = maps.Clone(t.cfg.Params)
	if cfg.Params == nil {
		cfg.Params = map[string]any{}
	}
	for k, v := range config {
		switch k {
		case "params":
			m, ok := v.(map[string]any)
			if !ok {
				return nil, fmt.Errorf("%w: config \"params\" is a %T, want a map", ErrInvalidInput, v)
			}
			maps.Copy(cfg.Params, m)
		case "num_boost_round":
			n, ok := asInt(v)
			if !ok {
				return nil, fmt.Errorf("%w: config \"num_boost_round\" = %v: want an integer", ErrInvalidParam, v)
			}
			cfg.NumBoostRound = n
		default:
			return nil, fmt.Errorf("%w: config key %q: a gbdt trainer takes \"params\" and \"num_boost_round\"", ErrInvalidInput, k)
		}
	}
	return NewTrainer(cfg)
}

// WithResumeFrom returns a trainer that continues boosting from a gbdt
// checkpoint it wrote (a paused or retried tuning trial).
func (t *Trainer) WithResumeFrom(ckpt *checkpoint.Checkpoint) train.Trainer {
	cp := *t
	cp.cfg.ResumeFromCheckpoint = ckpt
	return &cp
}

// WithRunConfig returns a trainer whose RunConfig is edit applied to a copy
// of this one's (train.RunConfigurableTrainer): a tuner sets the run
// directory and adds its report callback this way.
func (t *Trainer) WithRunConfig(edit func(*train.RunConfig)) train.Trainer {
	cp := *t
	rc := t.cfg.RunConfig.Clone()
	edit(&rc)
	cp.cfg.RunConfig = rc
	return &cp
}

// ScalingConfig is what one Fit holds (train.ScaledTrainer).
func (t *Trainer) ScalingConfig() train.ScalingConfig { return t.cfg.ScalingConfig }

func asInt(v any) (int, bool) {
	switch x := v.(type) {
	case int:
		return x, true
	case int64:
		return int(x), true
	case float64:
		if x == math.Trunc(x) {
			return int(x), true
		}
	}
	return 0, false
}

// Fit trains the model and returns the run's result; Result.Checkpoint
// holds the final model.
func (t *Trainer) Fit(ctx context.Context) (*train.Result, error) {
	schema, err := t.cfg.Datasets["train"].Schema(ctx)
	if err != nil {
		return nil, fmt.Errorf("gbdt: read the schema of \"train\": %w", err)
	}
	if len(schema.FieldIndices(t.cfg.LabelColumn)) == 0 {
		return nil, fmt.Errorf("%w: label column %q not found in \"train\" (columns: %v)", ErrInvalidInput, t.cfg.LabelColumn, fieldNames(schema))
	}
	var inputs []checkpoint.Feature
	for _, f := range schema.Fields() {
		if f.Name != t.cfg.LabelColumn {
			inputs = append(inputs, checkpoint.Feature{Name: f.Name, Type: f.Type.String()})
		}
	}
	dp := &train.DataParallelTrainer{
		TrainLoop:            t.loop(inputs),
		ScalingConfig:        t.cfg.ScalingConfig,
		RunConfig:            t.cfg.RunConfig,
		Datasets:             t.cfg.Datasets,
		Preprocessor:         t.cfg.Preprocessor,
		ResumeFromCheckpoint: t.cfg.ResumeFromCheckpoint,
		Kind:                 "GBDTTrainer",
	}
	return dp.Fit(ctx)
}

// loop is the per-worker training loop: every worker reads its shards,
// histograms are all-reduced through the train framework's collectives,
// and each round is reported (rank 0's metrics and checkpoints persist).
func (t *Trainer) loop(inputs []checkpoint.Feature) train.LoopFunc {
	cfg := t.cfg
	return func(tc train.Context, _ map[string]any) error {
		ctx := tc.Context()
		evals := map[string]*Matrix{}
		names := make([]string, 0, len(cfg.Datasets))
		for name := range cfg.Datasets {
			names = append(names, name)
		}
		sort.Strings(names)
		for _, name := range names {
			m, err := shardMatrix(ctx, tc.DatasetShard(name), cfg.LabelColumn)
			if err != nil {
				return fmt.Errorf("dataset %q: %w", name, err)
			}
			evals[name] = m
		}
		opts := []Option{WithCollective(tc.Collective())}
		rounds := cfg.NumBoostRound
		if c := tc.Checkpoint(); c != nil {
			init, err := BoosterFromCheckpoint(c)
			if err != nil {
				return fmt.Errorf("resume from %s: %w", c.Path(), err)
			}
			if done := init.NumRounds(); done >= rounds {
				return train.SaveCheckpoint(tc, c) // nothing left to train
			} else {
				rounds -= done
			}
			opts = append(opts, WithInitModel(init))
		}
		// save writes a checkpoint into a temporary directory of the run,
		// which Report and SaveCheckpoint copy from; done removes it.
		save := func(b *Booster) (ck *checkpoint.Checkpoint, done func(), err error) {
			if tc.WorldRank() != 0 {
				return nil, func() {}, nil
			}
			dir, err := train.TempDir(tc, "gbdt-ckpt-")
			if err != nil {
				return nil, nil, err
			}
			done = func() { os.RemoveAll(dir) }
			if ck, err = b.SaveCheckpoint(dir, WithInputFeatures(inputs)); err != nil {
				done()
				return nil, nil, err
			}
			return ck, done, nil
		}
		lastSaved := -1
		crashAfter, crashed := t.crashAfter, t.crashed
		opts = append(opts, WithSnapshot(func(round int, b *Booster) error {
			if crashAfter > 0 && tc.WorldRank() == 1 && b.NumRounds() == crashAfter && crashed.CompareAndSwap(false, true) {
				panic("gbdt: injected worker crash")
			}
			var metrics map[string]float64
			if h := b.EvalHistory(); len(h) > 0 {
				metrics = h[len(h)-1]
			}
			var ck *checkpoint.Checkpoint
			if cfg.CheckpointFrequency > 0 && b.NumRounds()%cfg.CheckpointFrequency == 0 {
				var done func()
				var err error
				if ck, done, err = save(b); err != nil {
					return err
				}
				defer done() // Report has copied it
				lastSaved = b.NumRounds()
			}
			if err := tc.Report(metrics, ck); err != nil {
				if errors.Is(err, train.ErrStopRequested) {
					return ErrStopTraining
				}
				return err
			}
			return nil
		}))
		b, err := Train(ctx, evals["train"], evals, Params(cfg.Params), rounds, opts...)
		if err != nil {
			return err
		}
		if lastSaved != b.NumRounds() {
			ck, done, err := save(b)
			if err != nil {
				return err
			}
			defer done()
			return train.SaveCheckpoint(tc, ck)
		}
		return nil
	}
}

// shardMatrix reads a worker's shard into a Matrix.
func shardMatrix(ctx context.Context, ds *data.Dataset, label string) (*Matrix, error) {
	if ds == nil {
		return nil, fmt.Errorf("%w: no shard", ErrInvalidInput)
	}
	var recs []arrow.Record
	defer func() {
		for _, r := range recs {
			r.Release()
		}
	}()
	for rec, err := range ds.IterBatches(ctx) {
		if err != nil {
			return nil, err
		}
		rec.Retain()
		recs = append(recs, rec)
	}
	if len(recs) == 0 {
		return nil, fmt.Errorf("%w: the shard is empty (fewer rows than workers?)", ErrInvalidInput)
	}
	return MatrixFromRecords(recs, label, nil)
}
