package data_test

import (
	"context"
	"testing"
	"time"

	"github.com/goray/goray/data"
)

func testCtx(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
	t.Cleanup(cancel)
	return ctx
}

func TestSeedFlowBreastCancer(t *testing.T) {
	ctx := testCtx(t)
	ds, err := data.ReadCSV(ctx, "testdata/breast_cancer.csv")
	if err != nil {
		t.Fatal(err)
	}
	n, err := ds.Count(ctx)
	if err != nil || n != 569 {
		t.Fatalf("count = %d, %v", n, err)
	}
	train, valid, err := ds.TrainTestSplit(0.2, true, 42)
	if err != nil {
		t.Fatal(err)
	}
	test := valid.DropColumns("target")
	nt, err := train.Count(ctx)
	if err != nil || nt != 455 {
		t.Fatalf("train = %d, %v", nt, err)
	}
	nv, err := test.Count(ctx)
	if err != nil || nv != 114 {
		t.Fatalf("test = %d, %v", nv, err)
	}
	cols, err := test.Columns(ctx)
	if err != nil || len(cols) != 30 {
		t.Fatalf("test columns = %v, %v", cols, err)
	}
	schema, err := ds.Schema(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if got := schema.Field(30).Type.String(); got != "int64" {
		t.Fatalf("target type %s", got)
	}
	if got := schema.Field(0).Type.String(); got != "float64" {
		t.Fatalf("mean radius type %s", got)
	}
	// Train and test are disjoint and cover every row.
	seen := map[float64]int{}
	for _, d := range []*data.Dataset{train, valid} {
		rows, err := d.TakeAll(ctx)
		if err != nil {
			t.Fatal(err)
		}
		for _, r := range rows {
			seen[r["mean area"].(float64)*1e6+r["worst area"].(float64)]++
		}
	}
	total := 0
	for _, c := range seen {
		total += c
	}
	if total != 569 {
		t.Fatalf("rows across splits = %d", total)
	}
}
