package train_test

import (
	"strings"
	"testing"

	"github.com/apache/arrow/go/v15/arrow"
	"github.com/apache/arrow/go/v15/arrow/array"
	"github.com/apache/arrow/go/v15/arrow/memory"

	"github.com/goray/goray/checkpoint"
	"github.com/goray/goray/data"
	"github.com/goray/goray/preprocess"
	"github.com/goray/goray/train"
)

func TestLoadPreprocessor(t *testing.T) {
	ctx := setup(t)
	c, err := checkpoint.New(t.TempDir(), checkpoint.Metadata{Framework: "gbdt"})
	if err != nil {
		t.Fatal(err)
	}
	if p, err := train.LoadPreprocessor(c); p != nil || err != nil {
		t.Fatalf("no preprocessor.json: got %v, %v", p, err)
	}
	b := array.NewFloat64Builder(memory.DefaultAllocator)
	b.AppendValues([]float64{1, 2, 3, 4}, nil)
	col := b.NewArray()
	rec := array.NewRecord(arrow.NewSchema([]arrow.Field{{Name: "x", Type: arrow.PrimitiveTypes.Float64}}, nil), []arrow.Array{col}, 4)
	scaler := &preprocess.StandardScaler{Columns: []string{"x"}}
	if err := scaler.Fit(ctx, data.FromArrow(rec)); err != nil {
		t.Fatal(err)
	}
	state, err := preprocess.Marshal(scaler)
	if err != nil {
		t.Fatal(err)
	}
	if err := c.WriteFile(checkpoint.PreprocessorFile, state); err != nil {
		t.Fatal(err)
	}
	p, err := train.LoadPreprocessor(c)
	if err != nil {
		t.Fatal(err)
	}
	out, err := p.TransformBatch(rec)
	if err != nil {
		t.Fatal(err)
	}
	// Mean 2.5, population std sqrt(1.25): x=1 scales to -1.3416...
	if got := out.Column(0).(*array.Float64).Value(0); got > -1.341 || got < -1.342 {
		t.Fatalf("loaded scaler gives %v for x=1", got)
	}
	if err := c.WriteFile(checkpoint.PreprocessorFile, []byte(`{"type":"NoSuchPreprocessor"}`)); err != nil {
		t.Fatal(err)
	}
	if _, err := train.LoadPreprocessor(c); err == nil || !strings.Contains(err.Error(), checkpoint.PreprocessorFile) {
		t.Fatalf("damaged preprocessor.json: %v", err)
	}
}
