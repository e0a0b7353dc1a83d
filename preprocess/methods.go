package preprocess

import (
	"context"

	"github.com/goray/goray/data"
)

// The Dataset methods of every preprocessor but Chain: each delegates to
// fit, transform and fitTransform in dataset.go. Keep the list in step with
// the registry there.

// Fit learns the StandardScaler's state from ds (see Preprocessor).
func (s *StandardScaler) Fit(ctx context.Context, ds *data.Dataset) error { return fit(ctx, s, ds) }

// Transform returns ds transformed lazily (see Preprocessor).
func (s *StandardScaler) Transform(ctx context.Context, ds *data.Dataset) (*data.Dataset, error) {
	return transform(ctx, s, ds)
}

// FitTransform is Fit then Transform.
func (s *StandardScaler) FitTransform(ctx context.Context, ds *data.Dataset) (*data.Dataset, error) {
	return fitTransform(ctx, s, ds)
}

// Fit learns the MinMaxScaler's state from ds (see Preprocessor).
func (s *MinMaxScaler) Fit(ctx context.Context, ds *data.Dataset) error { return fit(ctx, s, ds) }

// Transform returns ds transformed lazily (see Preprocessor).
func (s *MinMaxScaler) Transform(ctx context.Context, ds *data.Dataset) (*data.Dataset, error) {
	return transform(ctx, s, ds)
}

// FitTransform is Fit then Transform.
func (s *MinMaxScaler) FitTransform(ctx context.Context, ds *data.Dataset) (*data.Dataset, error) {
	return fitTransform(ctx, s, ds)
}

// Fit learns the MaxAbsScaler's state from ds (see Preprocessor).
func (s *MaxAbsScaler) Fit(ctx context.Context, ds *data.Dataset) error { return fit(ctx, s, ds) }

// Transform returns ds transformed lazily (see Preprocessor).
func (s *MaxAbsScaler) Transform(ctx context.Context, ds *data.Dataset) (*data.Dataset, error) {
	return transform(ctx, s, ds)
}

// FitTransform is Fit then Transform.
func (s *MaxAbsScaler) FitTransform(ctx context.Context, ds *data.Dataset) (*data.Dataset, error) {
	return fitTransform(ctx, s, ds)
}

// Fit learns the RobustScaler's state from ds (see Preprocessor).
func (s *RobustScaler) Fit(ctx context.Context, ds *data.Dataset) error { return fit(ctx, s, ds) }

// Transform returns ds transformed lazily (see Preprocessor).
func (s *RobustScaler) Transform(ctx context.Context, ds *data.Dataset) (*data.Dataset, error) {
	return transform(ctx, s, ds)
}

// FitTransform is Fit then Transform.
func (s *RobustScaler) FitTransform(ctx context.Context, ds *data.Dataset) (*data.Dataset, error) {
	return fitTransform(ctx, s, ds)
}

// Fit learns the Normalizer's state from ds (see Preprocessor).
func (n *Normalizer) Fit(ctx context.Context, ds *data.Dataset) error { return fit(ctx, n, ds) }

// Transform returns ds transformed lazily (see Preprocessor).
func (n *Normalizer) Transform(ctx context.Context, ds *data.Dataset) (*data.Dataset, error) {
	return transform(ctx, n, ds)
}

// FitTransform is Fit then Transform.
func (n *Normalizer) FitTransform(ctx context.Context, ds *data.Dataset) (*data.Dataset, error) {
	return fitTransform(ctx, n, ds)
}

// Fit learns the PowerTransformer's state from ds (see Preprocessor).
func (p *PowerTransformer) Fit(ctx context.Context, ds *data.Dataset) error { return fit(ctx, p, ds) }

// Transform returns ds transformed lazily (see Preprocessor).
func (p *PowerTransformer) Transform(ctx context.Context, ds *data.Dataset) (*data.Dataset, error) {
	return transform(ctx, p, ds)
}

// FitTransform is Fit then Transform.
func (p *PowerTransformer) FitTransform(ctx context.Context, ds *data.Dataset) (*data.Dataset, error) {
	return fitTransform(ctx, p, ds)
}

// Fit learns the SimpleImputer's state from ds (see Preprocessor).
func (s *SimpleImputer) Fit(ctx context.Context, ds *data.Dataset) error { return fit(ctx, s, ds) }

