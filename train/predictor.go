// Package train runs distributed training and turns its output into
// predictors. This file fixes the interfaces shared by trainers (gbdt, nn),
// tuning and serving: a Trainer fits and returns a Result holding a
// checkpoint; a PredictorFactory turns a checkpoint back into a Predictor
// that scores Arrow record batches.
package train

import (
	"context"
	"errors"
	"fmt"
	"sync"

	"github.com/apache/arrow/go/v15/arrow"

	"github.com/goray/goray/checkpoint"
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

// PreprocessorLoader rebuilds a fitted preprocessor from the bytes of a
// checkpoint's preprocessor.json.
type PreprocessorLoader func(state []byte) (BatchTransformer, error)

// ErrNoPreprocessorLoader: a checkpoint has a preprocessor.json but no
// PreprocessorLoader has been registered (import the preprocess package).
var ErrNoPreprocessorLoader = errors.New("train: no preprocessor loader registered")

var (
	loaderMu sync.RWMutex
	loader   PreprocessorLoader
)

// RegisterPreprocessorLoader installs the function that rebuilds
// preprocessors from checkpoints. The preprocess package registers itself at
// init, so train and checkpoint need not import it. A later call replaces
// the earlier loader (nil removes it) and returns the one it replaced, so a
// test can put it back.
func RegisterPreprocessorLoader(l PreprocessorLoader) (previous PreprocessorLoader) {
	loaderMu.Lock()
	previous, loader = loader, l
	loaderMu.Unlock()
	return previous
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
	loaderMu.RLock()
	l := loader
	loaderMu.RUnlock()
	if l == nil {
		return nil, fmt.Errorf("%w: checkpoint %s has %s", ErrNoPreprocessorLoader, ckpt.Path(), checkpoint.PreprocessorFile)
	}
	t, err := l(state)
	if err != nil {
		return nil, fmt.Errorf("train: load %s of checkpoint %s: %w", checkpoint.PreprocessorFile, ckpt.Path(), err)
	}
	return t, nil
}
