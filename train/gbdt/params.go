package gbdt

import (
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"runtime"
	"slices"
	"sort"
	"strings"

	"github.com/goray/goray/core"
)

var (
	// ErrInvalidParam: a parameter is unknown, of the wrong type or out of
	// range. It matches core.ErrInvalidInput with errors.Is.
	ErrInvalidParam = core.NewKind("invalid gbdt parameter", core.ErrInvalidInput)
	// ErrInvalidInput: training or prediction data is unusable (missing
	// column, non-numeric column, bad label); the message names the column
	// or row. It is core.ErrInvalidInput itself.
	ErrInvalidInput = core.ErrInvalidInput
	// ErrStopTraining may be returned by a Callback to end training early
	// without an error.
	ErrStopTraining = errors.New("gbdt: stop training")
)

// The sentinels keep their identity (errors.Is) when they cross from a
// training worker to the driver.
func init() {
	core.RegisterError("gbdt.ErrInvalidParam", ErrInvalidParam)
	core.RegisterError("gbdt.ErrStopTraining", ErrStopTraining)
}

// Params are training parameters under XGBoost's names, e.g.
//
//	gbdt.Params{"objective": "binary:logistic", "max_depth": 6, "eta": 0.3,
//		"eval_metric": []string{"logloss", "error"}}
//
// Values may be Go numbers, JSON/YAML-decoded numbers (float64 with an
// integral value for integer parameters) or json.Number; strings only
// where a string is expected.
type Params map[string]any

// Objectives.
const (
	BinaryLogistic  = "binary:logistic"
	RegSquaredError = "reg:squarederror"
	MultiSoftprob   = "multi:softprob"
	MultiSoftmax    = "multi:softmax" // trains like multi:softprob
)

// knownParams lists every accepted key with a one-line description; aliases
// map to their XGBoost canonical name.
var knownParams = map[string]string{
	"objective":             "binary:logistic | reg:squarederror | multi:softprob | multi:softmax",
	"num_class":             "number of classes for multi:* (>= 2)",
	"eta":                   "learning rate (alias learning_rate), default 0.3",
	"learning_rate":         "alias of eta",
	"max_depth":             "maximum tree depth, default 6; 0 = unlimited (needs max_leaves)",
	"max_leaves":            "maximum leaves per tree; > 0 grows leaf-wise",
	"grow_policy":           "depthwise | lossguide (default lossguide when max_leaves > 0)",
	"min_child_weight":      "minimum hessian sum in a child, default 1",
	"lambda":                "L2 regularisation on leaf weights (alias reg_lambda), default 1",
	"reg_lambda":            "alias of lambda",
	"alpha":                 "L1 regularisation on leaf weights (alias reg_alpha), default 0",
	"reg_alpha":             "alias of alpha",
	"gamma":                 "minimum loss reduction to keep a split (alias min_split_loss), default 0",
	"min_split_loss":        "alias of gamma",
	"subsample":             "row sampling ratio per tree, (0, 1], default 1",
	"colsample_bytree":      "feature sampling ratio per tree, (0, 1], default 1",
	"max_bin":               "maximum quantile bins per feature, 2..255 value bins plus one missing-value bin, default 256",
	"base_score":            "initial prediction (a probability for binary:logistic), default 0.5",
	"eval_metric":           "logloss | error | auc | rmse | mae | mlogloss | merror, string or list",
	"early_stopping_rounds": "stop when the last metric on the early-stopping set has not improved for this many rounds",
	"seed":                  "random seed for subsample/colsample, default 0",
	"nthread":               "threads per worker, default all cores",
	"tree_method":           "hist (the only method; auto is accepted)",
	"verbosity":             "accepted and ignored (0..3)",
}

var aliases = map[string]string{
	"learning_rate":  "eta",
	"reg_lambda":     "lambda",
	"reg_alpha":      "alpha",
	"min_split_loss": "gamma",
}

// config is the validated form of Params.
type config struct {
	objective           string
	numClass            int // 1 unless multi:*
	eta                 float64
	maxDepth            int
	maxLeaves           int
	lossguide           bool
	minChildWeight      float64
	lambda, alpha       float64
	gamma               float64
	subsample           float64
	colsample           float64
	maxBin              int // value bins, <= 255
	baseScore           float64
	metrics             []string
	earlyStoppingRounds int
	seed                uint64
	nthread             int
}

