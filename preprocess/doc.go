// Package preprocess holds goray's feature preprocessors (Ray's
// ray.data.preprocessors): they are fitted on a data.Dataset, transform
// Datasets lazily and single Arrow batches for serving, and their fitted
// state travels inside checkpoints as JSON.
//
// The first call a user makes is a constructor, then Fit:
//
//	scaler := preprocess.NewStandardScaler("mean radius", "mean texture")
//	if err := scaler.Fit(ctx, train); err != nil { ... }
//	scaled, err := scaler.Transform(ctx, train)   // lazy *data.Dataset
//	out, err := scaler.TransformBatch(batch)      // one arrow.Record; release out
//	state, err := preprocess.Marshal(scaler)      // {"type":"StandardScaler","state":{...}}
//
// # Preprocessors
//
// Every type implements Preprocessor (Fit, Transform, FitTransform,
// TransformBatch, Fitted, TypeName). Columns are chosen by name.
//
//	Feature scalers (numeric columns, replaced in place by float64 columns):
//	  StandardScaler    (x - mean) / std
//	  MinMaxScaler      (x - min) / (max - min)
//	  MaxAbsScaler      x / max|x|
//	  RobustScaler      (x - median) / (q75 - q25), exact quantiles
//	  Normalizer        each row of the columns to unit l1, l2 or max norm
//	  PowerTransformer  Yeo-Johnson or Box-Cox, lambda by maximum likelihood, then standardised
//	General:
//	  SimpleImputer     fill gaps with mean, median, most frequent or a constant (numbers, strings)
//	  Concatenator      columns into one fixed-size list column "concat_out" (inputs dropped)
//	  BatchMapper       a registered user function per batch
//	  Chain             stages in sequence
//	Categorical encoders (string, integer, float or boolean columns):
//	  Categorizer       in place, to an Arrow dictionary column of the fitted categories
//	  LabelEncoder      the label column in place, to int64 codes
//	  OrdinalEncoder    in place, to int64 codes (lists to list<int64>)
//	  OneHotEncoder     one int64 column "<col>_<category>" per category; input dropped
//	  MultiHotEncoder   list column in place, to fixed-size list<int64> of category counts
//	Text encoders:
//	  Tokenizer         string column in place, to list<string>
//	  FeatureHasher     token-count columns into "hash_<i>" float64 columns; inputs dropped
//	  HashingVectorizer token counts into "hash_<col>_<i>" int64 columns; input dropped
//	  CountVectorizer   token counts into "<col>_<token>" int64 columns; input dropped
//	Discretizers (numeric columns, in place, to float64 bin indices):
//	  KBinsDiscretizer        uniform or quantile bins fitted as scikit-learn fits them
//	  CustomKBinsDiscretizer  given edges, pandas.cut semantics as in Ray
//
// Output names follow Ray 2.x (up to 2.9): one-hot columns are named
// "<column>_<category>" with categories in sorted order and printed as
// Python prints them ("x_1.0", "x_True"); newer Ray versions instead encode
// one-hot into a list column in place. Added columns are appended after the
// remaining input columns; the other columns keep their order.
//
// # Numerics
//
// Definitions follow scikit-learn and are tested against values it computes
// (testdata/sklearn_breast_cancer.json, written by
// testdata/gen_sklearn_golden.py with scikit-learn 1.2.1):
//
//   - Standard deviations are population ones (ddof=0).
//   - A constant column is left unscaled (scale 1) rather than divided by
//     zero, judged as scikit-learn judges it (_is_constant_feature for
//     StandardScaler, scale < 10·eps elsewhere).
//   - NaN and null are ignored when fitting and passed through when
//     transforming (a null stays null, a NaN stays NaN). A column with no
//     values at all is an error at Fit, and so is one holding ±Inf;
//     SimpleImputer.AllMissing can instead drop such a column (scikit-learn's
//     default) or keep it filled with 0 (keep_empty_features=True).
//   - Quantiles and medians are exact: numpy's linear interpolation, and the
//     mean of the two middle values for an even-sized median. Ray's
//     RobustScaler picks the nearest row instead.
//   - Box-Cox and Yeo-Johnson lambdas maximise the same log-likelihood with
//     the same bracketed Brent search as scikit-learn/scipy
//     (optimize.brent, brack=(-2, 2), tol 1.48e-8), so lambdas agree to that
//     tolerance. A constant column gets lambda 1 under Yeo-Johnson (newer
//     scikit-learn) and is an error under Box-Cox; Box-Cox rejects
//     non-positive values at Fit and at transform. Ray's PowerTransformer
//     takes a fixed power and does not standardise; this one fits lambdas.
//   - An unseen category becomes all zeros in OneHotEncoder and
//     MultiHotEncoder and null in LabelEncoder, OrdinalEncoder and
//     Categorizer (Ray gives NaN); HandleUnknown = UnknownError makes it an
//     error naming the column and value, and OrdinalEncoder's
//     UnknownUseEncodedValue gives it the code UnknownValue (scikit-learn's
//     handle_unknown="use_encoded_value").
//   - OneHotEncoder.Drop leaves out the first category (DropFirst), or the
//     first of binary columns only (DropIfBinary), as scikit-learn's drop=.
//     LabelEncoder.InverseTransform maps codes back to labels.
//   - Most-frequent ties go to the smallest value (scikit-learn); Ray takes
//     the first met, which depends on block order.
//   - KBinsDiscretizer bins are [a, b) with values beyond the fitted range
//     clipped into the end bins (scikit-learn); CustomKBinsDiscretizer
//     follows Ray's pandas.cut: (a, b] by default, outside values give NaN.
//   - Hashing uses Ray's simple_hash (SHA-1 of the value's text modulo the
//     number of features), so bucket indices match Ray's. HashFn =
//     HashSklearn selects scikit-learn's signed MurmurHash3 (seed 0, |h|
//     modulo the number of features) and AlternateSign its
//     alternate_sign, so features hashed by scikit-learn's FeatureHasher
//     and HashingVectorizer land in the same columns with the same signs
//     (testdata/sklearn_options.json, from testdata/gen_sklearn_options.py).
//
// Numeric outputs are float64 (integer inputs included); encoders write
// int64.
//
// # Distributed fitting
//
// Fit runs one task per block of the Dataset (data.MapBlocks, on every
// core), each computing a partial statistic: counts, means and squared
// deviations merged with Chan et al.'s parallel formula; minima and maxima;
// value and token counts merged by addition. The partials are merged in
// block order on the caller. Statistics that need every value gather them:
// exact quantiles and medians (RobustScaler, SimpleImputer median,
// quantile KBinsDiscretizer), where each block sorts its own values in
// parallel and order statistics are selected across the sorted blocks
// without merging them; and the power-transform likelihood
// (PowerTransformer), evaluated on the gathered values. These hold one
// float64 per non-missing value of the column in memory on the caller.
//
// An empty dataset, a missing column, a string column given to a scaler, an
// all-missing column or a bad parameter is an ErrInvalidInput naming the
// preprocessor and the column or parameter. Transform and TransformBatch
// before Fit return ErrNotFitted; preprocessors that learn nothing
// (Normalizer, Concatenator, BatchMapper, Tokenizer, FeatureHasher,
// HashingVectorizer, CustomKBinsDiscretizer, a constant SimpleImputer) need
// no Fit, as in Ray.
//
// # Checkpoints
//
// Marshal writes {"type": TypeName, "state": {configuration and fitted
// state}}; a Chain nests its stages as {"stages": [{"type": ..., "state":
// ...}, ...]}. Unmarshal rebuilds any registered type (all of this
// package's; Register adds others). Functions cannot be serialised: a
// BatchMapper stores the name its function was registered under with
// RegisterBatchMapper, and a custom tokenization function the name given
// to RegisterTokenizer; a process that loads such a checkpoint must register
// the same functions under the same names before Unmarshal. Trainers store
// Marshal's output as a checkpoint's preprocessor.json, and
// train.LoadPreprocessor rebuilds it with Unmarshal.
package preprocess
