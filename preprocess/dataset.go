package preprocess

import (
	"context"
	"errors"
	"fmt"

	"github.com/apache/arrow/go/v15/arrow"

	"github.com/goray/goray/data"
)

// ErrInvalidInput reports bad input: a missing column, a column of the
// wrong type, a column with nothing to fit, an empty dataset, a bad
// parameter. Messages name the preprocessor and the column or parameter.
// It is data.ErrInvalidInput, that is core.ErrInvalidInput itself.
var ErrInvalidInput = data.ErrInvalidInput

// Preprocessor is a fittable transformation of Datasets and batches.
//
// Fit learns state from a Dataset (per-block partial statistics computed in
// parallel and merged); Transform returns a lazy Dataset that applies
// TransformBatch to every block; FitTransform is Fit then Transform.
// TransformBatch transforms one record, for serving, with the same numbers
// as Transform: it does not release its input and returns a record the
// caller releases. Transform or TransformBatch before Fit fails with
// ErrNotFitted, except for preprocessors that learn nothing (Fitted is
// always true for them). A Preprocessor must not be fitted concurrently;
// once fitted, TransformBatch is safe for concurrent use, on one shared
// batch too: it only reads its input (the records it returns are new, and
// each caller's own). Arrow arrays cache some state on first read
// (array.Dictionary's values), so callers that read one returned record
// from several goroutines should each read their own copy.
//
// Marshal and Unmarshal turn the configuration and fitted state into JSON
// and back; TypeName is the name Unmarshal looks up.
type Preprocessor interface {
	Fit(ctx context.Context, ds *data.Dataset) error
	Transform(ctx context.Context, ds *data.Dataset) (*data.Dataset, error)
	FitTransform(ctx context.Context, ds *data.Dataset) (*data.Dataset, error)
	TransformBatch(batch arrow.Record) (arrow.Record, error)
	Fitted() bool
	TypeName() string
}

func init() {
	for name, newFn := range map[string]func() Preprocessor{
		"StandardScaler":         func() Preprocessor { return &StandardScaler{} },
		"MinMaxScaler":           func() Preprocessor { return &MinMaxScaler{} },
		"MaxAbsScaler":           func() Preprocessor { return &MaxAbsScaler{} },
		"RobustScaler":           func() Preprocessor { return &RobustScaler{} },
		"Normalizer":             func() Preprocessor { return &Normalizer{} },
		"PowerTransformer":       func() Preprocessor { return &PowerTransformer{} },
		"SimpleImputer":          func() Preprocessor { return &SimpleImputer{} },
		"Concatenator":           func() Preprocessor { return &Concatenator{} },
		"BatchMapper":            func() Preprocessor { return &BatchMapper{} },
		"Chain":                  func() Preprocessor { return &Chain{} },
		"Categorizer":            func() Preprocessor { return &Categorizer{} },
		"LabelEncoder":           func() Preprocessor { return &LabelEncoder{} },
		"OrdinalEncoder":         func() Preprocessor { return &OrdinalEncoder{} },
		"OneHotEncoder":          func() Preprocessor { return &OneHotEncoder{} },
		"MultiHotEncoder":        func() Preprocessor { return &MultiHotEncoder{} },
		"Tokenizer":              func() Preprocessor { return &Tokenizer{} },
		"FeatureHasher":          func() Preprocessor { return &FeatureHasher{} },
		"HashingVectorizer":      func() Preprocessor { return &HashingVectorizer{} },
		"CountVectorizer":        func() Preprocessor { return &CountVectorizer{} },
		"KBinsDiscretizer":       func() Preprocessor { return &KBinsDiscretizer{} },
		"CustomKBinsDiscretizer": func() Preprocessor { return &CustomKBinsDiscretizer{} },
	} {
		Register(name, newFn)
	}
}

// fit is every preprocessor's Fit: one task per block computes a partial
// statistic (data.MapBlocks), the partials are merged in block order and
// the fitted state is set only if everything succeeded. Preprocessors that
// learn nothing only check their configuration.
func fit(ctx context.Context, p Preprocessor, ds *data.Dataset) error {
	if ds == nil {
		return fmt.Errorf("%w: %s: Fit on a nil dataset", ErrInvalidInput, p.TypeName())
	}
	pl, ok := p.(planner)
	if !ok {
		if v, ok := p.(interface{ validate() error }); ok {
			return v.validate()
		}
		return nil
	}
	plan, err := pl.plan()
	if err != nil {
		return err
	}
	parts, err := data.MapBlocks(ctx, ds, func(_ context.Context, block arrow.Record) (partial, error) {
		return plan.fitBlock(block)
	})
	if err != nil {
		if errors.Is(err, ErrInvalidInput) {
			// The message names the preprocessor and the column already.
			return err
		}
		return fmt.Errorf("preprocess: fit %s: %w", p.TypeName(), err)
	}
	return plan.finishParts(p.TypeName(), parts)
}

// transform is every preprocessor's Transform: a lazy MapBatches of
// TransformBatch over whole blocks.
func transform(_ context.Context, p Preprocessor, ds *data.Dataset) (*data.Dataset, error) {
	if ds == nil {
		return nil, fmt.Errorf("%w: %s: Transform of a nil dataset", ErrInvalidInput, p.TypeName())
	}
	if !p.Fitted() {
		return nil, fmt.Errorf("%w: %s", ErrNotFitted, p.TypeName())
	}
	if v, ok := p.(interface{ validate() error }); ok {
		if err := v.validate(); err != nil {
			return nil, err
		}
	}
	return ds.MapBatches(func(_ context.Context, batch arrow.Record) (arrow.Record, error) {
		return p.TransformBatch(batch)
	}, data.Name(p.TypeName())), nil
}

func fitTransform(ctx context.Context, p Preprocessor, ds *data.Dataset) (*data.Dataset, error) {
	if err := p.Fit(ctx, ds); err != nil {
		return nil, err
	}
	return p.Transform(ctx, ds)
}

// Fit fits each stage on the output of the stages before it.
func (c *Chain) Fit(ctx context.Context, ds *data.Dataset) error {
	if err := c.validate(); err != nil {
		return err
	}
	if ds == nil {
		return fmt.Errorf("%w: Chain: Fit on a nil dataset", ErrInvalidInput)
	}
	for i, s := range c.Stages {
		if i == len(c.Stages)-1 {
			if err := s.Fit(ctx, ds); err != nil {
				return fmt.Errorf("preprocess: Chain stage %d (%s): %w", i, s.TypeName(), err)
			}
			break
		}
		next, err := s.FitTransform(ctx, ds)
		if err != nil {
			return fmt.Errorf("preprocess: Chain stage %d (%s): %w", i, s.TypeName(), err)
		}
		ds = next
	}
	return nil
}

// Transform applies every stage, fused into one operator.
func (c *Chain) Transform(ctx context.Context, ds *data.Dataset) (*data.Dataset, error) {
	if err := c.validate(); err != nil {
		return nil, err
	}
	return transform(ctx, c, ds)
}

// FitTransform is Fit then Transform.
func (c *Chain) FitTransform(ctx context.Context, ds *data.Dataset) (*data.Dataset, error) {
	return fitTransform(ctx, c, ds)
}
