package preprocess

import (
	"context"
	"fmt"
	"math/rand/v2"
	"strconv"
	"testing"

	"github.com/apache/arrow/go/v15/arrow"

	"github.com/goray/goray/data"
)

func benchNumeric(rows, features, blocks int) []arrow.Record {
	r := rand.New(rand.NewPCG(1, 2))
	cols := make([]col, features)
	for j := range cols {
		v := make([]float64, rows)
		for i := range v {
			v[i] = r.NormFloat64()
		}
		cols[j] = floatCol(fmt.Sprintf("f%d", j), v...)
	}
	rec := record(cols...)
	defer rec.Release()
	return split(rec, blocks)
}

func benchStrings(rows, categories, blocks int) []arrow.Record {
	r := rand.New(rand.NewPCG(3, 4))
	v := make([]any, rows)
	for i := range v {
		v[i] = "category_" + strconv.Itoa(r.IntN(categories))
	}
	rec := record(strCol("color", v...))
	defer rec.Release()
	return split(rec, blocks)
}

func featureNames(n int) []string {
	out := make([]string, n)
	for j := range out {
		out[j] = fmt.Sprintf("f%d", j)
	}
	return out
}

func drainDataset(b *testing.B, ds *data.Dataset) {
	for _, err := range ds.IterBatches(context.Background(), data.BatchSize(0)) {
		if err != nil {
			b.Fatal(err)
		}
	}
}

const benchRows = 200_000

func BenchmarkStandardScalerTransformBatch(b *testing.B) {
	rec := benchNumeric(benchRows, 10, 1)[0]
	s := NewStandardScaler(featureNames(10)...)
	if err := fitRecs(s, rec); err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	b.SetBytes(benchRows * 10 * 8)
	for b.Loop() {
		out, err := s.TransformBatch(rec)
		if err != nil {
			b.Fatal(err)
		}
		out.Release()
	}
}

func BenchmarkStandardScalerFitTransformDataset(b *testing.B) {
	recs := benchNumeric(benchRows, 10, 4)
	ds := data.FromArrow(recs...)
	b.ReportAllocs()
	b.SetBytes(benchRows * 10 * 8)
	for b.Loop() {
		s := NewStandardScaler(featureNames(10)...)
		out, err := s.FitTransform(context.Background(), ds)
		if err != nil {
			b.Fatal(err)
		}
		drainDataset(b, out)
	}
}

func BenchmarkOneHotEncoderTransformBatch(b *testing.B) {
	rec := benchStrings(benchRows, 10, 1)[0]
	e := NewOneHotEncoder("color")
	if err := fitRecs(e, rec); err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	for b.Loop() {
		out, err := e.TransformBatch(rec)
		if err != nil {
			b.Fatal(err)
		}
		out.Release()
	}
}

func BenchmarkOneHotEncoderFitTransformDataset(b *testing.B) {
	ds := data.FromArrow(benchStrings(benchRows, 10, 4)...)
	b.ReportAllocs()
	for b.Loop() {
		e := NewOneHotEncoder("color")
		out, err := e.FitTransform(context.Background(), ds)
		if err != nil {
			b.Fatal(err)
		}
		drainDataset(b, out)
	}
}
