package nn

import (
	"context"
	"fmt"
	"math"
	"runtime"
	"slices"

	"github.com/apache/arrow/go/v15/arrow"
	"github.com/apache/arrow/go/v15/arrow/array"
	"github.com/apache/arrow/go/v15/arrow/memory"

	"github.com/goray/goray/checkpoint"
	"github.com/goray/goray/train"
)

// Predictor runs a checkpointed model in inference mode at any batch size.
// It is safe for concurrent use (calls run one at a time, each on all cores).
type Predictor struct {
	model    *Model
	info     ModelInfo
	features []checkpoint.Feature
	pre      train.BatchTransformer
	infer    *inferencer
}

var _ train.Predictor = (*Predictor)(nil)
var _ train.PredictorFactory = NewPredictor

// Importing nn registers its predictor, so tools such as `goray predict`
// and `goray serve run` load nn checkpoints.
func init() { train.RegisterPredictorFactory(Framework, NewPredictor) }

// NewPredictor loads the model, weights and preprocessing of a checkpoint
// written by Learner.Save or SaveModel.
func NewPredictor(ckpt *checkpoint.Checkpoint) (train.Predictor, error) {
	return LoadPredictor(ckpt, nil)
}

// LoadPredictor is NewPredictor with a concrete result; if want is non-nil the
// checkpoint's architecture must match it (else ErrArchitectureMismatch).
func LoadPredictor(ckpt *checkpoint.Checkpoint, want *Spec) (*Predictor, error) {
	m, info, err := LoadModel(ckpt, want)
	if err != nil {
		return nil, err
	}
	pre, err := train.LoadPreprocessor(ckpt)
	if err != nil {
		return nil, err
	}
	p := &Predictor{model: m, info: info, features: ckpt.Metadata().Features, pre: pre}
	if len(p.features) == 0 {
		p.features = DefaultFeatures(m.spec)
	}
	p.infer = newInferencer(m, min(runtime.GOMAXPROCS(0), 4), func() int64 { return 0 })
	return p, nil
}

// Features returns the raw input columns.
func (p *Predictor) Features() []checkpoint.Feature { return slices.Clone(p.features) }

// Info returns the architecture, class names and input normalisation.
func (p *Predictor) Info() ModelInfo { return p.info }

// Scores returns, for n raw examples x (before normalisation), the class
// probabilities (softmax cross-entropy models) or the outputs (mse models),
// n×OutputSize row-major.
func (p *Predictor) Scores(ctx context.Context, x []float32, n int) ([]float32, error) {
	spec := p.model.spec
	if n <= 0 || len(x) != n*spec.InputSize() {
		return nil, fmt.Errorf("%w: %d examples of shape %v need %d values, got %d", ErrInvalidBatch, n, spec.Input, n*spec.InputSize(), len(x))
	}
	if p.info.Normalization != nil {
		x = slices.Clone(x)
		p.info.Normalization.Apply(x, spec.Input)
	}
	out, err := p.infer.forward(ctx, x, n)
	if err != nil {
		return nil, err
	}
	if spec.Loss == SoftmaxCrossEntropy {
		k := spec.OutputSize()
		for i := 0; i < n; i++ {
			softmaxInPlace(out[i*k : (i+1)*k])
		}
	}
	return out, nil
}

func softmaxInPlace(row []float32) {
	lse := logSumExp(row)
	for j, v := range row {
		row[j] = float32(math.Exp(float64(v) - lse))
	}
}

// Predict implements train.Predictor: the input has the checkpoint's feature
// columns (one list column holding whole examples, or one numeric column per
// input value); the output has "predictions" (float64: the class index, or
// the first output of an mse model) and, for classifiers, "probabilities"
// (list<float64>). The caller releases both records.
func (p *Predictor) Predict(ctx context.Context, batch arrow.Record) (arrow.Record, error) {
	if p.pre != nil {
		t, err := p.pre.TransformBatch(batch)
		if err != nil {
			return nil, err
		}
		defer t.Release()
		batch = t
	}
	n := int(batch.NumRows())
	spec := p.model.spec
	x, err := p.gather(batch)
	if err != nil {
		return nil, err
	}
	mem := memory.DefaultAllocator
	pred := array.NewFloat64Builder(mem)
	defer pred.Release()
	fields := []arrow.Field{{Name: "predictions", Type: arrow.PrimitiveTypes.Float64}}
	if n == 0 {
		arr := pred.NewArray()
		defer arr.Release()
		return array.NewRecord(arrow.NewSchema(fields, nil), []arrow.Array{arr}, 0), nil
	}
	scores, err := p.Scores(ctx, x, n)
	if err != nil {
		return nil, err
	}
	k := spec.OutputSize()
	if spec.Loss != SoftmaxCrossEntropy {
		for i := 0; i < n; i++ {
			pred.Append(float64(scores[i*k]))
		}
		arr := pred.NewArray()
		defer arr.Release()
		return array.NewRecord(arrow.NewSchema(fields, nil), []arrow.Array{arr}, int64(n)), nil
	}
	probs := array.NewListBuilder(mem, arrow.PrimitiveTypes.Float64)
	defer probs.Release()
	vb := probs.ValueBuilder().(*array.Float64Builder)
	for i := 0; i < n; i++ {
		row := scores[i*k : (i+1)*k]
		pred.Append(float64(argmax(row)))
		probs.Append(true)
		for _, v := range row {
			vb.Append(float64(v))
		}
	}
	fields = append(fields, arrow.Field{Name: "probabilities", Type: arrow.ListOf(arrow.PrimitiveTypes.Float64)})
	a, b := pred.NewArray(), probs.NewArray()
	defer a.Release()
	defer b.Release()
	return array.NewRecord(arrow.NewSchema(fields, nil), []arrow.Array{a, b}, int64(n)), nil
}