// Transform returns ds transformed lazily (see Preprocessor).
func (s *SimpleImputer) Transform(ctx context.Context, ds *data.Dataset) (*data.Dataset, error) {
	return transform(ctx, s, ds)
}

// FitTransform is Fit then Transform.
func (s *SimpleImputer) FitTransform(ctx context.Context, ds *data.Dataset) (*data.Dataset, error) {
	return fitTransform(ctx, s, ds)
}

// Fit learns the Concatenator's state from ds (see Preprocessor).
func (c *Concatenator) Fit(ctx context.Context, ds *data.Dataset) error { return fit(ctx, c, ds) }

// Transform returns ds transformed lazily (see Preprocessor).
func (c *Concatenator) Transform(ctx context.Context, ds *data.Dataset) (*data.Dataset, error) {
	return transform(ctx, c, ds)
}

// FitTransform is Fit then Transform.
func (c *Concatenator) FitTransform(ctx context.Context, ds *data.Dataset) (*data.Dataset, error) {
	return fitTransform(ctx, c, ds)
}

// Fit learns the BatchMapper's state from ds (see Preprocessor).
func (m *BatchMapper) Fit(ctx context.Context, ds *data.Dataset) error { return fit(ctx, m, ds) }

// Transform returns ds transformed lazily (see Preprocessor).
func (m *BatchMapper) Transform(ctx context.Context, ds *data.Dataset) (*data.Dataset, error) {
	return transform(ctx, m, ds)
}

// FitTransform is Fit then Transform.
func (m *BatchMapper) FitTransform(ctx context.Context, ds *data.Dataset) (*data.Dataset, error) {
	return fitTransform(ctx, m, ds)
}

// Fit learns the Categorizer's state from ds (see Preprocessor).
func (e *Categorizer) Fit(ctx context.Context, ds *data.Dataset) error { return fit(ctx, e, ds) }

// Transform returns ds transformed lazily (see Preprocessor).
func (e *Categorizer) Transform(ctx context.Context, ds *data.Dataset) (*data.Dataset, error) {
	return transform(ctx, e, ds)
}

// FitTransform is Fit then Transform.
func (e *Categorizer) FitTransform(ctx context.Context, ds *data.Dataset) (*data.Dataset, error) {
	return fitTransform(ctx, e, ds)
}

// Fit learns the LabelEncoder's state from ds (see Preprocessor).
func (e *LabelEncoder) Fit(ctx context.Context, ds *data.Dataset) error { return fit(ctx, e, ds) }

// Transform returns ds transformed lazily (see Preprocessor).
func (e *LabelEncoder) Transform(ctx context.Context, ds *data.Dataset) (*data.Dataset, error) {
	return transform(ctx, e, ds)
}

// FitTransform is Fit then Transform.
func (e *LabelEncoder) FitTransform(ctx context.Context, ds *data.Dataset) (*data.Dataset, error) {
	return fitTransform(ctx, e, ds)
}

// Fit learns the OrdinalEncoder's state from ds (see Preprocessor).
func (e *OrdinalEncoder) Fit(ctx context.Context, ds *data.Dataset) error { return fit(ctx, e, ds) }

// Transform returns ds transformed lazily (see Preprocessor).
func (e *OrdinalEncoder) Transform(ctx context.Context, ds *data.Dataset) (*data.Dataset, error) {
	return transform(ctx, e, ds)
}

// FitTransform is Fit then Transform.
func (e *OrdinalEncoder) FitTransform(ctx context.Context, ds *data.Dataset) (*data.Dataset, error) {
	return fitTransform(ctx, e, ds)
}

// Fit learns the OneHotEncoder's state from ds (see Preprocessor).
func (e *OneHotEncoder) Fit(ctx context.Context, ds *data.Dataset) error { return fit(ctx, e, ds) }

// Transform returns ds transformed lazily (see Preprocessor).
func (e *OneHotEncoder) Transform(ctx context.Context, ds *data.Dataset) (*data.Dataset, error) {
	return transform(ctx, e, ds)
}

// FitTransform is Fit then Transform.
func (e *OneHotEncoder) FitTransform(ctx context.Context, ds *data.Dataset) (*data.Dataset, error) {
	return fitTransform(ctx, e, ds)
}

// Fit learns the MultiHotEncoder's state from ds (see Preprocessor).
func (e *MultiHotEncoder) Fit(ctx context.Context, ds *data.Dataset) error { return fit(ctx, e, ds) }

