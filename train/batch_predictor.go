package train

import (
	"context"
	"fmt"

	"github.com/apache/arrow/go/v15/arrow"
	"github.com/apache/arrow/go/v15/arrow/array"

	"github.com/goray/goray/checkpoint"
	"github.com/goray/goray/data"
)

// BatchPredictor scores a Dataset with the model in a checkpoint. The model
// loads once per worker (an actor pool) and blocks stream through.
type BatchPredictor struct {
	ckpt     *checkpoint.Checkpoint
	factory  PredictorFactory
	features []checkpoint.Feature
}

// PredictOptions tune BatchPredictor.Predict.
type PredictOptions struct {
	// BatchSize is the rows per Predict call (default 4096).
	BatchSize int
	// Concurrency is the number of model workers (default 1).
	Concurrency int
	// KeepColumns are input columns carried through to the output, first.
	KeepColumns []string
	// OutputColumn renames the "predictions" column (default "predictions").
	OutputColumn string
}

// BatchPredictorFromCheckpoint builds a BatchPredictor. It loads the model
// once to check that the checkpoint and factory agree, so a bad checkpoint
// fails here rather than inside the first batch.
func BatchPredictorFromCheckpoint(ckpt *checkpoint.Checkpoint, factory PredictorFactory) (*BatchPredictor, error) {
	if ckpt == nil {
		return nil, fmt.Errorf("%w: BatchPredictorFromCheckpoint: nil checkpoint", ErrInvalidConfig)
	}
	if factory == nil {
		return nil, fmt.Errorf("%w: BatchPredictorFromCheckpoint: nil predictor factory", ErrInvalidConfig)
	}
	p, err := factory(ckpt)
	if err != nil {
		return nil, fmt.Errorf("train: load predictor from %s: %w", ckpt.Path(), err)
	}
	return &BatchPredictor{ckpt: ckpt, factory: factory, features: p.Features()}, nil
}

// Features are the input columns the model reads.
func (bp *BatchPredictor) Features() []checkpoint.Feature { return bp.features }

// Predict returns a lazy Dataset of predictions for ds: the KeepColumns,
// then the predictor's output columns. Columns of ds that are neither
// features nor kept are dropped; a missing feature is an error naming it.
func (bp *BatchPredictor) Predict(ctx context.Context, ds *data.Dataset, opts PredictOptions) (*data.Dataset, error) {
	if ds == nil {
		return nil, fmt.Errorf("%w: Predict: nil dataset", ErrInvalidConfig)
	}
	if opts.BatchSize < 0 || opts.Concurrency < 0 {
		return nil, fmt.Errorf("%w: PredictOptions: BatchSize %d and Concurrency %d must be >= 0", ErrInvalidConfig, opts.BatchSize, opts.Concurrency)
	}
	if opts.BatchSize == 0 {
		opts.BatchSize = 4096
	}
	if opts.Concurrency == 0 {
		opts.Concurrency = 1
	}
	out := opts.OutputColumn
	if out == "" {
		out = "predictions"
	}
	ckpt, factory, keep := bp.ckpt, bp.factory, opts.KeepColumns
	newFn := func(ctx context.Context) (data.BatchFunc, error) {
		p, err := factory(ckpt)
		if err != nil {
			return nil, err
		}
		return func(ctx context.Context, batch arrow.Record) (arrow.Record, error) {
			return predictBatch(ctx, p, batch, keep, out)
		}, nil
	}
	return ds.MapBatches(nil, data.WithActorPool(newFn), data.Concurrency(opts.Concurrency),
		data.BatchSize(opts.BatchSize), data.Name("BatchPredictor")), nil
}

// predictBatch runs one batch through p and assembles the output record.
func predictBatch(ctx context.Context, p Predictor, batch arrow.Record, keep []string, outName string) (arrow.Record, error) {
	in, err := SelectFeatures(batch, p.Features())
	if err != nil {
		return nil, err
	}
	defer in.Release()
	pred, err := p.Predict(ctx, in)
	if err != nil {
		return nil, err
	}
	defer pred.Release()
	var fields []arrow.Field
	var cols []arrow.Array
	for _, name := range keep {
		idx := batch.Schema().FieldIndices(name)
		if len(idx) == 0 {
			return nil, fmt.Errorf("%w: KeepColumns: column %q is not in the input (columns: %v)", ErrInvalidConfig, name, columnNames(batch.Schema()))
		}
		fields = append(fields, batch.Schema().Field(idx[0]))
		cols = append(cols, batch.Column(idx[0]))
	}
	for i, f := range pred.Schema().Fields() {
		if f.Name == "predictions" {
			f.Name = outName
		}
		fields = append(fields, f)
		cols = append(cols, pred.Column(i))
	}
	return array.NewRecord(arrow.NewSchema(fields, nil), cols, batch.NumRows()), nil
}

// SelectFeatures returns a record with exactly the features' columns, in
// their order. A missing column is an error that names it. The caller
// releases the result.
func SelectFeatures(batch arrow.Record, features []checkpoint.Feature) (arrow.Record, error) {
	fields := make([]arrow.Field, len(features))
	cols := make([]arrow.Array, len(features))
	for i, f := range features {
		idx := batch.Schema().FieldIndices(f.Name)
		if len(idx) == 0 {
			return nil, fmt.Errorf("%w: feature column %q is missing from the input (columns: %v)", ErrInvalidConfig, f.Name, columnNames(batch.Schema()))
		}
		fields[i] = batch.Schema().Field(idx[0])
		cols[i] = batch.Column(idx[0])
	}
	return array.NewRecord(arrow.NewSchema(fields, nil), cols, batch.NumRows()), nil
}

func columnNames(s *arrow.Schema) []string {
	out := make([]string, s.NumFields())
	for i, f := range s.Fields() {
		out[i] = f.Name
	}
	return out
}