// gather copies the feature columns of batch into a row-major float32 matrix.
func (p *Predictor) gather(batch arrow.Record) ([]float32, error) {
	n := int(batch.NumRows())
	in := p.model.spec.InputSize()
	x := make([]float32, n*in)
	col := func(name string) (arrow.Array, error) {
		idx := batch.Schema().FieldIndices(name)
		if len(idx) == 0 {
			return nil, fmt.Errorf("%w: input has no column %q (want %v)", ErrInvalidBatch, name, p.features)
		}
		return batch.Column(idx[0]), nil
	}
	if len(p.features) == 1 {
		a, err := col(p.features[0].Name)
		if err != nil {
			return nil, err
		}
		var values arrow.Array
		switch l := a.(type) {
		case *array.FixedSizeList:
			values = l.ListValues()
			for i := 0; i < n; i++ {
				if s, e := l.ValueOffsets(i); e-s != int64(in) || l.IsNull(i) {
					return nil, fmt.Errorf("%w: column %q row %d has %d values, the model takes %d (shape %v)", ErrInvalidBatch, p.features[0].Name, i, e-s, in, p.model.spec.Input)
				}
			}
			if off := l.Data().Offset(); off != 0 {
				values = array.NewSlice(values, int64(off*in), int64((off+n)*in))
				defer values.Release()
			}
		case *array.List:
			for i := 0; i < n; i++ {
				if s, e := l.ValueOffsets(i); e-s != int64(in) || l.IsNull(i) {
					return nil, fmt.Errorf("%w: column %q row %d has %d values, the model takes %d (shape %v)", ErrInvalidBatch, p.features[0].Name, i, e-s, in, p.model.spec.Input)
				}
			}
			s, _ := l.ValueOffsets(0)
			values = array.NewSlice(l.ListValues(), s, s+int64(n*in))
			defer values.Release()
		default:
			if in != 1 {
				return nil, fmt.Errorf("%w: column %q is %s, want a list of %d numbers", ErrInvalidBatch, p.features[0].Name, a.DataType(), in)
			}
			values = a
		}
		return x, copyNumbers(x, values, p.features[0].Name)
	}
	if len(p.features) != in {
		return nil, fmt.Errorf("%w: checkpoint lists %d feature columns, the model takes %d inputs", ErrInvalidBatch, len(p.features), in)
	}
	tmp := make([]float32, n)
	for j, f := range p.features {
		a, err := col(f.Name)
		if err != nil {
			return nil, err
		}
		if err := copyNumbers(tmp, a, f.Name); err != nil {
			return nil, err
		}
		for i, v := range tmp {
			x[i*in+j] = v
		}
	}
	return x, nil
}

func copyNumbers(dst []float32, a arrow.Array, name string) error {
	if a.Len() != len(dst) {
		return fmt.Errorf("%w: column %q has %d values, want %d", ErrInvalidBatch, name, a.Len(), len(dst))
	}
	if a.NullN() > 0 {
		return fmt.Errorf("%w: column %q has %d nulls", ErrInvalidBatch, name, a.NullN())
	}
	switch v := a.(type) {
	case *array.Float32:
		copy(dst, v.Float32Values())
	case *array.Float64:
		for i, f := range v.Float64Values() {
			dst[i] = float32(f)
		}
	case *array.Uint8:
		for i, f := range v.Uint8Values() {
			dst[i] = float32(f)
		}
	case *array.Int64:
		for i, f := range v.Int64Values() {
			dst[i] = float32(f)
		}
	case *array.Int32:
		for i, f := range v.Int32Values() {
			dst[i] = float32(f)
		}
	default:
		return fmt.Errorf("%w: column %q holds %s, want float32, float64, uint8, int32 or int64", ErrInvalidBatch, name, a.DataType())
	}
	return nil
}
