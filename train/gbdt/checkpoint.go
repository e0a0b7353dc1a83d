package gbdt

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strings"
	"sync"

	"github.com/apache/arrow/go/v15/arrow"
	"github.com/apache/arrow/go/v15/arrow/array"
	"github.com/apache/arrow/go/v15/arrow/memory"

	"github.com/goray/goray/checkpoint"
	"github.com/goray/goray/train"
)

// Framework is the checkpoint framework name of gbdt models.
const Framework = "gbdt"

// FormatVersion is the checkpoint format version this package writes and
// the newest it reads.
const FormatVersion = 1

// Checkpoint files and metadata keys.
const (
	modelFileLightGBM = "model.txt"
	modelFileXGBoost  = "model.xgb"
	extraModelFile    = "model_file"
	extraModelFormat  = "model_format"
	extraObjective    = "objective"
	extraNumClass     = "num_class"
	extraFeatures     = "model_features"
	// extraWriter marks a model file SaveCheckpoint wrote (extraWriterGoray):
	// such models are compiled for batch scoring; models trained elsewhere
	// are scored by leaves.
	extraWriter      = "model_writer"
	extraWriterGoray = "goray gbdt"
)

// CheckpointOption configures SaveCheckpoint and CheckpointFromModel.
type CheckpointOption func(*ckptOptions)

type ckptOptions struct {
	metrics      map[string]float64
	inputs       []checkpoint.Feature
	preprocessor []byte
	names        []string
	fsOpts       []checkpoint.Option
	extra        map[string]any
}

// WithMetrics records metrics (e.g. the last round's) in the checkpoint.
func WithMetrics(m map[string]float64) CheckpointOption {
	return func(o *ckptOptions) { o.metrics = maps.Clone(m) }
}

// WithInputFeatures records the raw input columns a Predictor is fed,
// before preprocessing. Default: the model's features, as float64.
func WithInputFeatures(f []checkpoint.Feature) CheckpointOption {
	return func(o *ckptOptions) { o.inputs = slices.Clone(f) }
}

// WithPreprocessorState stores a fitted preprocessor's state as
// preprocessor.json; NewPredictor rebuilds it with the loader registered
// through train.LoadPreprocessor.
func WithPreprocessorState(state []byte) CheckpointOption {
	return func(o *ckptOptions) { o.preprocessor = bytes.Clone(state) }
}

// WithFeatureNames names the model's columns for a model file that does not
// (XGBoost binary models; default "f0", "f1", ... as XGBoost names them).
func WithFeatureNames(names []string) CheckpointOption {
	return func(o *ckptOptions) { o.names = slices.Clone(names) }
}

// WithCheckpointOptions passes options (e.g. checkpoint.WithFS) to checkpoint.New.
func WithCheckpointOptions(opts ...checkpoint.Option) CheckpointOption {
	return func(o *ckptOptions) { o.fsOpts = append(o.fsOpts, opts...) }
}

// WithExtra adds framework-specific metadata.
func WithExtra(extra map[string]any) CheckpointOption {
	return func(o *ckptOptions) {
		if o.extra == nil {
			o.extra = map[string]any{}
		}
		maps.Copy(o.extra, extra)
	}
}

// SaveCheckpoint writes the booster (LightGBM text format) and its metadata
// to a new checkpoint in dir.
func (b *Booster) SaveCheckpoint(dir string, opts ...CheckpointOption) (*checkpoint.Checkpoint, error) {
	var buf bytes.Buffer
	if err := b.SaveLightGBM(&buf); err != nil {
		return nil, err
	}
	extra := map[string]any{"num_rounds": b.NumRounds(), "params": jsonSafeParams(b.params), extraWriter: extraWriterGoray}
	if it, score := b.BestIteration(); it >= 0 {
		extra["best_iteration"] = it
		extra["best_score"] = score
	}
	opts = append([]CheckpointOption{WithExtra(extra)}, opts...)
	return writeCheckpoint(dir, FormatLightGBM, buf.Bytes(), b.cfg.objective, b.cfg.numClass, b.features, opts)
}

