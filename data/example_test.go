package data_test

import (
	"context"
	"fmt"

	"github.com/apache/arrow/go/v15/arrow"
	"github.com/apache/arrow/go/v15/arrow/array"
	"github.com/apache/arrow/go/v15/arrow/memory"
	"github.com/goray/goray/data"
)

// The seed flow: read a CSV, split it for training and validation, drop
// the label from the validation set.
func Example() {
	ctx := context.Background()
	ds, err := data.ReadCSV(ctx, "testdata/breast_cancer.csv")
	if err != nil {
		panic(err)
	}
	train, valid, err := ds.TrainTestSplit(0.2, true, 42)
	if err != nil {
		panic(err)
	}
	test := valid.DropColumns("target")
	nTrain, _ := train.Count(ctx)
	nTest, _ := test.Count(ctx)
	cols, _ := test.Columns(ctx)
	fmt.Println(nTrain, nTest, len(cols))
	// Output: 455 114 30
}

func ExampleDataset_MapBatches() {
	ctx := context.Background()
	squares := data.Range(5).MapBatches(func(ctx context.Context, b arrow.Record) (arrow.Record, error) {
		ids := b.Column(0).(*array.Int64).Int64Values()
		fb := array.NewInt64Builder(memory.DefaultAllocator)
		defer fb.Release()
		for _, v := range ids {
			fb.Append(v * v)
		}
		sq := fb.NewArray()
		defer sq.Release()
		schema := arrow.NewSchema([]arrow.Field{{Name: "sq", Type: arrow.PrimitiveTypes.Int64}}, nil)
		return array.NewRecord(schema, []arrow.Array{sq}, b.NumRows()), nil
	}, data.BatchSize(2), data.Name("square"))
	for batch, err := range squares.IterBatches(ctx, data.BatchSize(5)) {
		if err != nil {
			panic(err)
		}
		fmt.Println(batch.Column(0))
	}
	// Output: [0 1 4 9 16]
}

func ExampleGroupedData_Aggregate() {
	ctx := context.Background()
	ds, _ := data.FromItems([]map[string]any{
		{"k": "a", "v": 1.0}, {"k": "b", "v": 2.0}, {"k": "a", "v": 3.0},
	})
	_ = ds.GroupBy("k").Aggregate(data.Count(), data.Mean("v"), data.Max("v")).Show(ctx, 10)
	// Output:
	// {k: a, count(): 2, mean(v): 2, max(v): 3}
	// {k: b, count(): 1, mean(v): 2, max(v): 2}
}
