package serve

import (
	"context"
	"encoding/csv"
	"fmt"
	"net/http"
	"os"
	"strconv"
	"testing"

	"github.com/apache/arrow/go/v15/arrow"
	"github.com/apache/arrow/go/v15/arrow/array"
	"github.com/apache/arrow/go/v15/arrow/memory"

	"github.com/goray/goray/checkpoint"
	"github.com/goray/goray/train"
)

// linearPredictor is a stand-in model: predictions = bias + sum(w_j x_j)
// over float64 features. Its weights live in the checkpoint's Extra.
type linearPredictor struct {
	feats []checkpoint.Feature
	w     []float64
	bias  float64
}

func (p *linearPredictor) Features() []checkpoint.Feature { return p.feats }

func (p *linearPredictor) Predict(ctx context.Context, batch arrow.Record) (arrow.Record, error) {
	n := int(batch.NumRows())
	out := make([]float64, n)
	for r := range out {
		out[r] = p.bias
	}
	for j := range p.feats {
		col, ok := batch.Column(j).(*array.Float64)
		if !ok {
			return nil, fmt.Errorf("column %d is %s, want float64", j, batch.Column(j).DataType())
		}
		for r, v := range col.Float64Values() {
			out[r] += p.w[j] * v
		}
	}
	b := array.NewFloat64Builder(memory.DefaultAllocator)
	defer b.Release()
	b.AppendValues(out, nil)
	arr := b.NewArray()
	defer arr.Release()
	schema := arrow.NewSchema([]arrow.Field{{Name: "predictions", Type: arrow.PrimitiveTypes.Float64}}, nil)
	return array.NewRecord(schema, []arrow.Array{arr}, int64(n)), nil
}

// linearFactory is a train.PredictorFactory for linear checkpoints.
func linearFactory(ckpt *checkpoint.Checkpoint) (train.Predictor, error) {
	if err := ckpt.Require("linear", 1); err != nil {
		return nil, err
	}
	meta := ckpt.Metadata()
	p := &linearPredictor{feats: meta.Features, bias: meta.Extra["bias"].(float64)}
	for _, w := range meta.Extra["weights"].([]any) {
		p.w = append(p.w, w.(float64))
	}
	return p, nil
}

var _ train.PredictorFactory = linearFactory

// bcData is the head of the breast cancer data set: feature names and rows.
func bcData(t testing.TB) ([]string, [][]float64) {
	t.Helper()
	f, err := os.Open("testdata/breast_cancer_head.csv")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	recs, err := csv.NewReader(f).ReadAll()
	if err != nil {
		t.Fatal(err)
	}
	names := recs[0][:len(recs[0])-1] // drop target
	var rows [][]float64
	for _, rec := range recs[1:] {
		row := make([]float64, len(names))
		for j := range names {
			row[j], _ = strconv.ParseFloat(rec[j], 64)
		}
		rows = append(rows, row)
	}
	return names, rows
}

// linearCheckpoint writes a linear model over the breast cancer features;
// scale changes the weights (a "new version" of the model).
func linearCheckpoint(t testing.TB, dir string, scale float64) *checkpoint.Checkpoint {
	t.Helper()
	names, _ := bcData(t)
	feats := make([]checkpoint.Feature, len(names))
	weights := make([]any, len(names))
	for j, n := range names {
		feats[j] = checkpoint.Feature{Name: n, Type: "float64"}
		weights[j] = scale * float64(j+1) / 100
	}
	ckpt, err := checkpoint.New(dir, checkpoint.Metadata{Framework: "linear", Features: feats,
		Extra: map[string]any{"weights": weights, "bias": 0.5}})
	if err != nil {
		t.Fatal(err)
	}
	// Re-open so Extra has its JSON round-trip types.
	ckpt, err = checkpoint.FromDirectory(dir)
	if err != nil {
		t.Fatal(err)
	}
	return ckpt
}

// predictRows scores rows with the predictor directly (the reference).
func predictRows(t testing.TB, p train.Predictor, rows [][]float64) []float64 {
	t.Helper()
	feats := p.Features()
	fields := make([]arrow.Field, len(feats))
	cols := make([]arrow.Array, len(feats))
	for j, f := range feats {
		fields[j] = arrow.Field{Name: f.Name, Type: arrow.PrimitiveTypes.Float64}
		b := array.NewFloat64Builder(memory.DefaultAllocator)
		for _, r := range rows {
			b.Append(r[j])
		}
		cols[j] = b.NewArray()
		b.Release()
	}
	rec := array.NewRecord(arrow.NewSchema(fields, nil), cols, int64(len(rows)))
	for _, c := range cols {
		c.Release()
	}
	defer rec.Release()
	out, err := p.Predict(context.Background(), rec)
	if err != nil {
		t.Fatal(err)
	}
	defer out.Release()
	return append([]float64(nil), out.Column(0).(*array.Float64).Float64Values()...)
}

type arrowRecord = arrow.Record

func newRequest(method, url string) (*http.Request, error) { return http.NewRequest(method, url, nil) }