// jsonSafeParams keeps params JSON can store.
func jsonSafeParams(p Params) map[string]any {
	out := map[string]any{}
	for k, v := range p {
		switch v.(type) {
		case string, []string, []any, bool, int, int32, int64, uint, uint32, uint64, float32, float64:
			out[k] = v
		default:
			out[k] = fmt.Sprint(v)
		}
	}
	return out
}

// CheckpointFromModel wraps a model trained elsewhere (format
// FormatLightGBM text or FormatXGBoost legacy binary) as a gbdt checkpoint
// in dir. The model is loaded first, so a damaged file is refused here.
func CheckpointFromModel(dir, format string, model []byte, opts ...CheckpointOption) (*checkpoint.Checkpoint, error) {
	m, err := loadModel(format, model)
	if err != nil {
		return nil, err
	}
	var o ckptOptions
	for _, opt := range opts {
		opt(&o)
	}
	names := o.names
	if names == nil {
		names = m.FeatureNames()
	}
	if names == nil {
		for j := range m.NumFeatures() {
			names = append(names, fmt.Sprintf("f%d", j))
		}
	}
	if len(names) < m.NumFeatures() {
		return nil, fmt.Errorf("%w: %d feature names for a model reading %d features", ErrInvalidInput, len(names), m.NumFeatures())
	}
	return writeCheckpoint(dir, format, model, m.Objective(), m.NumClass(), names, opts)
}

func loadModel(format string, b []byte) (*Model, error) {
	switch format {
	case FormatLightGBM:
		return LoadLightGBM(bytes.NewReader(b))
	case FormatXGBoost:
		return LoadXGBoost(bytes.NewReader(b))
	}
	return nil, fmt.Errorf("%w: model format %q (want %q or %q)", ErrInvalidInput, format, FormatLightGBM, FormatXGBoost)
}

func writeCheckpoint(dir, format string, model []byte, objective string, K int, features []string, opts []CheckpointOption) (*checkpoint.Checkpoint, error) {
	var o ckptOptions
	for _, opt := range opts {
		opt(&o)
	}
	inputs := o.inputs
	if inputs == nil {
		for _, f := range features {
			inputs = append(inputs, checkpoint.Feature{Name: f, Type: "float64"})
		}
	}
	file := modelFileLightGBM
	if format == FormatXGBoost {
		file = modelFileXGBoost
	}
	extra := maps.Clone(o.extra)
	if extra == nil {
		extra = map[string]any{}
	}
	extra[extraModelFile] = file
	extra[extraModelFormat] = format
	extra[extraObjective] = objective
	extra[extraNumClass] = K
	extra[extraFeatures] = features
	ckpt, err := checkpoint.New(dir, checkpoint.Metadata{
		Framework:     Framework,
		FormatVersion: FormatVersion,
		Metrics:       o.metrics,
		Features:      inputs,
		Extra:         extra,
	}, o.fsOpts...)
	if err != nil {
		return nil, err
	}
	if err := ckpt.WriteFile(file, model); err != nil {
		return nil, err
	}
	if o.preprocessor != nil {
		if err := ckpt.WriteFile(checkpoint.PreprocessorFile, o.preprocessor); err != nil {
			return nil, err
		}
	}
	return ckpt, nil
}