func knownList() string {
	keys := make([]string, 0, len(knownParams))
	for k := range knownParams {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return strings.Join(keys, ", ")
}

func parseParams(p Params) (*config, error) {
	c := &config{
		objective:      BinaryLogistic,
		numClass:       1,
		eta:            0.3,
		maxDepth:       6,
		minChildWeight: 1,
		lambda:         1,
		subsample:      1,
		colsample:      1,
		maxBin:         256,
		baseScore:      0.5,
		nthread:        runtime.GOMAXPROCS(0),
	}
	seen := map[string]string{} // canonical -> key used
	keys := make([]string, 0, len(p))
	for k := range p {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	var growPolicy string
	for _, key := range keys {
		v := p[key]
		if _, ok := knownParams[key]; !ok {
			return nil, fmt.Errorf("%w: unknown parameter %q; known parameters: %s", ErrInvalidParam, key, knownList())
		}
		canon := key
		if a, ok := aliases[key]; ok {
			canon = a
		}
		if prev, dup := seen[canon]; dup {
			return nil, fmt.Errorf("%w: %q and %q are the same parameter; give one", ErrInvalidParam, prev, key)
		}
		seen[canon] = key
		var err error
		switch canon {
		case "objective":
			c.objective, err = paramString(key, v)
			if err == nil && !slices.Contains([]string{BinaryLogistic, RegSquaredError, MultiSoftprob, MultiSoftmax}, c.objective) {
				err = fmt.Errorf("%w: %q: unsupported objective %q (want %s)", ErrInvalidParam, key, c.objective, knownParams["objective"])
			}
		case "num_class":
			c.numClass, err = paramInt(key, v, 1, math.MaxInt32)
		case "eta":
			c.eta, err = paramFloat(key, v, 0, math.Inf(1), false)
			if err == nil && c.eta == 0 {
				err = fmt.Errorf("%w: %q must be > 0", ErrInvalidParam, key)
			}
		case "max_depth":
			c.maxDepth, err = paramInt(key, v, 0, 64)
		case "max_leaves":
			c.maxLeaves, err = paramInt(key, v, 0, math.MaxInt32)
			if err == nil && c.maxLeaves == 1 {
				err = fmt.Errorf("%w: %q must be 0 (no limit) or >= 2", ErrInvalidParam, key)
			}
		case "grow_policy":
			growPolicy, err = paramString(key, v)
			if err == nil && growPolicy != "depthwise" && growPolicy != "lossguide" {
				err = fmt.Errorf("%w: %q: want depthwise or lossguide, got %q", ErrInvalidParam, key, growPolicy)
			}
		case "min_child_weight":
			c.minChildWeight, err = paramFloat(key, v, 0, math.Inf(1), false)
		case "lambda":
			c.lambda, err = paramFloat(key, v, 0, math.Inf(1), false)
		case "alpha":
			c.alpha, err = paramFloat(key, v, 0, math.Inf(1), false)
		case "gamma":
			c.gamma, err = paramFloat(key, v, 0, math.Inf(1), false)
		case "subsample":
			c.subsample, err = paramFloat(key, v, 0, 1, true)
		case "colsample_bytree":
			c.colsample, err = paramFloat(key, v, 0, 1, true)
		case "max_bin":
			c.maxBin, err = paramInt(key, v, 2, math.MaxInt32)
		case "base_score":
			c.baseScore, err = paramFloat(key, v, math.Inf(-1), math.Inf(1), false)
		case "eval_metric":
			c.metrics, err = paramStrings(key, v)
		case "early_stopping_rounds":
			c.earlyStoppingRounds, err = paramInt(key, v, 0, math.MaxInt32)
		case "seed":
			var s int
			s, err = paramInt(key, v, math.MinInt64, math.MaxInt64)
			c.seed = uint64(s)
		case "nthread":
			c.nthread, err = paramInt(key, v, 0, 1024)
			if err == nil && c.nthread == 0 {
				c.nthread = runtime.GOMAXPROCS(0)
			}
		case "tree_method":
			var m string
			m, err = paramString(key, v)
			if err == nil && m != "hist" && m != "auto" {
				err = fmt.Errorf("%w: %q: only hist is implemented, got %q", ErrInvalidParam, key, m)
			}
		case "verbosity":
			_, err = paramInt(key, v, 0, 3)
		}
		if err != nil {
			return nil, err
		}
	}
	multi := c.objective == MultiSoftprob || c.objective == MultiSoftmax
	switch {
	case multi && c.numClass < 2:
		return nil, fmt.Errorf("%w: objective %s needs \"num_class\" >= 2", ErrInvalidParam, c.objective)
	case !multi && seen["num_class"] != "" && c.numClass != 1:
		return nil, fmt.Errorf("%w: \"num_class\" is only for multi:* objectives, objective is %s", ErrInvalidParam, c.objective)
	case c.maxDepth == 0 && c.maxLeaves == 0:
		return nil, fmt.Errorf("%w: \"max_depth\" 0 (unlimited) needs \"max_leaves\" > 0", ErrInvalidParam)
	case c.objective == BinaryLogistic && (c.baseScore <= 0 || c.baseScore >= 1):
		return nil, fmt.Errorf("%w: \"base_score\" %v must be a probability in (0, 1) for %s", ErrInvalidParam, c.baseScore, BinaryLogistic)
	}
	if !multi {
		c.numClass = 1
	}
	switch growPolicy {
	case "lossguide":
		c.lossguide = true
	case "":
		c.lossguide = c.maxLeaves > 0
	}
	if c.maxBin > 255 {
		c.maxBin = 255 // uint8 bins: 255 value bins plus the missing-value bin
	}
	if len(c.metrics) == 0 {
		switch c.objective {
		case BinaryLogistic:
			c.metrics = []string{"logloss"}
		case RegSquaredError:
			c.metrics = []string{"rmse"}
		default:
			c.metrics = []string{"mlogloss"}
		}
	}
	for _, m := range c.metrics {
		if err := checkMetric(m, c.objective); err != nil {
			return nil, err
		}
	}
	return c, nil
}

func paramString(key string, v any) (string, error) {
	s, ok := v.(string)
	if !ok {
		return "", fmt.Errorf("%w: %q: want a string, got %T %v", ErrInvalidParam, key, v, v)
	}
	return s, nil
}

func paramStrings(key string, v any) ([]string, error) {
	switch x := v.(type) {
	case string:
		return []string{x}, nil
	case []string:
		if len(x) == 0 {
			return nil, fmt.Errorf("%w: %q: empty list", ErrInvalidParam, key)
		}
		return slices.Clone(x), nil
	case []any:
		out := make([]string, len(x))
		for i, e := range x {
			s, ok := e.(string)
			if !ok {
				return nil, fmt.Errorf("%w: %q[%d]: want a string, got %T %v", ErrInvalidParam, key, i, e, e)
			}
			out[i] = s
		}
		if len(out) == 0 {
			return nil, fmt.Errorf("%w: %q: empty list", ErrInvalidParam, key)
		}
		return out, nil
	}
	return nil, fmt.Errorf("%w: %q: want a string or a list of strings, got %T %v", ErrInvalidParam, key, v, v)
}

func paramFloat(key string, v any, lo, hi float64, openLo bool) (float64, error) {
	var f float64
	switch x := v.(type) {
	case float64:
		f = x
	case float32:
		f = float64(x)
	case int:
		f = float64(x)
	case int8:
		f = float64(x)
	case int16:
		f = float64(x)
	case int32:
		f = float64(x)
	case int64:
		f = float64(x)
	case uint:
		f = float64(x)
	case uint8:
		f = float64(x)
	case uint16:
		f = float64(x)
	case uint32:
		f = float64(x)
	case uint64:
		f = float64(x)
	case json.Number:
		var err error
		if f, err = x.Float64(); err != nil {
			return 0, fmt.Errorf("%w: %q: want a number, got %q", ErrInvalidParam, key, x)
		}
	default:
		return 0, fmt.Errorf("%w: %q: want a number, got %T %v", ErrInvalidParam, key, v, v)
	}
	if math.IsNaN(f) || f < lo || f > hi || (openLo && f == lo) {
		lb := "["
		if openLo {
			lb = "("
		}
		return 0, fmt.Errorf("%w: %q = %v is out of range %s%v, %v]", ErrInvalidParam, key, f, lb, lo, hi)
	}
	return f, nil
}

func paramInt(key string, v any, lo, hi int) (int, error) {
	var n int
	switch x := v.(type) {
	case int:
		n = x
	case int8:
		n = int(x)
	case int16:
		n = int(x)
	case int32:
		n = int(x)
	case int64:
		n = int(x)
	case uint:
		n = int(x)
	case uint8:
		n = int(x)
	case uint16:
		n = int(x)
	case uint32:
		n = int(x)
	case uint64:
		if x > math.MaxInt64 {
			return 0, fmt.Errorf("%w: %q = %v is too large", ErrInvalidParam, key, x)
		}
		n = int(x)
	case float64:
		if x != math.Trunc(x) || math.Abs(x) > 1<<53 {
			return 0, fmt.Errorf("%w: %q: want an integer, got %v", ErrInvalidParam, key, x)
		}
		n = int(x)
	case float32:
		if float64(x) != math.Trunc(float64(x)) {
			return 0, fmt.Errorf("%w: %q: want an integer, got %v", ErrInvalidParam, key, x)
		}
		n = int(x)
	case json.Number:
		i, err := x.Int64()
		if err != nil {
			return 0, fmt.Errorf("%w: %q: want an integer, got %q", ErrInvalidParam, key, x)
		}
		n = int(i)
	default:
		return 0, fmt.Errorf("%w: %q: want an integer, got %T %v", ErrInvalidParam, key, v, v)
	}
	if n < lo || n > hi {
		return 0, fmt.Errorf("%w: %q = %d is out of range [%d, %d]", ErrInvalidParam, key, n, lo, hi)
	}
	return n, nil
}