// Transform returns ds transformed lazily (see Preprocessor).
func (e *MultiHotEncoder) Transform(ctx context.Context, ds *data.Dataset) (*data.Dataset, error) {
	return transform(ctx, e, ds)
}

// FitTransform is Fit then Transform.
func (e *MultiHotEncoder) FitTransform(ctx context.Context, ds *data.Dataset) (*data.Dataset, error) {
	return fitTransform(ctx, e, ds)
}

// Fit learns the Tokenizer's state from ds (see Preprocessor).
func (t *Tokenizer) Fit(ctx context.Context, ds *data.Dataset) error { return fit(ctx, t, ds) }

// Transform returns ds transformed lazily (see Preprocessor).
func (t *Tokenizer) Transform(ctx context.Context, ds *data.Dataset) (*data.Dataset, error) {
	return transform(ctx, t, ds)
}

// FitTransform is Fit then Transform.
func (t *Tokenizer) FitTransform(ctx context.Context, ds *data.Dataset) (*data.Dataset, error) {
	return fitTransform(ctx, t, ds)
}

// Fit learns the FeatureHasher's state from ds (see Preprocessor).
func (h *FeatureHasher) Fit(ctx context.Context, ds *data.Dataset) error { return fit(ctx, h, ds) }

// Transform returns ds transformed lazily (see Preprocessor).
func (h *FeatureHasher) Transform(ctx context.Context, ds *data.Dataset) (*data.Dataset, error) {
	return transform(ctx, h, ds)
}

// FitTransform is Fit then Transform.
func (h *FeatureHasher) FitTransform(ctx context.Context, ds *data.Dataset) (*data.Dataset, error) {
	return fitTransform(ctx, h, ds)
}

// Fit learns the HashingVectorizer's state from ds (see Preprocessor).
func (h *HashingVectorizer) Fit(ctx context.Context, ds *data.Dataset) error { return fit(ctx, h, ds) }

// Transform returns ds transformed lazily (see Preprocessor).
func (h *HashingVectorizer) Transform(ctx context.Context, ds *data.Dataset) (*data.Dataset, error) {
	return transform(ctx, h, ds)
}

// FitTransform is Fit then Transform.
func (h *HashingVectorizer) FitTransform(ctx context.Context, ds *data.Dataset) (*data.Dataset, error) {
	return fitTransform(ctx, h, ds)
}

// Fit learns the CountVectorizer's state from ds (see Preprocessor).
func (v *CountVectorizer) Fit(ctx context.Context, ds *data.Dataset) error { return fit(ctx, v, ds) }

// Transform returns ds transformed lazily (see Preprocessor).
func (v *CountVectorizer) Transform(ctx context.Context, ds *data.Dataset) (*data.Dataset, error) {
	return transform(ctx, v, ds)
}

// FitTransform is Fit then Transform.
func (v *CountVectorizer) FitTransform(ctx context.Context, ds *data.Dataset) (*data.Dataset, error) {
	return fitTransform(ctx, v, ds)
}

// Fit learns the KBinsDiscretizer's state from ds (see Preprocessor).
func (d *KBinsDiscretizer) Fit(ctx context.Context, ds *data.Dataset) error { return fit(ctx, d, ds) }

// Transform returns ds transformed lazily (see Preprocessor).
func (d *KBinsDiscretizer) Transform(ctx context.Context, ds *data.Dataset) (*data.Dataset, error) {
	return transform(ctx, d, ds)
}

// FitTransform is Fit then Transform.
func (d *KBinsDiscretizer) FitTransform(ctx context.Context, ds *data.Dataset) (*data.Dataset, error) {
	return fitTransform(ctx, d, ds)
}

// Fit learns the CustomKBinsDiscretizer's state from ds (see Preprocessor).
func (d *CustomKBinsDiscretizer) Fit(ctx context.Context, ds *data.Dataset) error {
	return fit(ctx, d, ds)
}

// Transform returns ds transformed lazily (see Preprocessor).
func (d *CustomKBinsDiscretizer) Transform(ctx context.Context, ds *data.Dataset) (*data.Dataset, error) {
	return transform(ctx, d, ds)
}

// FitTransform is Fit then Transform.
func (d *CustomKBinsDiscretizer) FitTransform(ctx context.Context, ds *data.Dataset) (*data.Dataset, error) {
	return fitTransform(ctx, d, ds)
}