// LoadCheckpoint loads the model of a gbdt checkpoint and the names of the
// columns it reads (after preprocessing), in order.
func LoadCheckpoint(ckpt *checkpoint.Checkpoint) (*Model, []string, error) {
	if err := ckpt.Require(Framework, FormatVersion); err != nil {
		return nil, nil, err
	}
	meta := ckpt.Metadata()
	file, _ := meta.Extra[extraModelFile].(string)
	format, _ := meta.Extra[extraModelFormat].(string)
	if file == "" || format == "" {
		return nil, nil, fmt.Errorf("%w: %s/%s: extra.%s or extra.%s missing", checkpoint.ErrCorrupt, ckpt.Path(), checkpoint.MetadataFile, extraModelFile, extraModelFormat)
	}
	b, err := ckpt.ReadFile(file)
	if err != nil {
		return nil, nil, err
	}
	m, err := loadModel(format, b)
	if err != nil {
		return nil, nil, fmt.Errorf("%w: %s/%s: %w", checkpoint.ErrCorrupt, ckpt.Path(), file, err)
	}
	if w, _ := meta.Extra[extraWriter].(string); w == extraWriterGoray && format == FormatLightGBM {
		// Written by SaveCheckpoint: compile the trees read back from the
		// same text (leaves' transform follows the file's objective line).
		bst, err := LoadBooster(bytes.NewReader(b))
		if err != nil {
			return nil, nil, fmt.Errorf("%w: %s/%s: %w", checkpoint.ErrCorrupt, ckpt.Path(), file, err)
		}
		if m.flat, err = compileForest(bst.trees, bst.cfg.numClass, len(bst.features), 0, bst.cfg.objective); err != nil {
			return nil, nil, fmt.Errorf("%w: %s/%s: %w", checkpoint.ErrCorrupt, ckpt.Path(), file, err)
		}
	}
	var names []string
	if raw, ok := meta.Extra[extraFeatures].([]any); ok {
		for _, v := range raw {
			s, ok := v.(string)
			if !ok {
				return nil, nil, fmt.Errorf("%w: %s/%s: extra.%s holds a non-string", checkpoint.ErrCorrupt, ckpt.Path(), checkpoint.MetadataFile, extraFeatures)
			}
			names = append(names, s)
		}
	}
	if names == nil {
		for _, f := range meta.Features {
			names = append(names, f.Name)
		}
	}
	if len(names) < m.NumFeatures() {
		return nil, nil, fmt.Errorf("%w: %s: %d feature names for a model reading %d", checkpoint.ErrCorrupt, ckpt.Path(), len(names), m.NumFeatures())
	}
	if obj, ok := meta.Extra[extraObjective].(string); ok && obj != "" {
		m.objective = obj
	}
	return m, names, nil
}

// BoosterFromCheckpoint loads the booster of a gbdt checkpoint written by
// SaveCheckpoint (LightGBM format), with its original feature names, e.g.
// to resume training with WithInitModel.
func BoosterFromCheckpoint(ckpt *checkpoint.Checkpoint) (*Booster, error) {
	_, names, err := LoadCheckpoint(ckpt)
	if err != nil {
		return nil, err
	}
	meta := ckpt.Metadata()
	if f, _ := meta.Extra[extraModelFormat].(string); f != FormatLightGBM {
		return nil, fmt.Errorf("%w: checkpoint %s holds a %s model; only LightGBM-format models can be trained further", ErrInvalidInput, ckpt.Path(), f)
	}
	file, _ := meta.Extra[extraModelFile].(string)
	raw, err := ckpt.ReadFile(file)
	if err != nil {
		return nil, err
	}
	b, err := LoadBooster(bytes.NewReader(raw))
	if err != nil {
		return nil, fmt.Errorf("%w: %s/%s: %w", checkpoint.ErrCorrupt, ckpt.Path(), file, err)
	}
	if len(names) != len(b.features) {
		return nil, fmt.Errorf("%w: %s: %d feature names for %d model features", checkpoint.ErrCorrupt, ckpt.Path(), len(names), len(b.features))
	}
	b.features = names
	return b, nil
}

// Predictor scores Arrow record batches with a gbdt checkpoint; it
// implements train.Predictor and is safe for concurrent use.
type Predictor struct {
	model    *Model
	names    []string // model columns
	inputs   []checkpoint.Feature
	pre      train.BatchTransformer
	threads  int
	mem      memory.Allocator
	wrap     bool // no WithAllocator: single-output predictions are wrapped, not copied
	multi    bool
	numClass int
}

var _ train.Predictor = (*Predictor)(nil)

// PredictorOption configures NewPredictor.
type PredictorOption func(*predictorOptions)

type predictorOptions struct {
	pre     train.BatchTransformer
	preSet  bool
	threads int
	mem     memory.Allocator // nil: Go memory
}

