package train

import (
	"context"
	"fmt"

	"github.com/apache/arrow/go/v15/arrow"

	"github.com/goray/goray/checkpoint"
	"github.com/goray/goray/preprocess"
)

// Predictor scores batches with a trained model.
type Predictor interface {
	// Predict scores one batch: input has the checkpoint's feature columns (raw, before
	// preprocessing); output has one column per prediction ("predictions" float64, or
	// "predictions" + per-class "probabilities" list for multiclass). Caller releases both.
	Predict(ctx context.Context, batch arrow.Record) (arrow.Record, error)
	// Features returns the input columns the model expects, in order.
	Features() []checkpoint.Feature
}

// PredictorFactory builds a Predictor from a checkpoint.
type PredictorFactory func(ckpt *checkpoint.Checkpoint) (Predictor, error)

// Trainer fits a model.
type Trainer interface {
	Fit(ctx context.Context) (*Result, error)
}

// BatchTransformer applies a fitted preprocessor to a batch. It does not
// release its input; the caller releases the returned record.
type BatchTransformer interface {
	TransformBatch(batch arrow.Record) (arrow.Record, error)
}

// LoadPreprocessor returns the preprocessor stored in ckpt's
// preprocessor.json, or nil (and no error) if the checkpoint has none.
func LoadPreprocessor(ckpt *checkpoint.Checkpoint) (BatchTransformer, error) {
	if !ckpt.HasFile(checkpoint.PreprocessorFile) {
		return nil, nil
	}
	state, err := ckpt.ReadFile(checkpoint.PreprocessorFile)
	if err != nil {
		return nil, err
	}
	t, err := preprocess.Unmarshal(state)
	if err != nil {
		return nil, fmt.Errorf("train: load %s of checkpoint %s: %w", checkpoint.PreprocessorFile, ckpt.Path(), err)
	}
	return t, nil
}
