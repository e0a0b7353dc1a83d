package gbdt_test

import (
	"bytes"
	"errors"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/apache/arrow/go/v15/arrow"
	"github.com/apache/arrow/go/v15/arrow/array"
	"github.com/apache/arrow/go/v15/arrow/memory"

	"github.com/goray/goray/checkpoint"
	"github.com/goray/goray/preprocess"
	"github.com/goray/goray/train"
	"github.com/goray/goray/train/gbdt"
)

// toRecord turns a Matrix into an Arrow record (features only), with NaN
// written as null in column nullCol.
func toRecord(m *gbdt.Matrix, nullCol string) arrow.Record {
	fields := make([]arrow.Field, len(m.Features()))
	for j, f := range m.Features() {
		fields[j] = arrow.Field{Name: f, Type: arrow.PrimitiveTypes.Float64, Nullable: true}
	}
	b := array.NewRecordBuilder(memory.DefaultAllocator, arrow.NewSchema(fields, nil))
	defer b.Release()
	for j, f := range m.Features() {
		fb := b.Field(j).(*array.Float64Builder)
		for _, v := range m.Column(j) {
			if math.IsNaN(v) && f == nullCol {
				fb.AppendNull()
			} else {
				fb.Append(v)
			}
		}
	}
	return b.NewRecord()
}

func predictRecord(t *testing.T, p train.Predictor, rec arrow.Record) (preds []float64, probs [][]float64) {
	t.Helper()
	out, err := p.Predict(t.Context(), rec)
	if err != nil {
		t.Fatal(err)
	}
	defer out.Release()
	if out.Schema().Field(0).Name != "predictions" {
		t.Fatalf("output schema %v", out.Schema())
	}
	preds = append(preds, out.Column(0).(*array.Float64).Float64Values()...)
	if out.NumCols() > 1 {
		l := out.Column(1).(*array.List)
		vals := l.ListValues().(*array.Float64)
		for i := range l.Len() {
			lo, hi := l.ValueOffsets(i)
			probs = append(probs, vals.Float64Values()[lo:hi])
		}
	}
	return preds, probs
}

func TestPredictorFromCheckpoint(t *testing.T) {
	dtrain, dtest := breastCancer(t)
	b, err := gbdt.Train(t.Context(), dtrain, nil, gbdt.Params{"max_depth": 6, "eta": 0.3}, 20)
	if err != nil {
		t.Fatal(err)
	}
	want, _ := b.Predict(dtest)
	dir := filepath.Join(t.TempDir(), "ckpt")
	if _, err := b.SaveCheckpoint(dir, gbdt.WithMetrics(map[string]float64{"valid-auc": 0.99})); err != nil {
		t.Fatal(err)
	}
	// A fresh load, as another process would.
	ckpt, err := checkpoint.FromDirectory(dir)
	if err != nil {
		t.Fatal(err)
	}
	meta := ckpt.Metadata()
	if meta.Framework != gbdt.Framework || meta.Metrics["valid-auc"] != 0.99 || len(meta.Features) != 30 || meta.Features[0].Name != "mean radius" {
		t.Errorf("metadata %+v", meta)
	}
	var factory train.PredictorFactory = gbdt.PredictorFactory
	p, err := factory(ckpt)
	if err != nil {
		t.Fatal(err)
	}
	if len(p.Features()) != 30 {
		t.Errorf("Features() = %v", p.Features())
	}
	rec := toRecord(dtest, "")
	defer rec.Release()
	got, _ := predictRecord(t, p, rec)
	for i := range want {
		if got[i] != want[i] {
			t.Fatalf("row %d: predictor %v, booster %v", i, got[i], want[i])
		}
	}
	// Missing column: the error names it.
	slim := rec.NewSlice(0, 5)
	defer slim.Release()
	cols := slim.Columns()[1:]
	fields := slim.Schema().Fields()[1:]
	noRadius := array.NewRecord(arrow.NewSchema(fields, nil), cols, 5)
	defer noRadius.Release()
	if _, err := p.Predict(t.Context(), noRadius); !errors.Is(err, gbdt.ErrInvalidInput) || !strings.Contains(err.Error(), `"mean radius"`) {
		t.Errorf("missing column: %v", err)
	}
}