// WithPreprocessor uses t instead of the preprocessor stored in the
// checkpoint (nil: none, even if the checkpoint has one).
func WithPreprocessor(t train.BatchTransformer) PredictorOption {
	return func(o *predictorOptions) { o.pre, o.preSet = t, true }
}

// WithPredictThreads sets the threads used per batch (default 1, since
// batches are usually scored concurrently).
func WithPredictThreads(n int) PredictorOption {
	return func(o *predictorOptions) { o.threads = n }
}

// WithAllocator sets the allocator of output records.
func WithAllocator(mem memory.Allocator) PredictorOption {
	return func(o *predictorOptions) { o.mem = mem }
}

// NewPredictor loads a gbdt checkpoint for prediction. If the checkpoint
// has a preprocessor.json, it is rebuilt with the loader registered via
// train.LoadPreprocessor (or replaced with WithPreprocessor).
func NewPredictor(ckpt *checkpoint.Checkpoint, opts ...PredictorOption) (*Predictor, error) {
	m, names, err := LoadCheckpoint(ckpt)
	if err != nil {
		return nil, err
	}
	o := predictorOptions{threads: 1}
	for _, opt := range opts {
		opt(&o)
	}
	p := &Predictor{model: m, names: names, inputs: ckpt.Metadata().Features, pre: o.pre, threads: max(o.threads, 1), mem: o.mem, wrap: o.mem == nil}
	if p.mem == nil {
		p.mem = memory.DefaultAllocator
	}
	if !o.preSet {
		if p.pre, err = train.LoadPreprocessor(ckpt); err != nil {
			return nil, err
		}
	}
	p.numClass = m.NumClass()
	p.multi = isMulti(m.objective) || p.numClass > 1
	return p, nil
}

// PredictorFactory is NewPredictor as a train.PredictorFactory.
func PredictorFactory(ckpt *checkpoint.Checkpoint) (train.Predictor, error) {
	return NewPredictor(ckpt)
}

// Features returns the raw input columns (before preprocessing).
func (p *Predictor) Features() []checkpoint.Feature { return slices.Clone(p.inputs) }

// Model returns the loaded model.
func (p *Predictor) Model() *Model { return p.model }

// Predict scores batch (the checkpoint's input columns; extra columns are
// ignored). The result has a float64 "predictions" column: the
// probability of class 1 for binary:logistic, the value for regression, the
// most probable class for multi-class models, which also get a
// "probabilities" list<float64> column. Nulls and NaN are missing values.
// The caller releases the result; batch is not released.
func (p *Predictor) Predict(ctx context.Context, batch arrow.Record) (arrow.Record, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	in := batch
	if p.pre != nil {
		out, err := p.pre.TransformBatch(batch)
		if err != nil {
			return nil, fmt.Errorf("gbdt: preprocessor: %w", err)
		}
		defer out.Release()
		in = out
	}
	n := int(in.NumRows())
	cols := make([][]float64, len(p.names))
	for j, name := range p.names {
		idx := in.Schema().FieldIndices(name)
		if len(idx) == 0 {
			return nil, fmt.Errorf("%w: batch has no column %q (model columns: %s; batch columns: %v)",
				ErrInvalidInput, name, strings.Join(p.names, ", "), fieldNames(in.Schema()))
		}
		col := in.Column(idx[0])
		if c, ok := col.(*array.Float64); ok && c.NullN() == 0 {
			cols[j] = c.Float64Values() // no copy
			continue
		}
		var err error
		if cols[j], err = appendFloats(nil, col, name, 0, false); err != nil {
			return nil, err
		}
	}
	preds, err := p.predictColumns(cols, n)
	if err != nil {
		return nil, err
	}
	return p.output(preds, n)
}

// predictTile is the rows predictColumns copies into a row-major buffer at
// a time: 128 rows of 30 features are 30 KiB, which stays in L1/L2. (Copying
// a whole batch row-major first costs about as much as a fifth of the trees'
// work: every column's pass writes to every cache line of a buffer of
// megabytes.)
const predictTile = 128

