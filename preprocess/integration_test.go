package preprocess

import (
	"context"
	"fmt"
	"path/filepath"
	"testing"

	"github.com/apache/arrow/go/v15/arrow"

	"github.com/goray/goray/checkpoint"
	"github.com/goray/goray/data"
)

// The breast cancer CSV read by data.ReadCSV, fitted as a Dataset (several
// blocks when the reader splits the file), matches scikit-learn.
func TestBreastCancerFromCSV(t *testing.T) {
	ctx := testCtx(t)
	g := loadGolden(t)
	ds, err := data.ReadCSV(ctx, "testdata/breast_cancer.csv")
	if err != nil {
		t.Fatal(err)
	}
	chain := NewChain(NewStandardScaler(g.Columns...), NewConcatenator(g.Columns...))
	if err := chain.Fit(ctx, ds); err != nil {
		t.Fatal(err)
	}
	s := chain.Stages[0].(*StandardScaler)
	for j, c := range g.Columns {
		if !closeTo(s.Stats[c].Mean, g.Standard.Mean[j], 1e-13) || !closeTo(s.Stats[c].Scale, g.Standard.Scale[j], 1e-12) {
			t.Errorf("%s: %+v, want mean %v scale %v", c, s.Stats[c], g.Standard.Mean[j], g.Standard.Scale[j])
		}
	}
	out := collect(t, ctx, must(chain.Transform(ctx, ds)))
	if out.NumRows() != 569 || out.Schema().Field(int(out.NumCols())-1).Name != "concat_out" {
		t.Fatalf("output: %d rows, schema %v", out.NumRows(), out.Schema())
	}
	// Row 0 of concat_out is the first scikit-learn row.
	vals := floatsIn(t, record(col{"v", listValues(t, out, "concat_out", 0)}), "v")
	assertClose(t, "row 0", vals, g.Standard.FirstRows[0], 1e-12)
}

func listValues(t *testing.T, rec arrow.Record, name string, row int) arrow.Array {
	t.Helper()
	l := colOf(t, rec, name).(interface {
		ListValues() arrow.Array
		ValueOffsets(int) (int64, int64)
	})
	start, end := l.ValueOffsets(row)
	return sliceOf(l.ListValues(), start, end)
}

// A fitted preprocessor saved in a checkpoint's preprocessor.json is
// rebuilt from it (train.LoadPreprocessor does the same, tested in train)
// and transforms like the original.
func TestCheckpointRoundTrip(t *testing.T) {
	ctx := testCtx(t)
	blocks := mixedData()
	whole := concat(t, blocks)
	ds := data.FromArrow(blocks...)
	p := NewChain(NewSimpleImputer(ImputeMedian, "a"), NewRobustScaler("a", "c"), NewOneHotEncoder("s"))
	if err := p.Fit(ctx, ds); err != nil {
		t.Fatal(err)
	}
	state, err := Marshal(p)
	if err != nil {
		t.Fatal(err)
	}
	dir := filepath.Join(t.TempDir(), "ckpt")
	ck, err := checkpoint.New(dir, checkpoint.Metadata{Framework: "test"})
	if err != nil {
		t.Fatal(err)
	}
	if err := ck.WriteFile(checkpoint.PreprocessorFile, state); err != nil {
		t.Fatal(err)
	}
	ck, err = checkpoint.FromDirectory(dir)
	if err != nil {
		t.Fatal(err)
	}
	b, err := ck.ReadFile(checkpoint.PreprocessorFile)
	if err != nil {
		t.Fatal(err)
	}
	bt, err := Unmarshal(b)
	if err != nil {
		t.Fatal(err)
	}
	got, err := bt.TransformBatch(whole)
	if err != nil {
		t.Fatal(err)
	}
	defer got.Release()
	assertSameRecord(t, "loaded from checkpoint", got, mustTransform(t, p, whole))
}

// Example shows the usual flow: fit on a Dataset, transform a batch for
// serving, save the state.
func Example() {
	ctx := context.Background()
	rec := record(floatCol("x", 1, 2, 3, 4), strCol("color", "red", "blue", "red", "green"))
	defer rec.Release()
	ds := data.FromArrow(rec)

	prep := NewChain(NewStandardScaler("x"), NewOneHotEncoder("color"))
	if err := prep.Fit(ctx, ds); err != nil {
		fmt.Println(err)
		return
	}
	out, err := prep.TransformBatch(rec)
	if err != nil {
		fmt.Println(err)
		return
	}
	defer out.Release()
	for i, f := range out.Schema().Fields() {
		fmt.Printf("%s: %v\n", f.Name, out.Column(i))
	}
	state, _ := Marshal(prep.Stages[0])
	fmt.Println(string(state))
	// Output:
	// x: [-1.3416407864998738 -0.4472135954999579 0.4472135954999579 1.3416407864998738]
	// color_blue: [0 1 0 0]
	// color_green: [0 0 0 1]
	// color_red: [1 0 1 0]
	// {"type":"StandardScaler","state":{"columns":["x"],"stats":{"x":{"mean":2.5,"std":1.118033988749895,"scale":1.118033988749895}}}}
}
