package data_test

import (
	"context"
	"fmt"
	"math/rand"
	"os"
	"path/filepath"
	"strconv"
	"testing"

	"github.com/apache/arrow/go/v15/arrow"
	"github.com/apache/arrow/go/v15/arrow/array"
	"github.com/apache/arrow/go/v15/arrow/memory"
	"github.com/goray/goray/data"
)

func floatDataset(b *testing.B, rows, cols, blocks int) *data.Dataset {
	b.Helper()
	rng := rand.New(rand.NewSource(1))
	fields := make([]arrow.Field, cols)
	for c := range fields {
		fields[c] = arrow.Field{Name: fmt.Sprintf("c%d", c), Type: arrow.PrimitiveTypes.Float64}
	}
	schema := arrow.NewSchema(fields, nil)
	var recs []arrow.Record
	for k := 0; k < blocks; k++ {
		rb := array.NewRecordBuilder(memory.DefaultAllocator, schema)
		for c := 0; c < cols; c++ {
			fb := rb.Field(c).(*array.Float64Builder)
			for i := 0; i < rows/blocks; i++ {
				fb.Append(rng.Float64() * 100)
			}
		}
		recs = append(recs, rb.NewRecord())
		rb.Release()
	}
	return data.FromArrow(recs...)
}

func BenchmarkSort(b *testing.B) {
	ctx := context.Background()
	ds, err := floatDataset(b, 200_000, 8, 8).Materialize(ctx)
	if err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	for b.Loop() {
		if _, err := ds.Sort("c0", false).Count(ctx); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(200_000*b.N)/b.Elapsed().Seconds()/1e6, "Mrows/s")
}

func BenchmarkGroupBy(b *testing.B) {
	ctx := context.Background()
	ds, err := floatDataset(b, 200_000, 3, 8).MapBatches(func(ctx context.Context, r arrow.Record) (arrow.Record, error) {
		kb := array.NewInt64Builder(memory.DefaultAllocator)
		defer kb.Release()
		for _, v := range r.Column(0).(*array.Float64).Float64Values() {
			kb.Append(int64(v))
		}
		k := kb.NewArray()
		defer k.Release()
		fields := append([]arrow.Field{{Name: "k", Type: arrow.PrimitiveTypes.Int64}}, r.Schema().Fields()[1:]...)
		return array.NewRecord(arrow.NewSchema(fields, nil), []arrow.Array{k, r.Column(1), r.Column(2)}, r.NumRows()), nil
	}).Materialize(ctx)
	if err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	for b.Loop() {
		if _, err := ds.GroupBy("k").Aggregate(data.Count(), data.Sum("c1"), data.Mean("c1"), data.Min("c2"), data.Max("c2")).Count(ctx); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(200_000*b.N)/b.Elapsed().Seconds()/1e6, "Mrows/s")
}

func BenchmarkMapBatches(b *testing.B) {
	ctx := context.Background()
	ds, err := floatDataset(b, 400_000, 8, 8).Materialize(ctx)
	if err != nil {
		b.Fatal(err)
	}
	b.SetBytes(400_000 * 8 * 8)
	b.ReportAllocs()
	for b.Loop() {
		_, err := ds.MapBatches(func(ctx context.Context, r arrow.Record) (arrow.Record, error) {
			r.Retain()
			return r, nil
		}).Count(ctx)
		if err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkReadCSV(b *testing.B) {
	ctx := context.Background()
	p := filepath.Join(b.TempDir(), "f.csv")
	f, err := os.Create(p)
	if err != nil {
		b.Fatal(err)
	}
	rng := rand.New(rand.NewSource(1))
	var buf []byte
	buf = append(buf, "a,b,c,d\n"...)
	for i := 0; i < 200_000; i++ {
		for c := 0; c < 4; c++ {
			if c > 0 {
				buf = append(buf, ',')
			}
			buf = strconv.AppendFloat(buf, rng.Float64()*100, 'f', 6, 64)
		}
		buf = append(buf, '\n')
	}
	f.Write(buf)
	f.Close()
	b.SetBytes(int64(len(buf)))
	b.ReportAllocs()
	for b.Loop() {
		ds, err := data.ReadCSV(ctx, p)
		if err != nil {
			b.Fatal(err)
		}
		if _, err := ds.Count(ctx); err != nil {
			b.Fatal(err)
		}
	}
}