// predictColumns scores n rows given as columns (NaN = missing), as
// Model.PredictDense does for the same rows row-major, on p.threads
// goroutines.
func (p *Predictor) predictColumns(cols [][]float64, n int) ([]float64, error) {
	m := p.model
	K, F := m.numClass, len(cols)
	if F < m.NumFeatures() {
		return nil, fmt.Errorf("%w: %d columns given, model reads %d", ErrInvalidInput, F, m.NumFeatures())
	}
	out := make([]float64, n*K)
	if n == 0 {
		return out, nil
	}
	if m.flat != nil {
		m.flat.predict(nil, 0, cols, 0, n, out, false, p.threads)
		return out, nil
	}
	ens := m.ens
	if m.softmax {
		ens = m.raw
	}
	score := func(lo, hi int) error {
		x := make([]float64, min(predictTile, hi-lo)*F)
		for t := lo; t < hi; t += predictTile {
			rows := min(predictTile, hi-t)
			for j, c := range cols {
				for i, v := range c[t : t+rows] {
					x[i*F+j] = v
				}
			}
			if err := ens.PredictDense(x[:rows*F], rows, F, out[t*K:(t+rows)*K], 0, 1); err != nil {
				return err
			}
		}
		return nil
	}
	tiles := (n + predictTile - 1) / predictTile
	if workers := min(p.threads, tiles); workers <= 1 {
		if err := score(0, n); err != nil {
			return nil, err
		}
	} else {
		errs := make([]error, workers)
		var wg sync.WaitGroup
		for w := range workers {
			lo, hi := tiles*w/workers*predictTile, min(tiles*(w+1)/workers*predictTile, n)
			wg.Go(func() { errs[w] = score(lo, hi) })
		}
		wg.Wait()
		if err := errors.Join(errs...); err != nil {
			return nil, err
		}
	}
	if m.softmax {
		transform(MultiSoftprob, K, out)
	}
	return out, nil
}

func (p *Predictor) output(preds []float64, n int) (arrow.Record, error) {
	K := p.numClass
	if !p.multi {
		var col arrow.Array
		if p.wrap { // preds is ours: hand it over rather than copy it
			buf := memory.NewBufferBytes(arrow.Float64Traits.CastToBytes(preds[:n]))
			d := array.NewData(arrow.PrimitiveTypes.Float64, n, []*memory.Buffer{nil, buf}, nil, 0, 0)
			col = array.NewFloat64Data(d)
			d.Release()
		} else {
			pb := array.NewFloat64Builder(p.mem)
			pb.AppendValues(preds[:n], nil)
			col = pb.NewArray()
			pb.Release()
		}
		defer col.Release()
		schema := arrow.NewSchema([]arrow.Field{{Name: "predictions", Type: arrow.PrimitiveTypes.Float64}}, nil)
		return array.NewRecord(schema, []arrow.Array{col}, int64(n)), nil
	}
	pb := array.NewFloat64Builder(p.mem)
	defer pb.Release()
	lb := array.NewListBuilder(p.mem, arrow.PrimitiveTypes.Float64)
	defer lb.Release()
	vb := lb.ValueBuilder().(*array.Float64Builder)
	for i := range n {
		row := preds[i*K : (i+1)*K]
		best := 0
		for k, v := range row {
			if v > row[best] {
				best = k
			}
		}
		pb.Append(float64(best))
		lb.Append(true)
		vb.AppendValues(row, nil)
	}
	pc, lc := pb.NewArray(), lb.NewArray()
	defer pc.Release()
	defer lc.Release()
	schema := arrow.NewSchema([]arrow.Field{
		{Name: "predictions", Type: arrow.PrimitiveTypes.Float64},
		{Name: "probabilities", Type: arrow.ListOf(arrow.PrimitiveTypes.Float64)},
	}, nil)
	return array.NewRecord(schema, []arrow.Array{pc, lc}, int64(n)), nil
}

func init() { train.RegisterPredictorFactory(Framework, PredictorFactory) }