func TestPredictorMulticlassAndNulls(t *testing.T) {
	data := synthetic(t, 4, 1500, 3, 0.1, func(x []float64, _ *rand.Rand) float64 {
		return float64(btoi(x[0] > 0) + btoi(x[1] > 0))
	})
	b, err := gbdt.Train(t.Context(), data, nil, gbdt.Params{"objective": "multi:softprob", "num_class": 3, "max_depth": 3}, 10)
	if err != nil {
		t.Fatal(err)
	}
	want, _ := b.Predict(data)
	ckpt, err := b.SaveCheckpoint(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	p, err := gbdt.NewPredictor(ckpt, gbdt.WithPredictThreads(2))
	if err != nil {
		t.Fatal(err)
	}
	rec := toRecord(data, "x0") // NaN in x0 arrives as null
	defer rec.Release()
	preds, probs := predictRecord(t, p, rec)
	if len(probs) != data.NumRows() {
		t.Fatalf("%d probability rows", len(probs))
	}
	for i, row := range probs {
		best := 0
		for k := range row {
			if math.Abs(row[k]-want[3*i+k]) > 1e-12 {
				t.Fatalf("row %d: probabilities %v, booster %v", i, row, want[3*i:3*i+3])
			}
			if row[k] > row[best] {
				best = k
			}
		}
		if preds[i] != float64(best) {
			t.Fatalf("row %d: prediction %v, most probable class %d", i, preds[i], best)
		}
	}
}

func init() {
	preprocess.RegisterBatchMapper("gbdt_test.double_x0", doubler{}.TransformBatch)
}

// doubler is a stand-in preprocessor: it doubles column "x0".
type doubler struct{}

func (doubler) TransformBatch(b arrow.Record) (arrow.Record, error) {
	cols := make([]arrow.Array, b.NumCols())
	for j := range cols {
		cols[j] = b.Column(j)
		if b.ColumnName(j) == "x0" {
			fb := array.NewFloat64Builder(memory.DefaultAllocator)
			for _, v := range b.Column(j).(*array.Float64).Float64Values() {
				fb.Append(2 * v)
			}
			cols[j] = fb.NewArray()
			defer cols[j].Release()
			fb.Release()
		}
	}
	return array.NewRecord(b.Schema(), cols, b.NumRows()), nil
}

func TestPredictorAppliesPreprocessor(t *testing.T) {
	raw := synthetic(t, 5, 1000, 2, 0, func(x []float64, _ *rand.Rand) float64 { return btof(x[0] > 0.25) })
	// The model is trained on preprocessed data: x0 doubled.
	doubled := make([]float64, raw.NumRows())
	for i, v := range raw.Column(0) {
		doubled[i] = 2 * v
	}
	pre, _ := gbdt.NewMatrix(raw.Features(), [][]float64{doubled, raw.Column(1)}, raw.Labels())
	b, err := gbdt.Train(t.Context(), pre, nil, gbdt.Params{"max_depth": 2}, 5)
	if err != nil {
		t.Fatal(err)
	}
	want, _ := b.Predict(pre)
	state, err := preprocess.Marshal(&preprocess.BatchMapper{Name: "gbdt_test.double_x0"})
	if err != nil {
		t.Fatal(err)
	}
	ckpt, err := b.SaveCheckpoint(t.TempDir(), gbdt.WithPreprocessorState(state))
	if err != nil {
		t.Fatal(err)
	}
	p, err := gbdt.NewPredictor(ckpt)
	if err != nil {
		t.Fatal(err)
	}
	// A damaged preprocessor.json is an error that names the file.
	bad, err := b.SaveCheckpoint(t.TempDir(), gbdt.WithPreprocessorState([]byte(`{"type":"NoSuchPreprocessor"}`)))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := gbdt.NewPredictor(bad); err == nil || !strings.Contains(err.Error(), "preprocessor.json") {
		t.Fatalf("damaged preprocessor.json: %v", err)
	}
	rec := toRecord(raw, "")
	defer rec.Release()
	got, _ := predictRecord(t, p, rec)
	for i := range want {
		if got[i] != want[i] {
			t.Fatalf("row %d: %v, want %v", i, got[i], want[i])
		}
	}
}

func TestCheckpointOfAnotherFramework(t *testing.T) {
	ckpt, err := checkpoint.New(t.TempDir(), checkpoint.Metadata{Framework: "torch"})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := gbdt.NewPredictor(ckpt); !errors.Is(err, checkpoint.ErrWrongFramework) {
		t.Errorf("torch checkpoint: %v", err)
	}
	newer, err := checkpoint.New(t.TempDir(), checkpoint.Metadata{Framework: gbdt.Framework, FormatVersion: gbdt.FormatVersion + 1})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := gbdt.NewPredictor(newer); !errors.Is(err, checkpoint.ErrNewerFormat) {
		t.Errorf("newer format: %v", err)
	}
	// Damaged model file.
	b, _ := gbdt.Train(t.Context(), synthetic(t, 1, 100, 2, 0, func(x []float64, _ *rand.Rand) float64 { return btof(x[0] > 0) }), nil, nil, 2)
	c, err := b.SaveCheckpoint(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(c.Path(), "model.txt"), []byte("tree\nversion=v3\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := gbdt.NewPredictor(c); !errors.Is(err, checkpoint.ErrCorrupt) || !strings.Contains(err.Error(), "model.txt") {
		t.Errorf("damaged model: %v", err)
	}
}

func readFloats(t *testing.T, path string, sep string) [][]float64 {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var out [][]float64
	for _, line := range strings.Split(strings.TrimSpace(string(b)), "\n") {
		var row []float64
		for _, f := range strings.Split(strings.TrimSpace(line), sep) {
			v, err := strconv.ParseFloat(f, 64)
			if err != nil {
				t.Fatal(err)
			}
			row = append(row, v)
		}
		out = append(out, row)
	}
	return out
}

// TestModelsTrainedElsewhere loads XGBoost 1.7.4 binary models and a
// LightGBM text model, wraps them as checkpoints and predicts as their
// library did.
func TestModelsTrainedElsewhere(t *testing.T) {
	_, dtest := breastCancer(t)
	xb, err := os.ReadFile("testdata/xgboost_breast_cancer.model")
	if err != nil {
		t.Fatal(err)
	}
	ckpt, err := gbdt.CheckpointFromModel(t.TempDir(), gbdt.FormatXGBoost, xb, gbdt.WithFeatureNames(dtest.Features()))
	if err != nil {
		t.Fatal(err)
	}
	p, err := gbdt.NewPredictor(ckpt)
	if err != nil {
		t.Fatal(err)
	}
	rec := toRecord(dtest, "")
	defer rec.Release()
	got, _ := predictRecord(t, p, rec)
	want := readFloats(t, "testdata/xgboost_breast_cancer_pred.txt", " ")
	for i := range want {
		if math.Abs(got[i]-want[i][0]) > 1e-6 { // XGBoost predicts in float32
			t.Fatalf("row %d: %v, XGBoost %v", i, got[i], want[i][0])
		}
	}

	mb, _ := os.ReadFile("testdata/xgboost_multi.model")
	m, err := gbdt.LoadXGBoost(bytes.NewReader(mb))
	if err != nil {
		t.Fatal(err)
	}
	x := readFloats(t, "testdata/xgboost_multi_x.txt", " ")
	wantMulti := readFloats(t, "testdata/xgboost_multi_pred.txt", " ")
	var flat []float64
	for _, r := range x {
		flat = append(flat, r...)
	}
	pm, err := m.PredictDense(flat, len(x), 4, 1, false)
	if err != nil {
		t.Fatal(err)
	}
	if m.Objective() != gbdt.MultiSoftprob || m.NumClass() != 3 {
		t.Errorf("objective %s, %d classes", m.Objective(), m.NumClass())
	}
	for i := range wantMulti {
		for k := range 3 {
			if math.Abs(pm[3*i+k]-wantMulti[i][k]) > 1e-6 {
				t.Fatalf("row %d class %d: %v, XGBoost %v", i, k, pm[3*i+k], wantMulti[i][k])
			}
		}
	}

	lb, _ := os.ReadFile("testdata/lightgbm_simple.txt")
	lc, err := gbdt.CheckpointFromModel(t.TempDir(), gbdt.FormatLightGBM, lb)
	if err != nil {
		t.Fatal(err)
	}
	lp, err := gbdt.NewPredictor(lc)
	if err != nil {
		t.Fatal(err)
	}
	if f := lp.Features(); len(f) != 2 || f[0].Name != "X1" {
		t.Errorf("features from the LightGBM file: %v", f)
	}
	x1 := []float64{0, 1000, 800, 800, 0, 1000, math.NaN()}
	x2 := []float64{0, 0, 0, 100, 100, math.NaN(), math.NaN()}
	lm, _ := gbdt.NewMatrix([]string{"X1", "X2"}, [][]float64{x1, x2}, nil)
	lrec := toRecord(lm, "")
	defer lrec.Release()
	lgot, _ := predictRecord(t, lp, lrec)
	// Raw scores from leaves' own test of this file; the objective is
	// "binary sigmoid:1", so predictions are their logistic transform.
	lraw := []float64{0.29462594, 0.39565483, 0.39565483, 0.69580371, 0.69580371, 0.39565483, 0.29462594}
	for i, r := range lraw {
		if want := 1 / (1 + math.Exp(-r)); math.Abs(lgot[i]-want) > 1e-7 {
			t.Errorf("row %d: %v, LightGBM %v", i, lgot[i], want)
		}
	}
	if _, err := gbdt.CheckpointFromModel(t.TempDir(), gbdt.FormatLightGBM, []byte("not a model")); !errors.Is(err, gbdt.ErrInvalidInput) {
		t.Errorf("garbage model: %v", err)
	}
}
