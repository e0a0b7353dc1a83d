package serve

import (
	"context"
	"fmt"
	"reflect"
	"slices"
	"sync"

	"github.com/goray/goray/checkpoint"
	"github.com/goray/goray/preprocess"
	"github.com/goray/goray/train"
	"github.com/goray/goray/train/gbdt"
)

// The row path scores small requests to a gbdt PredictorDeployment
// without building Arrow records: the JSON decoder's columns are read
// directly, the checkpoint's StandardScaler stages are applied value by
// value, the model scores the rows row-major, and the answer is written
// straight to JSON. For one row the Arrow path spends most of its time
// building and validating records (the input, the preprocessor's output,
// the predictor's output), not in the trees.
//
// It answers exactly the bytes of the Arrow path (the same decoder, the
// same arithmetic in the same order, the same trees, the same float
// formatting; TestRowPathEqualsArrowPath). It is only built when that
// can be known: the factory is gbdt.PredictorFactory (so the predictor
// applies the checkpoint's own preprocessor), the adapter is JSONAdapter,
// every input feature is float64, the model has one output, and the
// preprocessor is absent, a StandardScaler or a Chain of StandardScalers.
// Anything else, and requests of more than rowPathMaxRows rows, take the
// Arrow path.

// rowPathMaxRows bounds the requests the row path takes; bigger ones are
// batch work, which the Arrow path does column by column.
const rowPathMaxRows = 64

// rowModel is the row path of one PredictorHandler; safe for concurrent use.
type rowModel struct {
	model *gbdt.Model
	src   []int       // per model column: the input feature it reads
	steps [][]meanStd // per model column: the scalings applied, in order
	bufs  sync.Pool   // *[]float64, row-major model input
	name  []byte      // `{"predictions":[`
}

// meanStd is one StandardScaler's (v - mean) / scale.
type meanStd struct{ mean, scale float64 }

// sameFunc reports whether two top-level functions are the same function.
func sameFunc(a, b any) bool {
	va, vb := reflect.ValueOf(a), reflect.ValueOf(b)
	return va.Kind() == reflect.Func && vb.Kind() == reflect.Func && !va.IsNil() && !vb.IsNil() &&
		va.Pointer() == vb.Pointer()
}

// newRowModel returns the row path for a handler, or nil where only the
// Arrow path is known to be right.
func newRowModel(ckpt *checkpoint.Checkpoint, factory train.PredictorFactory, adapter Adapter,
	pred train.Predictor, in *InputSchema) *rowModel {
	if !sameFunc(factory, gbdt.PredictorFactory) || !sameFunc(adapter, JSONAdapter) {
		return nil
	}
	gp, ok := pred.(*gbdt.Predictor)
	if !ok {
		return nil
	}
	for _, k := range in.kinds {
		if k.kind != kFloat || k.bits != 64 {
			return nil
		}
	}
	m := gp.Model()
	if m.NumClass() != 1 || m.Objective() == gbdt.MultiSoftprob || m.Objective() == gbdt.MultiSoftmax {
		return nil
	}
	_, names, err := gbdt.LoadCheckpoint(ckpt)
	if err != nil || len(names) < m.NumFeatures() {
		return nil
	}
	pre, err := train.LoadPreprocessor(ckpt)
	if err != nil {
		return nil
	}
	scaled, ok := scalings(pre)
	if !ok {
		return nil
	}
	// Every scaled column must be an input (the Arrow path refuses the
	// request otherwise), and every model column one after scaling.
	for col := range scaled {
		if _, ok := in.index[col]; !ok {
			return nil
		}
	}
	rm := &rowModel{model: m, src: make([]int, len(names)), steps: make([][]meanStd, len(names)),
		name: []byte(`{"predictions":[`)}
	for j, n := range names {
		i, ok := in.index[n]
		if !ok {
			return nil
		}
		rm.src[j] = i
		rm.steps[j] = scaled[n]
	}
	return rm
}

// scalings flattens a preprocessor into the scalings of each column, in
// the order they apply; ok is false for a preprocessor the row path
// cannot reproduce.
func scalings(pre train.BatchTransformer) (map[string][]meanStd, bool) {
	out := map[string][]meanStd{}
	var add func(p train.BatchTransformer) bool
	add = func(p train.BatchTransformer) bool {
		switch p := p.(type) {
		case nil:
			return true
		case *preprocess.StandardScaler:
			if !p.Fitted() {
				return false
			}
			// One stage maps each listed column once, from its input, even
			// if the column is listed twice.
			seen := map[string]bool{}
			for _, c := range p.Columns {
				st, ok := p.Stats[c]
				if !ok {
					return false
				}
				if !seen[c] {
					seen[c] = true
					out[c] = append(out[c], meanStd{st.Mean, st.Scale})
				}
			}
			return true
		case *preprocess.Chain:
			if p == nil || len(p.Stages) == 0 {
				return false
			}
			for _, s := range p.Stages {
				if s == nil || !add(s) {
					return false
				}
			}
			return true
		}
		return false
	}
	if !add(pre) {
		return nil, false
	}
	return out, true
}

// predict scores the decoded rows of c and returns the JSON answer.
func (rm *rowModel) predict(ctx context.Context, c *columns) ([]byte, error) {
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("predictor: %w", err)
	}
	n, F := c.nrows, len(rm.src)
	bp, _ := rm.bufs.Get().(*[]float64)
	if bp == nil {
		bp = new([]float64)
	}
	x := rm.inputs(slices.Grow((*bp)[:0], n*F)[:n*F], c)
	preds, err := rm.model.PredictDense(x, n, F, 1, false)
	*bp = x
	rm.bufs.Put(bp)
	if err != nil {
		return nil, fmt.Errorf("predictor: %w", err)
	}
	dst := append(make([]byte, 0, 20+24*n), rm.name...)
	for r, p := range preds[:n] {
		if r > 0 {
			dst = append(dst, ',')
		}
		dst = appendFloat(dst, p, 64)
	}
	return append(dst, "]}"...), nil
}

// inputs writes the model's input rows, row-major, preprocessed, into x.
func (rm *rowModel) inputs(x []float64, c *columns) []float64 {
	F := len(rm.src)
	for j, i := range rm.src {
		col, steps := c.f[i], rm.steps[j]
		for r, v := range col[:c.nrows] {
			for _, s := range steps {
				// As preprocess.StandardScaler computes it.
				v = (v - s.mean) / s.scale
			}
			x[r*F+j] = v
		}
	}
	return x
}
