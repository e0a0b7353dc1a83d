package gbdt

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"math"
	"os"
	"reflect"
	"slices"
	"sync"
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
	// worker failure); crashKey names the record in injectedCrashes that
	// it did.
	crashAfter int
	crashKey   string
}

// injectedCrashes records, by Trainer.crashKey, that a trainer's injected
// crash happened (a test hook: the workers run in the test's process).
var injectedCrashes sync.Map // string -> *atomic.Bool

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
	if schema == nil {
		return nil, fmt.Errorf("%w: dataset \"train\" has no rows", ErrInvalidInput)
	}
	if len(schema.FieldIndices(t.cfg.LabelColumn)) == 0 {
		return nil, fmt.Errorf("%w: label column %q not found in \"train\" (columns: %v)", ErrInvalidInput, t.cfg.LabelColumn, fieldNames(schema))
	}
	// The input features (saved in checkpoints) and everything else the
	// workers need travel in the loop's config.
	var featNames, featTypes []string
	for _, f := range schema.Fields() {
		if f.Name != t.cfg.LabelColumn {
			featNames, featTypes = append(featNames, f.Name), append(featTypes, f.Type.String())
		}
	}
	names := slices.Sorted(maps.Keys(t.cfg.Datasets))
	config := map[string]any{
		"label_column":         t.cfg.LabelColumn,
		"params":               t.cfg.Params,
		"num_boost_round":      t.cfg.NumBoostRound,
		"checkpoint_frequency": t.cfg.CheckpointFrequency,
		"datasets":             names,
		"feature_names":        featNames,
		"feature_types":        featTypes,
	}
	if t.crashAfter > 0 {
		config["crash_after"], config["crash_key"] = t.crashAfter, t.crashKey
	}
	dp := &train.DataParallelTrainer{
		TrainLoop:            trainerLoop,
		Config:               config,
		ScalingConfig:        t.cfg.ScalingConfig,
		RunConfig:            t.cfg.RunConfig,
		Datasets:             t.cfg.Datasets,
		Preprocessor:         t.cfg.Preprocessor,
		ResumeFromCheckpoint: t.cfg.ResumeFromCheckpoint,
		Kind:                 "GBDTTrainer",
	}
	return dp.Fit(ctx)
}

// trainerLoop is the per-worker training loop of a Trainer: every worker
// reads its shards, histograms are all-reduced through the train
// framework's collectives, and each round is reported (rank 0's metrics
// and checkpoints persist). Its config is what Fit puts together from the
// trainer's Config (see loopConfig).
var trainerLoop = train.RegisterLoop("gbdt.Trainer", func(tc train.Context, config map[string]any) error {
	cfg, err := parseLoopConfig(config)
	if err != nil {
		return err
	}
	ctx := tc.Context()
	evals := map[string]*Matrix{}
	for _, name := range cfg.datasets {
		m, err := shardMatrix(ctx, tc.DatasetShard(name), cfg.label)
		if err != nil {
			return fmt.Errorf("dataset %q: %w", name, err)
		}
		evals[name] = m
	}
	opts := []Option{WithCollective(tc.Collective())}
	rounds := cfg.rounds
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
		if ck, err = b.SaveCheckpoint(dir, WithInputFeatures(cfg.inputs)); err != nil {
			done()
			return nil, nil, err
		}
		return ck, done, nil
	}
	lastSaved := -1
	opts = append(opts, WithSnapshot(func(round int, b *Booster) error {
		if cfg.crashAfter > 0 && tc.WorldRank() == 1 && b.NumRounds() == cfg.crashAfter {
			if c, ok := injectedCrashes.Load(cfg.crashKey); ok && c.(*atomic.Bool).CompareAndSwap(false, true) {
				panic("gbdt: injected worker crash")
			}
		}
		var metrics map[string]float64
		if h := b.EvalHistory(); len(h) > 0 {
			metrics = h[len(h)-1]
		}
		var ck *checkpoint.Checkpoint
		if cfg.ckptFreq > 0 && b.NumRounds()%cfg.ckptFreq == 0 {
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
	b, err := Train(ctx, evals["train"], evals, cfg.params, rounds, opts...)
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
})

// loopConfig is the decoded config of trainerLoop.
type loopConfig struct {
	label      string
	params     Params
	rounds     int
	ckptFreq   int
	datasets   []string // names, sorted
	inputs     []checkpoint.Feature
	crashAfter int
	crashKey   string
}

// parseLoopConfig reads the config Fit builds: "label_column",
// "params", "num_boost_round", "checkpoint_frequency", "datasets",
// "feature_names" and "feature_types" (and the crash test hook's
// "crash_after" and "crash_key").
func parseLoopConfig(config map[string]any) (*loopConfig, error) {
	var errs []error
	get := func(key string, dst any) {
		v := reflect.ValueOf(dst).Elem()
		x := reflect.ValueOf(config[key])
		if !x.IsValid() || x.Type() != v.Type() {
			errs = append(errs, fmt.Errorf("%w: gbdt.Trainer loop config %q is %T, want %v", ErrInvalidInput, key, config[key], v.Type()))
			return
		}
		v.Set(x)
	}
	c := &loopConfig{}
	var params map[string]any
	var names, types []string
	get("label_column", &c.label)
	get("params", &params)
	get("num_boost_round", &c.rounds)
	get("checkpoint_frequency", &c.ckptFreq)
	get("datasets", &c.datasets)
	get("feature_names", &names)
	get("feature_types", &types)
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	if len(types) != len(names) {
		return nil, fmt.Errorf("%w: gbdt.Trainer loop config has %d feature names and %d types", ErrInvalidInput, len(names), len(types))
	}
	c.params = Params(params)
	for i := range names {
		c.inputs = append(c.inputs, checkpoint.Feature{Name: names[i], Type: types[i]})
	}
	c.crashAfter, _ = config["crash_after"].(int)
	c.crashKey, _ = config["crash_key"].(string)
	return c, nil
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
